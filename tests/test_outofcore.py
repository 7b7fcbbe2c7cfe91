"""Out-of-core sources: every format fits, predicts and scores like the in-memory array,
and bad input is reported chunk by chunk with global row numbers."""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastem import GaussianMixture
from fastem.data import open_source
from fastem.data._extras import require

CHUNK = 500
KW = dict(n_components=3, random_state=0, max_iter=8, tol=0.0, chunk_size=CHUNK)


def make_data(n=2300, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * d, [5.0] * d, [-4.0] + [2.0] * (d - 1)])
    X = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))
    return X + 1e3  # far from the origin: precision must survive chunking


@pytest.fixture(scope="module")
def X():
    return make_data()


@pytest.fixture(scope="module")
def reference(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**KW).fit(X)


def fit(data, sample_weight=None, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**{**KW, **extra}).fit(data, sample_weight=sample_weight)


def assert_same_fit(a, b, tol=1e-10):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=tol, atol=tol,
                                   err_msg=name)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=tol, atol=tol)
    assert a.n_iter_ == b.n_iter_


def chunk_callable(X, size=CHUNK, weights=None):
    def make():
        for i in range(0, X.shape[0], size):
            if weights is None:
                yield X[i:i + size]
            else:
                yield X[i:i + size], weights[i:i + size]
    return make


# ---------------------------------------------------------------------------- sources
def _npy(tmp_path, X):
    p = tmp_path / "X.npy"
    np.save(p, X)
    return str(p)


def _npy_fortran(tmp_path, X):
    p = tmp_path / "XF.npy"
    np.save(p, np.asfortranarray(X))
    return p  # a pathlib.Path


def _memmap(tmp_path, X):
    mm = np.lib.format.open_memmap(tmp_path / "mm.npy", mode="w+", dtype=X.dtype,
                                   shape=X.shape)
    mm[:] = X
    return np.memmap(tmp_path / "mm.npy", dtype=X.dtype, mode="r", shape=X.shape,
                     offset=128)


def _hdf5_dataset(tmp_path, X):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "X.h5", "w") as f:
        f.create_dataset("grp/X", data=X, chunks=(256, X.shape[1]))
    return h5py.File(tmp_path / "X.h5", "r")["grp/X"]


def _hdf5_path(tmp_path, X):
    _hdf5_dataset(tmp_path, X)
    return str(tmp_path / "X.h5")   # one 2-D dataset: found without a key


def _zarr_array(tmp_path, X):
    zarr = pytest.importorskip("zarr")
    z = zarr.open(str(tmp_path / "X.zarr"), mode="w", shape=X.shape, chunks=(300, 3),
                  dtype=X.dtype)
    z[:] = X
    return zarr.open(str(tmp_path / "X.zarr"), mode="r")


def _zarr_path(tmp_path, X):
    _zarr_array(tmp_path, X)
    return str(tmp_path / "X.zarr")


def _parquet_path(tmp_path, X):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    cols = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    cols["name"] = np.array(["a"] * X.shape[0])   # non-numeric: skipped by default
    pq.write_table(pa.table(cols), tmp_path / "X.parquet", row_group_size=700)
    return str(tmp_path / "X.parquet")


def _arrow_table(tmp_path, X):
    pa = pytest.importorskip("pyarrow")
    return pa.table({f"x{j}": X[:, j] for j in range(X.shape[1])})


def _callable(tmp_path, X):
    return chunk_callable(X)


SOURCES = {"npy": _npy, "npy-fortran": _npy_fortran, "memmap": _memmap,
           "hdf5-dataset": _hdf5_dataset, "hdf5-path": _hdf5_path,
           "zarr-array": _zarr_array, "zarr-path": _zarr_path,
           "parquet": _parquet_path, "arrow-table": _arrow_table, "callable": _callable}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_fit_equals_in_memory(kind, tmp_path, X, reference):
    data = SOURCES[kind](tmp_path, X)
    gm = fit(data)
    assert_same_fit(reference, gm)


