"""Per-tile helpers shared by the kernels.

A tile is up to ``TILE`` rows, held twice in float64: transposed, ``xt[d, TILE]``, so that loops
over rows are innermost and vectorise (log-densities, responsibilities, statistics at small
``d``), and row-major, ``xr[TILE, dp]`` with zero padding to whole vectors, for the
register-blocked statistics of :mod:`.blocked`. Helpers specialise on the layout of the
precision factor: ``prec.ndim == 3`` is full ``(K, d, dc)`` or tied ``(1, d, dc)`` (upper
triangular, ``precision = U @ U.T``, padded by :func:`.blocked.padded_factor`);
``prec.ndim == 2`` is diag or spherical ``(K, d)``. Numba prunes the branch that does not apply
when it compiles each specialisation.
"""
from __future__ import annotations

import math

import numpy as np

from numba.extending import overload

from ._jit import CACHE, FASTMATH, helper
from .blocked import (ROWS, diagonal_scatter_tile, mahalanobis_tile, scatter_tile,
                      shifted_tile)

# exp(-CUTOFF) is far below float64 resolution relative to the largest term (1.0) of a row's
# normaliser, so smaller responsibilities are set to exactly zero. This keeps subnormal
# numbers out of the accumulation loops and changes no sum by more than one rounding.
CUTOFF = 50.0


# signature: (X[n, d] f32|f64 any layout, t0 int, nt int, xt[d, T] f64, xr[T, dp] f64) -> None
@helper
def load_tile(X, t0, nt, xt, xr):
    """Copy rows ``t0 : t0 + nt`` into the transposed tile ``xt`` and the row-major tile ``xr``
    (whose padding columns stay zero). A caller that needs one layout passes an empty array
    for the other."""
    d = X.shape[1]
    if xt.shape[0] == d:
        for t in range(nt):
            for i in range(d):
                xt[i, t] = X[t0 + t, i]
    if xr.shape[1] >= d:
        for t in range(nt):
            for i in range(d):
                xr[t, i] = X[t0 + t, i]


# signature: (w[n] f64 or empty, t0, nt, wt[T] f64) -> None
@helper
def load_weights(sample_weight, t0, nt, wt):
    if sample_weight.shape[0] == 0:
        for t in range(nt):
            wt[t] = 1.0
    else:
        for t in range(nt):
            wt[t] = sample_weight[t0 + t]


# signature: (xt[d,T], nt, means[K,d], prec (padded_factor), const[K], logp[K,T], diff[d,T],
#             maha[T]) -> None   (diff and maha in the compute dtype)
@helper
def log_prob_tile(xt, nt, means, prec, const, logp, diff, maha):
    """Weighted log-density ``log w_k + log N(x | mu_k, Sigma_k)`` of every row and component.

    Square factors run the blocked micro-kernel over the whole tile (rows past ``nt`` hold
    stale, finite values and are ignored).
    """
    n_components, d = means.shape
    n_rows = xt.shape[1]
    for k in range(n_components):
        if prec.ndim == 3:
            for i in range(d):
                m = means[k, i]
                for t in range(n_rows):
                    diff[i, t] = xt[i, t] - m
            mahalanobis_tile(diff, prec, k if prec.shape[0] > 1 else 0, maha)
        else:
            for t in range(nt):
                maha[t] = 0.0
            for i in range(d):
                m = means[k, i]
                p = prec[k, i]
                for t in range(nt):
                    z = (xt[i, t] - m) * p
                    maha[t] += z * z
        c = const[k]
        for t in range(nt):
            logp[k, t] = c - 0.5 * maha[t]


_LOG2E = 1.4426950408889634
_LN2_HI = 0.693147180369123816490  # ln 2 split so that k * _LN2_HI is exact for |k| < 2^21
_LN2_LO = 1.90821492927058770002e-10


# signature: (z[T] f64 in/out, rowmax[T] f64, nt, bits[T] i64 scratch) -> None
@helper
def exp_shifted(z, rowmax, nt, bits):
    """``z[t] <- exp(z[t] - rowmax[t])``, or 0 below ``-CUTOFF``, in a loop LLVM vectorises.

    This llvmlite has no vector math library, so ``math.exp`` would be a scalar call per
    element. Range reduction ``x = k ln2 + r`` with ``|r| <= ln2 / 2``, a degree-12 Taylor
    polynomial for ``exp(r)`` (truncation error < 2e-16 relative) and ``2^k`` built from its
    exponent bits give a result within a few ulp of ``math.exp``.
    """
    scale = bits.view(np.float64)
    for t in range(nt):
        x = max(z[t] - rowmax[t], -CUTOFF)
        kf = math.floor(x * _LOG2E + 0.5)
        r = (x - kf * _LN2_HI) - kf * _LN2_LO
        p = 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        z[t] = p if x > -CUTOFF else 0.0
        bits[t] = (np.int64(kf) + 1023) << 52
    for t in range(nt):
        z[t] *= scale[t]


