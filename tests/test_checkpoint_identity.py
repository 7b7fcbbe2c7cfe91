"""Checkpoints and written files never give a wrong model silently: the checkpoint knows the
data it was written for, resuming is announced, a saved model forgets the fit's checkpoint,
files get umask permissions, and output paths are checked before the fit starts."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture
from fastem.checkpoint import Checkpointer
from fastem.data import open_source

pytestmark = pytest.mark.filterwarnings("ignore::fastem.exceptions.ConvergenceWarning")

PARAMS = dict(n_components=2, random_state=0, max_iter=3, tol=0.0)


def _data(seed, n=400, d=3):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, (n // 2, d)), rng.normal(6 + seed, 1, (n // 2, d))])


STALE = r"was written by other data .*not reused\. Delete it .* another checkpoint path"


def test_regenerated_npy_with_same_shape_is_refused(tmp_path):
    data, ckpt = tmp_path / "data.npy", tmp_path / "c.npz"
    np.save(data, _data(0))
    GaussianMixture(**PARAMS, checkpoint=ckpt).fit(str(data))
    before = ckpt.read_bytes()
    np.save(data, _data(1))                      # same shape and dtype, other values
    with pytest.raises(ValueError, match=STALE) as info:
        GaussianMixture(**PARAMS, checkpoint=ckpt).fit(str(data))
    assert str(ckpt) in str(info.value)
    assert ckpt.read_bytes() == before           # the stale checkpoint is not overwritten


def test_same_bytes_but_touched_file_is_refused_and_same_file_resumes(tmp_path):
    data, ckpt = tmp_path / "data.npy", tmp_path / "c.npz"
    np.save(data, _data(0))
    first = GaussianMixture(**PARAMS, checkpoint=ckpt).fit(str(data))
    again = GaussianMixture(**PARAMS, checkpoint=ckpt).fit(str(data))
    np.testing.assert_array_equal(first.means_, again.means_)
    st = os.stat(data)
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match=STALE):
        GaussianMixture(**PARAMS, checkpoint=ckpt).fit(str(data))


def test_in_memory_array_with_other_values_is_refused(tmp_path):
    ckpt = tmp_path / "c.npz"
    X = _data(0)
    GaussianMixture(**PARAMS, checkpoint=ckpt).fit(X)
    Y = X.copy()
    Y[::7] += 0.5                                # touches rows of the strided sample
    with pytest.raises(ValueError, match=STALE):
        GaussianMixture(**PARAMS, checkpoint=ckpt).fit(Y)
    with pytest.raises(ValueError, match=r"another fit \(different parameters"):
        GaussianMixture(**{**PARAMS, "reg_covar": 1e-3}, checkpoint=ckpt).fit(X)


def test_resume_is_announced(tmp_path, capsys, monkeypatch):
    ckpt = tmp_path / "c.npz"
    X = _data(0)
    params = {**PARAMS, "max_iter": 30, "n_init": 2}
    real = Checkpointer.callback

    def stop_after_two(self, info):
        real(self, info)
        if info.init == 1 and info.n_iter == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpointer, "callback", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        GaussianMixture(**params, checkpoint=ckpt).fit(X)
    monkeypatch.setattr(Checkpointer, "callback", real)
    capsys.readouterr()
    resumed = GaussianMixture(**params, checkpoint=ckpt, verbose=1).fit(X)
    assert "resuming from iteration 2 of restart 2" in capsys.readouterr().err
    fresh = GaussianMixture(**params).fit(X)
    np.testing.assert_allclose(resumed.means_, fresh.means_, rtol=0, atol=0)
    GaussianMixture(**params, checkpoint=ckpt).fit(X)     # quiet unless asked
    assert "resuming" not in capsys.readouterr().err


def test_saved_model_does_not_carry_checkpoint_or_progress(tmp_path):
    ckpt, model = tmp_path / "c.npz", tmp_path / "m.npz"
    X, X2 = _data(0), _data(3)
    GaussianMixture(**PARAMS, checkpoint=ckpt, progress=True).fit(X).save(model)
    loaded = fastem.load(model)
    assert loaded.checkpoint is None and loaded.progress is False
    refit = loaded.fit(X2)
    expected = GaussianMixture(**PARAMS).fit(X2)
    np.testing.assert_array_equal(refit.means_, expected.means_)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_get_umask_permissions(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        X = _data(0)
        gm = GaussianMixture(**PARAMS, checkpoint=tmp_path / "c.npz").fit(X)
        gm.save(tmp_path / "m.npz")
        np.save(tmp_path / "X.npy", X)
        gm.predict(str(tmp_path / "X.npy"), out=tmp_path / "labels.npy")
        gm.predict(lambda: iter([X[:100], X[100:]]), out=tmp_path / "stream.npy")
    finally:
        os.umask(old)
    for name in ("c.npz", "m.npz", "labels.npy", "stream.npy"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == mode, name
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".fastem-")]


def test_unwritable_output_fails_before_the_first_pass(tmp_path):
    X = _data(0)
    passes = []

    def chunks():
        passes.append(1)
        return iter([X[:200], X[200:]])

    missing = tmp_path / "no_such_dir" / "c.npz"
    with pytest.raises(FileNotFoundError, match=r"checkpoint file '.*no_such_dir/c.npz'.*"
                                                r"does not exist"):
        GaussianMixture(**PARAMS, checkpoint=missing).fit(chunks)
    # A callable source reads its first block to learn n_features; no EM pass is made.
    assert len(passes) == 1
    with pytest.raises(IsADirectoryError, match=r"is a directory"):
        GaussianMixture(**PARAMS, checkpoint=tmp_path).fit(chunks)
    assert len(passes) == 2
    gm = GaussianMixture(**PARAMS).fit(X)
    with pytest.raises(FileNotFoundError) as info:
        gm.save(missing)
    assert str(missing) in str(info.value) and ".fastem-" not in str(info.value)
    with pytest.raises(FileNotFoundError, match=r"no_such_dir/out.npy"):
        gm.predict(chunks, out=tmp_path / "no_such_dir" / "out.npy")


def test_out_onto_the_input_is_refused_and_input_intact(tmp_path):
    X = _data(0)
    data = tmp_path / "X.npy"
    np.save(data, X)
    before = data.read_bytes()
    gm = GaussianMixture(**PARAMS).fit(X)
    os.link(data, tmp_path / "hard.npy")
    for out in (data, str(data), tmp_path / "hard.npy", tmp_path / "." / "X.npy"):
        with pytest.raises(ValueError, match=r"is the input data file itself"):
            gm.predict(str(data), out=out)
        with pytest.raises(ValueError, match=r"is the input data file itself"):
            gm.score_samples(str(tmp_path / "hard.npy"), out=out)
    with pytest.raises(ValueError, match=r"checkpoint path .* is the input data file"):
        GaussianMixture(**PARAMS, checkpoint=data).fit(str(data))
    assert data.read_bytes() == before


def test_npy_with_impossible_shape_is_a_bad_header(tmp_path):
    path = tmp_path / "bad.npy"
    for shape in ((-5000, 3), (10**15, 3)):
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f8", "fortran_order": False, "shape": shape})
            f.write(np.zeros(30).tobytes())
        with pytest.raises(ValueError, match=r"bad.npy' has a bad .npy header: it declares "
                                             r"the impossible shape"):
            open_source(str(path))


def test_sparse_input_is_not_supported():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match=r"Sparse input is not supported"):
        open_source(sparse.csr_matrix(np.eye(3)))


def test_read_only_file_system_is_found_before_the_fit(tmp_path, monkeypatch):
    import errno
    real_open = os.open

    def read_only(path, flags, *args, **kw):
        if flags & os.O_CREAT and str(tmp_path) in str(path):
            raise OSError(errno.EROFS, "Read-only file system", path)
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "open", read_only)
    passes = []

    def chunks():
        passes.append(1)
        return iter([_data(0)])

    with pytest.raises(OSError, match=r"checkpoint file '.*c.npz': Read-only file system"):
        GaussianMixture(**PARAMS, checkpoint=tmp_path / "c.npz").fit(chunks)
    assert len(passes) == 1          # only the peek that learns n_features; no EM pass
