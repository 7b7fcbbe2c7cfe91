"""Per-EM-iteration time and peak memory of the linear-exponential families, fastem vs
StepMix and pomegranate 1.x (CPU), same run.

Families: Bernoulli (0/1, float64 for every library), categorical (int64 codes, C = 4 per
column) and Poisson (float64 counts). Peers: StepMix (``binary`` and ``categorical``
measurements; it has no Poisson model) and pomegranate's ``GeneralMixtureModel`` of
``Bernoulli``/``Categorical``/``Poisson`` with torch on the CPU. Every library starts from the
same parameters (:func:`make_init`) and runs its own EM iteration in a loop: fastem the driver
:func:`fastem.em.run_em`, StepMix ``_e_step`` + ``_m_step`` (the body of its ``em`` loop),
pomegranate ``summarize`` + ``from_summaries`` (the body of its ``fit`` loop). Each library's
mean log-likelihood at every iteration is recorded, and the test checks that the peers ran the
same iterations (equal log-likelihood at the last common iteration, to 1e-6 relative).

Peak memory: one child process per (library, case) runs two iterations after warming up; the
peak RSS during them minus the RSS before (``fit_extra_mib``, as in ``bench_memory.py``).

Sizes: the full grid (``FASTEM_BENCH_FULL=1``) is N = 1e6, D in {8, 64}, K in {4, 16, 64};
``FASTEM_BENCH_FAMILIES="N:D1,D2:K1,K2"`` picks another grid (e.g. ``"200000:8:4,16"``);
the default smoke run is N = 20,000, D = 8, K = 4. Threads: 2 for every library (Numba,
torch, BLAS).

Capped peers (the full grid's peers take up to ~30 min per pomegranate iteration at D = 64,
K = 64): ``FASTEM_BENCH_PEER_ITERS=n`` times exactly ``n`` peer iterations (warmed up on 2,000
rows first, no untimed iteration at full size; the record checks that ``n`` log-likelihoods
were produced and that they change), and ``FASTEM_BENCH_PEER_N=m`` runs the peers on the first
``m`` rows and scales their per-iteration time by ``N / m`` (a vectorised EM iteration is
linear in N once its arrays are out of cache; the record keeps the measured time, ``peer_n``
and the scaled one, and fastem is also run on those ``m`` rows for the log-likelihood check).
``FASTEM_BENCH_FAMILIES_MEMORY=fastem`` measures only fastem's memory. The Student-t part
(:func:`test_student_vs_gaussian_grid`) is ``StudentMixture`` full against
``GaussianMixture`` full on the same grid (``bench_student``'s interleaved measurement).
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
THREADS = 2
N_CATEGORIES = 4
FAMILIES = ("bernoulli", "categorical", "poisson")


def _grid():
    spec = os.environ.get("FASTEM_BENCH_FAMILIES")
    if spec:
        n, ds, ks = spec.split(":")
        return (int(float(n)),), tuple(int(v) for v in ds.split(",")), \
            tuple(int(v) for v in ks.split(","))
    if H.FULL:
        return (1_000_000,), (8, 64), (4, 16, 64)
    return (20_000,), (8,), (4,)


NS, DS, KS = _grid()
PEER_ITERS = int(os.environ.get("FASTEM_BENCH_PEER_ITERS", "0") or 0)
PEER_N = int(float(os.environ.get("FASTEM_BENCH_PEER_N", "0") or 0))
CASES = [pytest.param(fam, n, d, k, id=f"{fam}-N{n}-D{d}-K{k}")
         for fam, n, d, k in itertools.product(FAMILIES, NS, DS, KS)]
# MixedTypeMixture (Gaussian diag block + categorical block, D / 2 columns each) against
# StepMix's nested model of the same blocks (pomegranate has no such mixture).
MIXED_D = 16
CASES += [pytest.param("mixed", n, MIXED_D, k, id=f"mixed-N{n}-D{MIXED_D}-K{k}")
          for n, k in itertools.product(NS, KS)]


# ----------------------------------------------------------------------------- data, init
def make_data(family: str, n: int, d: int, seed: int = 0) -> np.ndarray:
    """Seeded rows from an 8-component mixture of ``family``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 8, n)
    if family == "bernoulli":
        p = rng.uniform(0.1, 0.9, (8, d))
        return (rng.uniform(size=(n, d)) < p[y]).astype(np.float64)
    if family == "categorical":
        p = rng.dirichlet(np.ones(N_CATEGORIES), size=(8, d))
        u = rng.uniform(size=(n, d, 1))
        return np.minimum((u > np.cumsum(p[y], axis=2)).sum(axis=2),
                          N_CATEGORIES - 1).astype(np.int64)
    if family == "mixed":       # first half Gaussian, second half category codes
        g = d // 2
        centres = rng.normal(0.0, 3.0, (8, g))
        p = rng.dirichlet(np.ones(N_CATEGORIES), size=(8, d - g))
        u = rng.uniform(size=(n, d - g, 1))
        codes = np.minimum((u > np.cumsum(p[y], axis=2)).sum(axis=2), N_CATEGORIES - 1)
        return np.column_stack([centres[y] + rng.standard_normal((n, g)), codes])
    rates = rng.uniform(0.5, 8.0, (8, d))
    return rng.poisson(rates[y]).astype(np.float64)


