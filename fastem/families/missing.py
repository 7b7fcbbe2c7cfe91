"""Missing values (NaN) in Gaussian mixtures: the policies, pattern grouping, and the
dispatch of a chunk's rows with NaN to :mod:`fastem.kernels.missing_pass`.

``nan_policy`` (see :data:`NAN_POLICIES`):

* ``"raise"`` - any NaN is an error naming its first row and column (the default);
* ``"omit"`` - rows holding a NaN are left out of the fit (counted in ``n_rows_omitted_``);
* ``"marginalize"`` - exact EM over each row's observed coordinates (the missing entries are
  latent; Ghahramani & Jordan, 1994).

``inf`` is an error under every policy. A chunk without NaN always goes through the
complete-data kernels unchanged, so without NaN every policy gives bit-identical results.
A chunk with NaN goes through the missing-data kernel whole (its tiles of complete rows cost
what the complete-data kernel's do), except that float32 full and tied data keep their
complete rows on the complete-data kernel; both accumulate about the same shift, so their
statistics add. Full and tied rows are sorted by missingness pattern (a key per row from the
NaN scan, radix-sorted) and cut into tiles by :func:`tile_plan`.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ..kernels._jit import TILE
from ..kernels.missing_pass import (missing_diag_stats_chunk, missing_e_step_chunk,
                                    missing_impute_chunk, missing_square_stats_chunk,
                                    nan_rows)
from ..kernels.radix import radix_order
from .._slots import run_in_slots
from ..stats import SuffStats

#: Valid values of ``nan_policy`` (the only source of these strings).
NAN_POLICIES = ("raise", "omit", "marginalize")


def check_no_inf(X: np.ndarray, first_inf: int, row_offset: int = 0, context: str = "") -> None:
    """Raise a ``ValueError`` naming the first row and column holding an inf."""
    if first_inf >= 0:
        col = int(np.flatnonzero(np.isinf(X[first_inf]))[0])
        raise ValueError(f"X contains inf; row {first_inf + row_offset:,}{context}, column "
                         f"{col} is {float(X[first_inf, col])!r}. inf is an error under "
                         "every nan_policy (only NaN marks a missing value).")


#: Inputs with fewer entries than this are scanned for NaN by the serial twin of
#: :func:`nan_rows`: a scan is cheap, and on a small table starting the thread pool cost more
#: than the scan (it dominated the per-iteration time of fits on a few hundred rows).
SERIAL_SCAN_ENTRIES = 1 << 20


def nan_row_scan(X: np.ndarray, row_offset: int = 0,
                 context: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``X`` holding a NaN, rows entirely NaN, and every row's missingness-pattern
    key (bit ``j`` set when column ``j`` is NaN; hashed beyond 64 columns); an inf is an
    error."""
    scan = nan_rows.serial if np.size(X) < SERIAL_SCAN_ENTRIES else nan_rows.parallel
    has, every, first_inf, keys = scan(X)
    check_no_inf(X, int(first_inf), row_offset, context)
    return has, every, keys


