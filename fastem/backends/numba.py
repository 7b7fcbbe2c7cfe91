"""In-process backend: iterate a source's chunks and call the parallel kernels.

Each kernel call gets a fixed number of accumulation slots chosen from the chunk's shape and
the slab size, never from the thread count; slabs are summed in slot order.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .._config import get_option
from ..data.sources import ChunkSource
from ..families import CovarianceFamily, KernelArgs
from ..kernels.em_pass import e_step_chunk, em_pass_chunk, stats_from_resp_chunk
from ..kernels.kmeans import kmeans_pass_chunk
from ..stats import SuffStats

_MAX_SLOTS = 32
_MIN_ROWS_PER_SLOT = 2048
_NO_WEIGHTS = np.empty(0)


def choose_n_slots(n_rows: int, slab_elements: int) -> int:
    """Number of accumulation slots for a chunk: a function of its shape only."""
    by_rows = max(1, n_rows // _MIN_ROWS_PER_SLOT)
    by_memory = max(1, get_option("slot_memory") // max(8 * slab_elements, 1))
    return int(min(_MAX_SLOTS, by_rows, by_memory))


# From this many features on, float32 data runs its Mahalanobis products (full and tied) in
# float32: twice the lanes per register, log-densities within ~1e-7 relative. Statistics stay
# float64 (see kernels/em_pass.py). Below it the conversions cost more than they save.
FLOAT32_COMPUTE_MIN_FEATURES = 16


def compute_prec(kargs: KernelArgs, dtype: np.dtype) -> np.ndarray:
    """The precision factor in a chunk's compute dtype (the kernels compute in its dtype)."""
    if dtype == np.float32 and kargs.means.shape[1] >= FLOAT32_COMPUTE_MIN_FEATURES:
        return kargs.prec.astype(np.float32)
    return kargs.prec


def _weights(w: Optional[np.ndarray]) -> np.ndarray:
    return _NO_WEIGHTS if w is None else np.asarray(w, dtype=np.float64)


def _slabs(n_slots: int, k: int, d: int, scatter_shape: tuple[int, ...]):
    return (np.zeros((n_slots, k)), np.zeros((n_slots, k, d)),
            np.zeros((n_slots,) + tuple(scatter_shape)))


def _stats_of_chunk(run, n_rows, shift, scatter_shape, extra_cols: int = 0):
    k, d = shift.shape
    slab = k + k * d + int(np.prod(scatter_shape))
    n_slots = choose_n_slots(n_rows, slab)
    nk, s1, s2 = _slabs(n_slots, k, d, scatter_shape)
    extra = np.zeros((n_slots, extra_cols)) if extra_cols else None
    run(nk, s1, s2, extra)
    return nk.sum(axis=0), s1.sum(axis=0), s2.sum(axis=0), extra


def em_stats(source: ChunkSource, kargs: KernelArgs, family: CovarianceFamily,
             serial: bool = False) -> SuffStats:
    """One fused E+M pass over ``source``: statistics about ``kargs.means``."""
    kern = em_pass_chunk.serial if serial else em_pass_chunk.parallel
    k, d = kargs.means.shape
    scatter_shape = family.scatter_shape(k, d)
    total = SuffStats.zeros(kargs.means, scatter_shape)
    for chunk in source.chunks():
        w = _weights(chunk.sample_weight)

        def run(nk, s1, s2, ll, X=chunk.X, w=w):
            kern(X, w, kargs.means, compute_prec(kargs, X.dtype), kargs.const, nk, s1, s2, ll)

        nk, s1, s2, ll = _stats_of_chunk(run, chunk.X.shape[0], kargs.means, scatter_shape, 2)
        ll = ll.sum(axis=0)
        total = total + SuffStats(kargs.means, nk, s1, s2, float(ll[0]), float(ll[1]),
                                  chunk.X.shape[0])
    return total


