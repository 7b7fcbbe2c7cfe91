"""The Dask backend: the same EM on a ``distributed`` cluster, on the threaded scheduler, and
its errors. The cluster (2 worker processes on loopback) is started here."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

# Dask is in the test extra: a missing install must fail here, not skip.
import cloudpickle
import dask
import dask.array as da
import dask.dataframe as dd
import distributed
import pandas as pd

from fastem import ConvergenceWarning, GaussianMixture
from fastem.families import FAMILIES

# Worker processes unpickle this module's helpers by value, not by importing the test file.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

TOL = 1e-10
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_")


def _data(n=4500, d=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0] * d, [5.0] * d, [0.0] * (d - 1) + [9.0]])
    X = np.concatenate([rng.normal(c, 1.0 + i, (n // 3, d)) for i, c in enumerate(centers)])
    return X[rng.permutation(len(X))].astype(dtype)


X_NP = _data()


def _init_params(covariance_type):
    """Fixed initial parameters in the shape of ``covariance_type`` (no data pass)."""
    k, d = 3, X_NP.shape[1]
    prec = {"full": np.broadcast_to(np.eye(d), (k, d, d)) * [[[0.5]], [[1.0]], [[2.0]]],
            "tied": np.eye(d) * 0.5, "diag": np.full((k, d), 0.5),
            "spherical": np.array([0.5, 1.0, 2.0])}[covariance_type]
    return dict(weights_init=np.array([0.5, 0.3, 0.2]), means_init=X_NP[[0, 1, 2]],
                precisions_init=np.array(prec))


def _fit(X, sample_weight=None, **kw):
    kw = {"n_components": 3, "max_iter": 6, "tol": 0.0, "random_state": 0, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**kw).fit(X, sample_weight=sample_weight)


def _assert_same(a, b, tol=TOL):
    for name in FITTED:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=tol, atol=tol,
                                   err_msg=name)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=tol, atol=tol)
    assert a.n_iter_ == b.n_iter_


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


# ----------------------------------------------------------------------- distributed cluster
@pytest.mark.parametrize("covariance_type", list(FAMILIES))
def test_cluster_fit_equals_in_memory_fit(client, covariance_type):
    init = _init_params(covariance_type)
    ref = _fit(X_NP, covariance_type=covariance_type, **init)
    got = _fit(da.from_array(X_NP, chunks=(700, 3)), covariance_type=covariance_type, **init)
    _assert_same(got, ref)
    assert got.lower_bounds_[-1] > got.lower_bounds_[0]  # the fit did move


def test_cluster_init_reads_no_more_than_a_sample_and_matches(client):
    """k-means init on the cluster (sampled rows, distributed Lloyd passes) gives the same
    model as in memory: the sample is drawn by the same indices."""
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(X_NP))
    ref = _fit(X_NP, sample_weight=w, init_params="kmeans")
    got = _fit(da.from_array(X_NP, chunks=(900, 3)), init_params="kmeans",
               sample_weight=da.from_array(w, chunks=1000))  # other blocks: rechunked
    _assert_same(got, ref)


@pytest.mark.parametrize("chunks", [4500, 1000, 137, (1, 2500, 1999)])
def test_result_does_not_depend_on_block_size(client, chunks):
    ref = _fit(da.from_array(X_NP, chunks=(500, 3)), covariance_type="full")
    got = _fit(da.from_array(X_NP, chunks=(chunks, 3)), covariance_type="full")
    _assert_same(got, ref)


def _die_once(block, counter_path, block_id=None):
    """Kill this worker process the n-th time block 2 is computed (n read from a file)."""
    if block_id[0] == 2 and os.path.exists(counter_path):
        with open(counter_path) as f:
            left = int(f.read())
        if left <= 0:
            os.remove(counter_path)
            os._exit(1)
        with open(counter_path, "w") as f:
            f.write(str(left - 1))
    return block


def test_worker_killed_mid_fit_gives_the_same_result(client, tmp_path):
    init = _init_params("diag")
    ref = _fit(X_NP, covariance_type="diag", **init)
    counter = tmp_path / "kill-counter"
    counter.write_text("2")  # die in the 3rd EM pass
    X = da.from_array(X_NP, chunks=(500, 3)).map_blocks(_die_once, str(counter),
                                                        dtype=X_NP.dtype)
    pids_before = set(client.run(os.getpid).values())
    got = _fit(X, covariance_type="diag", **init)
    assert not counter.exists(), "the worker was never killed"
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(os.getpid).values()) != pids_before
    _assert_same(got, ref)


def test_predict_and_scores_are_lazy_and_match(client):
    ref = _fit(X_NP, covariance_type="tied")
    Xd = da.from_array(X_NP, chunks=(600, 3))
    got = _fit(Xd, covariance_type="tied")
    labels, proba, logp = got.predict(Xd), got.predict_proba(Xd), got.score_samples(Xd)
    for lazy in (labels, proba, logp):
        assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(labels.compute(), ref.predict(X_NP))
    np.testing.assert_allclose(proba.compute(), ref.predict_proba(X_NP), atol=1e-10)
    np.testing.assert_allclose(logp.compute(), ref.score_samples(X_NP), rtol=1e-10)
    assert isinstance(got.score(Xd), float)
    assert got.score(Xd) == pytest.approx(ref.score(X_NP), rel=1e-12)
    assert got.bic(Xd) == pytest.approx(ref.bic(X_NP), rel=1e-12)
    assert labels.chunks[0] == Xd.chunks[0]


def test_client_closed_mid_fit_raises_and_leaves_the_model_unchanged(client):
    Xd = da.from_array(X_NP, chunks=(500, 3))
    gm = _fit(Xd, covariance_type="spherical")
    before = {name: np.copy(getattr(gm, name)) for name in FITTED}
    other = distributed.Client(client.scheduler.address, set_as_default=False)
    gm.set_params(max_iter=3000, warm_start=False)
    timer = threading.Timer(1.0, other.close)
    with other.as_current():
        timer.start()
        with pytest.raises(ConnectionError, match=r"Lost the connection to the Dask "
                                                  r"scheduler.*left unchanged"):
            gm.fit(Xd)
    timer.join()
    for name in FITTED:
        np.testing.assert_array_equal(getattr(gm, name), before[name])


# ------------------------------------------------------------------- no cluster: threads
def test_threaded_scheduler_equals_in_memory(client):
    init = _init_params("full")
    ref = _fit(X_NP, **init)
    with dask.config.set(scheduler="threads"):
        got = _fit(da.from_array(X_NP, chunks=(800, 3)), **init)
        lazy = got.predict(da.from_array(X_NP, chunks=(800, 3)))
        np.testing.assert_array_equal(lazy.compute(), ref.predict(X_NP))
    _assert_same(got, ref)


@pytest.mark.parametrize("init_params", ["k-means++", "random_from_data"])
def test_sampled_initialisations_and_n_init_match_in_memory(init_params):
    kw = dict(init_params=init_params, n_init=2, covariance_type="spherical")
    with dask.config.set(scheduler="threads"):
        got = _fit(da.from_array(X_NP, chunks=(1000, 3)), **kw)
    _assert_same(got, _fit(X_NP, **kw))


def test_random_init_is_reproducible():
    with dask.config.set(scheduler="threads"):
        a = _fit(da.from_array(X_NP, chunks=(800, 3)), init_params="random", max_iter=2)
        b = _fit(da.from_array(X_NP, chunks=(800, 3)), init_params="random", max_iter=2)
    _assert_same(a, b, tol=0)


# ----------------------------------------------------------------- awkward input, errors
def test_unknown_block_sizes_are_resolved():
    Xd = da.from_array(X_NP, chunks=(500, 3))
    masked = Xd[Xd[:, 0] > -np.inf]  # keeps every row but loses the block sizes
    assert np.isnan(masked.chunks[0][0])
    init = _init_params("diag")
    with dask.config.set(scheduler="threads"):
        got = _fit(masked, covariance_type="diag", **init)
    _assert_same(got, _fit(X_NP, covariance_type="diag", **init))


def test_feature_axis_chunks_are_rechunked():
    init = _init_params("full")
    with dask.config.set(scheduler="threads"):
        got = _fit(da.from_array(X_NP, chunks=(500, 2)), **init)
    _assert_same(got, _fit(X_NP, **init))


def test_dataframe_and_integer_input():
    init = _init_params("diag")
    df = dd.from_pandas(pd.DataFrame(X_NP, columns=list("abc")), npartitions=5)
    with dask.config.set(scheduler="threads"):
        got = _fit(df, covariance_type="diag", **init)
        Xi = np.round(X_NP * 10).astype(np.int32)
        gi = _fit(da.from_array(Xi, chunks=(700, 3)), covariance_type="diag", **init)
    _assert_same(got, _fit(X_NP, covariance_type="diag", **init))
    _assert_same(gi, _fit(Xi.astype(np.float64), covariance_type="diag", **init))
    bad = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0, 3.0], "s": ["x", "y", "z"]}),
                         npartitions=1)
    with pytest.raises(TypeError, match=r"non-numeric column\(s\) \[\('s', "):
        GaussianMixture(1).fit(bad)


def test_nan_in_a_block_names_the_global_row():
    X = X_NP.copy()
    X[2345, 1] = np.nan
    init = _init_params("full")
    with dask.config.set(scheduler="threads"):
        with pytest.raises(ValueError, match=r"X contains NaN or inf; row 2,345 \(the first "
                                             r"bad row of block 4 of 9\) is bad"):
            GaussianMixture(3, **init).fit(da.from_array(X, chunks=(500, 3)))
        gm = _fit(da.from_array(X_NP, chunks=(500, 3)))
        with pytest.raises(ValueError, match=r"row 2,345 \(the first bad row of block 4"):
            gm.predict(da.from_array(X, chunks=(500, 3))).compute()


def test_input_errors():
    with pytest.raises(TypeError, match=r"backend='dask' needs Dask input; got "
                                        r"ArraySource\(shape=\(4500, 3\)"):
        GaussianMixture(2, backend="dask").fit(X_NP)
    with pytest.raises(ValueError, match=r"Expected a 2D array for X, got a Dask array with "
                                         r"ndim=1"):
        GaussianMixture(2).fit(da.ones(10, chunks=5))
    with pytest.raises(TypeError, match=r"X has dtype <U1; fastem needs numeric data"):
        GaussianMixture(2).fit(da.from_array(np.array([["a", "b"]] * 4), chunks=2))
    with pytest.raises(ValueError, match=r"sample_weight has shape \(3,\); expected \(4500,\)"):
        GaussianMixture(2).fit(da.from_array(X_NP, chunks=500), sample_weight=da.ones(3))
    with pytest.raises(ValueError, match=r"sample_weight must be finite and non-negative; 1 "):
        w = np.ones(len(X_NP))
        w[7] = -1
        GaussianMixture(2).fit(da.from_array(X_NP, chunks=500),
                               sample_weight=da.from_array(w, chunks=1000))
    gm = _fit(X_NP, max_iter=1)
    with pytest.raises(ValueError, match=r"X has 2 features, but GaussianMixture is "
                                         r"expecting 3 features as input"):
        gm.predict(da.ones((10, 2), chunks=5))


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    from fastem.backends import choose_backend
    from fastem.data import as_source
    with pytest.raises(ImportError, match=r"backend='dask' needs dask: pip install "
                                          r"'dask\[array,dataframe\]' distributed \(or pip "
                                          r"install -e '\.\[dask\]' in the fastem repository\), "
                                          r"or use backend='numba'"):
        choose_backend("dask", as_source(X_NP))


def test_dask_is_not_imported_unless_used():
    code = ("import sys, numpy as np, fastem\n"
            "X = np.random.default_rng(0).normal(size=(50, 2))\n"
            "gm = fastem.GaussianMixture(2, max_iter=2, random_state=0).fit(X)\n"
            "gm.predict(X), gm.score(X)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n"
            "assert not bad, bad\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
