"""GaussianMixtureSelection: every cell equals its own fit, passes are shared, failures are
reported, ICL matches a direct computation, threads do not matter, and the CLI works."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from fastem import FitError, GaussianMixture, GaussianMixtureSelection
from fastem.selection import COLUMNS

from .conftest import make_blobs

TYPES = ("full", "tied", "diag", "spherical")
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _fit_single(X, k, cov, sample_weight=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(n_components=k, covariance_type=cov, **kw).fit(
            X, sample_weight=sample_weight)


def _close(a, b, rtol=1e-12):
    return abs(a - b) <= rtol * max(1.0, abs(a), abs(b))


def _row(sel, k, cov):
    return next(r for r in sel.table_ if r["n_components"] == k
                and r["covariance_type"] == cov)


def _check_cells(sel, X, data, sample_weight=None, **kw):
    """Every candidate is the individual fit (1e-12), and its criteria are the fit's."""
    assert len(sel.table_) == len(sel.estimators_)
    for (k, cov), gm in sel.estimators_.items():
        ref = _fit_single(data, k, cov, sample_weight=sample_weight,
                          random_state=sel.random_state_, **kw)
        for name in FITTED:
            np.testing.assert_allclose(getattr(gm, name), getattr(ref, name), rtol=1e-12,
                                       atol=1e-12, err_msg=f"{name} of k={k} {cov}")
        assert (gm.n_iter_, gm.converged_) == (ref.n_iter_, ref.converged_)
        np.testing.assert_allclose(gm.lower_bounds_, ref.lower_bounds_, rtol=1e-12)
        row = _row(sel, k, cov)
        assert row["n_iter"] == ref.n_iter_ and row["converged"] == ref.converged_
        assert _close(row["lower_bound"], ref.lower_bound_)
        assert _close(row["bic"], ref.bic(X, sample_weight=sample_weight)), (k, cov)
        assert _close(row["aic"], ref.aic(X, sample_weight=sample_weight)), (k, cov)
        assert row["n_parameters"] == ref._n_parameters()
        # The fitted model's sampler is seeded as the single fit's.
        np.testing.assert_array_equal(gm.sample(3)[0], ref.sample(3)[0])


@pytest.fixture(autouse=True)
def _one_thread(request):
    """Tiny data: one Numba thread is faster than waking two (the thread test sets its own
    counts through n_threads)."""
    import numba
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(old)


@pytest.fixture(scope="module")
def X():
    return make_blobs(n=900, d=3, k=2, seed=3)[0]


def test_each_cell_equals_individual_fit_in_memory(X):
    sel = GaussianMixtureSelection(range(1, 4), covariance_types=TYPES, random_state=7,
                                   max_iter=30).fit(X)
    assert [(r["n_components"], r["covariance_type"]) for r in sel.table_] == \
        [(k, c) for k in (1, 2, 3) for c in TYPES]
    _check_cells(sel, X, X, max_iter=30)
    bics = sel.table_["bic"]
    assert sel.best_index_ == int(np.argmin(bics))
    assert sel.best_params_ == {"n_components": int(sel.table_["n_components"][sel.best_index_]),
                                "covariance_type": sel.table_["covariance_type"][sel.best_index_]}
    assert sel.best_estimator_ is sel.estimators_[tuple(sel.best_params_.values())]


