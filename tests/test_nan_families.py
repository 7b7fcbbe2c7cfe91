"""nan_policy on BernoulliMixture, CategoricalMixture and PoissonMixture (issue 14): exact EM
over the observed coordinates against the NumPy reference of tests/reference_nan_families.py,
and every path (chunks, .npy, partial_fit, checkpoint, save/load, CLI).

Inputs are float64 C-contiguous (NaN needs floats), so the default tests add only the masked
kernels' float64 specialisations."""
from __future__ import annotations

import warnings

import numba
import numpy as np
import pytest

import fastem
from fastem import BernoulliMixture, CategoricalMixture, PoissonMixture
from tests import reference_nan_families as ref

K, D, N = 3, 5, 1000
N_CATS = [3, 2, 4, 3, 2]


def _holes(X, frac, seed):
    rng = np.random.default_rng(seed)
    X = np.array(X, dtype=np.float64)
    X[rng.uniform(size=X.shape) < frac] = np.nan
    X[3] = np.nan                      # one row with every coordinate missing
    return X


def bernoulli_data(frac=0.0, seed=0, n=N):
    rng = np.random.default_rng(seed)
    mu = np.array([[0.9, 0.8, 0.1, 0.2, 0.5], [0.1, 0.2, 0.9, 0.7, 0.5],
                   [0.5, 0.9, 0.9, 0.1, 0.1]])
    y = rng.integers(0, K, n)
    X = (rng.uniform(size=(n, D)) < mu[y]).astype(np.float64)
    return _holes(X, frac, seed + 1) if frac else X


def poisson_data(frac=0.0, seed=0, n=N):
    rng = np.random.default_rng(seed)
    lam = np.array([[1.0, 5.0, 2.0, 0.5, 8.0], [6.0, 1.0, 0.3, 4.0, 2.0],
                    [3.0, 3.0, 9.0, 1.0, 0.7]])
    y = rng.integers(0, K, n)
    X = rng.poisson(lam[y]).astype(np.float64)
    return _holes(X, frac, seed + 1) if frac else X


def categorical_data(frac=0.0, seed=0, n=N):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    cols = []
    for d, c in enumerate(N_CATS):
        p = np.random.default_rng(100 + d).dirichlet(np.ones(c), size=K)
        u = rng.uniform(size=n)[:, None]
        cols.append(np.minimum((u > np.cumsum(p[y], axis=1)).sum(axis=1), c - 1))
    X = np.stack(cols, axis=1).astype(np.float64)
    X[:K, :] = np.array(N_CATS) - 1          # every code seen
    return _holes(X, frac, seed + 1) if frac else X


W0 = np.array([0.3, 0.3, 0.4])


def _bern_start():
    return np.random.default_rng(7).uniform(0.2, 0.8, (K, D))


def _pois_start():
    return np.random.default_rng(7).uniform(0.5, 6.0, (K, D))


def _cat_start():
    return [np.random.default_rng(7 + d).dirichlet(np.ones(c) * 3, size=K)
            for d, c in enumerate(N_CATS)]


def _make(family, **kw):
    if family == "bernoulli":
        return BernoulliMixture(K, alpha=1e-3, weights_init=W0, means_init=_bern_start(), **kw)
    if family == "poisson":
        return PoissonMixture(K, reg_rate=1e-6, weights_init=W0, means_init=_pois_start(), **kw)
    return CategoricalMixture(K, alpha=1e-3, weights_init=W0, probabilities_init=_cat_start(),
                              n_categories=N_CATS, **kw)


DATA = {"bernoulli": bernoulli_data, "poisson": poisson_data, "categorical": categorical_data}


