"""Save/load round trips, rejection of corrupt or foreign files, and checkpoint/resume
(including a subprocess killed mid-fit)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture, ModelFileError
from fastem.io import read_container

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data(n=1500, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * d, [5.0] * d, [-4.0] + [2.0] * (d - 1)])
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))


def fitted(covariance_type="full", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(3, covariance_type=covariance_type, random_state=0,
                               max_iter=5, **kw).fit(data())


# --------------------------------------------------------------------------- save / load
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_save_load_round_trip_is_exact(covariance_type, tmp_path):
    gm = fitted(covariance_type, means_init=data()[:3], chunk_size=512)
    gm.save(tmp_path / "m.npz")
    back = fastem.load(tmp_path / "m.npz")
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        a, b = getattr(gm, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    for name in ("converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_"):
        assert getattr(back, name) == getattr(gm, name), name
    params, back_params = gm.get_params(), back.get_params()
    np.testing.assert_array_equal(back_params.pop("means_init"), params.pop("means_init"))
    assert back_params == params
    X = data(seed=1)
    np.testing.assert_array_equal(back.predict_proba(X), gm.predict_proba(X))
    np.testing.assert_array_equal(back.sample(7)[0], gm.sample(7)[0])


def test_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(fastem.NotFittedError, match="not fitted yet"):
        GaussianMixture().save(tmp_path / "m.npz")


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.npz"
    fitted().save(path)
    return path


def test_truncated_file(model_file, tmp_path):
    raw = model_file.read_bytes()
    bad = tmp_path / "trunc.npz"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match=r"trunc.npz' is not a readable fastem model file: "
                                             r"it is truncated, corrupt"):
        fastem.load(bad)


def test_corrupt_bytes_fail_the_zip_checksum(model_file, tmp_path):
    raw = bytearray(model_file.read_bytes())
    with zipfile.ZipFile(model_file) as z:
        info = z.getinfo("means_.npy")
    pos = info.header_offset + 30 + len(info.filename) + info.file_size - 3
    raw[pos] ^= 0xFF
    bad = tmp_path / "flip.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match=r"flip.npz' is not a readable .*CRC"):
        fastem.load(bad)


def test_foreign_files(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(ModelFileError, match=r"is not a fastem model file \(no '__header__'"):
        fastem.load(tmp_path / "other.npz")
    np.save(tmp_path / "arr.npy", np.arange(3))
    with pytest.raises(ModelFileError, match=r"arr.npy' is a .npy array, not a fastem model"):
        fastem.load(tmp_path / "arr.npy")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match=r"neither a .npz archive nor a .npy array"):
        fastem.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError, match=r"No such file: .*missing.npz"):
        fastem.load(tmp_path / "missing.npz")


def _rewrite_header(src, dst, change):
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(bytes(arrays["__header__"]).decode())
    change(header)
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(dst, **arrays)


def test_newer_version_wrong_kind_and_bad_content(model_file, tmp_path):
    _rewrite_header(model_file, tmp_path / "v9.npz", lambda h: h.update(format_version=9))
    with pytest.raises(ModelFileError, match=r"has format version 9; this fastem reads "
                                             r"versions up to 1. Upgrade fastem"):
        fastem.load(tmp_path / "v9.npz")
    _rewrite_header(model_file, tmp_path / "k.npz", lambda h: h.update(kind="checkpoint"))
    with pytest.raises(ModelFileError, match=r"is a fastem 'checkpoint' file, not a model"):
        fastem.load(tmp_path / "k.npz")
    _rewrite_header(model_file, tmp_path / "c.npz",
                    lambda h: h["attributes"].update(covariance_type="diag"))
    with pytest.raises(ModelFileError, match=r"invalid .covariances_.: shape \(3, 3, 3\)"):
        fastem.load(tmp_path / "c.npz")


class _Evil:
    def __reduce__(self):
        return (os.mkdir, (os.environ["FASTEM_TEST_MARKER"],))


def test_pickled_payload_is_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "executed"
    monkeypatch.setenv("FASTEM_TEST_MARKER", str(marker))
    np.savez(tmp_path / "evil.npz", __header__=np.array([_Evil()], dtype=object))
    with pytest.raises(ModelFileError, match="not a readable fastem model file"):
        fastem.load(tmp_path / "evil.npz")
    assert not marker.exists()


# --------------------------------------------------------------------------- checkpoints
def _write_data(path, n=6000):
    np.save(path, data(n=n, d=4, seed=2))


FIT = dict(n_components=4, random_state=3, max_iter=12, tol=0.0, n_init=2, chunk_size=600)


def test_checkpoint_is_written_each_iteration_and_resume_is_exact(tmp_path):
    path = str(tmp_path / "X.npy")
    _write_data(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = GaussianMixture(**FIT).fit(path)
        ckpt = tmp_path / "ck.npz"
        first = GaussianMixture(**FIT, checkpoint=str(ckpt)).fit(path)
        header, _ = read_container(ckpt, "checkpoint")
        assert header["state"]["init"] == 1 and header["state"]["n_iter"] == 12
        again = GaussianMixture(**FIT, checkpoint=str(ckpt)).fit(path)  # finished: no pass
    for gm in (first, again):
        for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
            np.testing.assert_array_equal(getattr(gm, name), getattr(plain, name))
    with pytest.raises(ValueError, match=r"checkpoint .* was written by another fit .* Delete it"):
        GaussianMixture(**{**FIT, "n_components": 2}, checkpoint=str(ckpt)).fit(path)


_CHILD = textwrap.dedent("""
    import sys, time, warnings
    import numpy as np
    from fastem import GaussianMixture
    path, ckpt, fit = sys.argv[1], sys.argv[2], eval(sys.argv[3])
    X = np.load(path, mmap_mode="r")
    def slow_chunks():
        for i in range(0, X.shape[0], fit["chunk_size"]):
            time.sleep(0.01)
            yield np.array(X[i:i + fit["chunk_size"]])
    warnings.simplefilter("ignore")
    GaussianMixture(**fit, checkpoint=ckpt).fit(slow_chunks)
    print("finished")
