"""PoissonMixture against the NumPy reference EM of tests/reference_linexp.py."""
import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastem
from fastem.backends import numba as nb
from fastem.data.sources import ArraySource
from fastem.estimators.poisson import PoissonMixture
from fastem.families.poisson import PoissonFamily, PoissonParams, log_factorials
from fastem.families.protocol import ComponentFamily
from tests import reference_linexp as ref

TRUE_RATES = np.array([[1.0, 5.0, 0.2, 12.0],
                       [8.0, 1.0, 3.0, 0.5],
                       [0.5, 0.5, 10.0, 3.0]])


def synthetic(n=3000, seed=0, weights=(0.5, 0.3, 0.2), rates=TRUE_RATES):
    rng = np.random.default_rng(seed)
    y = rng.choice(len(weights), size=n, p=weights)
    return rng.poisson(rates[y]).astype(np.int64), y


def start(seed=1, k=3, d=4):
    rng = np.random.default_rng(seed)
    return np.full(k, 1.0 / k), rng.uniform(0.5, 8.0, size=(k, d))


def test_family_satisfies_the_protocol():
    assert isinstance(PoissonFamily(), ComponentFamily)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reg_rate", [1e-10, 0.3])
def test_matches_reference_em_for_30_iterations(weighted, reg_rate):
    X, _ = synthetic()
    X[7, 1] = 2000        # beyond the log n! table: lgamma path
    sw = np.random.default_rng(3).uniform(0.5, 2.0, len(X)) if weighted else None
    w0, m0 = start()
    pm = PoissonMixture(3, reg_rate=reg_rate, weights_init=w0, means_init=m0, max_iter=30,
                        tol=0.0, chunk_size=1000)
    with pytest.warns(fastem.ConvergenceWarning):
        pm.fit(X, sample_weight=sw)
    w_ref, m_ref, lb_ref = ref.poisson_em(X, w0, m0, reg_rate, 30, sw)
    assert pm.n_iter_ == 30
    np.testing.assert_allclose(pm.weights_, w_ref, rtol=1e-10)
    np.testing.assert_allclose(pm.means_, m_ref, rtol=1e-10)
    np.testing.assert_allclose(pm.lower_bounds_, lb_ref, rtol=1e-10)


_DATA = synthetic(n=6000, seed=4)[0]


def _kargs():
    w0, m0 = start()
    fam = PoissonFamily()
    return fam, fam.kernel_args(PoissonParams(w0, m0))


@given(st.lists(st.integers(1, len(_DATA) - 1), min_size=1, max_size=5, unique=True),
       st.booleans())
def test_statistics_add_over_random_splits(cuts, weighted):
    fam, kargs = _kargs()
    sw = np.random.default_rng(0).uniform(0.1, 3, len(_DATA)) if weighted else None
    whole = nb.em_stats(ArraySource(_DATA, sw), kargs, fam)
    cuts = sorted(cuts)
    total = None
    for part, wpart in zip(np.split(_DATA, cuts),
                           np.split(sw, cuts) if weighted else [None] * (len(cuts) + 1)):
        s = nb.em_stats(ArraySource(part, wpart), kargs, fam)
        total = s if total is None else total + s
    np.testing.assert_allclose(total.s1, whole.s1, rtol=1e-12)
    np.testing.assert_allclose(total.nk, whole.nk, rtol=1e-12)
    assert total.loglik == pytest.approx(whole.loglik, rel=1e-12)
    assert total.n_rows == whole.n_rows == len(_DATA)


def test_one_and_two_threads_are_bit_identical():
    X, _ = synthetic(n=20000, seed=2)
    fam, kargs = _kargs()
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = nb.em_stats(ArraySource(X), kargs, fam)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = nb.em_stats(ArraySource(X), kargs, fam)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(one.s1, two.s1) and np.array_equal(one.nk, two.nk)
    assert one.loglik == two.loglik


def test_bound_never_decreases_and_recovers_the_truth():
    X, _ = synthetic(n=10000, seed=5)
    pm = PoissonMixture(3, max_iter=300, tol=1e-8, random_state=0).fit(X)
    assert (np.diff(pm.lower_bounds_) >= -1e-12).all()
    order = [int(np.argmin(np.abs(np.log(pm.means_) - np.log(t)).sum(axis=1)))
             for t in TRUE_RATES]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(pm.means_[order], TRUE_RATES, rtol=0.1)
    np.testing.assert_allclose(pm.weights_[order], [0.5, 0.3, 0.2], atol=0.02)


