"""BernoulliMixture, the worked example of the component-family protocol, against a slow
NumPy reference EM written from the formulas (tests/ only)."""
import numba
import numpy as np
import pytest

import fastem
from fastem.backends import numba as nb
from fastem.data.sources import ArraySource
from fastem.families.bernoulli import BernoulliFamily, BernoulliParams
from fastem.families.protocol import ComponentFamily
from fastem.estimators.bernoulli import BernoulliMixture


def reference_em(X, weights, means, alpha, n_iter, sample_weight=None):
    """Plain EM: log p = x log mu + (1 - x) log(1 - mu) + log w; M-step with smoothing."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    comp = 1.0 - means
    bounds = []
    for _ in range(n_iter):
        logp = X @ np.log(means).T + (1 - X) @ np.log(comp).T + np.log(weights)
        top = logp.max(axis=1, keepdims=True)
        lpn = top[:, 0] + np.log(np.exp(logp - top).sum(axis=1))
        resp = np.exp(logp - lpn[:, None])
        bounds.append(float((w * lpn).sum() / w.sum()))
        wr = resp * w[:, None]
        nk = wr.sum(axis=0)
        means = (wr.T @ X + alpha) / (nk[:, None] + 2 * alpha)
        comp = (wr.T @ (1 - X) + alpha) / (nk[:, None] + 2 * alpha)
        nk = nk + 10 * np.finfo(float).eps
        weights = nk / nk.sum()
    return weights, means, bounds


def synthetic(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    true = np.array([[0.9, 0.8, 0.1, 0.2, 0.7, 0.05],
                     [0.1, 0.3, 0.9, 0.8, 0.2, 0.95],
                     [0.5, 0.9, 0.5, 0.1, 0.9, 0.5]])
    y = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    X = (rng.uniform(size=(n, true.shape[1])) < true[y]).astype(np.float64)
    return X, y, true


def start(seed=1, k=3, d=6):
    rng = np.random.default_rng(seed)
    return np.full(k, 1.0 / k), rng.uniform(0.2, 0.8, size=(k, d))


def test_family_satisfies_the_protocol():
    assert isinstance(BernoulliFamily(), ComponentFamily)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [1e-10, 0.5])
def test_matches_reference_em_for_30_iterations(weighted, alpha):
    X, _, _ = synthetic()
    sw = np.random.default_rng(3).uniform(0.5, 2.0, len(X)) if weighted else None
    w0, m0 = start()
    gm = BernoulliMixture(3, alpha=alpha, weights_init=w0, means_init=m0,
                                 max_iter=30, tol=0.0, chunk_size=1000)
    with pytest.warns(fastem.ConvergenceWarning):
        gm.fit(X, sample_weight=sw)
    w_ref, m_ref, lb_ref = reference_em(X, w0, m0, alpha, 30, sw)
    assert gm.n_iter_ == 30
    np.testing.assert_allclose(gm.weights_, w_ref, rtol=1e-10)
    np.testing.assert_allclose(gm.means_, m_ref, rtol=1e-10)
    np.testing.assert_allclose(gm.lower_bounds_, lb_ref, rtol=1e-10)


def test_log_likelihood_never_decreases_and_recovers_the_truth():
    X, y, true = synthetic(n=20000, seed=5)
    gm = BernoulliMixture(3, max_iter=500, tol=1e-10, random_state=0, n_init=3).fit(X)
    lbs = np.array(gm.lower_bounds_)
    assert (np.diff(lbs) >= -1e-12).all()
    order = [int(np.argmin(np.abs(gm.means_ - t).sum(axis=1))) for t in true]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(gm.means_[order], true, atol=0.05)
    np.testing.assert_allclose(gm.weights_[order], [0.5, 0.3, 0.2], atol=0.03)


def test_statistics_add_over_random_splits_and_threads_are_bit_identical():
    X, _, _ = synthetic(n=9000)
    w0, m0 = start()
    fam = BernoulliFamily()
    kargs = fam.kernel_args(BernoulliParams(w0, m0, 1 - m0))
    whole = nb.em_stats(ArraySource(X), kargs, fam)
    cuts = np.sort(np.random.default_rng(0).choice(np.arange(1, len(X)), 4, replace=False))
    parts = [nb.em_stats(ArraySource(p), kargs, fam) for p in np.split(X, cuts)]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    np.testing.assert_allclose(total.s1, whole.s1, rtol=1e-12)
    np.testing.assert_allclose(total.s0, whole.s0, rtol=1e-12)
    np.testing.assert_allclose(total.nk, whole.nk, rtol=1e-12)
    assert total.n_rows == whole.n_rows == len(X)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = nb.em_stats(ArraySource(X), kargs, fam)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = nb.em_stats(ArraySource(X), kargs, fam)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(one.s1, two.s1) and np.array_equal(one.s0, two.s0)
    assert np.array_equal(one.nk, two.nk) and one.loglik == two.loglik


def test_bool_and_uint8_input_give_the_float_result():
    X, _, _ = synthetic(n=2000)
    w0, m0 = start()
    kw = dict(weights_init=w0, means_init=m0, max_iter=5, tol=0.0)
    with pytest.warns(fastem.ConvergenceWarning):
        a = BernoulliMixture(3, **kw).fit(X)
        b = BernoulliMixture(3, **kw).fit(X.astype(bool))
        c = BernoulliMixture(3, **kw).fit(X.astype(np.uint8))
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-13)
    np.testing.assert_allclose(c.means_, a.means_, rtol=1e-13)


def test_inference_matches_the_reference_densities():
    X, _, _ = synthetic(n=500)
    gm = BernoulliMixture(3, random_state=0).fit(X)
    logp = (X @ np.log(gm.means_).T + (1 - X) @ np.log(1 - gm.means_).T
            + np.log(gm.weights_))
    lpn = np.logaddexp.reduce(logp, axis=1)
    np.testing.assert_allclose(gm.score_samples(X), lpn, rtol=1e-9)
    np.testing.assert_allclose(gm.predict_proba(X), np.exp(logp - lpn[:, None]), atol=1e-9)
    assert np.array_equal(gm.predict(X), np.argmax(logp, axis=1))
    Xs, ys = gm.sample(50)
    assert Xs.shape == (50, 6) and set(np.unique(Xs)) <= {0.0, 1.0}
    assert (np.diff(ys) >= 0).all()
    assert gm.bic(X) > gm.aic(X) - 1e9  # both finite
    assert np.isfinite(gm.bic(X))


def test_non_binary_value_names_row_column_and_value():
    X, _, _ = synthetic(n=100)
    X[37, 4] = 0.5
    with pytest.raises(ValueError, match=r"row 37, column 4 is 0\.5"):
        BernoulliMixture(2).fit(X)


def test_alpha_must_be_positive():
    X, _, _ = synthetic(n=100)
    with pytest.raises(ValueError, match="'alpha' parameter"):
        BernoulliMixture(2, alpha=0.0).fit(X)


def test_nan_is_named_too():
    X, _, _ = synthetic(n=100)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"row 3, column 1 is nan"):
        BernoulliMixture(2).fit(X)


# Checks that fit continuous (non-0/1) data: there fit must raise the family's clear error.
NON_BINARY_CHECKS = {
    name: "feeds non-0/1 data; BernoulliMixture refuses it with the row, column and value"
    for name in (
        "check_fit_score_takes_y", "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
        "check_readonly_memmap_input", "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit", "check_estimators_dtypes",
        "check_sample_weights_pandas_series", "check_sample_weights_not_an_array",
        "check_sample_weights_list", "check_sample_weights_shape",
        "check_sample_weights_not_overwritten", "check_sample_weight_equivalence_on_dense_data",
        "check_dtype_object", "check_pipeline_consistency", "check_estimators_nan_inf",
        "check_estimators_pickle", "check_f_contiguous_array_estimator",
        "check_methods_sample_order_invariance", "check_methods_subset_invariance",
        "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged",
        "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
        "check_fit2d_predict1d")}


def _messages(exc):
    out = []
    while exc is not None:
        out.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return out


def test_check_estimator_passes_except_where_it_feeds_non_binary_data():
    import warnings
    sklearn = pytest.importorskip("sklearn")
    import sklearn.exceptions
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        warnings.filterwarnings("ignore", "Estimator BernoulliMixture does not inherit",
                                UserWarning)
        warnings.simplefilter("ignore", sklearn.exceptions.SkipTestWarning)
        results = check_estimator(BernoulliMixture(), on_fail=None)
    assert len(results) > 40
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    failed = [r for r in results if r["status"] == "failed"]
    assert {r["check_name"] for r in failed} <= set(NON_BINARY_CHECKS)
    assert len(passed) >= 15   # e.g. parameters, cloning, NotFittedError, complex data
    for r in failed:
        assert any("BernoulliMixture needs 0/1 values; row " in m
                   for m in _messages(r["exception"])), (r["check_name"], r["exception"])


def _random_bernoulli_kargs(seed=5, k=5, d=7):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(k))
    w[1] = 0.0      # an empty component: log w = -inf, responsibility exactly 0
    m = rng.uniform(0.05, 0.95, size=(k, d))
    return w, m, BernoulliFamily().kernel_args(BernoulliParams(w, m, 1 - m))


# Rarer dtypes behind slow: each compiles four more kernel specialisations (C and strided,
# parallel and serial) in the default suite's cold start.
# The first dtype also runs the strided Fortran view and the serial twin; the others only
# the C-contiguous parallel kernel (each variant is a kernel specialisation to compile).
@pytest.mark.parametrize("dtype", [np.float64, np.uint8, pytest.param(np.float32, marks=pytest.mark.slow),
                                   pytest.param(np.bool_, marks=pytest.mark.slow)])
def test_fused_e_step_equals_the_numpy_reference(dtype):
    from tests.reference_e_step import assert_outputs_match
    from tests.reference_linexp import bernoulli_log_prob
    w, m, kargs = _random_bernoulli_kargs()
    X = (np.random.default_rng(6).uniform(size=(1000, 7)) < 0.4).astype(dtype)
    with np.errstate(divide="ignore"):
        logp = bernoulli_log_prob(X, w, m)
    full = dtype is np.float64
    assert_outputs_match(BernoulliFamily(), kargs, X, logp, serial=full)
    if full:
        assert_outputs_match(BernoulliFamily(), kargs, np.asfortranarray(X[::2]), logp[::2])
    empty = BernoulliFamily().e_step_outputs(X[:0], kargs, labels=True, resp=True)
    assert [a.shape for a in empty] == [(0,), (0,), (0, 5)]


def test_fused_e_step_threads_are_bit_identical():
    from tests.reference_e_step import assert_thread_identical
    _, _, kargs = _random_bernoulli_kargs()
    X = (np.random.default_rng(7).uniform(size=(5000, 7)) < 0.5).astype(np.uint8)
    assert_thread_identical(BernoulliFamily(), kargs, X)


def test_weighted_fit_predicts_like_the_reference():
    from tests.reference_e_step import e_step_from_log_prob
    from tests.reference_linexp import bernoulli_log_prob
    X, _, _ = synthetic(n=700)
    sw = np.random.default_rng(8).uniform(0.2, 3.0, len(X))
    gm = BernoulliMixture(3, random_state=0).fit(X.astype(bool), sample_weight=sw)
    lpn, lab, rsp = e_step_from_log_prob(bernoulli_log_prob(X, gm.weights_, gm.means_))
    np.testing.assert_allclose(gm.score_samples(X.astype(np.uint8)), lpn, rtol=1e-12)
    np.testing.assert_allclose(gm.predict_proba(X), rsp, rtol=0, atol=1e-12)
    assert np.array_equal(gm.predict(X.astype(bool)), lab)
    assert gm.score(X) == pytest.approx(lpn.mean(), rel=1e-12)
