"""Tied covariance: one ``d x d`` covariance shared by all components."""
from __future__ import annotations

import numpy as np

from .full import FullFamily


class TiedFamily(FullFamily):
    """All components share one general covariance matrix (pooled within-component scatter)."""

    name = "tied"

    def covariance_shape(self, n_components, n_features):
        return (n_features, n_features)

    def scatter_shape(self, n_components, n_features):
        return (1, n_features, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) // 2

    def covariances_from_stats(self, nk, delta, s2, reg_covar):
        # sum_k sum_i r_ik (x_i - m_k)(x_i - m_k)^T = S2_pooled - sum_k nk_k delta_k delta_k^T
        d = delta.shape[1]
        cov = (s2[0] - np.einsum("k,ki,kj->ij", nk, delta, delta)) / nk.sum()
        cov += reg_covar * np.eye(d)
        return cov

    def restore_empty(self, cov, fallback, empty):
        # The pooled covariance does not belong to any one component.
        return None

    def initial_fallback(self, cov, filled):
        # One (d, d) covariance, pooled over the components: nothing to fill in (indexing it
        # by a component mask was the IndexError of issue 11).
        return cov

    def precision_cholesky(self, cov):
        pc, bad = super().precision_cholesky(cov[None])
        return pc[0], bad

    def precision_cholesky_from_precisions(self, prec):
        pc, bad = super().precision_cholesky_from_precisions(np.asarray(prec)[None])
        return pc[0], bad

    def precisions(self, prec_chol):
        return prec_chol @ prec_chol.T

    def kernel_precision(self, prec_chol, n_components, n_features):
        return prec_chol[None]

    def full_covariances(self, cov, n_components, n_features):
        return np.broadcast_to(cov, (n_components, n_features, n_features))
