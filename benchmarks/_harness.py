"""Measurement core shared by the benchmark suites, the CI gate and the report.

Everything that decides *how* we time lives here, so the suites, ``gate.py`` and the numbers in
the README all mean the same thing:

* **Data**: a seeded mixture of 8 elongated Gaussians (:func:`make_data`), float64 generated
  once and cast for float32.
* **Identical initial parameters** (:func:`make_init`): K seeded rows as means, uniform weights,
  the covariance of the data for every component, and their precision Cholesky factors.
* **Per-iteration time**: both libraries run their own EM iteration (E-step + M-step) in a loop
  from the same parameters, and each iteration is timed on its own. fastem: the driver
  :func:`fastem.em.run_em` (what ``GaussianMixture.fit`` runs), per-iteration seconds from its
  callback. scikit-learn: ``_e_step`` + ``_m_step``, exactly the body of its ``fit`` loop,
  without the k-means initialisation and the final E-step that ``fit`` adds. The reported time
  is the median over the timed iterations.
* **oneDAL** (``daal4py.em_gmm``, optional): no per-iteration hook, so
  ``(time(max_iter=a+b) - time(max_iter=a)) / (n(a+b) - n(a))`` with ``n`` the iterations
  oneDAL reports it ran; every run's ``nIterations`` and goal function is recorded, and a
  timing with a run that stopped early is rejected (:func:`onedal_iterations`).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

FULL = os.environ.get("FASTEM_BENCH_FULL", "0").lower() not in {"", "0", "false", "no", "off"}
RESULTS_DIR = Path(__file__).resolve().parent / "results"
REG_COVAR = 1e-6


# ----------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=2)
def _make_data64(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k_true = 8
    centres = rng.normal(0.0, 5.0, (k_true, d))
    labels = rng.integers(0, k_true, n)
    X = np.empty((n, d))
    for j in range(k_true):
        rows = np.flatnonzero(labels == j)
        mix = np.eye(d) + 0.3 * rng.standard_normal((d, d))
        X[rows] = rng.standard_normal((rows.size, d)) @ mix + centres[j]
    X.setflags(write=False)
    return X


def make_data(n: int, d: int, dtype: Any = np.float64, seed: int = 0) -> np.ndarray:
    """Seeded (n, d) data from a mixture of 8 Gaussians; the last two (n, d) are cached."""
    X = _make_data64(int(n), int(d), seed)
    return X if np.dtype(dtype) == np.float64 else X.astype(dtype)


@dataclass(frozen=True)
class Init:
    """Initial parameters in scikit-learn's shapes (``precisions_cholesky`` upper for full)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


def make_init(X: np.ndarray, k: int, covariance_type: str, seed: int = 1) -> Init:
    """Identical initial parameters for every library: seeded rows as means, uniform weights,
    the data covariance (of at most 100,000 rows) for every component."""
    from fastem.families import get_family
    rng = np.random.default_rng(seed)
    n, d = X.shape
    means = np.asarray(X[np.sort(rng.choice(n, size=k, replace=False))], dtype=np.float64)
    head = np.asarray(X[: min(n, 100_000)], dtype=np.float64)
    if covariance_type == "full":
        cov = np.cov(head, rowvar=False).reshape(d, d) + REG_COVAR * np.eye(d)
        covs = np.repeat(cov[None], k, axis=0)
    elif covariance_type == "diag":
        covs = np.repeat((head.var(axis=0) + REG_COVAR)[None], k, axis=0)
    else:
        raise ValueError(f"benchmarks cover covariance_type 'full' and 'diag'; got "
                         f"{covariance_type!r}.")
    family = get_family(covariance_type)
    prec_chol, bad = family.precision_cholesky(covs)
    if bad >= 0:
        raise ValueError(f"initial covariance {bad} is singular")
    return Init(np.full(k, 1.0 / k), means, covs, prec_chol)


# ----------------------------------------------------------------------------- threads
@contextlib.contextmanager
def thread_setup(n_threads: int, blas_threads: int) -> Iterator[dict]:
    """Numba and BLAS threads for a block; yields what was set (for ``extra_info``)."""
    import numba
    from threadpoolctl import threadpool_limits
    old = numba.get_num_threads()
    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            yield {"numba_threads": numba.get_num_threads(), "blas_threads": blas_threads}
    finally:
        numba.set_num_threads(old)


