"""GaussianMixture end to end: parity with scikit-learn, semantics of the public API."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastem
from fastem import ConvergenceWarning, GaussianMixture

from . import reference as ref
from .conftest import make_blobs, random_params

sk_mixture = pytest.importorskip("sklearn.mixture")


def sk_inits(X, k, cov_type, seed=0):
    """Initial parameters from scikit-learn's own k-means initialisation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = sk_mixture.GaussianMixture(k, covariance_type=cov_type, max_iter=1,
                                        random_state=seed).fit(X)
    return dict(weights_init=sk.weights_, means_init=sk.means_,
                precisions_init=sk.precisions_)


def rel(a, b):
    return np.abs(np.asarray(a) - b).max() / max(np.abs(b).max(), 1e-300)


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_fifty_iterations_match_sklearn(cov_type):
    X, _ = make_blobs(n=3000, d=4, k=4, seed=21, spread=2.5)
    inits = sk_inits(X, 4, cov_type)
    kw = dict(covariance_type=cov_type, tol=0, max_iter=50, **inits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = sk_mixture.GaussianMixture(4, **kw).fit(X)
        b = GaussianMixture(4, **kw).fit(X)
    assert rel(b.weights_, a.weights_) < 1e-8
    assert rel(b.means_, a.means_) < 1e-8
    assert rel(b.covariances_, a.covariances_) < 1e-8
    assert rel(b.precisions_, a.precisions_) < 1e-8
    assert abs(b.lower_bound_ - a.lower_bound_) / abs(a.lower_bound_) < 1e-8
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-8)
    assert b.n_iter_ == a.n_iter_ == 50
    np.testing.assert_allclose(b.score_samples(X), a.score_samples(X), rtol=1e-8)
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), atol=1e-8)
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    np.testing.assert_allclose(b.bic(X), a.bic(X), rtol=1e-8)
    np.testing.assert_allclose(b.aic(X), a.aic(X), rtol=1e-8)


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_convergence_matches_sklearn(cov_type):
    X, _ = make_blobs(n=2000, d=3, k=3, seed=22)
    inits = sk_inits(X, 3, cov_type, seed=1)
    a = sk_mixture.GaussianMixture(3, covariance_type=cov_type, **inits).fit(X)
    b = GaussianMixture(3, covariance_type=cov_type, **inits).fit(X)
    assert a.converged_ and b.converged_
    assert b.n_iter_ == a.n_iter_
    assert rel(b.means_, a.means_) < 1e-8


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_float32_far_from_origin_recovers_unit_variance(cov_type):
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((200_000, 3)) + 1000.0).astype(np.float32)
    gm = GaussianMixture(1, covariance_type=cov_type, random_state=0).fit(X)
    var = fastem.families.FAMILIES[cov_type].full_covariances(gm.covariances_, 1, 3)
    np.testing.assert_allclose(np.diagonal(var[0]), 1.0, atol=1e-3 + 0.02)  # sampling error
    # Against the same data's exact variance in float64: only rounding separates them.
    exact = X.astype(np.float64).var(axis=0)
    if cov_type == "spherical":
        exact = np.full(3, exact.mean())
    np.testing.assert_allclose(np.diagonal(var[0]), exact + 1e-6, rtol=1e-3)


def test_float32_input_with_nearly_empty_components_stays_positive_definite():
    # Benchmark grid point N=1e5, D=32, K=16, float32: components shrink to 5-7 rows, so their
    # covariances are rank-deficient plus reg_covar. With scatter products rounded to float32
    # one turned indefinite at iteration 6 (FitError); float64 products keep it definite and
    # the float32 fit on the float64 fit's trajectory.
    from benchmarks import _harness as H
    X = H.make_data(100_000, 32, "float32")
    init = H.make_init(X, 16, "full")
    kw = dict(covariance_type="full", max_iter=8, tol=0, weights_init=init.weights,
              means_init=init.means, precisions_init=np.linalg.inv(init.covariances))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f32 = GaussianMixture(16, **kw).fit(X)
        f64 = GaussianMixture(16, **kw).fit(X.astype(np.float64))
    assert f64.weights_.min() * len(X) < 10  # the situation this test is about
    assert abs(f32.lower_bound_ - f64.lower_bound_) < 1e-6 * abs(f64.lower_bound_)
    np.testing.assert_allclose(f32.means_, f64.means_, rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore::fastem.ConvergenceWarning")  # fixed iteration count, tol=0
def test_far_offset_float64_matches_centred_fit():
    X, _ = make_blobs(n=3000, d=3, k=3, seed=23)
    inits = sk_inits(X, 3, "full")
    a = GaussianMixture(3, tol=0, max_iter=20, **inits).fit(X)
    shifted = dict(inits, means_init=inits["means_init"] + 1e8)
    b = GaussianMixture(3, tol=0, max_iter=20, **shifted).fit(X + 1e8)
    np.testing.assert_allclose(b.means_ - 1e8, a.means_, atol=1e-6)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-5)


