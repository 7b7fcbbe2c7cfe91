"""The covariance-family descriptor: the single place that knows a covariance type.

A family maps sufficient statistics to covariances, covariances to precision Cholesky
factors, and factors to the layout the kernel reads. Everything is plain NumPy over
``K x d (x d)`` arrays: no per-row loops live here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GaussianParams:
    """Parameters of a Gaussian mixture, covariances in the family's own shape.

    Parameters
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shape as scikit-learn's ``covariances_`` for the covariance type.
    precisions_cholesky : ndarray
        Same shape as ``covariances``; upper triangular for full and tied.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @property
    def n_components(self) -> int:
        """Number of mixture components."""
        return self.means.shape[0]

    @property
    def n_features(self) -> int:
        """Number of features."""
        return self.means.shape[1]


@dataclass(frozen=True)
class KernelArgs:
    """What the kernels read: float64, C-contiguous, in the kernel's layout."""

    means: np.ndarray
    prec: np.ndarray
    const: np.ndarray

    def key(self) -> tuple:
        """A hashable fingerprint of the parameters (for shift checks and caching)."""
        return (self.means.tobytes(), self.prec.tobytes(), self.const.tobytes())


class CovarianceFamily:
    """Base descriptor of a covariance type; subclasses override the layout-specific parts."""

    name: str = ""
    #: Number of dimensions of the kernel's precision array: 3 (square factors) or 2 (diagonal).
    square: bool = True

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
                          np.ascontiguousarray(const, dtype=np.float64))

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the mixture: covariances, means and weights."""
        return (self.n_covariance_parameters(n_components, n_features)
                + n_components * n_features + n_components - 1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
