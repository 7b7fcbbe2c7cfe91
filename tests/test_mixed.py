"""MixedTypeMixture: the single-block invariant (each block alone is its family, 1e-12), a
NumPy reference for a mixed model, recovery of a known mixture, and messages."""
import warnings

import numpy as np
import pytest

import fastem
from fastem import MixedTypeMixture
from fastem.backends import numba as nb
from fastem.data.sources import ArraySource
from fastem.em import run_em
from fastem.families import GaussianParams, get_family
from fastem.families.bernoulli import BernoulliFamily, BernoulliParams
from fastem.families.categorical import CategoricalFamily, CategoricalParams
from fastem.families.mixed import MixedFamily, MixedParams
from fastem.families.poisson import PoissonFamily, PoissonParams
from tests import reference_linexp as ref
from tests import test_bernoulli as tb
from tests import test_categorical as tc
from tests import test_poisson as tp


def _run(family, params, X, reg, n=30):
    return run_em(ArraySource(X), family, params, stats_fn=nb.em_stats, max_iter=n, tol=0.0,
                  reg_covar=reg)


def _close(a, b, tol=1e-12):
    np.testing.assert_allclose(a, b, rtol=tol, atol=0)


def test_single_poisson_block_is_the_poisson_family():
    X, _ = tp.synthetic()
    w0, m0 = tp.start()
    one = _run(PoissonFamily(), PoissonParams(w0, m0), X, 1e-10)
    mixed = _run(MixedFamily([["poisson", range(4), {}]]),
                 MixedParams(w0, {"poisson_means": m0}), X, 0.0)
    _close(mixed.params.weights, one.params.weights)
    _close(mixed.params.arrays["poisson_means"], one.params.means)
    _close(mixed.lower_bounds, one.lower_bounds)


def test_single_categorical_block_is_the_categorical_family():
    X, _, _ = tc.synthetic()
    w0, p0 = tc.start()
    fam = CategoricalFamily(tc.N_CAT)
    flat = np.concatenate(p0, axis=1)
    one = _run(fam, CategoricalParams(w0, flat, fam.offsets), X, 0.5)
    mixed = _run(MixedFamily([["categorical", range(5),
                               {"alpha": 0.5, "n_categories": list(tc.N_CAT)}]]),
                 MixedParams(w0, {"categorical_probabilities": flat}), X, 0.0)
    _close(mixed.params.weights, one.params.weights)
    _close(mixed.params.arrays["categorical_probabilities"], one.params.probabilities)
    _close(mixed.lower_bounds, one.lower_bounds)


def test_single_bernoulli_block_is_the_bernoulli_family():
    X, _, _ = tb.synthetic()
    w0, m0 = tb.start()
    one = _run(BernoulliFamily(), BernoulliParams(w0, m0, 1 - m0), X, 1e-10)
    mixed = _run(MixedFamily([["bernoulli", range(6), {}]]),
                 MixedParams(w0, {"bernoulli_means": m0, "bernoulli_complements": 1 - m0}),
                 X, 0.0)
    _close(mixed.params.weights, one.params.weights)
    _close(mixed.params.arrays["bernoulli_means"], one.params.means)
    _close(mixed.lower_bounds, one.lower_bounds)


def test_single_gaussian_block_is_the_diag_gaussian():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 4000)
    X = rng.normal(size=(4000, 3)) * np.array([1.0, 2.0, 0.5]) + 4.0 * y[:, None]
    w0 = np.full(3, 1 / 3)
    mu0 = X[[0, 1, 2]].copy()
    var0 = np.ones((3, 3)) * X.var(axis=0)
    fam = get_family("diag")
    one = _run(fam, GaussianParams(w0, mu0, var0, 1 / np.sqrt(var0)), X, 1e-6)
    mixed = _run(MixedFamily([["gaussian", range(3), {"reg_covar": 1e-6}]]),
                 MixedParams(w0, {"gaussian_means": mu0, "gaussian_covariances": var0}), X,
                 0.0)
    _close(mixed.params.weights, one.params.weights)
    _close(mixed.params.arrays["gaussian_means"], one.params.means)
    _close(mixed.params.arrays["gaussian_covariances"], one.params.covariances)
    _close(mixed.lower_bounds, one.lower_bounds)


