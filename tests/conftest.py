"""Shared fixtures and tolerances for the fastem test suite."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fastem", deadline=None, max_examples=int(os.environ.get("FASTEM_HYPOTHESIS_EXAMPLES", 25)),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("fastem")


# ------------------------------------------------------------------ cold-cache warm-up
# On a cold kernel cache (a fresh clone, CI) most of the suite's time is Numba compiling, one
# core at a time. `fastem precompile` runs in a background process on the other core, from
# the end of its workload list (the main process meets the common kernels first), so the
# two compile different specialisations and the tests load what it wrote from the on-disk
# cache. It changes no test: a kernel the tests need first they compile themselves. Off with
# FASTEM_TEST_PRECOMPILE=0, and when the cache already holds compiled kernels.
_PRECOMPILE = []


def _kernel_cache_is_cold() -> bool:
    from fastem.kernels._jit import CACHE, _KERNEL_DIR, source_stamp
    if not CACHE:
        return False
    stamped = _KERNEL_DIR / "__pycache__" / f"fastem-{source_stamp()}"
    return not stamped.is_dir() or len(list(stamped.glob("*.nbi"))) < 20


def pytest_configure(config):
    import subprocess
    import sys
    if (os.environ.get("FASTEM_TEST_PRECOMPILE", "1") == "0" or (os.cpu_count() or 1) < 2
            or hasattr(config, "workerinput") or not _kernel_cache_is_cold()):
        return
    from fastem.precompile import WORKLOADS
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    _PRECOMPILE.append(subprocess.Popen(
        [sys.executable, "-m", "fastem", "precompile", "--jobs", "1", "--quiet",
         *reversed(list(WORKLOADS))],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def pytest_unconfigure(config):
    for proc in _PRECOMPILE:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()


def make_blobs(n=2000, d=3, k=3, seed=0, spread=4.0, offset=0.0, dtype=np.float64):
    """Well-separated Gaussian blobs with random shapes."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(k, d)) + offset
    labels = rng.integers(0, k, size=n)
    A = rng.normal(size=(k, d, d)) * 0.5 + np.eye(d)
    X = centers[labels] + np.einsum("nij,nj->ni", A[labels], rng.normal(size=(n, d)))
    return X.astype(dtype), labels


def random_params(cov_type, k, d, seed=0, X=None):
    """Random but well-conditioned mixture parameters (sklearn shapes)."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 1.5, size=k)
    w /= w.sum()
    means = rng.normal(scale=3, size=(k, d)) if X is None else \
        X[rng.choice(len(X), size=k, replace=False)].astype(np.float64)
    if cov_type == "full":
        A = rng.normal(size=(k, d, d)) * 0.3
        cov = A @ np.swapaxes(A, 1, 2) + np.eye(d)
    elif cov_type == "tied":
        A = rng.normal(size=(d, d)) * 0.3
        cov = A @ A.T + np.eye(d)
    elif cov_type == "diag":
        cov = rng.uniform(0.5, 2.0, size=(k, d))
    else:
        cov = rng.uniform(0.5, 2.0, size=k)
    return w, means, cov


@pytest.fixture
def blobs():
    return make_blobs()
