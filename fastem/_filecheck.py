"""Validation of what is read from a model file or checkpoint (untrusted input).

Every array and header field is checked here before it can reach a kernel: dtype, shape
against the header and against the other arrays, finiteness and value ranges. A failure is a
:class:`~fastem.exceptions.ModelFileError` naming the file and the field.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .exceptions import ModelFileError
from .families import FAMILIES, GaussianParams, get_family

#: Largest JSON header accepted (bytes) and deepest nesting of lists/objects in it.
MAX_HEADER_BYTES = 64 << 20
MAX_HEADER_DEPTH = 16


def bad(path: str, field: str, why: str) -> ModelFileError:
    """The error for field ``field`` of file ``path``."""
    return ModelFileError(f"{path!r} has an invalid {field!r}: {why}. The file is corrupt, "
                          "tampered with or written by another program; refit or use "
                          "another file.")


def check_header_depth(path: str, raw: bytes) -> None:
    """Refuse a JSON text nested deeper than :data:`MAX_HEADER_DEPTH` (before parsing it)."""
    if len(raw) > MAX_HEADER_BYTES:
        raise bad(path, "__header__", f"{len(raw):,} bytes, more than the "
                                      f"{MAX_HEADER_BYTES:,} a fastem header can have")
    b = np.frombuffer(raw, dtype=np.uint8)
    step = (np.isin(b, (ord("["), ord("{"))).astype(np.int64)
            - np.isin(b, (ord("]"), ord("}"))).astype(np.int64))
    if step.size and int(np.cumsum(step).max()) > MAX_HEADER_DEPTH:
        raise bad(path, "__header__", f"nested deeper than {MAX_HEADER_DEPTH} levels")


def get_int(path: str, obj: dict, key: str, lo: int = 0, hi: Optional[int] = None,
            field: Optional[str] = None) -> int:
    """``obj[key]`` as an int in ``[lo, hi)``."""
    v = obj.get(key) if isinstance(obj, dict) else None
    name = field or key
    if isinstance(v, bool) or not isinstance(v, int):
        raise bad(path, name, f"expected an integer, got {v!r}")
    if v < lo or (hi is not None and v >= hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi})"
        raise bad(path, name, f"{v!r} is out of range (must be {rng})")
    return v


def get_bool(path: str, obj: dict, key: str, field: Optional[str] = None) -> bool:
    v = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(v, bool):
        raise bad(path, field or key, f"expected true or false, got {v!r}")
    return v


def get_float(path: str, obj: dict, key: str, field: Optional[str] = None) -> float:
    v = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise bad(path, field or key, f"expected a finite number, got {v!r}")
    return float(v)


def get_floats(path: str, obj: dict, key: str, length: Optional[int] = None,
               field: Optional[str] = None) -> list:
    v = obj.get(key) if isinstance(obj, dict) else None
    name = field or key
    if not isinstance(v, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise bad(path, name, "expected a list of numbers")
    if not all(np.isfinite(x) for x in v):
        raise bad(path, name, "contains NaN or infinity")
    if length is not None and len(v) != length:
        raise bad(path, name, f"has {len(v)} values; expected {length}")
    return [float(x) for x in v]


def get_rng(path: str, state: Any, field: str,
            rng: Optional[np.random.Generator] = None) -> np.random.Generator:
    """``rng`` (default: a new PCG64 generator) set to the saved bit-generator ``state``."""
    rng = np.random.default_rng() if rng is None else rng
    if not isinstance(state, dict) or state.get("bit_generator") != type(
            rng.bit_generator).__name__:
        raise bad(path, field, f"not the state of a {type(rng.bit_generator).__name__} "
                               "generator")
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise bad(path, field, f"numpy refused it ({exc})") from None
    return rng


def covariance_type(path: str, value: Any, field: str = "covariance_type") -> str:
    if value not in FAMILIES:
        raise bad(path, field, f"{value!r} is not one of {tuple(FAMILIES)!r}")
    return value


def _array(path: str, arrays: dict, name: str, shape: tuple) -> np.ndarray:
    if name not in arrays:
        raise bad(path, name, "the array is missing")
    a = arrays[name]
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
        raise bad(path, name, f"dtype {getattr(a, 'dtype', type(a).__name__)!s}; expected "
                              "float64")
    if a.shape != shape:
        raise bad(path, name, f"shape {a.shape}; the file's other arrays and header need "
                              f"{shape}")
    if not np.isfinite(a).all():
        raise bad(path, name, "contains NaN or infinity")
    return np.ascontiguousarray(a, dtype=np.float64)


def gaussian_params(path: str, arrays: dict, names: tuple, cov_type: str,
                    n_components: int, n_features: int) -> GaussianParams:
    """Weights, means, covariances and precision factors stored under ``names``, checked.

    ``names`` are the array names of (weights, means, covariances, precisions_cholesky).
    """
    family = get_family(cov_type)
    return family_params(path, arrays, family, names, n_components, n_features)


def family_params(path: str, arrays: dict, family, names: Optional[tuple] = None,
                  n_components: Optional[int] = None, n_features: Optional[int] = None):
    """``family.params_from_arrays`` of the arrays stored under ``names`` (default: the
    family's ``fields``), with any invalid field raised as a :class:`ModelFileError` naming
    the file and the stored array's name."""
    from .families.protocol import FieldError
    names = tuple(family.fields) if names is None else tuple(names)
    renamed = {f: arrays[n] for f, n in zip(family.fields, names) if n in arrays}
    try:
        return family.params_from_arrays(renamed, n_components=n_components,
                                         n_features=n_features)
    except FieldError as exc:
        stored = dict(zip(family.fields, names)).get(exc.field, exc.field)
        raise bad(path, stored, exc.why) from None
    except ValueError as exc:
        raise bad(path, "parameters", str(exc)) from None
