"""CategoricalMixture against the NumPy reference EM of tests/reference_linexp.py."""
import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastem
from fastem.backends import numba as nb
from fastem.data.sources import ArraySource
from fastem.estimators.categorical import CategoricalMixture
from fastem.families.categorical import CategoricalFamily, CategoricalParams
from fastem.families.protocol import ComponentFamily
from tests import reference_linexp as ref

N_CAT = (3, 4, 2, 5, 3)


def synthetic(n=3000, seed=0, n_cat=N_CAT, weights=(0.5, 0.3, 0.2), floor=0.0):
    rng = np.random.default_rng(seed)
    k = len(weights)
    true = [floor + rng.dirichlet(np.ones(c) * 0.7, size=k) for c in n_cat]
    true = [p / p.sum(axis=1, keepdims=True) for p in true]
    y = rng.choice(k, size=n, p=weights)
    X = np.stack([(rng.uniform(size=n)[:, None] > np.cumsum(p[y], axis=1)).sum(axis=1)
                  for p in true], axis=1)
    X = np.minimum(X, np.array(n_cat) - 1)
    return X.astype(np.int64), y, true


def start(seed=1, k=3, n_cat=N_CAT):
    rng = np.random.default_rng(seed)
    return np.full(k, 1.0 / k), [rng.dirichlet(np.ones(c) * 3, size=k) for c in n_cat]


def test_family_satisfies_the_protocol():
    assert isinstance(CategoricalFamily(N_CAT), ComponentFamily)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [1e-10, 0.5])
def test_matches_reference_em_for_30_iterations(weighted, alpha):
    X, _, _ = synthetic()
    sw = np.random.default_rng(3).uniform(0.5, 2.0, len(X)) if weighted else None
    w0, p0 = start()
    cm = CategoricalMixture(3, alpha=alpha, weights_init=w0, probabilities_init=p0,
                            max_iter=30, tol=0.0, chunk_size=1000)
    with pytest.warns(fastem.ConvergenceWarning):
        cm.fit(X, sample_weight=sw)
    w_ref, p_ref, lb_ref = ref.categorical_em(X, w0, p0, alpha, 30, sw)
    assert cm.n_iter_ == 30
    np.testing.assert_allclose(cm.weights_, w_ref, rtol=1e-10)
    for got, want in zip(cm.probabilities_, p_ref):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    np.testing.assert_allclose(cm.lower_bounds_, lb_ref, rtol=1e-10)


def _kargs(n_cat=N_CAT):
    w0, p0 = start(n_cat=n_cat)
    fam = CategoricalFamily(n_cat)
    return fam, fam.kernel_args(CategoricalParams(w0, np.concatenate(p0, axis=1), fam.offsets))


_DATA = synthetic(n=6000, seed=4)[0]


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
    np.testing.assert_allclose(total.counts, whole.counts, rtol=1e-12)
    np.testing.assert_allclose(total.nk, whole.nk, rtol=1e-12)
    assert total.loglik == pytest.approx(whole.loglik, rel=1e-12)
    assert total.n_rows == whole.n_rows == len(_DATA)


def test_one_and_two_threads_are_bit_identical():
    X, _, _ = synthetic(n=20000, seed=2)
    fam, kargs = _kargs()
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = nb.em_stats(ArraySource(X), kargs, fam)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = nb.em_stats(ArraySource(X), kargs, fam)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(one.counts, two.counts) and np.array_equal(one.nk, two.nk)
    assert one.loglik == two.loglik


def test_bound_never_decreases_and_recovers_the_truth():
    X, y, true = synthetic(n=20000, seed=5, floor=0.05)
    cm = CategoricalMixture(3, max_iter=500, tol=1e-8, random_state=0, n_init=2).fit(X)
    assert (np.diff(cm.lower_bounds_) >= -1e-12).all()
    flat_true = np.concatenate(true, axis=1)
    flat = np.concatenate(cm.probabilities_, axis=1)
    order = [int(np.argmin(np.abs(flat - t).sum(axis=1))) for t in flat_true]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(flat[order], flat_true, atol=0.05)
    np.testing.assert_allclose(cm.weights_[order], [0.5, 0.3, 0.2], atol=0.03)