def _fit(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        return est.fit(X, **kw)


def _arrays(est):
    if isinstance(est, CategoricalMixture):
        return [est.weights_, *est.probabilities_, np.asarray(est.lower_bounds_)]
    return [est.weights_, est.means_, np.asarray(est.lower_bounds_)]


@pytest.mark.parametrize("family", ["bernoulli", "poisson", "categorical"])
@pytest.mark.parametrize("frac", [0.1, 0.4])
def test_marginalize_matches_reference_em_for_30_iterations(family, frac):
    X = DATA[family](frac, seed=11)
    sw = np.random.default_rng(5).uniform(0.5, 2.0, len(X)) if frac == 0.4 else None
    est = _fit(_make(family, nan_policy="marginalize", max_iter=30, tol=0.0,
                     chunk_size=500), X, sample_weight=sw)
    assert est.n_iter_ == 30
    if family == "bernoulli":
        w, m, lb = ref.bernoulli_nan_em(X, W0, _bern_start(), 1e-3, 30, sw)
        np.testing.assert_allclose(est.means_, m, rtol=1e-10)
    elif family == "poisson":
        w, m, lb = ref.poisson_nan_em(X, W0, _pois_start(), 1e-6, 30, sw)
        np.testing.assert_allclose(est.means_, m, rtol=1e-10)
    else:
        w, p, lb = ref.categorical_nan_em(X, W0, _cat_start(), 1e-3, 30, sw)
        for a, b in zip(est.probabilities_, p):
            np.testing.assert_allclose(a, b, rtol=1e-10)
    np.testing.assert_allclose(est.weights_, w, rtol=1e-10)
    np.testing.assert_allclose(est.lower_bounds_, lb, rtol=1e-10)
    # EM on the observed-data likelihood: the bound never decreases
    assert (np.diff(est.lower_bounds_) >= -1e-12 * np.abs(est.lower_bounds_[1:])).all()
    assert est.n_rows_all_missing_ == int(np.isnan(X).all(axis=1).sum()) >= 1
    assert est.n_rows_omitted_ == 0


@pytest.mark.parametrize("family", ["bernoulli", "poisson", "categorical"])
def test_inference_uses_observed_coordinates(family):
    X = DATA[family](0.3, seed=2, n=400)
    est = _fit(_make(family, nan_policy="marginalize", max_iter=3), X)
    if family == "bernoulli":
        m, c = est.means_, est._complements

        def per(x):
            return x[:, None, :] * np.log(m)[None] + (1 - x[:, None, :]) * np.log(c)[None]
    elif family == "poisson":
        from scipy.special import gammaln
        lam = est.means_

        def per(x):
            return x[:, None, :] * np.log(lam)[None] - lam[None] - gammaln(x + 1)[:, None, :]
    else:
        def per(x):
            codes = x.astype(np.int64)
            return np.stack([np.log(p)[:, codes[:, d]].T
                             for d, p in enumerate(est.probabilities_)], axis=2)
    lp = ref.log_prob_rows(per, X, est.weights_)
    np.testing.assert_allclose(est.score_samples(X), lp, rtol=1e-12, atol=1e-12)
    assert est.score_samples(X)[3] == 0.0
    np.testing.assert_allclose(est.predict_proba(X)[3], est.weights_, rtol=1e-12)
    n = len(X) - int(np.isnan(X).all(axis=1).sum())   # all-missing rows are not observations
    np.testing.assert_allclose(est.score(X), lp.sum() / n, rtol=1e-12)
    p = est._n_parameters()
    np.testing.assert_allclose(est.bic(X), -2 * lp.sum() + p * np.log(n), rtol=1e-12)
    np.testing.assert_allclose(est.aic(X), -2 * lp.sum() + 2 * p, rtol=1e-12)


@pytest.mark.parametrize("family", ["bernoulli", "poisson", "categorical"])
def test_without_nan_every_policy_is_bit_identical_to_raise(family):
    X = DATA[family](0.0, seed=4, n=800)
    runs = [_arrays(_fit(_make(family, nan_policy=p, max_iter=5, tol=0.0), X))
            for p in ("raise", "omit", "marginalize")]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("family", ["bernoulli", "poisson", "categorical"])
def test_one_and_two_threads_bit_identical(family):
    X = DATA[family](0.25, seed=6, n=4500)
    runs = [_arrays(_fit(_make(family, nan_policy="marginalize", max_iter=4, tol=0.0,
                               n_threads=t), X))
            for t in (1, min(2, numba.config.NUMBA_NUM_THREADS))]
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("family", ["bernoulli", "categorical"])
def test_chunked_npy_equals_in_memory(family, tmp_path):
    X = DATA[family](0.2, seed=8)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mem = _fit(_make(family, nan_policy="marginalize", max_iter=6, tol=0.0,
                     chunk_size=400), X)
    ooc = _fit(_make(family, nan_policy="marginalize", max_iter=6, tol=0.0,
                     chunk_size=400), str(path))
    for a, b in zip(_arrays(mem), _arrays(ooc)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)
    assert ooc.n_rows_all_missing_ == 1
    np.testing.assert_allclose(ooc.score_samples(str(path)), mem.score_samples(X), rtol=1e-13)
    np.testing.assert_allclose(ooc.bic(str(path)), mem.bic(X), rtol=1e-12)


@pytest.mark.parametrize("family", ["bernoulli", "poisson", "categorical"])
def test_omit_fits_the_complete_rows_and_counts_them(family):
    X = DATA[family](0.1, seed=9)
    has = np.isnan(X).any(axis=1)
    omit = _fit(_make(family, nan_policy="omit", max_iter=5, tol=0.0), X)
    ref_fit = _fit(_make(family, max_iter=5, tol=0.0), np.ascontiguousarray(X[~has]))
    for a, b in zip(_arrays(omit), _arrays(ref_fit)):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    assert omit.n_rows_omitted_ == int(has.sum()) and omit.n_rows_all_missing_ == 1
    plain = _fit(_make(family, max_iter=5, tol=0.0), np.ascontiguousarray(X[~has]))
    assert plain.n_rows_omitted_ == 0 and plain.n_rows_all_missing_ == 0


def test_default_init_with_missing_values_recovers_the_truth():
    # initialisation (k-means on the mean-imputed rows) and EM with 20% of entries missing
    X = poisson_data(0.2, seed=12, n=3000)
    pm = PoissonMixture(K, nan_policy="marginalize", random_state=0, max_iter=100,
                        tol=1e-8).fit(X)
    assert (np.diff(pm.lower_bounds_) >= -1e-12).all()
    truth = np.array([[1.0, 5.0, 2.0, 0.5, 8.0], [6.0, 1.0, 0.3, 4.0, 2.0],
                      [3.0, 3.0, 9.0, 1.0, 0.7]])
    order = [int(np.argmin(np.abs(pm.means_ - t).sum(axis=1))) for t in truth]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(pm.means_[order], truth, rtol=0.15, atol=0.15)


def test_error_messages():
    X = bernoulli_data(0.2, seed=1, n=200)
    first = np.argwhere(np.isnan(X))[0]
    with pytest.raises(ValueError, match=rf"row {first[0]}, column {first[1]} is nan.*0/1.*"
                                         "nan_policy='omit' or 'marginalize'"):
        BernoulliMixture(2).fit(X)
    with pytest.raises(ValueError, match=r"nan_policy='omit' or 'marginalize'"):
        PoissonMixture(2).fit(poisson_data(0.2, seed=1, n=200))
    Y = X.copy()
    Y[17, 2] = np.inf
    with pytest.raises(ValueError, match=r"inf.*row 17, column 2 is inf"):
        BernoulliMixture(2, nan_policy="marginalize").fit(Y)
    Y = X.copy()
    Y[21, 4] = 0.5
    with pytest.raises(ValueError, match=r"row 21, column 4 is 0\.5"):
        BernoulliMixture(2, nan_policy="omit").fit(Y)
    C = categorical_data(0.2, seed=1, n=200)
    C[30, 1] = 7.0
    with pytest.raises(ValueError, match=r"row 30, column 1 is code 7\.0"):
        CategoricalMixture(2, n_categories=N_CATS, nan_policy="marginalize").fit(C)
    P = poisson_data(0.2, seed=1, n=200)
    P[40, 0] = -1.0
    with pytest.raises(ValueError, match=r"row 40, column 0 is -1\.0"):
        PoissonMixture(2, nan_policy="marginalize").fit(P)
    with pytest.raises(ValueError, match="nan_policy"):
        PoissonMixture(2, nan_policy="ignore").fit(P)
    fitted = BernoulliMixture(2, random_state=0).fit(bernoulli_data(n=200))
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(X)              # a "raise" model refuses NaN at inference too


def test_save_load_partial_fit_and_checkpoint(tmp_path, monkeypatch):
    X = poisson_data(0.2, seed=3)
    pm = _fit(_make("poisson", nan_policy="marginalize", max_iter=5, tol=0.0), X)
    pm.save(tmp_path / "m.npz")
    back = fastem.load(tmp_path / "m.npz")
    assert back.nan_policy == "marginalize"
    np.testing.assert_array_equal(back.score_samples(X), pm.score_samples(X))
    # partial_fit: chunks with NaN, continued across calls, finite and NaN-free
    on = PoissonMixture(K, nan_policy="marginalize", random_state=0)
    for start in range(0, len(X), 500):
        on.partial_fit(X[start:start + 500])
    assert np.isfinite(on.means_).all() and np.isfinite(on.score_samples(X)).all()
    # checkpoint: a resumed fit equals the uninterrupted one; the policy is in the fingerprint
    from fastem.checkpoint import Checkpointer
    ck = str(tmp_path / "ck.npz")
    whole = _fit(_make("poisson", nan_policy="marginalize", max_iter=6, tol=0.0), X)
    original = Checkpointer.callback

    def interrupt(self, info):
        original(self, info)
        if info.n_iter == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpointer, "callback", interrupt)
    with pytest.raises(KeyboardInterrupt):
        _fit(_make("poisson", nan_policy="marginalize", max_iter=6, tol=0.0, checkpoint=ck), X)
    monkeypatch.setattr(Checkpointer, "callback", original)
    resumed = _fit(_make("poisson", nan_policy="marginalize", max_iter=6, tol=0.0,
                         checkpoint=ck), X)
    np.testing.assert_array_equal(resumed.means_, whole.means_)
    assert resumed.lower_bounds_ == whole.lower_bounds_
    with pytest.raises(ValueError, match="another fit"):
        _fit(_make("poisson", nan_policy="omit", max_iter=6, tol=0.0, checkpoint=ck), X)


