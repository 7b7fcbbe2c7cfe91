"""Model files and checkpoints are untrusted input: every damaged or tampered file gives a
ModelFileError naming the file (and the field), never a crash, a foreign exception or a
silent load."""
from __future__ import annotations

import io
import json
import shutil
import zipfile

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture, ModelFileError
from fastem.io import read_container, write_container

pytestmark = pytest.mark.filterwarnings("ignore::fastem.exceptions.ConvergenceWarning")

# Parameters of the checkpointed fit (the checkpoint's fingerprint must keep matching).
CKPT_PARAMS = dict(n_components=3, random_state=0, max_iter=4, tol=0.0)


def _data(seed=0, n=300, d=2):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(c, 1.0, (n // 3, d)) for c in (0, 5, 10)])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("untrusted")
    X = _data()
    gm = GaussianMixture(3, random_state=0).fit(X)
    gm.save(tmp / "model.npz")
    ckpt = tmp / "ckpt.npz"
    GaussianMixture(**CKPT_PARAMS, checkpoint=ckpt).fit(X)
    return tmp, X, gm


def _tamper(src, dst, kind, edit):
    """Copy container ``src`` to ``dst`` with ``edit(header, arrays)`` applied."""
    header, arrays = read_container(src, kind)
    for key in ("format", "format_version", "kind"):
        header.pop(key)
    arrays = {k: v.copy() for k, v in arrays.items()}
    edit(header, arrays)
    write_container(dst, kind, header, arrays)
    return dst


def _resume(X, path):
    return GaussianMixture(**CKPT_PARAMS, checkpoint=path).fit(X)


def _arrays_equal(a, b):
    return all(np.array_equal(getattr(a, n), getattr(b, n))
               for n in ("weights_", "means_", "covariances_", "precisions_cholesky_"))


# ----------------------------------------------------------------------------- fuzzing
@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_random_byte_flips_never_crash_or_load_other_content(files, tmp_path, kind):
    tmp, X, gm = files
    src = tmp / ("model.npz" if kind == "model" else "ckpt.npz")
    raw = bytearray(src.read_bytes())
    ref = _resume(X, tmp_path / "fresh.npz") if kind == "checkpoint" else gm
    rng = np.random.default_rng(1234)
    outcomes = {"error": 0, "same": 0}
    for trial in range(200):
        data = bytearray(raw)
        pos = int(rng.integers(len(data)))
        data[pos] ^= int(rng.integers(1, 256))
        path = tmp_path / f"flip{trial}.npz"
        path.write_bytes(bytes(data))
        try:
            loaded = fastem.load(path) if kind == "model" else _resume(X, path)
        except ModelFileError as exc:
            assert str(path) in str(exc)
            outcomes["error"] += 1
        except ValueError as exc:            # a flip that changed the fingerprint
            assert kind == "checkpoint" and "not reused" in str(exc), (pos, exc)
            outcomes["error"] += 1
        else:
            # Only a flip in bytes that carry no content (zip metadata) may load, and then
            # it must give exactly the original model.
            assert _arrays_equal(loaded, ref), f"flip at byte {pos} loaded other content"
            outcomes["same"] += 1
        path.unlink()
    assert outcomes["error"] > 100, outcomes


def _zip_field(raw: bytes, offset: int, value: bytes) -> bytes:
    """Set bytes at ``offset`` of every central-directory entry."""
    data = bytearray(raw)
    start = 0
    while (i := data.find(b"PK\x01\x02", start)) >= 0:
        data[i + offset:i + offset + len(value)] = value
        start = i + 4
    return bytes(data)


@pytest.mark.parametrize("what,offset,value", [
    ("encrypted flag", 8, b"\x01\x00"),            # zipfile: RuntimeError "encrypted"
    ("unknown compression", 10, b"\x63\x00"),      # zipfile: NotImplementedError
])
def test_zip_decoding_failures_become_model_file_error(files, tmp_path, what, offset, value):
    tmp, X, _ = files
    for name in ("model.npz", "ckpt.npz"):
        path = tmp_path / name
        path.write_bytes(_zip_field((tmp / name).read_bytes(), offset, value))
        with pytest.raises(ModelFileError, match=r"not a readable fastem"):
            fastem.load(path) if name == "model.npz" else _resume(X, path)


def test_deeply_nested_header_is_refused(tmp_path):
    path = tmp_path / "deep.npz"
    text = b"[" * 200_000 + b"]" * 200_000
    np.savez(path, __header__=np.frombuffer(text, dtype=np.uint8))
    with pytest.raises(ModelFileError, match=r"'__header__'.*nested deeper than"):
        fastem.load(path)


def test_truncated_and_non_container_files(files, tmp_path):
    tmp, _, _ = files
    raw = (tmp / "model.npz").read_bytes()
    for n in (0, 10, len(raw) // 2, len(raw) - 1):
        (tmp_path / "t.npz").write_bytes(raw[:n])
        with pytest.raises(ModelFileError, match=r"t.npz"):
            fastem.load(tmp_path / "t.npz")
    np.savez(tmp_path / "header_int.npz", __header__=np.arange(5, dtype=np.int64))
    with pytest.raises(ModelFileError, match=r"'__header__'"):
        fastem.load(tmp_path / "header_int.npz")


# ----------------------------------------------------------------------------- model files
def _set(name, fn):
    def edit(header, arrays):
        arrays[name] = fn(arrays[name])
    return edit


def _attr(name, value):
    def edit(header, arrays):
        header["attributes"][name] = value
    return edit


def _neg_diag(u):
    u = u.copy()
    u[0, 0, 0] = -1.0
    return u


MODEL_CASES = {
    "means wrong width": (_set("means_", lambda m: np.hstack([m, m])), r"'means_'"),
    "wrong component count": (_set("weights_", lambda w: np.append(w, 0.0)), r"'weights_'"),
    "NaN means": (_set("means_", lambda m: np.where(m == m[0, 0], np.nan, m)), r"NaN"),
    "negative weight": (_set("weights_", lambda w: np.array([-0.2, 0.6, 0.6])), r"negative"),
    "weights not summing to 1": (_set("weights_", lambda w: w * 2), r"sum to"),
    "integer means": (_set("means_", lambda m: m.astype(np.int64)), r"dtype int64"),
    "non-positive precision diagonal": (_set("precisions_cholesky_", _neg_diag),
                                        r"'precisions_cholesky_'.*diagonal"),
    "negative n_iter_": (_attr("n_iter_", -3), r"'n_iter_'.*out of range"),
    "unknown covariance type": (_attr("covariance_type", "banana"), r"'covariance_type'"),
    "garbage rng state": (_attr("sample_rng_state", {"bit_generator": "PCG64", "state": 5}),
                          r"'sample_rng_state'"),
    "NaN lower bounds": (_attr("lower_bounds_", [float("nan")]), r"'lower_bounds_'"),
    "missing array": (lambda h, a: a.pop("covariances_"), r"'covariances_'.*missing"),
    "attributes not an object": (lambda h, a: h.update(attributes=[1, 2]), r"'attributes'"),
    "n_components disagrees": (lambda h, a: h["params"].update(n_components=7),
                               r"3 components, but the header says n_components=7"),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_tampered_model_files(files, tmp_path, case):
    tmp, _, _ = files
    edit, match = MODEL_CASES[case]
    path = _tamper(tmp / "model.npz", tmp_path / "bad.npz", "model", edit)
    with pytest.raises(ModelFileError, match=match) as info:
        fastem.load(path)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- checkpoints
def _state(name, value):
    def edit(header, arrays):
        header["state"][name] = value
    return edit


CKPT_CASES = {
    # This one corrupted the heap inside the kernels before the loader checked shapes.
    "means wrong width": (_set("means", lambda m: np.hstack([m, m, m])), r"'means'.*shape"),
    "wrong component count": (_set("weights", lambda w: w[:2] / w[:2].sum()), r"'weights'"),
    "NaN means": (_set("means", lambda m: np.full_like(m, np.nan)), r"'means'.*NaN"),
    "negative weight": (_set("weights", lambda w: np.array([-0.5, 0.75, 0.75])), r"negative"),
    "negative iteration counter": (_state("n_iter", -2), r"'state.n_iter'.*out of range"),
    "iteration counter beyond max_iter": (_state("n_iter", 99), r"'state.n_iter'"),
    "restart index out of range": (_state("init", 5), r"restart index.*out of range"),
    "negative restart index": (_state("init", -1), r"restart index"),
    "lower bounds of wrong length": (_state("lower_bounds", [1.0]), r"'state.lower_bounds'"),
    "garbage rng state": (_state("rng_state", {"bit_generator": "PCG64"}), r"'state.rng_state'"),
    "state not an object": (lambda h, a: h.update(state="x"), r"'state'"),
    "covariance not positive": (_set("covariances", lambda c: -c), r"'covariances'"),
}


@pytest.mark.parametrize("case", list(CKPT_CASES))
def test_tampered_checkpoints(files, tmp_path, case):
    tmp, X, _ = files
    edit, match = CKPT_CASES[case]
    path = _tamper(tmp / "ckpt.npz", tmp_path / "bad.npz", "checkpoint", edit)
    with pytest.raises(ModelFileError, match=match) as info:
        _resume(X, path)
    assert str(path) in str(info.value)


def test_intact_checkpoint_still_resumes(files, tmp_path):
    tmp, X, _ = files
    path = tmp_path / "copy.npz"
    shutil.copy(tmp / "ckpt.npz", path)
    resumed = _resume(X, path)
    fresh = GaussianMixture(**CKPT_PARAMS).fit(X)
    np.testing.assert_array_equal(resumed.means_, fresh.means_)


def test_entry_declaring_an_absurd_array_size(files, tmp_path):
    tmp, _, _ = files
    header, _ = read_container(tmp / "model.npz", "model")
    path = tmp_path / "huge.npz"
    blob = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        blob, {"descr": "<f8", "fortran_order": False, "shape": (10**13, 2)})
    blob.write(b"\0" * 64)
    with zipfile.ZipFile(path, "w") as z:
        with z.open("__header__.npy", "w") as f:
            np.lib.format.write_array(f, np.frombuffer(json.dumps(header).encode(), np.uint8))
        z.writestr("means_.npy", blob.getvalue())
    with pytest.raises(ModelFileError, match=r"huge.npz"):
        fastem.load(path)
