"""The chunk-source protocol and the in-memory array source.

A source yields ``Chunk(start, X, sample_weight)`` blocks, in the same order on every pass,
where ``X`` is a 2-D float32/float64 array and ``sample_weight`` a float64 vector or ``None``.
It knows ``n_features`` and, when it can, ``n_samples``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Chunk:
    """One block of rows: global index of the first row, the rows, their weights."""

    start: int
    X: np.ndarray
    sample_weight: Optional[np.ndarray] = None


@runtime_checkable
class ChunkSource(Protocol):
    """What backends iterate over. Must be re-iterable: exact EM needs a pass per iteration."""

    n_features: int
    n_samples: Optional[int]
    dtype: np.dtype

    def chunks(self) -> Iterator[Chunk]:
        """Yield the row blocks of one full pass, in a fixed order."""
        ...


class ArraySource:
    """An in-memory (or memory-mapped) 2-D array, already validated.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64, any memory layout.
    sample_weight : ndarray of shape (n_samples,), optional
    chunk_size : int, optional
        Rows per block; ``None`` hands the whole array to the kernel in one call.
    """

    def __init__(self, X: np.ndarray, sample_weight: Optional[np.ndarray] = None,
                 chunk_size: Optional[int] = None) -> None:
        self.X = X
        self.sample_weight = sample_weight
        self.chunk_size = chunk_size
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype

    def chunks(self) -> Iterator[Chunk]:
        n = self.n_samples
        step = n if not self.chunk_size else self.chunk_size
        for start in range(0, n, max(step, 1)):
            stop = min(n, start + step)
            w = None if self.sample_weight is None else self.sample_weight[start:stop]
            yield Chunk(start, self.X[start:stop], w)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Rows at ``indices`` (sorted), as float64."""
        return np.asarray(self.X[indices], dtype=np.float64)

    def weights_at(self, indices: np.ndarray) -> np.ndarray:
        """Sample weights at ``indices`` (ones when unweighted)."""
        if self.sample_weight is None:
            return np.ones(len(indices))
        return np.asarray(self.sample_weight[indices], dtype=np.float64)

    def __repr__(self) -> str:
        return f"ArraySource(shape={self.X.shape}, dtype={self.X.dtype})"
