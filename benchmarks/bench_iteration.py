"""Per-EM-iteration time, fastem vs scikit-learn (and oneDAL when importable), same run.

Full grid (``FASTEM_BENCH_FULL=1``): N in {1e5, 1e6}, D in {2, 8, 32, 64}, K in {4, 16, 64},
full and diag, float64 and float32; both libraries on both cores (fastem: 2 Numba threads with
BLAS pinned to 1; scikit-learn: BLAS on 2 threads). Smoke: N = 20,000, D = 8, K = 4.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from benchmarks import _harness as H
from benchmarks.conftest import run_once

if H.FULL:
    NS, DS, KS = (100_000, 1_000_000), (2, 8, 32, 64), (4, 16, 64)
else:
    NS, DS, KS = (20_000,), (8,), (4,)
COVS, DTYPES = ("full", "diag"), ("float64", "float32")
THREADS = 2
# oneDAL is timed by difference of whole fits (4 iterations); skip where that takes minutes.
ONEDAL_MAX_WORK = 1e11

# Ordered so that one (N, D) dataset is generated once and reused by its 12 cases.
CASES = [pytest.param(n, d, dt, cov, k, id=f"N{n}-D{d}-K{k}-{cov}-{dt}")
         for n, d, dt, cov, k in itertools.product(NS, DS, DTYPES, COVS, KS)]


@pytest.mark.parametrize("n,d,dtype,cov,k", CASES)
def test_iteration(benchmark, record, n, d, dtype, cov, k):
    X = H.make_data(n, d, dtype)
    init = H.make_init(X, k, cov)
    H.warm_up_fastem(X.dtype, cov)
    with H.thread_setup(THREADS, 1) as fe_threads:
        fe = run_once(benchmark, lambda: H.fastem_iterations(X, init, cov))
    with H.thread_setup(THREADS, THREADS) as sk_threads:
        sk = H.sklearn_iterations(X, init, cov)
    values = {"n": n, "d": d, "k": k, "covariance_type": cov, "dtype": dtype,
              "fastem_threads": fe_threads, "sklearn_threads": sk_threads,
              **H.compare_iterations(fe, sk)}
    if cov == "full":
        values["fastem_gflops"] = H.em_flops_full(n, d, k) / fe.per_iter / 1e9
    if n * k * d * d <= ONEDAL_MAX_WORK:
        od = H.onedal_iterations(X, init, cov, n_threads=THREADS)
        if od is not None:
            values["onedal_runs"] = od.runs  # max_iter, nIterations, goal, seconds of each
        if od is not None and not od.valid:
            values["onedal_invalid"] = od.invalid
        elif od is not None:
            values.update(onedal_s_per_iter=od.per_iter,
                          ratio_fastem_over_onedal=fe.per_iter / max(od.per_iter, 1e-12),
                          loglik_onedal=od.lower_bounds[-1])
    record("iteration", **values)
    # Same start, same iteration: the answers must agree (float32 inputs to ~1e-5).
    tol = 1e-8 if dtype == "float64" else 1e-4
    assert values["loglik_rel_diff_common_iter"] < tol, values
    assert np.isfinite(values["fastem_s_per_iter"])