def make_init(family: str, d: int, k: int, seed: int = 1) -> dict:
    """Identical initial parameters: uniform weights, seeded random component parameters."""
    rng = np.random.default_rng(seed)
    w = np.full(k, 1.0 / k)
    if family == "bernoulli":
        return {"weights": w, "means": rng.uniform(0.2, 0.8, (k, d))}
    if family == "categorical":
        return {"weights": w, "probs": rng.dirichlet(np.ones(N_CATEGORIES) * 3, size=(k, d))}
    if family == "mixed":
        g = d // 2
        return {"weights": w, "means": rng.normal(0.0, 3.0, (k, g)),
                "variances": rng.uniform(1.0, 3.0, (k, g)),
                "probs": rng.dirichlet(np.ones(N_CATEGORIES) * 3, size=(k, d - g))}
    return {"weights": w, "rates": rng.uniform(1.0, 6.0, (k, d))}


# ----------------------------------------------------------------------------- runners
def _loop(step, first_state, budget=4.0, min_iter=2, max_iter=5, untimed=True):
    """One untimed iteration (unless ``untimed=False``), then timed ones; returns seconds and
    per-iteration bounds."""
    seconds, bounds = [], []
    state = first_state
    if untimed:
        state, lb = step(first_state)
        bounds.append(lb)
    n = None
    i = 0
    while n is None or i < n:
        t0 = time.perf_counter()
        state, lb = step(state)
        seconds.append(time.perf_counter() - t0)
        bounds.append(lb)
        if n is None:
            n = int(max(min_iter, min(max_iter, budget // max(seconds[0], 1e-9))))
        i += 1
    return H.IterTimes(seconds, bounds)


def _fastem_family_params(family: str, init: dict):
    if family == "bernoulli":
        from fastem.families.bernoulli import BernoulliFamily, BernoulliParams
        return BernoulliFamily(), BernoulliParams(init["weights"], init["means"],
                                                  1.0 - init["means"]), 1e-10
    if family == "categorical":
        from fastem.families.categorical import CategoricalFamily, CategoricalParams
        k, d, c = init["probs"].shape
        fam = CategoricalFamily([c] * d)
        return fam, CategoricalParams(init["weights"], init["probs"].reshape(k, d * c),
                                      fam.offsets), 1e-10
    if family == "mixed":
        from fastem import MixedTypeMixture
        from fastem.data.sources import ArraySource
        k, g = init["means"].shape
        d = g + init["probs"].shape[1]
        est = MixedTypeMixture(k, columns={"gaussian": list(range(g)),
                                           "categorical": list(range(g, d))},
                               block_params={"categorical": {"n_categories": N_CATEGORIES}})
        fam = est._make_family(d, ArraySource(np.zeros((1, d))))
        params = fam.params_from_arrays({
            "weights": init["weights"], "gaussian_means": init["means"],
            "gaussian_covariances": init["variances"],
            "categorical_probabilities": init["probs"].reshape(k, -1)})
        return fam, params, est._reg()
    from fastem.families.poisson import PoissonFamily, PoissonParams
    return PoissonFamily(), PoissonParams(init["weights"], init["rates"]), 1e-10


def fastem_iterations(family: str, X: np.ndarray, init: dict, **kw) -> H.IterTimes:
    from fastem.backends import numba as nb
    from fastem.data.sources import ArraySource
    from fastem.em import run_em
    fam, params, reg = _fastem_family_params(family, init)
    source = ArraySource(X)

    def step(p):
        r = run_em(source, fam, p, stats_fn=nb.em_stats, max_iter=1, tol=0.0, reg_covar=reg)
        return r.params, r.lower_bounds[-1]

    return _loop(step, params, **kw)


def stepmix_iterations(family: str, X: np.ndarray, init: dict, **kw):
    """StepMix's own EM iteration from ``init``; ``None`` for Poisson (no such model)."""
    if family == "poisson":
        return None
    from stepmix.stepmix import StepMix
    k = init["weights"].shape[0]
    if family == "mixed":
        g = init["means"].shape[1]
        measurement = {"gauss": {"model": "gaussian_diag", "n_columns": g},
                       "cat": {"model": "categorical", "n_columns": X.shape[1] - g}}
    else:
        measurement = "binary" if family == "bernoulli" else "categorical"
    model = StepMix(n_components=k, measurement=measurement, max_iter=1, n_init=1,
                    progress_bar=0, verbose=0, random_state=0)

    def step(m):
        ll, log_resp = m._e_step(X)
        m._m_step(X, np.exp(log_resp))
        return m, float(ll)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:1000])           # builds the measurement model; parameters replaced below
    if family == "mixed":
        gauss, cat = model._mm.models["gauss"], model._mm.models["cat"]
        gauss.set_parameters({"means": init["means"].copy(),
                              "covariances": init["variances"].copy()})
        cat.parameters["max_n_outcomes"] = N_CATEGORIES
        cat.parameters["total_outcomes"] = N_CATEGORIES * (X.shape[1] - g)
        cat.parameters["pis"] = init["probs"].reshape(k, -1).copy()
        model.weights_ = init["weights"].copy()
        return _loop(step, model, **kw)
    if family == "bernoulli":
        pis = init["means"]
    else:
        # StepMix's layout: pis[k, d * max_n_outcomes + c]
        model._mm.parameters["max_n_outcomes"] = N_CATEGORIES
        model._mm.parameters["total_outcomes"] = N_CATEGORIES * X.shape[1]
        pis = init["probs"].reshape(k, -1)
    model._mm.parameters["pis"] = pis.copy()
    model.weights_ = init["weights"].copy()
    return _loop(step, model, **kw)


def import_pomegranate():
    try:
        import torch  # noqa: F401
        from pomegranate.gmm import GeneralMixtureModel  # noqa: F401
    except Exception:  # pragma: no cover - optional peer
        return None
    import torch
    return torch


def pomegranate_iterations(family: str, X: np.ndarray, init: dict, **kw):
    """pomegranate 1.x's own EM iteration from ``init``; ``None`` when not installed."""
    torch = import_pomegranate()
    if torch is None or family == "mixed":
        return None
    from pomegranate.distributions import Bernoulli, Categorical, Poisson
    from pomegranate.gmm import GeneralMixtureModel
    torch.set_num_threads(THREADS)
    k = init["weights"].shape[0]
    if family == "bernoulli":
        dists = [Bernoulli(probs=torch.tensor(init["means"][j])) for j in range(k)]
    elif family == "categorical":
        dists = [Categorical(probs=torch.tensor(init["probs"][j])) for j in range(k)]
    else:
        dists = [Poisson(lambdas=torch.tensor(init["rates"][j])) for j in range(k)]
    model = GeneralMixtureModel(dists, priors=torch.tensor(init["weights"]), max_iter=1,
                                tol=0.0)
    Xt = torch.from_numpy(X)
    n = X.shape[0]

    def step(m):
        logp = m.summarize(Xt)
        m.from_summaries()
        return m, float(logp) / n

    return _loop(step, model, **kw)


RUNNERS = {"fastem": fastem_iterations, "stepmix": stepmix_iterations,
           "pomegranate": pomegranate_iterations}


def warm_up(family: str) -> None:
    X = make_data(family, 512, 3, seed=99)
    fastem_iterations(family, X, make_init(family, 3, 2), budget=0.0)


# ----------------------------------------------------------------------------- memory
def _peak_child(lib: str, family: str, n: int, d: int, k: int) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_families", lib, family,
                          str(n), str(d), str(k)], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory child for {lib} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _child_main(argv: list[str]) -> int:
    lib, family, n, d, k = argv
    n, d, k = int(n), int(d), int(k)
    warnings.simplefilter("ignore")
    X = make_data(family, n, d)
    init = make_init(family, d, k)
    if lib == "fastem":
        warm_up(family)
    runner = RUNNERS[lib]
    runner(family, X[:2000], init, budget=0.0, min_iter=1, max_iter=1)  # warm the peer
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = _status_kib("VmRSS")
    t0 = time.perf_counter()
    runner(family, X, init, budget=0.0, min_iter=1, max_iter=1)
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    print(json.dumps({"fit_extra_mib": (peak - before) / 1024, "peak_rss_mib": peak / 1024,
                      "input_mib": X.nbytes / 2**20, "seconds": seconds}))
    return 0


