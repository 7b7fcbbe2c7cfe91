"""Tests of the benchmark tooling: the measurement harness, the CI gate and the report."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import _harness as H
from benchmarks import gate, report


def _iteration_record(n=1000, d=2, k=4, cov="full", dtype="float64", fe=0.01, sk=0.1,
                      onedal=None, test=None):
    r = {"suite": "iteration", "test": test or f"t[{n}-{d}-{k}-{cov}-{dtype}]", "n": n,
         "d": d, "k": k, "covariance_type": cov, "dtype": dtype, "fastem_s_per_iter": fe,
         "sklearn_s_per_iter": sk, "speedup_vs_sklearn": sk / fe,
         "loglik_rel_diff_common_iter": 1e-15, "time_utc": "2026-01-01T00:00:00+00:00",
         "machine": {"cpu": "Test CPU", "logical_cpus": 2}}
    if onedal is not None:
        r["onedal_s_per_iter"] = onedal
    return r


# ----------------------------------------------------------------------------- harness
@pytest.mark.parametrize("cov", ["full", "diag"])
def test_both_libraries_start_from_the_same_parameters(cov):
    # The per-iteration comparison is only fair if both libraries run the same EM: from
    # identical initial parameters their log-likelihoods agree at every common iteration.
    X = H.make_data(3000, 3, seed=5)
    init = H.make_init(X, 3, cov)
    fe = H.fastem_iterations(X, init, cov, min_iter=3, max_iter=3)
    sk = H.sklearn_iterations(X, init, cov, min_iter=4, max_iter=4)
    assert len(fe.lower_bounds) == 4 and len(sk.lower_bounds) == 4
    np.testing.assert_allclose(fe.lower_bounds, sk.lower_bounds, rtol=1e-9)
    info = H.compare_iterations(fe, sk)
    assert info["loglik_common_iter"] == 4
    assert info["loglik_rel_diff_common_iter"] < 1e-9
    assert info["ratio_fastem_over_sklearn"] == pytest.approx(fe.per_iter / sk.per_iter)


def test_make_data_is_seeded_and_cast():
    a = H.make_data(500, 4, seed=3)
    b = H.make_data(500, 4, np.float32, seed=3)
    assert b.dtype == np.float32 and not a.flags.writeable
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.array_equal(a, H.make_data(500, 4, seed=4))


def test_make_init_rejects_other_covariance_types():
    with pytest.raises(ValueError, match="cover covariance_type 'full' and 'diag'; got 'tied'"):
        H.make_init(H.make_data(100, 2), 2, "tied")


def test_flop_count_and_matmul_rate():
    # Issue 6's convention: D^2 multiply-adds per (row, component), 2 flops each.
    assert H.em_flops_full(10, 3, 2) == 2 * 10 * 2 * 9
    assert H.matmul_gflops(n=64, repeats=2) > 0


def test_records_are_appended_as_json_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    H.append_record({"suite": "x", "v": np.float64(1.5)}, path)
    H.append_record({"suite": "y", "v": 2}, path)
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["suite"] for r in recs] == ["x", "y"] and recs[0]["v"] == 1.5
    assert "time_utc" in recs[0]


# ----------------------------------------------------------------------------- gate
BASE = {"tolerance": 1.3, "case_tolerance": 1.8,
        "cases": {"a": {"ratio": 0.10}, "b": {"ratio": 0.20}}}


def test_gate_fails_on_the_geometric_mean_or_one_far_case():
    # a: x1.2, b: x1.5 -> geometric mean 1.342; new cases are reported, not gated.
    measured = {"a": {"ratio": 0.12}, "b": {"ratio": 0.30}, "new": {"ratio": 9.0}}
    geo, failed = gate.compare(measured, BASE, 1.3, 1.8)
    assert geo == pytest.approx((1.2 * 1.5) ** 0.5) and failed == ["geometric mean"]
    assert gate.compare(measured, BASE, 1.35, 1.8)[1] == []
    # One case far off while the mean stays within tolerance.
    geo, failed = gate.compare({"a": {"ratio": 0.07}, "b": {"ratio": 0.38}}, BASE, 1.3, 1.8)
    assert geo < 1.3 and failed == ["b"]


def _fake_measure(ratios):
    def measure(rounds=5):
        return {k: {"ratio": v, "ratios": [v] * rounds, "fastem_s_per_iter": v,
                    "sklearn_s_per_iter": 1.0} for k, v in ratios.items()}
    return measure


def test_gate_exit_codes_and_messages(tmp_path, monkeypatch, capsys):
    base = tmp_path / "baseline.json"
    assert gate.main(["--baseline", str(base)]) == 2
    assert "no baseline" in capsys.readouterr().err

    monkeypatch.setattr(gate, "measure", _fake_measure({"a": 0.10, "b": 0.20}))
    assert gate.main(["--baseline", str(base), "--update-baseline"]) == 0
    doc = json.loads(base.read_text())
    assert doc["cases"]["b"]["ratio"] == 0.20 and doc["tolerance"] == gate.DEFAULT_TOLERANCE
    assert doc["case_tolerance"] == gate.DEFAULT_CASE_TOLERANCE and doc["runs"] == 3

    monkeypatch.setattr(gate, "measure", _fake_measure({"a": 0.11, "b": 0.21}))
    assert gate.main(["--baseline", str(base)]) == 0
    assert "gate: passed" in capsys.readouterr().out

    monkeypatch.setattr(gate, "measure", _fake_measure({"a": 0.14, "b": 0.28}))
    assert gate.main(["--baseline", str(base)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: geometric mean slowed down" in out and "--update-baseline" in out


def test_gate_uses_the_baseline_of_this_cpu_kind_when_it_has_one(tmp_path, monkeypatch,
                                                                 capsys):
    base = tmp_path / "baseline.json"
    monkeypatch.setattr(gate, "measure", _fake_measure({"a": 0.10, "b": 0.20}))
    assert gate.main(["--baseline", str(base), "--update-baseline"]) == 0
    here = {"cpu": "Test CPU", "cpu_family": "25", "cpu_model": "1", "avx512": False}
    monkeypatch.setattr(gate.H, "cpu_kind", lambda: here)
    # Slower relative to the peer on this kind: fails the default baseline ...
    monkeypatch.setattr(gate, "measure", _fake_measure({"a": 0.15, "b": 0.30}))
    assert gate.main(["--baseline", str(base)]) == 1
    capsys.readouterr()
    # ... until this kind has its own, which leaves the default one as it was.
    assert gate.main(["--baseline", str(base), "--update-baseline", "--this-machine"]) == 0
    doc = json.loads(base.read_text())
    assert doc["cases"]["a"]["ratio"] == 0.10
    assert doc["by_machine"][gate.machine_key(here)]["cases"]["a"]["ratio"] == 0.15
    assert gate.main(["--baseline", str(base)]) == 0
    assert "this CPU kind's" in capsys.readouterr().out
    monkeypatch.setattr(gate, "measure", _fake_measure({"a": 0.21, "b": 0.42}))
    assert gate.main(["--baseline", str(base)]) == 1
    # Another kind still gets the default baseline, and a new default keeps the table.
    monkeypatch.setattr(gate.H, "cpu_kind", lambda: dict(here, avx512=True))
    monkeypatch.setattr(gate, "measure", _fake_measure({"a": 0.15, "b": 0.30}))
    assert gate.main(["--baseline", str(base)]) == 1
    assert gate.main(["--baseline", str(base), "--update-baseline"]) == 0
    assert gate.machine_key(here) in json.loads(base.read_text())["by_machine"]


# ----------------------------------------------------------------------------- report
def test_load_records_latest_wins_and_reads_pytest_benchmark_json(tmp_path):
    lines = tmp_path / "a.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in [
        _iteration_record(fe=0.05, test="t1"), _iteration_record(fe=0.02, test="t1")]))
    pb = tmp_path / "b.json"
    pb.write_text(json.dumps({"machine_info": {"cpu": {"brand_raw": "X"}}, "benchmarks": [
        {"name": "test_iteration[t2]", "group": None,
         "extra_info": _iteration_record(d=8, test="t2")},
        {"name": "test_other", "group": None, "extra_info": {}}]}))
    recs = report.load_records([lines, pb])
    assert sorted(r["test"] for r in recs) == ["t1", "t2"]
    assert next(r for r in recs if r["test"] == "t1")["fastem_s_per_iter"] == 0.02


def test_markdown_has_the_machine_every_point_and_dashes_for_missing_peers():
    recs = [_iteration_record(k=4, onedal=0.005), _iteration_record(k=16, fe=0.5, sk=1.0),
            _iteration_record(cov="diag", dtype="float32")]
    md = report.render_markdown(recs)
    assert md.startswith("Measured on Test CPU, 2 logical CPUs")
    assert "| 1,000 | 2 | 4 | 10.0 ms | 0.10 | 10.0× | 5.0 ms | 0.50× |" in md
    assert "| 1,000 | 2 | 16 | 0.50 | 1.00 | 2.0× | – | – |" in md
    assert "<details><summary>diag covariance, float32 (1 points)</summary>" in md


def test_readme_block_is_replaced_between_markers_or_appended(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.START}\nold\n{report.END}\n\n## after\n")
    report.update_readme(readme, "new table\n")
    text = readme.read_text()
    assert "old" not in text and f"{report.START}\nnew table\n{report.END}" in text
    assert text.endswith("## after\n")
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# y\n")
    report.update_readme(plain, "t\n")
    assert plain.read_text() == f"# y\n\n{report.START}\nt\n{report.END}\n"


def test_report_command_writes_readme_and_names_missing_inputs(tmp_path, capsys):
    res = tmp_path / "r.jsonl"
    res.write_text(json.dumps(_iteration_record()) + "\n")
    readme = tmp_path / "README.md"
    readme.write_text("# z\n")
    assert report.main([str(res), "--readme", str(readme), "--plot",
                        str(tmp_path / "p.png")]) == 0
    assert "| 1,000 | 2 | 4 |" in readme.read_text()
    assert report.main([str(tmp_path / "nope.jsonl")]) == 2
    assert "input file(s) not found" in capsys.readouterr().err


# ----------------------------------------------------------------------------- oneDAL honesty
class _FakeDAL:
    """Stands in for daal4py: ``em_gmm`` runs ``min(maxIterations, stops_after)`` iterations
    of 10 ms each (plus 5 ms set-up)."""

    def __init__(self, stops_after):
        self.stops_after = stops_after

    def daalinit(self, n):
        pass

    def em_gmm(self, nComponents, maxIterations, **kw):
        import time as _time
        n = min(maxIterations, self.stops_after)

        class Algo:
            def compute(self, X, w, m, covs):
                _time.sleep(0.005 + 0.01 * n)
                return type("R", (), {"nIterations": np.array([[n]]),
                                      "goalFunction": np.array([[-1000.0 * n]])})()
        return Algo()


def test_onedal_timing_divides_by_iterations_run_and_rejects_early_stops(monkeypatch):
    X = H.make_data(200, 2)
    init = H.make_init(X, 2, "full")
    monkeypatch.setattr(H, "import_daal4py", lambda: _FakeDAL(stops_after=10**6))
    ok = H.onedal_iterations(X, init, "full")
    assert ok.valid and ok.invalid is None
    assert 0.005 < ok.per_iter < 0.03, ok.per_iter          # ~10 ms per iteration run
    assert all(r["n_iterations"] == r["max_iter"] for r in ok.runs) and len(ok.runs) >= 3
    monkeypatch.setattr(H, "import_daal4py", lambda: _FakeDAL(stops_after=2))
    bad = H.onedal_iterations(X, init, "full")
    assert not bad.valid and bad.seconds == []
    assert "stopped after 2 of" in bad.invalid, bad.invalid
    assert any(r["n_iterations"] < r["max_iter"] for r in bad.runs)
    assert all("goal" in r for r in bad.runs)


def test_gate_numpy_bernoulli_peer_matches_fastem_iteration():
    from fastem.backends import numba as nb
    from fastem.data import as_source
    from fastem.families.bernoulli import BernoulliFamily, BernoulliParams
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(500, 6)) < 0.4
    means = rng.uniform(0.2, 0.8, (3, 6))
    w = np.array([0.2, 0.3, 0.5])
    fam = BernoulliFamily()
    stats = nb.em_stats(as_source(X, family=fam), fam.kernel_args(
        BernoulliParams(w, means, 1.0 - means)), fam)
    new = fam.m_step(stats, reg=1e-10)
    w2, m2, ll = gate.numpy_bernoulli_iteration(X, w, means)
    np.testing.assert_allclose(m2, new.means, rtol=1e-10)
    np.testing.assert_allclose(w2, new.weights, rtol=1e-10)
    assert ll == pytest.approx(stats.loglik / stats.weight_sum, rel=1e-12)