def test_compact_dtypes_give_the_int64_result():
    X, _, _ = synthetic(n=2000)
    w0, p0 = start()
    kw = dict(weights_init=w0, probabilities_init=p0, max_iter=5, tol=0.0)
    with pytest.warns(fastem.ConvergenceWarning):
        a = CategoricalMixture(3, **kw).fit(X)
        b = CategoricalMixture(3, **kw).fit(X.astype(np.uint8))
        c = CategoricalMixture(3, **kw).fit(X.astype(np.float64))
    for pa, pb, pc in zip(a.probabilities_, b.probabilities_, c.probabilities_):
        assert np.array_equal(pa, pb) and np.array_equal(pa, pc)


def test_n_categories_int_list_and_inferred():
    X, _, _ = synthetic(n=500)
    kw = dict(max_iter=3, tol=0.0, random_state=0)
    with pytest.warns(fastem.ConvergenceWarning):
        inferred = CategoricalMixture(2, **kw).fit(X)
        as_int = CategoricalMixture(2, n_categories=6, **kw).fit(X)
        as_list = CategoricalMixture(2, n_categories=[3, 4, 2, 5, 7], **kw).fit(X)
    assert inferred.n_categories_ == [int(X[:, d].max()) + 1 for d in range(X.shape[1])]
    assert as_int.n_categories_ == [6] * 5
    assert as_list.n_categories_ == [3, 4, 2, 5, 7]
    assert [p.shape for p in as_list.probabilities_] == [(2, c) for c in (3, 4, 2, 5, 7)]
    for p in as_int.probabilities_ + as_list.probabilities_:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    # unseen codes get only the smoothing mass
    assert as_int.probabilities_[0][:, 3:].max() < 1e-6
    assert as_int._n_parameters() == 2 * 5 * 5 + 1


def test_inference_matches_the_reference_densities():
    X, _, _ = synthetic(n=700)
    cm = CategoricalMixture(3, random_state=0).fit(X)
    logp = ref.categorical_log_prob(X, cm.weights_, cm.probabilities_)
    lpn = np.logaddexp.reduce(logp, axis=1)
    np.testing.assert_allclose(cm.score_samples(X), lpn, rtol=1e-12)
    np.testing.assert_allclose(cm.predict_proba(X), np.exp(logp - lpn[:, None]), atol=1e-12)
    assert np.array_equal(cm.predict(X), np.argmax(logp, axis=1))
    assert np.array_equal(cm.fit_predict(X), cm.predict(X))
    Xs, ys = cm.sample(200)
    assert Xs.shape == (200, 5) and (Xs >= 0).all() and (Xs < np.array(N_CAT)).all()
    assert (np.diff(ys) >= 0).all()
    assert np.isfinite(cm.bic(X)) and cm.bic(X) > cm.aic(X)


def test_hard_label_init_with_tiny_alpha_does_not_lock_zero_probabilities():
    """Component 0's initial rows never show code 2 of column 0, yet the truth gives it 0.3."""
    rng = np.random.default_rng(0)
    n = 20000
    y = rng.integers(0, 2, n)
    p_col0 = np.array([[0.4, 0.3, 0.3], [0.1, 0.1, 0.8]])
    col0 = (rng.uniform(size=n)[:, None] > np.cumsum(p_col0[y], axis=1)).sum(axis=1)
    col1 = np.where(rng.uniform(size=n) < np.where(y == 0, 0.9, 0.1), 1, 0)
    col2 = np.where(rng.uniform(size=n) < np.where(y == 0, 0.8, 0.2), 1, 0)
    X = np.stack([np.minimum(col0, 2), col1, col2], axis=1)
    labels = np.where(X[:, 0] == 2, 1, y)          # hard labels: code 2 only in component 1
    fam = CategoricalFamily([3, 2, 2])
    stats = fam.label_stats(X, None, labels, 2)
    assert stats.counts[0, 2] == 0.0
    raw = fam.m_step(stats, None, reg=1e-10)
    assert raw.probabilities[0, 2] < 1e-12          # what an unsmoothed start would be
    smooth = fam.smoothed(raw, 0.1)
    kw = dict(alpha=1e-10, max_iter=20, tol=0)
    with pytest.warns(fastem.ConvergenceWarning):
        stuck = CategoricalMixture(2, weights_init=raw.weights,
                                   probabilities_init=raw.per_column(), **kw).fit(X)
        freed = CategoricalMixture(2, weights_init=smooth.weights,
                                   probabilities_init=smooth.per_column(), **kw).fit(X)
    assert stuck.probabilities_[0][0, 2] < 1e-6     # the failure mode smoothing prevents
    np.testing.assert_allclose(freed.probabilities_[0], p_col0, atol=0.03)
    # the estimator's hard-label inits smooth their first M-step the same way
    est = CategoricalMixture(2, alpha=1e-10, init_params="random_from_data", random_state=0)
    first = est._initialize(ArraySource(X), fam, np.random.default_rng(0))
    assert first.probabilities.min() >= 0.1 / 3 - 1e-15


