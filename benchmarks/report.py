"""Render benchmark results into the performance tables of docs/performance.md and a PNG plot.

Usage::

    python -m benchmarks.report                                # results/full.jsonl -> docs/performance.md
    python -m benchmarks.report results.json other.jsonl       # several inputs, later wins
    python -m benchmarks.report --no-readme --print            # just print the Markdown

Inputs are the JSON lines the suites append (``benchmarks/results/*.jsonl``) or
pytest-benchmark ``--benchmark-json`` files (their ``extra_info``). When one test appears
more than once, the latest record wins, so re-running part of the grid updates only that part.
The table replaces everything between ``<!-- perf-table:start -->`` and
``<!-- perf-table:end -->`` in docs/performance.md (``--readme`` names another file); the
plot needs matplotlib (``pip install -e '.[plot]'`` from the repository root) and is skipped
with a message otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Iterable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START, END = "<!-- perf-table:start -->", "<!-- perf-table:end -->"
DEFAULT_INPUT = HERE / "results" / "full.jsonl"
DEFAULT_PLOT = HERE / "results" / "perf.png"


# ----------------------------------------------------------------------------- loading
def load_records(paths: Iterable[Path]) -> list[dict]:
    """Records from JSON-lines or pytest-benchmark JSON files; the latest per test wins."""
    by_key: dict = {}
    for path in paths:
        path = Path(path)
        text = path.read_text()
        if path.suffix == ".jsonl":
            recs = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            doc = json.loads(text)
            machine = doc.get("machine_info", {})
            recs = []
            for b in doc.get("benchmarks", []):
                info = dict(b.get("extra_info", {}))
                if not info:
                    continue
                info.setdefault("suite", b.get("group") or b["name"].split("[")[0][5:])
                info.setdefault("test", b["name"])
                info.setdefault("machine", {"cpu": machine.get("cpu", {}).get("brand_raw")})
                recs.append(info)
        for r in recs:
            by_key[(r.get("suite"), r.get("test"))] = r
    return list(by_key.values())


# ----------------------------------------------------------------------------- formatting
def _s(x: Optional[float]) -> str:
    if x is None or x <= 0:
        return "–"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 0.1:
        return f"{x:.2f}"
    if x >= 0.001:
        return f"{x * 1e3:.1f} ms"
    return f"{x * 1e6:.0f} µs"


def _x(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.1f}×" if x >= 1 else f"{x:.2f}×"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _machine_line(recs: list[dict]) -> str:
    m = next((r.get("machine") for r in recs if r.get("machine")), {}) or {}
    times = sorted(r["time_utc"] for r in recs if r.get("time_utc"))
    when = f"{times[0][:16]} – {times[-1][:16]} UTC" if times else "unknown time"
    parts = [m.get("cpu", "unknown CPU"), f"{m.get('logical_cpus', '?')} logical CPUs"]
    if m.get("mem_gib"):
        parts.append(f"{m['mem_gib']} GiB")
    soft = ", ".join(f"{k} {m[k]}" for k in ("python", "numpy", "numba", "sklearn") if m.get(k))
    blas = m.get("blas", "")
    loads = [r["load_avg_1min"] for r in recs if r.get("load_avg_1min") is not None]
    load = (f"; 1-minute load average {min(loads):.1f}–{max(loads):.1f} while measuring "
            f"(recorded for {len(loads)} of {len(recs)} results)" if loads else "")
    return (f"Measured on {', '.join(parts)}; {soft}; BLAS {blas or '?'} "
            f"(OPENBLAS_CORETYPE={m.get('OPENBLAS_CORETYPE') or 'unset'}); {when}{load}.")


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else 0.5 * (xs[mid - 1] + xs[mid])


def _where(r: dict) -> str:
    return f"N={r['n']:,}, D={r['d']}, K={r['k']}"


def target_rows(recs: list[dict]) -> list[list[str]]:
    """Issue 6's targets against the results: target, measured, met."""
    it = [r for r in recs if r.get("suite") == "iteration"]
    rows = []

    def add(target, measured, ok):
        rows.append([target, measured, "yes" if ok else "**no**"])

    full = [r for r in it if r["covariance_type"] == "full" and r["dtype"] == "float64"]
    if full:
        sp = [r["speedup_vs_sklearn"] for r in full]
        worst = min(full, key=lambda r: r["speedup_vs_sklearn"])
        add("full, float64: ≥ 10× scikit-learn at the median of the grid",
            f"median {_median(sp):.1f}× over {len(sp)} points", _median(sp) >= 10)
        add("full, float64: ≥ 3× scikit-learn at every point",
            f"lowest {worst['speedup_vs_sklearn']:.1f}× ({_where(worst)})",
            worst["speedup_vs_sklearn"] >= 3)
    od = [r for r in full if (r.get("onedal_s_per_iter") or 0) > 0]
    if od:
        ratio = [(r["onedal_s_per_iter"] / r["fastem_s_per_iter"], r) for r in od]
        slower = [(x, r) for x, r in ratio if x < 1]
        worst_x, worst_r = min(ratio, key=lambda p: p[0])
        add("full, float64: faster than oneDAL at every point where it runs",
            f"faster at {len(od) - len(slower)} of {len(od)}; slowest "
            f"{worst_x:.2f}× oneDAL's speed ({_where(worst_r)})", not slower)
    roof = [r for r in recs if r.get("suite") == "roofline" and r["d"] >= 32
            and r["dtype"] == "float64"]
    if roof:
        fr = [r["fraction_of_matmul"] for r in roof]
        add("D ≥ 32, float64: ≥ 50% of numpy's dgemm GFLOP/s (same run, same threads)",
            f"{100 * min(fr):.0f}–{100 * max(fr):.0f}% over {len(fr)} cases",
            min(fr) >= 0.5)
    by = {(r["n"], r["d"], r["k"], r["covariance_type"], r["dtype"]): r for r in it}
    f32 = [(by[k[:4] + ("float64",)]["fastem_s_per_iter"] / r["fastem_s_per_iter"], r)
           for k, r in by.items() if k[4] == "float32" and k[:4] + ("float64",) in by]
    if f32:
        big = [x for x, r in f32 if r["d"] >= 32]
        add("float32 input: ≥ 1.6× the float64 speed",
            f"median {_median([x for x, _ in f32]):.2f}× over {len(f32)} points; "
            f"D ≥ 32: median {_median(big):.2f}×, range {min(big):.2f}–{max(big):.2f}×"
            if big else f"median {_median([x for x, _ in f32]):.2f}×",
            bool(big) and _median(big) >= 1.6)
    diag = [r for r in it if r["covariance_type"] == "diag"]
    if diag:
        worst = min(diag, key=lambda r: r["speedup_vs_sklearn"])
        add("diag: ≥ 5× scikit-learn's diag at every point",
            f"lowest {worst['speedup_vs_sklearn']:.1f}× ({_where(worst)}, {worst['dtype']}); "
            f"median {_median([r['speedup_vs_sklearn'] for r in diag]):.1f}×",
            worst["speedup_vs_sklearn"] >= 5)
    thr = [r for r in recs if r.get("suite") == "threads" and r["n"] >= 1_000_000]
    if thr:
        add("2 threads vs 1: ≥ 1.8× at N = 1e6",
            ", ".join(f"{r['speedup_2thr']:.2f}× (N={r['n']:,})" for r in thr),
            min(r["speedup_2thr"] for r in thr) >= 1.8)
    per_row = [r for r in recs if r.get("suite") == "rows"]
    if len(per_row) > 1:
        ns = [r["ns_per_row_component"] for r in per_row]
        add("cost per row flat from N = 1e5 to 1e7",
            f"{min(ns):.1f}–{max(ns):.1f} ns per row×component", max(ns) <= 1.25 * min(ns))
    comp = [r for r in recs if r.get("suite") == "compile"]
    if comp:
        r = comp[-1]
        add("start-up with a warm cache < 1.5 s; cold compile < 60 s",
            f"warm {r['warm_s']:.1f} s, cold {r['cold_s']:.1f} s",
            r["warm_s"] < 1.5 and r["cold_s"] < 60)
    return rows


