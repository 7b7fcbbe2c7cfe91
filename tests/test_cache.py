"""The on-disk kernel cache follows every kernel source file, not only the kernel's own."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import fastem
from fastem.kernels import _jit

SCRIPT = """
import numpy as np
from fastem.kernels.checks import first_nonfinite_row
X = np.zeros((10, 2)); X[7, 1] = np.nan
print(first_nonfinite_row.serial(X))
"""


def _run(root: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(root), "FASTEM_NUMBA_CACHE": "1"}
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=root, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def test_cache_directory_is_named_after_all_kernel_sources():
    path = Path(fastem.kernels.checks.first_nonfinite_row.serial._cache._cache_path)
    assert path.name == f"fastem-{_jit.source_stamp()}"


def test_editing_a_helper_file_invalidates_cached_kernels(tmp_path):
    pkg = Path(fastem.__file__).parent
    shutil.copytree(pkg, tmp_path / "fastem", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "fastem" / "kernels" / "__pycache__"
    assert _run(tmp_path) == "7"
    first = {p.name for p in cache.glob("fastem-*")}
    assert len(first) == 1 and any((cache / next(iter(first))).glob("checks.*.nbi"))
    # An edit to another kernel file (not checks.py) must move the cache.
    with open(tmp_path / "fastem" / "kernels" / "tiles.py", "a") as fh:
        fh.write("\n# edited\n")
    assert _run(tmp_path) == "7"
    second = {p.name for p in cache.glob("fastem-*")} - first
    assert len(second) == 1 and any((cache / next(iter(second))).glob("checks.*.nbi"))


def test_numba_blas_probe_does_not_import_scipy_linalg():
    """A fit loads Numba's CPU target without scipy.linalg; Numba's BLAS still works after."""
    code = """
import sys
import numba
import numpy as np
from fastem.kernels.checks import first_nonfinite_row
X = np.zeros((10, 2)); X[7, 1] = np.nan
assert first_nonfinite_row.serial(X) == 7
print("scipy.linalg" in sys.modules)
@numba.njit
def dot(a, b):
    return np.dot(a, b)
print(dot(np.eye(2), np.ones(2)).tolist(), "scipy.linalg" in sys.modules)
"""
    root = Path(fastem.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("FASTEM_NUMBA_BLAS_PROBE", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, check=True,
                         capture_output=True, text=True).stdout.split("\n")
    assert out[0] == "False" and out[1] == "[1.0, 1.0] True", out