def test_each_cell_equals_individual_fit_from_npy_in_chunks(X, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    sel = GaussianMixtureSelection([1, 3], covariance_types=("full", "diag"),
                                   random_state=1, chunk_size=200, max_iter=30).fit(str(path))
    _check_cells(sel, X, str(path), chunk_size=200, max_iter=30)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_weighted_and_other_inits_equal_individual_fits(X):
    w = np.random.default_rng(0).uniform(0.0, 3.0, X.shape[0])
    for init in ("k-means++", "random", "random_from_data"):
        sel = GaussianMixtureSelection([3], covariance_types=("tied", "spherical"),
                                       init_params=init, n_init=2, random_state=5,
                                       max_iter=8).fit(X, sample_weight=w)
        _check_cells(sel, X, X, sample_weight=w, init_params=init, n_init=2, max_iter=8)


class _Counting:
    """A re-iterable chunk callable that counts the passes made over it."""

    def __init__(self, X, rows):
        self.X, self.rows, self.passes = X, rows, 0

    def __call__(self):
        self.passes += 1
        return (self.X[a:a + self.rows] for a in range(0, len(self.X), self.rows))


def test_passes_are_the_longest_single_fit_plus_one(X):
    kw = dict(random_state=2, max_iter=40, n_init=2)
    types = ("full", "tied", "spherical")
    stream = _Counting(X, 256)
    sel = GaussianMixtureSelection(range(1, 4), covariance_types=types, **kw).fit(stream)
    single = {}
    for k in range(1, 4):
        for cov in types:
            s = _Counting(X, 256)
            ref = _fit_single(s, k, cov, **kw)
            single[(k, cov)] = s.passes
            gm = sel.estimators_[(k, cov)]
            assert gm.n_iter_ == ref.n_iter_
            for name in FITTED:
                np.testing.assert_allclose(getattr(gm, name), getattr(ref, name),
                                           rtol=1e-12, atol=1e-12)
    # Every pass, including the initialisation's sample and Lloyd passes, is counted.
    assert stream.passes == sel.n_passes_
    assert sel.n_passes_ <= max(single.values()) + 1
    assert sel.n_passes_ < sum(single.values()) / 3


def _four_points():
    base = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    return np.repeat(base, 30, axis=0) + np.random.default_rng(0).normal(0, 0.5, (120, 2)) \
        * (np.arange(120) % 30 < 15)[:, None]


def test_failing_candidate_is_reported_and_never_chosen():
    X = _four_points()
    # Half the rows of each cluster are exact copies: k=8 with reg_covar=0 puts some
    # component on copies only (a singular covariance); k=200 exceeds the rows.
    sel = GaussianMixtureSelection([1, 4, 8, 200], covariance_types=("full",), reg_covar=0.0,
                                   random_state=0, max_iter=50).fit(X)
    rows = {r["n_components"]: r for r in sel.table_}
    assert rows[200]["error"].startswith("ValueError: Expected n_samples >= n_components")
    assert math.isnan(rows[200]["bic"]) and rows[200]["n_iter"] is None
    failed = [k for k, r in rows.items() if r["error"]]
    assert 8 in failed, sel.table_
    assert "singular covariance" in rows[8]["error"]
    with pytest.raises(FitError, match="singular covariance"):
        _fit_single(X, 8, "full", reg_covar=0.0, random_state=0, max_iter=50)
    assert sel.best_params_["n_components"] not in failed
    assert rows[4]["error"] is None
    assert "error" in str(sel.table_) and "singular" in str(sel.table_)
    assert set(sel.estimators_) == {(k, "full") for k in rows if k not in failed}


def test_all_candidates_failing_raises_with_each_error():
    X = _four_points()[:5]
    with pytest.raises(FitError, match=r"Every candidate .* k=6 full: ValueError"):
        GaussianMixtureSelection([6, 7], covariance_types="full").fit(X)


def test_icl_against_direct_computation_from_predict_proba(X):
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    for weights in (None, w):
        sel = GaussianMixtureSelection([1, 2, 4], covariance_types=("full", "diag"),
                                       criterion="icl", random_state=0).fit(
                                           X, sample_weight=weights)
        ww = np.ones(X.shape[0]) if weights is None else weights
        for (k, cov), gm in sel.estimators_.items():
            resp = gm.predict_proba(X)
            loglik = float(ww @ gm.score_samples(X))
            n = ww.sum()
            bic = -2 * loglik + gm._n_parameters() * np.log(n)
            icl = bic - 2 * float(ww @ np.log(resp.max(axis=1)))
            row = _row(sel, k, cov)
            assert _close(row["bic"], bic, 1e-10) and _close(row["icl"], icl, 1e-10)
            assert row["icl"] >= row["bic"]
        assert sel.best_index_ == int(np.argmin(sel.table_["icl"]))


def test_one_and_two_threads_identical(X):
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.fail("this test needs NUMBA_NUM_THREADS >= 2")
    runs = [GaussianMixtureSelection(range(1, 4), covariance_types=("full", "spherical"),
                                     random_state=0, n_threads=t).fit(X) for t in (1, 2)]
    a, b = runs
    for col in COLUMNS:
        if col != "seconds":
            np.testing.assert_array_equal(a.table_[col], b.table_[col], err_msg=col)
    for key, gm in a.estimators_.items():
        for name in FITTED:
            np.testing.assert_array_equal(getattr(gm, name), getattr(b.estimators_[key], name))
    from fastem import BernoulliMixture, MixtureSelection
    D = _binary(2000)
    a, b = (MixtureSelection(BernoulliMixture(random_state=0), [1, 2, 3], n_threads=t).fit(D)
            for t in (1, 2))
    np.testing.assert_array_equal(a.table_["bic"], b.table_["bic"])
    for k, est in a.estimators_.items():
        np.testing.assert_array_equal(est.means_, b.estimators_[k].means_)


def test_table_frame_printing_delegation_and_plot(X, tmp_path):
    sel = GaussianMixtureSelection([1, 2], covariance_types=("full", "diag"),
                                   random_state=0).fit(X)
    frame = sel.to_frame()
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 4
    assert frame["bic"].tolist() == list(sel.table_["bic"])
    text = str(sel.table_)
    assert text.splitlines()[0].split() == [c for c in COLUMNS if c != "error"]
    assert sum(line.startswith("*") for line in text.splitlines()) == 1
    best = sel.best_estimator_
    np.testing.assert_array_equal(sel.predict(X), best.predict(X))
    np.testing.assert_array_equal(sel.predict_proba(X), best.predict_proba(X))
    np.testing.assert_array_equal(sel.score_samples(X), best.score_samples(X))
    assert sel.score(X) == best.score(X)
    assert sel.sample(4)[0].shape == (4, X.shape[1])
    import matplotlib
    matplotlib.use("Agg")
    from fastem.plot import plot_selection
    ax = plot_selection(sel)
    assert len(ax.get_lines()) == 2
    import matplotlib.pyplot as plt
    plt.close("all")


def test_random_state_none_and_generator_record_the_seed_used(X):
    sel = GaussianMixtureSelection(2, covariance_types="tied",
                                   random_state=np.random.default_rng(3)).fit(X)
    assert isinstance(sel.random_state_, int)
    _check_cells(sel, X, X)
    sel2 = GaussianMixtureSelection(2, covariance_types="tied").fit(X)
    assert isinstance(sel2.random_state_, int)


@pytest.mark.parametrize("kw, match", [
    ({"n_components": [0, 2]}, "'n_components' parameter .* Got \\[0, 2\\]"),
    ({"covariance_types": ["full", "bogus"]}, "'covariance_types' parameter .* 'bogus'"),
    ({"criterion": "mdl"}, "'criterion' parameter .* Got 'mdl'"),
    ({"checkpoint": 3}, "'checkpoint' parameter"),
])
def test_parameter_errors_name_the_value(X, kw, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixtureSelection(**kw).fit(X)


def test_unfitted_selection_says_so():
    from fastem import NotFittedError
    with pytest.raises(NotFittedError, match="not fitted yet"):
        GaussianMixtureSelection().predict(np.zeros((2, 2)))


def test_cli_select_prints_table_saves_best_and_plots(X, tmp_path, capsys):
    from fastem import load
    from fastem.cli import main
    data, model, png = tmp_path / "X.npy", tmp_path / "best.npz", tmp_path / "sel.png"
    np.save(data, X)
    code = main(["select", str(data), "-k", "1-3", "--covariance-types", "full,diag",
                 "--criterion", "bic", "--random-state", "0", "-o", str(model),
                 "--plot", str(png), "-q"])
    out = capsys.readouterr().out
    assert code == 0
    assert "6 candidates" in out and "best by BIC" in out and "Wrote" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sel = GaussianMixtureSelection(range(1, 4), covariance_types=("full", "diag"),
                                   random_state=0).fit(str(data))
    gm = load(model)
    assert (gm.n_components, gm.covariance_type) == tuple(sel.best_params_.values())
    np.testing.assert_array_equal(gm.means_, sel.best_estimator_.means_)


def test_cli_select_rejects_bad_k(tmp_path, capsys):
    from fastem.cli import main
    with pytest.raises(SystemExit):
        main(["select", "X.npy", "-k", "a-b"])
    assert "-k must be a range like '1-9'" in capsys.readouterr().err


@pytest.mark.slow
def test_real_sized_sweep_equals_cells_and_shares_passes(tmp_path):
    X = make_blobs(n=200_000, d=8, k=4, seed=0)[0]
    path = tmp_path / "big.npy"
    np.save(path, X)
    stream = _Counting(X, 50_000)
    sel = GaussianMixtureSelection(range(1, 6), random_state=0).fit(stream)
    _check_cells(sel, X, _Counting(X, 50_000))


def test_mixture_selection_bernoulli_cells_equal_single_fits():
    from fastem.estimators.bernoulli import BernoulliMixture
    from fastem import MixtureSelection
    rng = np.random.default_rng(0)
    protos = np.array([[0.9, 0.9, 0.1, 0.1, 0.5, 0.2], [0.1, 0.2, 0.9, 0.8, 0.5, 0.7]])
    X = (rng.random((600, 6)) < protos[rng.integers(0, 2, 600)]).astype(np.float64)
    base = BernoulliMixture(n_init=2, random_state=4, chunk_size=256)
    sel = MixtureSelection(base, [1, 2, 3, 700], criterion="icl").fit(X)
    assert sel.table_["covariance_type"][0] == "bernoulli"
    assert sel.table_[3]["error"].startswith("ValueError: Expected n_samples")
    for k, gm in sel.estimators_.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = BernoulliMixture(k, n_init=2, random_state=4, chunk_size=256).fit(X)
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gm.weights_, ref.weights_, rtol=1e-12, atol=1e-12)
        assert gm.n_iter_ == ref.n_iter_
        row = sel.table_[[1, 2, 3].index(k)]
        assert _close(row["bic"], ref.bic(X), 1e-10)
        icl = ref.bic(X) - 2 * np.log(ref.predict_proba(X).max(axis=1)).sum()
        assert _close(row["icl"], icl, 1e-10)
    assert sel.best_params_["n_components"] == 2


def _binary(n=600, seed=0):
    rng = np.random.default_rng(seed)
    protos = np.array([[0.9, 0.9, 0.1, 0.1, 0.5, 0.2], [0.1, 0.2, 0.9, 0.8, 0.5, 0.7]])
    return (rng.random((n, 6)) < protos[rng.integers(0, 2, n)]).astype(np.float64)


def _check_family_cells(sel, make, data):
    """Every candidate of a non-Gaussian sweep is ``make(k).fit(data)`` (1e-12)."""
    for k, est in sel.estimators_.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = make(k).fit(data)
        for name, value in vars(ref).items():
            if name.endswith("_") and not name.startswith("_") and name != "lower_bounds_":
                np.testing.assert_allclose(np.asarray(getattr(est, name), dtype=float),
                                           np.asarray(value, dtype=float), rtol=1e-12,
                                           atol=1e-12, err_msg=f"{name} of k={k}")
        np.testing.assert_allclose(est.lower_bounds_, ref.lower_bounds_, rtol=1e-12)
        assert (est.n_iter_, est.converged_) == (ref.n_iter_, ref.converged_)
        np.testing.assert_array_equal(est.sample(3)[0], ref.sample(3)[0])
        row = next(r for r in sel.table_ if r["n_components"] == k)
        assert row["n_parameters"] == ref._n_parameters()


def test_non_gaussian_sweep_shares_passes_and_equals_single_fits():
    from fastem import BernoulliMixture, MixtureSelection
    X = _binary()
    kw = dict(n_init=2, random_state=4, max_iter=40)
    stream = _Counting(X, 128)
    sel = MixtureSelection(BernoulliMixture(**kw), range(1, 5)).fit(stream)
    single = {}
    for k in range(1, 5):
        s = _Counting(X, 128)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            BernoulliMixture(k, **kw).fit(s)
        single[k] = s.passes
    _check_family_cells(sel, lambda k: BernoulliMixture(k, **kw), _Counting(X, 128))
    for row in sel.table_:
        ref = sel.estimators_[row["n_components"]]
        assert _close(row["bic"], ref.bic(X)) and _close(row["aic"], ref.aic(X))
    # The reservoir sample, Lloyd and label passes, every EM iteration: all shared.
    assert stream.passes == sel.n_passes_
    assert sel.n_passes_ <= max(single.values()) + 1
    assert sel.n_passes_ < sum(single.values()) / 2


def test_non_gaussian_sweep_other_families_inits_and_weights():
    from fastem import CategoricalMixture, MixtureSelection, PoissonMixture
    rng = np.random.default_rng(1)
    z = rng.integers(0, 2, 500)
    # int64 counts, as test_poisson uses (no extra kernel specialisation)
    counts = rng.poisson(np.where(z[:, None] == 0, [1.0, 6.0, 2.0], [5.0, 1.0, 3.0]))
    w = rng.uniform(0.5, 2.0, 500)
    for init in ("random", "k-means++"):
        kw = dict(init_params=init, random_state=3, max_iter=30)
        sel = MixtureSelection(PoissonMixture(**kw), [1, 2, 3]).fit(
            counts.astype(np.int64), sample_weight=w)
        for k, est in sel.estimators_.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = PoissonMixture(k, **kw).fit(counts.astype(np.int64), sample_weight=w)
            np.testing.assert_allclose(est.means_, ref.means_, rtol=1e-12, atol=1e-12)
            assert est.n_iter_ == ref.n_iter_
            row = next(r for r in sel.table_ if r["n_components"] == k)
            lp = ref.score_samples(counts.astype(np.int64))
            bic = -2 * w @ lp + ref._n_parameters() * np.log(w.sum())
            assert _close(row["bic"], bic, 1e-10)
    # Categorical: its family reads the data once to count the categories (counted too).
    cats = np.minimum(counts, 4).astype(np.int64)
    stream = _Counting(cats, 100)
    sel = MixtureSelection(CategoricalMixture(random_state=0, max_iter=30), [1, 2, 3]).fit(
        stream)
    assert stream.passes == sel.n_passes_
    _check_family_cells(sel, lambda k: CategoricalMixture(k, random_state=0, max_iter=30),
                        cats)
    # In memory (the sample taken by index, not by a reservoir), rows nearest sampled codes:
    # the lockstep sees the codes one-hot, as each single fit's initialisation does.
    kw = dict(init_params="random_from_data", random_state=1, max_iter=30)
    from fastem.estimators.selection import _lockstep_eligible
    assert _lockstep_eligible(CategoricalMixture(**kw), cats)
    sel = MixtureSelection(CategoricalMixture(**kw), [1, 2, 3]).fit(cats)
    _check_family_cells(sel, lambda k: CategoricalMixture(k, **kw), cats)


def test_non_gaussian_sweep_refuses_init_arrays_and_falls_back_for_student(X):
    from fastem import BernoulliMixture, MixtureSelection, StudentMixture
    with pytest.raises(ValueError, match="weights_init"):
        MixtureSelection(BernoulliMixture(weights_init=[0.5, 0.5]), [1, 2]).fit(_binary())
    # StudentMixture initialises its own way: fitted one by one, still each its own fit.
    sel = MixtureSelection(StudentMixture(random_state=0, max_iter=5), [1, 2]).fit(X)
    assert sel.n_passes_ > 0 and set(sel.estimators_) == {1, 2}


class _Killed(Exception):
    pass


def _kill_after(monkeypatch, passes):
    """Make the lockstep driver's ``passes + 1``-th read raise (the sweep is killed)."""
    import fastem.selection.lockstep as lockstep
    real, count = lockstep.pass_chunks, [0]

    def reading(source):
        count[0] += 1
        if count[0] > passes:
            raise _Killed(f"killed before pass {count[0]}")
        return real(source)
    monkeypatch.setattr(lockstep, "pass_chunks", reading)
    return monkeypatch.undo


@pytest.mark.filterwarnings("ignore::fastem.exceptions.ConvergenceWarning")
def test_killed_sweep_resumes_from_its_checkpoint(X, tmp_path, monkeypatch):
    kw = dict(covariance_types=("full", "diag"), random_state=3, n_init=2, max_iter=12,
              tol=1e-5)
    whole = GaussianMixtureSelection(range(1, 4), **kw).fit(X)
    ckpt = tmp_path / "sweep"
    undo = _kill_after(monkeypatch, 5)
    with pytest.raises(_Killed):
        GaussianMixtureSelection(range(1, 4), checkpoint=ckpt, **kw).fit(X)
    undo()
    assert sorted(p.name for p in ckpt.iterdir()) == sorted(
        f"k{k}-{c}.ckpt" for k in (1, 2, 3) for c in ("full", "diag"))
    resumed = GaussianMixtureSelection(range(1, 4), checkpoint=ckpt, **kw).fit(X)
    np.testing.assert_array_equal(resumed.table_["bic"], whole.table_["bic"])
    for key, gm in whole.estimators_.items():
        other = resumed.estimators_[key]
        for name in FITTED:
            np.testing.assert_array_equal(getattr(other, name), getattr(gm, name))
        assert other.lower_bounds_ == gm.lower_bounds_
        np.testing.assert_array_equal(other.sample(3)[0], gm.sample(3)[0])
    assert resumed.n_passes_ <= whole.n_passes_ - 5 + 1
    # A candidate's file is what its own GaussianMixture(checkpoint=...) fit reads.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = GaussianMixture(3, covariance_type="diag", random_state=3, n_init=2,
                                 max_iter=12, tol=1e-5,
                                 checkpoint=ckpt / "k3-diag.ckpt").fit(X)
    np.testing.assert_array_equal(single.means_, whole.estimators_[(3, "diag")].means_)


