"""Per-chunk validation shared by every out-of-core adapter.

An adapter (``.npy`` file, HDF5/Zarr dataset, Parquet table, a user's callable) only reads
raw row blocks; :class:`CheckedSource` turns them into validated :class:`Chunk` objects:
numeric dtype, finite values (the first bad row is reported in global terms with its chunk),
the same number of columns as chunk 0, valid per-chunk weights, a non-empty pass, and a
clear error when a one-shot iterator is asked for a second pass.

In-memory arrays do not come through here: they are validated once by ``as_source``.
"""
from __future__ import annotations

from typing import Iterator, Optional, Protocol

import numpy as np

from .._config import get_option
from .sources import Chunk

# A chunk of at least this many rows even when a row is very wide.
_MIN_CHUNK_ROWS = 1024


class RawAdapter(Protocol):
    """What a format adapter provides (no validation: that is :class:`CheckedSource`'s job).

    ``raw_chunks(rows)`` yields ``(X, sample_weight_or_None)`` blocks of about ``rows`` rows,
    in the same order on every call when ``reiterable``. An adapter whose ``n_features`` is
    ``None`` must provide ``peek()``, which learns ``n_features`` and ``dtype`` from the first
    block and replays that block in the next ``raw_chunks`` call.
    """

    name: str
    n_features: Optional[int]
    n_samples: Optional[int]
    dtype: np.dtype
    reiterable: bool

    def raw_chunks(self, rows: int) -> Iterator[tuple]: ...


ONE_SHOT_REMEDY = ("Pass a callable that returns a fresh iterator instead (exact EM reads "
                   "the data once per iteration), e.g. fit(lambda: read_chunks(path)) rather "
                   "than fit(read_chunks(path)).")


def choose_chunk_rows(n_features: int, chunk_size: Optional[int]) -> int:
    """Rows per chunk: ``chunk_size`` if given, else what fits ``chunk_memory`` as float64."""
    if chunk_size:
        return int(chunk_size)
    by_memory = get_option("chunk_memory") // (8 * max(n_features, 1))
    return int(max(_MIN_CHUNK_ROWS, min(get_option("chunk_size"), by_memory)))


def check_family_chunk(X, family, *, row_offset: int = 0, context: str = "",
                       owner: Optional[str] = None, what: str = "X",
                       n_features: Optional[int] = None) -> np.ndarray:
    """A 2-D numeric block checked by a component family (non-Gaussian estimators).

    The block keeps its dtype (``family.prepare`` when the family has it: bool and integer
    tables stay compact), then ``family.validate(X, row_offset)`` refuses values outside the
    family's domain, naming the global row, the column and the value; ``context`` (e.g.
    ``" (chunk 3 of 'data.npy')"``) is appended to its message.
    """
    from .._validation import is_sparse
    if is_sparse(X):
        raise TypeError(f"Sparse data was passed for {what}, but dense data is required. Use "
                        "'.toarray()' to convert to a dense numpy array (fastem does not "
                        "support sparse input).")
    arr = np.asarray(X)
    owner = owner or type(family).__name__
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} has dtype object and holds values that are not numbers "
                            f"({exc}); {owner} needs numeric data.") from None
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {what} has dtype {arr.dtype!s}; "
                         f"{owner} needs real numbers{context}.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} has dtype {arr.dtype!s}; {owner} needs numeric or boolean "
                        f"data{context}.")
    if arr.ndim != 2:
        raise ValueError(f"Expected a 2D array for {what}, got an array with ndim={arr.ndim} "
                         f"(shape {arr.shape}) instead{context}. Reshape your data with "
                         "array.reshape(-1, 1) if it has a single feature or "
                         "array.reshape(1, -1) if it is a single sample.")
    if arr.shape[0] == 0 and not context:
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum "
                         f"of 1 is required by {owner}.")
    if arr.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum "
                         f"of 1 is required by {owner}.")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{what} has {arr.shape[1]} features, but {owner} is expecting "
                         f"{n_features} features as input.")
    prepare = getattr(family, "prepare", None)
    if prepare is not None:
        arr = prepare(arr)
    try:
        family.validate(arr, row_offset)
    except ValueError as exc:
        if not context:
            raise
        raise ValueError(f"{exc} (in{context})") from None
    return arr