def test_cli_fit_with_family_and_nan_policy(tmp_path, capsys):
    from fastem.cli import main
    X = bernoulli_data(0.2, seed=5, n=600)
    np.save(tmp_path / "x.npy", X)
    rc = main(["fit", str(tmp_path / "x.npy"), "-k", "2", "--family", "bernoulli",
               "--nan-policy", "marginalize", "-o", str(tmp_path / "m.npz"), "--quiet"])
    assert rc == 0
    model = fastem.load(tmp_path / "m.npz")
    assert model.nan_policy == "marginalize"
    assert model.score_samples(X)[3] == 0.0


# ---- MixedTypeMixture: every block skips its missing coordinates --------------------------
MIXED_BLOCKS = [["gaussian", [0, 1], {"reg_covar": 1e-6}],
                ["bernoulli", [2], {"alpha": 1e-3}],
                ["categorical", [3, 4], {"alpha": 1e-3, "n_categories": [3, 2]}],
                ["poisson", [5], {"reg_rate": 1e-6}]]


def mixed_data(frac=0.0, seed=0, n=N):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    mu = np.array([[0.0, 3.0], [4.0, -1.0], [-3.0, -3.0]])
    X = np.empty((n, 6))
    X[:, :2] = mu[y] + rng.standard_normal((n, 2))
    X[:, 2] = rng.uniform(size=n) < np.array([0.2, 0.8, 0.5])[y]
    X[:, 3] = (rng.uniform(size=n)[:, None] > np.array([[0.6, 0.9], [0.1, 0.5],
                                                        [0.3, 0.4]])[y]).sum(axis=1)
    X[:, 4] = rng.uniform(size=n) < np.array([0.3, 0.6, 0.9])[y]
    X[:, 5] = rng.poisson(np.array([1.0, 4.0, 9.0])[y])
    return _holes(X, frac, seed + 1) if frac else X


