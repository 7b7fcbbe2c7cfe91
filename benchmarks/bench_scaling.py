"""Scaling at D = 8, K = 8, full covariance, float64.

* threads: per-iteration time with 1 and 2 Numba threads (what ``GaussianMixture(n_threads=)``
  sets), parallel efficiency ``t1 / (2 t2)``; also 2 threads with BLAS left on 2 threads, to
  show the cost of OpenBLAS workers spinning between iterations.
* rows: time per row at N = 1e5, 1e6, 1e7 must stay flat.
"""
from __future__ import annotations

import pytest

from benchmarks import _harness as H
from benchmarks.conftest import run_once

D, K = 8, 8
THREAD_N = 1_000_000 if H.FULL else 20_000
ROW_NS = (100_000, 1_000_000, 10_000_000) if H.FULL else (10_000, 40_000)


def _per_iter(X, init, threads, blas):
    with H.thread_setup(threads, blas):
        return H.fastem_iterations(X, init, "full")


@pytest.mark.parametrize("n", [pytest.param(n, id=f"N{n}") for n in (100_000, THREAD_N)]
                         if H.FULL else [pytest.param(THREAD_N, id=f"N{THREAD_N}")])
def test_threads(benchmark, record, n):
    X = H.make_data(n, D)
    init = H.make_init(X, K, "full")
    H.warm_up_fastem(X.dtype, "full")
    t2 = run_once(benchmark, lambda: _per_iter(X, init, 2, 1))
    t1 = _per_iter(X, init, 1, 1)
    t2_blas2 = _per_iter(X, init, 2, 2)
    record("threads", n=n, d=D, k=K, s_per_iter_1thr=t1.per_iter, s_per_iter_2thr=t2.per_iter,
           s_per_iter_2thr_blas2=t2_blas2.per_iter, speedup_2thr=t1.per_iter / t2.per_iter,
           efficiency_2thr=t1.per_iter / (2 * t2.per_iter),
           loglik_1thr=t1.lower_bounds[-1], loglik_2thr=t2.lower_bounds[-1])
    # Determinism: the number of threads never changes the answer.
    assert t1.lower_bounds == t2.lower_bounds


@pytest.mark.parametrize("n", [pytest.param(n, id=f"N{n}") for n in ROW_NS])
def test_rows(benchmark, record, n):
    X = H.make_data(n, D)
    init = H.make_init(X, K, "full")
    H.warm_up_fastem(X.dtype, "full")
    with H.thread_setup(2, 1):
        fe = run_once(benchmark, lambda: H.fastem_iterations(X, init, "full", max_iter=5))
    record("rows", n=n, d=D, k=K, s_per_iter=fe.per_iter,
           ns_per_row=fe.per_iter / n * 1e9, ns_per_row_component=fe.per_iter / n / K * 1e9,
           loglik_fastem=fe.lower_bounds[-1])
    assert fe.per_iter > 0
