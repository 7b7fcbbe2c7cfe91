"""Out-of-core fit of a large ``.npy`` file: rows/s per EM iteration, peak anonymous memory
(RssAnon, which excludes the page cache), and the speed of one EM pass over the file against
the same data in memory, and the file pass with and without prefetching (the next chunk read
in a reader thread while the kernel works on the current one, :mod:`fastem.data.prefetch`).

Each fit runs in a fresh subprocess so its peak memory is its own; the file-vs-memory speed
comparison interleaves passes in one process so that load from other jobs hits both alike. By default (smoke test)
the files are small; ``FASTEM_BENCH_FULL=1`` uses 5,000,000 and 20,000,000 rows x 16
float32 columns (0.3 and 1.3 GB, written to a temporary directory) with K=16 full
covariances::

    FASTEM_BENCH_FULL=1 PYTHONPATH=$PWD python -m pytest benchmarks/bench_outofcore.py \\
        --benchmark-enable -s -q
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL = os.environ.get("FASTEM_BENCH_FULL") == "1"
SIZES = [5_000_000, 20_000_000] if FULL else [20_000, 80_000]
D, K = 16, 16
CHUNK = 262_144 if FULL else 8_192
MAX_ITER = 3
LIMIT_MB = 300

_CHILD = textwrap.dedent("""
    import json, sys, threading, time
    import numpy as np

    def rss_anon_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024

    peak = [0.0]
    stop = threading.Event()
    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_anon_mb())
            time.sleep(0.005)

    import fastem
    from fastem.backends import numba as nb
    path, mode, chunk, k, max_iter = sys.argv[1], sys.argv[2], int(sys.argv[3]), \\
        int(sys.argv[4]), int(sys.argv[5])
    # Warm the JIT (and imports) on a tiny fit so compilation is not measured.
    small = np.load(path, mmap_mode="r")[:4 * k * 10]
    fastem.GaussianMixture(k, max_iter=1, random_state=0).fit(np.array(small))
    baseline = rss_anon_mb()
    times = []
    em_stats = nb.em_stats
    def timed(*a, **kw):
        t0 = time.perf_counter()
        out = em_stats(*a, **kw)
        times.append(time.perf_counter() - t0)
        return out
    nb.em_stats = timed
    if mode == "compare":
        # Speed only: the same EM pass over the file and over the array loaded in memory,
        # interleaved so that load from other processes hits both alike.
        from fastem.data import as_source, open_source
        from fastem.families import get_family
        fam = get_family("full")
        X = np.load(path)
        gm = fastem.GaussianMixture(k, max_iter=1, random_state=0).fit(X[:200_000])
        kargs = fam.kernel_args(gm._params())
        from fastem.data import prefetch
        srcs = {"file": open_source(path, chunk_size=chunk),
                "file_no_prefetch": open_source(path, chunk_size=chunk),
                "memory": as_source(X)}
        best = {name: float("inf") for name in srcs}
        ll = {}
        for _ in range(max_iter):
            for name, src in srcs.items():
                t0 = time.perf_counter()
                with prefetch.enabled(name != "file_no_prefetch"):
                    st = em_stats(src, kargs, fam)
                best[name] = min(best[name], time.perf_counter() - t0)
                ll[name] = st.loglik
        print(json.dumps({"best_seconds": best, "loglik": ll}))
        sys.exit(0)
    threading.Thread(target=sample, daemon=True).start()
    data = path if mode == "file" else np.load(path)
    t0 = time.perf_counter()
    gm = fastem.GaussianMixture(k, covariance_type="full", max_iter=max_iter, tol=0.0,
                                random_state=0, chunk_size=chunk if mode == "file" else None)
    import warnings
    warnings.simplefilter("ignore")
    gm.fit(data)
    total = time.perf_counter() - t0
    stop.set()
    peak[0] = max(peak[0], rss_anon_mb())
    print(json.dumps({"iter_seconds": times, "fit_seconds": total, "peak_mb": peak[0],
                      "baseline_mb": baseline, "lower_bound": gm.lower_bound_}))
""")


def _write_npy(path: str, n: int) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (K, D)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, D))
    block = 1_000_000
    for start in range(0, n, block):
        m = min(block, n - start)
        lab = rng.integers(0, K, m)
        out[start:start + m] = centres[lab] + rng.standard_normal((m, D), dtype=np.float32)
    out.flush()
    del out


def _run(path: str, mode: str) -> dict:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", _CHILD, path, mode, str(CHUNK), str(K),
                           str(MAX_ITER)], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def npy_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ooc")
    paths = {}
    for n in SIZES:
        paths[n] = str(tmp / f"X_{n}.npy")
        _write_npy(paths[n], n)
    yield paths
    for p in paths.values():
        os.unlink(p)


def test_outofcore_fit_memory_and_speed(benchmark, npy_files):
    results = {}

    def measure():
        for n, path in npy_files.items():
            results[n] = _run(path, "file")
        results["compare"] = _run(npy_files[SIZES[-1]], "compare")
    benchmark.pedantic(measure, rounds=1, iterations=1)

    n_big = SIZES[-1]
    lines = []
    for n in SIZES:
        r = results[n]
        rate = n / min(r["iter_seconds"][-MAX_ITER:])
        benchmark.extra_info[f"file_{n}_rows_per_s"] = rate
        benchmark.extra_info[f"file_{n}_peak_rss_anon_mb"] = r["peak_mb"]
        benchmark.extra_info[f"file_{n}_baseline_rss_anon_mb"] = r["baseline_mb"]
        lines.append(f"fit from file N={n:>11,}: {rate:>11,.0f} rows/s per iteration, peak "
                     f"RssAnon {r['peak_mb']:6.1f} MB (after imports+JIT "
                     f"{r['baseline_mb']:.1f} MB), whole fit {r['fit_seconds']:.1f} s")
    c = results["compare"]
    for name in ("file", "file_no_prefetch", "memory"):
        rate = n_big / c["best_seconds"][name]
        benchmark.extra_info[f"pass_{name}_rows_per_s"] = rate
        lines.append(f"one EM pass, {name:>16} N={n_big:>11,}: {rate:>11,.0f} rows/s "
                     "(interleaved, best of rounds)")
    sec = c["best_seconds"]
    benchmark.extra_info["prefetch_speedup"] = sec["file_no_prefetch"] / sec["file"]
    benchmark.extra_info["file_over_memory_throughput"] = sec["memory"] / sec["file"]
    lines.append(f"prefetch: {sec['file_no_prefetch'] / sec['file']:.3f}x the pass without it; "
                 f"file at {sec['memory'] / sec['file']:.1%} of the in-memory throughput")
    print("\n" + "\n".join(lines))
    # Same data, same statistics (exact EM): chunking changes only the summation order.
    assert c["loglik"]["file"] == pytest.approx(c["loglik"]["memory"], rel=1e-9)
    # Prefetching reads the same chunks in the same order: bit-identical.
    assert c["loglik"]["file"] == c["loglik"]["file_no_prefetch"]
    for n in SIZES:
        assert results[n]["peak_mb"] < LIMIT_MB, results[n]
    # Memory does not grow with N (allow 10% noise).
    assert results[SIZES[-1]]["peak_mb"] < 1.1 * results[SIZES[0]]["peak_mb"] + 5