# signature: (logp[K,T] -> overwritten with responsibilities, nt, lpn[T], rowmax[T],
#             bits[T] i64) -> None
@helper
def normalise_tile(logp, nt, lpn, rowmax, bits):
    """Turn log-densities into responsibilities in place; ``lpn`` gets each row's log-sum-exp."""
    n_components = logp.shape[0]
    for t in range(nt):
        rowmax[t] = -np.inf
        lpn[t] = 0.0
    for k in range(n_components):
        for t in range(nt):
            rowmax[t] = max(rowmax[t], logp[k, t])
    for k in range(n_components):
        exp_shifted(logp[k], rowmax, nt, bits)
        for t in range(nt):
            lpn[t] += logp[k, t]
    for t in range(nt):
        s = lpn[t]
        lpn[t] = rowmax[t] + math.log(s)
        rowmax[t] = 1.0 / s
    for k in range(n_components):
        for t in range(nt):
            logp[k, t] *= rowmax[t]


#: From this many features on, statistics use the register-blocked row-major micro-kernels;
#: below it, the loops over a transposed tile (vectorised across rows) are faster.
BLOCKED_MIN_FEATURES = 8


# signature: (xt[d,T] f64, xr[T,dp] f64, nt, wt[T] f64, shift[K,dp] f64 (zero-padded),
#             resp[K,T] f64, rw[T] f64, diff and rd: [d,T] (transposed) and [T,dp] (row-major)
#             scratch in the compute dtype, nk[K], S (local_scatter), S1[K,dp] f64) -> None
@helper
def accumulate_tile(xt, xr, nt, wt, shift, resp, rw, diff_t, rd_t, diff_r, rd_r, nk, S, S1):
    """Add a tile's weighted statistics about ``shift``: N_k, first moment, scatter.

    ``S`` selects the layout: ``(K|1, dr, dp)`` square (per component, or pooled for tied;
    only its lower triangle is meaningful) or ``(K, dp)`` diagonal.
    """
    n_components = shift.shape[0]
    d = xt.shape[0]
    for k in range(n_components):
        tot = 0.0
        for t in range(nt):
            r = resp[k, t] * wt[t]
            rw[t] = r
            tot += r
        nk[k] += tot
        if tot == 0.0:
            continue
        ks = k if S.shape[0] > 1 else 0
        if d >= BLOCKED_MIN_FEATURES:
            shifted_tile(xr, nt, rw, shift, k, diff_r, rd_r, S1)
            if S.ndim == 3:
                scatter_tile(nt, diff_r, rd_r, ks, S)
            else:
                diagonal_scatter_tile(nt, diff_r, rd_r, k, S)
            continue
        for i in range(d):
            m = shift[k, i]
            a = 0.0
            for t in range(nt):
                dv = xt[i, t] - m
                diff_t[i, t] = dv
                v = rw[t] * dv
                rd_t[i, t] = v
                a += v
            S1[k, i] += a
        if S.ndim == 3:
            for i in range(d):
                for j in range(i + 1):
                    a = 0.0
                    for t in range(nt):
                        a += rd_t[i, t] * diff_t[j, t]
                    S[ks, i, j] += a
        else:
            for i in range(d):
                a = 0.0
                for t in range(nt):
                    a += rd_t[i, t] * diff_t[i, t]
                S[k, i] += a


def local_scatter(s2, dp):
    """A zeroed, padded float64 accumulator for the scatter layout of ``s2``."""
    if s2.ndim == 3:
        return np.zeros((s2.shape[0], (s2.shape[1] + ROWS - 1) // ROWS * ROWS, dp))
    return np.zeros((s2.shape[0], dp))


@overload(local_scatter, jit_options={"fastmath": set(FASTMATH), "cache": CACHE})
def _local_scatter(s2, dp):
    if s2.ndim == 3:
        return lambda s2, dp: np.zeros((s2.shape[0], (s2.shape[1] + ROWS - 1) // ROWS * ROWS,
                                        dp))
    return lambda s2, dp: np.zeros((s2.shape[0], dp))


# signature: (S (local_scatter), S1[K,dp], s1[K,d] out, s2 out) -> None
@helper
def fold_scatter(S, S1, s1, s2):
    """Add the padded local accumulators into the statistics (lower triangle for square)."""
    n_components, d = s1.shape
    for k in range(n_components):
        for i in range(d):
            s1[k, i] += S1[k, i]
    if s2.ndim == 3:
        for k in range(s2.shape[0]):
            for i in range(d):
                for j in range(i + 1):
                    s2[k, i, j] += S[k, i, j]
    else:
        for k in range(n_components):
            for i in range(d):
                s2[k, i] += S[k, i]
