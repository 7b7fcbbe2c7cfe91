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


def make_mixture(n: int, d: int, k: int, seed: int):
    """Rows in random order from a mixture with correlated components, and the truth."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 4.0))
    means = rng.normal(0.0, 1.5, (k, d))
    labels = rng.choice(k, n, p=weights)
    X = np.empty((n, d))
    covs = np.empty((k, d, d))
    for j in range(k):
        rows = np.flatnonzero(labels == j)
        chol = np.tril(rng.normal(0.0, 0.3, (d, d)), -1) + np.diag(rng.uniform(0.5, 1.5, d))
        covs[j] = chol @ chol.T
        X[rows] = means[j] + rng.standard_normal((rows.size, d)) @ chol.T
    return X, (weights, means, np.linalg.inv(covs))


def model_at(X: np.ndarray, weights, means, precisions) -> GaussianMixture:
    """A model with the given parameters (no EM iteration)."""
    return GaussianMixture(len(weights), weights_init=weights, means_init=means,
                           precisions_init=precisions, max_iter=0).fit(X[:1000])


@pytest.fixture(scope="module")
def data():
    X, truth = make_mixture(N_SAMPLES, N_FEATURES, N_COMPONENTS, SEED)
    with threadpool_limits(1):  # idle BLAS threads would steal a core from the kernels
        for algorithm in ("em", "online"):  # compile outside the timed region
            GaussianMixture(N_COMPONENTS, algorithm=algorithm, max_iter=2,
                            random_state=SEED).fit(X[:20_000])
        true_ll = model_at(X, *truth).score(X)
        # One shared starting point (k-means on the first 20,000 rows) so that the two
        # algorithms are compared from the same place, not on the luck of two initialisations.
        start = GaussianMixture(N_COMPONENTS, max_iter=0, random_state=SEED).fit(X[:20_000])
    return X, true_ll, (start.weights_, start.means_, start.precisions_)


@pytest.mark.filterwarnings("ignore::fastem.ConvergenceWarning")
@pytest.mark.parametrize("start", ["shared", "own"])
@pytest.mark.parametrize("algorithm", ["em", "online"])
def test_online_pass_vs_exact_em(benchmark, data, algorithm, start):
    """``start="shared"``: both from the same initial parameters; ``"own"``: each from its own
    default initialisation (exact EM: k-means on a sample of all rows plus a Lloyd pass;
    online: k-means on its first chunk)."""
    X, true_ll, init = data
    timing = {}
    kw = {}
    if start == "shared":
        kw = dict(zip(("weights_init", "means_init", "precisions_init"), init))

    def fit() -> GaussianMixture:
        t0 = time.perf_counter()
        with threadpool_limits(1):
            gm = GaussianMixture(N_COMPONENTS, algorithm=algorithm, random_state=SEED,
                                 **kw).fit(X)
        timing["seconds"] = time.perf_counter() - t0
        return gm

    gm = benchmark.pedantic(fit, rounds=1, iterations=1)
    mean_ll = gm.score(X)
    assert np.isfinite(mean_ll)
    info = {"n_samples": X.shape[0], "n_features": X.shape[1], "n_components": N_COMPONENTS,
            "algorithm": algorithm, "start": start,
            "wall_seconds": round(timing["seconds"], 3),
            "n_iter_or_steps": int(gm.n_iter_), "converged": bool(gm.converged_),
            "mean_loglik": float(mean_ll), "mean_loglik_true_params": float(true_ll)}
    benchmark.extra_info.update(info)
    print(f"\n[bench_online] {info}")