# ---- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("value, shown", [(-1, "-1"), (2.5, "2.5"), (np.nan, "nan"),
                                          (np.inf, "inf")])
def test_bad_code_names_row_column_and_value(value, shown):
    X, _, _ = synthetic(n=100)
    X = X.astype(np.float64)
    X[37, 4] = value
    with pytest.raises(ValueError, match=rf"non-negative integer codes; row 37, column 4 is "
                                         rf"{shown}"):
        CategoricalMixture(2).fit(X)


def test_negative_integer_code_is_named():
    X, _, _ = synthetic(n=100)
    X[12, 1] = -3
    with pytest.raises(ValueError, match=r"row 12, column 1 is -3"):
        CategoricalMixture(2).fit(X)


def test_code_outside_n_categories_is_named_in_fit():
    X, _, _ = synthetic(n=100)
    X[5, 2] = 7
    with pytest.raises(ValueError, match=r"row 5, column 2 is code 7, outside the range "
                                         r"0 \.\. 1 \(n_categories gives 2 categories"):
        CategoricalMixture(2, n_categories=list(N_CAT)).fit(X)


def test_code_outside_fitted_range_is_named_at_predict():
    X, _, _ = synthetic(n=300)
    cm = CategoricalMixture(2, random_state=0).fit(X)
    Y = X[:10].copy()
    Y[6, 3] = 5
    for method in (cm.predict, cm.predict_proba, cm.score_samples, cm.score):
        with pytest.raises(ValueError, match=r"row 6, column 3 is code 5, outside the fitted "
                                             r"range 0 \.\. 4 \(the model was fitted with 5 "
                                             r"categories in column 3\)"):
            method(Y)


def test_bad_parameters_are_named():
    X, _, _ = synthetic(n=100)
    with pytest.raises(ValueError, match="'alpha' parameter"):
        CategoricalMixture(2, alpha=0.0).fit(X)
    with pytest.raises(ValueError, match=r"n_categories must be an int >= 1 or a list of 5 "
                                         r"ints >= 1 .* got \[3, 4\]"):
        CategoricalMixture(2, n_categories=[3, 4]).fit(X)
    with pytest.raises(ValueError, match="'n_categories' parameter"):
        CategoricalMixture(2, n_categories=0).fit(X)
    w0, p0 = start(k=2)
    p0[1] = p0[1] * 2
    with pytest.raises(ValueError, match=r"probabilities_init\[1\] must have shape \(2, 4\)"):
        CategoricalMixture(2, probabilities_init=p0).fit(X)
    with pytest.raises(ValueError, match=r"probabilities_init must hold one array .* 5 arrays; "
                                         r"got 2"):
        CategoricalMixture(2, probabilities_init=p0[:2]).fit(X)
    with pytest.raises(ValueError, match=r"The parameter 'weights' should have the shape of "
                                         r"\(2,\)"):
        CategoricalMixture(2, weights_init=[1.0, 2.0, 3.0]).fit(X)
    with pytest.raises(TypeError, match="numeric"):
        CategoricalMixture(2).fit(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match=r"has 3 features, but CategoricalMixture is "
                                         r"expecting 5"):
        CategoricalMixture(2, random_state=0).fit(X).predict(X[:, :3])


# ---- real size and scikit-learn conformance ----------------------------------------------
@pytest.mark.slow
def test_recovers_a_known_mixture_from_a_million_rows():
    X, _, true = synthetic(n=1_000_000, seed=11, floor=0.05, n_cat=(3, 4, 2, 5, 3, 4))
    cm = CategoricalMixture(3, max_iter=1000, tol=1e-9, random_state=0, n_init=3).fit(X)
    flat_true = np.concatenate(true, axis=1)
    flat = np.concatenate(cm.probabilities_, axis=1)
    order = [int(np.argmin(np.abs(flat - t).sum(axis=1))) for t in flat_true]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(cm.weights_[order], [0.5, 0.3, 0.2], atol=0.01)
    np.testing.assert_allclose(flat[order], flat_true, atol=0.02)


