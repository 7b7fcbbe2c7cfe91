"""Versioned save/load of fitted models, without pickle.

File format (``.npz``, a zip archive of ``.npy`` arrays, read with ``allow_pickle=False``):

- ``__header__``: uint8 bytes of a UTF-8 JSON object ``{"format": "fastem-model",
  "format_version": 1, "kind": ..., "estimator": "GaussianMixture", "params": {...},
  "attributes": {...}}``. ``params`` are the estimator's constructor parameters (arrays
  as nested lists); ``attributes`` the scalar fitted attributes.
- one entry per fitted array (``weights_``, ``means_``, ``covariances_``, ``precisions_``,
  ``precisions_cholesky_``), stored bit for bit.

Writes are atomic (temporary file in the same directory, ``fsync``, then rename), so a file
on disk is always either the old or the new complete version. The same container holds
checkpoints (``kind="checkpoint"``).
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

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


def write_container(path, kind: str, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write ``header`` (JSON) and ``arrays`` to the ``.npz`` file ``path``."""
    path = os.fspath(path)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, **header}
    blob = np.frombuffer(json.dumps(full, allow_nan=True).encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastem-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_HEADER: blob}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_container(path, kind: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and check a file written by :func:`write_container`.

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
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ModelFileError(f"{path!r} is a .npy array, not a fastem {what} file.")
        with z:
            if _HEADER not in z.files:
                raise ModelFileError(f"{path!r} is not a fastem {what} file (no "
                                     f"{_HEADER!r} entry; it holds {z.files[:5]!r}).")
            header = json.loads(bytes(z[_HEADER]).decode("utf-8"))
            arrays = {name: z[name] for name in z.files if name != _HEADER}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError, OSError,
            UnicodeDecodeError) as exc:
        reason = ("neither a .npz archive nor a .npy array" if "pickle" in str(exc)
                  else str(exc) or type(exc).__name__)
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
    params = {k: to_json(v) for k, v in model.get_params().items()}
    attrs = {"covariance_type": model._fitted_covariance_type,
             "converged_": bool(model.converged_), "n_iter_": int(model.n_iter_),
             "lower_bound_": float(model.lower_bound_),
             "lower_bounds_": [float(v) for v in model.lower_bounds_],
             "n_features_in_": int(model.n_features_in_),
             "sample_rng_state": to_json(model._sample_rng.bit_generator.state)}
    arrays = {name: np.asarray(getattr(model, name)) for name in _ARRAYS}
    write_container(path, "model", {"estimator": type(model).__name__, "params": params,
                                    "attributes": attrs}, arrays)


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
    from .estimators import GaussianMixture
    header, arrays = read_container(path, "model")
    if header.get("estimator") != "GaussianMixture":
        raise ModelFileError(f"{os.fspath(path)!r} holds a {header.get('estimator')!r}, "
                             "which this fastem cannot load.")
    try:
        params = dict(header["params"])
        attrs = header["attributes"]
        for name in ("weights_init", "means_init", "precisions_init"):
            if params.get(name) is not None:
                params[name] = np.asarray(params[name], dtype=np.float64)
        known = set(GaussianMixture._param_names())
        model = GaussianMixture(**{k: v for k, v in params.items() if k in known})
        from .families import GaussianParams, get_family
        weights, means, cov, prec_chol = (arrays[name] for name in
                                          ("weights_", "means_", "covariances_",
                                           "precisions_cholesky_"))
        k, d = means.shape
        cshape = get_family(attrs["covariance_type"]).covariance_shape(k, d)
        if (weights.shape != (k,) or d != attrs["n_features_in_"]
                or any(arrays[a].shape != cshape for a in _ARRAYS[2:])):
            raise ValueError("array shapes do not agree")
        model._store_fit(GaussianParams(weights, means, cov, prec_chol),
                         str(attrs["covariance_type"]), int(attrs["n_features_in_"]),
                         converged=bool(attrs["converged_"]), n_iter=int(attrs["n_iter_"]),
                         lower_bound=float(attrs["lower_bound_"]),
                         lower_bounds=[float(v) for v in attrs["lower_bounds_"]], rng=None)
        model.precisions_ = arrays["precisions_"]      # exactly as saved
        rng = np.random.default_rng()
        rng.bit_generator.state = attrs["sample_rng_state"]
        model._sample_rng = rng
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"{os.fspath(path)!r} is a fastem model file with missing or "
                             f"inconsistent content ({exc!r}).") from None
    return model
