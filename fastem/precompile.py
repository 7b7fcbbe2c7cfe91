"""Build the on-disk kernel cache ahead of use: ``fastem precompile`` / :func:`precompile`.

Numba compiles each kernel once per tuple of argument types (dtype, memory layout, covariance
shape), a few seconds of one core each, and caches the result on disk (see
``docs/internals.md``, "Compilation cache"). A fresh environment (a container image, a CI
runner, a cluster's workers) pays that on its first fits. ``precompile`` pays it up front, in
parallel over processes: it runs tiny fits, predictions and scores that take the code paths
real calls take, one *workload* per estimator, input dtype and layout, so what it compiles is
exactly what those calls load later.

Workloads that need an optional dependency that is not installed are skipped; a workload that
fails is reported and the others still run (nothing here changes any model).
"""
from __future__ import annotations

import subprocess
import sys
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

__all__ = ["WORKLOADS", "precompile"]

_COV_TYPES = ("full", "tied", "diag", "spherical")


def _gaussian_data(dtype=np.float64, layout: str = "C", d: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(40, d)), rng.normal(4.0, 1.0, size=(40, d))])
    X = X.astype(dtype)
    if layout == "F":
        return np.asfortranarray(X)
    if layout == "strided":
        big = np.zeros((2 * X.shape[0], d + 1), dtype)
        big[::2, :d] = X
        return big[::2, :d]
    return np.ascontiguousarray(X)


def _use(model, X) -> None:
    model.fit(X)
    model.predict_proba(X)
    model.score_samples(X)
    model.predict(X)


def _gaussian(dtype, layout: str, d: int = 3, inits: Sequence[str] = ("kmeans",)) -> Callable:
    def run() -> None:
        from . import GaussianMixture
        X = _gaussian_data(dtype, layout, d)
        for cov in _COV_TYPES:
            for init in inits:
                _use(GaussianMixture(2, covariance_type=cov, init_params=init, max_iter=2,
                                     random_state=0), X)
    return run


def _missing() -> None:
    from . import GaussianMixture
    X = _gaussian_data()
    X[::7, 1] = np.nan
    X[::11, 0] = np.nan
    for cov in _COV_TYPES:
        gm = GaussianMixture(2, covariance_type=cov, nan_policy="marginalize", max_iter=2,
                             random_state=0)
        _use(gm, X)
        gm.impute(X)
    from . import BayesianGaussianMixture, StudentMixture
    for cov in _COV_TYPES:        # the variational family runs the Gaussian kernels above
        for cls in (StudentMixture, BayesianGaussianMixture):
            est = cls(2, covariance_type=cov, nan_policy="marginalize", max_iter=2,
                      random_state=0)
            _use(est, X)
            est.impute(X)


def _bayesian() -> None:
    from . import BayesianGaussianMixture
    X = _gaussian_data()
    for cov in _COV_TYPES:
        _use(BayesianGaussianMixture(n_components=2, covariance_type=cov, max_iter=2,
                                     random_state=0), X)


def _student(dtype) -> Callable:
    def run() -> None:
        from . import StudentMixture
        X = _gaussian_data(dtype)
        for cov in _COV_TYPES:
            _use(StudentMixture(2, covariance_type=cov, max_iter=2, random_state=0), X)
    return run


def _bernoulli(dtype) -> Callable:
    def run() -> None:
        from . import BernoulliMixture
        X = (np.random.default_rng(1).uniform(size=(80, 6)) < 0.4).astype(dtype)
        _use(BernoulliMixture(2, max_iter=2, random_state=0), X)
    return run


def _categorical(dtype) -> Callable:
    def run() -> None:
        from . import CategoricalMixture
        X = np.random.default_rng(2).integers(0, 3, size=(80, 4)).astype(dtype)
        _use(CategoricalMixture(2, max_iter=2, random_state=0), X)
    return run


def _poisson(dtype) -> Callable:
    def run() -> None:
        from . import PoissonMixture
        X = np.random.default_rng(3).poisson(3.0, size=(80, 4)).astype(dtype)
        _use(PoissonMixture(2, max_iter=2, random_state=0), X)
    return run


def _mixed() -> None:
    from . import MixedTypeMixture
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.normal(size=80), rng.normal(size=80),
                         rng.uniform(size=80) < 0.5, rng.integers(0, 3, 80),
                         rng.poisson(2.0, 80)]).astype(np.float64)
    columns = {"gaussian": [0, 1], "bernoulli": [2], "categorical": [3], "poisson": [4]}
    _use(MixedTypeMixture(2, columns=columns, max_iter=2, random_state=0), X)


#: The workloads, most common first: name -> callable. Each compiles the kernels that its
#: estimator, input dtype and layout load; together, what the usual calls need.
WORKLOADS: Dict[str, Callable[[], None]] = {
    "gaussian-float64": _gaussian(np.float64, "C",
                                  inits=("kmeans", "k-means++", "random", "random_from_data")),
    "gaussian-float32": _gaussian(np.float32, "C", inits=("kmeans", "random")),
    "gaussian-float32-wide": _gaussian(np.float32, "C", d=16),
    "gaussian-float64-fortran": _gaussian(np.float64, "F"),
    "gaussian-float64-strided": _gaussian(np.float64, "strided"),
    "bayesian-float64": _bayesian,
    "missing-float64": _missing,
    "bernoulli-uint8": _bernoulli(np.uint8),
    "bernoulli-float64": _bernoulli(np.float64),
    "categorical-int64": _categorical(np.int64),
    "categorical-uint8": _categorical(np.uint8),
    "poisson-int64": _poisson(np.int64),
    "poisson-uint16": _poisson(np.uint16),
    "student-float64": _student(np.float64),
    "student-float32": _student(np.float32),
    "mixed-float64": _mixed,
}


def _run_here(names: Sequence[str], quiet: bool) -> List[str]:
    failed = []
    for name in names:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                WORKLOADS[name]()
        except ImportError as exc:
            if not quiet:
                print(f"{name}: skipped ({exc})", flush=True)
            continue
        except Exception as exc:  # reported, never fatal: the cache is only an optimisation
            failed.append(name)
            print(f"{name}: FAILED ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
            continue
        if not quiet:
            print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
    return failed


def precompile(workloads: Optional[Sequence[str]] = None, *, jobs: int = 1,
               quiet: bool = False) -> List[str]:
    """Compile the kernels the given workloads use into the on-disk cache.

    Parameters
    ----------
    workloads : sequence of str, optional
        Names from :data:`WORKLOADS` (default: all, most common first).
    jobs : int, default=1
        Processes to compile in; workloads are dealt out round-robin (Numba compiles on one
        core per process).
    quiet : bool, default=False
        Print nothing but failures.

    Returns
    -------
    list of str
        The workloads that failed (empty when every one ran or was skipped).
    """
    names = list(WORKLOADS) if workloads is None else list(workloads)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise ValueError(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs == 1 or len(names) <= 1:
        return _run_here(names, quiet)
    procs = []
    for j in range(min(jobs, len(names))):
        cmd = [sys.executable, "-m", "fastem", "precompile", *names[j::jobs]]
        procs.append(subprocess.Popen(cmd + (["--quiet"] if quiet else []),
                                      stderr=subprocess.PIPE, text=True))
    failed = []
    for proc in procs:
        _, err = proc.communicate()
        for line in err.splitlines():
            name, _, rest = line.partition(": ")
            if rest.startswith("FAILED") and name in WORKLOADS:
                failed.append(name)
            print(line, file=sys.stderr)
    return failed