def test_killed_non_gaussian_sweep_resumes(tmp_path, monkeypatch):
    from fastem import BernoulliMixture, MixtureSelection
    X = _binary()
    base = BernoulliMixture(random_state=1, n_init=2, max_iter=15, tol=1e-6)
    whole = MixtureSelection(base, [1, 2, 3]).fit(X)
    undo = _kill_after(monkeypatch, 4)
    with pytest.raises(_Killed):
        MixtureSelection(base, [1, 2, 3], checkpoint=tmp_path / "s").fit(X)
    undo()
    resumed = MixtureSelection(base, [1, 2, 3], checkpoint=tmp_path / "s").fit(X)
    np.testing.assert_array_equal(resumed.table_["bic"], whole.table_["bic"])
    for k, est in whole.estimators_.items():
        np.testing.assert_array_equal(resumed.estimators_[k].means_, est.means_)
    assert resumed.n_passes_ < whole.n_passes_
    with pytest.raises(ValueError, match="another fit"):
        MixtureSelection(BernoulliMixture(random_state=1, n_init=2, max_iter=15, tol=1e-3),
                         [1, 2, 3], checkpoint=tmp_path / "s").fit(X)


def test_sweep_checkpoint_of_other_data_or_settings_is_refused(X, tmp_path):
    ckpt = tmp_path / "sweep"
    kw = dict(covariance_types="diag", random_state=0, max_iter=5)
    GaussianMixtureSelection([1, 2], checkpoint=ckpt, **kw).fit(X)
    with pytest.raises(ValueError, match="other data"):
        GaussianMixtureSelection([1, 2], checkpoint=ckpt, **kw).fit(X + 1.0)
    with pytest.raises(ValueError, match="another fit"):
        GaussianMixtureSelection([1, 2], checkpoint=ckpt, tol=1e-2, **kw).fit(X)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="directory"):
        GaussianMixtureSelection([1], checkpoint=tmp_path / "file", **kw).fit(X)


