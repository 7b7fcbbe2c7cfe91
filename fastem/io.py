"""Versioned save/load of fitted models, without pickle.

File format (``.npz``, a zip archive of ``.npy`` arrays, read with ``allow_pickle=False``):

- ``__header__``: uint8 bytes of a UTF-8 JSON object ``{"format": "fastem-model",
  "format_version": 1, "kind": ..., "estimator": "GaussianMixture", "params": {...},
  "attributes": {...}}``. ``params`` are the estimator's constructor parameters (arrays
  as nested lists); ``attributes`` the scalar fitted attributes.
- one entry per fitted array (``weights_``, ``means_``, ``covariances_``, ``precisions_``,
  ``precisions_cholesky_``), stored bit for bit.

Writes are atomic (temporary file in the same directory, ``fsync``, then rename), so a file
on disk is always either the old or the new complete version; the file gets the permissions
an ordinary ``open()`` gives under the umask, and errors name the user's path. The same
container holds checkpoints (``kind="checkpoint"``).

Files are untrusted input: any decoding failure (damaged zip, bad JSON, a header larger
than 64 MB or nested deeper than 16 levels) and any invalid array or field (see
:mod:`fastem._filecheck`) raises :class:`~fastem.exceptions.ModelFileError` naming the file
and the field. A saved model keeps no ``checkpoint`` or ``progress`` setting.
"""
from __future__ import annotations

import json
import os
import secrets
from typing import Any

import numpy as np

from ._filecheck import bad as _bad, check_header_depth as _check_depth
from .families import get_family
from .exceptions import ModelFileError

FORMAT = "fastem-model"
FORMAT_VERSION = 1
_HEADER = "__header__"


def to_json(value: Any) -> Any:
    """A JSON-compatible copy of ``value`` (arrays become lists, unknown objects ``None``)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return None


def check_writable(path, what: str = "output file", probe: bool = True) -> str:
    """Fail now, before any work, if ``path`` cannot be written; return it as a str.

    The directory must exist and be writable, and ``path`` must not be a directory. With
    ``probe``, a file is also created and removed in the directory (this catches read-only
    file systems and full quotas, which permission bits do not show).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"The {what} {path!r} is a directory; give a file name.")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot write the {what} {path!r}: the directory "
                                f"{directory!r} does not exist.")
    if not os.access(directory, os.W_OK | os.X_OK) or (
            os.path.exists(path) and not os.access(path, os.W_OK)):
        raise PermissionError(f"Cannot write the {what} {path!r}: permission denied. "
                              "Choose a path in a writable directory.")
    if probe:
        try:
            fd, tmp = _open_new(directory)
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            raise type(exc)(exc.errno, f"Cannot write the {what} {path!r}: "
                                       f"{exc.strerror or exc}") from None
    return path


