"""A model-selection sweep (K x covariance types) against the plain loop of fits.

Compares, on the same data and seeds:

* ``sweep``: one :class:`fastem.GaussianMixtureSelection` (candidates in lockstep, one
  shared read per pass);
* ``loop``: the plain loop of ``fastem.GaussianMixture`` fits, one per cell;
* ``sklearn``: scikit-learn's loop of ``sklearn.mixture.GaussianMixture`` fits (in memory);

in memory and from a ``.npy`` file. Reported per case: passes over the data (reads of the
source: the ``.npy`` adapter's ``raw_chunks`` calls from a file; for in-memory fastem, how
many times the array is streamed, summed over candidates), bytes read from the file, wall
time, and peak anonymous memory above the baseline (``RssAnon``: the page cache is not
counted). Each case runs in its own subprocess with the JIT warmed first.

The file is written to a temporary directory and is usually in the page cache, so a plain
file case understates the cost of reading a file larger than memory. Two ways to make the
reads cost what they would: ``--cold`` drops the file's pages from the page cache before
every pass (``posix_fadvise(POSIX_FADV_DONTNEED)``, no root needed; on a VM the host may
still cache the file), and ``--disk-mbps 500,200`` paces every chunk read to that bandwidth
(a disk of 500 MB/s, a SATA SSD; 200 MB/s, a network volume or spinning disk), in the
prefetching reader thread, so the reads overlap the kernels exactly as real reads would.

Smoke test by default (tiny sizes, part of ``pytest benchmarks``). Full size (1e6 x 8,
K 1-9 x 4 types, 36 cells) or a reduced size::

    FASTEM_BENCH_FULL=1 PYTHONPATH=$PWD python benchmarks/bench_selection.py
    PYTHONPATH=$PWD python benchmarks/bench_selection.py --n 200000 --kmax 5
    PYTHONPATH=$PWD python benchmarks/bench_selection.py --file-only --cold --disk-mbps 500,200
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL = os.environ.get("FASTEM_BENCH_FULL") == "1"
TYPES = ("full", "tied", "diag", "spherical")

_CHILD = textwrap.dedent("""
    import json, os, sys, threading, time, warnings
    import numpy as np
    warnings.simplefilter("ignore")

    def rss_anon_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024

    mode, where, path, kmax, types, chunk, cold, mbps = (sys.argv[1], sys.argv[2],
        sys.argv[3], int(sys.argv[4]), sys.argv[5].split(","), int(sys.argv[6]),
        sys.argv[7] == "1", float(sys.argv[8]))
    ks = list(range(1, kmax + 1))
    cells = [(k, c) for k in ks for c in types]
    import fastem
    from fastem.data import npy
    small = np.array(np.load(path, mmap_mode="r")[:2000])
    if mode != "sklearn":
        # Warm the JIT on every code path the cases use (not timed).
        fastem.GaussianMixtureSelection([1, 2], covariance_types=types, max_iter=2,
                                        random_state=0).fit(small)
        fastem.GaussianMixtureSelection([1, 2], covariance_types=types, max_iter=2,
                                        random_state=0, chunk_size=500).fit(small)
    else:
        from sklearn.mixture import GaussianMixture as SkGM
        SkGM(2, max_iter=2).fit(small)
    reads = [0]
    raw = npy.NpyAdapter.raw_chunks
    def counting(self, rows):
        reads[0] += 1
        if cold:
            # Drop the file's pages from the page cache: this pass reads from the disk.
            fd = os.open(self.path, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
        it = raw(self, rows)
        return paced(it) if mbps > 0 else it
    def paced(it):
        # A disk that delivers each chunk no faster than `mbps` MB/s from the moment it is
        # asked for (in the prefetching reader thread, as a real read would be).
        t = time.perf_counter()
        for item in it:
            due = t + item[0].nbytes / (mbps * 1e6)
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            yield item
            t = time.perf_counter()
    npy.NpyAdapter.raw_chunks = counting
    X = np.load(path) if where == "memory" else path
    baseline = rss_anon_mb()
    peak = [baseline]
    stop = threading.Event()
    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_anon_mb())
            time.sleep(0.005)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    kw = dict(random_state=0, chunk_size=None if where == "memory" else chunk)
    t0 = time.perf_counter()
    if mode == "sweep":
        sel = fastem.GaussianMixtureSelection(ks, covariance_types=types, **kw).fit(X)
        shared = sel.n_passes_
        streamed = sum(r["n_iter"] + 2 + 1 for r in sel.table_ if r["error"] is None)
        best = sel.best_params_
        bics = [r["bic"] for r in sel.table_]
    elif mode == "loop":
        shared, streamed, bics = 0, 0, []
        for k, c in cells:
            gm = fastem.GaussianMixture(k, covariance_type=c, **kw).fit(X)
            bics.append(gm.bic(X))
            streamed += gm.n_iter_ + 2 + 1
        i = int(np.argmin(bics))
        best = {"n_components": cells[i][0], "covariance_type": cells[i][1]}
    else:
        from sklearn.mixture import GaussianMixture as SkGM
        shared, streamed, bics = 0, 0, []
        for k, c in cells:
            gm = SkGM(k, covariance_type=c, random_state=0).fit(X)
            bics.append(gm.bic(X))
            streamed += gm.n_iter_ + 1
        i = int(np.argmin(bics))
        best = {"n_components": cells[i][0], "covariance_type": cells[i][1]}
    wall = time.perf_counter() - t0
    stop.set(); th.join()
    print(json.dumps({"mode": mode, "where": where, "wall_s": wall,
                      "peak_mb": peak[0] - baseline, "file_reads": reads[0],
                      "streamed": streamed, "shared": shared, "best": best,
                      "bics": bics}))
