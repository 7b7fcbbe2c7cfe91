"""Full covariance: one ``d x d`` covariance per component."""
from __future__ import annotations

import numpy as np

from ..kernels.linalg import precision_cholesky_full, upper_cholesky
from .base import CovarianceFamily


class FullFamily(CovarianceFamily):
    """Each component has its own general covariance matrix."""

    name = "full"

    def covariance_shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def scatter_shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) // 2

    def covariances_from_stats(self, nk, delta, s2, reg_covar):
        d = delta.shape[1]
        cov = s2 / nk[:, None, None] - delta[:, :, None] * delta[:, None, :]
        cov += reg_covar * np.eye(d)
        return cov

    def precision_cholesky(self, cov):
        return precision_cholesky_full(np.ascontiguousarray(cov, dtype=np.float64))

    def precision_cholesky_from_precisions(self, prec):
        return upper_cholesky(np.ascontiguousarray(prec, dtype=np.float64))

    def precisions(self, prec_chol):
        return prec_chol @ np.swapaxes(prec_chol, -1, -2)

    def covariances_from_precisions(self, prec):
        return np.linalg.inv(prec)

    def kernel_precision(self, prec_chol, n_components, n_features):
        return prec_chol

    def full_covariances(self, cov, n_components, n_features):
        return cov
