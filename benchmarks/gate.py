"""Performance regression gate for CI: fastem / scikit-learn per-iteration time, same run.

Absolute times are meaningless on shared CI machines, so the gate measures, for a few quick
cases, the ratio ``fastem seconds per EM iteration / scikit-learn seconds per EM iteration``
in the same process, and fails when a case's ratio exceeds its committed baseline
(``benchmarks/baseline.json``) by more than the tolerance. Each case is measured in
``--rounds`` interleaved rounds (fastem, then scikit-learn, one thread each) and the ratio of
the fastest iterations is kept: load from other processes only adds time.

Usage::

    python -m benchmarks.gate                     # check against benchmarks/baseline.json
    python -m benchmarks.gate --update-baseline   # measure and write a new baseline
    python -m benchmarks.gate --json out.json     # also write the measurements

Exit status: 0 pass, 1 regression, 2 missing baseline or usage error.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import _harness as H

BASELINE = Path(__file__).resolve().parent / "baseline.json"
# Allowed growth of a case's ratio over its baseline; chosen from the measured run-to-run
# spread of the gate on a loaded, shared 2-core machine (see README, "Performance").
DEFAULT_TOLERANCE = 1.35
N = 100_000
# One thread for both libraries: on an oversubscribed machine a 2-thread region waits for its
# slowest thread and OpenBLAS workers spin, which made 2-thread ratios swing several-fold.
THREADS = 1
# (name, D, K, covariance type, dtype): small and larger D, both kernel layouts, both dtypes.
CASES = [
    ("D2-K16-full-f64", 2, 16, "full", "float64"),
    ("D8-K16-full-f64", 8, 16, "full", "float64"),
    ("D16-K8-full-f32", 16, 8, "full", "float32"),
    ("D8-K16-diag-f64", 8, 16, "diag", "float64"),
]


def measure(rounds: int = 5, threads: int = THREADS) -> dict:
    """Per-case ratio of the fastest fastem iteration to the fastest scikit-learn iteration
    over ``rounds`` interleaved rounds.

    Load from other processes only ever adds time, so the minimum is the most stable
    estimate of each library's own cost (the median swung up to 2x between runs on a
    machine with load average 6-9 on 2 cores).
    """
    out = {}
    for name, d, k, cov, dtype in CASES:
        X = H.make_data(N, d, dtype)
        init = H.make_init(X, k, cov)
        H.warm_up_fastem(X.dtype, cov)
        ratios, fe_all, sk_all = [], [], []
        for _ in range(rounds):
            with H.thread_setup(threads, 1):
                fe = H.fastem_iterations(X, init, cov, min_iter=3, max_iter=6, budget=0.4)
            with H.thread_setup(threads, threads):
                sk = H.sklearn_iterations(X, init, cov, min_iter=2, max_iter=3, budget=0.6)
            ratios.append(min(fe.seconds) / min(sk.seconds))
            fe_all += fe.seconds
            sk_all += sk.seconds
        out[name] = {"ratio": min(fe_all) / min(sk_all), "ratios": ratios,
                     "fastem_s_per_iter": min(fe_all), "sklearn_s_per_iter": min(sk_all)}
    return out


def compare(measured: dict, baseline: dict, tolerance: float) -> list[str]:
    """Names of the cases whose ratio grew by more than ``tolerance`` over the baseline."""
    failed = []
    for name, m in measured.items():
        base = baseline["cases"].get(name)
        if base is not None and m["ratio"] > base["ratio"] * tolerance:
            failed.append(name)
    return failed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gate", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--update-baseline", action="store_true",
                   help=f"write the measured ratios to {BASELINE.name} instead of checking")
    p.add_argument("--baseline", type=Path, default=BASELINE)
    p.add_argument("--tolerance", type=float, default=None,
                   help="allowed ratio growth factor (default: the baseline's, else "
                        f"{DEFAULT_TOLERANCE})")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", type=Path, default=None, help="write the measurements here")
    args = p.parse_args(argv)

    baseline = None
    if not args.update_baseline:
        if not args.baseline.exists():
            print(f"gate: no baseline at {args.baseline}; create one with "
                  "'python -m benchmarks.gate --update-baseline' and commit it.",
                  file=sys.stderr)
            return 2
        baseline = json.loads(args.baseline.read_text())
    tolerance = args.tolerance or (baseline or {}).get("tolerance", DEFAULT_TOLERANCE)

    t0 = time.perf_counter()
    measured = measure(args.rounds)
    seconds = time.perf_counter() - t0
    if args.json is not None:
        args.json.write_text(json.dumps({"seconds": seconds, "cases": measured,
                                         "machine": H.machine_info()}, indent=1))

    if args.update_baseline:
        doc = {"tolerance": tolerance, "n": N, "threads": THREADS, "machine": H.machine_info(),
               "cases": {k: {"ratio": v["ratio"]} for k, v in measured.items()}}
        args.baseline.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"gate: wrote {args.baseline} ({seconds:.0f} s). Review and commit it.")
        for name, m in measured.items():
            print(f"  {name:18s} ratio {m['ratio']:.4f}")
        return 0

    failed = compare(measured, baseline, tolerance)
    print(f"gate: fastem/scikit-learn per-iteration ratio vs baseline, tolerance x{tolerance}"
          f" ({seconds:.0f} s, N={N})")
    print(f"  {'case':18s} {'baseline':>9s} {'now':>9s} {'now/base':>9s}  rounds")
    for name, m in measured.items():
        base = baseline["cases"].get(name, {}).get("ratio", np.nan)
        flag = "FAIL" if name in failed else ("new" if np.isnan(base) else "ok")
        print(f"  {name:18s} {base:9.4f} {m['ratio']:9.4f} {m['ratio'] / base:9.3f}  "
              f"{' '.join(f'{r:.4f}' for r in m['ratios'])}  {flag}")
    if failed:
        print(f"gate: FAILED: {', '.join(failed)} slowed down by more than x{tolerance} "
              "relative to scikit-learn. If the slowdown is intended, update the baseline "
              "with 'python -m benchmarks.gate --update-baseline' and commit it.")
        return 1
    print("gate: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
