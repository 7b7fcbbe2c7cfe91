"""The progress display: tqdm when installed, plain lines otherwise; off by default."""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from fastem import GaussianMixture


def _fit(**kw):
    X = np.random.default_rng(0).normal(size=(3000, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GaussianMixture(2, max_iter=3, tol=0.0, random_state=0, **kw).fit(X)


def test_plain_fallback_without_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    _fit(progress=True)
    err = capsys.readouterr().err.splitlines()
    its = [line for line in err if line.startswith("iteration ")]
    assert [line.split(":")[0] for line in its] == [f"iteration {i}/3" for i in (1, 2, 3)]
    assert all("lower bound" in line and "rows/s" in line and "ETA" in line for line in its)
    assert err[-1].startswith("did not converge after 3 iterations")


def test_tqdm_bar_and_off_by_default(capsys):
    pytest.importorskip("tqdm")
    _fit()
    assert capsys.readouterr().err == ""
    _fit(progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "rows/s" in err and "lower bound" in err
