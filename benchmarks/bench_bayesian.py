"""BayesianGaussianMixture: fastem vs scikit-learn, per iteration, memory and a default fit.

* ``test_iteration``: per-iteration time (E-step + M-step + lower bound, the body of
  scikit-learn's ``fit`` loop) from **identical initial posteriors** (the variational M-step of
  the hard labels of K seeded rows, with scikit-learn's priors on both sides), in the same run.
  Both libraries' lower bounds at the same iteration are recorded and must agree to 1e-8.
* ``test_memory``: peak resident memory of a short fit, each library in its own process.
* ``test_default_fit``: a whole default fit (``n_components=20``, 5 true clusters): wall time
  and the effective number of components (expected weight >= 1e-3) each library finds.

Sizes: full grid (``FASTEM_BENCH_FULL=1``) N = 1e6, D in {2, 8, 32}, K in {4, 16, 64}, full
and diag. ``FASTEM_BENCH_BAYES_N`` overrides N and ``FASTEM_BENCH_BAYES_GRID`` the (D, K)
points (e.g. ``"2x4,8x16,32x16"``). Smoke (default): N = 20,000, D = 8, K = 4, full.
``FASTEM_BENCH_BAYES_FIT_N`` sets the default fit's N. ``python -m benchmarks.bench_bayesian table
[results.jsonl]`` prints the Markdown table; ``python -m benchmarks.bench_bayesian profile N D K
[COV]`` splits one iteration's time (fused pass, E-step alone, M-step, lower bound).
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from benchmarks import _harness as H

ROOT = Path(__file__).resolve().parent.parent
REG = H.REG_COVAR
_N_ENV = os.environ.get("FASTEM_BENCH_BAYES_N")
_GRID_ENV = os.environ.get("FASTEM_BENCH_BAYES_GRID")
if H.FULL:
    N, POINTS = 1_000_000, list(itertools.product((2, 8, 32), (4, 16, 64)))
    COVS = ("full", "diag")
else:
    N, POINTS, COVS = 20_000, [(8, 4)], ("full",)
if _N_ENV:
    N = int(float(_N_ENV))
    COVS = ("full", "diag")
if _GRID_ENV:
    POINTS = [tuple(int(v) for v in p.split("x")) for p in _GRID_ENV.split(",")]
THREADS = 2
EFFECTIVE_WEIGHT = 1e-3
_FIT_N = int(float(os.environ.get("FASTEM_BENCH_BAYES_FIT_N", N if _N_ENV else 20_000)))
DEFAULT_FIT = (1_000_000, 8, 20, 5) if H.FULL else (_FIT_N, 8, 20, 5)


# ------------------------------------------------------------------ identical starts
def initial_posteriors(X: np.ndarray, k: int, cov: str, seed: int = 1):
    """(fastem family, fastem params, fitted-looking scikit-learn model) at the same
    posterior: the variational M-step of the hard labels of ``k`` seeded rows."""
    from sklearn.mixture import BayesianGaussianMixture as SkBGM
    from fastem.backends import numba as nb
    from fastem.data import ArraySource
    from fastem.families import get_family
    from fastem.families.variational import VariationalGaussianFamily
    from fastem.families.variational_mstep import VariationalPriors
    rng = np.random.default_rng(seed)
    gaussian = get_family(cov)
    centers = np.asarray(X[np.sort(rng.choice(X.shape[0], k, replace=False))], np.float64)
    stats, _ = nb.kmeans_stats(ArraySource(X), centers, gaussian.scatter_shape(k, X.shape[1]))
    sk = SkBGM(n_components=k, covariance_type=cov, reg_covar=REG, tol=0.0, max_iter=1)
    sk._check_parameters(X)
    priors = VariationalPriors(sk.weight_concentration_prior_type,
                               sk.weight_concentration_prior_, sk.mean_precision_prior_,
                               np.asarray(sk.mean_prior_, np.float64),
                               sk.degrees_of_freedom_prior_, sk.covariance_prior_)
    family = VariationalGaussianFamily(gaussian, priors)
    params = family.m_step(stats, None, reg=REG)
    nk = stats.nk + 10 * np.finfo(np.float64).eps
    delta = stats.s1 / nk[:, None]
    sk._estimate_weights(nk)
    sk._estimate_means(nk, stats.shift + delta)
    sk._estimate_precisions(nk, stats.shift + delta, gaussian.covariances_from_stats(
        nk, delta, gaussian.symmetrise(stats.s2), REG))
    return family, params, sk


def fastem_iterations(X, family, params, *, min_iter=3, max_iter=10, budget=2.0) -> H.IterTimes:
    """fastem's driver from ``params``: one untimed iteration, then timed ones."""
    from fastem.backends import numba as nb
    from fastem.data import as_source
    from fastem.em import run_em
    source = as_source(X)
    seconds: list = []
    bounds: list = []

    def step(p, n):
        r = run_em(source, family, p, stats_fn=nb.em_stats, max_iter=n, tol=0.0,
                   reg_covar=REG, callback=lambda info: seconds.append(info.seconds))
        bounds.extend(r.lower_bounds)
        return r.params

    params = step(params, 1)
    seconds.clear()
    params = step(params, 1)
    n = int(max(min_iter, min(max_iter, budget // max(seconds[0], 1e-9))))
    if n > 1:
        step(params, n - 1)
    return H.IterTimes(seconds, bounds)


def sklearn_iterations(X, sk, *, min_iter=2, max_iter=5, budget=4.0,
                       single_above=15.0) -> H.IterTimes:
    """scikit-learn's ``_e_step`` + ``_m_step`` + ``_compute_lower_bound`` (its fit loop)."""
    seconds: list = []
    bounds: list = []
    n, i = max_iter, 0
    while i < n:
        t0 = time.perf_counter()
        log_prob_norm, log_resp = sk._e_step(X)
        sk._m_step(X, log_resp)
        lb = sk._compute_lower_bound(log_resp, log_prob_norm)
        seconds.append(time.perf_counter() - t0)
        bounds.append(float(np.ravel(lb)[0]))
        del log_resp
        if i == 0:
            n = 1 if seconds[0] >= single_above else int(
                max(min_iter, min(max_iter, budget // max(seconds[0], 1e-9))))
        i += 1
    return H.IterTimes(seconds, bounds)


def _warm_up(cov: str) -> None:
    X = H.make_data(600, 3, seed=98)
    family, params, _ = initial_posteriors(X, 2, cov)
    fastem_iterations(X, family, params, min_iter=1, max_iter=1)


CASES = [pytest.param(d, cov, k, id=f"N{N}-D{d}-K{k}-{cov}")
         for (d, k), cov in itertools.product(POINTS, COVS)]


@pytest.mark.parametrize("d,cov,k", CASES)
def test_iteration(benchmark, record, d, cov, k):
    from benchmarks.conftest import run_once
    X = H.make_data(N, d)
    _warm_up(cov)
    family, params, sk = initial_posteriors(X, k, cov)
    with H.thread_setup(THREADS, 1) as fe_threads:
        fe = run_once(benchmark, lambda: fastem_iterations(X, family, params))
    with H.thread_setup(THREADS, THREADS) as sk_threads, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skt = sklearn_iterations(X, sk)
    values = {"n": N, "d": d, "k": k, "covariance_type": cov, "dtype": "float64",
              "fastem_threads": fe_threads, "sklearn_threads": sk_threads,
              **H.compare_iterations(fe, skt)}
    record("bayesian_iteration", **values)
    # fastem's first (untimed) iteration is scikit-learn's first: same start, same bound.
    assert values["loglik_rel_diff_common_iter"] < 1e-8, values


# ---------------------------------------------------------------------------- memory
def _memory_child(lib: str, n: int, d: int, k: int, cov: str, max_iter: int) -> dict:
    from benchmarks._memchild import _status_kib
    warnings.simplefilter("ignore")
    if lib == "fastem":
        from fastem import BayesianGaussianMixture
        # Warm-up at the same K and D (JIT, thread pool, first-touch allocations: ~115 MB
        # once per process, not per fit) on a small copy of the data.
        BayesianGaussianMixture(k, covariance_type=cov, max_iter=2).fit(
            H.make_data(max(50 * k, 5000), d, seed=7))
        est = BayesianGaussianMixture(k, covariance_type=cov, max_iter=max_iter, tol=0.0,
                                      random_state=0)
    else:
        from sklearn.mixture import BayesianGaussianMixture
        est = BayesianGaussianMixture(n_components=k, covariance_type=cov, max_iter=max_iter,
                                      tol=0.0, init_params="k-means++", random_state=0)
    X = np.ascontiguousarray(H.make_data(n, d))
    H._make_data64.cache_clear()
    import gc
    gc.collect()
    before = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    t0 = time.perf_counter()
    est.fit(X)
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    return {"lib": lib, "input_mib": X.nbytes / 2**20, "fit_extra_mib": (peak - before) / 1024,
            "peak_rss_mib": peak / 1024, "fit_seconds": seconds}


def _run_child(*args) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_bayesian", "memchild",
                          *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_memory(benchmark, record):
    from benchmarks.conftest import run_once
    n, d, k, cov = (N, 16, 32, "full") if (H.FULL or _N_ENV) else (20_000, 8, 8, "full")
    fe = run_once(benchmark, lambda: _run_child("fastem", n, d, k, cov, 3))
    sk = _run_child("sklearn", n, d, k, cov, 3)
    record("bayesian_memory", n=n, d=d, k=k, covariance_type=cov,
           input_mib=fe["input_mib"], fastem_fit_extra_mib=fe["fit_extra_mib"],
           sklearn_fit_extra_mib=sk["fit_extra_mib"], fastem_fit_seconds=fe["fit_seconds"],
           sklearn_fit_seconds=sk["fit_seconds"])
    # No N x K array: far below scikit-learn's, and below the input's size plus 300 MB.
    assert fe["fit_extra_mib"] < fe["input_mib"] + 300


# ------------------------------------------------------------------- a default fit
def _five_clusters(n: int, d: int, n_true: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 6.0, (n_true, d))
    X = centers[rng.integers(0, n_true, n)] + rng.standard_normal((n, d))
    return X


def test_default_fit(benchmark, record):
    from benchmarks.conftest import run_once
    from sklearn.mixture import BayesianGaussianMixture as SkBGM
    from fastem import BayesianGaussianMixture
    n, d, k, n_true = DEFAULT_FIT
    X = _five_clusters(n, d, n_true)
    BayesianGaussianMixture(2, max_iter=2).fit(X[:1000])       # JIT outside the timing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with H.thread_setup(THREADS, 1):
            t_fe, fe = H.timed(lambda: run_once(
                benchmark, lambda: BayesianGaussianMixture(k, random_state=0).fit(X)))
        with H.thread_setup(THREADS, THREADS):
            t_sk, sk = H.timed(lambda: SkBGM(n_components=k, random_state=0).fit(X))
    eff = {name: int(np.count_nonzero(m.weights_ >= EFFECTIVE_WEIGHT))
           for name, m in (("fastem", fe), ("sklearn", sk))}
    record("bayesian_default_fit", n=n, d=d, k=k, true_components=n_true,
           fastem_seconds=t_fe, sklearn_seconds=t_sk, speedup=t_sk / t_fe,
           fastem_n_iter=fe.n_iter_, sklearn_n_iter=sk.n_iter_,
           fastem_effective=eff["fastem"], sklearn_effective=eff["sklearn"],
           fastem_lower_bound=fe.lower_bound_,
           sklearn_lower_bound=float(np.ravel(sk.lower_bound_)[0]))
    assert eff["fastem"] >= 1


# --------------------------------------------------------------------------- pruning
def _timing_iterations(est):
    """``est`` with a hook that appends each iteration's seconds to the returned list."""
    seconds: list = []
    est._verbose_hooks = lambda: {"callback": lambda info: seconds.append(info.seconds)}
    return est, seconds


def test_prune(benchmark, record):
    """``prune_threshold``: dead components leave the passes, so later iterations cost less."""
    from benchmarks.conftest import run_once
    from fastem import BayesianGaussianMixture
    n = DEFAULT_FIT[0]
    X = _five_clusters(n, 8, 5, seed=1)
    kw = dict(n_components=32, init_params="random", weight_concentration_prior=1e-3,
              max_iter=150, tol=0.0, random_state=0)
    BayesianGaussianMixture(2, max_iter=2).fit(X[:1000])
    with warnings.catch_warnings(), H.thread_setup(THREADS, 1):
        warnings.simplefilter("ignore")
        est_all, secs_all = _timing_iterations(BayesianGaussianMixture(**kw))
        t_all, full = H.timed(lambda: est_all.fit(X))
        est_pruned, secs_pruned = _timing_iterations(
            BayesianGaussianMixture(prune_threshold=1e-7, **kw))
        t_pruned, pruned = H.timed(lambda: run_once(benchmark, lambda: est_pruned.fit(X)))
    alive = pruned._active
    # Per-iteration seconds, median of the first and of the last 10 iterations: pruning
    # makes the later iterations cheaper while the unpruned fit's stay as they were.
    first = {name: float(np.median(s[:10])) for name, s in (("all", secs_all),
                                                           ("pruned", secs_pruned))}
    last = {name: float(np.median(s[-10:])) for name, s in (("all", secs_all),
                                                           ("pruned", secs_pruned))}
    record("bayesian_prune", n=n, d=8, k=32, max_iter=150, unpruned_seconds=t_all,
           pruned_seconds=t_pruned, speedup=t_all / t_pruned,
           unpruned_first10_s_per_iter=first["all"], unpruned_last10_s_per_iter=last["all"],
           pruned_first10_s_per_iter=first["pruned"], pruned_last10_s_per_iter=last["pruned"],
           active_at_end=int(alive.sum()) if alive is not None else 32,
           max_rel_diff_survivors=float(np.max(np.abs(pruned.means_[alive] - full.means_[alive])
                                               / np.abs(full.means_[alive]).clip(1e-12)))
           if alive is not None else 0.0)


# -------------------------------------------------------------------------- profile
def profile(n: int, d: int, k: int, cov: str = "full", reps: int = 3) -> dict:
    """Where one fastem iteration's time goes at one grid point (fastest of ``reps``): the
    fused pass, the E-step alone (log-densities and log-sum-exp, no statistics: the same
    pass without the scatter), and the Python work (kernel arguments with the variational
    constants, the variational M-step with its Choleskys, the lower bound with its Wishart
    normalisers and digamma terms)."""
    from fastem.backends import numba as nb
    from fastem.data import as_source
    X = H.make_data(n, d)
    family, params, _ = initial_posteriors(X, k, cov)
    source = as_source(X)
    times: dict = {"kernel_args": [], "fused_pass": [], "e_step_only": [], "m_step": [],
                   "lower_bound": []}
    with H.thread_setup(THREADS, 1):
        kargs = family.kernel_args(params)
        nb.em_stats(source, kargs, family)
        family.e_step_outputs(X, kargs)
        for _ in range(reps):
            t0 = time.perf_counter()
            kargs = family.kernel_args(params)
            t1 = time.perf_counter()
            stats = nb.em_stats(source, kargs, family)
            t2 = time.perf_counter()
            new = family.m_step(stats, params, reg=REG)
            t3 = time.perf_counter()
            family.lower_bound(stats, new, params)
            t4 = time.perf_counter()
            family.e_step_outputs(X, kargs)
            t5 = time.perf_counter()
            for name, sec in (("kernel_args", t1 - t0), ("fused_pass", t2 - t1),
                              ("m_step", t3 - t2), ("lower_bound", t4 - t3),
                              ("e_step_only", t5 - t4)):
                times[name].append(sec)
            params = new
    out = {name: min(v) for name, v in times.items()}
    python = out["kernel_args"] + out["m_step"] + out["lower_bound"]
    out["python_share_of_iteration"] = python / (python + out["fused_pass"])
    out["e_step_share_of_pass"] = out["e_step_only"] / out["fused_pass"]
    return {"n": n, "d": d, "k": k, "covariance_type": cov,
            "load_avg_1min": round(os.getloadavg()[0], 2), **out}


# ---------------------------------------------------------------------------- table
def table(path: Path) -> str:
    """Markdown tables of the ``bayesian_*`` records in ``path`` (later records win)."""
    rows: dict = {}
    other: list = []
    for line in Path(path).read_text().splitlines():
        rec = json.loads(line)
        if rec.get("suite") == "bayesian_iteration":
            rows[(rec["n"], rec["d"], rec["k"], rec["covariance_type"])] = rec
        elif str(rec.get("suite", "")).startswith("bayesian_"):
            other.append(rec)
    out = ["| N | D | K | cov | fastem s/iter | scikit-learn s/iter | speed-up | Δ bound |",
           "|---|---|---|---|---|---|---|---|"]
    speedups = []
    for (n, d, k, cov), r in sorted(rows.items()):
        speedups.append(r["speedup_vs_sklearn"])
        out.append(f"| {n:,} | {d} | {k} | {cov} | {r['fastem_s_per_iter']:.4f} | "
                   f"{r['sklearn_s_per_iter']:.3f} | {r['speedup_vs_sklearn']:.1f}x | "
                   f"{r['loglik_rel_diff_common_iter']:.1e} |")
    if speedups:
        out.append(f"\nMedian speed-up {np.median(speedups):.1f}x, minimum "
                   f"{min(speedups):.1f}x over {len(speedups)} points.")
    for r in other:
        out.append("\n" + r["suite"] + ": " + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()
            if k not in ("suite", "test", "machine", "time_utc", "full")))
    return "\n".join(out)


if __name__ == "__main__":
    if sys.argv[1:2] == ["memchild"]:
        lib, n, d, k, cov, it = sys.argv[2:8]
        print(json.dumps(_memory_child(lib, int(n), int(d), int(k), cov, int(it))))
    elif sys.argv[1:2] == ["profile"]:
        n, d, k = (int(float(v)) for v in sys.argv[2:5])
        print(json.dumps(profile(n, d, k, *(sys.argv[5:6] or ["full"]))))
    elif sys.argv[1:2] == ["table"]:
        print(table(Path(sys.argv[2]) if len(sys.argv) > 2 else H.results_path()))
    else:
        raise SystemExit("usage: python -m benchmarks.bench_bayesian table [FILE] | "
                         "profile N D K [COV] | memchild ...")