""")


def run_case(mode: str, where: str, path: str, kmax: int, types, chunk: int,
             cold: bool = False, mbps: float = 0.0) -> dict:
    """One case in a fresh subprocess; its JSON line as a dict."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, where, path, str(kmax),
                          ",".join(types), str(chunk), "1" if cold else "0", str(mbps)],
                         env=env,
                         capture_output=True,
                         text=True, timeout=24 * 3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_file(directory: str, n: int, d: int) -> str:
    from benchmarks._harness import make_data
    path = os.path.join(directory, f"sel_{n}x{d}.npy")
    np.save(path, np.ascontiguousarray(make_data(n, d)))
    # Written back to the disk now: dirty pages cannot be dropped from the page cache.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def run_all(n: int, d: int, kmax: int, types=TYPES, chunk: int = 65_536,
            sklearn: bool = True, cold: bool = False, file_only: bool = False,
            disk_mbps: tuple = ()) -> list:
    """Every case on one seeded data set; rows of results.

    The file cases run from the page cache, then (``cold``) with the file's pages dropped
    before every pass, then once per bandwidth in ``disk_mbps`` with every chunk read paced
    to that many MB/s (a disk of that bandwidth; the pacing happens in the reader thread, so
    reads still overlap the kernels as real reads do).
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(tmp, n, d)
        size_mb = os.path.getsize(path) / 1e6
        cases = [] if file_only else [("sweep", "memory", False, 0.0),
                                      ("loop", "memory", False, 0.0)]
        if sklearn and not file_only:
            cases.append(("sklearn", "memory", False, 0.0))
        conditions = [(False, 0.0)] + ([(True, 0.0)] if cold else [])
        conditions += [(False, float(m)) for m in disk_mbps]
        for c, m in conditions:
            cases += [("sweep", "file", c, m), ("loop", "file", c, m)]
        rows = []
        for mode, where, c, m in cases:
            r = run_case(mode, where, path, kmax, types, chunk, cold=c, mbps=m)
            if c:
                r["where"] = "file, page cache dropped before every pass"
            elif m:
                r["where"] = f"file, reads paced to {m:.0f} MB/s"
            elif where == "file":
                r["where"] = "file, from the page cache"
            r["read_mb"] = r["file_reads"] * size_mb
            r["size_mb"] = size_mb
            rows.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "bics"}), file=sys.stderr,
                  flush=True)
    return rows


def render(rows: list, n: int, d: int, kmax: int, types) -> str:
    lines = [f"{n:,} x {d}, K 1-{kmax} x {len(types)} covariance types "
             f"({kmax * len(types)} cells)", "",
             "| case | file reads (passes) | MB read | data streamed by kernels | wall s | "
             "loop / sweep | peak MB | best |",
             "|---|---|---|---|---|---|---|---|"]
    sweeps = {r["where"]: r["wall_s"] for r in rows if r["mode"] == "sweep"}
    for r in rows:
        is_file = r["where"].startswith("file")
        reads = r["file_reads"] if is_file else "-"
        mb = f"{r['read_mb']:,.0f}" if is_file else "-"
        ratio = (f"{r['wall_s'] / sweeps[r['where']]:.2f}x"
                 if r["mode"] != "sweep" and r["where"] in sweeps else "")
        best = f"K={r['best']['n_components']} {r['best']['covariance_type']}"
        lines.append(f"| {r['mode']} ({r['where']}) | {reads} | {mb} | {r['streamed']} | "
                     f"{r['wall_s']:.1f} | {ratio} | {r['peak_mb']:.0f} | {best} |")
    return "\n".join(lines)


def test_bench_selection_smoke():
    rows = run_all(6_000, 4, 2, types=("full", "diag"), chunk=2_000, sklearn=False,
                   disk_mbps=(200,))
    by = {(r["mode"], r["where"].split(",")[0]): r for r in rows
          if "paced" not in r["where"]}
    paced = {r["mode"]: r for r in rows if "paced" in r["where"]}
    assert by["sweep", "file"]["file_reads"] < by["loop", "file"]["file_reads"]
    assert paced["sweep"]["file_reads"] == by["sweep", "file"]["file_reads"]
    # 6,000 x 4 float64 is 0.192 MB: each pass takes at least 0.96 ms at 200 MB/s.
    assert paced["loop"]["wall_s"] >= paced["loop"]["file_reads"] * 0.192 / 200
    np.testing.assert_allclose(by["sweep", "memory"]["bics"], by["loop", "memory"]["bics"],
                               rtol=1e-10)
    assert by["sweep", "file"]["best"] == by["loop", "file"]["best"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000 if FULL else 200_000)
    p.add_argument("--d", type=int, default=8)
    p.add_argument("--kmax", type=int, default=9 if FULL else 5)
    p.add_argument("--chunk", type=int, default=65_536)
    p.add_argument("--no-sklearn", action="store_true")
    p.add_argument("--cold", action="store_true",
                   help="evict the file from the page cache before every pass "
                        "(posix_fadvise DONTNEED), so file passes read the disk")
    p.add_argument("--file-only", action="store_true", help="only the file cases")
    p.add_argument("--disk-mbps", default=os.environ.get("FASTEM_BENCH_DISK_MBPS", ""),
                   help="comma-separated disk bandwidths in MB/s (e.g. 500,200): extra "
                        "file cases with every chunk read paced to that bandwidth")
    p.add_argument("--json", help="also write the rows to this JSON file")
    a = p.parse_args(argv)
    mbps = tuple(float(v) for v in a.disk_mbps.split(",") if v.strip())
    rows = run_all(a.n, a.d, a.kmax, chunk=a.chunk, sklearn=not a.no_sklearn, cold=a.cold,
                   file_only=a.file_only, disk_mbps=mbps)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(render(rows, a.n, a.d, a.kmax, TYPES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
