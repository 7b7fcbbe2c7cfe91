"""The covariance-family descriptor: the single place that knows a covariance type.

Each covariance type is a client of the component-family protocol
(:class:`fastem.families.protocol.ComponentFamily`): the protocol methods are at the end of
:class:`CovarianceFamily` and delegate to the Gaussian kernel helper
(:mod:`fastem.families.gaussian_pass`) and M-step (:mod:`fastem.families.gaussian_mstep`).

A family maps sufficient statistics to covariances, covariances to precision Cholesky
factors, and factors to the layout the kernel reads. Everything is plain NumPy over
``K x d (x d)`` arrays: no per-row loops live here.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..kernels.checks import first_nonfinite_row
from ..stats import SuffStats
from . import gaussian_pass
from .gaussian_mstep import gaussian_m_step
from .params import GaussianParams, KernelArgs


class CovarianceFamily:
    """Base descriptor of a covariance type; subclasses override the layout-specific parts."""

    name: str = ""
    #: The parameter arrays checkpoints and model files save, in order.
    fields: tuple[str, ...] = ("weights", "means", "covariances", "precisions_cholesky")
    #: Number of dimensions of the kernel's precision array: 3 (square factors) or 2 (diagonal).
    square: bool = True
    #: How rows holding NaN are treated: "raise", "omit" or "marginalize"
    #: (:mod:`fastem.families.missing`); set on a copy by :meth:`with_nan_policy`.
    nan_policy: str = "raise"

    # ---- shapes -------------------------------------------------------------------------
    def covariance_shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of ``covariances_`` and ``precisions_cholesky_``."""
        raise NotImplementedError

    def scatter_shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of the scatter statistic the kernel accumulates."""
        raise NotImplementedError

    def n_covariance_parameters(self, n_components: int, n_features: int) -> int:
        """Number of free parameters in the covariances."""
        raise NotImplementedError

    # ---- M-step -------------------------------------------------------------------------
    def covariances_from_stats(self, nk: np.ndarray, delta: np.ndarray, s2: np.ndarray,
                               reg_covar: float) -> np.ndarray:
        """Covariances from weight sums ``nk``, mean offsets ``delta = s1 / nk`` from the shift,
        and the (full, symmetrised) shifted scatter ``s2``."""
        raise NotImplementedError

    def restore_empty(self, cov: np.ndarray, fallback: np.ndarray, empty: np.ndarray) -> None:
        """Give empty components the ``fallback`` covariance (in place)."""
        cov[empty] = fallback[empty]

    def initial_fallback(self, cov: np.ndarray, filled: np.ndarray) -> np.ndarray:
        """Covariance for components that are empty at initialisation: the average of the
        ``filled`` components' covariances, broadcast to ``cov``'s shape."""
        return np.broadcast_to(cov[filled].mean(axis=0), cov.shape)

    def symmetrise(self, s2: np.ndarray) -> np.ndarray:
        """Full scatter from the kernel's lower triangle (square layouts only)."""
        if not self.square:
            return s2
        lower = np.tril(s2)
        return lower + np.swapaxes(np.tril(s2, -1), -1, -2)

    # ---- factors ------------------------------------------------------------------------
    def precision_cholesky(self, cov: np.ndarray) -> tuple[np.ndarray, int]:
        """Precision Cholesky factor of ``cov``, and the first component that is singular
        (-1 when none is)."""
        raise NotImplementedError

    def precision_cholesky_from_precisions(self, prec: np.ndarray) -> tuple[np.ndarray, int]:
        """Precision Cholesky factor of given precisions, and the first bad component."""
        raise NotImplementedError

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        """Precisions from their Cholesky factors."""
        raise NotImplementedError

    def covariances_from_precisions(self, prec: np.ndarray) -> np.ndarray:
        """Covariances as the inverses of precisions."""
        raise NotImplementedError

    def kernel_precision(self, prec_chol: np.ndarray, n_components: int,
                         n_features: int) -> np.ndarray:
        """The precision factor in the kernel's layout."""
        raise NotImplementedError

    def full_covariances(self, cov: np.ndarray, n_components: int,
                         n_features: int) -> np.ndarray:
        """Covariances as a ``(K, d, d)`` stack (for sampling and plotting)."""
        raise NotImplementedError

    # ---- shared ---------------------------------------------------------------------------
    def kernel_args(self, params: GaussianParams) -> KernelArgs:
        """Means, precision factor and per-component constant for the kernels.

        ``const_k = log w_k + log det U_k - d/2 log(2 pi)``.
        """
        k, d = params.means.shape
        prec = np.ascontiguousarray(
            self.kernel_precision(params.precisions_cholesky, k, d), dtype=np.float64)
        if self.square:
            logdet = np.log(np.diagonal(prec, axis1=1, axis2=2)).sum(axis=1)
            logdet = np.broadcast_to(logdet, (k,))
        else:
            logdet = np.log(prec).sum(axis=1)
        with np.errstate(divide="ignore"):
            logw = np.log(params.weights)
        const = logw + logdet - 0.5 * d * math.log(2.0 * math.pi)
        return KernelArgs(np.ascontiguousarray(params.means, dtype=np.float64), prec,
                          np.ascontiguousarray(const, dtype=np.float64), self.nan_policy)

    def with_nan_policy(self, nan_policy: str) -> "CovarianceFamily":
        """This family with another ``nan_policy`` (``self`` for the default "raise")."""
        if nan_policy == self.nan_policy:
            return self
        import copy
        twin = copy.copy(self)
        twin.nan_policy = nan_policy
        return twin

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the mixture: covariances, means and weights."""
        return (self.n_covariance_parameters(n_components, n_features)
                + n_components * n_features + n_components - 1)

    # ---- the component-family protocol ---------------------------------------------------
    def zero_stats(self, kargs: KernelArgs) -> SuffStats:
        """Empty statistics about ``kargs.means`` in this family's scatter layout."""
        k, d = kargs.means.shape
        return SuffStats.zeros(kargs.means, self.scatter_shape(k, d))

    def chunk_stats(self, X: np.ndarray, sample_weight: Optional[np.ndarray],
                    kargs: KernelArgs, serial: bool = False) -> SuffStats:
        """The fused E+M pass over one block: statistics about ``kargs.means``."""
        k, d = kargs.means.shape
        return gaussian_pass.chunk_stats(X, sample_weight, kargs, self.scatter_shape(k, d),
                                         serial=serial)

    def resp_stats(self, X: np.ndarray, sample_weight: Optional[np.ndarray],
                   resp: np.ndarray, anchor: np.ndarray, serial: bool = False) -> SuffStats:
        """Statistics of one block under responsibilities ``resp``, about ``anchor``."""
        k, d = np.shape(anchor)
        return gaussian_pass.resp_stats(X, sample_weight, resp, anchor,
                                        self.scatter_shape(k, d), serial=serial)

    def m_step(self, stats: SuffStats, previous: Optional[GaussianParams] = None, *,
               reg: float, iteration: Optional[int] = None,
               dtype_hint: Optional[np.dtype] = None) -> GaussianParams:
        """The Gaussian M-step with ``reg = reg_covar`` (see
        :func:`fastem.families.gaussian_mstep.gaussian_m_step`)."""
        return gaussian_m_step(self, stats, reg, previous, iteration=iteration,
                               dtype_hint=dtype_hint)

    def e_step_outputs(self, X: np.ndarray, kargs: KernelArgs, *, labels: bool = False,
                       resp: bool = False, serial: bool = False) -> tuple:
        """Per-row log-likelihood, and optionally labels and responsibilities, of a block."""
        return gaussian_pass.e_step_outputs(X, kargs, labels=labels, resp=resp, serial=serial)

    def sample(self, params: GaussianParams, n_samples: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n_samples`` draws (component counts from one multinomial, then each component's
        rows in order) and their sorted components."""
        k, d = params.means.shape
        weights = params.weights
        counts = rng.multinomial(n_samples, weights / weights.sum())
        covs = self.full_covariances(params.covariances, k, d)
        parts = []
        for j in range(k):
            if counts[j]:
                chol = np.linalg.cholesky(covs[j])
                z = rng.standard_normal((counts[j], d))
                parts.append(params.means[j] + z @ chol.T)
        return np.vstack(parts), np.repeat(np.arange(k), counts)

    def validate(self, X: np.ndarray, row_offset: int = 0) -> None:
        """Gaussian components accept any finite value; NaN or inf is an error naming the
        first bad row (global: ``row_offset`` is added) and column."""
        bad = first_nonfinite_row(X)
        if bad >= 0:
            col = int(np.flatnonzero(~np.isfinite(X[bad]))[0])
            raise ValueError(f"X contains NaN or inf: row {bad + row_offset:,}, column {col} is "
                             f"{float(X[bad, col])!r}. Drop or impute those rows.")

    # ---- persistence --------------------------------------------------------------------
    def spec(self) -> dict:
        """``{"family": "gaussian", "covariance_type": <name>}``."""
        return {"family": "gaussian", "covariance_type": self.name}

    def params_to_arrays(self, params: GaussianParams) -> dict[str, np.ndarray]:
        """The four parameter arrays keyed by :attr:`fields`."""
        return {f: np.asarray(getattr(params, f)) for f in self.fields}

    def params_from_arrays(self, arrays, *, n_components: Optional[int] = None,
                           n_features: Optional[int] = None) -> GaussianParams:
        """Checked parameters from arrays keyed by :attr:`fields` (untrusted input).

        Raises
        ------
        FieldError
            Naming the array that is missing, not float, of the wrong shape, non-finite,
            or out of range (negative weights, weights not summing to 1, non-positive
            variances or precision-factor diagonals).
        """
        from .fields import check_weights, field_array, leading_shape
        from .protocol import FieldError
        names = self.fields
        if n_components is None or n_features is None:
            n_components, n_features = leading_shape(arrays, names[1])
        k, d = int(n_components), int(n_features)
        cshape = self.covariance_shape(k, d)
        w = check_weights(field_array(arrays, names[0], (k,)), names[0])
        m = field_array(arrays, names[1], (k, d))
        c = field_array(arrays, names[2], cshape)
        u = field_array(arrays, names[3], cshape)
        if self.square:
            diag = np.diagonal(u.reshape((-1, d, d)), axis1=1, axis2=2)
            cdiag = np.diagonal(c.reshape((-1, d, d)), axis1=1, axis2=2)
        else:
            diag, cdiag = u, c
        if not (diag > 0).all():
            raise FieldError(names[3], "a precision factor has a non-positive diagonal entry")
        if not (cdiag > 0).all():
            raise FieldError(names[2], "a covariance has a non-positive variance")
        return GaussianParams(w, m, c, u)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