def test_single_block_estimator_equals_the_single_family_estimator():
    X, _ = tp.synthetic()
    kw = dict(max_iter=40, tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = fastem.PoissonMixture(3, **kw).fit(X)
        mixed = MixedTypeMixture(3, columns={"poisson": [0, 1, 2, 3]}, **kw).fit(X)
    _close(mixed.weights_, one.weights_)
    _close(mixed.blocks_["poisson"].means_, one.means_)
    _close(mixed.score_samples(X), one.score_samples(X))


def _mixed_data(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    mu = np.array([[0.0, 5.0], [4.0, -3.0], [-4.0, 0.0]])
    g = mu[y] + rng.normal(size=(n, 2)) * np.array([1.0, 0.5])
    pc = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    c = (rng.uniform(size=n)[:, None] > np.cumsum(pc[y], axis=1)).sum(axis=1)
    lam = np.array([1.0, 6.0, 12.0])
    p = rng.poisson(lam[y])
    pb = np.array([0.9, 0.2, 0.5])
    b = (rng.uniform(size=n) < pb[y]).astype(float)
    X = np.column_stack([g, np.minimum(c, 2), p, b])
    return X, y, dict(mu=mu, pc=pc, lam=lam, pb=pb)


COLUMNS = {"gaussian": [0, 1], "categorical": [2], "poisson": [3], "bernoulli": [4]}


def test_mixed_model_matches_a_numpy_reference_density_and_recovers_the_truth():
    X, y, true = _mixed_data(20000, seed=3)
    m = MixedTypeMixture(3, columns=COLUMNS, random_state=0, max_iter=300, tol=1e-8,
                         n_init=2).fit(X)
    assert (np.diff(m.lower_bounds_) >= -1e-12).all()
    g, c, p, b = (m.blocks_[k] for k in ("gaussian", "categorical", "poisson", "bernoulli"))
    logp = (ref.diag_gaussian_log_prob(X[:, :2], m.weights_, g.means_, g.covariances_)
            + ref.categorical_log_prob(X[:, [2]], np.ones(3), c.probabilities_)
            + ref.poisson_log_prob(X[:, [3]], np.ones(3), p.means_)
            + ref.bernoulli_log_prob(X[:, [4]], np.ones(3), b.means_))
    np.testing.assert_allclose(m.score_samples(X), np.logaddexp.reduce(logp, axis=1),
                               rtol=1e-10)
    order = [int(np.argmin(((g.means_ - t) ** 2).sum(axis=1))) for t in true["mu"]]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(m.weights_[order], [0.5, 0.3, 0.2], atol=0.02)
    np.testing.assert_allclose(g.means_[order], true["mu"], atol=0.05)
    np.testing.assert_allclose(c.probabilities_[0][order], true["pc"], atol=0.03)
    np.testing.assert_allclose(p.means_[order, 0], true["lam"], rtol=0.03)
    np.testing.assert_allclose(b.means_[order, 0], true["pb"], atol=0.03)
    assert c.n_categories_ == [3]


def test_mixed_model_from_a_npy_file_in_chunks_equals_in_memory(tmp_path):
    X, _, _ = _mixed_data(3000)
    path = str(tmp_path / "x.npy")
    np.save(path, X)
    kw = dict(columns=COLUMNS, random_state=0, max_iter=10, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MixedTypeMixture(3, **kw).fit(X)
        b = MixedTypeMixture(3, chunk_size=700, **kw).fit(path)
    _close(a.weights_, b.weights_, 1e-10)
    _close(a.blocks_["gaussian"].means_, b.blocks_["gaussian"].means_, 1e-10)
    _close(a.lower_bounds_, b.lower_bounds_, 1e-10)


def test_bad_values_and_parameters_are_named():
    X, _, _ = _mixed_data(200)
    X[17, 3] = 2.5
    with pytest.raises(ValueError, match=r"row 17, column 3 \(a poisson column\) is 2\.5; "
                                         r"poisson columns need non-negative integer counts"):
        MixedTypeMixture(2, columns=COLUMNS).fit(X)
    X[17, 3] = 1
    X[5, 4] = 3
    with pytest.raises(ValueError, match=r"row 5, column 4 \(a bernoulli column\) is 3\.0"):
        MixedTypeMixture(2, columns=COLUMNS).fit(X)
    X[5, 4] = 1
    X[9, 0] = np.nan
    with pytest.raises(ValueError, match=r"row 9, column 0 .* is nan; .*or fit with "
                                         r"nan_policy='omit'"):
        MixedTypeMixture(2, columns=COLUMNS).fit(X)
    X[9, 0] = 0.5
    with pytest.raises(ValueError, match=r"exactly one block"):
        MixedTypeMixture(2, columns={"gaussian": [0, 1], "poisson": [3]}).fit(X)
    with pytest.raises(ValueError, match=r"unknown family 'student'"):
        MixedTypeMixture(2, columns={"student": [0]}).fit(X)
    with pytest.raises(ValueError, match=r"\['student_t'\]\['degrees_of_freedom'\] must be None "
                                         r"\(estimated\) or a float > 0; got -1"):
        MixedTypeMixture(2, columns=COLUMNS,
                         block_params={"student_t": {"degrees_of_freedom": -1}}).fit(X)
    with pytest.raises(ValueError, match=r"\['student_t'\]\['covariance_type'\] must be one of"):
        MixedTypeMixture(2, columns=COLUMNS,
                         block_params={"student_t": {"covariance_type": "banded"}}).fit(X)
    Xt = X.copy()
    Xt[9, 1] = np.inf
    with pytest.raises(ValueError, match=r"row 9, column 1 \(a student_t column\) is inf"):
        MixedTypeMixture(2, columns={"student_t": [0, 1], "categorical": [2], "poisson": [3],
                                     "bernoulli": [4]}).fit(Xt)
    with pytest.raises(ValueError, match=r"block_params\['poisson'\]\['reg_rate'\] must be"):
        MixedTypeMixture(2, columns=COLUMNS, block_params={"poisson": {"reg_rate": 0}}).fit(X)
    m = MixedTypeMixture(2, columns=COLUMNS, random_state=0).fit(X)
    Y = X[:5].copy()
    Y[2, 2] = 7
    with pytest.raises(ValueError, match=r"row 2, column 2 \(a categorical column\) is 7\.0"):
        m.predict(Y)


def test_save_load_dask_and_partial_fit(tmp_path):
    X, _, _ = _mixed_data(2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MixedTypeMixture(3, columns=COLUMNS, random_state=0, max_iter=20).fit(X)
    path = str(tmp_path / "m.npz")
    m.save(path)
    loaded = fastem.load(path)
    assert type(loaded) is MixedTypeMixture
    assert np.array_equal(loaded.predict_proba(X), m.predict_proba(X))
    assert loaded.blocks_["categorical"].n_categories_ == [3]
    dask = pytest.importorskip("dask")
    import dask.array as da
    with dask.config.set(scheduler="threads"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        md = MixedTypeMixture(3, columns=COLUMNS, random_state=0, max_iter=20).fit(
            da.from_array(X, chunks=(500, -1)))
    _close(md.weights_, m.weights_, 1e-10)
    _close(md.blocks_["poisson"].means_, m.blocks_["poisson"].means_, 1e-10)

# ---- online EM (partial_fit, algorithm="online") --------------------------------------------
_FLOOR = 10 * np.finfo(np.float64).eps


def _reference_online(X, params, hp, chunks, decay=0.7, offset=10.0):
    """Stepwise EM on raw (unshifted) moments, every block by its formula: the running
    per-row averages ``s <- (1 - g) s + g s_hat`` from the statistics ``params`` imply."""
    a = params.arrays
    w = params.weights / params.weights.sum()
    mu, var = a["gaussian_means"], a["gaussian_covariances"]
    rg, al_c, rr, al_b = (hp["gaussian"]["reg_covar"], hp["categorical"]["alpha"],
                          hp["poisson"]["reg_rate"], hp["bernoulli"]["alpha"])
    nc = hp["categorical"]["n_categories"][0]
    s = {"n": w.copy(), "g1": w[:, None] * mu, "g2": w[:, None] * (var - rg + mu * mu),
         "c": a["categorical_probabilities"] * (w[:, None] + nc * al_c) - al_c,
         "p": w[:, None] * (a["poisson_means"] - rr),
         "b1": a["bernoulli_means"] * (w[:, None] + 2 * al_b) - al_b,
         "b0": a["bernoulli_complements"] * (w[:, None] + 2 * al_b) - al_b}
    cur = dict(w=params.weights, mu=mu, var=var, pc=a["categorical_probabilities"],
               lam=a["poisson_means"], pb=a["bernoulli_means"],
               qb=a["bernoulli_complements"])
    for t, Xc in enumerate(chunks, start=1):
        logp = (ref.diag_gaussian_log_prob(Xc[:, :2], cur["w"], cur["mu"], cur["var"])
                + np.log(cur["pc"])[:, Xc[:, 2].astype(int)].T
                + ref.poisson_log_prob(Xc[:, [3]], np.ones(3), cur["lam"])
                + Xc[:, [4]] * np.log(cur["pb"]).T + (1 - Xc[:, [4]]) * np.log(cur["qb"]).T)
        r = np.exp(logp - np.logaddexp.reduce(logp, axis=1)[:, None])
        m = Xc.shape[0]
        hat = {"n": r.sum(0) / m, "g1": r.T @ Xc[:, :2] / m, "g2": r.T @ Xc[:, :2] ** 2 / m,
               "c": r.T @ ref.one_hot(Xc[:, [2]], [nc])[0] / m, "p": r.T @ Xc[:, [3]] / m,
               "b1": r.T @ Xc[:, [4]] / m, "b0": r.T @ (1 - Xc[:, [4]]) / m}
        g = (t + offset) ** -decay
        s = {k: (1 - g) * s[k] + g * hat[k] for k in s}
        n = s["n"][:, None]
        cur = dict(w=(s["n"] + _FLOOR) / (s["n"] + _FLOOR).sum(), mu=s["g1"] / n,
                   var=s["g2"] / n - (s["g1"] / n) ** 2 + rg,
                   pc=(s["c"] + al_c) / (n + nc * al_c), lam=s["p"] / n + rr,
                   pb=(s["b1"] + al_b) / (n + 2 * al_b), qb=(s["b0"] + al_b) / (n + 2 * al_b))
    return cur


def test_online_em_matches_a_reference_step_on_every_block():
    from fastem.online import OnlineEM
    X, _, _ = _mixed_data(3000, seed=5)
    hp = {"gaussian": {"reg_covar": 1e-6}, "categorical": {"alpha": 1e-3, "n_categories": [3]},
          "poisson": {"reg_rate": 1e-4}, "bernoulli": {"alpha": 2e-3}}
    fam = MixedFamily([[b, COLUMNS[b], hp[b]] for b in
                       ("gaussian", "bernoulli", "categorical", "poisson")])
    rng = np.random.default_rng(1)
    start = MixedParams(np.array([0.3, 0.3, 0.4]), {
        "gaussian_means": rng.normal(0, 3, (3, 2)), "gaussian_covariances": np.full((3, 2), 4.0),
        "bernoulli_means": np.array([[0.3], [0.5], [0.7]]),
        "bernoulli_complements": np.array([[0.7], [0.5], [0.3]]),
        "categorical_probabilities": rng.dirichlet(np.ones(3), 3),
        "poisson_means": np.array([[2.0], [5.0], [9.0]])})
    engine = OnlineEM(fam, 0.0)
    state = engine.start(start)
    for k, v in start.arrays.items():        # the start's statistics give the start back
        _close(fam.m_step(state.stats).arrays[k], v, 1e-9)
    chunks = [X[i:i + 500] for i in range(0, 3000, 500)]
    for c in chunks:
        state = engine.step(state, c)
    want = _reference_online(X, start, hp, chunks)
    a = state.params.arrays
    _close(state.params.weights, want["w"], 1e-10)
    _close(a["gaussian_means"], want["mu"], 1e-10)
    _close(a["gaussian_covariances"], want["var"], 1e-10)
    _close(a["categorical_probabilities"], want["pc"], 1e-10)
    _close(a["poisson_means"], want["lam"], 1e-10)
    _close(a["bernoulli_means"], want["pb"], 1e-10)
    _close(a["bernoulli_complements"], want["qb"], 1e-10)
    assert state.n_steps == 6


def _arrays(m):
    return [m.weights_] + [v for b in m.blocks_.values() for k, v in vars(b).items()
                           if k.endswith("_") and isinstance(v, np.ndarray)]


def test_partial_fit_is_the_online_pass_and_learns():
    X, y, true = _mixed_data(12000, seed=2)
    X = X[np.random.default_rng(0).permutation(len(X))]
    kw = dict(columns=COLUMNS, init_params="random_from_data", random_state=1)
    model = MixedTypeMixture(3, **kw)
    for i in range(0, len(X), 1000):
        model.partial_fit(X[i:i + 1000])
    assert model.n_iter_ == 12 and np.isfinite(model.score(X))
    one_pass = MixedTypeMixture(3, algorithm="online", chunk_size=1000, **kw).fit(X)
    for a, b in zip(_arrays(one_pass), _arrays(model)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # continuing after an exact fit keeps a good model good
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = MixedTypeMixture(3, columns=COLUMNS, random_state=0, max_iter=50).fit(X)
    before = exact.score(X)
    exact.partial_fit(X[:2000])
    assert exact.score(X) > before - 0.01
    bad = X[:10].copy()
    bad[3, 4] = 0.5
    with pytest.raises(ValueError, match=r"row 3, column 4 \(a bernoulli column\)"):
        exact.partial_fit(bad)


def test_checkpoint_resume_is_bit_identical(tmp_path, monkeypatch):
    from sklearn.exceptions import ConvergenceWarning
    from fastem.checkpoint import Checkpointer
    X, _, _ = _mixed_data(3000, seed=4)
    path = str(tmp_path / "x.npy")
    np.save(path, X)
    ckpt = str(tmp_path / "fit.ckpt.npz")
    kw = dict(n_components=3, columns=COLUMNS, max_iter=8, tol=0.0, n_init=2, random_state=3,
              chunk_size=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = MixedTypeMixture(**kw).fit(path)
        original = Checkpointer.callback

        def interrupt(self, info):
            original(self, info)
            if info.init == 1 and info.n_iter == 3:
                raise KeyboardInterrupt

        monkeypatch.setattr(Checkpointer, "callback", interrupt)
        with pytest.raises(KeyboardInterrupt):
            MixedTypeMixture(checkpoint=ckpt, **kw).fit(path)
        monkeypatch.setattr(Checkpointer, "callback", original)
        resumed = MixedTypeMixture(checkpoint=ckpt, **kw).fit(path)
    for a, b in zip(_arrays(resumed), _arrays(whole)):
        assert np.array_equal(a, b)
    assert resumed.lower_bounds_ == whole.lower_bounds_


@pytest.mark.slow
def test_check_estimator_all_gaussian():
    from sklearn.utils.estimator_checks import check_estimator
    expected = {"check_sample_weight_equivalence_on_dense_data":
                "the k-means initialisation draws a different sample from weighted rows "
                "than from repeated rows"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(MixedTypeMixture(2, max_iter=20, random_state=0),
                                  expected_failed_checks=expected, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert not failed, failed
    assert sum(r["status"] == "passed" for r in results) >= 40


# ---- columns by name (DataFrame, Parquet) and the CLI --------------------------------------
NAMES = {"gaussian": ["g0", "g1"], "categorical": ["cat"], "poisson": ["count"],
         "bernoulli": ["flag"]}


def _frame(n=2000):
    """The mixed data as a DataFrame with float and int columns (names not in index order
    of the blocks)."""
    pd = pytest.importorskip("pandas")
    X, _, _ = _mixed_data(n)
    df = pd.DataFrame({"g0": X[:, 0], "g1": X[:, 1], "cat": X[:, 2].astype(np.int64),
                       "count": X[:, 3].astype(np.int32), "flag": X[:, 4]})
    return X, df


def test_column_names_give_the_model_of_indices_bit_identical(tmp_path):
    X, df = _frame()
    kw = dict(random_state=0, max_iter=10, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MixedTypeMixture(3, columns=COLUMNS, **kw).fit(X)
        b = MixedTypeMixture(3, columns=NAMES, **kw).fit(df)
        mixed = {"gaussian": ["g0", 1], "categorical": [2], "poisson": "count",
                 "bernoulli": ["flag"]}
        c = MixedTypeMixture(3, columns=mixed, **kw).fit(df)
    for m in (b, c):
        assert np.array_equal(m.weights_, a.weights_)
        for name in COLUMNS:
            assert m.blocks_[name].columns == COLUMNS[name]
        assert np.array_equal(m.blocks_["gaussian"].means_, a.blocks_["gaussian"].means_)
        assert np.array_equal(m.lower_bounds_, a.lower_bounds_)
    assert list(b.feature_names_in_) == ["g0", "g1", "cat", "count", "flag"]
    assert b.get_params()["columns"] is NAMES                  # the parameter is untouched
    assert np.array_equal(b.predict_proba(df), a.predict_proba(X))
    path = str(tmp_path / "m.npz")
    b.save(path)
    loaded = fastem.load(path)
    assert list(loaded.feature_names_in_) == list(b.feature_names_in_)
    assert np.array_equal(loaded.predict(df), b.predict(df))


def test_parquet_with_float_and_int_columns_equals_in_memory(tmp_path):
    pytest.importorskip("pyarrow")
    X, df = _frame()
    path = str(tmp_path / "mixed.parquet")
    df.to_parquet(path)
    kw = dict(random_state=0, max_iter=10, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MixedTypeMixture(3, columns=COLUMNS, **kw).fit(X)
        b = MixedTypeMixture(3, columns=NAMES, chunk_size=700, **kw).fit(path)
    _close(b.weights_, a.weights_, 1e-10)
    for name, field in (("gaussian", "means_"), ("gaussian", "covariances_"),
                        ("poisson", "means_"), ("bernoulli", "means_")):
        _close(getattr(b.blocks_[name], field), getattr(a.blocks_[name], field), 1e-10)
    _close(b.blocks_["categorical"].probabilities_[0],
           a.blocks_["categorical"].probabilities_[0], 1e-10)
    _close(b.lower_bounds_, a.lower_bounds_, 1e-10)
    np.testing.assert_allclose(b.predict_proba(path), a.predict_proba(X), rtol=0,
                               atol=1e-10)


def test_column_name_errors_name_the_column():
    X, df = _frame(200)
    with pytest.raises(ValueError, match=r"columns\['bernoulli'\] names the column 'flg', "
                                         r"which the data does not have; its columns are "
                                         r"\['g0', 'g1', 'cat', 'count', 'flag'\]"):
        MixedTypeMixture(2, columns={**NAMES, "bernoulli": ["flg"]}).fit(df)
    with pytest.raises(ValueError, match=r"Column 2 \('cat'\) is given to two families, "
                                         r"'gaussian' and 'categorical'"):
        MixedTypeMixture(2, columns={**NAMES, "gaussian": ["g0", "g1", "cat"]}).fit(df)
    with pytest.raises(ValueError, match=r"Column 4 \('flag'\) has no family"):
        MixedTypeMixture(2, columns={k: v for k, v in NAMES.items()
                                     if k != "bernoulli"}).fit(df)
    with pytest.raises(ValueError, match=r"Column 3 is given to two families, 'gaussian' "
                                         r"and 'poisson'"):
        MixedTypeMixture(2, columns={**COLUMNS, "gaussian": [0, 1, 3]}).fit(X)
    with pytest.raises(ValueError, match=r"columns\['poisson'\] holds 9, which is not a "
                                         r"column of the data \(0 \.\. 4"):
        MixedTypeMixture(2, columns={**COLUMNS, "poisson": [3, 9]}).fit(X)
    with pytest.raises(ValueError, match=r"the data has no column names \(ndarray\)"):
        MixedTypeMixture(2, columns=NAMES).fit(X)


def test_cli_fit_info_predict_with_blocks(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    from fastem.cli import main
    from fastem.commands import parse_blocks
    X, df = _frame()
    data, model = str(tmp_path / "d.parquet"), str(tmp_path / "m.npz")
    df.to_parquet(data)
    blocks = "gaussian=g0,g1; categorical=cat;poisson=3;bernoulli=flag"
    assert parse_blocks(blocks) == {**NAMES, "poisson": [3]}
    assert main(["fit", data, "--family", "mixed", "--blocks", blocks, "-k", "3", "-o", model,
                 "-q", "--random-state", "0", "--max-iter", "10", "--tol", "0"]) == 0
    assert "5 features; 3 components (mixed)" in capsys.readouterr().out
    loaded = fastem.load(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_model = MixedTypeMixture(3, columns=COLUMNS, random_state=0, max_iter=10,
                                     tol=0.0).fit(X)
    _close(loaded.weights_, ref_model.weights_, 1e-10)
    assert main(["info", model]) == 0
    assert "MixedTypeMixture, 3 components, 5 features" in capsys.readouterr().out
    labels = str(tmp_path / "labels.npy")
    assert main(["predict", model, data, "-o", labels]) == 0
    assert np.array_equal(np.load(labels), ref_model.predict(X))
    capsys.readouterr()
    for bad, msg in (("gaussian=g0,g1;categorical", "'categorical' is not FAMILY=COL,COL"),
                     ("gaussian=g0;gaussian=g1", "names the family 'gaussian' twice"),
                     (blocks.replace("flag", "flagg"), "names the column 'flagg'")):
        assert main(["fit", data, "--family", "mixed", "--blocks", bad, "-k", "3", "-o",
                     model, "-q"]) == 1
        assert msg in capsys.readouterr().err
    assert main(["fit", data, "--family", "poisson", "--blocks", blocks, "-k", "3", "-o",
                 model, "-q"]) == 1
    assert "--blocks is for --family mixed" in capsys.readouterr().err


# ---- inference through the fused per-row kernel ---------------------------------------------
def test_inference_runs_the_fused_kernel_and_equals_the_numpy_e_step():
    from fastem.families.categorical import linexp_e_step as numpy_e_step
    X, _, _ = _mixed_data(5000, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MixedTypeMixture(3, columns=COLUMNS, random_state=0, max_iter=15,
                             chunk_size=1500).fit(X)
    fam = m._fitted_family()
    kargs = fam.kernel_args(m._params_from_attributes())
    lpn, lab, rsp = numpy_e_step(fam.log_prob_block, X, kargs, True, True)
    _close(m.score_samples(X), lpn)
    # the kernel flushes terms below exp(-CUTOFF) to exactly 0 (as every fastem E-step)
    np.testing.assert_allclose(m.predict_proba(X), rsp, rtol=0, atol=1e-12)
    assert np.array_equal(m.predict(X), lab)
    _close(m.score(X), lpn.mean())
    f_lpn, f_lab, f_rsp = fam.e_step_outputs(X[:700], kargs, labels=True, resp=True)
    assert np.array_equal(f_lab, lab[:700]) and f_rsp.shape == (700, 3)
    assert fam.e_step_outputs(X[:5], kargs)[2] is None     # no (n, K) array unless asked


def test_one_and_two_threads_are_bit_identical():
    import numba
    X, _, _ = _mixed_data(6000, seed=7)
    out = []
    for threads in (1, 2):
        m = MixedTypeMixture(3, columns=COLUMNS, random_state=0, max_iter=5, tol=0.0,
                             n_threads=threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X)
        m.partial_fit(X[:2000])
        numba.set_num_threads(threads)
        try:
            out.append(_arrays(m) + [m.predict_proba(X), m.score_samples(X)])
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(*out):
        assert np.array_equal(a, b)


# ---- the student_t block ---------------------------------------------------------------------
def _t_data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.standard_t(4, (n // 2, 3)) + 3, rng.standard_t(4, (n // 2, 3)) - 3])


def _t_block_invariant(cov):
    from fastem.families.student import StudentFamily
    X = _t_data()
    sf = StudentFamily(cov, None, 30.0)
    cf = get_family(cov)
    covs = {"full": np.stack([np.eye(3) * 2.0] * 2), "diag": np.full((2, 3), 2.0),
            "tied": np.eye(3) * 2.0, "spherical": np.full(2, 2.0)}[cov]
    sp = sf.from_gaussian(GaussianParams(np.array([0.4, 0.6]), X[[0, 2000]].copy(), covs,
                                         cf.precision_cholesky(covs)[0]))
    a = _run(sf, sp, X, 1e-6)
    mf = MixedFamily([["student_t", [0, 1, 2], {"covariance_type": cov}]])
    mp = MixedParams(sp.weights, {"student_t_" + f: getattr(sp, f) for f in
                                  ("means", "covariances", "precisions_cholesky",
                                   "degrees_of_freedom")})
    b = _run(mf, mp, X, 0.0)
    _close(b.params.weights, a.params.weights)
    for f in ("means", "covariances", "degrees_of_freedom"):
        _close(b.params.arrays["student_t_" + f], getattr(a.params, f))
    _close(b.lower_bounds, a.lower_bounds)
    la = sf.e_step_outputs(X, sf.kernel_args(a.params), labels=True, resp=True)
    lb = mf.e_step_outputs(X, mf.kernel_args(b.params), labels=True, resp=True)
    _close(lb[0], la[0])
    np.testing.assert_allclose(lb[2], la[2], rtol=0, atol=1e-12)
    assert np.array_equal(lb[1], la[1])


def test_single_student_t_block_is_the_student_family_and_estimator():
    _t_block_invariant("full")
    X = _t_data()
    kw = dict(max_iter=30, tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = fastem.StudentMixture(2, **kw).fit(X)
        mixed = MixedTypeMixture(2, columns={"student_t": [0, 1, 2]}, **kw).fit(X)
    t = mixed.blocks_["student_t"]
    _close(mixed.weights_, one.weights_)
    _close(t.means_, one.means_)
    _close(t.covariances_, one.covariances_)
    _close(t.degrees_of_freedom_, one.degrees_of_freedom_)
    _close(mixed.score_samples(X), one.score_samples(X))
    assert mixed.bic(X) == pytest.approx(one.bic(X), rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("cov", ["diag", "tied", "spherical"])
def test_single_student_t_block_other_covariance_types(cov):
    _t_block_invariant(cov)


T_COLUMNS = {"gaussian": [0], "student_t": [1, 2], "bernoulli": [3]}


def _gt_data(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(2, size=n, p=[0.4, 0.6])
    X = np.column_stack([rng.normal(size=n) + 4 * y,
                         rng.standard_t(5, (n, 2)) * np.array([1.0, 2.0]) + 5 * y[:, None],
                         (rng.uniform(size=n) < 0.2 + 0.6 * y)])
    return X, y


def test_mixed_model_with_a_student_t_block_matches_a_numpy_reference():
    from tests import reference_student as rs
    X, y = _gt_data(6000, seed=1)
    kw = dict(columns=T_COLUMNS, random_state=0, block_params={"student_t": {
        "degrees_of_freedom": 5.0, "covariance_type": "full"}})
    m = MixedTypeMixture(2, max_iter=200, tol=1e-8, **kw).fit(X)
    assert (np.diff(m.lower_bounds_) >= -1e-12).all()     # fixed nu: EM never goes down
    g, t, b = (m.blocks_[k] for k in ("gaussian", "student_t", "bernoulli"))
    logp = (ref.diag_gaussian_log_prob(X[:, [0]], m.weights_, g.means_, g.covariances_)
            + np.stack([rs.log_t(X[:, 1:3], t.means_[j], t.covariances_[j], 5.0)[0]
                        for j in range(2)], axis=1)
            + ref.bernoulli_log_prob(X[:, [3]], np.ones(2), b.means_))
    np.testing.assert_allclose(m.score_samples(X), np.logaddexp.reduce(logp, axis=1),
                               rtol=1e-10)
    o = np.argsort(t.means_[:, 0])
    np.testing.assert_allclose(m.weights_[o], [0.4, 0.6], atol=0.02)
    np.testing.assert_allclose(t.means_[o], [[0, 0], [5, 5]], atol=0.1)
    np.testing.assert_allclose(t.covariances_[o][:, [0, 1], [0, 1]], [[1, 4], [1, 4]],
                               rtol=0.1)
    assert (m.predict(X) == (y if o[0] == 0 else 1 - y)).mean() > 0.98
    # online EM on every block (the t block's moments reshifted with the gaussian's)
    p = MixedTypeMixture(2, **kw)
    for i in range(0, 6000, 1000):
        p.partial_fit(X[i:i + 1000])
    one_pass = MixedTypeMixture(2, algorithm="online", chunk_size=1000, **kw).fit(X)
    for a_, b_ in zip(_arrays(one_pass), _arrays(p)):
        np.testing.assert_allclose(a_, b_, rtol=1e-12)
    assert p.score(X) > m.score(X) - 0.05


def test_student_t_block_save_load_and_sample(tmp_path):
    X, _ = _gt_data(2000, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MixedTypeMixture(2, columns=T_COLUMNS, random_state=0, max_iter=10).fit(X)
    path = str(tmp_path / "t.npz")
    m.save(path)
    loaded = fastem.load(path)
    assert np.array_equal(loaded.predict_proba(X), m.predict_proba(X))
    assert np.array_equal(loaded.blocks_["student_t"].degrees_of_freedom_,
                          m.blocks_["student_t"].degrees_of_freedom_)
    S, labels = m.sample(4000)
    assert S.shape == (4000, 4) and set(np.unique(S[:, 3])) <= {0.0, 1.0}
    t = m.blocks_["student_t"]
    for j in range(2):
        np.testing.assert_allclose(np.median(S[labels == j, 1:3], axis=0), t.means_[j],
                                   atol=0.25)


# ---- initialisation of categorical columns from one-hot codes --------------------------------
def test_kmeans_init_sees_categorical_codes_one_hot():
    from fastem.families.mixed_init import OneHotView
    rng = np.random.default_rng(3)
    n = 4000
    y = rng.integers(0, 2, n)
    # cluster 0: codes 0 or 4 (mean 2 as numbers), cluster 1: always code 2
    codes = np.where(y[:, None] == 0, rng.choice([0, 4], size=(n, 3)), 2)
    X = np.column_stack([rng.normal(size=n), codes]).astype(float)
    cols = {"gaussian": [0], "categorical": [1, 2, 3]}
    m = MixedTypeMixture(2, columns=cols, random_state=0)
    fam = m._make_family(4, ArraySource(X))
    view = OneHotView(ArraySource(X, chunk_size=1000), [1, 2, 3], [5, 5, 5])
    V = np.concatenate([c.X for c in view.chunks()])
    assert V.shape == (n, 1 + 15) and np.array_equal(view.inverse(V), X)
    start = m._initialize(ArraySource(X), fam, np.random.default_rng(0))
    p = start.arrays["categorical_probabilities"]         # (K, 3 * 5); code 2 at 2, 7, 12
    only_two = p[:, [2, 7, 12]].min(axis=1)
    assert only_two.max() > 0.85 and only_two.min() < 0.1, p.round(2)


def test_chunk_longer_than_t_rows_is_built_in_blocks():
    """An in-memory array is one chunk; its T(x) is built T_ROWS rows at a time, with the
    result of a fit in small chunks."""
    from fastem.families.mixed import T_ROWS
    rng = np.random.default_rng(7)
    n = T_ROWS + 4321
    y = rng.integers(0, 2, n)
    X = np.column_stack([rng.normal(3.0 * y, 1.0), np.where(y == 0, 0, rng.integers(0, 3, n)),
                         rng.poisson(1.0 + 4.0 * y)]).astype(float)
    cols = {"gaussian": [0], "categorical": [1], "poisson": [2]}
    kw = dict(columns=cols, random_state=0, max_iter=5, tol=0.0, init_params="random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = MixedTypeMixture(2, **kw).fit(X)
        chunked = MixedTypeMixture(2, chunk_size=5000, **kw).fit(X)
    np.testing.assert_allclose(whole.lower_bounds_, chunked.lower_bounds_, rtol=1e-11)
    np.testing.assert_allclose(whole.weights_, chunked.weights_, rtol=1e-10)
    lp = whole.score_samples(X)
    assert lp.shape == (n,)
    np.testing.assert_allclose(lp, chunked.score_samples(X), rtol=1e-11)
    np.testing.assert_array_equal(whole.predict_proba(X).argmax(axis=1), whole.predict(X))
