"""impute on BernoulliMixture, PoissonMixture and CategoricalMixture: each NaN from the
row's responsibilities given its observed entries, against a NumPy computation written from
the formulas; draws in the family's domain; every output path (out=, .npy, chunks, CLI)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastem import BernoulliMixture, CategoricalMixture, PoissonMixture

K, D, N = 3, 5, 1500
N_CATS = [3, 2, 4, 3, 2]


def _holes(X, frac=0.2, seed=1):
    rng = np.random.default_rng(seed)
    X = np.array(X, dtype=np.float64)
    X[rng.uniform(size=X.shape) < frac] = np.nan
    X[3] = np.nan                      # a row with every entry missing
    return X


def _labels(seed=0):
    rng = np.random.default_rng(seed)
    return rng, rng.integers(0, K, N)


def _bernoulli():
    rng, y = _labels()
    mu = np.array([[0.9, 0.8, 0.1, 0.2, 0.5], [0.1, 0.2, 0.9, 0.8, 0.5], [0.5, 0.9, 0.9, 0.1, 0.1]])
    return (rng.uniform(size=(N, D)) < mu[y]).astype(np.float64)


def _poisson():
    rng, y = _labels(1)
    lam = np.array([[1.0, 6.0, 2.0, 0.5, 9.0], [5.0, 1.0, 3.0, 7.0, 1.0],
                    [3.0, 3.0, 8.0, 2.0, 4.0]])
    return rng.poisson(lam[y]).astype(np.float64)


def _categorical():
    rng, y = _labels(2)
    cols = [np.where(y == 0, 0, rng.integers(0, c, N)) if d % 2 else (y + d) % c
            for d, c in enumerate(N_CATS)]
    return np.column_stack(cols).astype(np.float64)


def _fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X)


def _resp(per_entry_log_prob, X, weights):
    """Responsibilities from the observed entries only: log w_k + sum over observed d of
    log p_k(x_d); ``per_entry_log_prob(x)`` gives the (n, K, D) log-probabilities."""
    obs = ~np.isnan(X)
    lp = np.where(obs[:, None, :], per_entry_log_prob(np.nan_to_num(X)), 0.0).sum(axis=2)
    lp = lp + np.log(weights)
    lp -= lp.max(axis=1, keepdims=True)
    r = np.exp(lp)
    return r / r.sum(axis=1, keepdims=True)


def _check_observed_kept(X, filled):
    obs = ~np.isnan(X)
    assert filled.dtype == np.float64 and filled.shape == X.shape
    assert np.array_equal(filled[obs], X[obs]) and not np.isnan(filled).any()


@pytest.mark.parametrize("policy", ["marginalize", "raise"])
def test_bernoulli_fills_the_conditional_probability(policy):
    X = _holes(_bernoulli())
    gm = _fit(BernoulliMixture(K, random_state=0, nan_policy="marginalize"), X)
    if policy == "raise":            # a model fitted without NaN imputes as well
        gm = _fit(BernoulliMixture(K, means_init=gm.means_, weights_init=gm.weights_,
                                   max_iter=0), np.nan_to_num(X))
    mu = gm.means_
    r = _resp(lambda x: x[:, None, :] * np.log(mu) + (1 - x[:, None, :]) * np.log1p(-mu), X,
              gm.weights_)
    filled = gm.impute(X)
    _check_observed_kept(X, filled)
    miss = np.isnan(X)
    np.testing.assert_allclose(filled[miss], (r @ mu)[miss], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(filled[3], gm.weights_ @ mu, rtol=1e-9)


def test_poisson_fills_the_conditional_mean():
    X = _holes(_poisson())
    pm = _fit(PoissonMixture(K, random_state=0, nan_policy="marginalize"), X)
    lam = pm.means_

    def log_prob(x):
        from scipy.special import gammaln
        return x[:, None, :] * np.log(lam) - lam - gammaln(x + 1)[:, None, :]
    r = _resp(log_prob, X, pm.weights_)
    filled = pm.impute(X)
    _check_observed_kept(X, filled)
    miss = np.isnan(X)
    np.testing.assert_allclose(filled[miss], (r @ lam)[miss], rtol=1e-9)


def test_categorical_fills_the_most_probable_code():
    X = _holes(_categorical())
    cm = _fit(CategoricalMixture(K, random_state=0, nan_policy="marginalize"), X)
    probs = cm.probabilities_

    def log_prob(x):
        return np.stack([np.log(p)[:, x[:, d].astype(int)].T for d, p in enumerate(probs)],
                        axis=2)
    r = _resp(log_prob, X, cm.weights_)
    filled = cm.impute(X)
    _check_observed_kept(X, filled)
    for d, p in enumerate(probs):
        miss = np.isnan(X[:, d])
        np.testing.assert_array_equal(filled[miss, d], np.argmax(r[miss] @ p, axis=1))


def test_imputation_beats_column_means_on_mixture_data():
    """The mixture's conditional probability predicts a hidden bit better than the column's
    observed frequency does."""
    full = _bernoulli()
    X = _holes(full, 0.3, seed=4)
    gm = _fit(BernoulliMixture(K, random_state=0, nan_policy="marginalize"), X)
    miss = np.isnan(X)
    miss[3] = False
    guess = gm.impute(X)[miss] > 0.5
    col = np.nanmean(X, axis=0)
    base = (np.broadcast_to(col, X.shape)[miss] > 0.5)
    assert (guess == full[miss]).mean() > (base == full[miss]).mean() + 0.05


@pytest.mark.parametrize("make,est,domain", [
    (_bernoulli, BernoulliMixture, lambda v: np.isin(v, [0.0, 1.0])),
    (_poisson, PoissonMixture, lambda v: (v >= 0) & (v == np.round(v))),
    (_categorical, CategoricalMixture,
     lambda v: np.isin(v, np.arange(max(N_CATS)))),
])
def test_sample_draws_stay_in_the_domain_and_are_reproducible(make, est, domain):
    X = _holes(make())
    m = _fit(est(K, random_state=0, nan_policy="marginalize"), X)
    a = m.impute(X, sample=True, random_state=3)
    b = m.impute(X, sample=True, random_state=3)
    _check_observed_kept(X, a)
    assert np.array_equal(a, b) and domain(a[np.isnan(X)]).all()
    assert not np.array_equal(a, m.impute(X, sample=True, random_state=4))


def test_sampled_bits_average_to_the_conditional_probability():
    X = np.tile(_holes(_bernoulli())[:50], (400, 1))       # each row 400 times
    gm = _fit(BernoulliMixture(K, random_state=0, nan_policy="marginalize"), X[:50 * 20])
    mean = gm.impute(X[:50])
    draws = gm.impute(X, sample=True, random_state=0).reshape(400, 50, D).mean(axis=0)
    miss = np.isnan(X[:50])
    np.testing.assert_allclose(draws[miss], mean[miss], atol=0.1)


def test_out_paths_and_chunks_equal_in_memory(tmp_path):
    from fastem.cli import main
    X = _holes(_poisson())
    pm = _fit(PoissonMixture(K, random_state=0, nan_policy="marginalize", chunk_size=200), X)
    whole = pm.impute(X)
    data = tmp_path / "x.npy"
    np.save(data, X)
    out = tmp_path / "filled.npy"
    np.testing.assert_array_equal(np.asarray(pm.impute(str(data), out=str(out))), whole)
    buf = np.empty_like(X)
    assert pm.impute(X, out=buf) is buf and np.array_equal(buf, whole)
    model = tmp_path / "m.npz"
    pm.save(model)
    cli_out = tmp_path / "cli.npy"
    assert main(["impute", str(model), str(data), "-o", str(cli_out)]) == 0
    np.testing.assert_array_equal(np.load(cli_out), whole)


def test_dask_array_equals_in_memory():
    import dask.array as da
    X = _holes(_categorical())
    cm = _fit(CategoricalMixture(K, random_state=0, nan_policy="marginalize"), X)
    np.testing.assert_array_equal(np.asarray(cm.impute(da.from_array(X, chunks=400))),
                                  cm.impute(X))
    np.testing.assert_array_equal(cm.impute(np.nan_to_num(X[:10])), np.nan_to_num(X[:10]))


def test_cli_refuses_a_model_that_cannot_impute(tmp_path, capsys):
    from fastem import MixedTypeMixture
    from fastem.cli import main
    X = np.random.default_rng(0).normal(size=(200, 3))
    model, data = tmp_path / "m.npz", tmp_path / "x.npy"
    _fit(MixedTypeMixture(2, random_state=0), X).save(model)
    np.save(data, X)
    assert main(["impute", str(model), str(data), "-o", str(tmp_path / "f.npy")]) == 1
    assert "MixedTypeMixture, which cannot impute" in capsys.readouterr().err