""")


_FINISH = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    from fastem import GaussianMixture
    path, ckpt, fit, out = sys.argv[1], sys.argv[2], eval(sys.argv[3]), sys.argv[4]
    passes = []
    def chunks():
        passes.append(1)
        X = np.load(path)
        for i in range(0, X.shape[0], fit["chunk_size"]):
            yield X[i:i + fit["chunk_size"]]
    warnings.simplefilter("ignore")
    kw = {} if ckpt == "-" else {"checkpoint": ckpt}
    gm = GaussianMixture(**fit, **kw).fit(chunks)
    np.savez(out, passes=len(passes), n_iter=gm.n_iter_, lower_bounds=gm.lower_bounds_,
             **{k: getattr(gm, k) for k in ("weights_", "means_", "covariances_",
                                            "precisions_cholesky_")})
""")


@pytest.mark.parametrize("kill_in_init", [0, 1])
def test_fit_killed_mid_way_resumes_to_the_uninterrupted_result(kill_in_init, tmp_path):
    # Every fit runs in its own process after a warm-up has filled Numba's on-disk cache:
    # a kernel compiled afresh and the same kernel loaded from the cache may round the last
    # bit differently, so all three processes must run the same (cached) machine code.
    path = str(tmp_path / "X.npy")
    _write_data(path)
    ckpt = str(tmp_path / "ck.npz")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def finish(ckpt_arg, out):
        subprocess.run([sys.executable, "-c", _FINISH, path, ckpt_arg, repr(FIT), out],
                       env=env, check=True, timeout=300)
        return np.load(out)

    finish("-", str(tmp_path / "warmup.npz"))
    plain = finish("-", str(tmp_path / "plain.npz"))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, path, ckpt, repr(FIT)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    state = None
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if os.path.exists(ckpt):
                state = read_container(ckpt, "checkpoint")[0]["state"]
                if state["init"] == kill_in_init and state["n_iter"] >= 3:
                    break
            time.sleep(0.02)
        assert child.poll() is None, child.communicate()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    state = read_container(ckpt, "checkpoint")[0]["state"]   # the file is complete
    assert state["init"] == kill_in_init and 3 <= state["n_iter"] < FIT["max_iter"]

    resumed = finish(ckpt, str(tmp_path / "resumed.npz"))
    assert resumed["passes"] < plain["passes"]      # it really continued
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                 "lower_bounds", "n_iter"):
        np.testing.assert_array_equal(resumed[name], plain[name], name)