def chunk_em_stats(X: np.ndarray, sample_weight: Optional[np.ndarray], kargs: KernelArgs,
                   family: CovarianceFamily, serial: bool = False) -> SuffStats:
    """Statistics of one in-memory block (used by Dask tasks and online EM)."""
    from ..data.sources import ArraySource
    return em_stats(ArraySource(X, sample_weight), kargs, family, serial=serial)


def resp_stats(X: np.ndarray, sample_weight: Optional[np.ndarray], resp: np.ndarray,
               shift: np.ndarray, family: CovarianceFamily, serial: bool = False) -> SuffStats:
    """Statistics of one block for given responsibilities ``resp`` of shape (n, K)."""
    k, d = shift.shape
    scatter_shape = family.scatter_shape(k, d)
    w = _weights(sample_weight)
    shift = np.ascontiguousarray(shift, dtype=np.float64)

    kern = stats_from_resp_chunk.serial if serial else stats_from_resp_chunk.parallel

    def run(nk, s1, s2, _):
        kern(X, w, np.ascontiguousarray(resp, dtype=np.float64), shift, nk, s1, s2)

    nk, s1, s2, _ = _stats_of_chunk(run, X.shape[0], shift, scatter_shape)
    ws = float(X.shape[0]) if sample_weight is None else float(np.sum(w))
    return SuffStats(shift, nk, s1, s2, 0.0, ws, X.shape[0])


def random_resp_stats(source: ChunkSource, shift: np.ndarray, family: CovarianceFamily,
                      rng: np.random.Generator) -> SuffStats:
    """Statistics of uniform random responsibilities (``init_params="random"``), chunk by
    chunk, so no ``n_samples x n_components`` array is made."""
    k, d = shift.shape
    total = SuffStats.zeros(shift, family.scatter_shape(k, d))
    for chunk in source.chunks():
        resp = rng.uniform(size=(chunk.X.shape[0], k))
        resp /= resp.sum(axis=1, keepdims=True)
        total = total + resp_stats(chunk.X, chunk.sample_weight, resp, shift, family)
    return total


def kmeans_stats(source: ChunkSource, centers: np.ndarray,
                 scatter_shape: Optional[tuple[int, ...]],
                 serial: bool = False) -> tuple[SuffStats, float]:
    """One Lloyd pass: hard-assignment statistics about ``centers``, and the inertia."""
    kern = kmeans_pass_chunk.serial if serial else kmeans_pass_chunk.parallel
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    k, d = centers.shape
    sshape = tuple(scatter_shape) if scatter_shape is not None else (0, 0)
    total = SuffStats.zeros(centers, sshape)
    inertia = 0.0
    no_labels = np.empty(0, np.int64)
    for chunk in source.chunks():
        w = _weights(chunk.sample_weight)

        def run(nk, s1, s2, extra, X=chunk.X, w=w):
            kern(X, w, centers, nk, s1, s2, extra[:, 0], no_labels)

        nk, s1, s2, extra = _stats_of_chunk(run, chunk.X.shape[0], centers, sshape, 1)
        inertia += float(extra.sum())
        ws = float(chunk.X.shape[0]) if chunk.sample_weight is None else float(w.sum())
        total = total + SuffStats(centers, nk, s1, s2, 0.0, ws, chunk.X.shape[0])
    return total, inertia


def e_step_outputs(X: np.ndarray, kargs: KernelArgs, *, labels: bool = False,
                   resp: bool = False, serial: bool = False):
    """Per-row log-likelihood, and optionally labels and responsibilities, of one block."""
    n = X.shape[0]
    k = kargs.means.shape[0]
    lpn = np.empty(n)
    lab = np.empty(n if labels else 0, np.int64)
    rsp = np.empty((n if resp else 0, k))
    kern = e_step_chunk.serial if serial else e_step_chunk.parallel
    kern(X, kargs.means, compute_prec(kargs, X.dtype), kargs.const, lpn, lab, rsp)
    return lpn, (lab if labels else None), (rsp if resp else None)
