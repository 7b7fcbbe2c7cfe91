"""Slow, obviously-correct NumPy reference EMs for the linear-exponential families, written
from the formulas of issue 12 (no fastem imports). Dense one-hot matrices and (n, K) arrays
are fine here: these are oracles for small data."""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln, logsumexp

FLOOR = 10 * np.finfo(float).eps


def _weights_from(nk):
    nk = nk + FLOOR
    return nk / nk.sum()


def one_hot(X, n_categories):
    """Dense one-hot blocks, one (n, C_d) array per column."""
    X = np.asarray(X).astype(np.int64)
    return [np.eye(c)[X[:, d]] for d, c in enumerate(n_categories)]


def categorical_log_prob(X, weights, probabilities):
    """(n, K) log w_k + sum_d log P_d[k, x_d]."""
    blocks = one_hot(X, [p.shape[1] for p in probabilities])
    return np.log(weights) + sum(b @ np.log(p).T for b, p in zip(blocks, probabilities))


def categorical_em(X, weights, probabilities, alpha, n_iter, sample_weight=None):
    """Plain EM; returns weights, per-column probabilities and the lower bounds."""
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    blocks = one_hot(X, [p.shape[1] for p in probabilities])
    probabilities = [np.array(p, float) for p in probabilities]
    bounds = []
    for _ in range(n_iter):
        logp = categorical_log_prob(X, weights, probabilities)
        lpn = logsumexp(logp, axis=1)
        bounds.append(float((w * lpn).sum() / w.sum()))
        wr = np.exp(logp - lpn[:, None]) * w[:, None]
        nk = wr.sum(axis=0)
        probabilities = [(wr.T @ b + alpha) / (nk[:, None] + b.shape[1] * alpha)
                         for b in blocks]
        weights = _weights_from(nk)
    return weights, probabilities, bounds


def poisson_log_prob(X, weights, rates):
    """(n, K) log w_k + sum_d (x_d log l_kd - l_kd - log x_d!)."""
    X = np.asarray(X, float)
    return (np.log(weights) + X @ np.log(rates).T - rates.sum(axis=1)
            - gammaln(X + 1).sum(axis=1)[:, None])


def poisson_em(X, weights, rates, reg_rate, n_iter, sample_weight=None):
    """Plain EM; returns weights, rates and the lower bounds."""
    X = np.asarray(X, float)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    bounds = []
    for _ in range(n_iter):
        logp = poisson_log_prob(X, weights, rates)
        lpn = logsumexp(logp, axis=1)
        bounds.append(float((w * lpn).sum() / w.sum()))
        wr = np.exp(logp - lpn[:, None]) * w[:, None]
        nk = wr.sum(axis=0)
        rates = wr.T @ X / nk[:, None] + reg_rate
        weights = _weights_from(nk)
    return weights, rates, bounds


def bernoulli_log_prob(X, weights, means):
    """(n, K) log w_k + sum_d x log mu + (1 - x) log(1 - mu)."""
    X = np.asarray(X, float)
    return np.log(weights) + X @ np.log(means).T + (1 - X) @ np.log(1 - means).T


def diag_gaussian_log_prob(X, weights, means, variances):
    """(n, K) log w_k + log N(x | mu_k, diag(var_k))."""
    X = np.asarray(X, float)
    out = np.log(weights) - 0.5 * np.log(2 * np.pi * variances).sum(axis=1)
    return out - 0.5 * (((X[:, None, :] - means[None]) ** 2) / variances[None]).sum(axis=2)
