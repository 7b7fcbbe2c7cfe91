"""The Gaussian families' kernel helper: one block of rows through the fused kernels.

This is the only module that calls the Gaussian kernels of :mod:`fastem.kernels.em_pass`;
the backends reach it through the family protocol (:mod:`fastem.families.protocol`).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .._slots import run_in_slots
from ..kernels.em_pass import e_step_chunk, em_pass_chunk, stats_from_resp_chunk
from ..stats import SuffStats
from .params import KernelArgs

_NO_WEIGHTS = np.empty(0)

# From this many features on, float32 data runs its Mahalanobis products (full and tied) in
# float32: twice the lanes per register, log-densities within ~1e-7 relative. Statistics stay
# float64 (see kernels/em_pass.py). Below it the conversions cost more than they save.
FLOAT32_COMPUTE_MIN_FEATURES = 16


def compute_prec(kargs: KernelArgs, dtype: np.dtype) -> np.ndarray:
    """The precision factor in a chunk's compute dtype (the kernels compute in its dtype)."""
    if dtype == np.float32 and kargs.means.shape[1] >= FLOAT32_COMPUTE_MIN_FEATURES:
        return kargs.prec.astype(np.float32)
    return kargs.prec


def as_weights(w: Optional[np.ndarray]) -> np.ndarray:
    """Sample weights as the kernels read them (an empty array for unit weights)."""
    return _NO_WEIGHTS if w is None else np.asarray(w, dtype=np.float64)


def chunk_stats(X: np.ndarray, sample_weight: Optional[np.ndarray], kargs: KernelArgs,
                scatter_shape: tuple[int, ...], serial: bool = False) -> SuffStats:
    """One fused E+M pass over the block ``X``: statistics about ``kargs.means``.

    Under a ``nan_policy`` other than "raise" the pass checks each tile for NaN and inf and
    stops at the first; only then does the chunk go to :mod:`fastem.families.missing`, so a
    chunk without NaN gets exactly the statistics it gets under "raise", at its cost.
    """
    check = kargs.nan_policy != "raise"
    kern = em_pass_chunk.serial if serial else em_pass_chunk.parallel
    k, d = kargs.means.shape
    w = as_weights(sample_weight)
    prec = compute_prec(kargs, X.dtype)

    def run(nk, s1, s2, ll):
        kern(X, w, kargs.means, prec, kargs.const, nk, s1, s2, ll)

    (nk, s1, s2), ll = run_in_slots(run, X.shape[0], ((k,), (k, d), tuple(scatter_shape)),
                                    3 if check else 2)
    if check and ll[:, 2].any():     # rows with NaN (or an inf): fastem.families.missing
        from .missing import chunk_stats as missing_stats
        return missing_stats(X, sample_weight, kargs, scatter_shape, serial=serial)
    ll = np.ascontiguousarray(ll[:, :2]).sum(axis=0)
    return SuffStats(kargs.means, nk, s1, s2, float(ll[0]), float(ll[1]), X.shape[0])


def resp_stats(X: np.ndarray, sample_weight: Optional[np.ndarray], resp: np.ndarray,
               shift: np.ndarray, scatter_shape: tuple[int, ...],
               serial: bool = False) -> SuffStats:
    """Statistics of one block for given responsibilities ``resp`` of shape (n, K)."""
    k, d = shift.shape
    w = as_weights(sample_weight)
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    kern = stats_from_resp_chunk.serial if serial else stats_from_resp_chunk.parallel

    def run(nk, s1, s2, _):
        kern(X, w, np.ascontiguousarray(resp, dtype=np.float64), shift, nk, s1, s2)

    (nk, s1, s2), _ = run_in_slots(run, X.shape[0], ((k,), (k, d), tuple(scatter_shape)))
    ws = float(X.shape[0]) if sample_weight is None else float(np.sum(w))
    return SuffStats(shift, nk, s1, s2, 0.0, ws, X.shape[0])


def e_step_outputs(X: np.ndarray, kargs: KernelArgs, *, labels: bool = False,
                   resp: bool = False, serial: bool = False):
    """Per-row log-likelihood, and optionally labels and responsibilities, of one block."""
    if kargs.nan_policy != "raise":  # rows with NaN: fastem.families.missing
        from .missing import e_step_outputs as missing_outputs
        out = missing_outputs(X, kargs, labels=labels, resp=resp, serial=serial)
        if out is not None:
            return out
    n = X.shape[0]
    k = kargs.means.shape[0]
    lpn = np.empty(n)
    lab = np.empty(n if labels else 0, np.int64)
    rsp = np.empty((n if resp else 0, k))
    kern = e_step_chunk.serial if serial else e_step_chunk.parallel
    kern(X, kargs.means, compute_prec(kargs, X.dtype), kargs.const, lpn, lab, rsp)
    return lpn, (lab if labels else None), (rsp if resp else None)
