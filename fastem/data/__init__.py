"""Data sources: anything that yields row blocks of a 2-D float array."""
from __future__ import annotations

from typing import Any, Optional

from .dask_source import is_dask_collection
from .checked import CheckedSource
from .open import is_out_of_core, open_source
from .sources import ArraySource, Chunk, ChunkSource


def as_source(X: Any, sample_weight: Any = None, *, chunk_size: Optional[int] = None,
              owner: str = "GaussianMixture") -> ChunkSource:
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
    """
    from .._validation import validate_data, validate_sample_weight
    if isinstance(X, ArraySource):
        return X
    if is_dask_collection(X):
        from .dask_source import make_dask_source
        return make_dask_source(X, sample_weight, owner=owner)
    if is_out_of_core(X):
        return open_source(X, sample_weight=sample_weight, chunk_size=chunk_size)
    Xv = validate_data(X, owner=owner)
    w = validate_sample_weight(sample_weight, Xv.shape[0])
    return ArraySource(Xv, w, chunk_size)


__all__ = ["ArraySource", "CheckedSource", "Chunk", "ChunkSource", "as_source",
           "is_out_of_core", "open_source"]
