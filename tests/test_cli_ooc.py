"""The ``fastem`` command end to end, through subprocesses."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, check=True):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "fastem", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (1500, 3)), rng.normal(6, 1, (1500, 3))])
    np.save(tmp / "X.npy", X)
    return tmp, X


def test_fit_predict_score_info(files):
    tmp, X = files
    model = tmp / "m.npz"
    fit = run("fit", tmp / "X.npy", "-k", 2, "-o", model, "--chunk-size", 700,
              "--random-state", 0, "--max-iter", 50, "--checkpoint", tmp / "ck.npz")
    assert "Saved" in fit.stdout
    assert "lower bound" in fit.stderr            # the progress display is on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GaussianMixture(2, random_state=0, max_iter=50, chunk_size=700).fit(X)
    gm = fastem.load(model)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-10, atol=1e-10)

    run("predict", model, tmp / "X.npy", "-o", tmp / "labels.npy", "--proba", tmp / "p.npy")
    np.testing.assert_array_equal(np.load(tmp / "labels.npy"), ref.predict(X))
    np.testing.assert_allclose(np.load(tmp / "p.npy"), ref.predict_proba(X), atol=1e-12)

    score = run("score", model, tmp / "X.npy", "-o", tmp / "lp.npy")
    assert f"mean log-likelihood {ref.score(X):.6f} over 3,000 rows" in score.stdout
    np.testing.assert_allclose(np.load(tmp / "lp.npy"), ref.score_samples(X), rtol=1e-12)

    info = run("info", model)
    assert "2 components, 3 features, covariance_type='full'" in info.stdout


def test_fit_online_one_pass_equals_the_library(files):
    tmp, X = files
    perm = np.random.default_rng(1).permutation(len(X))
    np.save(tmp / "shuffled.npy", X[perm])
    fit = run("fit", tmp / "shuffled.npy", "-k", 2, "-o", tmp / "online.npz", "--chunk-size",
              500, "--random-state", 0, "--algorithm", "online", "-q")
    assert "one online pass of 6 steps" in fit.stdout
    ref = GaussianMixture(2, random_state=0, chunk_size=500, algorithm="online").fit(X[perm])
    np.testing.assert_allclose(fastem.load(tmp / "online.npz").means_, ref.means_, rtol=1e-12)


def test_user_errors_are_one_line_without_traceback(files):
    tmp, _ = files
    (tmp / "bad.npz").write_text("not a model")
    cases = [(("fit", tmp / "missing.npy", "-k", 2, "-o", tmp / "x.npz"), "No such file"),
             (("info", tmp / "bad.npz"), "is not a readable fastem model file"),
             (("predict", tmp / "X.npy", tmp / "X.npy", "-o", tmp / "l.npy"),
              "is a .npy array, not a fastem model file"),
             (("fit", tmp / "X.npy", "-k", 0, "-o", tmp / "x.npz"),
              "'n_components' parameter of GaussianMixture must be an int")]
    for args, message in cases:
        proc = run(*args, check=False)
        assert proc.returncode == 1, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("fastem: error: "), proc.stderr
        assert message in lines[0] and "Traceback" not in proc.stderr


def test_help_everywhere_and_demo_still_works():
    for sub in ([], ["fit"], ["predict"], ["score"], ["info"], ["demo"]):
        proc = run(*sub, "--help")
        assert "usage: fastem" in proc.stdout
    assert "fastem demo" in run("demo", "--n-samples", 3000).stdout


# ------------------------------------------------------------------ issue 11: first hour
def _one_line_error(proc, *fragments):
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastem: error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_version_and_usage_errors_are_one_line_with_status_1():
    assert run("--version").stdout.strip() == f"fastem {fastem.__version__}"
    _one_line_error(run("fit", check=False), "the following arguments are required")
    _one_line_error(run("bogus", check=False), "invalid choice: 'bogus'")
    _one_line_error(run("fit", "x.npy", "-k", "two", "-o", "m.npz", check=False),
                    "invalid int value: 'two'")
    _one_line_error(run("fit", "x.npy", "-k", 2, "-o", "m.npz", "--covariance-type", "wide",
                        check=False), "invalid choice: 'wide'")


def test_every_option_help_states_meaning_and_default():
    import argparse
    from fastem.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        for action in p._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            text = action.help or ""
            assert len(text) > 10, (name, action.option_strings)
            assert "default" in text or "required" in text, (name, action.option_strings, text)
            if action.default not in (None, False):
                assert p.format_help().count(str(action.default)) >= 1, (name, action.dest)


def test_stale_checkpoint_and_resume_announcement_via_cli(tmp_path):
    data, ckpt, model = tmp_path / "data.npy", tmp_path / "c.npz", tmp_path / "m.npz"
    rng = np.random.default_rng(0)
    np.save(data, rng.normal(size=(600, 2)))
    args = ("fit", data, "-k", 2, "-o", model, "--max-iter", 3, "--tol", 0,
            "--random-state", 0, "--checkpoint", ckpt)
    first = run(*args)
    assert "resuming" not in first.stderr
    again = run(*args)
    assert "resuming from iteration 3 of restart 1" in again.stderr
    np.save(data, rng.normal(size=(600, 2)))          # regenerated: same shape, new values
    line = _one_line_error(run(*args, check=False), repr(str(ckpt)), "other data",
                           "Delete it", "another checkpoint path")
    assert "Traceback" not in line


def test_messages_name_the_users_file_and_csv_gets_a_hint(tmp_path):
    data = tmp_path / "blobs.npy"
    np.save(data, np.random.default_rng(0).normal(size=(300, 2)))
    fit = run("fit", data, "-k", 2, "-o", tmp_path / "m.npz", "-q", "--max-iter", 2)
    assert fit.stdout.startswith(f"{str(data)!r}: 2 features")
    assert "NpySource" not in fit.stdout + fit.stderr
    np.savetxt(tmp_path / "blobs.csv", np.ones((3, 2)), delimiter=",")
    _one_line_error(run("fit", tmp_path / "blobs.csv", "-k", 2, "-o", tmp_path / "m.npz",
                        check=False), "blobs.csv' is a text (.csv) file", "np.loadtxt(")


def test_outputs_checked_before_the_fit_and_input_never_overwritten(tmp_path):
    data = tmp_path / "X.npy"
    np.save(data, np.random.default_rng(0).normal(size=(300, 2)))
    before = data.read_bytes()
    proc = run("fit", data, "-k", 2, "-o", tmp_path / "nodir" / "m.npz", check=False)
    _one_line_error(proc, "nodir/m.npz", "does not exist")     # no progress line before it
    proc = run("fit", data, "-k", 2, "-o", tmp_path / "m.npz",
               "--checkpoint", tmp_path / "nodir" / "c.npz", check=False)
    _one_line_error(proc, "checkpoint file", "nodir/c.npz")
    _one_line_error(run("fit", data, "-k", 2, "-o", data, check=False),
                    "is the input data file itself")
    _one_line_error(run("fit", data, "-k", 2, "-o", tmp_path / "m.npz", "--checkpoint",
                        tmp_path / "m.npz", check=False), "are the same file")
    run("fit", data, "-k", 2, "-o", tmp_path / "m.npz", "-q", "--max-iter", 2)
    for extra in (("-o", data), ("-o", tmp_path / "l.npy", "--proba", data)):
        _one_line_error(run("predict", tmp_path / "m.npz", data, *extra, check=False),
                        "is the input data file itself")
    assert not (tmp_path / "l.npy").exists()                  # nothing written first
    assert data.read_bytes() == before


def test_interrupt_and_error_close_the_bar_first(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    from fastem import cli
    from fastem.progress import Progress
    data = tmp_path / "X.npy"
    np.save(data, np.random.default_rng(0).normal(size=(300, 2)))
    ckpt = tmp_path / "c.npz"
    bars = []

    def fake_fit(exc):
        def fit(self, X, *a, **k):
            p = Progress(10, 1, 300)
            p.on_init(0)
            bars.append(p._bar)
            ckpt.write_bytes(b"x")              # as if an iteration had been checkpointed
            raise exc
        return fit

    argv = ["fit", str(data), "-k", "2", "-o", str(tmp_path / "m.npz"),
            "--checkpoint", str(ckpt)]
    monkeypatch.setattr(GaussianMixture, "fit", fake_fit(KeyboardInterrupt()))
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert bars[-1].disable                      # closed
    assert err.splitlines()[-1].startswith("fastem: interrupted")
    assert "rerun the same command to resume" in err.splitlines()[-1]
    ckpt.unlink()
    monkeypatch.setattr(GaussianMixture, "fit", fake_fit(ValueError("boom")))
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert bars[-1].disable
    assert err.splitlines()[-1] == "fastem: error: boom"


def test_demo_mentions_jit_only_when_it_compiled(capsys):
    import numba
    from fastem import cli
    from fastem.cli import _count_compilations

    @numba.njit
    def twice(x):
        return 2 * x

    with _count_compilations() as compiled:
        twice(1.0)
    assert compiled()
    with _count_compilations() as compiled:
        twice(2.0)
    assert not compiled()
    assert cli.main(["demo", "--n-samples", "2000"]) == 0
    capsys.readouterr()
    assert cli.main(["demo", "--n-samples", "2000"]) == 0    # everything compiled by now
    out = capsys.readouterr().out
    assert "Done in" in out and "JIT" not in out