def test_mixture_selection_of_a_gaussian_is_the_gaussian_sweep(X):
    from fastem import MixtureSelection
    a = MixtureSelection(GaussianMixture(covariance_type="diag", random_state=3),
                         range(1, 4)).fit(X)
    b = GaussianMixtureSelection(range(1, 4), covariance_types="diag", random_state=3).fit(X)
    np.testing.assert_array_equal(a.table_["bic"], b.table_["bic"])
    assert a.best_params_ == {"n_components": b.best_params_["n_components"]}
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_progress_prints_one_line_per_pass(X, capsys):
    sel = GaussianMixtureSelection([1, 2], covariance_types="diag", random_state=0,
                                   progress=True).fit(X)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == sel.n_passes_ and err[0].startswith("pass 1: ")
    assert err[-1] == f"pass {sel.n_passes_}: 0 of 2 candidates still running"


class _CountingArray:
    """An array-like whose block reads Dask counts (``__getitem__`` calls)."""

    def __init__(self, X):
        self.X, self.shape, self.dtype, self.ndim, self.reads = X, X.shape, X.dtype, 2, 0

    def __getitem__(self, idx):
        self.reads += 1
        return self.X[idx]


@pytest.mark.slow
@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_dask_sweep_is_one_graph_per_pass_and_equals_dask_fits(X, init):
    import dask
    import dask.array as da
    counted = _CountingArray(X)
    with dask.config.set(scheduler="synchronous"):
        sel = GaussianMixtureSelection([1, 2, 3], covariance_types=("full", "diag"),
                                       random_state=0, init_params=init).fit(
                                           da.from_array(counted, chunks=(300, 3),
                                                         asarray=True))
        single = []
        for (k, cov), gm in sel.estimators_.items():
            c = _CountingArray(X)
            ref = _fit_single(da.from_array(c, chunks=(300, 3), asarray=True), k, cov,
                              random_state=0, init_params=init)
            single.append(c.reads)
            for name in FITTED:
                np.testing.assert_array_equal(getattr(gm, name), getattr(ref, name))
            bic = ref.bic(da.from_array(X, chunks=300))
            assert _close(_row(sel, k, cov)["bic"], bic, 1e-10)
    # 3 blocks per pass: the sweep reads at most one pass more than the longest fit.
    assert counted.reads <= max(single) + 3