def test_compact_dtypes_give_the_int64_result():
    X, _ = synthetic(n=2000)
    w0, m0 = start()
    kw = dict(weights_init=w0, means_init=m0, max_iter=5, tol=0.0)
    with pytest.warns(fastem.ConvergenceWarning):
        a = PoissonMixture(3, **kw).fit(X)
        b = PoissonMixture(3, **kw).fit(X.astype(np.uint8))
        c = PoissonMixture(3, **kw).fit(X.astype(np.float32))
    # Each input dtype runs its own compiled specialisation of the kernels; with fast-math
    # reassociation two specialisations may round differently in the last bit (the cold-cache
    # CI run, where some come from the background precompile's cache, showed it), so equal
    # to rounding, not bit for bit.
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-13)
    np.testing.assert_allclose(c.means_, a.means_, rtol=1e-13)


def test_inference_matches_the_reference_densities():
    X, _ = synthetic(n=700)
    X[3, 0] = 1500
    pm = PoissonMixture(3, random_state=0).fit(X)
    logp = ref.poisson_log_prob(X, pm.weights_, pm.means_)
    lpn = np.logaddexp.reduce(logp, axis=1)
    np.testing.assert_allclose(pm.score_samples(X), lpn, rtol=1e-12)
    np.testing.assert_allclose(pm.predict_proba(X), np.exp(logp - lpn[:, None]), atol=1e-12)
    assert np.array_equal(pm.predict(X), np.argmax(logp, axis=1))
    assert pm.lower_bound_ == pytest.approx(pm.score(X), abs=1e-2)
    Xs, ys = pm.sample(300)
    assert Xs.shape == (300, 4) and (Xs >= 0).all() and (np.diff(ys) >= 0).all()
    assert np.isfinite(pm.bic(X)) and pm.bic(X) > pm.aic(X)


def test_log_factorials_match_scipy_on_both_sides_of_the_table():
    from scipy.special import gammaln
    x = np.array([0, 1, 2, 10, 1023, 1024, 5000, 10**6], dtype=np.float64)
    np.testing.assert_allclose(log_factorials(x), gammaln(x + 1), rtol=1e-14)


def test_empty_component_keeps_its_rates_and_never_gives_nan():
    fam = PoissonFamily()
    prev = PoissonParams(np.array([0.5, 0.5]), np.array([[1.0, 2.0], [30.0, 40.0]]))
    from fastem.families.poisson import PoissonStats
    stats = PoissonStats(np.array([10.0, 0.0]), np.array([[10.0, 20.0], [0.0, 0.0]]),
                         0.0, 10.0, 10)
    new = fam.m_step(stats, prev, reg=1e-10)
    np.testing.assert_array_equal(new.means[1], prev.means[1])
    first = fam.m_step(stats, None, reg=1e-10)
    np.testing.assert_allclose(first.means[1], [1.0, 2.0])
    assert np.isfinite(new.weights).all() and (new.weights > 0).all()


def test_hard_label_init_smooths_zero_rates():
    X, _ = synthetic(n=2000)
    X[:, 2] = np.where(np.arange(len(X)) < 1000, 0, X[:, 2])
    fam = PoissonFamily()
    labels = (np.arange(len(X)) >= 1000).astype(np.int64)
    raw = fam.m_step(fam.label_stats(X, None, labels, 2), None, reg=1e-10)
    assert raw.means[0, 2] == pytest.approx(1e-10)
    est = PoissonMixture(2, init_params="random_from_data", random_state=0)
    first = est._initialize(ArraySource(X), fam, np.random.default_rng(0))
    assert first.means.min() >= 0.1 * X.mean(axis=0).min() * 0.5


# ---- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("value, shown", [(-1.0, "-1.0"), (2.5, "2.5"), (np.nan, "nan"),
                                          (np.inf, "inf")])
def test_bad_count_names_row_column_and_value(value, shown):
    X, _ = synthetic(n=100)
    X = X.astype(np.float64)
    X[37, 3] = value
    with pytest.raises(ValueError, match=rf"PoissonMixture needs non-negative integer counts; "
                                         rf"row 37, column 3 is {shown}"):
        PoissonMixture(2).fit(X)


def test_negative_integer_count_is_named_in_fit_and_predict():
    X, _ = synthetic(n=100)
    pm = PoissonMixture(2, random_state=0).fit(X)
    X[12, 1] = -3
    with pytest.raises(ValueError, match=r"row 12, column 1 is -3"):
        PoissonMixture(2).fit(X)
    with pytest.raises(ValueError, match=r"row 12, column 1 is -3"):
        pm.predict(X)