@pytest.mark.parametrize("kind", ["npy", "hdf5-dataset", "parquet", "callable"])
def test_predict_and_score_equal_in_memory(kind, tmp_path, X, reference):
    data = SOURCES[kind](tmp_path, X)
    np.testing.assert_array_equal(reference.predict(data), reference.predict(X))
    np.testing.assert_allclose(reference.predict_proba(data), reference.predict_proba(X),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(reference.score_samples(data), reference.score_samples(X),
                               rtol=1e-12)
    assert reference.score(data) == pytest.approx(reference.score(X), rel=1e-12)
    assert reference.bic(data) == pytest.approx(reference.bic(X), rel=1e-12)


@pytest.mark.parametrize("kind", ["npy", "callable"])
def test_predict_writes_into_out_file_and_array(kind, tmp_path, X, reference):
    data = SOURCES[kind](tmp_path, X)   # callable: length unknown until the end
    labels = reference.predict(data, out=tmp_path / "labels.npy")
    assert isinstance(labels, np.memmap)
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), reference.predict(X))
    proba = np.empty((X.shape[0], 3))
    assert reference.predict_proba(data, out=proba) is proba
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=1e-12, atol=1e-14)


def test_in_memory_array_into_out_file(tmp_path, X, reference):
    lp = reference.score_samples(X, out=tmp_path / "lp.npy")
    np.testing.assert_allclose(np.load(tmp_path / "lp.npy"), reference.score_samples(X),
                               rtol=1e-12)
    assert lp.shape == (X.shape[0],)


def test_out_of_wrong_shape_is_rejected(tmp_path, X, reference):
    with pytest.raises(ValueError, match=r"out has shape \(10,\); labels of this data needs "
                                         r"shape \(2300,\)"):
        reference.predict(_npy(tmp_path, X), out=np.empty(10, np.int64))


def test_sample_weight_by_row_and_per_chunk(tmp_path, X):
    w = np.random.default_rng(1).uniform(0, 2, X.shape[0])
    ref = fit(X, sample_weight=w)
    assert_same_fit(ref, fit(_npy(tmp_path, X), sample_weight=w))
    assert_same_fit(ref, fit(chunk_callable(X, weights=w)))


@pytest.mark.parametrize("covariance_type", ["tied", "diag", "spherical"])
@pytest.mark.parametrize("init_params", ["k-means++", "random", "random_from_data"])
def test_every_family_and_init_on_a_file(covariance_type, init_params, tmp_path, X):
    path = _npy(tmp_path, X.astype(np.float32))
    extra = dict(covariance_type=covariance_type, init_params=init_params, max_iter=3)
    assert_same_fit(fit(X.astype(np.float32), **extra), fit(path, **extra))


def test_large_stream_is_sampled_by_reservoir(X):
    # More rows than the seeding sample (20,000): the reservoir keeps the same rows as the
    # index sample of an array.
    big = np.concatenate([make_data(n=26_000, seed=3)])
    kw = dict(max_iter=2, chunk_size=4096)
    assert_same_fit(fit(big, **kw), fit(chunk_callable(big, size=4096), **kw))


def test_parquet_chosen_columns(tmp_path, X):
    path = _parquet_path(tmp_path, X)
    gm = fit(open_source(path, columns=["x2", "x0"]))
    assert_same_fit(fit(X[:, [2, 0]]), gm)


# ---------------------------------------------------------------------------- bad input
def test_chunk_with_other_number_of_columns(X):
    def make():
        yield X[:500]
        yield X[500:1000]
        yield np.ones((500, 4))
    with pytest.raises(ValueError, match=r"Chunk 2 \(rows 1,000-1,499\) of callable 'make' "
                                         r"has 4 features; chunk 0 had 3"):
        fit(make)


def test_nan_in_chunk_37_reports_global_row(X):
    Y = np.tile(X[:100], (4, 1))
    Y[375, 1] = np.nan

    def make():
        for i in range(0, 400, 10):
            yield Y[i:i + 10]
    with pytest.raises(ValueError, match=r"X contains NaN or inf; first bad row is 375 "
                                         r"\(chunk 37 of callable 'make'\)"):
        fit(make)


def test_inf_in_npy_file_reports_global_row(tmp_path, X):
    Y = X.copy()
    Y[1234, 0] = np.inf
    with pytest.raises(ValueError, match=r"first bad row is 1,234 \(chunk 2 of "
                                         r"'[^']*X.npy'\)"):
        fit(_npy(tmp_path, Y))


def test_one_shot_generator_for_fit_says_how_to_wrap(X):
    gen = chunk_callable(X)()
    with pytest.raises(ValueError, match=r"one-shot iterator.*Pass a callable that returns a "
                                         r"fresh iterator"):
        fit(gen)


