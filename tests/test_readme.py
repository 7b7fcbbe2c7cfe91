"""Every ```python block of README.md, docs/*.md and benchmarks/README.md runs as written,
and every relative link in them points to an existing file and heading.

Each block runs on its own, in a fresh namespace, with the current directory set to a temporary
directory (blocks may write files such as ``model.npz``). A block that cannot run in the test
suite is preceded by an HTML comment ``<!-- readme-test: skip (reason) -->``; the reason is
required, and at most ``MAX_SKIPPED`` blocks may be marked so. A block whose optional
dependency (scikit-learn, Dask) is not installed is skipped with the module named.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "benchmarks" / "README.md"]
MAX_SKIPPED = 2
OPTIONAL = ("sklearn", "dask", "distributed", "h5py", "zarr", "pyarrow", "tqdm")

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_SKIP = re.compile(r"<!--\s*readme-test:\s*skip\b(.*)-->\Z", re.S)


def extract_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip_reason)`` for every ```python block of a Markdown text.

    ``skip_reason`` is the text of a ``<!-- readme-test: skip (...) -->`` comment that ends
    on the line just before the block (blank lines between them allowed), else ``None``.
    """
    blocks = []
    for m in _FENCE.finditer(text):
        if m.group(1) != "python":
            continue
        before = text[:m.start()].rstrip()
        comment = before[before.rfind("<!--"):] if before.endswith("-->") else ""
        skip = _SKIP.match(comment)
        reason = skip.group(1).strip() if skip else None
        if skip is not None and not reason.strip("() "):
            raise AssertionError(f"a readme-test skip marker before line "
                                 f"{text.count(chr(10), 0, m.start()) + 1} gives no reason")
        blocks.append((text.count("\n", 0, m.start()) + 1, m.group(2), reason))
    return blocks


def _all_blocks():
    out = []
    for path in DOCS:
        for line, code, reason in extract_blocks(path.read_text(encoding="utf-8")):
            out.append(pytest.param(path, line, code, reason,
                                    id=f"{path.relative_to(ROOT).as_posix()}:{line}"))
    return out


BLOCKS = _all_blocks()


def test_the_readme_has_python_blocks_and_few_are_skipped():
    readme = [b for b in BLOCKS if b.values[0].name == "README.md"]
    assert len(readme) >= 5, f"README.md has only {len(readme)} python blocks"
    skipped = [b.id for b in BLOCKS if b.values[3] is not None]
    assert len(skipped) <= MAX_SKIPPED, (
        f"{len(skipped)} python blocks are marked 'readme-test: skip' ({skipped}); at most "
        f"{MAX_SKIPPED} may be: make the others runnable")


def test_extraction_finds_blocks_and_skip_markers():
    text = ("x\n```python\na = 1\n```\n\n<!-- readme-test: skip (needs a cluster) -->\n\n"
            "```python\nb = 2\n```\n```bash\nls\n```\n```python\nc = 3\n```\n")
    assert extract_blocks(text) == [(2, "a = 1\n", None), (8, "b = 2\n", "(needs a cluster)"),
                                    (14, "c = 3\n", None)]
    with pytest.raises(AssertionError, match="gives no reason"):
        extract_blocks("<!-- readme-test: skip -->\n```python\nx = 1\n```\n")


@pytest.mark.parametrize("path, line, code, reason", BLOCKS)
def test_python_block_runs_as_written(path, line, code, reason, tmp_path, monkeypatch):
    if reason is not None:
        pytest.skip(f"marked in {path.name}: {reason}")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    where = f"{path.relative_to(ROOT).as_posix()}, block at line {line}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exec(compile(code, where, "exec"), namespace)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in OPTIONAL:
                pytest.skip(f"{where} needs the optional package {exc.name!r}")
            raise
    # A block may show a warning on purpose only if it catches it itself (as the API example
    # does); anything else escaping from fastem is a README example that warns.
    fastem_warnings = [w for w in caught if "fastem" in (w.filename or "")
                       or type(w.message).__module__.startswith("fastem")]
    assert not fastem_warnings, f"{where} warns: {[str(w.message) for w in fastem_warnings]}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} +(.+)$", text, re.M)}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_to_existing_files_and_headings(path):
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no file {dest})")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{path.name} has broken links: {broken}"


def test_first_screen_holds_what_a_newcomer_needs():
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:120])
    for needed in ("## Measured", "scikit-learn", "oneDAL", "MiB", "## Install",
                   "pip install -e '.[dask]'", "## Two commands", "## Quickstart",
                   "## Command line", "fastem fit", "fastem predict", "fastem demo"):
        assert needed in head, f"the first 120 lines of README.md lack {needed!r}"
    for path in DOCS:
        assert "pip install 'fastem[" not in path.read_text(encoding="utf-8"), (
            f"{path.name} tells users to install fastem from PyPI, where it is not published")


def _speedups(performance: str, title: str) -> tuple[list[float], list[float]]:
    """Speed-ups vs scikit-learn and vs oneDAL of one table of docs/performance.md."""
    body = performance.split(title, 1)[1].split("\n\n", 2)[1]
    sk, od = [], []
    for row in body.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        sk.append(float(cells[5].rstrip("×")))
        if cells[7] != "–":
            od.append(float(cells[7].rstrip("×")))
    return sk, od


@pytest.mark.parametrize("title, label", [
    ("**full covariance, float64 (24 points)**", "full covariance, float64"),
    ("<summary>diag covariance, float64 (24 points)</summary>", "diag covariance, float64"),
    ("<summary>full covariance, float32 (24 points)</summary>", "full covariance, float32"),
])
def test_headline_speedups_are_those_of_the_measured_tables(title, label):
    import statistics
    performance = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    sk, od = _speedups(performance, title)
    assert len(sk) == 24 and od, f"could not read the table {title} of docs/performance.md"
    row = next(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
               if line.startswith(f"| {label} (")).replace("**", "")
    expected = [f"median {statistics.median(sk):.1f}×", f"range {min(sk):.1f}×–{max(sk):.1f}×",
                f"median {statistics.median(od):.2g}×"]
    for text in expected:
        assert text in row, f"README's row {label!r} should show {text!r} (docs/performance.md)"
