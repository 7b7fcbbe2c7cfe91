"""A chunk source over a Dask array or a numeric Dask DataFrame.

Nothing here imports Dask at module level: this module is imported only when the input is
already a Dask collection (so Dask is installed), or by the Dask backend.

The row blocks of the Dask array are the unit of work: the Dask backend runs one task per
block on whatever scheduler is active. Blocks are never gathered to the client for EM; the
:meth:`DaskSource.chunks` iterator (which does gather them one at a time) exists only so that
``backend="numba"`` can stream a Dask array through the in-process kernels.
"""
from __future__ import annotations

from typing import Any, Iterator, Optional

import numpy as np

from .sources import Chunk

_INSTALL_HINT = "pip install 'dask[array,dataframe]' distributed (or pip install -e '.[dask]' in the fastem repository)"


def is_dask_collection(X: Any) -> bool:
    """True for Dask arrays, DataFrames and other Dask collections (no Dask import)."""
    return hasattr(X, "__dask_graph__") and not isinstance(X, type)


def import_dask():
    """Import ``dask`` and ``dask.array``, or say how to install them."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised with sys.modules patched
        raise ImportError(f"backend='dask' needs dask: {_INSTALL_HINT}, or use "
                          "backend='numba' with an in-memory array.") from exc
    return dask, da


def validate_dask_data(X: Any, *, owner: str = "GaussianMixture", what: str = "X",
                       n_features: Optional[int] = None, family: Any = None):
    """A 2-D float32/float64 Dask array chunked along rows only, with known block sizes.

    * A numeric Dask DataFrame becomes an array (its partition lengths are computed).
    * Integer data becomes float64; non-numeric data is a ``TypeError``.
    * Blocks split along the feature axis are rechunked to whole rows.
    * Unknown block sizes (e.g. after boolean masking) are computed once: one pass that
      only counts rows.

    Values are not read here; NaN and inf are detected by the tasks that read each block.
    """
    _, da = import_dask()
    if hasattr(X, "to_dask_array") and hasattr(X, "dtypes") and not hasattr(X, "chunks"):
        dtypes = getattr(X.dtypes, "items", None)
        if dtypes is None:  # a Series
            raise ValueError(f"Expected a 2D array for {what}, got a Dask Series. Use "
                             "series.to_frame() if it is a single feature.")
        bad = [(str(c), str(t)) for c, t in X.dtypes.items()
               if getattr(t, "kind", "O") not in "biuf"]
        if bad:
            raise TypeError(f"{what} has non-numeric column(s) {bad!r}; fastem needs numeric "
                            "data. Drop or encode those columns.")
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"{what} is a {type(X).__name__}; fastem accepts a dask.array.Array "
                        "or a numeric dask.dataframe.DataFrame. Convert it first, e.g. "
                        "with .to_dask_array(lengths=True).")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D array for {what}, got a Dask array with "
                         f"ndim={X.ndim} (shape {X.shape}) instead.")
    kind = X.dtype.kind
    if family is not None and kind in "biu":
        pass        # a family's kernel reads bool and integer blocks as they are
    elif kind in "biu" or (kind == "f" and X.dtype not in (np.float32, np.float64)):
        X = X.astype(np.float64)
    elif kind != "f":
        raise TypeError(f"{what} has dtype {X.dtype!s}; fastem needs numeric data "
                        "(float32, float64, or integers, which are converted to float64).")
    if any(np.isnan(c) for c in X.chunks[1]):
        raise ValueError(f"{what} has an unknown number of features (chunks {X.chunks[1]}); "
                         "fastem needs it known.")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.copy()
        X.compute_chunk_sizes()
    n, d = int(X.shape[0]), int(X.shape[1])
    if n == 0:
        raise ValueError(f"{what} has 0 samples (shape={(n, d)}); at least 1 is required.")
    if d == 0:
        raise ValueError(f"{what} has 0 features (shape={(n, d)}); at least 1 is required.")
    if n_features is not None and d != n_features:
        raise ValueError(f"{what} has {d} features, but {owner} is expecting {n_features} "
                         "features as input.")
    return X


def _validate_dask_weights(sample_weight: Any, row_chunks: tuple):
    """Sample weights as a 1-D float64 Dask array with the same row blocks as X."""
    from .._validation import validate_sample_weight
    dask, da = import_dask()
    n = int(sum(row_chunks))
    if sample_weight is None:
        return None
    if not is_dask_collection(sample_weight):
        w = validate_sample_weight(sample_weight, n)
        return da.from_array(w, chunks=(row_chunks,))
    w = sample_weight
    if hasattr(w, "to_dask_array") and not hasattr(w, "chunks"):
        w = w.to_dask_array(lengths=True)
    w = w.astype(np.float64)
    if w.ndim != 1 or any(np.isnan(c) for c in w.chunks[0]) or w.shape[0] != n:
        raise ValueError(f"sample_weight has shape {w.shape}; expected ({n},), one weight per "
                         "row of X (with known block sizes).")
    n_bad, total = dask.compute((~da.isfinite(w) | (w < 0)).sum(), w.sum())
    if n_bad:
        raise ValueError(f"sample_weight must be finite and non-negative; {int(n_bad)} "
                         "weights are negative, NaN or inf.")
    if not total > 0:
        raise ValueError("sample_weight sums to 0; at least one row needs a positive weight.")
    return w.rechunk((row_chunks,))


class DaskSource:
    """Row blocks of a 2-D Dask array, with optional per-row weights.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Validated by :func:`validate_dask_data` (float, one block along features, known
        block sizes).
    sample_weight : dask.array.Array of shape (n_samples,), optional
        Same row blocks as ``X``.
    """

    def __init__(self, X, sample_weight=None, family: Any = None) -> None:
        self.X = X
        #: The component family that checks every block (``None``: the Gaussian rules).
        self.family = family
        self.sample_weight = sample_weight
        self.n_samples, self.n_features = int(X.shape[0]), int(X.shape[1])
        self.dtype = np.dtype(X.dtype)
        sizes = np.asarray(X.chunks[0], dtype=np.int64)
        #: Global index of the first row of every block.
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.n_blocks = len(sizes)
        self._blocks = None

    def blocks(self) -> list:
        """One ``(X_block, w_block_or_None)`` pair of Dask delayed objects per row block."""
        if self._blocks is None:
            xs = list(self.X.to_delayed().ravel())
            ws = ([None] * len(xs) if self.sample_weight is None
                  else list(self.sample_weight.to_delayed().ravel()))
            self._blocks = list(zip(xs, ws))
        return self._blocks

    def chunks(self) -> Iterator[Chunk]:
        """Compute the blocks one at a time on the active scheduler (for ``backend="numba"``)."""
        from .._validation import validate_data
        dask, _ = import_dask()
        for i, (xb, wb) in enumerate(self.blocks()):
            Xc, wc = dask.compute(xb, wb)
            start = int(self.starts[i])
            if self.family is not None:
                from .checked import check_family_chunk
                Xc = check_family_chunk(Xc, self.family, row_offset=start,
                                        context=f" block {i} of {self.n_blocks} of {self!r}")
            else:
                Xc = validate_data(Xc, row_offset=start,
                                   context=f" (block {i} of {self.n_blocks} of {self!r})",
                                   allow_nan=getattr(self, "allow_nan", False))
            yield Chunk(start, Xc, wc)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Rows at ``indices`` (sorted), as float64; only those rows reach the client."""
        from ..kernels.checks import first_nonfinite_row
        rows = np.asarray(self.X[indices].compute(), dtype=np.float64)
        bad = first_nonfinite_row(rows)
        if bad >= 0:
            raise ValueError(f"X contains NaN or inf; row {int(indices[bad]):,} is bad. "
                             "Drop or impute those rows.")
        return rows

    def weights_at(self, indices: np.ndarray) -> np.ndarray:
        """Sample weights at ``indices`` (ones when unweighted)."""
        if self.sample_weight is None:
            return np.ones(len(indices))
        return np.asarray(self.sample_weight[indices].compute(), dtype=np.float64)

    def __repr__(self) -> str:
        return (f"DaskSource(shape={(self.n_samples, self.n_features)}, dtype={self.dtype}, "
                f"blocks={self.n_blocks})")


def make_dask_source(X: Any, sample_weight: Any = None, *,
                     owner: str = "GaussianMixture", family: Any = None) -> DaskSource:
    """Validate a Dask collection (and weights) and wrap it in a :class:`DaskSource`
    (checked block by block by ``family`` when given)."""
    Xd = validate_dask_data(X, owner=owner, family=family)
    w = _validate_dask_weights(sample_weight, Xd.chunks[0])
    if family is not None:
        return DaskSource(Xd, w, family=family)
    return DaskSource(Xd, w)
