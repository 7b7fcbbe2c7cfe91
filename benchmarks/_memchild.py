"""Child process of ``bench_memory.py``: one fit, then its peak resident memory as JSON.

``python -m benchmarks._memchild LIB N D K COV DTYPE MAX_ITER``. The JIT is warmed up and the
data generated first; then the kernel's peak-RSS mark is reset (``/proc/self/clear_refs``) so
the peak counts the fit only, on top of the interpreter, libraries and input.
"""
from __future__ import annotations

import json
import sys
import time
import warnings


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def main(argv: list[str]) -> int:
    lib, n, d, k, cov, dtype, max_iter = argv
    n, d, k, max_iter = int(n), int(d), int(k), int(max_iter)
    import numpy as np
    from benchmarks import _harness as H
    warnings.simplefilter("ignore")
    if lib == "fastem":
        from fastem import GaussianMixture
        GaussianMixture(2, covariance_type=cov, max_iter=2).fit(H.make_data(500, d, dtype))
        est = GaussianMixture(k, covariance_type=cov, max_iter=max_iter, tol=0.0,
                              random_state=0)
    elif lib == "sklearn":
        from sklearn.mixture import GaussianMixture
        # k-means++ seeding instead of a full k-means: same EM arrays, a minute less.
        est = GaussianMixture(k, covariance_type=cov, max_iter=max_iter, tol=0.0,
                              init_params="k-means++", random_state=0)
    else:
        raise SystemExit(f"unknown library {lib!r}; use 'fastem' or 'sklearn'")
    X = np.ascontiguousarray(H.make_data(n, d, dtype))
    H._make_data64.cache_clear()
    import gc
    gc.collect()
    rss_before = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        method = "VmHWM after clear_refs"
    except OSError:
        method = "VmHWM (not reset: includes data generation)"
    t0 = time.perf_counter()
    est.fit(X)
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    mib = 1 / 1024
    print(json.dumps({"lib": lib, "input_mib": X.nbytes / 2**20, "rss_before_fit_mib":
                      rss_before * mib, "peak_rss_mib": peak * mib,
                      "fit_extra_mib": (peak - rss_before) * mib, "fit_seconds": seconds,
                      "method": method, "lower_bound": float(est.lower_bound_)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