# ----------------------------------------------------------------------------- runners
@dataclass
class IterTimes:
    """Seconds of each timed iteration and the lower bound (mean log-likelihood) of each."""

    seconds: list
    lower_bounds: list

    @property
    def per_iter(self) -> float:
        return float(statistics.median(self.seconds))


def _iterations_for(first: float, budget: float, min_iter: int, max_iter: int) -> int:
    """How many iterations fit in ``budget`` seconds given the first one took ``first``."""
    return int(max(min_iter, min(max_iter, budget // max(first, 1e-9))))


_WARMED: set = set()


def warm_up_fastem(dtype: Any, covariance_type: str) -> None:
    """Compile fastem's kernels for (dtype, covariance type) outside any timed region."""
    key = (np.dtype(dtype).str, covariance_type)
    if key in _WARMED:
        return
    X = make_data(512, 3, dtype, seed=99)
    fastem_iterations(X, make_init(X, 2, covariance_type), covariance_type, min_iter=2,
                      max_iter=2, warm=False)
    _WARMED.add(key)


def fastem_iterations(X: np.ndarray, init: Init, covariance_type: str, *, min_iter: int = 3,
                      max_iter: int = 10, budget: float = 2.0, warm: bool = True) -> IterTimes:
    """Time fastem EM iterations from ``init`` (tol=0): one untimed iteration, then between
    ``min_iter`` and ``max_iter`` timed ones within about ``budget`` seconds."""
    from fastem.backends import choose_backend
    from fastem.data import as_source
    from fastem.em import run_em
    from fastem.families import GaussianParams, get_family
    if warm:
        warm_up_fastem(X.dtype, covariance_type)
    family = get_family(covariance_type)
    source = as_source(X)
    backend = choose_backend("auto", source)
    params = GaussianParams(init.weights, init.means, init.covariances,
                            init.precisions_cholesky)
    seconds: list = []
    bounds: list = []

    def step(p, n):
        r = run_em(source, family, p, stats_fn=backend.em_stats, max_iter=n, tol=0.0,
                   reg_covar=REG_COVAR, callback=lambda info: seconds.append(info.seconds))
        bounds.extend(r.lower_bounds)
        return r.params

    params = step(params, 1)  # untimed: first touch of the data and of the slabs
    seconds.clear()
    params = step(params, 1)
    n = _iterations_for(seconds[0], budget, min_iter, max_iter)
    if n > 1:
        step(params, n - 1)
    return IterTimes(seconds, bounds)


def sklearn_iterations(X: np.ndarray, init: Init, covariance_type: str, *, min_iter: int = 2,
                       max_iter: int = 5, budget: float = 4.0,
                       single_above: float = 15.0) -> IterTimes:
    """Time scikit-learn EM iterations (``_e_step`` + ``_m_step``, the body of its ``fit``
    loop) from ``init``. Stops after one iteration when that one took ``single_above`` s."""
    from sklearn.mixture import GaussianMixture as SkGM
    gm = SkGM(n_components=init.means.shape[0], covariance_type=covariance_type,
              reg_covar=REG_COVAR, tol=0.0, max_iter=1)
    gm.weights_ = init.weights.copy()
    gm.means_ = init.means.copy()
    gm.covariances_ = init.covariances.copy()
    gm.precisions_cholesky_ = init.precisions_cholesky.copy()
    seconds: list = []
    bounds: list = []
    n = max_iter
    i = 0
    while i < n:
        t0 = time.perf_counter()
        log_prob_norm, log_resp = gm._e_step(X)
        gm._m_step(X, log_resp)
        seconds.append(time.perf_counter() - t0)
        bounds.append(float(log_prob_norm))
        del log_resp
        if i == 0:
            n = 1 if seconds[0] >= single_above else _iterations_for(
                seconds[0], budget, min_iter, max_iter)
        i += 1
    return IterTimes(seconds, bounds)


def import_daal4py():
    """Import daal4py's algorithms, or return None.

    daal4py 2024.x fails to import next to scikit-learn >= 1.6 because its ``__init__``
    imports its scikit-learn patches; the algorithms themselves do not need them, so the two
    patch packages are stubbed for the import.
    """
    import types
    try:
        import daal4py  # noqa: F401
        return daal4py
    except ImportError:
        pass
    except Exception:
        pass
    stubbed = []
    try:
        for name in ("daal4py.sklearn", "daal4py.mb"):
            if name not in sys.modules:
                sys.modules[name] = types.ModuleType(name)
                stubbed.append(name)
        for name in [m for m in sys.modules if m == "daal4py"]:
            del sys.modules[name]
        import daal4py
        return daal4py if hasattr(daal4py, "em_gmm") else None
    except Exception:
        for name in stubbed:
            sys.modules.pop(name, None)
        return None


class OneDALStoppedEarly(RuntimeError):
    """oneDAL ran fewer EM iterations than requested, so a difference timing is meaningless."""


@dataclass
class OneDALTimes(IterTimes):
    """oneDAL's difference timing plus every run behind it.

    ``runs`` holds one dict per ``compute`` call: ``max_iter`` requested, ``n_iterations``
    oneDAL reports (``nIterations``), ``goal`` (its goal function, the total log-likelihood)
    and ``seconds``. ``invalid`` is ``None`` for a usable number, else the reason it was
    rejected (then ``seconds`` is empty and there is no per-iteration time).
    """

    runs: list = None
    invalid: Optional[str] = None

    @property
    def valid(self) -> bool:
        return self.invalid is None


def onedal_run(d4p: Any, X: np.ndarray, w: np.ndarray, m: np.ndarray, covs: list, *,
               k: int, iters: int, storage: str, fptype: str) -> dict:
    """One ``daal4py.em_gmm`` fit of ``iters`` iterations (``accuracyThreshold=0``): its wall
    time, the iterations it really ran and its goal function."""
    algo = d4p.em_gmm(nComponents=k, maxIterations=iters, accuracyThreshold=0.0,
                      regularizationFactor=REG_COVAR, covarianceStorage=storage, fptype=fptype)
    t0 = time.perf_counter()
    res = algo.compute(X, w, m, covs)
    seconds = time.perf_counter() - t0
    n_it = int(np.asarray(res.nIterations).ravel()[0])
    goal = float(np.asarray(res.goalFunction).ravel()[0])
    return {"max_iter": iters, "n_iterations": n_it, "goal": goal, "seconds": seconds}


def onedal_iterations(X: np.ndarray, init: Init, covariance_type: str, *, a: int = 1,
                      b: int = 2, n_threads: int = 2) -> Optional[OneDALTimes]:
    """oneDAL per-iteration time as ``(t(a+b) - t(a)) / (n(a+b) - n(a))``, where ``n`` is the
    number of iterations oneDAL reports it ran (``nIterations``).

    Every run is recorded (``OneDALTimes.runs``). A run that stopped before the iterations it
    was asked for (oneDAL may stop even with ``accuracyThreshold=0``: float32 diag at D = 64
    stops after 2) makes the timing invalid (``OneDALTimes.invalid`` says why), as do load
    noise larger than the difference and oneDAL giving up ("Ill-conditioned covariance
    matrix" on some points where fastem and scikit-learn proceed with ``reg_covar``).
    Returns None only when daal4py is not importable.
    """
    d4p = import_daal4py()
    if d4p is None:
        return None
    d4p.daalinit(n_threads)
    fp = "float" if X.dtype == np.float32 else "double"
    storage = "full" if covariance_type == "full" else "diagonal"
    k = init.means.shape[0]
    covs = init.covariances if covariance_type == "full" else init.covariances[:, None, :]
    covs = [np.ascontiguousarray(c, dtype=X.dtype) for c in covs]
    w = np.ascontiguousarray(init.weights[None, :], dtype=X.dtype)
    m = np.ascontiguousarray(init.means, dtype=X.dtype)
    Xc = np.ascontiguousarray(X)
    runs: list = []

    def run(iters):
        r = onedal_run(d4p, Xc, w, m, covs, k=k, iters=iters, storage=storage, fptype=fp)
        runs.append(r)
        if r["n_iterations"] != iters:
            raise OneDALStoppedEarly(
                f"oneDAL stopped after {r['n_iterations']} of {iters} requested iterations "
                f"(goal function {r['goal']:.6g})")
        return r

    def best(iters):
        return min((run(iters), run(iters)), key=lambda r: r["seconds"])

    def invalid(reason):
        return OneDALTimes([], [], runs=runs, invalid=reason)

    try:
        t1 = run(1)["seconds"]  # also the warm-up
        if t1 > 5.0:  # expensive: single shots, b = 2
            ra = run(a)
            rab = run(a + b)
        else:  # cheap: more iterations in the difference, best of two of each
            b = int(min(8, max(b, 2.0 // max(t1, 1e-3))))
            ra = best(a)
            rab = best(a + b)
    except OneDALStoppedEarly as exc:
        print(f"oneDAL run rejected: {exc}", file=sys.stderr)
        return invalid(str(exc))
    except RuntimeError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"oneDAL failed: {msg}", file=sys.stderr)
        return invalid(f"oneDAL raised: {msg}")
    done = rab["n_iterations"] - ra["n_iterations"]
    if rab["seconds"] <= ra["seconds"]:  # noise larger than the difference
        return invalid(f"load noise: t({rab['max_iter']}) = {rab['seconds']:.4g} s <= "
                       f"t({ra['max_iter']}) = {ra['seconds']:.4g} s")
    return OneDALTimes([(rab["seconds"] - ra["seconds"]) / done],
                       [rab["goal"] / X.shape[0]], runs=runs)


# ----------------------------------------------------------------------------- roofline
def matmul_gflops(dtype: Any = np.float64, n: int = 1024, repeats: int = 5) -> float:
    """numpy matmul GFLOP/s (best of ``repeats``) with the current BLAS threads."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    a @ b
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def em_flops_full(n: int, d: int, k: int) -> float:
    """Flops of one full-covariance EM iteration as issue 6 counts them: D^2 multiply-adds per
    (row, component) (D^2/2 for the triangular Mahalanobis term, D^2/2 for the triangular
    scatter), 2 flops each."""
    return 2.0 * n * k * d * d


# ----------------------------------------------------------------------------- machine
@functools.lru_cache(maxsize=1)
def cpu_kind() -> dict:
    """The processor as the first entry of ``/proc/cpuinfo`` names it: model name, family
    and model numbers, and whether it has AVX-512 (machines of one model name can be different
    generations, with different relative speeds of fastem's kernels and BLAS)."""
    kind = {"cpu": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name":
                    kind["cpu"] = value
                elif key in ("cpu family", "model"):
                    kind["cpu_" + key.split()[-1]] = value
                elif key == "flags":
                    kind["avx512"] = "avx512f" in value.split()
                    break
    except OSError:
        pass
    return kind


def machine_info() -> dict:
    """Where the numbers were measured (recorded with every result)."""
    import numba
    info = {**cpu_kind(), "logical_cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "")}
    try:
        import sklearn
        info["sklearn"] = sklearn.__version__
    except ImportError:
        pass
    try:
        import psutil
        info["mem_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info
        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if blas:
            info["blas"] = f"{blas[0].get('internal_api')} {blas[0].get('version')} " \
                           f"({blas[0].get('architecture')})"
    except ImportError:
        pass
    return info


# ----------------------------------------------------------------------------- results
def results_path() -> Path:
    """JSON-lines file the suites append to (``FASTEM_BENCH_OUT`` overrides)."""
    env = os.environ.get("FASTEM_BENCH_OUT")
    if env:
        return Path(env)
    return RESULTS_DIR / ("full.jsonl" if FULL else "smoke.jsonl")


def append_record(record: dict, path: Optional[Path] = None) -> None:
    """Append one result as a JSON line (so a partial run still renders)."""
    path = Path(path) if path is not None else results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = dict(record)
    rec.setdefault("time_utc", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    rec.setdefault("full", FULL)
    rec.setdefault("load_avg_1min", round(os.getloadavg()[0], 2))
    with open(path, "a") as fh:
        fh.write(json.dumps(rec, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def rel_diff(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|, 1e-300)."""
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def compare_iterations(fe: IterTimes, sk: IterTimes) -> dict:
    """Per-iteration numbers of both libraries and their log-likelihoods, for ``extra_info``.

    ``fastem`` records one untimed iteration first, so its lower bound list is one longer:
    index ``i`` of both lists is the same EM iteration from the same start.
    """
    common = min(len(fe.lower_bounds), len(sk.lower_bounds))
    return {
        "fastem_s_per_iter": fe.per_iter, "sklearn_s_per_iter": sk.per_iter,
        "ratio_fastem_over_sklearn": fe.per_iter / sk.per_iter,
        "speedup_vs_sklearn": sk.per_iter / fe.per_iter,
        "fastem_iters_timed": len(fe.seconds), "sklearn_iters_timed": len(sk.seconds),
        "loglik_fastem": fe.lower_bounds[-1], "loglik_sklearn": sk.lower_bounds[-1],
        "loglik_common_iter": common,
        "loglik_rel_diff_common_iter": rel_diff(fe.lower_bounds[common - 1],
                                                sk.lower_bounds[common - 1]),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, result)`` of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out
