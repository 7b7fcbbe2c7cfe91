"""Checks of saved parameter arrays (model files and checkpoints are untrusted input).

Every family's ``params_from_arrays`` reads its arrays through :func:`field_array` and its
mixing weights through :func:`check_weights`, so a damaged file is reported the same way for
every family: the array's name and what is wrong with it (:class:`~.protocol.FieldError`).
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from .protocol import FieldError


def leading_shape(arrays: Mapping[str, np.ndarray], name: str) -> tuple[int, int]:
    """``(n_components, n_features)`` read from the 2-D array ``arrays[name]``."""
    a = arrays.get(name)
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        raise FieldError(name, f"shape {getattr(a, 'shape', None)}; expected "
                               "(n_components, n_features)")
    return int(a.shape[0]), int(a.shape[1])


def field_array(arrays: Mapping[str, np.ndarray], name: str, shape: tuple,
                need: Optional[str] = None) -> np.ndarray:
    """``arrays[name]`` as C-contiguous float64 of ``shape`` with finite values.

    ``need`` says where the expected shape comes from (default: the file's other arrays and
    header).
    """
    if name not in arrays:
        raise FieldError(name, "the array is missing")
    a = arrays[name]
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
        raise FieldError(name, f"dtype {getattr(a, 'dtype', type(a).__name__)!s}; expected "
                               "float64")
    if a.shape != tuple(shape):
        need = need or "the file's other arrays and header"
        raise FieldError(name, f"shape {a.shape}; {need} need {tuple(shape)}")
    if not np.isfinite(a).all():
        raise FieldError(name, "contains NaN or infinity")
    return np.ascontiguousarray(a, dtype=np.float64)


def check_weights(w: np.ndarray, name: str = "weights") -> np.ndarray:
    """``w`` unchanged when it is non-negative and sums to 1 (within 1e-6)."""
    if (w < 0).any():
        raise FieldError(name, f"weight {int(np.argmin(w))} is negative ({w.min()!r})")
    if abs(w.sum() - 1.0) > 1e-6:
        raise FieldError(name, f"the weights sum to {w.sum()!r}, not 1")
    return w


__all__ = ["check_weights", "field_array", "leading_shape"]