def _mixed_start():
    from fastem.families.mixed import MixedParams
    r = np.random.default_rng(3)
    return MixedParams(W0.copy(), {
        "gaussian_means": r.normal(size=(K, 2)) * 2,
        "gaussian_covariances": r.uniform(1.0, 3.0, (K, 2)),
        "bernoulli_means": (bm := r.uniform(0.2, 0.8, (K, 1))), "bernoulli_complements": 1 - bm,
        "categorical_probabilities": np.concatenate(
            [r.dirichlet(np.ones(3) * 3, K), r.dirichlet(np.ones(2) * 3, K)], axis=1),
        "poisson_means": r.uniform(1.0, 6.0, (K, 1))})


def _mixed_em(family, X, params, n_iter, chunk):
    bounds = []
    for _ in range(n_iter):
        kargs = family.kernel_args(params)
        stats = family.zero_stats(kargs)
        for s in range(0, len(X), chunk):
            stats = stats + family.chunk_stats(X[s:s + chunk], None, kargs)
        bounds.append(stats.loglik / stats.weight_sum)
        params = family.m_step(stats, params, reg=0.0)
    return params, bounds


@pytest.mark.parametrize("frac", [0.1, 0.4])
def test_mixed_marginalize_matches_reference_em(frac):
    from fastem.families.mixed import MixedFamily
    X = mixed_data(frac, seed=13)
    fam = MixedFamily(MIXED_BLOCKS, nan_policy="marginalize")
    p0 = _mixed_start()
    got, bounds = _mixed_em(fam, X, p0, 30, 500)
    start = {k: v for k, v in p0.arrays.items() if k != "bernoulli_complements"}
    w, want, lb = ref.mixed_nan_em(X, p0.weights, MIXED_BLOCKS, start, 30)
    np.testing.assert_allclose(got.weights, w, rtol=1e-10)
    for name, value in want.items():
        np.testing.assert_allclose(got.arrays[name], value, rtol=1e-10, err_msg=name)
    np.testing.assert_allclose(bounds, lb, rtol=1e-10)
    assert (np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])).all()


