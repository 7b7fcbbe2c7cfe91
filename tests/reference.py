"""Slow, obviously-correct oracles for one E-step and one M-step per covariance type.

Built on scipy.stats / scipy.special and plain NumPy; imports nothing from fastem.
Covariances use scikit-learn's shapes: full (K, d, d), tied (d, d), diag (K, d), spherical (K,).
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def full_covariances(cov_type, cov, n_components, d):
    """Every covariance as a (K, d, d) stack."""
    cov = np.asarray(cov, dtype=np.float64)
    if cov_type == "full":
        return cov
    if cov_type == "tied":
        return np.stack([cov] * n_components)
    if cov_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([c * np.eye(d) for c in cov])


def weighted_log_prob(X, weights, means, cov_type, cov):
    """log w_k + log N(x_i | mu_k, Sigma_k), shape (n, K)."""
    X = np.asarray(X, dtype=np.float64)
    k, d = means.shape
    covs = full_covariances(cov_type, cov, k, d)
    return np.stack([np.log(weights[j])
                     + multivariate_normal(means[j], covs[j]).logpdf(X).reshape(-1)
                     for j in range(k)], axis=1)


def e_step(X, weights, means, cov_type, cov):
    """Per-row log-likelihood and responsibilities."""
    lp = weighted_log_prob(X, weights, means, cov_type, cov)
    lpn = logsumexp(lp, axis=1)
    return lpn, np.exp(lp - lpn[:, None])


def m_step(X, resp, cov_type, reg_covar, sample_weight=None):
    """Weights, means and covariances from responsibilities (two-pass, no shortcuts)."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    R = resp * w[:, None]
    nk = R.sum(axis=0) + 10 * np.finfo(float).eps
    means = (R.T @ X) / nk[:, None]
    covs = []
    for j in range(means.shape[0]):
        diff = X - means[j]
        covs.append((R[:, j, None] * diff).T @ diff / nk[j])
    covs = np.array(covs)
    eye = np.eye(d)
    if cov_type == "full":
        cov = covs + reg_covar * eye
    elif cov_type == "tied":
        cov = (covs * nk[:, None, None]).sum(axis=0) / nk.sum() + reg_covar * eye
    elif cov_type == "diag":
        cov = np.diagonal(covs, axis1=1, axis2=2) + reg_covar
    else:
        cov = np.diagonal(covs, axis1=1, axis2=2).mean(axis=1) + reg_covar
    return nk / nk.sum(), means, cov


def em_step(X, weights, means, cov_type, cov, reg_covar, sample_weight=None):
    """One EM iteration: (mean log-likelihood under the old parameters, new parameters)."""
    lpn, resp = e_step(X, weights, means, cov_type, cov)
    w = np.ones(len(lpn)) if sample_weight is None else np.asarray(sample_weight, float)
    return float((w * lpn).sum() / w.sum()), m_step(X, resp, cov_type, reg_covar, sample_weight)


def precisions_from_covariances(cov_type, cov):
    """Precision matrices (or vectors) from covariances, in the same shape."""
    cov = np.asarray(cov, dtype=np.float64)
    if cov_type in ("full", "tied"):
        return np.linalg.inv(cov)
    return 1.0 / cov
