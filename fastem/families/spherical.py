"""Spherical covariance: one variance per component."""
from __future__ import annotations

import numpy as np

from .diag import DiagFamily


class SphericalFamily(DiagFamily):
    """Each component has a single variance; the kernel sees it expanded to ``(K, d)``."""

    name = "spherical"

    def covariance_shape(self, n_components, n_features):
        return (n_components,)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components

    def covariances_from_stats(self, nk, delta, s2, reg_covar):
        return super().covariances_from_stats(nk, delta, s2, reg_covar).mean(axis=1)

    def precision_cholesky(self, cov):
        pc, bad = super().precision_cholesky(np.asarray(cov)[:, None])
        return pc[:, 0], bad

    def precision_cholesky_from_precisions(self, prec):
        pc, bad = super().precision_cholesky_from_precisions(np.asarray(prec)[:, None])
        return pc[:, 0], bad

    def kernel_precision(self, prec_chol, n_components, n_features):
        return np.repeat(prec_chol[:, None], n_features, axis=1)

    def full_covariances(self, cov, n_components, n_features):
        return cov[:, None, None] * np.eye(n_features)
