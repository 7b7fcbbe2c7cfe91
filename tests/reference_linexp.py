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


#: scikit-learn checks that fit continuous (or negative) random data: outside the domain of
#: counts and codes, so ``fit`` must raise the family's clear error there.
OUT_OF_DOMAIN_CHECKS = (
    "check_all_zero_sample_weights_error", "check_dict_unchanged",
    "check_dont_overwrite_parameters", "check_dtype_object", "check_estimators_dtypes",
    "check_estimators_fit_returns_self", "check_estimators_nan_inf",
    "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_1sample",
    "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent",
    "check_fit_score_takes_y", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_n_features_in",
    "check_n_features_in_after_fitting", "check_pipeline_consistency",
    "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
    "check_sample_weight_equivalence_on_dense_data", "check_sample_weights_list",
)


def run_check_estimator(estimator, domain_phrase):
    """scikit-learn's ``check_estimator``: every check passes, except those feeding data
    outside the family's domain, which must fail with the family's own message."""
    import warnings
    from sklearn.utils.estimator_checks import check_estimator
    expected = {name: "continuous or negative values are outside the family's domain"
                for name in OUT_OF_DOMAIN_CHECKS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, expected_failed_checks=expected, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:300]) for r in results
              if r["status"] == "failed"]
    assert not failed, failed
    for r in results:
        if r["status"] == "xfail" and r["exception"] is not None:
            assert domain_phrase in str(r["exception"]), (r["check_name"], r["exception"])