def test_one_shot_generator_is_enough_for_predict_but_not_twice(X, reference):
    source = open_source(chunk_callable(X)())
    np.testing.assert_array_equal(reference.predict(source), reference.predict(X))
    with pytest.raises(ValueError, match="already consumed"):
        reference.predict(source)


def test_empty_sources(tmp_path):
    with pytest.raises(ValueError, match=r"yielded no chunks; the data source is empty"):
        fit(lambda: iter([]))
    np.save(tmp_path / "empty.npy", np.empty((0, 3)))
    with pytest.raises(ValueError, match=r"empty.npy. has 0 rows; the data source is empty"):
        fit(str(tmp_path / "empty.npy"))


def test_non_numeric_dtypes(tmp_path, X):
    np.save(tmp_path / "s.npy", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(TypeError, match=r"has dtype <U1; fastem needs numeric data"):
        fit(str(tmp_path / "s.npy"))
    with pytest.raises(TypeError, match=r"callable '<lambda>' has dtype <U1; fastem needs"):
        fit(lambda: iter([np.array([["a", "b"]])]))
    path = _parquet_path(tmp_path, X)
    with pytest.raises(TypeError, match=r"Column\(s\) \['name'\] .* are not numeric"):
        open_source(path, columns=["x0", "name"])


def test_file_truncated_mid_fit_raises_and_keeps_checkpoint(tmp_path, X, monkeypatch):
    from fastem.data.npy import NpyAdapter
    from fastem.io import read_container
    path = _npy(tmp_path, X)
    original = NpyAdapter.raw_chunks
    passes = []

    def truncating(self, rows):
        passes.append(1)
        if len(passes) == 6:                       # during EM iteration 3
            with open(self.path, "r+b") as f:
                f.truncate(os.path.getsize(self.path) // 2)
        return original(self, rows)
    monkeypatch.setattr(NpyAdapter, "raw_chunks", truncating)
    ckpt = tmp_path / "ckpt.npz"
    with pytest.raises(OSError, match=r"X.npy. ended early at row 1,1\d\d of "
                                      r"2,300: the file was truncated"):
        fit(path, checkpoint=str(ckpt))
    header, _ = read_container(ckpt, "checkpoint")
    assert header["state"]["n_iter"] == 2


def test_file_deleted_before_pass(tmp_path, X):
    path = _npy(tmp_path, X)
    source = open_source(path)
    os.unlink(path)
    with pytest.raises(FileNotFoundError, match=r"X.npy. could not be read at "
                                                 r"row 0: the file was deleted or moved"):
        fit(source)


def test_unknown_suffix_and_missing_file(tmp_path):
    (tmp_path / "data.xyz").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"Cannot tell the format of .*data.xyz"):
        fit(str(tmp_path / "data.xyz"))
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"data.csv' is a text \(.csv\) file.*np.loadtxt\("
                                         r"'[^']*data.csv', delimiter=','"):
        fit(str(tmp_path / "data.csv"))
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: .*nope.npy"):
        fit(str(tmp_path / "nope.npy"))


def test_missing_extra_names_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"pip install h5py \(or, in the fastem repository, "
                                          r"pip install -e '\.\[hdf5\]'\)"):
        require("h5py", "Reading HDF5 files")


def test_wrong_feature_count_for_predict(tmp_path, X, reference):
    with pytest.raises(ValueError, match=r"has 2 features, but GaussianMixture is expecting 3"):
        reference.predict(_npy(tmp_path, X[:, :2]))


def test_hdf5_file_with_two_datasets_needs_a_key(tmp_path, X):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"] = X
        f["b"] = X
    with pytest.raises(ValueError, match=r"holds 2 2-D datasets \['a', 'b'\]; name the one"):
        open_source(str(tmp_path / "two.h5"))
    assert open_source(str(tmp_path / "two.h5"), key="b").n_samples == X.shape[0]


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 900), min_size=1, max_size=12))
def test_any_chunking_gives_the_in_memory_fit(sizes):
    # Random chunk boundaries (the last chunk takes the rest) only change summation order.
    X = make_data(n=2300)
    bounds = np.minimum(np.cumsum([0] + sizes), X.shape[0])
    bounds = np.unique(np.append(bounds, X.shape[0]))

    def make():
        for a, b in zip(bounds[:-1], bounds[1:]):
            yield X[a:b]
    assert_same_fit(fit(X, chunk_size=None), fit(make, chunk_size=None), tol=1e-9)