def render_markdown(recs: list[dict], plot_rel: Optional[str] = None) -> str:
    """The Markdown that goes between the README markers."""
    lines = [_machine_line(recs), ""]
    targets = target_rows(recs)
    if targets:
        lines += ["**Kernel performance targets** (issue 6), computed from the results below.",
                  ""]
        lines += _table(["target", "measured", "met"], targets) + [""]
    it = [r for r in recs if r.get("suite") == "iteration"]
    if it:
        lines += ["Seconds per EM iteration (E-step + M-step, median of the timed iterations, "
                  "identical initial parameters, `tol=0`); speed-up = scikit-learn time / "
                  "fastem time; oneDAL is `daal4py.em_gmm` (– where not run); "
                  "Δ loglik = relative difference of the two libraries' log-likelihood at the "
                  "same iteration; GFLOP/s counts 2·N·K·D² flops (D² multiply-adds per row and "
                  "component, as issue 6 counts them; full only).", ""]
        groups = sorted({(r["covariance_type"], r["dtype"]) for r in it},
                        key=lambda g: (g[0] != "full", g[1] != "float64"))
        for cov, dtype in groups:
            rows = []
            sel = sorted((r for r in it if (r["covariance_type"], r["dtype"]) == (cov, dtype)),
                         key=lambda r: (r["n"], r["d"], r["k"]))
            for r in sel:
                rows.append([f"{r['n']:,}", str(r["d"]), str(r["k"]),
                             _s(r["fastem_s_per_iter"]), _s(r["sklearn_s_per_iter"]),
                             _x(r["speedup_vs_sklearn"]), _s(r.get("onedal_s_per_iter")),
                             _x(r.get("onedal_s_per_iter", 0) / r["fastem_s_per_iter"])
                             if (r.get("onedal_s_per_iter") or 0) > 0 else "–",
                             f"{r['fastem_gflops']:.1f}" if "fastem_gflops" in r else "–",
                             f"{r['loglik_rel_diff_common_iter']:.0e}"])
            first = (cov, dtype) == groups[0]
            title = f"{cov} covariance, {dtype} ({len(rows)} points)"
            lines += ([f"**{title}**", ""] if first else
                      ["<details><summary>" + title + "</summary>", ""])
            lines += _table(["N", "D", "K", "fastem s/iter", "sklearn s/iter",
                             "speed-up vs sklearn", "oneDAL s/iter", "speed-up vs oneDAL",
                             "fastem GFLOP/s", "Δ loglik"], rows)
            lines += [""] if first else ["", "</details>", ""]
    roof = [r for r in recs if r.get("suite") == "roofline"]
    if roof:
        lines += ["**Roofline** (full covariance): achieved GFLOP/s vs numpy matmul "
                  "GFLOP/s measured in the same run with the same threads.", ""]
        rows = [[f"{r['n']:,}", str(r["d"]), str(r["k"]), r["dtype"], str(r["threads"]),
                 _s(r["fastem_s_per_iter"]), f"{r['fastem_gflops']:.1f}",
                 f"{r['matmul_gflops']:.1f}", f"{100 * r['fraction_of_matmul']:.0f}%"]
                for r in sorted(roof, key=lambda r: (r["dtype"], r["d"], r["k"], r["threads"]))]
        lines += _table(["N", "D", "K", "dtype", "threads", "s/iter", "fastem GFLOP/s",
                         "matmul GFLOP/s", "fraction"], rows) + [""]
    thr = [r for r in recs if r.get("suite") == "threads"]
    if thr:
        lines += ["**Threads** (D=8, K=8, full, float64; BLAS pinned to 1 thread unless "
                  "noted).", ""]
        rows = [[f"{r['n']:,}", _s(r["s_per_iter_1thr"]), _s(r["s_per_iter_2thr"]),
                 f"{r['speedup_2thr']:.2f}×", f"{100 * r['efficiency_2thr']:.0f}%",
                 _s(r["s_per_iter_2thr_blas2"])] for r in sorted(thr, key=lambda r: r["n"])]
        lines += _table(["N", "1 thread s/iter", "2 threads s/iter", "speed-up",
                         "efficiency", "2 threads, BLAS on 2 threads"], rows) + [""]
    rows_s = [r for r in recs if r.get("suite") == "rows"]
    if rows_s:
        lines += ["**Rows** (D=8, K=8, full, float64, 2 threads): cost per row should be "
                  "flat.", ""]
        rows = [[f"{r['n']:,}", _s(r["s_per_iter"]), f"{r['ns_per_row']:.0f}",
                 f"{r['ns_per_row_component']:.1f}"] for r in sorted(rows_s,
                                                                     key=lambda r: r["n"])]
        lines += _table(["N", "s/iter", "ns per row", "ns per row×component"], rows) + [""]
    mem = [r for r in recs if r.get("suite") == "memory"]
    if mem:
        lines += ["**Memory**: peak resident memory of a whole fit (initialisation + 2 EM "
                  "iterations) in a child process, above the resident size just before "
                  "`fit` (interpreter, libraries and input already loaded).", ""]
        rows = [[f"{r['n']:,} × {r['d']}", str(r["k"]), r["covariance_type"],
                 f"{r['input_mib']:.0f} MiB", f"{r['fastem_fit_extra_mib']:.0f} MiB",
                 f"{r['sklearn_fit_extra_mib']:.0f} MiB",
                 "yes" if r["passes_bar"] else "**no**"]
                for r in sorted(mem, key=lambda r: r["covariance_type"])]
        lines += _table(["N × D", "K", "covariance", "input", "fastem extra peak",
                         "sklearn extra peak", "fastem < 300 MB"], rows) + [""]
    comp = [r for r in recs if r.get("suite") == "compile"]
    if comp:
        r = comp[-1]
        lines += [f"**Compile** (import + small fit + predict in a fresh process): cold "
                  f"(empty `NUMBA_CACHE_DIR`) {r['cold_s']:.1f} s, warm (cache hit) "
                  f"{r['warm_s']:.1f} s (import alone {r['warm_import_s']:.2f} s).", ""]
    if plot_rel:
        lines += [f"![time per EM iteration]({plot_rel})", ""]
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- plot
def render_plot(recs: list[dict], path: Path) -> bool:
    """Time per iteration against K (one panel per D) for the largest N, full float64."""
    try:
        import matplotlib
        import matplotlib.ticker
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib is missing, no plot; pip install -e '.[plot]'",
              file=sys.stderr)
        return False
    it = [r for r in recs if r.get("suite") == "iteration"]
    if not it:
        return False
    n = max(r["n"] for r in it)
    ds = sorted({r["d"] for r in it if r["n"] == n})
    fig, axes = plt.subplots(1, len(ds), figsize=(3.2 * len(ds), 3.6), squeeze=False)
    styles = {"fastem_s_per_iter": ("fastem", "C0"), "sklearn_s_per_iter": ("scikit-learn", "C1"),
              "onedal_s_per_iter": ("oneDAL", "C2")}
    for ax, d in zip(axes[0], ds):
        for cov, ls in (("full", "-"), ("diag", ":")):
            sel = sorted((r for r in it if r["n"] == n and r["d"] == d and r["dtype"] ==
                          "float64" and r["covariance_type"] == cov), key=lambda r: r["k"])
            for key, (label, color) in styles.items():
                pts = [(r["k"], r[key]) for r in sel if r.get(key)]
                if pts:
                    ax.plot(*zip(*pts), ls, marker="o", color=color, label=f"{label} {cov}")
        ax.set(xscale="log", yscale="log", title=f"D = {d}", xlabel="K")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks([4, 16, 64], labels=["4", "16", "64"])
    axes[0][0].set_ylabel("seconds per EM iteration")
    fig.suptitle(f"Time per EM iteration, N = {n:,}, float64 (solid: full, dotted: diag)",
                 fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------- README
def update_readme(readme: Path, markdown: str) -> None:
    """Replace the text between the perf-table markers (appended when absent)."""
    text = readme.read_text()
    block = f"{START}\n{markdown}{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="*", type=Path, default=[DEFAULT_INPUT])
    p.add_argument("--readme", type=Path, default=ROOT / "docs" / "performance.md")
    p.add_argument("--plot", type=Path, default=DEFAULT_PLOT)
    p.add_argument("--no-readme", action="store_true", help="do not modify the README")
    p.add_argument("--print", action="store_true", help="print the Markdown")
    args = p.parse_args(argv)
    missing = [str(x) for x in args.inputs if not Path(x).exists()]
    if missing:
        print(f"report: input file(s) not found: {missing}; run the benchmarks first, e.g. "
              "FASTEM_BENCH_FULL=1 python -m pytest benchmarks/", file=sys.stderr)
        return 2
    recs = load_records(args.inputs)
    plotted = render_plot(recs, args.plot)
    rel = None
    if plotted:
        # Relative to the page, so the link works on GitHub and in a clone (e.g. ../benchmarks/...).
        try:
            rel = Path(os.path.relpath(args.plot.resolve(),
                                       args.readme.resolve().parent)).as_posix()
        except ValueError:  # another drive on Windows
            rel = str(args.plot)
    md = render_markdown(recs, rel)
    if args.print or args.no_readme:
        print(md)
    if not args.no_readme:
        update_readme(args.readme, md)
        print(f"report: {len(recs)} results -> {args.readme}"
              + (f" and {args.plot}" if plotted else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