@pytest.mark.parametrize("init_params", fastem.init.INITIALIZERS)
@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_every_init_fits_separated_blobs(init_params, cov_type):
    X, _ = make_blobs(n=3000, d=2, k=3, seed=24, spread=8.0)
    gm = GaussianMixture(3, covariance_type=cov_type, init_params=init_params, n_init=2,
                         random_state=0, max_iter=300).fit(X)
    assert gm.converged_
    assert np.isfinite(gm.means_).all() and np.isfinite(gm.covariances_).all()
    # "random" starts every mean near the data mean and, in scikit-learn too, often stops on
    # a plateau; compare each method with scikit-learn's use of the same method.
    sk = sk_mixture.GaussianMixture(3, covariance_type=cov_type, init_params=init_params,
                                    n_init=2, random_state=0, max_iter=300).fit(X)
    assert gm.score(X) > sk.score(X) - 0.01
    if init_params != "random":
        best = sk_mixture.GaussianMixture(3, covariance_type=cov_type, n_init=3,
                                          random_state=0).fit(X)
        assert gm.score(X) > best.score(X) - 0.01


def test_fit_predict_equals_fit_then_predict():
    X, _ = make_blobs(n=2000, d=3, k=4, seed=25, spread=1.5)
    a = GaussianMixture(4, random_state=3, max_iter=5, tol=0)
    with pytest.warns(ConvergenceWarning):
        labels = a.fit_predict(X)
    np.testing.assert_array_equal(labels, a.predict(X))


def test_same_seed_same_model_and_n_init_keeps_best():
    X, _ = make_blobs(n=2000, d=3, k=4, seed=26, spread=2.0)
    a = GaussianMixture(4, random_state=5).fit(X)
    b = GaussianMixture(4, random_state=5).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    singles = [GaussianMixture(4, random_state=np.random.default_rng(7)).fit(X)]
    best = GaussianMixture(4, n_init=4, random_state=5).fit(X)
    assert best.lower_bound_ >= a.lower_bound_ - 1e-12
    assert len(singles) == 1


@pytest.mark.filterwarnings("ignore::fastem.ConvergenceWarning")  # fixed iteration count, tol=0
def test_warm_start_continues_from_fitted_parameters():
    X, _ = make_blobs(n=2000, d=3, k=3, seed=27)
    inits = sk_inits(X, 3, "full")
    ref_fit = GaussianMixture(3, tol=0, max_iter=10, **inits).fit(X)
    gm = GaussianMixture(3, tol=0, max_iter=5, warm_start=True, **inits)
    with pytest.warns(ConvergenceWarning):
        gm.fit(X)
        gm.fit(X)
    np.testing.assert_allclose(gm.means_, ref_fit.means_, rtol=1e-12)
    assert gm.n_iter_ == 5


def test_sample_draws_differ_between_calls_and_follow_the_model():
    X, _ = make_blobs(n=3000, d=2, k=2, seed=28)
    gm = GaussianMixture(2, random_state=0).fit(X)
    a, ya = gm.sample(5)
    b, yb = gm.sample(5)
    assert not np.array_equal(a, b)
    big, y = gm.sample(200_000)
    assert big.shape == (200_000, 2) and (np.diff(y) >= 0).all()
    np.testing.assert_allclose(np.bincount(y) / len(y), gm.weights_, atol=0.01)
    for k in range(2):
        np.testing.assert_allclose(big[y == k].mean(axis=0), gm.means_[k], atol=0.05)
        np.testing.assert_allclose(np.cov(big[y == k].T), gm.covariances_[k], rtol=0.05,
                                   atol=0.02)
    # A refit with the same integer seed replays the same draws.
    again = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_array_equal(again.sample(5)[0], a)


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_sample_shapes_per_covariance_type(cov_type):
    X, _ = make_blobs(n=500, d=3, k=2, seed=29)
    gm = GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(X)
    Xs, ys = gm.sample(7)
    assert Xs.shape == (7, 3) and ys.shape == (7,)


