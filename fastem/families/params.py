"""The Gaussian families' parameter and kernel-argument types."""
from __future__ import annotations

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
    #: How rows holding NaN are treated (see :mod:`fastem.families.missing`).
    nan_policy: str = "raise"

    def key(self) -> tuple:
        """A hashable fingerprint of the parameters (for shift checks and caching)."""
        return (self.means.tobytes(), self.prec.tobytes(), self.const.tobytes())
