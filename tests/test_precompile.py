"""``fastem precompile``: the workload list, its errors, and a workload that runs."""
from __future__ import annotations

import subprocess
import sys

import pytest

from fastem.precompile import WORKLOADS, precompile


def test_list_names_every_workload():
    out = subprocess.run([sys.executable, "-m", "fastem", "precompile", "--list"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == list(WORKLOADS)


def test_unknown_workload_and_bad_jobs_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown workload\(s\) \['nope'\]; choose from"):
        precompile(["nope"])
    with pytest.raises(ValueError, match="jobs must be at least 1, got 0"):
        precompile(["bernoulli-uint8"], jobs=0)


def test_a_workload_runs_and_reports_no_failure(capsys):
    assert precompile(["bernoulli-uint8"]) == []
    assert capsys.readouterr().out.startswith("bernoulli-uint8: ")
