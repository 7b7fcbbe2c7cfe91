"""Dask backend vs the in-process numba backend: time per EM iteration, and Dask's overhead.

* ``test_per_iteration_*``: a ``LocalCluster`` of 2 single-threaded worker processes vs
  in-process numba with 2 threads, full covariance, same data, same initial parameters,
  ``tol=0`` and a fixed iteration count. Full mode (``FASTEM_BENCH_FULL=1``): N = 10,000,000,
  D = 16, K = 16, the data persisted on the workers in blocks of 500,000 rows.
* ``test_overhead_per_iteration_small_n``: tiny data (8 blocks of 1,000 rows), where an
  iteration is all scheduling: Dask's time per iteration minus numba's.

By default every benchmark runs once at a small size as a smoke test::

    python -m pytest benchmarks/bench_dask.py
    FASTEM_BENCH_FULL=1 python -m pytest benchmarks/bench_dask.py -s   # prints the numbers
"""
from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest

import dask.array as da
import distributed
from threadpoolctl import threadpool_limits

from fastem import ConvergenceWarning, GaussianMixture

FULL = os.environ.get("FASTEM_BENCH_FULL", "0") == "1"
N, D, K = (10_000_000, 16, 16) if FULL else (40_000, 4, 4)
BLOCK = 500_000 if FULL else 10_000
ITERS = 3 if FULL else 2


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data(client):
    """The same rows on the cluster (persisted) and in this process."""
    Xd = da.random.default_rng(0).standard_normal((N, D), chunks=(BLOCK, D))
    Xd = (Xd + da.arange(N, chunks=BLOCK)[:, None] % 3).persist()
    distributed.wait(Xd)
    X = Xd.compute()
    rng = np.random.default_rng(1)
    init = dict(weights_init=np.full(K, 1.0 / K),
                means_init=X[np.sort(rng.choice(N, K, replace=False))],
                precisions_init=np.broadcast_to(np.eye(D), (K, D, D)).copy())
    return X, Xd, init


def _seconds_per_iteration(X, init, n_iter, **kw):
    gm = GaussianMixture(K, covariance_type="full", tol=0.0, max_iter=1, **init, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)  # warm-up: compiles (or loads) the kernels here and on the workers
        gm.set_params(max_iter=n_iter)
        t0 = time.perf_counter()
        gm.fit(X)
        return (time.perf_counter() - t0) / n_iter, gm.lower_bound_


def _report(benchmark, name, **info):
    benchmark.extra_info.update(info)
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in info.items()))


def test_per_iteration_numba_2_threads(benchmark, data):
    X, _, init = data
    with threadpool_limits(1, "blas"):  # see PERF_NOTES: idle BLAS threads steal a core
        sec, lb = benchmark.pedantic(_seconds_per_iteration, (X, init, ITERS),
                                     {"n_threads": 2, "backend": "numba"},
                                     rounds=1, iterations=1)
    _report(benchmark, "numba, 2 threads", n=N, d=D, k=K, seconds_per_iteration=round(sec, 4),
            lower_bound=lb)


def test_per_iteration_dask_cluster(benchmark, client, data):
    X, Xd, init = data
    sec, lb = benchmark.pedantic(_seconds_per_iteration, (Xd, init, ITERS),
                                 rounds=1, iterations=1)
    ref, _ = _seconds_per_iteration(X[:BLOCK], init, 1, backend="numba", n_threads=1)
    _report(benchmark, "dask LocalCluster, 2 workers x 1 thread", n=N, d=D, k=K,
            blocks=Xd.numblocks[0], seconds_per_iteration=round(sec, 4), lower_bound=lb,
            numba_1_thread_one_block_s=round(ref, 4))


def test_overhead_per_iteration_small_n(benchmark, client):
    n_iter = 20
    X = np.random.default_rng(2).standard_normal((8_000, 4))
    init = dict(weights_init=np.full(K, 1.0 / K), means_init=X[:K],
                precisions_init=np.broadcast_to(np.eye(4), (K, 4, 4)).copy())
    Xd = da.from_array(X, chunks=(1_000, 4)).persist()
    distributed.wait(Xd)
    local, _ = _seconds_per_iteration(X, init, n_iter, backend="numba")
    sec, _ = benchmark.pedantic(_seconds_per_iteration, (Xd, init, n_iter),
                                rounds=1, iterations=1)
    _report(benchmark, "overhead at small N (8 blocks x 1000 rows, D=4)",
            dask_seconds_per_iteration=round(sec, 5),
            numba_seconds_per_iteration=round(local, 5),
            overhead_seconds_per_iteration=round(sec - local, 5))


def test_numba_compiles_once_per_worker(client, data):
    """After the fits above, every worker holds one compiled serial EM kernel per signature,
    and with the on-disk cache on (the default) loaded it rather than compiling it."""
    _, Xd, init = data
    _seconds_per_iteration(Xd[:2 * BLOCK], init, 1)

    def kernel_stats():
        from fastem.kernels._jit import CACHE
        from fastem.kernels.em_pass import em_pass_chunk
        st = em_pass_chunk.serial.stats
        return {"cache": CACHE, "signatures": len(em_pass_chunk.serial.signatures),
                "cache_hits": sum(st.cache_hits.values()),
                "cache_misses": sum(st.cache_misses.values())}

    per_worker = client.run(kernel_stats)
    print("\nworker kernels:", per_worker)
    for info in per_worker.values():
        assert info["signatures"] == 1
