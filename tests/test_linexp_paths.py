"""CategoricalMixture and PoissonMixture on every path: a .npy file in chunks, a Dask array,
partial_fit / online EM, checkpoint resume, save/load and the CLI. The in-memory fit is the
reference (itself checked against the NumPy reference EMs in test_categorical/test_poisson).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastem
from fastem import CategoricalMixture, ConvergenceWarning, ModelFileError, PoissonMixture
from fastem.checkpoint import Checkpointer
from fastem.families.categorical import CategoricalFamily
from fastem.families.poisson import PoissonFamily
from fastem.families.registry import make_family

from . import test_categorical as tc
from . import test_poisson as tp

TOL = 1e-10
XC = tc.synthetic(n=3000, seed=2)[0].astype(np.uint8)
XP = tp.synthetic(n=3000, seed=2)[0].astype(np.uint16)
W0C, P0C = tc.start()
W0P, M0P = tp.start()

CASES = {
    "categorical": (CategoricalMixture, XC, dict(weights_init=W0C, probabilities_init=P0C),
                    lambda m: [m.weights_, *m.probabilities_]),
    "poisson": (PoissonMixture, XP, dict(weights_init=W0P, means_init=M0P),
                lambda m: [m.weights_, m.means_]),
}
FAMILIES = sorted(CASES)


def _fit(name, data, **kw):
    cls, _, init, _ = CASES[name]
    kw = {"n_components": 3, "max_iter": 12, "tol": 0.0, **init, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**kw).fit(data)


def _same(name, a, b, tol=TOL):
    arrays = CASES[name][3]
    for x, y in zip(arrays(a), arrays(b)):
        np.testing.assert_allclose(x, y, rtol=tol, atol=0)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=tol, atol=0)


@pytest.fixture(scope="module")
def in_memory():
    return {name: _fit(name, CASES[name][1]) for name in FAMILIES}


def _npy(tmp_path, name):
    path = str(tmp_path / f"{name}.npy")
    np.save(path, CASES[name][1])
    return path


@pytest.mark.parametrize("name", FAMILIES)
def test_spec_rebuilds_the_family(name, in_memory):
    spec = in_memory[name]._family_spec
    fam = make_family(spec)
    assert type(fam) is {"categorical": CategoricalFamily, "poisson": PoissonFamily}[name]
    assert fam.spec() == spec


@pytest.mark.parametrize("name", FAMILIES)
def test_npy_in_chunks_equals_in_memory_and_stays_compact(name, in_memory, tmp_path):
    from fastem.data import open_source
    path = _npy(tmp_path, name)
    src = open_source(path, chunk_size=700, family=in_memory[name]._fitted_family())
    assert {c.X.dtype for c in src.chunks()} == {CASES[name][1].dtype}
    _same(name, _fit(name, path, chunk_size=700), in_memory[name])
    X = CASES[name][1]
    np.testing.assert_allclose(in_memory[name].predict_proba(path),
                               in_memory[name].predict_proba(X), rtol=1e-12, atol=1e-15)
    assert np.isclose(in_memory[name].score(path), in_memory[name].score(X), rtol=1e-12)


@pytest.mark.parametrize("name", FAMILIES)
def test_bad_value_in_a_file_names_the_global_row(name, tmp_path):
    X = CASES[name][1].astype(np.int64)
    X[2345, 1] = -4
    path = str(tmp_path / "bad.npy")
    np.save(path, X)
    with pytest.raises(ValueError, match=r"row 2,345, column 1 is -4"):
        _fit(name, path, chunk_size=500)


@pytest.mark.parametrize("name", FAMILIES)
def test_dask_array_equals_in_memory(name, in_memory):
    dask = pytest.importorskip("dask")
    import dask.array as da
    Xd = da.from_array(CASES[name][1], chunks=(600, -1))
    with dask.config.set(scheduler="threads"):
        _same(name, _fit(name, Xd), in_memory[name])
        assert np.array_equal(in_memory[name].predict(Xd).compute(),
                              in_memory[name].predict(CASES[name][1]))


@pytest.mark.parametrize("name", FAMILIES)
def test_partial_fit_runs_and_online_fit_is_its_pass(name):
    cls, X, _, arrays = CASES[name]
    X = X[np.random.default_rng(0).permutation(len(X))]
    model = cls(3, init_params="random_from_data", random_state=1)
    for i in range(0, len(X), 500):
        model.partial_fit(X[i:i + 500])
    assert model.n_iter_ == 6 and np.isfinite(model.score(X))
    one_pass = cls(3, init_params="random_from_data", random_state=1, algorithm="online",
                   chunk_size=500).fit(X)
    for a, b in zip(arrays(one_pass), arrays(model)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("name", FAMILIES)
def test_checkpoint_resume_is_bit_identical(name, tmp_path, monkeypatch):
    cls, _, _, arrays = CASES[name]
    path = _npy(tmp_path, name)
    ckpt = str(tmp_path / "fit.ckpt.npz")
    kw = dict(n_components=3, max_iter=8, tol=0.0, n_init=2, random_state=3, chunk_size=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = cls(**kw).fit(path)
        original = Checkpointer.callback

        def interrupt(self, info):
            original(self, info)
            if info.init == 1 and info.n_iter == 3:
                raise KeyboardInterrupt

        monkeypatch.setattr(Checkpointer, "callback", interrupt)
        with pytest.raises(KeyboardInterrupt):
            cls(checkpoint=ckpt, **kw).fit(path)
        monkeypatch.setattr(Checkpointer, "callback", original)
        resumed = cls(checkpoint=ckpt, **kw).fit(path)
    for a, b in zip(arrays(resumed), arrays(whole)):
        assert np.array_equal(a, b)
    assert resumed.lower_bounds_ == whole.lower_bounds_


@pytest.mark.parametrize("name", FAMILIES)
def test_save_load_round_trip_and_a_bad_file_names_the_field(name, in_memory, tmp_path):
    model = in_memory[name]
    path = str(tmp_path / "m.npz")
    model.save(path)
    loaded = fastem.load(path)
    X = CASES[name][1]
    assert type(loaded) is type(model)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.lower_bounds_ == model.lower_bounds_
    z = dict(np.load(path))
    field = "probabilities_" if name == "categorical" else "means_"
    bad = {k: v.copy() for k, v in z.items()}
    bad[field].flat[0] = -1.0
    np.savez(str(tmp_path / "bad.npz"), **bad)
    with pytest.raises(ModelFileError, match=f"invalid '{field}'"):
        fastem.load(str(tmp_path / "bad.npz"))


def _cli(capsys, *args):
    from fastem.cli import main
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", FAMILIES)
def test_cli_fit_and_predict_with_family(name, tmp_path, capsys):
    path = _npy(tmp_path, name)
    model = str(tmp_path / "m.npz")
    code, out, err = _cli(capsys, "fit", path, "--family", name, "-k", "3", "-o", model,
                          "-q", "--random-state", "0", "--chunk-size", "1000")
    assert code == 0, err
    assert f"({name})" in out
    fitted = fastem.load(model)
    assert type(fitted) is CASES[name][0]
    labels = str(tmp_path / "l.npy")
    code, _, err = _cli(capsys, "predict", model, path, "-o", labels)
    assert code == 0, err
    assert np.array_equal(np.load(labels), fitted.predict(CASES[name][1]))


@pytest.mark.parametrize("name", FAMILIES)
def test_empty_block_e_step_has_the_right_shapes(name, in_memory):
    model = in_memory[name]
    fam = model._fitted_family()
    kargs = fam.kernel_args(model._params_from_attributes())
    lpn, lab, rsp = fam.e_step_outputs(CASES[name][1][:0], kargs, labels=True, resp=True)
    assert lpn.shape == (0,) and lab.shape == (0,) and rsp.shape == (0, 3)
