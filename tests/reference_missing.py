"""Slow, obviously-correct NumPy/SciPy oracles for EM with missing values (no fastem imports; NumPy only).

Per row: split the coordinates into observed ``o`` and missing ``m``; the density is the
marginal ``N(x_o | mu_o, Sigma_oo)``; the missing block's conditional given ``x_o`` has mean
``mu_m + Sigma_mo Sigma_oo^{-1} (x_o - mu_o)`` and covariance
``Sigma_mm - Sigma_mo Sigma_oo^{-1} Sigma_om`` (the covariance form, where the kernels use the
precision form). Rows with every coordinate missing are left out.
"""
from __future__ import annotations

import numpy as np


def logsumexp(a):
    """``log(sum(exp(a)))`` computed stably."""
    top = np.max(a)
    return top + np.log(np.sum(np.exp(a - top)))


def full_covs(cov_type, cov, k, d):
    """Covariances as a (K, d, d) stack."""
    cov = np.asarray(cov, float)
    if cov_type == "full":
        return cov
    if cov_type == "tied":
        return np.broadcast_to(cov, (k, d, d))
    if cov_type == "diag":
        return np.einsum("ki,ij->kij", cov, np.eye(d))
    return cov[:, None, None] * np.eye(d)


def row_terms(x, weights, means, covs, log_weights=None):
    """For one row: log w_k + log N(x_o) per component, conditional means (K, |m|) and
    conditional covariances (K, |m|, |m|), and the index arrays o, m (``log_weights``, when
    given, replaces ``log w_k``)."""
    o = np.flatnonzero(~np.isnan(x))
    m = np.flatnonzero(np.isnan(x))
    k = len(means)
    logp = np.empty(k)
    cmean = np.empty((k, m.size))
    ccov = np.empty((k, m.size, m.size))
    for j in range(k):
        S = covs[j]
        Soo = S[o][:, o]
        Smo = S[m][:, o]
        diff = x[o] - means[j, o]
        logdet = np.linalg.slogdet(Soo)[1]
        maha = diff @ np.linalg.solve(Soo, diff)
        logw = np.log(weights[j]) if log_weights is None else log_weights[j]
        logp[j] = logw - 0.5 * (o.size * np.log(2 * np.pi) + logdet + maha)
        B = np.linalg.solve(Soo, Smo.T).T
        cmean[j] = means[j, m] + B @ (x[o] - means[j, o])
        ccov[j] = S[m][:, m] - B @ Smo.T
    return logp, cmean, ccov, o, m


def posterior_rows(X, weights, means, covs, sample_weight=None, log_weights=None):
    """Every row with an observed coordinate as ``(r, fills, ccov, m, lse, w)``: its weighted
    responsibilities, the row completed by each component's conditional mean (K, d), the
    conditional covariances, the missing indices, log sum_k and the row's weight."""
    X = np.asarray(X, float)
    n, d = X.shape
    k = len(means)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    rows = []
    for i in range(n):
        x = X[i]
        if np.isnan(x).all():
            continue
        logp, cmean, ccov, o, m = row_terms(x, weights, means, covs, log_weights)
        lse = logsumexp(logp)
        r = np.exp(logp - lse) * w[i]
        fills = np.empty((k, d))
        for j in range(k):
            fills[j, o] = x[o]
            fills[j, m] = cmean[j]
        rows.append((r, fills, ccov, m, lse, w[i]))
    return rows


def scatter(rows, centers):
    """``sum_i r_ik [(x_ik - c_k)(x_ik - c_k)^T + C_ik]`` (K, d, d) over ``posterior_rows``."""
    k, d = np.shape(centers)
    scat = np.zeros((k, d, d))
    for r, fills, ccov, m, _, _ in rows:
        for j in range(k):
            e = fills[j] - centers[j]
            scat[j] += r[j] * np.outer(e, e)
            scat[j][np.ix_(m, m)] += r[j] * ccov[j]
    return scat


def em_step(X, weights, means, cov, cov_type, reg_covar=0.0, sample_weight=None):
    """One EM iteration over observed coordinates: (weights, means, covariances, mean
    log-likelihood under the given parameters)."""
    X = np.asarray(X, float)
    n, d = X.shape
    k = len(weights)
    rows = posterior_rows(X, weights, means, full_covs(cov_type, cov, k, d), sample_weight)
    nk = sum(row[0] for row in rows)
    sx = sum(row[0][:, None] * row[1] for row in rows)
    ll = sum(row[5] * row[4] for row in rows)
    wsum = sum(row[5] for row in rows)
    new_means = sx / nk[:, None]
    scat = scatter(rows, new_means)
    eye = np.eye(d)
    if cov_type == "full":
        new_cov = scat / nk[:, None, None] + reg_covar * eye
    elif cov_type == "tied":
        new_cov = scat.sum(axis=0) / nk.sum() + reg_covar * eye
    elif cov_type == "diag":
        new_cov = np.diagonal(scat, axis1=1, axis2=2) / nk[:, None] + reg_covar
    else:
        new_cov = (np.diagonal(scat, axis1=1, axis2=2) / nk[:, None] + reg_covar).mean(axis=1)
    return nk / nk.sum(), new_means, new_cov, ll / wsum


def score_samples(X, weights, means, cov, cov_type):
    """Per-row log-likelihood over observed coordinates (0.0 for a row entirely missing)."""
    X = np.asarray(X, float)
    k, d = np.shape(means)
    covs = full_covs(cov_type, cov, k, d)
    out = np.zeros(X.shape[0])
    for i, x in enumerate(X):
        if not np.isnan(x).all():
            out[i] = logsumexp(row_terms(x, weights, means, covs)[0])
    return out


def impute(X, weights, means, cov, cov_type):
    """Each NaN replaced by the responsibility-weighted conditional mean."""
    X = np.array(X, float)
    k, d = np.shape(means)
    covs = full_covs(cov_type, cov, k, d)
    for i, x in enumerate(X):
        if not np.isnan(x).any():
            continue
        if np.isnan(x).all():
            X[i] = weights @ means
            continue
        logp, cmean, _, o, m = row_terms(x, weights, means, covs)
        r = np.exp(logp - logsumexp(logp))
        X[i, m] = r @ cmean
    return X