def test_mixed_estimator_paths():
    from fastem import MixedTypeMixture
    cols = {b: c for b, c, _ in MIXED_BLOCKS}
    bp = {b: hp for b, _, hp in MIXED_BLOCKS}
    X = mixed_data(0.2, seed=14)
    kw = dict(columns=cols, block_params=bp, random_state=0, max_iter=20, tol=0.0)
    m = _fit(MixedTypeMixture(K, nan_policy="marginalize", **kw), X)
    assert np.isfinite(m.lower_bounds_).all()
    assert m.n_rows_all_missing_ == int(np.isnan(X).all(axis=1).sum())
    lp = m.score_samples(X)
    assert lp[3] == 0.0 and np.isfinite(lp).all()
    o = _fit(MixedTypeMixture(K, nan_policy="omit", **kw), X)
    assert o.n_rows_omitted_ == int(np.isnan(X).any(axis=1).sum())
    full = mixed_data(0.0, seed=14)
    a = _fit(MixedTypeMixture(K, **kw), full)
    b = _fit(MixedTypeMixture(K, nan_policy="marginalize", **kw), full)
    assert np.array_equal(a.weights_, b.weights_) and a.lower_bounds_ == b.lower_bounds_


# ---- StudentMixture: "raise" and "omit" ---------------------------------------------------
def test_student_omit_fits_the_complete_rows():
    from fastem import StudentMixture
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.standard_normal((300, 2)), rng.standard_normal((300, 2)) + 5])
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    has = np.isnan(X).any(axis=1)
    mi = np.array([[0.0, 0.0], [5.0, 5.0]])
    kw = dict(covariance_type="full", means_init=mi, weights_init=[0.5, 0.5],
              precisions_init=np.stack([np.eye(2)] * 2), max_iter=5, tol=0.0)
    omit = _fit(StudentMixture(2, nan_policy="omit", **kw), X)
    plain = _fit(StudentMixture(2, **kw), np.ascontiguousarray(X[~has]))
    np.testing.assert_allclose(omit.means_, plain.means_, rtol=1e-13)
    np.testing.assert_allclose(omit.lower_bounds_, plain.lower_bounds_, rtol=1e-13)
    assert omit.n_rows_omitted_ == int(has.sum())
    with pytest.raises(ValueError, match=r"row \d+, column \d+.*cannot score rows"):
        omit.score_samples(X)
    with pytest.raises(ValueError, match="nan_policy"):
        StudentMixture(2, nan_policy="impute").fit(X)
    with pytest.raises(ValueError, match="NaN"):
        StudentMixture(2).fit(X)


# ---- slow: Dask (serial kernels in tasks: more specialisations) and real size --------------
@pytest.mark.slow
@pytest.mark.parametrize("family", ["bernoulli", "poisson", "categorical"])
def test_dask_array_equals_in_memory(family):
    import dask
    import dask.array as da
    X = DATA[family](0.2, seed=15)
    Xd = da.from_array(X, chunks=(500, -1))
    with dask.config.set(scheduler="threads"):
        lazy = _fit(_make(family, nan_policy="marginalize", max_iter=6, tol=0.0), Xd)
        mem = _fit(_make(family, nan_policy="marginalize", max_iter=6, tol=0.0,
                         chunk_size=500), X)
        for a, b in zip(_arrays(lazy), _arrays(mem)):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        assert lazy.n_rows_all_missing_ == mem.n_rows_all_missing_ >= 1
        np.testing.assert_allclose(np.asarray(lazy.score_samples(Xd)), mem.score_samples(X),
                                   rtol=1e-12)
        np.testing.assert_allclose(lazy.bic(Xd), mem.bic(X), rtol=1e-10)
        omit = _fit(_make(family, nan_policy="omit", max_iter=6, tol=0.0), Xd)
        assert omit.n_rows_omitted_ == int(np.isnan(X).any(axis=1).sum())


@pytest.mark.slow
def test_large_bernoulli_with_30_percent_missing_recovers_the_truth():
    X = bernoulli_data(0.3, seed=16, n=200_000)
    truth = np.array([[0.9, 0.8, 0.1, 0.2, 0.5], [0.1, 0.2, 0.9, 0.7, 0.5],
                      [0.5, 0.9, 0.9, 0.1, 0.1]])
    bm = BernoulliMixture(K, nan_policy="marginalize", random_state=0, max_iter=500,
                          tol=1e-9, n_init=3).fit(X)
    order = [int(np.argmin(np.abs(bm.means_ - t).sum(axis=1))) for t in truth]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(bm.means_[order], truth, atol=0.03)
    assert (np.diff(bm.lower_bounds_) >= -1e-12).all()
