"""Roofline: achieved GFLOP/s of a full-covariance EM iteration against numpy's matmul
GFLOP/s measured in the same run with the same number of threads.

Flops counted as issue 6 does: D^2 multiply-adds per (row, component), D^2/2 for the triangular
Mahalanobis term and D^2/2 for the triangular scatter, 2 flops each (``2 N K D^2``).
"""
from __future__ import annotations

import itertools

import pytest

from benchmarks import _harness as H
from benchmarks.conftest import run_once

if H.FULL:
    N, DS, KS, THREADS = 200_000, (16, 32, 64), (32,), (1, 2)
else:
    N, DS, KS, THREADS = 20_000, (16,), (8,), (2,)


@pytest.mark.parametrize("d,k,dtype,threads", [
    pytest.param(d, k, dt, t, id=f"D{d}-K{k}-{dt}-{t}thr")
    for d, k, dt, t in itertools.product(DS, KS, ("float64", "float32"), THREADS)])
def test_roofline(benchmark, record, d, k, dtype, threads):
    X = H.make_data(N, d, dtype)
    init = H.make_init(X, k, "full")
    H.warm_up_fastem(X.dtype, "full")
    with H.thread_setup(threads, 1):
        fe = run_once(benchmark, lambda: H.fastem_iterations(X, init, "full", max_iter=5))
    with H.thread_setup(threads, threads):
        peak = H.matmul_gflops(dtype)
    achieved = H.em_flops_full(N, d, k) / fe.per_iter / 1e9
    record("roofline", n=N, d=d, k=k, dtype=dtype, threads=threads,
           fastem_s_per_iter=fe.per_iter, fastem_gflops=achieved, matmul_gflops=peak,
           fraction_of_matmul=achieved / peak, loglik_fastem=fe.lower_bounds[-1])
    assert 0 < achieved < 10 * peak
