"""Diagonal covariance: one variance per feature and component."""
from __future__ import annotations

import numpy as np

from .base import CovarianceFamily


class DiagFamily(CovarianceFamily):
    """Each component has its own diagonal covariance."""

    name = "diag"
    square = False

    def covariance_shape(self, n_components, n_features):
        return (n_components, n_features)

    def scatter_shape(self, n_components, n_features):
        return (n_components, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features

    def covariances_from_stats(self, nk, delta, s2, reg_covar):
        return s2 / nk[:, None] - delta * delta + reg_covar

    def precision_cholesky(self, cov):
        bad = np.flatnonzero(~(np.asarray(cov) > 0).reshape(len(cov), -1).all(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            pc = 1.0 / np.sqrt(cov)
        return pc, (int(bad[0]) if bad.size else -1)

    def precision_cholesky_from_precisions(self, prec):
        bad = np.flatnonzero(~(np.asarray(prec) > 0).reshape(len(prec), -1).all(axis=1))
        with np.errstate(invalid="ignore"):
            pc = np.sqrt(prec)
        return pc, (int(bad[0]) if bad.size else -1)

    def precisions(self, prec_chol):
        return prec_chol**2

    def covariances_from_precisions(self, prec):
        return 1.0 / prec

    def kernel_precision(self, prec_chol, n_components, n_features):
        return prec_chol

    def full_covariances(self, cov, n_components, n_features):
        return np.einsum("ki,ij->kij", cov, np.eye(n_features))