# ----------------------------------------------------------------------------- the benchmark
@pytest.mark.parametrize("family,n,d,k", CASES)
def test_family_iteration(benchmark, record, family, n, d, k):
    from benchmarks.conftest import run_once
    X = make_data(family, n, d)
    init = make_init(family, d, k)
    warm_up(family)
    with H.thread_setup(THREADS, 1):
        fe = run_once(benchmark, lambda: fastem_iterations(family, X, init))
    values = {"family": family, "n": n, "d": d, "k": k, "threads": THREADS,
              "fastem_s_per_iter": fe.per_iter, "fastem_iters_timed": len(fe.seconds),
              "loglik_fastem": fe.lower_bounds[-1]}
    fastest = None
    peer_n = PEER_N if 0 < PEER_N < n else n
    Xp = X[:peer_n]
    ref = fe
    if peer_n < n:              # fastem on the peers' rows, for the log-likelihood check
        with H.thread_setup(THREADS, 1):
            ref = fastem_iterations(family, Xp, init, budget=0.0, min_iter=2, max_iter=2)
        values["peer_n"] = peer_n
    for lib in ("stepmix", "pomegranate"):
        with H.thread_setup(THREADS, THREADS):
            if PEER_ITERS:
                if RUNNERS[lib](family, X[:2000], init, budget=0.0, min_iter=1,
                                max_iter=1) is None:
                    continue
                peer = RUNNERS[lib](family, Xp, init, budget=0.0, min_iter=PEER_ITERS,
                                    max_iter=PEER_ITERS, untimed=False)
            else:
                peer = RUNNERS[lib](family, Xp, init)
        if peer is None:
            continue
        if PEER_ITERS:      # the peer really ran that many iterations, and EM moved
            assert len(peer.seconds) == PEER_ITERS == len(peer.lower_bounds), (lib, peer)
            assert len(set(peer.lower_bounds)) == PEER_ITERS, (lib, peer.lower_bounds)
        common = min(len(ref.lower_bounds), len(peer.lower_bounds))
        diff = H.rel_diff(ref.lower_bounds[common - 1], peer.lower_bounds[common - 1])
        per_iter = peer.per_iter * (n / peer_n)
        values.update({f"{lib}_s_per_iter": per_iter,
                       f"{lib}_s_per_iter_measured": peer.per_iter,
                       f"{lib}_iters_timed": len(peer.seconds),
                       f"{lib}_seconds": list(peer.seconds),
                       f"speedup_vs_{lib}": per_iter / fe.per_iter,
                       f"loglik_{lib}": peer.lower_bounds[-1],
                       f"loglik_rel_diff_{lib}": diff, f"common_iter_{lib}": common})
        # Same start, same iterations: the mean log-likelihoods agree.
        assert diff < 1e-6, (lib, values)
        fastest = per_iter if fastest is None else min(fastest, per_iter)
    if fastest is not None:
        values["speedup_vs_fastest_peer"] = fastest / fe.per_iter
    memory = os.environ.get("FASTEM_BENCH_FAMILIES_MEMORY", "1")
    if memory != "0":
        for lib in ("fastem",) if memory == "fastem" else ("fastem", "stepmix", "pomegranate"):
            if (lib == "stepmix" and family == "poisson") or (lib == "pomegranate" and (
                    family == "mixed" or import_pomegranate() is None)):
                continue
            mem = _peak_child(lib, family, n, d, k)
            values[f"{lib}_fit_extra_mib"] = mem["fit_extra_mib"]
    record("families", **values)
    assert np.isfinite(values["fastem_s_per_iter"])


