"""One pass of online (stepwise) EM vs exact EM to convergence on the same data.

Records, for each algorithm, the wall time of ``fit`` (JIT compiled beforehand), the number of
iterations (exact) or steps (online), and the final mean log-likelihood of the fitted model on
all rows.

Default (``pytest benchmarks/bench_online.py``): a small smoke size. Full size
(10,000,000 x 16, 8 full-covariance components)::

    FASTEM_BENCH_FULL=1 python -m pytest benchmarks/bench_online.py -s --benchmark-enable
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from fastem import GaussianMixture

FULL = os.environ.get("FASTEM_BENCH_FULL", "0") == "1"
N_SAMPLES, N_FEATURES, N_COMPONENTS = (10_000_000, 16, 8) if FULL else (50_000, 4, 3)
SEED = 0


def make_mixture(n: int, d: int, k: int, seed: int) -> np.ndarray:
    """Rows in random order from a mixture with overlapping, correlated components."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 4.0))
    means = rng.normal(0.0, 1.5, (k, d))
    labels = rng.choice(k, n, p=weights)
    X = np.empty((n, d))
    for j in range(k):
        rows = np.flatnonzero(labels == j)
        chol = np.tril(rng.normal(0.0, 0.3, (d, d)), -1) + np.diag(rng.uniform(0.5, 1.5, d))
        X[rows] = means[j] + rng.standard_normal((rows.size, d)) @ chol.T
    return X


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    X = make_mixture(N_SAMPLES, N_FEATURES, N_COMPONENTS, SEED)
    with threadpool_limits(1):  # idle BLAS threads would steal a core from the kernels
        for algorithm in ("em", "online"):  # compile outside the timed region
            GaussianMixture(N_COMPONENTS, algorithm=algorithm, max_iter=2,
                            random_state=SEED).fit(X[:20_000])
    return X


@pytest.mark.filterwarnings("ignore::fastem.ConvergenceWarning")
@pytest.mark.parametrize("algorithm", ["em", "online"])
def test_online_pass_vs_exact_em(benchmark, data, algorithm):
    X = data
    timing = {}

    def fit() -> GaussianMixture:
        t0 = time.perf_counter()
        with threadpool_limits(1):
            gm = GaussianMixture(N_COMPONENTS, algorithm=algorithm, random_state=SEED).fit(X)
        timing["seconds"] = time.perf_counter() - t0
        return gm

    gm = benchmark.pedantic(fit, rounds=1, iterations=1)
    mean_ll = gm.score(X)
    assert np.isfinite(mean_ll)
    info = {"n_samples": X.shape[0], "n_features": X.shape[1], "n_components": N_COMPONENTS,
            "algorithm": algorithm, "wall_seconds": round(timing["seconds"], 3),
            "n_iter_or_steps": int(gm.n_iter_), "converged": bool(gm.converged_),
            "mean_loglik": float(mean_ll)}
    benchmark.extra_info.update(info)
    print(f"\n[bench_online] {info}")
