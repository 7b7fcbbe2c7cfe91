"""In-process backend: iterate a source's chunks and run the family's fused pass on each.

The backend speaks only the component-family protocol (:mod:`fastem.families.protocol`):
``family.zero_stats``, ``family.chunk_stats``, ``family.resp_stats`` and
``family.e_step_outputs``; the family's kernel helper calls the parallel kernels with a fixed
number of accumulation slots (:mod:`fastem._slots`), so results never depend on the thread
count. Chunk statistics are summed in chunk order. File-backed sources are read one chunk
ahead in a reader thread (:func:`fastem.data.prefetch.pass_chunks`); the chunks and their order
are the same, so the results are too.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import numpy as np

from .._slots import choose_n_slots, run_in_slots  # noqa: F401  (re-exported)
from ..data.prefetch import pass_chunks
from ..data.sources import ChunkSource
from ..families.gaussian_pass import (FLOAT32_COMPUTE_MIN_FEATURES,  # noqa: F401
                                      as_weights, compute_prec)
from ..families.gaussian_pass import e_step_outputs as _gaussian_e_step_outputs
from ..families.protocol import ComponentFamily, Statistics
from ..kernels.kmeans import kmeans_pass_chunk
from ..stats import SuffStats


def em_stats(source: ChunkSource, kargs, family: ComponentFamily,
             serial: bool = False) -> Statistics:
    """One fused E+M pass over ``source`` under ``kargs`` (``family.chunk_stats`` per chunk)."""
    total = family.zero_stats(kargs)
    with contextlib.closing(pass_chunks(source)) as chunks:
        for chunk in chunks:
            total = total + family.chunk_stats(chunk.X, chunk.sample_weight, kargs,
                                               serial=serial)
    return total


def chunk_em_stats(X: np.ndarray, sample_weight: Optional[np.ndarray], kargs,
                   family: ComponentFamily, serial: bool = False) -> Statistics:
    """Statistics of one in-memory block (used by Dask tasks and online EM)."""
    from ..data.sources import ArraySource
    return em_stats(ArraySource(X, sample_weight), kargs, family, serial=serial)


def resp_stats(X: np.ndarray, sample_weight: Optional[np.ndarray], resp: np.ndarray,
               shift, family: ComponentFamily, serial: bool = False) -> Statistics:
    """Statistics of one block for given responsibilities ``resp`` of shape (n, K)."""
    return family.resp_stats(X, sample_weight, resp, shift, serial=serial)


def random_resp_stats(source: ChunkSource, shift: np.ndarray, family: ComponentFamily,
                      rng: np.random.Generator) -> Statistics:
    """Statistics of uniform random responsibilities (``init_params="random"``), chunk by
    chunk, so no ``n_samples x n_components`` array is made."""
    k = np.shape(shift)[0]
    total = None
    with contextlib.closing(pass_chunks(source)) as chunks:
        for chunk in chunks:
            resp = rng.uniform(size=(chunk.X.shape[0], k))
            resp /= resp.sum(axis=1, keepdims=True)
            part = resp_stats(chunk.X, chunk.sample_weight, resp, shift, family)
            total = part if total is None else total + part
    if total is None:
        raise ValueError("The data source yielded no rows.")
    return total


#: Rows per block of one-hot responsibilities in :func:`chunk_label_stats` (bounds memory).
_LABEL_BLOCK = 8192


def chunk_label_stats(X: np.ndarray, sample_weight: Optional[np.ndarray],
                      centers: np.ndarray, anchor, family: ComponentFamily,
                      serial: bool = False) -> Statistics:
    """Statistics of one block when every row is assigned to its nearest centre (hard
    labels, as one-hot responsibilities given to ``family.resp_stats``; blocks of
    ``_LABEL_BLOCK`` rows, so no ``n x K`` array)."""
    kern = kmeans_pass_chunk.serial if serial else kmeans_pass_chunk.parallel
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    k, d = centers.shape
    n = X.shape[0]
    labels = np.empty(n, np.int64)
    w = as_weights(sample_weight)
    kern(X.view(np.uint8) if X.dtype == np.bool_ else X, w, centers, np.zeros((1, k)), np.zeros((1, k, d)), np.zeros((1, 0, 0)),
         np.zeros(1), labels)
    total = None
    for start in range(0, n, _LABEL_BLOCK):
        stop = min(n, start + _LABEL_BLOCK)
        resp = np.zeros((stop - start, k))
        resp[np.arange(stop - start), labels[start:stop]] = 1.0
        sw = None if sample_weight is None else sample_weight[start:stop]
        part = family.resp_stats(X[start:stop], sw, resp, anchor, serial=serial)
        total = part if total is None else total + part
    if total is None:
        raise ValueError("The data source yielded no rows.")
    return total


def label_stats(source: ChunkSource, centers: np.ndarray, anchor,
                family: ComponentFamily) -> Statistics:
    """:func:`chunk_label_stats` over every chunk of ``source``, in chunk order."""
    total = None
    with contextlib.closing(pass_chunks(source)) as chunks:
        for chunk in chunks:
            part = chunk_label_stats(chunk.X, chunk.sample_weight, centers, anchor, family)
            total = part if total is None else total + part
    if total is None:
        raise ValueError("The data source yielded no rows.")
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
    with contextlib.closing(pass_chunks(source)) as chunks:
        for chunk in chunks:
            w = as_weights(chunk.sample_weight)

            Xc = chunk.X.view(np.uint8) if chunk.X.dtype == np.bool_ else chunk.X

            def run(nk, s1, s2, extra, X=Xc, w=w):
                kern(X, w, centers, nk, s1, s2, extra[:, 0], no_labels)

            (nk, s1, s2), extra = run_in_slots(run, chunk.X.shape[0],
                                               ((k,), (k, d), sshape), 1)
            inertia += float(extra.sum())
            ws = float(chunk.X.shape[0]) if chunk.sample_weight is None else float(w.sum())
            total = total + SuffStats(centers, nk, s1, s2, 0.0, ws, chunk.X.shape[0])
            del chunk, Xc, w, run       # the chunk's memory goes before the next is read
    return total, inertia


def e_step_outputs(X: np.ndarray, kargs, *, labels: bool = False, resp: bool = False,
                   serial: bool = False, family: Optional[ComponentFamily] = None):
    """Per-row log-likelihood, and optionally labels and responsibilities, of one block
    (``family.e_step_outputs``; the Gaussian kernels when ``family`` is not given)."""
    if family is None:
        return _gaussian_e_step_outputs(X, kargs, labels=labels, resp=resp, serial=serial)
    return family.e_step_outputs(X, kargs, labels=labels, resp=resp, serial=serial)


__all__ = ["em_stats", "chunk_em_stats", "resp_stats", "random_resp_stats", "kmeans_stats",
           "label_stats", "chunk_label_stats",
           "e_step_outputs", "choose_n_slots", "compute_prec"]