def test_bad_parameters_are_named():
    X, _ = synthetic(n=100)
    with pytest.raises(ValueError, match="'reg_rate' parameter"):
        PoissonMixture(2, reg_rate=0.0).fit(X)
    with pytest.raises(ValueError, match=r"means_init must hold positive finite rates; "
                                         r"means_init\[0, 0\] is 0\.0"):
        PoissonMixture(2, means_init=np.zeros((2, 4))).fit(X)
    with pytest.raises(ValueError, match=r"The parameter 'means' should have the shape of "
                                         r"\(2, 4\)"):
        PoissonMixture(2, means_init=np.ones((2, 3))).fit(X)
    with pytest.raises(ValueError, match=r"The parameter 'weights' should be in the range"):
        PoissonMixture(2, means_init=np.ones((2, 4)), weights_init=[1, -1]).fit(X)
    with pytest.raises(ValueError, match=r"has 3 features, but PoissonMixture is expecting 4"):
        PoissonMixture(2, random_state=0).fit(X).score(X[:, :3])


# ---- real size and scikit-learn conformance ----------------------------------------------
@pytest.mark.slow
def test_recovers_a_known_mixture_from_a_million_rows():
    X, _ = synthetic(n=1_000_000, seed=11)
    pm = PoissonMixture(3, max_iter=1000, tol=1e-9, random_state=0, n_init=2).fit(X)
    order = [int(np.argmin(np.abs(np.log(pm.means_) - np.log(t)).sum(axis=1)))
             for t in TRUE_RATES]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(pm.weights_[order], [0.5, 0.3, 0.2], atol=0.01)
    np.testing.assert_allclose(pm.means_[order], TRUE_RATES, rtol=0.02)


def test_check_estimator():
    from tests.reference_linexp import run_check_estimator
    run_check_estimator(PoissonMixture(2, max_iter=20, random_state=0),
                        "non-negative integer counts")


def _random_poisson(seed=5, k=5, d=4):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(k))
    w[0] = 0.0      # an empty component: log w = -inf, responsibility exactly 0
    rates = rng.uniform(0.3, 12.0, size=(k, d))
    return w, rates, PoissonFamily().kernel_args(PoissonParams(w, rates))


# Rarer dtypes behind slow: each compiles four more kernel specialisations (C and strided,
# parallel and serial) in the default suite's cold start.
# The first dtype also runs the strided Fortran view and the serial twin; the others only
# the C-contiguous parallel kernel (each variant is a kernel specialisation to compile).
@pytest.mark.parametrize("dtype", [np.int64, np.uint16, pytest.param(np.int32, marks=pytest.mark.slow),
                                   pytest.param(np.float64, marks=pytest.mark.slow),
                                   pytest.param(np.float32, marks=pytest.mark.slow)])
def test_fused_e_step_equals_the_numpy_reference(dtype):
    from tests.reference_e_step import assert_outputs_match
    w, rates, kargs = _random_poisson()
    X, _ = synthetic(n=1000, seed=9)
    X[3, 2] = 1500      # beyond the log n! table: lgamma path
    X[900, 0] = 1023    # the table's last entry
    X = X.astype(dtype)
    with np.errstate(divide="ignore"):
        logp = ref.poisson_log_prob(X, w, rates)
    full = dtype is np.int64
    assert_outputs_match(PoissonFamily(), kargs, X, logp, serial=full)
    if full:
        assert_outputs_match(PoissonFamily(), kargs, np.asfortranarray(X[::2]), logp[::2])


def test_fused_e_step_threads_are_bit_identical():
    from tests.reference_e_step import assert_thread_identical
    _, _, kargs = _random_poisson()
    X, _ = synthetic(n=5000, seed=10)
    assert_thread_identical(PoissonFamily(), kargs, X.astype(np.uint16))


def test_weighted_fit_predicts_like_the_reference():
    from tests.reference_e_step import e_step_from_log_prob
    X, _ = synthetic(n=700)
    sw = np.random.default_rng(8).uniform(0.2, 3.0, len(X))
    pm = PoissonMixture(3, random_state=0).fit(X, sample_weight=sw)
    lpn, lab, rsp = e_step_from_log_prob(ref.poisson_log_prob(X, pm.weights_, pm.means_))
    np.testing.assert_allclose(pm.score_samples(X.astype(np.uint16)), lpn, rtol=1e-12)
    np.testing.assert_allclose(pm.predict_proba(X), rsp, rtol=0, atol=1e-12)
    assert np.array_equal(pm.predict(X), lab)
    assert pm.score(X) == pytest.approx(lpn.mean(), rel=1e-12)
