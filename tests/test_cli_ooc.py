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
