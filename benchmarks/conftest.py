"""pytest configuration of the benchmark suites.

* ``bench_*.py`` files are collected (the default ``python -m pytest -q`` only looks in
  ``tests/``, see ``testpaths``).
* ``FASTEM_BENCH_FULL=1`` selects the full sizes; by default every benchmark runs once at a
  small size as a smoke test (``--benchmark-disable`` is in ``addopts``).
* Datasets are seeded and cached (:func:`benchmarks._harness.make_data`); JIT compilation is
  done by :func:`benchmarks._harness.warm_up_fastem` outside every timed region; Numba and BLAS
  threads are set per measurement with threadpoolctl and recorded.
* Every result is recorded twice: in pytest-benchmark's ``extra_info`` (kept in
  ``--benchmark-json`` output when benchmarks are enabled) and as one JSON line appended to
  ``benchmarks/results/{smoke,full}.jsonl`` at once, so an interrupted run still renders.
"""
from __future__ import annotations

import pytest

from benchmarks import _harness as H


def pytest_collect_file(file_path, parent):
    # Paths named on the command line are collected by pytest itself already.
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_report_header(config):
    info = H.machine_info()
    mode = "FULL" if H.FULL else "smoke (set FASTEM_BENCH_FULL=1 for the full sizes)"
    return [f"fastem benchmarks: {mode}; results -> {H.results_path()}",
            "machine: " + ", ".join(f"{k}={v}" for k, v in info.items())]


@pytest.fixture(scope="session")
def full() -> bool:
    """True when ``FASTEM_BENCH_FULL=1``."""
    return H.FULL


@pytest.fixture
def record(benchmark, request):
    """``record(suite, **values)``: put values in ``extra_info`` and append them as one
    JSON line with the test id and the machine."""

    def _record(suite: str, **values):
        benchmark.extra_info.update(values)
        H.append_record({"suite": suite, "test": request.node.name, **values,
                         "machine": H.machine_info()})

    return _record


def run_once(benchmark, fn):
    """Run ``fn`` exactly once under pytest-benchmark (timed when benchmarks are enabled)."""
    return benchmark.pedantic(fn, rounds=1, iterations=1, warmup_rounds=0)
