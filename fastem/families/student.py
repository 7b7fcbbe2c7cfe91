"""The Student-t family: multivariate t components with any of the four covariance types.

A client of the component-family protocol (:mod:`fastem.families.protocol`). The scale
matrices use the Gaussian covariance families' layouts, factors and shapes
(:class:`fastem.families.base.CovarianceFamily`); the fused pass is
:mod:`fastem.kernels.student_pass` (the Gaussian Mahalanobis machinery, then the t
log-density and the weights ``u = (nu + D) / (nu + delta2)``); the M-step is
:mod:`fastem.families.student_mstep`.

Log-density of component ``k`` (``delta2`` the squared Mahalanobis distance under the scale
matrix, ``U`` its precision Cholesky factor)::

    lgamma((nu + D)/2) - lgamma(nu/2) - D/2 log(nu pi) + log det U
        - (nu + D)/2 log(1 + delta2 / nu)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._slots import run_in_slots
from .._special import log_minus_digamma
from ..kernels.student_pass import student_e_step_chunk, student_pass_chunk
from ..stats import SuffStats
from . import gaussian_pass
from .base import CovarianceFamily
from .params import GaussianParams
from .student_mstep import student_m_step


@dataclass(frozen=True)
class StudentParams:
    """Weights (K,), means (K, D), scale matrices and their precision Cholesky factors (the
    Gaussian layout of the covariance type), degrees of freedom (K,)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    degrees_of_freedom: np.ndarray

    def gaussian(self) -> GaussianParams:
        """The same location and scale parameters as Gaussian parameters."""
        return GaussianParams(self.weights, self.means, self.covariances,
                              self.precisions_cholesky)


@dataclass(frozen=True)
class StudentKernelArgs:
    """What the Student-t kernels read: float64, C-contiguous.

    ``const_k = log w_k + log det U_k + lgamma((nu+D)/2) - lgamma(nu/2) - D/2 log(nu pi)``;
    ``tpar`` rows: ``(nu+D)/2``, ``1/nu``, ``(nu+D)/nu``, and
    ``log((nu+D)/nu) - (log((nu+D)/2) - psi((nu+D)/2))`` (so that the kernel's
    ``log a - log z - u`` is ``E[log tau] - u``).
    """

    means: np.ndarray
    prec: np.ndarray
    const: np.ndarray
    tpar: np.ndarray
    nan_policy: str = "raise"
    #: Under "marginalize": ``(base, nu, lg, el + la)`` of
    #: :mod:`fastem.kernels.student_missing` (tabulated for every number of observed
    #: coordinates ``0..D``).
    marginal: Optional[tuple] = None


@dataclass(frozen=True)
class StudentStats:
    """Additive statistics of one pass.

    ``nk = sum w r``; ``uk = sum w r u``; ``s1 = sum w r u (x - shift)``; ``s2`` the
    ``u``-weighted scatter about ``shift`` (the Gaussian layout); ``aux =
    sum w r (E[log tau] - u)``; plus the log-likelihood, weight and row totals.
    """

    shift: np.ndarray
    nk: np.ndarray
    uk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    aux: np.ndarray
    loglik: float = 0.0
    weight_sum: float = 0.0
    n_rows: int = 0

    def _moments(self) -> SuffStats:
        return SuffStats(self.shift, self.uk, self.s1, self.s2)

    def __add__(self, other: "StudentStats") -> "StudentStats":
        if not isinstance(other, StudentStats):
            return NotImplemented
        m = self._moments() + other._moments()  # refuses other layouts and shifts
        return StudentStats(self.shift, self.nk + other.nk, m.nk, m.s1, m.s2,
                            self.aux + other.aux, self.loglik + other.loglik,
                            self.weight_sum + other.weight_sum, self.n_rows + other.n_rows)

    def scaled(self, factor: float) -> "StudentStats":
        """Every sum multiplied by ``factor`` (online EM)."""
        return StudentStats(self.shift, self.nk * factor, self.uk * factor, self.s1 * factor,
                            self.s2 * factor, self.aux * factor, self.loglik * factor,
                            self.weight_sum * factor, self.n_rows)

    def reshifted(self, new_shift: np.ndarray, square: bool) -> "StudentStats":
        """The same statistics about ``new_shift``."""
        m = self._moments().reshifted(new_shift, square)
        return StudentStats(m.shift, self.nk.copy(), m.nk, m.s1, m.s2, self.aux.copy(),
                            self.loglik, self.weight_sum, self.n_rows)


