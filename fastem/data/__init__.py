"""Data sources: anything that yields row blocks of a 2-D float array."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .dask_source import is_dask_collection
from .checked import CheckedSource
from .open import is_out_of_core, open_source
from .sources import ArraySource, Chunk, ChunkSource


def as_source(X: Any, sample_weight: Any = None, *, chunk_size: Optional[int] = None,
              owner: str = "GaussianMixture", family=None,
              allow_nan: bool = False) -> ChunkSource:
    """Wrap user input in a validated :class:`ChunkSource`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), or out-of-core data
        Arrays are validated once here; a Dask array or numeric Dask DataFrame becomes a
        ``DaskSource`` (extra ``dask``); paths, memmaps, HDF5/Zarr/Arrow data and chunk
        callables go through :func:`open_source` and are validated chunk by chunk.
    sample_weight : array-like of shape (n_samples,), optional
    chunk_size : int, optional
        Rows per block handed to a kernel.
    family : ComponentFamily, optional
        Check the data with this family (``prepare`` + ``validate``, dtype kept: bool and
        integer tables stay compact) instead of the Gaussian rules (float, finite).
    allow_nan : bool, default=False
        Accept NaN entries (``nan_policy`` "omit" or "marginalize"); inf is still an error.
    """
    from .._validation import validate_data, validate_sample_weight
    if isinstance(X, ArraySource):
        return X
    if is_dask_collection(X):
        from .dask_source import make_dask_source
        if family is not None:
            return make_dask_source(X, sample_weight, owner=owner, family=family)
        source = make_dask_source(X, sample_weight, owner=owner)
        source.allow_nan = allow_nan
        return source
    if is_out_of_core(X):
        source = open_source(X, sample_weight=sample_weight, chunk_size=chunk_size,
                             family=family)
        source.allow_nan = allow_nan
        return source
    if family is not None:
        from .._validation import is_sparse
        from .checked import check_family_chunk
        shape = getattr(X, "shape", None) if is_sparse(X) else np.asarray(X).shape
        w = (validate_sample_weight(sample_weight, shape[0])  # weights' errors come first
             if sample_weight is not None and len(shape) == 2 else None)
        Xv = check_family_chunk(X, family, owner=owner)
        if w is None:
            w = validate_sample_weight(sample_weight, Xv.shape[0])
        return ArraySource(Xv, w, chunk_size)
    Xv = validate_data(X, owner=owner, allow_nan=allow_nan)
    w = validate_sample_weight(sample_weight, Xv.shape[0])
    return ArraySource(Xv, w, chunk_size)


__all__ = ["ArraySource", "CheckedSource", "Chunk", "ChunkSource", "as_source",
           "is_out_of_core", "open_source"]
