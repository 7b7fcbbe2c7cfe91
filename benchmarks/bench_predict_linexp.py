"""``predict_proba`` / ``score_samples`` of ``BernoulliMixture`` through the fused per-row
kernel (:func:`fastem.kernels.linexp.linexp_e_step_chunk`) against the NumPy block E-step it
replaced (kept here as ``numpy_e_step_outputs``, the "before"), same run, median of 3.

Sizes: ``FASTEM_BENCH_FULL=1`` is N = 1e6, D = 32, K = 16 (uint8 0/1 data);
``FASTEM_BENCH_PREDICT="N:D:K"`` picks another; the smoke run is N = 20,000, D = 32, K = 16.
Threads: 2 (Numba and BLAS).
"""
from __future__ import annotations

import os
import statistics
import time
import warnings

import numpy as np

from benchmarks import _harness as H
from fastem.estimators.bernoulli import BernoulliMixture
from fastem.families.bernoulli import BernoulliFamily

THREADS = 2


def numpy_e_step_outputs(self, X, kargs, *, labels=False, resp=False, serial=False):
    """The NumPy E-step ``BernoulliFamily.e_step_outputs`` ran before the fused kernel."""
    logp = np.asarray(X, dtype=np.float64) @ kargs.eta.T + kargs.const
    top = logp.max(axis=1, keepdims=True)
    e = np.exp(logp - top)
    total = e.sum(axis=1)
    lpn = top[:, 0] + np.log(total)
    lab = np.argmax(logp, axis=1) if labels else None
    rsp = e / total[:, None] if resp else None
    return lpn, lab, rsp


def _size() -> tuple[int, int, int]:
    env = os.environ.get("FASTEM_BENCH_PREDICT")
    if env:
        n, d, k = (int(float(v)) for v in env.split(":"))
        return n, d, k
    return (1_000_000, 32, 16) if H.FULL else (20_000, 32, 16)


def _median3(fn) -> float:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times))


def test_predict_fused_vs_numpy():
    n, d, k = _size()
    rng = np.random.default_rng(0)
    centres = rng.uniform(0.1, 0.9, size=(k, d))
    y = rng.integers(0, k, n)
    X = (rng.uniform(size=(n, d)) < centres[y]).astype(np.uint8)
    with warnings.catch_warnings():     # two iterations are enough for timing inference
        warnings.simplefilter("ignore")
        model = BernoulliMixture(k, random_state=0, max_iter=2, tol=0.0).fit(X[:20_000])
    record = {"bench": "predict_linexp", "n": n, "d": d, "k": k}
    fused = BernoulliFamily.e_step_outputs
    with H.thread_setup(THREADS, THREADS):
        model.predict_proba(X[:1000]), model.score_samples(X[:1000])   # compile
        after_p = _median3(lambda: model.predict_proba(X))
        after_s = _median3(lambda: model.score_samples(X))
        new_p, new_s = model.predict_proba(X), model.score_samples(X)
        BernoulliFamily.e_step_outputs = numpy_e_step_outputs
        try:
            before_p = _median3(lambda: model.predict_proba(X))
            before_s = _median3(lambda: model.score_samples(X))
            old_p, old_s = model.predict_proba(X), model.score_samples(X)
        finally:
            BernoulliFamily.e_step_outputs = fused
    np.testing.assert_allclose(new_s, old_s, rtol=1e-12)
    np.testing.assert_allclose(new_p, old_p, rtol=0, atol=1e-12)
    record.update(predict_proba_before_s=before_p, predict_proba_after_s=after_p,
                  score_samples_before_s=before_s, score_samples_after_s=after_s,
                  predict_proba_speedup=before_p / after_p,
                  score_samples_speedup=before_s / after_s)
    print(record)
    H.append_record(record)