def _open_new(directory: str) -> tuple[int, str]:
    """A new file in ``directory`` with the permissions ``open()`` gives under the umask."""
    for _ in range(100):
        tmp = os.path.join(directory, f".fastem-{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"Could not create a temporary file in {directory!r}.")


def write_container(path, kind: str, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write ``header`` (JSON) and ``arrays`` to the ``.npz`` file ``path``.

    The file gets the permissions an ordinary ``open()`` would give (``0666`` minus the
    umask). Errors name ``path``, never the temporary file.
    """
    path = os.fspath(path)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, **header}
    blob = np.frombuffer(json.dumps(full, allow_nan=True).encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    what = "model file" if kind == "model" else f"{kind} file"
    try:
        check_writable(path, what, probe=False)
        fd, tmp = _open_new(directory)
    except OSError as exc:
        raise type(exc)(str(exc) if path in str(exc) else
                        f"Cannot write the {what} {path!r}: {exc.strerror or exc}.") from None
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_HEADER: blob}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise OSError(exc.errno, f"Cannot write the {what} {path!r}: "
                                 f"{exc.strerror or exc}") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _decode(path: str, what: str) -> tuple[Any, dict[str, np.ndarray]]:
    z = np.load(path, allow_pickle=False)
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ModelFileError(f"{path!r} is a .npy array, not a fastem {what} file.")
    with z:
        if _HEADER not in z.files:
            raise ModelFileError(f"{path!r} is not a fastem {what} file (no "
                                 f"{_HEADER!r} entry; it holds {z.files[:5]!r}).")
        raw = z[_HEADER]
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise _bad(path, _HEADER, f"dtype {raw.dtype} and shape {raw.shape}; expected "
                                      "1-D uint8 bytes")
        raw = raw.tobytes()
        _check_depth(path, raw)
        header = json.loads(raw.decode("utf-8"))
        arrays = {name: z[name] for name in z.files if name != _HEADER}
    return header, arrays


def read_container(path, kind: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and check a file written by :func:`write_container`.

    Every failure to decode the file (a damaged or crafted archive, a header that is not
    JSON or is nested too deeply) becomes a :class:`ModelFileError`; the arrays themselves
    are checked by the caller (see :mod:`fastem._filecheck`).

    Raises
    ------
    ModelFileError
        When the file is not a fastem file of this ``kind``, is truncated or corrupt, or has
        a newer format version.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}.")
    what = "model" if kind == "model" else kind
    try:
        header, arrays = _decode(path, what)
    except ModelFileError:
        raise
    except MemoryError:       # an entry whose .npy header declares an absurd size
        raise ModelFileError(f"{path!r} is not a readable fastem {what} file: an entry "
                             "declares an array too large to be a fastem model or "
                             "checkpoint; the file is corrupt or crafted.") from None
    except Exception as exc:  # zipfile, zlib, numpy and json raise many types on bad input
        reason = ("neither a .npz archive nor a .npy array" if "pickle" in str(exc)
                  else f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise ModelFileError(f"{path!r} is not a readable fastem {what} file: it is "
                             f"truncated, corrupt or of another format ({reason}).") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path!r} is not a fastem {what} file (its header has format "
                             f"{header.get('format') if isinstance(header, dict) else None!r}).")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path!r} has format version {version!r}; this fastem reads "
                             f"versions up to {FORMAT_VERSION}. Upgrade fastem.")
    if header.get("kind") != kind:
        raise ModelFileError(f"{path!r} is a fastem {header.get('kind')!r} file, not a "
                             f"{what} file.")
    return header, arrays


def save(model, path) -> None:
    """Save a fitted model to ``path`` (``.npz``); see the module docstring for the format."""
    model._check_is_fitted()
    # A fit's checkpoint and progress settings belong to that run, not to the model: a
    # loaded model refitted on other data must not resume (or overwrite) that checkpoint.
    params = {k: to_json(v) for k, v in model.get_params().items() if k not in _RUN_ONLY}
    attrs = {"covariance_type": model._fitted_covariance_type,
             "converged_": bool(model.converged_), "n_iter_": int(model.n_iter_),
             "lower_bound_": float(model.lower_bound_),
             "lower_bounds_": [float(v) for v in model.lower_bounds_],
             "n_features_in_": int(model.n_features_in_),
             "sample_rng_state": to_json(model._sample_rng.bit_generator.state)}
    arrays = {name: np.asarray(getattr(model, name)) for name in _ARRAYS}
    write_container(path, "model", {"estimator": type(model).__name__,
                                    "spec": get_family(model._fitted_covariance_type).spec(),
                                    "params": params, "attributes": attrs}, arrays)


_RUN_ONLY = ("checkpoint", "progress")


def save_family_model(model, path) -> None:
    """Save a fitted :class:`~fastem.estimators._mixture.FamilyMixture` to ``path``.

    The header holds the family's ``spec`` (which :func:`load` dispatches on), the
    estimator's parameters and scalar attributes; the arrays are
    ``family.params_to_arrays(params)``, each stored under its field name plus ``"_"``.
    """
    model._check_is_fitted()
    params = {k: to_json(v) for k, v in model.get_params().items() if k not in _RUN_ONLY}
    family = model._fitted_family()
    attrs = {"converged_": bool(model.converged_), "n_iter_": int(model.n_iter_),
             "lower_bound_": float(model.lower_bound_),
             "lower_bounds_": [float(v) for v in model.lower_bounds_],
             "n_features_in_": int(model.n_features_in_),
             "sample_rng_state": to_json(model._sample_rng.bit_generator.state)}
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        attrs["feature_names_in_"] = [str(v) for v in names]
    arrays = {f + "_": np.asarray(a)
              for f, a in family.params_to_arrays(model._params_from_attributes()).items()}
    write_container(path, "model", {"estimator": type(model).__name__,
                                    "spec": to_json(family.spec()), "params": params,
                                    "attributes": attrs}, arrays)


def _load_family_model(path: str, header: dict, arrays: dict):
    """The estimator of the family named by the header's ``spec``, every field checked."""
    from . import _filecheck as fc
    from .families.registry import estimator_for, make_family
    spec = header.get("spec")
    try:
        family = make_family(spec)
        cls = estimator_for(spec["family"])
    except (ValueError, TypeError, KeyError) as exc:
        raise fc.bad(path, "spec", str(exc)) from None
    if header.get("estimator") != cls.__name__:
        raise fc.bad(path, "estimator", f"{header.get('estimator')!r} does not go with the "
                                        f"family {spec.get('family')!r} ({cls.__name__})")
    params, attrs = header.get("params"), header.get("attributes")
    if not isinstance(params, dict):
        raise fc.bad(path, "params", "expected a JSON object")
    if not isinstance(attrs, dict):
        raise fc.bad(path, "attributes", "expected a JSON object")
    d = fc.get_int(path, attrs, "n_features_in_", lo=1)
    k = params.get("n_components")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise fc.bad(path, "params.n_components", f"expected a positive integer, got {k!r}")
    p = fc.family_params(path, arrays, family, tuple(f + "_" for f in family.fields), k, d)
    n_iter = fc.get_int(path, attrs, "n_iter_", lo=0)
    lower_bounds = fc.get_floats(path, attrs, "lower_bounds_")
    lower_bound = attrs.get("lower_bound_")
    if isinstance(lower_bound, bool) or not isinstance(lower_bound, (int, float)):
        raise fc.bad(path, "lower_bound_", f"expected a number, got {lower_bound!r}")
    converged = fc.get_bool(path, attrs, "converged_")
    rng = fc.get_rng(path, attrs.get("sample_rng_state"), "sample_rng_state")
    names = attrs.get("feature_names_in_")
    if names is not None:
        if not isinstance(names, list) or len(names) != d or not all(
                isinstance(v, str) for v in names):
            raise fc.bad(path, "feature_names_in_", f"expected {d} column names")
        names = np.asarray(names, dtype=object)
    known = set(cls._param_names()) - set(_RUN_ONLY)
    kwargs = {}
    for name, value in params.items():
        if name not in known:
            continue
        if name.endswith("_init") and isinstance(value, list):
            try:
                value = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                try:    # a list of arrays of different shapes (one per column, say)
                    value = [np.asarray(v, dtype=np.float64) for v in value]
                except (TypeError, ValueError):
                    raise fc.bad(path, f"params.{name}", "not an array of numbers") from None
        kwargs[name] = value
    try:
        model = cls(**kwargs)
        model._validate_params()
    except (TypeError, ValueError) as exc:
        raise fc.bad(path, "params", str(exc)) from None
    model._store_fit(p, family, d, converged=converged, n_iter=n_iter,
                     lower_bound=float(lower_bound), lower_bounds=lower_bounds, rng=None,
                     feature_names=names)
    model._sample_rng = rng
    return model
_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def load(path):
    """Load a model saved by ``model.save(path)``; no code in the file is ever executed.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    GaussianMixture

    Raises
    ------
    ModelFileError
        For a corrupt, truncated or foreign file.
    """
    from . import _filecheck as fc
    from .estimators import GaussianMixture
    path = os.fspath(path)
    header, arrays = read_container(path, "model")
    if "spec" in header and header.get("estimator") != "GaussianMixture":
        return _load_family_model(path, header, arrays)
    if header.get("estimator") != "GaussianMixture":
        raise ModelFileError(f"{path!r} holds a {header.get('estimator')!r}, "
                             "which this fastem cannot load.")
    params, attrs = header.get("params"), header.get("attributes")
    if not isinstance(params, dict):
        raise fc.bad(path, "params", "expected a JSON object")
    if not isinstance(attrs, dict):
        raise fc.bad(path, "attributes", "expected a JSON object")
    cov_type = fc.covariance_type(path, attrs.get("covariance_type"))
    d = fc.get_int(path, attrs, "n_features_in_", lo=1)
    means = arrays.get("means_")
    if not isinstance(means, np.ndarray) or means.ndim != 2 or means.shape[1] != d:
        raise fc.bad(path, "means_", f"shape {getattr(means, 'shape', None)}; expected "
                                     f"(n_components, {d}) for n_features_in_={d}")
    k = means.shape[0]
    if k < 1 or params.get("n_components") != k:
        raise fc.bad(path, "means_", f"{k} components, but the header says n_components="
                                     f"{params.get('n_components')!r}")
    p = fc.gaussian_params(path, arrays, ("weights_", "means_", "covariances_",
                                          "precisions_cholesky_"), cov_type, k, d)
    shape = get_family(cov_type).covariance_shape(k, d)
    precisions = fc._array(path, arrays, "precisions_", shape)
    n_iter = fc.get_int(path, attrs, "n_iter_", lo=0)
    lower_bounds = fc.get_floats(path, attrs, "lower_bounds_")
    lower_bound = attrs.get("lower_bound_")
    if isinstance(lower_bound, bool) or not isinstance(lower_bound, (int, float)):
        raise fc.bad(path, "lower_bound_", f"expected a number, got {lower_bound!r}")
    converged = fc.get_bool(path, attrs, "converged_")
    rng = fc.get_rng(path, attrs.get("sample_rng_state"), "sample_rng_state")
    known = set(GaussianMixture._param_names()) - set(_RUN_ONLY)
    kwargs = {}
    for name, value in params.items():
        if name not in known:
            continue
        if name in ("weights_init", "means_init", "precisions_init") and value is not None:
            try:
                value = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise fc.bad(path, f"params.{name}", "not an array of numbers") from None
        kwargs[name] = value
    model = GaussianMixture(**kwargs)
    try:
        model._validate_params()
    except (TypeError, ValueError) as exc:
        raise fc.bad(path, "params", str(exc)) from None
    model._store_fit(p, cov_type, d, converged=converged, n_iter=n_iter,
                     lower_bound=float(lower_bound), lower_bounds=lower_bounds, rng=None)
    model.precisions_ = precisions      # exactly as saved
    model._sample_rng = rng
    return model
