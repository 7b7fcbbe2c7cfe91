"""A user's chunk stream: a callable returning a fresh iterator of blocks, or a one-shot
iterator (enough for a single pass, e.g. ``predict``).

Each block is a 2-D array, or a ``(X, sample_weight)`` pair for per-chunk weights.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import numpy as np


def _split(block: Any) -> tuple:
    if isinstance(block, tuple):
        if len(block) != 2:
            raise ValueError(f"A chunk tuple must be (X, sample_weight); got a tuple of "
                             f"{len(block)} items.")
        return block[0], block[1]
    return block, None


class CallableAdapter:
    """Raw chunks from ``make_iter()`` (re-iterable) or from one iterator (one pass only).

    Parameters
    ----------
    make_iter : callable, optional
        Returns a fresh iterator of blocks on every call.
    iterator : iterator, optional
        A one-shot iterator (a generator); a second pass raises a clear error.
    """

    n_samples: Optional[int] = None

    def __init__(self, make_iter: Optional[Callable[[], Any]] = None,
                 iterator: Optional[Iterator] = None) -> None:
        self.make_iter = make_iter
        self.iterator = iterator
        self.reiterable = make_iter is not None
        what = getattr(make_iter if make_iter is not None else iterator, "__name__",
                       type(make_iter if make_iter is not None else iterator).__name__)
        self.name = (f"callable {what!r}" if self.reiterable else f"iterator {what!r}")
        self.n_features: Optional[int] = None
        self.dtype = np.dtype(np.float64)
        self._first: Optional[tuple] = None
        self._iter: Optional[Iterator] = None

    def _fresh(self) -> Iterator:
        if self.make_iter is None:
            return iter(self.iterator)
        it = self.make_iter()
        try:
            return iter(it)
        except TypeError:
            raise TypeError(f"{self.name} returned {type(it).__name__}, which is not "
                            "iterable; it must return an iterator of 2-D arrays (or of "
                            "(X, sample_weight) pairs).") from None

    def peek(self) -> None:
        """Read the first block to learn ``n_features`` and the dtype; it is replayed."""
        it = self._fresh()
        try:
            first = _split(next(it))
        except StopIteration:
            raise ValueError(f"{self.name} yielded no chunks; the data source is empty.") \
                from None
        X = np.asarray(first[0])
        if X.ndim != 2:
            raise ValueError(f"Chunk 0 of {self.name} has shape {X.shape}; every chunk must "
                             "be a 2-D array of shape (rows, n_features).")
        self.n_features = X.shape[1]
        self.dtype = X.dtype
        self._first, self._iter = first, it

    def raw_chunks(self, rows: int) -> Iterator[tuple]:
        # ``rows`` is ignored: the user decides the block size.
        if self._first is not None:
            first, it = self._first, self._iter
            self._first = self._iter = None
            yield first
        else:
            it = self._fresh()
        for block in it:
            yield _split(block)
