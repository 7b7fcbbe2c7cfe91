"""Missing values: per-iteration cost of exact EM with NaN, and imputation quality.

Run as a script (it prints Markdown tables)::

    python -m benchmarks.bench_missing iteration   # per-iteration time vs complete data
    python -m benchmarks.bench_missing bayesian    # the same for BayesianGaussianMixture
    python -m benchmarks.bench_missing student     # the same for StudentMixture
    python -m benchmarks.bench_missing impute      # RMSE and wall time vs scikit-learn

Sizes: ``FASTEM_BENCH_MISSING_N`` rows (default 1,000,000), D = 16, K = 16, as in the issue;
``FASTEM_BENCH_MISSING_ITERS`` timed iterations (default 5, after one warm-up iteration).
The pytest entry points at the end run both at a tiny size as smoke tests.

Per-iteration time is the fastest of ``FASTEM_BENCH_MISSING_ROUNDS`` (default 3) rounds of
timed iterations of :func:`fastem.em.run_em` (E-step + M-step) from identical parameters
(``tol=0``), for the complete data and for the same data with entries removed (at random,
MCAR, or in blocks), the two interleaved round by round.
The imputation benchmark removes 10% or 30% of the entries of standardised scikit-learn data
sets at random and reports the RMSE on the removed entries and the wall time of the whole
procedure, model choice included. fastem's model is chosen by a small sweep (K and
covariance type) scored on a held-out 10% of the *observed* entries.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

N = int(float(os.environ.get("FASTEM_BENCH_MISSING_N", 1_000_000)))
ITERS = int(os.environ.get("FASTEM_BENCH_MISSING_ITERS", 5))
D, K = 16, 16


# ----------------------------------------------------------------------------- iteration
def _data(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 5.0, (8, d))
    lab = rng.integers(0, 8, n)
    mix = np.eye(d) + 0.3 * rng.standard_normal((8, d, d))
    X = np.empty((n, d))
    for j in range(8):
        rows = np.flatnonzero(lab == j)
        X[rows] = rng.standard_normal((rows.size, d)) @ mix[j] + centres[j]
    return X


def remove(X: np.ndarray, how: str, seed: int = 1) -> np.ndarray:
    """A copy of ``X`` with entries removed: ``"mcar-P"`` (P% of entries at random) or a
    block pattern: ``"block-tail"`` (20% of rows lose their last quarter of columns),
    ``"block-monotone"`` (four groups of 10% of rows lose their last 2, 4, 6, 8 columns),
    ``"block-groups"`` (30% of rows lose one of four fixed column groups)."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    n, d = X.shape
    if how.startswith("mcar-"):
        X[rng.uniform(size=X.shape) < float(how[5:]) / 100] = np.nan
    elif how == "block-tail":
        X[rng.uniform(size=n) < 0.2, d - d // 4:] = np.nan
    elif how == "block-monotone":
        g = rng.integers(0, 10, n)
        for j, cut in enumerate((2, 4, 6, 8)):
            X[g == j, d - cut:] = np.nan
    elif how == "block-groups":
        g = rng.integers(0, 4, n)
        hit = rng.uniform(size=n) < 0.3
        q = d // 4
        for j in range(4):
            X[np.ix_(hit & (g == j), np.arange(j * q, (j + 1) * q))] = np.nan
    else:
        raise ValueError(how)
    return X


def _start(X: np.ndarray, cov_type: str, k: int):
    from fastem.families import GaussianParams, get_family
    fam = get_family(cov_type)
    Xf = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    rng = np.random.default_rng(0)
    means = Xf[rng.choice(X.shape[0], k, replace=False)]
    cov_full = np.cov(Xf[:100_000].T) + 1e-3 * np.eye(X.shape[1])
    cov = {"full": np.broadcast_to(cov_full, (k,) + cov_full.shape).copy(),
           "diag": np.tile(np.diag(cov_full), (k, 1))}[cov_type]
    pc, _ = fam.precision_cholesky(cov)
    return GaussianParams(np.full(k, 1.0 / k), means, cov, pc)


def _variational_start(X: np.ndarray, cov_type: str, k: int, policy: str):
    """The variational family (default priors of the mean-imputed data) and the posterior
    of hard labels to the nearest of the Gaussian start's means."""
    from fastem.data import ArraySource
    from fastem.estimators.bayesian import BayesianGaussianMixture, data_moments
    from fastem.backends import numba as nb
    from fastem.families import get_family
    from fastem.families.variational import VariationalGaussianFamily
    gauss = get_family(cov_type)
    Xf = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    priors = BayesianGaussianMixture(k, covariance_type=cov_type)._priors(
        data_moments(ArraySource(Xf), gauss, nb), X.shape[1])
    fam = VariationalGaussianFamily(gauss, priors, None, policy)
    means = _start(X, cov_type, k).means
    labels = np.argmin(((Xf[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    resp = np.eye(k)[labels]
    return fam, fam.m_step(fam.resp_stats(Xf, None, resp, means), None, reg=1e-6)


def iteration_seconds(X: np.ndarray, cov_type: str, iters: int = ITERS,
                      policy: str = "marginalize", model: str = "gaussian") -> list:
    """Seconds of each timed EM iteration (E + M) under ``nan_policy=policy``, after one
    warm-up iteration, of ``model``: "gaussian", "bayesian" (variational Bayes) or
    "student" (Student-t, ``nu`` estimated)."""
    from fastem.backends import numba as nb
    from fastem.data import ArraySource
    from fastem.em import run_em
    from fastem.families import get_family
    if model == "bayesian":
        fam, start = _variational_start(X, cov_type, K, policy)
    elif model == "student":
        from fastem.families.student import StudentFamily
        fam = StudentFamily(cov_type, nan_policy=policy)
        start = fam.from_gaussian(_start(X, cov_type, K))
    else:
        fam, start = get_family(cov_type).with_nan_policy(policy), _start(X, cov_type, K)
    secs: list = []
    run_em(ArraySource(X), fam, start, stats_fn=nb.em_stats,
           max_iter=iters + 1, tol=0.0, reg_covar=1e-6,
           callback=lambda info: secs.append(info.seconds))
    return secs[1:]


def time_iteration(X: np.ndarray, cov_type: str, iters: int = ITERS) -> float:
    """Median seconds of one EM iteration (E + M) under nan_policy="marginalize"."""
    return statistics.median(iteration_seconds(X, cov_type, iters))


#: Rounds of (complete, missing) timings per table cell, interleaved.
ROUNDS = int(os.environ.get("FASTEM_BENCH_MISSING_ROUNDS", 3))


PATTERNS = ("mcar-0", "mcar-5", "mcar-20", "mcar-50", "block-tail", "block-monotone",
            "block-groups")


def iteration_table(n: int = N, model: str = "gaussian", patterns=PATTERNS) -> str:
    X = _data(n, D)
    what = {"gaussian": "", "bayesian": "variational (BayesianGaussianMixture) ",
            "student": "StudentMixture "}[model]
    lines = [f"Per-iteration time, N = {n:,}, D = {D}, K = {K}: the fastest of {ROUNDS} x "
             f"{ITERS} {what}iterations under nan_policy=\"marginalize\", against the "
             "complete data under the default nan_policy=\"raise\" timed in interleaved "
             "rounds (so the mcar-0 row is the cost of the policy itself)", "",
             "| pattern | rows with NaN | full s/iter | full ratio | diag s/iter | diag ratio |",
             "|---|---|---|---|---|---|"]
    for how in patterns:
        Xm = remove(X, how)
        frac = float(np.isnan(Xm).any(axis=1).mean())
        cells = []
        for cov_type in ("full", "diag"):
            # On a shared machine whose speed drifts by tens of percent, interleaved rounds
            # and the fastest iteration of each side give a ratio that holds from run to run
            # (the code is compute-bound: the fastest iteration is the one least disturbed).
            base: list = []
            miss: list = []
            for _ in range(ROUNDS):
                base += iteration_seconds(X, cov_type, policy="raise", model=model)
                miss += iteration_seconds(Xm, cov_type, model=model)
            t, b = min(miss), min(base)
            cells += [f"{t:.3f}", f"{t / b:.2f}x"]
        lines.append(f"| {how} | {frac:.0%} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- imputation
def _datasets():
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    out = {}
    for name, loader in (("wine", load_wine), ("breast_cancer", load_breast_cancer),
                         ("digits", load_digits)):
        X = loader().data.astype(np.float64)
        sd = X.std(axis=0)
        out[name] = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return out


SWEEP = [(k, c) for c in ("full", "diag") for k in (1, 2, 3, 5)]


def _fastem_impute(Xm: np.ndarray, seed: int = 0):
    """The procedure a user should follow: hide 10% of the observed entries, fit each model
    of the sweep, keep the one whose imputation of the hidden entries is best, refit it on
    everything observed, impute."""
    from fastem import GaussianMixture
    rng = np.random.default_rng(seed)
    obs = np.argwhere(~np.isnan(Xm))
    hide = obs[rng.uniform(size=len(obs)) < 0.1]
    Xv = Xm.copy()
    Xv[hide[:, 0], hide[:, 1]] = np.nan
    truth = Xm[hide[:, 0], hide[:, 1]]
    # Small tables: one thread (starting the thread pool costs more than a pass over a few
    # thousand rows).
    n_threads = 1 if Xm.shape[0] < SMALL_ROWS else None
    best = None
    for k, cov in SWEEP:
        if k > 1 and Xm.shape[0] < 40 * k:
            continue
        gm = _model(k, cov, n_threads)
        try:
            gm.fit(Xv)
        except Exception:      # a model the data cannot support is skipped
            continue
        err = float(np.sqrt(np.mean((gm.impute(Xv)[hide[:, 0], hide[:, 1]] - truth) ** 2)))
        if best is None or err < best[0]:
            best = (err, k, cov, gm)
    _, k, cov, gm = best
    # The refit on everything observed starts from the chosen model (warm start).
    gm.set_params(warm_start=True).fit(Xm)
    return gm.impute(Xm), f"K={k} {cov}"


#: Below this many rows the procedure runs on one thread.
SMALL_ROWS = 20_000


def _model(k, cov, n_threads=None):
    import warnings
    from fastem import GaussianMixture
    from fastem.exceptions import ConvergenceWarning
    warnings.simplefilter("ignore", ConvergenceWarning)
    return GaussianMixture(k, covariance_type=cov, nan_policy="marginalize", random_state=0,
                           reg_covar=1e-3, max_iter=100, tol=1e-3, n_threads=n_threads)


def _sklearn(kind: str):
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
    return {"IterativeImputer": lambda: IterativeImputer(random_state=0, max_iter=10),
            "KNNImputer": lambda: KNNImputer(),
            "mean": lambda: SimpleImputer()}[kind]()


def impute_table(fractions=(0.1, 0.3)) -> str:
    lines = ["Imputation RMSE on the removed entries (standardised data) and wall time of the "
             "whole procedure", "",
             "| data | removed | fastem (chosen) | IterativeImputer | KNNImputer | mean |",
             "|---|---|---|---|---|---|"]
    _fastem_impute(remove(_data(300, 4), "mcar-10"))          # compile outside the timings
    for name, X in _datasets().items():
        for frac in fractions:
            Xm = remove(X, f"mcar-{int(frac * 100)}", seed=2)
            mask = np.isnan(Xm)
            cells = []
            t0 = time.perf_counter()
            filled, chosen = _fastem_impute(Xm)
            t = time.perf_counter() - t0
            cells.append(f"{np.sqrt(np.mean((filled - X)[mask] ** 2)):.3f} ({t:.1f} s, "
                         f"{chosen})")
            for kind in ("IterativeImputer", "KNNImputer", "mean"):
                t0 = time.perf_counter()
                filled = _sklearn(kind).fit_transform(Xm)
                t = time.perf_counter() - t0
                cells.append(f"{np.sqrt(np.mean((filled - X)[mask] ** 2)):.3f} ({t:.1f} s)")
            lines.append(f"| {name} {X.shape} | {frac:.0%} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- smoke tests
def test_iteration_smoke():
    X = remove(_data(3000, 4), "mcar-20")
    assert time_iteration(X, "full", iters=1) > 0


def test_bayesian_iteration_smoke():
    X = remove(_data(3000, 4), "mcar-20")
    assert min(iteration_seconds(X, "full", iters=2, model="bayesian")) > 0


def test_student_iteration_smoke():
    X = remove(_data(3000, 4), "mcar-20")
    assert min(iteration_seconds(X, "diag", iters=2, model="student")) > 0


def test_impute_smoke():
    Xm = remove(_data(400, 4), "mcar-10")
    filled, _ = _fastem_impute(Xm)
    assert not np.isnan(filled).any()


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "iteration"
    if what == "iteration":
        print(iteration_table())
    elif what in ("bayesian", "student"):
        print(iteration_table(model=what, patterns=("mcar-0", "mcar-20", "block-monotone")))
    else:
        print(impute_table())
