"""Small data and start-up: a fresh process that imports fastem and fits, predicts and scores a
150 x 4 array (K = 3) for each of the four covariance types, with a warm on-disk cache.

Target (issue 17): <= 0.5 s wall. The same script with scikit-learn runs next to it for
reference. Each script runs ``ROUNDS`` times in a fresh subprocess (after one untimed run that
fills the cache); the median wall is reported::

    PYTHONPATH=$PWD python -m pytest benchmarks/bench_startup.py --benchmark-enable -s -q
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time

import pytest

from benchmarks import _harness as H

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = 5 if H.FULL else 3
TARGET_S = 0.5

SCRIPT = textwrap.dedent("""
    import numpy as np
    from {module} import GaussianMixture
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(m, 1.0, (50, 4)) for m in (-4.0, 0.0, 4.0)])
    for cov in ("full", "tied", "diag", "spherical"):
        gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
        gm.predict(X)
        gm.score(X)
""")


def startup_wall(module: str = "fastem", rounds: int = ROUNDS) -> list:
    """Wall seconds of ``rounds`` fresh processes running :data:`SCRIPT` (one warm-up first)."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = SCRIPT.format(module=module)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)
    walls = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)
        walls.append(time.perf_counter() - t0)
    return walls


def test_startup_small_data(benchmark, record):
    walls = {}

    def measure():
        walls["fastem"] = startup_wall("fastem")
        try:
            import sklearn  # noqa: F401
            walls["sklearn"] = startup_wall("sklearn.mixture")
        except ImportError:
            pass
    benchmark.pedantic(measure, rounds=1, iterations=1)
    values = {f"{name}_wall_s": statistics.median(w) for name, w in walls.items()}
    values.update({f"{name}_walls": w for name, w in walls.items()}, target_s=TARGET_S)
    benchmark.extra_info.update(values)
    record("startup", **values)
    print(f"\nfresh process, import + fit/predict/score 150x4, K=3, 4 covariance types: "
          + ", ".join(f"{n} median {v:.3f} s" for n, v in values.items() if n.endswith("_wall_s")))
    assert values["fastem_wall_s"] > 0
