"""Every path speaks the component-family protocol: BernoulliMixture (a non-Gaussian family)
on out-of-core sources, Dask, online EM, checkpoints, save/load, the CLI and the registry.

The in-memory fit is the reference for every other path (it is itself checked against a
NumPy reference EM in tests/test_bernoulli.py).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import fastem
from fastem import BernoulliMixture, ConvergenceWarning, ModelFileError
from fastem.checkpoint import Checkpointer
from fastem.families import get_family
from fastem.families.bernoulli import BernoulliFamily, BernoulliParams
from fastem.families.protocol import ComponentFamily, FieldError
from fastem.families.registry import estimator_for, make_family, registered

from .test_bernoulli import reference_em, start, synthetic

TOL = 1e-10
X, Y, TRUE = synthetic(n=4000, seed=2)
XU = X.astype(np.uint8)
W0, M0 = start()


def _fit(data, sample_weight=None, **kw):
    kw = {"n_components": 3, "max_iter": 15, "tol": 0.0, "weights_init": W0,
          "means_init": M0, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BernoulliMixture(**kw).fit(data, sample_weight=sample_weight)


def _same(a, b, tol=TOL):
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=tol, atol=0)
    np.testing.assert_allclose(a.means_, b.means_, rtol=tol, atol=0)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=tol, atol=0)


@pytest.fixture(scope="module")
def in_memory():
    return _fit(X)


@pytest.fixture
def npy(tmp_path):
    path = str(tmp_path / "x.npy")
    np.save(path, XU)
    return path


# ------------------------------------------------------------------ registry and protocol
def test_registry_rebuilds_every_family_from_its_spec():
    assert {"gaussian", "bernoulli"} <= set(registered())
    for cov in ("full", "tied", "diag", "spherical"):
        fam = get_family(cov)
        assert make_family(fam.spec()) is fam
        assert isinstance(fam, ComponentFamily)
    fam = make_family({"family": "bernoulli"})
    assert isinstance(fam, BernoulliFamily) and fam.spec() == {"family": "bernoulli"}
    assert estimator_for("bernoulli") is BernoulliMixture
    assert estimator_for("gaussian") is fastem.GaussianMixture
    with pytest.raises(ValueError, match="Unknown component family 'nope'"):
        make_family({"family": "nope"})
    with pytest.raises(ValueError, match="family spec"):
        make_family("bernoulli")


def test_params_round_trip_through_arrays_and_bad_arrays_name_the_field(in_memory):
    fam = BernoulliFamily()
    p = in_memory._params_from_attributes()
    arrays = fam.params_to_arrays(p)
    assert set(arrays) == set(fam.fields)
    back = fam.params_from_arrays(arrays)
    for f in fam.fields:
        assert np.array_equal(getattr(back, f), getattr(p, f))
    for field, value in (("means", 1.5), ("complements", 0.0), ("weights", -0.1)):
        bad = dict(arrays)
        bad[field] = arrays[field].copy()
        bad[field].flat[0] = value
        with pytest.raises(FieldError) as info:
            fam.params_from_arrays(bad)
        assert info.value.field == field
    with pytest.raises(FieldError, match="'means'.*shape"):
        fam.params_from_arrays(arrays, n_features=7)
    g = get_family("diag")
    gp = fastem.GaussianMixture(2, covariance_type="diag", random_state=0).fit(
        np.random.default_rng(0).normal(size=(200, 2)))._params()
    assert np.array_equal(g.params_from_arrays(g.params_to_arrays(gp)).means, gp.means)


def test_the_driver_uses_a_familys_own_lower_bound():
    class Halved(BernoulliFamily):
        def lower_bound(self, stats, new, old):
            return 0.5 * stats.loglik / stats.weight_sum

    from fastem.backends import numba as nb
    from fastem.data.sources import ArraySource
    from fastem.em import run_em
    fam = Halved()
    res = run_em(ArraySource(X), fam, BernoulliParams(W0, M0, 1 - M0), stats_fn=nb.em_stats,
                 max_iter=5, tol=0.0, reg_covar=1e-10)
    _, _, ref = reference_em(X, W0, M0, 1e-10, 5)
    np.testing.assert_allclose(res.lower_bounds, 0.5 * np.array(ref), rtol=1e-10)


# ------------------------------------------------------------------ out-of-core sources
def test_npy_in_chunks_equals_in_memory_and_stays_uint8(in_memory, npy):
    from fastem.data import open_source
    src = open_source(npy, chunk_size=700, family=BernoulliFamily())
    assert {c.X.dtype for c in src.chunks()} == {np.dtype(np.uint8)}
    _same(_fit(npy, chunk_size=700), in_memory)
    got = in_memory.predict_proba(npy)
    np.testing.assert_allclose(got, in_memory.predict_proba(X), rtol=1e-12, atol=1e-15)
    assert np.isclose(in_memory.score(npy), in_memory.score(X), rtol=1e-12)


def test_callable_and_hdf5_sources_equal_in_memory(in_memory, tmp_path):
    def blocks():
        for i in range(0, len(XU), 900):
            yield XU[i:i + 900]
    _same(_fit(blocks), in_memory)
    h5py = pytest.importorskip("h5py")
    path = str(tmp_path / "x.h5")
    with h5py.File(path, "w") as f:
        f["X"] = X.astype(bool)
    _same(_fit(path, chunk_size=1000), in_memory)


def test_zarr_and_parquet_sources_equal_in_memory_and_stay_compact(in_memory, tmp_path):
    from fastem.data import open_source
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "x.zarr")
    z = zarr.open(path, mode="w", shape=XU.shape, chunks=(500, XU.shape[1]), dtype="u1")
    z[:] = XU
    _same(_fit(path, chunk_size=800), in_memory)
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    table = pa.table({f"q{j}": X[:, j].astype(bool) for j in range(X.shape[1])})
    ppath = str(tmp_path / "x.parquet")
    pq.write_table(table, ppath, row_group_size=1000)
    src = open_source(ppath, chunk_size=1000, family=BernoulliFamily())
    assert {c.X.dtype for c in src.chunks()} == {np.dtype(bool)}
    _same(_fit(ppath, chunk_size=1000), in_memory)


def test_sample_weight_equals_repeated_rows(npy):
    counts = np.random.default_rng(4).integers(0, 3, len(X))
    weighted = _fit(npy, sample_weight=counts.astype(float), chunk_size=1000)
    repeated = _fit(np.repeat(X, counts, axis=0))
    _same(weighted, repeated, tol=1e-9)


def test_bad_value_names_the_global_row_across_chunks(npy, tmp_path):
    Xb = XU.copy()
    Xb[2345, 4] = 2
    path = str(tmp_path / "bad.npy")
    np.save(path, Xb)
    with pytest.raises(ValueError, match=r"row 2,345, column 4 is 2\..*chunk 3 of"):
        BernoulliMixture(2, chunk_size=700).fit(path)
    model = _fit(npy)
    with pytest.raises(ValueError, match=r"row 2,345, column 4 is 2"):
        model.predict(Xb)
    with pytest.raises(ValueError, match=r"row 2,345, column 4 is 2"):
        model.score(path)


# ------------------------------------------------------------------ Dask
def test_dask_array_equals_in_memory(in_memory):
    dask = pytest.importorskip("dask")
    import dask.array as da
    Xd = da.from_array(XU, chunks=(600, -1))
    with dask.config.set(scheduler="threads"):
        _same(_fit(Xd), in_memory)
        _same(_fit(Xd, backend="numba"), in_memory)
        labels = in_memory.predict(Xd)
        assert isinstance(labels, da.Array)
        assert np.array_equal(labels.compute(), in_memory.predict(X))
        # k-means initialisation on the blocks (sample by index, Lloyd and label passes as
        # tasks), sample weights and the score.
        sw = np.random.default_rng(5).uniform(0.5, 2.0, len(X))
        kw = dict(weights_init=None, means_init=None, init_params="kmeans", random_state=0)
        _same(_fit(Xd, sample_weight=da.from_array(sw, chunks=600), **kw),
              _fit(X, sample_weight=sw, **kw))
        assert np.isclose(in_memory.score(Xd), in_memory.score(X), rtol=1e-12)
        random = _fit(Xd, init_params="random", weights_init=None, means_init=None)
        assert np.isfinite(random.lower_bound_)
        bad = XU.copy()
        bad[1900, 1] = 7
        with pytest.raises(ValueError, match=r"row 1,900, column 1 is 7.*block 3 of"):
            _fit(da.from_array(bad, chunks=(600, -1)))


def test_warm_start_n_init_verbose_progress_and_criteria(npy, capsys):
    model = BernoulliMixture(3, random_state=0, max_iter=300, tol=1e-6, n_init=2,
                             verbose=2, verbose_interval=1).fit(npy)
    out = capsys.readouterr().out
    assert "Initialization 1" in out and "Iteration 1" in out
    again = BernoulliMixture(3, random_state=0, max_iter=300, tol=1e-6, n_init=2).fit(X)
    # uint8 from the file, float64 in memory: two kernel specialisations, and one compiled
    # afresh against one loaded from the cache can round the last bit differently.
    np.testing.assert_allclose(again.means_, model.means_, rtol=1e-10, atol=1e-12)
    model.set_params(warm_start=True, verbose=0, n_init=1)
    model.fit(npy)
    assert model.n_iter_ <= 2 and model.converged_
    assert model.lower_bounds_[0] >= again.lower_bound_ - 1e-12   # it went on from there
    assert np.allclose(model.means_, again.means_, atol=5e-3)
    assert np.isclose(model.bic(npy), model.bic(X), rtol=1e-12)
    assert np.isclose(model.aic(X), -2 * model.score(X) * len(X) + 2 * (3 * 6 + 2))
    labels = BernoulliMixture(3, random_state=0, progress=True).fit_predict(npy)
    assert labels.shape == (len(X),) and set(np.unique(labels)) <= {0, 1, 2}


# ------------------------------------------------------------------ online EM
def test_partial_fit_improves_the_bound_and_online_fit_is_its_pass():
    rng = np.random.default_rng(0)
    Xs, _, _ = synthetic(n=20000, seed=9)
    Xs = Xs[rng.permutation(len(Xs))]
    model = BernoulliMixture(3, init_params="random_from_data", random_state=1)
    first = None
    for i in range(0, len(Xs), 1000):
        model.partial_fit(Xs[i:i + 1000])
        first = model.score(Xs) if first is None else first
    assert model.n_iter_ == 20 and len(model.lower_bounds_) == 20
    assert model.score(Xs) > first + 0.05
    one_pass = BernoulliMixture(3, init_params="random_from_data", random_state=1,
                                algorithm="online", chunk_size=1000).fit(Xs)
    np.testing.assert_allclose(one_pass.means_, model.means_, rtol=1e-12)


def test_partial_fit_after_fit_continues_and_checks_the_chunk(in_memory):
    model = _fit(X)
    before = model.score(X)
    model.partial_fit(X[:1000])
    assert model.n_iter_ == 1 and abs(model.score(X) - before) < 0.05
    with pytest.raises(ValueError, match="row 3, column 0 is 5"):
        bad = XU[:10].copy()
        bad[3, 0] = 5
        model.partial_fit(bad)


# ------------------------------------------------------------------ checkpoint, save/load
def test_checkpoint_resume_is_bit_identical(npy, tmp_path, monkeypatch):
    ckpt = str(tmp_path / "fit.ckpt.npz")
    kw = dict(n_components=3, max_iter=12, tol=0.0, n_init=2, random_state=3,
              chunk_size=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = BernoulliMixture(**kw).fit(npy)
        original = Checkpointer.callback

        def interrupt(self, info):
            original(self, info)
            if info.init == 1 and info.n_iter == 4:
                raise KeyboardInterrupt

        monkeypatch.setattr(Checkpointer, "callback", interrupt)
        with pytest.raises(KeyboardInterrupt):
            BernoulliMixture(checkpoint=ckpt, **kw).fit(npy)
        monkeypatch.setattr(Checkpointer, "callback", original)
        resumed = BernoulliMixture(checkpoint=ckpt, **kw).fit(npy)
    for name in ("weights_", "means_", "_complements"):
        assert np.array_equal(getattr(resumed, name), getattr(whole, name))
    assert resumed.lower_bounds_ == whole.lower_bounds_
    # A tampered checkpoint is refused, naming the field.
    z = dict(np.load(ckpt))
    z["complements"] = z["complements"].copy()
    z["complements"][0, 0] = 1.5
    with open(ckpt, "wb") as f:
        np.savez(f, **z)
    with pytest.raises(ModelFileError, match="invalid 'complements'"):
        BernoulliMixture(checkpoint=ckpt, **kw).fit(npy)


def test_save_load_round_trip_and_bad_files(in_memory, tmp_path):
    path = str(tmp_path / "m.npz")
    in_memory.save(path)
    loaded = fastem.load(path)
    assert type(loaded) is BernoulliMixture
    assert loaded.get_params()["means_init"].tolist() == M0.tolist()
    assert np.array_equal(loaded.predict_proba(X), in_memory.predict_proba(X))
    assert loaded.lower_bounds_ == in_memory.lower_bounds_
    a, b = loaded.sample(5)[0], fastem.load(path).sample(5)[0]
    assert np.array_equal(a, b)
    z = dict(np.load(path))
    for field, value in (("means_", 1.5), ("complements_", np.nan), ("weights_", -1.0)):
        bad = {k: v.copy() for k, v in z.items()}
        bad[field].flat[0] = value
        np.savez(str(tmp_path / "bad.npz"), **bad)
        with pytest.raises(ModelFileError, match=f"invalid '{field}'"):
            fastem.load(str(tmp_path / "bad.npz"))
    bad = {k: v for k, v in z.items() if k != "complements_"}
    np.savez(str(tmp_path / "bad.npz"), **bad)
    with pytest.raises(ModelFileError, match="'complements_'.*missing"):
        fastem.load(str(tmp_path / "bad.npz"))
    header = bytes(z["__header__"]).replace(b'"family": "bernoulli"', b'"family": "nope"')
    np.savez(str(tmp_path / "bad.npz"), **{**z, "__header__": np.frombuffer(header, np.uint8)})
    with pytest.raises(ModelFileError, match="invalid 'spec'.*nope"):
        fastem.load(str(tmp_path / "bad.npz"))


# ------------------------------------------------------------------ initialisation
@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_initialisation_never_locks_a_probability_at_0_or_1(init):
    # Column 5 is 0 for every row of the first component's rows: hard labels see only zeros.
    Xi = X.copy()
    Xi[Y == 0, 5] = 0.0
    model = BernoulliMixture(3, init_params=init, max_iter=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Xi)
    # The documented rule: 0.9 * (smoothed M-step) + 0.1 * the column's frequency.
    p1 = Xi.mean(axis=0)
    assert (model.means_ >= 0.1 * p1 * (1 - 1e-9)).all()
    assert (model._complements >= 0.1 * (1 - p1) * (1 - 1e-9)).all()
    assert model.means_[:, 5].min() > 0.005
    fitted = BernoulliMixture(3, init_params=init, random_state=0, max_iter=200).fit(Xi)
    assert np.isfinite(fitted.lower_bound_)


def test_kmeans_init_recovers_the_components():
    Xk, _, true = synthetic(n=20000, seed=5)
    model = BernoulliMixture(3, random_state=0, tol=1e-7, max_iter=1000).fit(Xk)
    order = [int(np.argmin(np.abs(model.means_ - t).sum(axis=1))) for t in true]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(model.means_[order], true, atol=0.05)


def test_one_and_two_threads_are_bit_identical(npy):
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.fail("this test needs Numba started with at least 2 threads")
    kw = dict(n_components=3, random_state=0, max_iter=8, tol=0.0, chunk_size=1500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = BernoulliMixture(n_threads=1, **kw).fit(npy)
        two = BernoulliMixture(n_threads=2, **kw).fit(npy)
    assert np.array_equal(one.means_, two.means_) and one.lower_bounds_ == two.lower_bounds_
    assert np.array_equal(one.predict_proba(X), two.predict_proba(X))


# ------------------------------------------------------------------ CLI
def _cli(capsys, *args):
    from fastem.cli import main
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_fits_predicts_and_describes_a_bernoulli_model(npy, tmp_path, capsys):
    model = str(tmp_path / "m.npz")
    code, out, err = _cli(capsys, "fit", npy, "--family", "bernoulli", "-k", "3", "-o", model,
                          "-q", "--random-state", "0", "--chunk-size", "1000")
    assert code == 0, err
    assert "(bernoulli)" in out
    fitted = fastem.load(model)
    assert type(fitted) is BernoulliMixture and fitted.chunk_size == 1000
    code, out, _ = _cli(capsys, "info", model)
    assert code == 0 and "BernoulliMixture, 3 components, 6 features" in out
    code, out, _ = _cli(capsys, "info", model, "--json")
    assert code == 0 and '"means_": [[' in out
    labels = str(tmp_path / "l.npy")
    code, _, err = _cli(capsys, "predict", model, npy, "-o", labels)
    assert code == 0, err
    assert np.array_equal(np.load(labels), fitted.predict(X))
    bad = str(tmp_path / "bad.npy")
    Xb = XU.copy()
    Xb[10, 2] = 9
    np.save(bad, Xb)
    code, _, err = _cli(capsys, "fit", bad, "--family", "bernoulli", "-k", "2", "-o", model,
                        "-q")
    assert code == 1 and "row 10, column 2 is 9" in err
    code, _, err = _cli(capsys, "score", model, bad)
    assert code == 1 and "row 10, column 2 is 9" in err


# ------------------------------------------------------------------ real size (pytest -m slow)
@pytest.mark.slow
def test_local_cluster_and_a_million_rows_match_in_memory(tmp_path):
    """1e6 rows: a .npy file in chunks and a Dask array on a LocalCluster (2 worker
    processes) give the in-memory fit; the truth is recovered."""
    distributed = pytest.importorskip("distributed")
    import dask.array as da
    rng = np.random.default_rng(11)
    n = 1_000_000
    y = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    Xbig = (rng.uniform(size=(n, TRUE.shape[1])) < TRUE[y]).astype(np.uint8)
    path = str(tmp_path / "big.npy")
    np.save(path, Xbig)
    kw = dict(n_components=3, max_iter=30, tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = BernoulliMixture(**kw).fit(Xbig)
        ooc = BernoulliMixture(chunk_size=100_000, **kw).fit(path)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None) as cluster, \
                distributed.Client(cluster):
            dsk = BernoulliMixture(**kw).fit(da.from_array(Xbig, chunks=(125_000, -1)))
    _same(ooc, ref)
    _same(dsk, ref)
    for init in ("kmeans", "k-means++", "random_from_data"):
        conv = BernoulliMixture(3, tol=1e-8, max_iter=2000, random_state=0,
                                init_params=init).fit(Xbig)
        order = [int(np.argmin(np.abs(conv.means_ - t).sum(axis=1))) for t in TRUE]
        np.testing.assert_allclose(conv.means_[order], TRUE, atol=0.02)
        np.testing.assert_allclose(conv.weights_[order], [0.5, 0.3, 0.2], atol=0.01)


def test_sources_opened_without_the_family_are_checked_by_it(tmp_path):
    from fastem.data import ArraySource, open_source
    Xb = X.copy()
    Xb[123, 3] = 0.5
    path = str(tmp_path / "half.npy")
    np.save(path, Xb)
    with pytest.raises(ValueError, match=r"row 123, column 3 is 0\.5"):
        BernoulliMixture(2).fit(open_source(path, chunk_size=100))
    with pytest.raises(ValueError, match=r"row 123, column 3 is 0\.5"):
        BernoulliMixture(2).fit(ArraySource(Xb))