class CheckedSource:
    """A validated, chunked view of a raw adapter (see module docstring).

    Parameters
    ----------
    adapter : RawAdapter
    sample_weight : array-like of shape (n_samples,), optional
        Weights by global row number (an array or memmap); for sources that carry their own
        per-chunk weights, leave ``None``.
    chunk_size : int, optional
        Rows per chunk; default from ``fastem.set_options(chunk_memory=...)``.
    """

    def __init__(self, adapter, sample_weight=None, chunk_size: Optional[int] = None,
                 family=None) -> None:
        self.adapter = adapter
        #: A component family that checks (and keeps the dtype of) every chunk; ``None``:
        #: the Gaussian rules (float32/float64, finite values).
        self.family = family
        self.name = adapter.name
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        if self.sample_weight is not None and self.sample_weight.ndim != 1:
            raise ValueError(f"sample_weight must be 1-D; got shape "
                             f"{self.sample_weight.shape}.")
        self.n_samples = adapter.n_samples
        if (self.sample_weight is not None and self.n_samples is not None
                and self.sample_weight.shape[0] != self.n_samples):
            raise ValueError(f"sample_weight has {self.sample_weight.shape[0]:,} values but "
                             f"{self.name} has {self.n_samples:,} rows; give one weight per row.")
        if self.n_samples == 0:
            raise ValueError(f"{self.name} has 0 rows; the data source is empty.")
        self.reiterable = bool(adapter.reiterable)
        #: Accept NaN entries (set for ``nan_policy`` "omit" or "marginalize"); inf never.
        self.allow_nan = False
        self._passes = 0
        if adapter.n_features is None:
            # Callables cannot say n_features up front: read (and keep) their first block.
            adapter.peek()
        self.n_features = int(adapter.n_features)
        dtype = np.dtype(adapter.dtype)
        if dtype.kind not in "biuf":
            raise TypeError(f"{self.name} has dtype {dtype!s}; fastem needs numeric data "
                            "(float32, float64, or integers, which are converted to float64).")
        self.dtype = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
        if family is not None:
            self.dtype = dtype      # kept: the family's kernel reads it
        self.chunk_rows = choose_chunk_rows(self.n_features, chunk_size)

    # ------------------------------------------------------------------ checks
    def _check(self, i: int, start: int, X, w) -> tuple[np.ndarray, Optional[np.ndarray]]:
        from .._validation import validate_data
        arr = np.asarray(X)
        where = f"chunk {i} of {self.name}"
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"Chunk {i} of {self.name} has dtype {arr.dtype!s}; fastem needs "
                            "numeric data (float32, float64, or integers).")
        if arr.ndim != 2:
            raise ValueError(f"Chunk {i} of {self.name} has shape {arr.shape}; every chunk "
                             "must be a 2-D array of shape (rows, n_features).")
        n = arr.shape[0]
        if arr.shape[1] != self.n_features:
            raise ValueError(
                f"Chunk {i} (rows {start:,}-{start + n - 1:,}) of {self.name} has "
                f"{arr.shape[1]} features; chunk 0 had {self.n_features}.")
        if self.family is not None:
            arr = check_family_chunk(arr, self.family, row_offset=start,
                                     context=f" {where}")
        else:
            arr = validate_data(arr, what="X", row_offset=start, context=f" ({where})",
                                allow_nan=self.allow_nan)
        if w is None and self.sample_weight is not None:
            if start + n > self.sample_weight.shape[0]:
                raise ValueError(f"sample_weight has {self.sample_weight.shape[0]:,} values "
                                 f"but {self.name} has more rows; give one weight per row.")
            w = self.sample_weight[start:start + n]
        if w is not None:
            w = np.asarray(w, dtype=np.float64)
            if w.shape != (n,):
                raise ValueError(f"The weights of chunk {i} of {self.name} have shape "
                                 f"{w.shape}; expected ({n},), one per row.")
            bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
            if bad.size:
                raise ValueError(f"sample_weight must be finite and non-negative; the weight "
                                 f"of row {start + bad[0]:,} ({where}) is {w[bad[0]]!r}.")
        return arr, w

    def chunks(self) -> Iterator[Chunk]:
        """Yield validated chunks of one full pass."""
        if self._passes >= 1 and not self.reiterable:
            raise ValueError(f"{self.name} is a one-shot iterator and was already consumed, "
                             f"but this operation needs another pass over the data. "
                             f"{ONE_SHOT_REMEDY}")
        self._passes += 1
        start = 0
        try:
            for i_raw, (X, w) in enumerate(self.adapter.raw_chunks(self.chunk_rows)):
                X, w = self._check(i_raw, start, X, w)
                if X.shape[0] == 0:
                    continue
                yield Chunk(start, X, w)
                start += X.shape[0]
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"{self.name} could not be read at row {start:,}: the file was deleted or "
                f"moved while in use ({exc.strerror}: {exc.filename!r}).") from None
        if start == 0:
            again = " (it may be a one-shot iterator that was already consumed)" \
                if self._passes > 1 else ""
            raise ValueError(f"{self.name} yielded no rows{again}; the data source is empty.")
        if self.n_samples is not None and start != self.n_samples:
            raise ValueError(f"{self.name} yielded {start:,} rows in this pass but has "
                             f"{self.n_samples:,} rows; was it modified or truncated while "
                             "being read?")
        if self.sample_weight is not None and start != self.sample_weight.shape[0]:
            raise ValueError(f"sample_weight has {self.sample_weight.shape[0]:,} values but "
                             f"{self.name} yielded {start:,} rows; give one weight per row.")

    def __repr__(self) -> str:
        return self.name