def log_density_constants(weights: np.ndarray, logdet: np.ndarray, dof: np.ndarray,
                          n_features: int) -> np.ndarray:
    """``log w + log det U + lgamma((nu+D)/2) - lgamma(nu/2) - D/2 log(nu pi)`` per component."""
    d = n_features
    with np.errstate(divide="ignore"):
        logw = np.log(weights)
    lg = np.array([math.lgamma(0.5 * (v + d)) - math.lgamma(0.5 * v) for v in dof])
    return logw + logdet + lg - 0.5 * d * np.log(dof * math.pi)


class StudentFamily:
    """Mixture components of multivariate Student-t distributions.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
        Layout of the scale matrices.
    degrees_of_freedom : float or None
        A fixed ``nu`` for every component, or ``None`` to estimate ``nu_k`` per component.
    degrees_of_freedom_init : float
        The starting ``nu`` when it is estimated.
    """

    name = "student_t"
    fields = ("weights", "means", "covariances", "precisions_cholesky", "degrees_of_freedom")

    #: "raise", "omit" (rows holding NaN left out of the fit) or "marginalize" (exact EM
    #: over each row's observed coordinates: :mod:`fastem.kernels.student_missing`).
    nan_policy: str = "raise"

    def __init__(self, covariance_type: str = "full", degrees_of_freedom: Optional[float] = None,
                 degrees_of_freedom_init: float = 30.0, nan_policy: str = "raise") -> None:
        from . import get_family
        from .missing import NAN_POLICIES
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES!r}; got {nan_policy!r}.")
        self.nan_policy = nan_policy
        self.covariance_family: CovarianceFamily = get_family(covariance_type)
        self.covariance_type = covariance_type
        self.degrees_of_freedom = degrees_of_freedom
        self.degrees_of_freedom_init = degrees_of_freedom_init

    @property
    def square(self) -> bool:
        """Whether the scale matrices are square (full, tied)."""
        return self.covariance_family.square

    def initial_dof(self, n_components: int) -> np.ndarray:
        """The degrees of freedom a fit starts from."""
        v = (self.degrees_of_freedom if self.degrees_of_freedom is not None
             else self.degrees_of_freedom_init)
        return np.full(n_components, float(v))

    def from_gaussian(self, params: GaussianParams,
                      dof: Optional[np.ndarray] = None) -> StudentParams:
        """Student-t parameters with the location and scale of ``params``."""
        k = params.means.shape[0]
        return StudentParams(params.weights, params.means, params.covariances,
                             params.precisions_cholesky,
                             self.initial_dof(k) if dof is None else np.asarray(dof, float))

    # ---- the component-family protocol ---------------------------------------------------
    def kernel_args(self, params: StudentParams) -> StudentKernelArgs:
        k, d = params.means.shape
        gk = self.covariance_family.kernel_args(params.gaussian())
        prec = gk.prec
        if prec.ndim == 3:
            logdet = np.broadcast_to(np.log(np.diagonal(prec, axis1=1, axis2=2)).sum(axis=1),
                                     (k,))
        else:
            logdet = np.log(prec).sum(axis=1)
        dof = np.asarray(params.degrees_of_freedom, dtype=np.float64)
        const = log_density_constants(params.weights, logdet, dof, d)
        h = 0.5 * (dof + d)
        a = (dof + d) / dof
        elog = np.log(a) - np.array([log_minus_digamma(v) for v in h])
        tpar = np.ascontiguousarray(np.stack([h, 1.0 / dof, a, elog]))
        marginal = None
        if self.nan_policy == "marginalize":
            with np.errstate(divide="ignore"):
                base = np.log(params.weights) + logdet
            p = np.arange(d + 1, dtype=np.float64)[:, None]
            half = 0.5 * (dof[None, :] + p)
            lg = (np.vectorize(math.lgamma)(half) - np.vectorize(math.lgamma)(0.5 * dof)[None]
                  - 0.5 * p * np.log(dof * math.pi)[None])
            ela = -np.vectorize(log_minus_digamma)(half) + np.log((dof[None, :] + p) / dof)
            marginal = (np.ascontiguousarray(base, dtype=np.float64), np.ascontiguousarray(dof),
                        np.ascontiguousarray(lg), np.ascontiguousarray(ela))
        return StudentKernelArgs(gk.means, prec, np.ascontiguousarray(const, dtype=np.float64),
                                 tpar, self.nan_policy, marginal)

    def zero_stats(self, kargs: StudentKernelArgs) -> StudentStats:
        k, d = kargs.means.shape
        return StudentStats(kargs.means, np.zeros(k), np.zeros(k), np.zeros((k, d)),
                            np.zeros(self.covariance_family.scatter_shape(k, d)), np.zeros(k))

    def chunk_stats(self, X: np.ndarray, sample_weight: Optional[np.ndarray],
                    kargs: StudentKernelArgs, serial: bool = False) -> StudentStats:
        """The fused E+M pass over one block: statistics about ``kargs.means`` (under
        ``nan_policy="omit"`` over the rows without NaN)."""
        if kargs.nan_policy == "omit":
            from .linexp_nan import nan_masks, omitted_stats
            masks = nan_masks(X)
            if masks is not None:
                return omitted_stats(self, X, sample_weight, kargs, masks[0], serial)
        if kargs.nan_policy == "marginalize" and X.dtype.kind == "f":
            marginal = self._marginal_stats(X, sample_weight, kargs, serial)
            if marginal is not None:
                return marginal
        kern = student_pass_chunk.serial if serial else student_pass_chunk.parallel
        k, d = kargs.means.shape
        w = gaussian_pass.as_weights(sample_weight)
        prec = gaussian_pass.compute_prec(kargs, X.dtype)
        sshape = tuple(self.covariance_family.scatter_shape(k, d))

        def run(nk, uk, s1, s2, aux, ll):
            kern(X, w, kargs.means, prec, kargs.const, kargs.tpar, nk, uk, s1, s2, aux, ll)

        (nk, uk, s1, s2, aux), ll = run_in_slots(run, X.shape[0],
                                                 ((k,), (k,), (k, d), sshape, (k,)), 2)
        ll = ll.sum(axis=0)
        return StudentStats(kargs.means, nk, uk, s1, s2, aux, float(ll[0]), float(ll[1]),
                            X.shape[0])

    def _missing_rows(self, X: np.ndarray):
        """The rows of a chunk holding a NaN, as the missing-value kernel takes them (sorted
        by pattern for square layouts), and the mask of those rows; ``None`` without NaN.
        An inf is an error."""
        from .missing import nan_row_scan, nan_rows_for_kernel
        has, _, keys = nan_row_scan(X)
        if not has.any():
            return None
        return nan_rows_for_kernel(has, keys, self.square), has

    def _run_missing(self, X, sample_weight, rows, kargs, shapes, outputs, serial):
        from ..kernels.student_missing import student_missing_chunk
        from .missing import kernel_layout
        U, lam = kernel_layout(kargs)
        base, nu, lg, ela = kargs.marginal
        kern = student_missing_chunk.serial if serial else student_missing_chunk.parallel
        w = gaussian_pass.as_weights(sample_weight)

        def run(nk, uk, s1, s2, aux, ll):
            kern(X, w, rows, kargs.means, U, lam, base, nu, lg, ela, nk, uk, s1, s2, aux, ll,
                 *outputs)

        return run_in_slots(run, rows.shape[0], shapes, 2)

    def _marginal_stats(self, X: np.ndarray, sample_weight: Optional[np.ndarray],
                        kargs: StudentKernelArgs, serial: bool) -> Optional[StudentStats]:
        """Statistics of a chunk holding NaN under "marginalize": its complete rows through
        the complete-data kernel, the others over their observed coordinates (both about
        ``kargs.means``, so they add); ``None`` for a chunk without NaN."""
        import dataclasses
        found = self._missing_rows(X)
        if found is None:
            return None
        rows, has = found
        k, d = kargs.means.shape
        keep = ~has
        total = self.zero_stats(kargs)
        if keep.any():
            w = None if sample_weight is None else np.asarray(sample_weight)[keep]
            total = total + self.chunk_stats(np.ascontiguousarray(X[keep]), w,
                                             dataclasses.replace(kargs, nan_policy="raise"),
                                             serial)
        shapes = ((k,), (k,), (k, d), tuple(self.covariance_family.scatter_shape(k, d)), (k,))
        empty = (np.empty(0), np.empty(0, np.int64), np.empty((0, k)))
        (nk, uk, s1, s2, aux), ll = self._run_missing(X, sample_weight, rows, kargs, shapes,
                                                      empty, serial)
        ll = ll.sum(axis=0)
        total = total + StudentStats(kargs.means, nk, uk, s1, s2, aux, float(ll[0]),
                                     float(ll[1]), 0)
        return dataclasses.replace(total, n_rows=X.shape[0])

    def resp_stats(self, X: np.ndarray, sample_weight: Optional[np.ndarray],
                   resp: np.ndarray, anchor: np.ndarray, serial: bool = False) -> StudentStats:
        """Statistics under given responsibilities with ``u = 1`` (the Gaussian limit,
        ``E[log tau - tau] = -1``): initialisation from labels or responsibilities."""
        k, d = np.shape(anchor)
        g = gaussian_pass.resp_stats(X, sample_weight, resp, anchor,
                                     self.covariance_family.scatter_shape(k, d), serial=serial)
        return StudentStats(g.shift, g.nk, g.nk.copy(), g.s1, g.s2, -g.nk, g.loglik,
                            g.weight_sum, g.n_rows)

    def m_step(self, stats: StudentStats, previous: Optional[StudentParams] = None, *,
               reg: float, iteration: Optional[int] = None,
               dtype_hint: Optional[np.dtype] = None) -> StudentParams:
        """See :func:`fastem.families.student_mstep.student_m_step` (``reg = reg_covar``)."""
        return student_m_step(self, stats, reg, previous, iteration=iteration,
                              dtype_hint=dtype_hint)

    def e_step_outputs(self, X: np.ndarray, kargs: StudentKernelArgs, *, labels: bool = False,
                       resp: bool = False, serial: bool = False) -> tuple:
        if kargs.nan_policy == "marginalize" and X.dtype.kind == "f":
            found = self._missing_rows(X)
            if found is not None:
                return self._marginal_outputs(X, kargs, found, labels, resp, serial)
        if kargs.nan_policy == "omit":
            from .linexp_nan import nan_masks
            masks = nan_masks(X)
            if masks is not None:
                row = int(np.flatnonzero(masks[0])[0])
                raise ValueError(f"X contains NaN: row {row:,}, column "
                                 f"{int(np.flatnonzero(np.isnan(X[row]))[0])}. StudentMixture "
                                 "(nan_policy='omit') fits on the complete rows only and "
                                 "cannot score rows with missing values; drop or impute them.")
        n = X.shape[0]
        k = kargs.means.shape[0]
        lpn = np.empty(n)
        lab = np.empty(n if labels else 0, np.int64)
        rsp = np.empty((n if resp else 0, k))
        kern = student_e_step_chunk.serial if serial else student_e_step_chunk.parallel
        kern(X, kargs.means, gaussian_pass.compute_prec(kargs, X.dtype), kargs.const,
             kargs.tpar, lpn, lab, rsp)
        return lpn, (lab if labels else None), (rsp if resp else None)

    def _marginal_outputs(self, X, kargs, found, labels, resp, serial) -> tuple:
        """Per-row outputs of a chunk holding NaN, each row over its observed coordinates
        (a row with every coordinate missing gets log-likelihood 0.0)."""
        import dataclasses
        rows, has = found
        n = X.shape[0]
        k, d = kargs.means.shape
        keep = ~has
        lpn = np.empty(n)
        lab = np.empty(n if labels else 0, np.int64)
        rsp = np.empty((n if resp else 0, k))
        if keep.any():
            c_lpn, c_lab, c_rsp = self.e_step_outputs(
                np.ascontiguousarray(X[keep]), dataclasses.replace(kargs, nan_policy="raise"),
                labels=labels, resp=resp, serial=serial)
            lpn[keep] = c_lpn
            if labels:
                lab[keep] = c_lab
            if resp:
                rsp[keep] = c_rsp
        shapes = ((k,), (k,), (k, d), tuple(self.covariance_family.scatter_shape(k, d)), (k,))
        self._run_missing(X, None, rows, kargs, shapes, (lpn, lab, rsp), serial)
        return lpn, (lab if labels else None), (rsp if resp else None)

    def with_nan_policy(self, nan_policy: str) -> "StudentFamily":
        """This family with another ``nan_policy``."""
        if nan_policy == self.nan_policy:
            return self
        return StudentFamily(self.covariance_type, self.degrees_of_freedom,
                             self.degrees_of_freedom_init, nan_policy)

    def impute_missing(self, X: np.ndarray, resp: np.ndarray, params: StudentParams,
                       rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """``X`` (float64 copy) with each NaN replaced by ``sum_k r_k E_k[x_m | x_o]`` under
        the rows' responsibilities ``resp``, or (with ``rng``) by a draw: a component from
        ``resp``, ``tau ~ Gamma((nu + p) / 2, rate (nu + delta2) / 2)``, then
        ``N(conditional mean, C / tau)``, which is the conditional t of that component."""
        from ..kernels.student_missing import student_fill_chunk
        from .missing import nan_row_scan, nan_rows_for_kernel, kernel_layout
        out = np.array(X, dtype=np.float64, order="C")
        has, _, keys = nan_row_scan(X)
        if not has.any():
            return out
        n, d = X.shape
        kargs = self.kernel_args(params)
        U, lam = kernel_layout(kargs)
        rows = nan_rows_for_kernel(has, keys, self.square)
        r = np.ascontiguousarray(resp, dtype=np.float64)
        kern = student_fill_chunk.parallel
        if rng is None:
            kern(X, rows, kargs.means, U, lam, r, np.empty(0, np.int64), np.empty((0, d)), out,
                 np.empty((0, d)), np.empty(0))
            return out
        pick = np.minimum((rng.uniform(size=n)[:, None] > np.cumsum(r, axis=1)).sum(axis=1),
                          r.shape[1] - 1)
        noise = np.zeros((n, d))
        d2 = np.zeros(n)
        kern(X, rows, kargs.means, U, lam, r, pick, rng.standard_normal((n, d)), out, noise, d2)
        nu = np.asarray(params.degrees_of_freedom, dtype=np.float64)[pick]
        p_obs = d - np.isnan(X).sum(axis=1)
        tau = rng.gamma(0.5 * (nu + p_obs), 2.0 / (nu + d2))
        return out + noise / np.sqrt(tau)[:, None]

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Gaussian parameters, plus one ``nu`` per component when it is estimated."""
        n = self.covariance_family.n_parameters(n_components, n_features)
        return n + (n_components if self.degrees_of_freedom is None else 0)

    def sample(self, params: StudentParams, n_samples: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draws ``mu + L z / sqrt(g)``, ``z`` standard normal, ``g ~ chi2(nu) / nu``."""
        k, d = params.means.shape
        counts = rng.multinomial(n_samples, params.weights / params.weights.sum())
        covs = self.covariance_family.full_covariances(params.covariances, k, d)
        parts = []
        for j in range(k):
            if counts[j]:
                chol = np.linalg.cholesky(covs[j])
                z = rng.standard_normal((counts[j], d))
                nu = float(params.degrees_of_freedom[j])
                g = rng.chisquare(nu, size=counts[j]) / nu
                parts.append(params.means[j] + (z @ chol.T) / np.sqrt(g)[:, None])
        return np.vstack(parts), np.repeat(np.arange(k), counts)

    def prepare(self, X: np.ndarray) -> np.ndarray:
        """The chunk as the kernel reads it: float32/float64 as they are, other numbers
        (integers, booleans, float16) as float64."""
        X = np.asarray(X)
        if not X.dtype.isnative:
            X = X.astype(X.dtype.newbyteorder("="))
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        return X

    def validate(self, X: np.ndarray, row_offset: int = 0) -> None:
        """Any finite value; NaN or inf is an error naming the first bad row (``row_offset``
        added, so rows are global across chunks) and column; under ``nan_policy`` "omit"
        or "marginalize" NaN marks a missing value (inf never)."""
        from .linexp_nan import validate_with_nan
        validate_with_nan(np.asarray(X), row_offset, self.nan_policy,
                          self.covariance_family.validate)

    # ---- persistence and online EM -------------------------------------------------------
    def spec(self) -> dict:
        """``{"family": "student_t", "covariance_type": ..., "degrees_of_freedom": ...,
        "degrees_of_freedom_init": ...}`` (JSON-able)."""
        dof = self.degrees_of_freedom
        return {"family": self.name, "covariance_type": self.covariance_type,
                "degrees_of_freedom": None if dof is None else float(dof),
                "degrees_of_freedom_init": float(self.degrees_of_freedom_init),
                **({"nan_policy": self.nan_policy} if self.nan_policy != "raise" else {})}

    def params_to_arrays(self, params: StudentParams) -> dict:
        """The five parameter arrays keyed by :attr:`fields`."""
        return {f: np.asarray(getattr(params, f)) for f in self.fields}

    def params_from_arrays(self, arrays, *, n_components: Optional[int] = None,
                           n_features: Optional[int] = None) -> StudentParams:
        """Checked parameters from arrays keyed by :attr:`fields` (untrusted input): the
        Gaussian family's checks, and finite positive degrees of freedom of shape (K,)."""
        from .protocol import FieldError
        g = self.covariance_family.params_from_arrays(arrays, n_components=n_components,
                                                      n_features=n_features)
        k = g.means.shape[0]
        dof = arrays.get("degrees_of_freedom")
        if dof is None:
            raise FieldError("degrees_of_freedom", "the array is missing")
        if not isinstance(dof, np.ndarray) or dof.dtype.kind != "f":
            raise FieldError("degrees_of_freedom",
                             f"dtype {getattr(dof, 'dtype', type(dof).__name__)!s}; "
                             "expected float64")
        if dof.shape != (k,):
            raise FieldError("degrees_of_freedom", f"shape {dof.shape}; expected ({k},)")
        if not (np.isfinite(dof).all() and (dof > 0).all()):
            raise FieldError("degrees_of_freedom", "degrees of freedom must be finite and "
                                                   f"positive; got {dof.tolist()!r}")
        return self.from_gaussian(g, np.ascontiguousarray(dof, dtype=np.float64))

    def stats_from_params(self, params: StudentParams, reg: float) -> StudentStats:
        """Per-row statistics (weight sum 1) whose M-step with ``reg_covar = reg`` returns
        ``params``: the Gaussian ones with ``u = 1``, and ``A_k = N_k (-1 - g(nu_k / 2))``
        (``g = log - psi``), the statistic whose ECM root is ``nu_k``."""
        from ..online import stats_from_params as gaussian_stats
        g = gaussian_stats(self.covariance_family, params.gaussian(), reg)
        dof = np.asarray(params.degrees_of_freedom, dtype=np.float64)
        aux = g.nk * np.array([-1.0 - log_minus_digamma(0.5 * v) for v in dof])
        return StudentStats(g.shift, g.nk, g.nk.copy(), g.s1, g.s2, aux, g.loglik,
                            g.weight_sum, g.n_rows)

    def __repr__(self) -> str:
        return (f"<StudentFamily {self.covariance_type!r} "
                f"degrees_of_freedom={self.degrees_of_freedom!r}>")
