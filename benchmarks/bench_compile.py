"""Compile time, import included: a fresh process fits a small full-covariance model
(k-means initialisation, EM, predict) with an empty ``NUMBA_CACHE_DIR`` (cold), then again
with the cache that run filled (warm)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.conftest import run_once

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import time, json
t0 = time.perf_counter()
import numpy as np
from fastem import GaussianMixture
t_import = time.perf_counter() - t0
X = np.random.default_rng(0).normal(size=(2000, 4))
GaussianMixture(3, covariance_type="full", max_iter=3, random_state=0).fit(X).predict(X)
print(json.dumps({"import_s": t_import, "total_s": time.perf_counter() - t0}))
"""


def _run(cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, FASTEM_NUMBA_CACHE="1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_compile(benchmark, record):
    with tempfile.TemporaryDirectory() as cache:
        cold = run_once(benchmark, lambda: _run(cache))
        warm = _run(cache)
    record("compile", cold_s=cold["total_s"], warm_s=warm["total_s"],
           cold_import_s=cold["import_s"], warm_import_s=warm["import_s"])
    assert warm["total_s"] < cold["total_s"]