@pytest.mark.filterwarnings("ignore::fastem.ConvergenceWarning")  # fixed iteration count, tol=0
def test_sample_weight_matches_repeated_rows():
    X, _ = make_blobs(n=800, d=2, k=2, seed=30)
    reps = np.random.default_rng(0).integers(1, 3, size=800)
    inits = sk_inits(X, 2, "full")
    a = GaussianMixture(2, tol=0, max_iter=10, **inits).fit(X, sample_weight=reps)
    b = GaussianMixture(2, tol=0, max_iter=10, **inits).fit(np.repeat(X, reps, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-10)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::fastem.ConvergenceWarning")  # fixed iteration count, tol=0
def test_layouts_and_dtypes_give_the_same_model():
    X, _ = make_blobs(n=1500, d=3, k=3, seed=31)
    inits = sk_inits(X, 3, "full")
    kw = dict(tol=0, max_iter=10, **inits)
    base = GaussianMixture(3, **kw).fit(X)
    big = np.zeros((3000, 4))
    big[::2, :3] = X
    for variant in (np.asfortranarray(X), big[::2, :3], X.tolist()):
        np.testing.assert_allclose(GaussianMixture(3, **kw).fit(variant).means_, base.means_,
                                   rtol=1e-12)
    f32 = GaussianMixture(3, **kw).fit(X.astype(np.float32))
    np.testing.assert_allclose(f32.means_, base.means_, rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore::fastem.ConvergenceWarning")  # fixed iteration count, tol=0
def test_chunk_size_gives_the_same_model():
    X, _ = make_blobs(n=3000, d=3, k=3, seed=32)
    inits = sk_inits(X, 3, "diag")
    kw = dict(covariance_type="diag", tol=0, max_iter=10, **inits)
    a = GaussianMixture(3, **kw).fit(X)
    b = GaussianMixture(3, chunk_size=701, **kw).fit(X)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-11)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-10)


@given(seed=st.integers(0, 2**16), cov_type=st.sampled_from(ref.COVARIANCE_TYPES),
       k=st.integers(1, 4))
def test_em_never_decreases_the_log_likelihood(seed, cov_type, k):
    X, _ = make_blobs(n=600, d=2, k=3, seed=seed, spread=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(k, covariance_type=cov_type, reg_covar=0.0, tol=0, max_iter=15,
                             init_params="random", random_state=seed).fit(X)
    lb = np.asarray(gm.lower_bounds_)
    assert (np.diff(lb) >= -1e-10 * np.abs(lb[1:])).all(), lb


def test_bit_identical_with_one_and_two_numba_threads(tmp_path):
    script = (
        "import numpy as np, json, sys, fastem\n"
        "rng = np.random.default_rng(0)\n"
        "X = np.concatenate([rng.normal(size=(60000, 4)), rng.normal(3, 1, (60000, 4))])\n"
        "out = {}\n"
        "for ct in ('full', 'tied', 'diag', 'spherical'):\n"
        "    gm = fastem.GaussianMixture(3, covariance_type=ct, random_state=0, tol=0,\n"
        "                                max_iter=5).fit(X)\n"
        "    out[ct] = [gm.means_.tobytes().hex(), gm.covariances_.tobytes().hex(),\n"
        "               gm.weights_.tobytes().hex(), repr(gm.lower_bound_)]\n"
        "print(json.dumps(out))\n")
    # A warm-up run fills Numba's on-disk cache first: a freshly compiled kernel and the same
    # kernel loaded from the cache may differ in the last bit, so both measured runs load it.
    results = []
    for threads in ("2", "1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads, PYTHONWARNINGS="ignore")
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, check=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert results[1] == results[2]


def test_n_threads_parameter_gives_identical_results():
    X, _ = make_blobs(n=40_000, d=3, k=3, seed=33)
    kw = dict(random_state=0, tol=0, max_iter=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(3, n_threads=1, **kw).fit(X)
        b = GaussianMixture(3, n_threads=2, **kw).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)


def test_verbose_prints_progress(capsys):
    X, _ = make_blobs(n=500, d=2, k=2, seed=34)
    GaussianMixture(2, verbose=2, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 1" in out and "lower bound" in out


def test_convergence_warning_when_max_iter_reached():
    X, _ = make_blobs(n=500, d=2, k=3, seed=35, spread=1.0)
    with pytest.warns(ConvergenceWarning, match="did not converge after 1 iterations"):
        gm = GaussianMixture(3, max_iter=1, random_state=0).fit(X)
    assert not gm.converged_


def test_max_iter_zero_keeps_initial_parameters():
    X, _ = make_blobs(n=500, d=2, k=2, seed=36)
    w, m, c = random_params("diag", 2, 2)
    gm = GaussianMixture(2, covariance_type="diag", max_iter=0, weights_init=w, means_init=m,
                         precisions_init=1 / c).fit(X)
    np.testing.assert_array_equal(gm.means_, m)
    assert gm.n_iter_ == 0


def test_sklearn_clone_pipeline_and_grid_search():
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, _ = make_blobs(n=600, d=2, k=3, seed=37)
    gm = GaussianMixture(2, covariance_type="diag", random_state=0)
    c = clone(gm)
    assert c.get_params() == gm.get_params() and c is not gm
    pipe = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (600,)
    search = GridSearchCV(GaussianMixture(random_state=0),
                          {"n_components": [1, 3], "covariance_type": ["full", "diag"]},
                          cv=3).fit(X)
    assert search.best_params_["n_components"] == 3
    assert "n_components=2" in repr(gm) and "covariance_type='diag'" in repr(gm)


def test_set_params_rejects_unknown_names():
    with pytest.raises(ValueError, match="Invalid parameter 'n_comp' for estimator"):
        GaussianMixture().set_params(n_comp=3)
