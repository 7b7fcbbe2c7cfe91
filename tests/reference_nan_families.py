"""Slow, obviously-correct NumPy reference EMs with missing coordinates (NaN) for the
Bernoulli, categorical and Poisson families, written from the formulas of issue 14 (no
fastem imports). Every component is a product over coordinates, so a row's log-density is
the sum over its *observed* coordinates of the per-coordinate log-densities, and each
coordinate's M-step divides by the responsibility mass of the rows observing it. Rows with
nothing observed are dropped (weight 0). (n, K, D) arrays are fine here: small data only."""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln, logsumexp

FLOOR = 10 * np.finfo(float).eps


def _setup(X, sample_weight):
    X = np.asarray(X, float)
    obs = ~np.isnan(X)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    w = w * obs.any(axis=1)          # rows with nothing observed carry no weight
    return np.where(obs, X, 0.0), obs.astype(float), w


def _e_step(per_coord, obs, weights, w):
    """per_coord: (n, K, D) log p(x_d | k); returns weighted resp (n, K) and the bound."""
    logp = np.log(weights) + (per_coord * obs[:, None, :]).sum(axis=2)
    lpn = logsumexp(logp, axis=1)
    bound = float((w * lpn).sum() / w.sum())
    return np.exp(logp - lpn[:, None]) * w[:, None], bound


def _weights_from(nk):
    nk = nk + FLOOR
    return nk / nk.sum()


def bernoulli_nan_em(X, weights, means, alpha, n_iter, sample_weight=None):
    """Returns weights, means and the lower bounds (one per iteration, before its M-step)."""
    x, obs, w = _setup(X, sample_weight)
    means = np.array(means, float)
    comp = 1.0 - means
    bounds = []
    for _ in range(n_iter):
        per = (x[:, None, :] * np.log(means)[None] + (1 - x[:, None, :]) * np.log(comp)[None])
        wr, b = _e_step(per, obs, weights, w)
        bounds.append(b)
        n_obs = wr.T @ obs                                   # (K, D)
        s1 = wr.T @ (x * obs)
        s0 = wr.T @ ((1 - x) * obs)
        means = (s1 + alpha) / (n_obs + 2 * alpha)
        comp = (s0 + alpha) / (n_obs + 2 * alpha)
        weights = _weights_from(wr.sum(axis=0))
    return weights, means, bounds


def poisson_nan_em(X, weights, rates, reg_rate, n_iter, sample_weight=None):
    """Returns weights, rates and the lower bounds."""
    x, obs, w = _setup(X, sample_weight)
    rates = np.array(rates, float)
    bounds = []
    for _ in range(n_iter):
        per = x[:, None, :] * np.log(rates)[None] - rates[None] - gammaln(x + 1)[:, None, :]
        wr, b = _e_step(per, obs, weights, w)
        bounds.append(b)
        rates = (wr.T @ (x * obs)) / (wr.T @ obs) + reg_rate
        weights = _weights_from(wr.sum(axis=0))
    return weights, rates, bounds


def categorical_nan_em(X, weights, probabilities, alpha, n_iter, sample_weight=None):
    """``probabilities``: list of (K, C_d); returns weights, probabilities, bounds."""
    x, obs, w = _setup(X, sample_weight)
    codes = x.astype(np.int64)
    probabilities = [np.array(p, float) for p in probabilities]
    bounds = []
    for _ in range(n_iter):
        per = np.stack([np.log(p)[:, codes[:, d]].T for d, p in enumerate(probabilities)],
                       axis=2)                               # (n, K, D)
        wr, b = _e_step(per, obs, weights, w)
        bounds.append(b)
        new = []
        for d, p in enumerate(probabilities):
            c = p.shape[1]
            onehot = np.eye(c)[codes[:, d]] * obs[:, d:d + 1]
            n_obs = wr.T @ obs[:, d]
            new.append((wr.T @ onehot + alpha) / (n_obs[:, None] + c * alpha))
        probabilities = new
        weights = _weights_from(wr.sum(axis=0))
    return weights, probabilities, bounds


def log_prob_rows(per_coord_fn, X, weights):
    """Per-row log p(x) over observed coordinates (0.0 for rows with nothing observed)."""
    x, obs, _ = _setup(X, None)
    logp = np.log(weights) + (per_coord_fn(x) * obs[:, None, :]).sum(axis=2)
    return np.where(obs.any(axis=1), logsumexp(logp, axis=1), 0.0)


def mixed_nan_em(X, weights, blocks, params, n_iter):
    """Mixed blocks with missing values. ``blocks``: list of (name, cols, hp) as the mixed
    family's; ``params``: dict of block arrays (``gaussian_means``, ``gaussian_covariances``,
    ``bernoulli_means``, ``categorical_probabilities`` (flat), ``poisson_means``). Returns
    weights, params and the lower bounds."""
    x, obs, w = _setup(X, None)
    params = {k: np.array(v, float) for k, v in params.items()}
    bounds = []
    for _ in range(n_iter):
        per = np.zeros((len(x), len(weights), x.shape[1]))
        for b, cols, hp in blocks:
            xc = x[:, cols]
            if b == "gaussian":
                mu, var = params["gaussian_means"], params["gaussian_covariances"]
                per[:, :, cols] = -0.5 * (np.log(2 * np.pi * var)[None]
                                          + (xc[:, None, :] - mu[None]) ** 2 / var[None])
            elif b == "bernoulli":
                m = params["bernoulli_means"]
                per[:, :, cols] = (xc[:, None, :] * np.log(m)[None]
                                   + (1 - xc[:, None, :]) * np.log(1 - m)[None])
            elif b == "poisson":
                lam = params["poisson_means"]
                per[:, :, cols] = (xc[:, None, :] * np.log(lam)[None] - lam[None]
                                   - gammaln(xc + 1)[:, None, :])
            else:
                off = np.concatenate([[0], np.cumsum(hp["n_categories"])])
                p = params["categorical_probabilities"]
                for j, col in enumerate(cols):
                    block = np.log(p[:, off[j]:off[j + 1]])
                    per[:, :, col] = block[:, x[:, col].astype(np.int64)].T
        wr, bound = _e_step(per, obs, weights, w)
        bounds.append(bound)
        new = {}
        for b, cols, hp in blocks:
            o = obs[:, cols]
            xc = x[:, cols] * o
            n_obs = wr.T @ o
            if b == "gaussian":
                mu = (wr.T @ xc) / n_obs
                new["gaussian_means"] = mu
                new["gaussian_covariances"] = (wr.T @ (xc * xc)) / n_obs - mu * mu \
                    + hp["reg_covar"]
            elif b == "bernoulli":
                new["bernoulli_means"] = (wr.T @ xc + hp["alpha"]) / (n_obs + 2 * hp["alpha"])
            elif b == "poisson":
                new["poisson_means"] = (wr.T @ xc) / n_obs + hp["reg_rate"]
            else:
                parts = []
                for j, (col, c) in enumerate(zip(cols, hp["n_categories"])):
                    onehot = np.eye(c)[x[:, col].astype(np.int64)] * obs[:, col:col + 1]
                    parts.append((wr.T @ onehot + hp["alpha"])
                                 / (n_obs[:, j:j + 1] + c * hp["alpha"]))
                new["categorical_probabilities"] = np.concatenate(parts, axis=1)
        params = new
        weights = _weights_from(wr.sum(axis=0))
    return weights, params, bounds