def nan_row_masks(X: np.ndarray, row_offset: int = 0,
                  context: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``X`` holding a NaN, and rows entirely NaN; an inf is an error."""
    return nan_row_scan(X, row_offset, context)[:2]


def kernel_layout(kargs) -> tuple[np.ndarray, np.ndarray]:
    """The precision factor ``U`` and the precisions ``Lam`` in the kernel's layout:
    dense ``U U^T`` for square factors, squared factors for diagonal ones."""
    U = np.ascontiguousarray(kargs.prec, dtype=np.float64)
    if U.ndim == 3:
        lam = np.ascontiguousarray(U @ np.swapaxes(U, -1, -2))
    else:
        lam = U * U
    return U, lam


def pattern_order(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` sorted by missingness pattern (stable, so each pattern's rows stay in file
    order), and their pattern keys, from every row's key ``keys`` (:func:`nan_row_scan`):
    a least-significant-digit radix sort on the keys' bytes (:func:`.radix_order`).
    """
    return radix_order(np.ascontiguousarray(keys[rows], dtype=np.uint64),
                       np.ascontiguousarray(rows, dtype=np.int64))


#: A run of at least this many rows of one pattern gets tiles of its own in the square
#: kernel (whose per-tile work is that of a whole tile); shorter runs share mixed tiles.
PURE_ROWS = 24


def tile_plan(keys: np.ndarray, tile: int = TILE, pure_rows: int = PURE_ROWS) -> np.ndarray:
    """Tile starts into pattern-sorted rows with keys ``keys``, then ``len(keys)``.

    A run of ``pure_rows`` or more rows of one key is cut into tiles of its own; each
    maximal sequence of shorter runs is cut into tiles of ``tile`` rows that mix them.
    """
    m = keys.size
    if m == 0:
        return np.zeros(1, np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    long = np.diff(np.r_[starts, m]) >= pure_rows
    seg = starts[long | np.r_[True, long[:-1]]]
    n_t = (np.diff(np.r_[seg, m]) + tile - 1) // tile
    first = np.cumsum(n_t) - n_t
    within = np.arange(int(n_t.sum())) - np.repeat(first, n_t)
    return np.r_[np.repeat(seg, n_t) + tile * within, m].astype(np.int64)


#: A pure tile (one pattern) runs as a complete-data tile over its observed coordinates
#: (``marginal_run`` in the square kernel) when its pattern lasts at least this many rows
#: from it; a shorter run fills its missing block by the gain product, since the marginal
#: problem's set-up per pattern (a factor per component) needs a long run to repay.
MARGINAL_ROWS = 256


def nan_rows_for_kernel(has: np.ndarray, keys: np.ndarray, square: bool) -> np.ndarray:
    """The rows holding a NaN as the per-row kernels take them: sorted by pattern for
    square (full, tied) layouts, so one factorisation serves a run of rows."""
    rows = np.flatnonzero(has).astype(np.int64)
    return pattern_order(keys, rows)[0] if square else rows


def _complete_kargs(kargs):
    return dataclasses.replace(kargs, nan_policy="raise")


def chunk_stats(X: np.ndarray, sample_weight: Optional[np.ndarray], kargs,
                scatter_shape: tuple[int, ...], serial: bool = False) -> SuffStats:
    """Statistics of a chunk under ``kargs.nan_policy`` ("omit" or "marginalize"); an inf
    is an error. The complete-data pass sends a chunk here at its first NaN or inf; a chunk
    without NaN would get its complete-data statistics here too (all rows kept, or all in
    complete tiles). Diagonal layouts under "marginalize": :func:`_diagonal_stats`."""
    from .gaussian_pass import as_weights
    from .gaussian_pass import chunk_stats as complete_stats
    if kargs.nan_policy == "marginalize" and np.ndim(kargs.prec) == 2:
        return _diagonal_stats(X, sample_weight, kargs, scatter_shape, serial)
    has, _, pattern = nan_row_scan(X)
    n = X.shape[0]
    # Under "marginalize" the whole chunk goes through the missing-data kernel (no copy of the
    # complete rows), whose tiles of complete rows cost what the complete-data kernel's do.
    # Full and tied float32 data keep their complete rows on the complete-data kernel, which
    # computes its products in float32 (the missing-data kernel is float64 throughout).
    whole = kargs.nan_policy == "marginalize" and X.dtype == np.float64
    keep = np.zeros(n, bool) if whole else ~has
    total = SuffStats.zeros(kargs.means, scatter_shape)
    if keep.any():
        w = None if sample_weight is None else sample_weight[keep]
        total = total + complete_stats(X[keep], w, _complete_kargs(kargs), scatter_shape,
                                       serial=serial)
    if kargs.nan_policy == "marginalize":
        k, d = kargs.means.shape
        U, lam = kernel_layout(kargs)
        w = as_weights(sample_weight)
        rows, keys = pattern_order(pattern, np.flatnonzero(has).astype(np.int64))
        if whole:   # the complete rows first, in order (pattern key 0)
            rows = np.r_[np.flatnonzero(~has), rows]
            keys = np.r_[np.zeros(n - keys.size, np.uint64), keys]
        tiles = tile_plan(keys)
        lamT = np.ascontiguousarray(np.moveaxis(lam, 0, -1))
        kern = (missing_square_stats_chunk.serial if serial
                else missing_square_stats_chunk.parallel)
        n_complete = n - int(has.sum()) if whole else 0   # rows[:n_complete] hold no NaN

        def run(nk, s1, s2, ll):
            kern(X, w, rows, keys, tiles, n_complete, MARGINAL_ROWS, kargs.means, U, lamT,
                 kargs.const, nk, s1, s2, ll)

        (nk, s1, s2), ll = run_in_slots(run, rows.shape[0],
                                        ((k,), (k, d), tuple(scatter_shape)), 2)
        ll = ll.sum(axis=0)
        total = total + SuffStats(kargs.means, nk, s1, s2, float(ll[0]), float(ll[1]), 0)
    return dataclasses.replace(total, n_rows=n)


def _diagonal_stats(X: np.ndarray, sample_weight: Optional[np.ndarray], kargs,
                    scatter_shape: tuple[int, ...], serial: bool) -> SuffStats:
    """Statistics of a chunk under ``"marginalize"`` for diagonal layouts: one pass of the
    missing-data kernel, which scans for NaN (and inf) itself."""
    from .gaussian_pass import as_weights, compute_prec
    k, d = kargs.means.shape
    U, _ = kernel_layout(kargs)
    w = as_weights(sample_weight)
    prec_c = compute_prec(kargs, X.dtype)
    kern = missing_diag_stats_chunk.serial if serial else missing_diag_stats_chunk.parallel

    def run(nk, s1, s2, ll):
        kern(X, w, kargs.means, prec_c, U, kargs.const, nk, s1, s2, ll)

    (nk, s1, s2), ll = run_in_slots(run, X.shape[0], ((k,), (k, d), tuple(scatter_shape)), 3)
    infs = ll[:, 2][ll[:, 2] >= 0]
    check_no_inf(X, int(infs[0]) if infs.size else -1)
    total = np.ascontiguousarray(ll[:, :2]).sum(axis=0)   # as the complete-data pass sums
    return SuffStats(kargs.means, nk, s1, s2, float(total[0]), float(total[1]), X.shape[0])


def e_step_outputs(X: np.ndarray, kargs, *, labels: bool = False, resp: bool = False,
                   serial: bool = False):
    """Per-row outputs of a chunk holding NaN, each row over its observed coordinates (a row
    with every coordinate missing gets log-likelihood 0.0), or ``None`` without NaN."""
    from .gaussian_pass import e_step_outputs as complete_outputs
    has, _, keys = nan_row_scan(X)
    if not has.any():
        return None
    n = X.shape[0]
    k = kargs.means.shape[0]
    lpn = np.empty(n)
    lab = np.empty(n if labels else 0, np.int64)
    rsp = np.empty((n if resp else 0, k))
    keep = ~has
    if keep.any():
        c_lpn, c_lab, c_rsp = complete_outputs(X[keep], _complete_kargs(kargs), labels=labels,
                                               resp=resp, serial=serial)
        lpn[keep] = c_lpn
        if labels:
            lab[keep] = c_lab
        if resp:
            rsp[keep] = c_rsp
    U, lam = kernel_layout(kargs)
    rows = nan_rows_for_kernel(has, keys, U.ndim == 3)
    kern = missing_e_step_chunk.serial if serial else missing_e_step_chunk.parallel
    kern(X, rows, kargs.means, U, lam, kargs.const, lpn, lab, rsp)
    return lpn, (lab if labels else None), (rsp if resp else None)


def impute_chunk(X: np.ndarray, kargs, rng: Optional[np.random.Generator] = None,
                 serial: bool = False) -> np.ndarray:
    """``X`` (float64 copy) with every NaN replaced by its conditional mean under the
    mixture, or by a draw from the conditional when ``rng`` is given."""
    out = np.array(X, dtype=np.float64, order="C")
    has, _, keys = nan_row_scan(X)
    if rng is not None:
        u = rng.uniform(size=X.shape[0])
        z = rng.standard_normal(size=X.shape)
    else:
        u = np.empty(0)
        z = np.empty((0, X.shape[1]))
    if not has.any():
        return out
    U, lam = kernel_layout(kargs)
    rows = nan_rows_for_kernel(has, keys, U.ndim == 3)
    kern = missing_impute_chunk.serial if serial else missing_impute_chunk.parallel
    kern(X, rows, kargs.means, U, lam, kargs.const, u, z, out)
    return out


def count_missing(source) -> tuple[int, int]:
    """Rows of ``source`` holding a NaN, and rows entirely NaN (one pass)."""
    n_nan = n_all = 0
    for chunk in source.chunks():
        has, every = nan_row_masks(chunk.X, chunk.start)
        n_nan += int(has.sum())
        n_all += int(every.sum())
    return n_nan, n_all


def column_means(source) -> np.ndarray:
    """Mean of every column over its observed (non-NaN) entries, 0.0 for a column with none
    (one pass; for the mean-imputed initialisation)."""
    tot = None
    cnt = None
    for chunk in source.chunks():
        X = np.asarray(chunk.X, dtype=np.float64)
        obs = ~np.isnan(X)
        s = np.where(obs, X, 0.0).sum(axis=0)
        c = obs.sum(axis=0)
        tot = s if tot is None else tot + s
        cnt = c if cnt is None else cnt + c
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)
    return means


class MeanImputedSource:
    """A view of a source whose NaN entries read as the column means (for initialisation:
    k-means and the other initialisers run on mean-imputed data)."""

    def __init__(self, source, means: np.ndarray) -> None:
        self.source = source
        self.means = np.asarray(means, dtype=np.float64)
        self.n_features = source.n_features
        self.n_samples = source.n_samples
        self.dtype = source.dtype
        self.reiterable = getattr(source, "reiterable", True)

    def _fill(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        nan = np.isnan(X)
        if not nan.any():
            return X
        out = np.array(X, dtype=X.dtype)
        out[nan] = np.broadcast_to(self.means.astype(X.dtype), X.shape)[nan]
        return out

    def chunks(self):
        from ..data.sources import Chunk
        for chunk in self.source.chunks():
            yield Chunk(chunk.start, self._fill(chunk.X), chunk.sample_weight)

    def weights_at(self, indices: np.ndarray) -> np.ndarray:
        return self.source.weights_at(indices)

    def __repr__(self) -> str:
        return f"MeanImputed({self.source!r})"