def test_check_estimator():
    from tests.reference_linexp import run_check_estimator
    run_check_estimator(CategoricalMixture(2, max_iter=20, random_state=0),
                        "non-negative integer codes")


def _random_categorical(seed=5, k=5, n_cat=N_CAT):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(k))
    w[2] = 0.0      # an empty component: log w = -inf, responsibility exactly 0
    probs = [rng.dirichlet(np.ones(c), size=k) for c in n_cat]
    fam = CategoricalFamily(n_cat)
    params = CategoricalParams(w, np.concatenate(probs, axis=1), fam.offsets)
    return w, probs, fam, fam.kernel_args(params)


# Rarer dtypes behind slow: each compiles four more kernel specialisations (C and strided,
# parallel and serial) in the default suite's cold start.
# The first dtype also runs the strided Fortran view and the serial twin; the others only
# the C-contiguous parallel kernel (each variant is a kernel specialisation to compile).
@pytest.mark.parametrize("dtype", [np.int64, np.uint8, pytest.param(np.int32, marks=pytest.mark.slow),
                                   pytest.param(np.float64, marks=pytest.mark.slow)])
def test_fused_e_step_equals_the_numpy_reference(dtype):
    from tests.reference_e_step import assert_outputs_match
    w, probs, fam, kargs = _random_categorical()
    X, _, _ = synthetic(n=1000, seed=9)
    X = X.astype(dtype)
    with np.errstate(divide="ignore"):
        logp = ref.categorical_log_prob(X, w, probs)
    full = dtype is np.int64
    assert_outputs_match(fam, kargs, X, logp, serial=full)
    if full:
        assert_outputs_match(fam, kargs, np.asfortranarray(X[1::3]), logp[1::3])


def test_fused_e_step_reads_bool_codes():
    from tests.reference_e_step import assert_outputs_match
    w, probs, fam, kargs = _random_categorical(n_cat=(2, 2, 2))
    X = np.random.default_rng(4).uniform(size=(333, 3)) < 0.3
    with np.errstate(divide="ignore"):
        logp = ref.categorical_log_prob(X, w, probs)
    assert_outputs_match(fam, kargs, X, logp, serial=False)


def test_fused_e_step_threads_are_bit_identical():
    from tests.reference_e_step import assert_thread_identical
    _, _, fam, kargs = _random_categorical()
    X, _, _ = synthetic(n=5000, seed=10)
    assert_thread_identical(fam, kargs, X.astype(np.uint8))


def test_weighted_fit_predicts_like_the_reference():
    from tests.reference_e_step import e_step_from_log_prob
    X, _, _ = synthetic(n=700)
    sw = np.random.default_rng(8).uniform(0.2, 3.0, len(X))
    cm = CategoricalMixture(3, random_state=0).fit(X, sample_weight=sw)
    lpn, lab, rsp = e_step_from_log_prob(
        ref.categorical_log_prob(X, cm.weights_, cm.probabilities_))
    np.testing.assert_allclose(cm.score_samples(X.astype(np.uint8)), lpn, rtol=1e-12)
    np.testing.assert_allclose(cm.predict_proba(X), rsp, rtol=0, atol=1e-12)
    assert np.array_equal(cm.predict(X), lab)
    assert cm.score(X) == pytest.approx(lpn.mean(), rel=1e-12)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_initialisation_sees_codes_one_hot(init_params):
    """Codes are labels: cluster 0 draws codes 0 or 4 (mean 2 as numbers), cluster 1 is
    always code 2, so only a one-hot view of the codes separates them at the start."""
    from fastem.data import as_source
    rng = np.random.default_rng(3)
    n = 4000
    y = rng.integers(0, 2, n)
    X = np.where(y[:, None] == 0, rng.choice([0, 4], size=(n, 3)), 2)
    m = CategoricalMixture(2, init_params=init_params, random_state=0)
    family = m._make_family(3, as_source(X))
    start = m._initialize(as_source(X), family, np.random.default_rng(0))
    only_two = start.probabilities[:, [2, 7, 12]].min(axis=1)   # P(code 2) in every column
    assert only_two.max() > 0.8 and only_two.min() < 0.1, start.probabilities.round(2)
