"""A slow, obviously-correct NumPy reference EM for Student-t mixtures (no fastem imports).

The formulas are written out as in McLachlan & Peel (2000), ch. 7: Cholesky factors of the
scale matrices themselves (not of precisions), ``math.lgamma`` for the density's constants, triangular solves for the distances,
``scipy.special.digamma`` and ``scipy.optimize.brentq`` for the ECM step of ``nu``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import brentq
from scipy.special import digamma

DOF_MIN, DOF_MAX = 0.01, 1000.0


def full_scales(cov, cov_type, k, d):
    """Scale matrices as a (K, d, d) stack."""
    cov = np.asarray(cov, dtype=float)
    if cov_type == "full":
        return cov
    if cov_type == "tied":
        return np.array([cov] * k)
    if cov_type == "diag":
        return np.array([np.diag(c) for c in cov])
    return np.array([c * np.eye(d) for c in cov])


def log_t(X, mean, scale, nu):
    """Log-density of the multivariate t and the squared Mahalanobis distances, per row."""
    n, d = X.shape
    L = np.linalg.cholesky(scale)
    logdet = 2.0 * np.log(np.diag(L)).sum()
    z = solve_triangular(L, (X - mean).T, lower=True)  # L z = x - mu, column per row
    delta2 = (z * z).sum(axis=0)
    c = (math.lgamma((nu + d) / 2) - math.lgamma(nu / 2) - d / 2 * math.log(nu * math.pi)
         - 0.5 * logdet)
    return c - (nu + d) / 2 * np.log1p(delta2 / nu), delta2


def e_step(X, weights, means, scales, dofs):
    """Responsibilities, the weights ``u``, ``log u`` and the per-row log-likelihood."""
    n, d = X.shape
    k = len(weights)
    logp = np.empty((n, k))
    u = np.empty((n, k))
    for j in range(k):
        lt, delta2 = log_t(X, means[j], scales[j], dofs[j])
        logp[:, j] = math.log(weights[j]) + lt
        u[:, j] = (dofs[j] + d) / (dofs[j] + delta2)
    top = logp.max(axis=1, keepdims=True)
    ll = top[:, 0] + np.log(np.exp(logp - top).sum(axis=1))
    resp = np.exp(logp - ll[:, None])
    return resp, u, ll


def dof_root(mean_log_u_minus_u, nu_old, d):
    """The ECM root in [DOF_MIN, DOF_MAX] (the nearer bound when there is none inside)."""
    return dof_solve(mean_log_u_minus_u + digamma((nu_old + d) / 2)
                     - math.log((nu_old + d) / 2))


def dof_solve(c):
    """The root of ``-psi(nu/2) + log(nu/2) + 1 + c`` in [DOF_MIN, DOF_MAX] (the nearer
    bound when there is none inside)."""
    def f(nu):
        return -digamma(nu / 2) + math.log(nu / 2) + 1 + c
    lo, hi = f(DOF_MIN), f(DOF_MAX)
    if lo * hi > 0:
        return DOF_MIN if abs(lo) < abs(hi) else DOF_MAX
    return brentq(f, DOF_MIN, DOF_MAX, xtol=1e-300, rtol=8.9e-16, maxiter=500)


def scales_from_scatter(scatter, nk, cov_type, reg_covar):
    """The scale matrices of ``cov_type`` from the ``u``-weighted scatters (K, d, d)."""
    d = scatter.shape[1]
    if cov_type == "tied":
        return scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    full = scatter / nk[:, None, None] + reg_covar * np.eye(d)
    return {"full": full,
            "diag": np.array([np.diag(c) for c in full]),
            "spherical": np.array([np.diag(c).mean() for c in full])}[cov_type]


def m_step(X, w, resp, u, means_old, dofs_old, cov_type, reg_covar, fixed_dof):
    n, d = X.shape
    k = resp.shape[1]
    wr = w[:, None] * resp
    nk = wr.sum(axis=0)
    wru = wr * u
    means = (wru.T @ X) / wru.sum(axis=0)[:, None]
    scatter = np.zeros((k, d, d))
    for j in range(k):
        diff = X - means[j]
        scatter[j] = (wru[:, j, None] * diff).T @ diff
    cov = scales_from_scatter(scatter, nk, cov_type, reg_covar)
    if fixed_dof is not None:
        dofs = np.full(k, float(fixed_dof))
    else:
        dofs = np.array([dof_root((wr[:, j] * (np.log(u[:, j]) - u[:, j])).sum() / nk[j],
                                  dofs_old[j], d) for j in range(k)])
    return nk / nk.sum(), means, cov, dofs


def reference_em(X, w, weights, means, cov, dofs, *, cov_type, n_iter, reg_covar=1e-6,
                 fixed_dof=None):
    """``n_iter`` EM iterations from the given parameters; returns the final parameters and
    the lower bound (mean weighted log-likelihood) of every iteration."""
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    k = len(weights)
    bounds = []
    for _ in range(n_iter):
        resp, u, ll = e_step(X, weights, means, full_scales(cov, cov_type, k, d), dofs)
        bounds.append(float((w * ll).sum() / w.sum()))
        weights, means, cov, dofs = m_step(X, w, resp, u, means, dofs, cov_type, reg_covar,
                                           fixed_dof)
    return weights, means, cov, dofs, bounds


def reference_stats(X, w, weights, means, cov, dofs, cov_type):
    """``N_k``, ``sum w r u``, ``sum w r u x``, ``sum w r u x x^T`` and ``sum w r (log u - u)``
    under the given parameters."""
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    resp, u, ll = e_step(X, weights, means, full_scales(cov, cov_type, len(weights), d), dofs)
    wr = w[:, None] * resp
    wru = wr * u
    return (wr.sum(axis=0), wru.sum(axis=0), wru.T @ X,
            np.einsum("nk,ni,nj->kij", wru, X, X), (wr * (np.log(u) - u)).sum(axis=0),
            float((w * ll).sum()))


def _missing_row(x, weights, means, scales, dofs):
    """One row with NaN: log w_k + log t over the observed block, the weights ``u``, the
    rows completed by each component's conditional mean, the conditional scales and the
    ECM correction ``psi((nu+p)/2) - log((nu+p)/2)``, per component."""
    o = np.flatnonzero(~np.isnan(x))
    m = np.flatnonzero(np.isnan(x))
    p = o.size
    k, d = np.shape(means)
    logp, u, corr = np.empty(k), np.empty(k), np.empty(k)
    fills = np.empty((k, d))
    ccov = np.empty((k, m.size, m.size))
    for j in range(k):
        S, nu = scales[j], dofs[j]
        Soo = S[np.ix_(o, o)]
        L = np.linalg.cholesky(Soo)
        z = solve_triangular(L, x[o] - means[j, o], lower=True)
        delta2 = float(z @ z)
        logp[j] = (math.log(weights[j]) + math.lgamma((nu + p) / 2) - math.lgamma(nu / 2)
                   - p / 2 * math.log(nu * math.pi) - np.log(np.diag(L)).sum()
                   - (nu + p) / 2 * math.log1p(delta2 / nu))
        u[j] = (nu + p) / (nu + delta2)
        corr[j] = digamma((nu + p) / 2) - math.log((nu + p) / 2)
        B = np.linalg.solve(Soo, S[np.ix_(o, m)]).T          # Sigma_mo Sigma_oo^-1
        fills[j, o] = x[o]
        fills[j, m] = means[j, m] + B @ (x[o] - means[j, o])
        ccov[j] = S[np.ix_(m, m)] - B @ S[np.ix_(o, m)]
    return logp, u, corr, fills, ccov, m


def reference_em_missing(X, weights, means, cov, dofs, *, cov_type, n_iter, reg_covar=1e-6,
                         fixed_dof=None):
    """``n_iter`` EM iterations over the observed coordinates of rows with NaN (rows entirely
    missing left out); returns the final parameters and the mean log-likelihood of every
    iteration."""
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    k = len(weights)
    bounds = []
    for _ in range(n_iter):
        scales = full_scales(cov, cov_type, k, d)
        rows = []
        for x in X:
            if np.isnan(x).all():
                continue
            logp, u, corr, fills, ccov, m = _missing_row(x, weights, means, scales, dofs)
            top = logp.max()
            lse = top + math.log(np.exp(logp - top).sum())
            rows.append((np.exp(logp - lse), u, corr, fills, ccov, m, lse))
        bounds.append(float(np.mean([r[6] for r in rows])))
        nk = sum(r[0] for r in rows)
        ru = sum(r[0] * r[1] for r in rows)
        new_means = sum((r[0] * r[1])[:, None] * r[3] for r in rows) / ru[:, None]
        scatter = np.zeros((k, d, d))
        for r, u, _, fills, ccov, m, _ in rows:
            for j in range(k):
                e = fills[j] - new_means[j]
                scatter[j] += r[j] * u[j] * np.outer(e, e)
                scatter[j][np.ix_(m, m)] += r[j] * ccov[j]
        cov = scales_from_scatter(scatter, nk, cov_type, reg_covar)
        if fixed_dof is None:
            term = sum(r[0] * (np.log(r[1]) - r[1] + r[2]) for r in rows) / nk
            dofs = np.array([dof_solve(term[j]) for j in range(k)])
        else:
            dofs = np.full(k, float(fixed_dof))
        weights, means = nk / nk.sum(), new_means
    return weights, means, cov, dofs, bounds
