"""Chunk-by-chunk inference (labels, responsibilities, log-likelihoods) over any source,
written into a preallocated array or a ``.npy`` file so results need not fit in memory."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import numpy as np

from .backends import numba as nb
from .data.open import refuse_overwriting_input
from .families import KernelArgs
from .io import check_writable

# What each output is: (index into e_step_outputs' result, dtype, has a K axis).
OUTPUTS = {"log_prob": (0, np.float64, False), "labels": (1, np.int64, False),
           "resp": (2, np.float64, True)}


def _check_out(out: np.ndarray, shape: tuple, dtype, what: str) -> None:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, np.memmap or a path to a .npy file; got "
                        f"{type(out).__name__}.")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}; {what} of this data needs shape {shape}.")
    if not np.can_cast(dtype, out.dtype, casting="same_kind"):
        raise TypeError(f"out has dtype {out.dtype}; {what} are {np.dtype(dtype)}.")


def e_step_source(source, kargs: KernelArgs, what: str, out: Any = None, *,
                  family: Any = None, n_components: Any = None):
    """``what`` (a key of :data:`OUTPUTS`) for every row of ``source``, chunk by chunk.

    Parameters
    ----------
    out : None, ndarray or path, optional
        ``None`` returns a new array; an array (or memmap) of the right shape is filled and
        returned; a path gets a ``.npy`` file, returned memory-mapped read-only.
    family : ComponentFamily, optional
        Whose ``e_step_outputs`` runs on each chunk (default: the Gaussian kernels).
    n_components : int, optional
        Needed with ``family`` (its kernel arguments need not have ``means``).
    """
    pos, dtype, wide = OUTPUTS[what]
    k = kargs.means.shape[0] if n_components is None else int(n_components)
    n = source.n_samples
    tail = (k,) if wide else ()
    path = None if out is None or isinstance(out, np.ndarray) else os.fspath(out)
    if path is not None:
        # Before any row is read or any byte written: a usable path that is not the input.
        refuse_overwriting_input(path, source)
        check_writable(path)
    tmp = None
    if path is not None and n is not None:
        target = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n,) + tail)
    elif path is not None:
        # Unknown length: stream raw rows to a temporary file, then add the .npy header.
        tmp = tempfile.NamedTemporaryFile(
            "wb", dir=os.path.dirname(os.path.abspath(path)), delete=False)
        target = None
    elif out is not None:
        if n is not None:
            _check_out(out, (n,) + tail, dtype, what)
        target = out
    else:
        target = np.empty((n,) + tail, dtype) if n is not None else None
    parts: list = []
    rows = 0
    try:
        for chunk in source.chunks():
            res = nb.e_step_outputs(chunk.X, kargs, labels=(what == "labels"),
                                    resp=(what == "resp"), family=family)[pos]
            stop = chunk.start + res.shape[0]
            if tmp is not None:
                tmp.write(np.ascontiguousarray(res, dtype=dtype).tobytes())
            elif target is not None:
                if stop > target.shape[0]:
                    raise ValueError(f"out has {target.shape[0]:,} rows but the data has "
                                     "more; give out one row per data row.")
                target[chunk.start:stop] = res
            else:
                parts.append(res)
            rows = stop
    except BaseException:
        if tmp is not None:
            tmp.close()
            os.unlink(tmp.name)
        raise
    if tmp is not None:
        tmp.close()
        with open(path, "wb") as f, open(tmp.name, "rb") as raw:
            np.lib.format.write_array_header_2_0(
                f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                    "fortran_order": False, "shape": (rows,) + tail})
            shutil.copyfileobj(raw, f, 1 << 24)
        os.unlink(tmp.name)
        return np.load(path, mmap_mode="r")
    if target is None:
        return np.concatenate(parts)
    if out is not None and target.shape[0] != rows:
        raise ValueError(f"out has {target.shape[0]:,} rows but the data has {rows:,}; give "
                         "out one row per data row.")
    if path is not None:
        target.flush()
        del target
        return np.load(path, mmap_mode="r")
    return target


def log_likelihood_sum(source, kargs: KernelArgs, family: Any = None) -> tuple[float, int]:
    """Sum of per-row log-likelihoods over ``source`` and the number of rows
    (``family.e_step_outputs`` per chunk; the Gaussian kernels by default)."""
    total, rows = 0.0, 0
    for chunk in source.chunks():
        lp = nb.e_step_outputs(chunk.X, kargs, family=family)[0]
        total += float(lp.sum())
        rows += lp.shape[0]
        if getattr(kargs, "nan_policy", "raise") != "raise":  # rows entirely missing are not counted
            from .families.missing import nan_row_masks
            rows -= int(nan_row_masks(chunk.X)[1].sum())
    if rows == 0:
        raise ValueError("Every row of the data is entirely missing (NaN); there is no "
                         "observed value to score.")
    return total, rows