def test_weighted_bic_aic_equal_repeated_rows(X):
    gm = _fit_single(X, 2, "full", random_state=0)
    counts = np.random.default_rng(2).integers(0, 4, X.shape[0])
    Xr = np.repeat(X, counts, axis=0)
    w = counts.astype(float)
    assert _close(gm.bic(X, sample_weight=w), gm.bic(Xr), 1e-10)
    assert _close(gm.aic(X, sample_weight=w), gm.aic(Xr), 1e-10)
    assert gm.bic(X, sample_weight=np.ones(X.shape[0])) == pytest.approx(gm.bic(X), rel=1e-12)


def test_failed_sweep_leaves_a_fitted_selection_unchanged(X):
    sel = GaussianMixtureSelection([1, 2], covariance_types="diag", random_state=0).fit(X)
    before = (sel.best_params_, sel.random_state_, sel.n_passes_, str(sel.table_))
    sel.set_params(n_components=[2000], random_state=5)
    with pytest.raises(FitError, match="Every candidate"):
        sel.fit(X)
    assert (sel.best_params_, sel.random_state_, sel.n_passes_, str(sel.table_)) == before


def test_float32_and_fortran_input(X):
    # float32 C-ordered and float64 Fortran-ordered: the kernel specialisations the rest of the
    # default suite compiles anyway (float32 Fortran, one more of each, runs under slow below).
    for variant in (X.astype(np.float32), np.asfortranarray(X)):
        sel = GaussianMixtureSelection([1, 2], covariance_types=("full", "spherical"),
                                       random_state=0).fit(variant)
        _check_cells(sel, variant, variant)


# A rarer dtype and layout behind slow: it compiles more kernel specialisations.
@pytest.mark.slow
def test_float32_fortran_input():
    X32 = np.asfortranarray(make_blobs(n=900, d=3, k=2, seed=3)[0].astype(np.float32))
    sel = GaussianMixtureSelection([1, 2], covariance_types=("full", "spherical"),
                                   random_state=0).fit(X32)
    _check_cells(sel, X32, X32)


def test_dataframe_input(X):
    import pandas as pd
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    sel = GaussianMixtureSelection(2, covariance_types="diag", random_state=0).fit(frame)
    assert list(sel.feature_names_in_) == ["a", "b", "c"]
    assert list(sel.best_estimator_.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(sel.predict(frame), sel.best_estimator_.predict(frame))
