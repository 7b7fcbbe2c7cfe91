"""Missing values, source by source: imputation from a fitted mixture, counting rows with NaN,
and the mean-imputed view the initialisers read.

The per-chunk work is in :mod:`fastem.families.missing` (and its kernel
:mod:`fastem.kernels.missing_pass`); this module only iterates sources and writes outputs.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from .families.missing import MeanImputedSource, column_means, nan_row_masks
from .families.missing import count_missing as _count_chunks


def _is_dask_source(source) -> bool:
    from .data.dask_source import DaskSource
    return isinstance(source, DaskSource)


def count_missing(source) -> tuple[int, int]:
    """Rows of ``source`` holding a NaN, and rows with every value NaN (one pass)."""
    if _is_dask_source(source):
        import dask
        import dask.array as da
        nan = da.isnan(source.X)
        a, b = dask.compute(nan.any(axis=1).sum(), nan.all(axis=1).sum())
        return int(a), int(b)
    return _count_chunks(source)


def count_all_missing(X) -> int:
    """Rows of an array (or Dask array) with every value NaN."""
    if hasattr(X, "__dask_graph__"):
        import dask.array as da
        return int(da.isnan(X).all(axis=1).sum().compute())
    return int(nan_row_masks(np.asarray(X))[1].sum())


def mean_imputed(source):
    """``source`` with every NaN read as its column's observed mean (for initialisation:
    k-means and the other initialisers run on mean-imputed data)."""
    if _is_dask_source(source):
        import dask.array as da
        from .data.dask_source import DaskSource
        nan = da.isnan(source.X)
        cnt = (~nan).sum(axis=0)
        tot = da.where(nan, 0, source.X).sum(axis=0, dtype=np.float64)
        means = np.asarray(da.where(cnt > 0, tot / da.maximum(cnt, 1), 0.0).compute())
        filled = da.where(nan, means.astype(source.dtype), source.X)
        return DaskSource(filled, source.sample_weight)
    means = column_means(source)
    if hasattr(source, "take"):
        return _TakeMeanImputed(source, means)
    return MeanImputedSource(source, means)


class _TakeMeanImputed(MeanImputedSource):
    """A mean-imputed view of a source that can gather rows by index."""

    def take(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(self._fill(self.source.take(indices)), dtype=np.float64)


def impute_source(source, fill: Callable[[np.ndarray], np.ndarray],
                  out: Any = None) -> np.ndarray:
    """Every chunk of ``source`` with its NaN filled by ``fill(chunk)`` (the Gaussian
    :func:`impute_chunk`, a family's ``impute_missing``), into a new array, the array ``out``,
    or a ``.npy`` file at the path ``out`` (returned memory-mapped)."""
    from .data.open import refuse_overwriting_input
    from .io import check_writable
    n, d = source.n_samples, source.n_features
    path = None if out is None or isinstance(out, np.ndarray) else os.fspath(out)
    if path is not None:
        refuse_overwriting_input(path, source)
        check_writable(path)
        if n is None:
            raise ValueError("impute(out=path) needs a source that knows its number of rows; "
                             "pass out=None or an array.")
        target = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    elif out is not None:
        if out.shape != (n, d):
            raise ValueError(f"out has shape {out.shape}; the imputed data needs shape "
                             f"{(n, d)}.")
        target = out
    else:
        target = None
    parts = []
    for chunk in source.chunks():
        filled = fill(chunk.X)
        if target is not None:
            target[chunk.start:chunk.start + filled.shape[0]] = filled
        else:
            parts.append(filled)
    if path is not None:
        target.flush()
        del target
        return np.load(path, mmap_mode="r")
    if target is not None:
        return target
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


__all__ = ["impute_source", "count_missing", "count_all_missing", "mean_imputed"]