STUDENT_ROUNDS = int(os.environ.get("FASTEM_BENCH_STUDENT_ROUNDS", "2"))
STUDENT_TARGET = 1.5
STUDENT_CASES = [pytest.param(n, d, k, id=f"student-N{n}-D{d}-K{k}")
                 for n, d, k in itertools.product(NS, DS, KS)]


@pytest.mark.parametrize("n,d,k", STUDENT_CASES)
def test_student_vs_gaussian_grid(benchmark, record, n, d, k):
    """``StudentMixture`` full against ``GaussianMixture`` full on the families' grid:
    iterations interleaved, median of ``FASTEM_BENCH_STUDENT_ROUNDS`` timed ones each."""
    from benchmarks.bench_student import _interleaved
    from benchmarks.conftest import run_once
    X = H.make_data(n, d, np.float64)
    init = H.make_init(X, k, "full")
    H.warm_up_fastem(X.dtype, "full")
    with H.thread_setup(THREADS, 1) as threads:
        med, bounds, dof = run_once(benchmark, lambda: _interleaved(X, init, STUDENT_ROUNDS))
    ratio = med["student"] / med["gaussian"]
    record("families_student", n=n, d=d, k=k, covariance_type="full", **threads,
           rounds=STUDENT_ROUNDS, gaussian_s_per_iter=med["gaussian"],
           student_s_per_iter=med["student"], ratio_student_over_gaussian=ratio,
           target_ratio=STUDENT_TARGET, loglik_gaussian=bounds["gaussian"][-1],
           loglik_student=bounds["student"][-1])
    assert len(bounds["student"]) == STUDENT_ROUNDS + 1
    assert np.isfinite(ratio)


if __name__ == "__main__":
    raise SystemExit(_child_main(sys.argv[1:]))
