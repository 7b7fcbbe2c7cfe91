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

from . import simd
from ._jit import TILE, helper
from .blocked import (ROWS, diagonal_log_prob_tile, diagonal_statistics_tile,
                      mahalanobis_tile, scatter_tile, shifted_tile)

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
    if xr.shape[1] >= d:
        for t in range(nt):
            for i in range(d):
                xr[t, i] = X[t0 + t, i]
        if xt.shape[0] == d:  # transposing the local copy beats a second pass over X
            for i in range(d):
                for t in range(nt):
                    xt[i, t] = xr[t, i]
    elif xt.shape[0] == d:
        for t in range(nt):
            for i in range(d):
                xt[i, t] = X[t0 + t, i]


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

    Both layouts run blocked micro-kernels over the whole tile (rows past ``nt`` hold stale,
    finite values and are ignored).
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
            c = const[k]
            for t in range(nt):
                logp[k, t] = c - 0.5 * maha[t]
        else:
            diagonal_log_prob_tile(xt, means, prec, const, k, logp)


_LOG2E = 1.4426950408889634
_LN2_HI = 0.693147180369123816490  # ln 2 split so that k * _LN2_HI is exact for |k| < 2^21
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
# Horner coefficients, highest power first: 1/n! for n = 12..0, and 1/(2k+1) for k = 11..0.
_EXP_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(12, -1, -1))
_ATANH_SERIES = tuple(1.0 / (2 * k + 1) for k in range(11, -1, -1))


@helper
def exp_vec(x):
    """``exp(x)`` lane by lane for ``-CUTOFF <= x <= 0``, within a few ulp of ``math.exp``.

    This llvmlite has no vector math library (``math.exp`` in a loop is a scalar call per
    element). Range reduction ``x = k ln2 + r``, ``|r| <= ln2 / 2``, a degree-12 Taylor
    polynomial for ``exp(r)`` (truncation error < 2e-16 relative) and ``2^k`` built from
    exponent bits.
    """
    kf = simd.floor(simd.fma(x, simd.splat(x, _LOG2E), simd.splat(x, 0.5)))
    r = simd.sub(simd.sub(x, simd.mul(kf, simd.splat(x, _LN2_HI))),
                 simd.mul(kf, simd.splat(x, _LN2_LO)))
    p = simd.splat(x, _EXP_TAYLOR[0])
    for c in _EXP_TAYLOR[1:]:
        p = simd.fma(p, r, simd.splat(x, c))
    return simd.scale_by_pow2(p, kf)


@helper
def log_vec(s):
    """``log(s)`` lane by lane for positive normal ``s``, within a few ulp of ``math.log``.

    ``s = m 2^e`` with ``m`` in ``[sqrt(1/2), sqrt(2))``; ``log m = 2 atanh(z)``,
    ``z = (m - 1) / (m + 1)``, ``|z| < 0.172``, summed to ``z^23`` (error < 1e-17).
    """
    e, m = simd.split_exponent(s)
    one = simd.splat(s, 1.0)
    big = simd.where_greater(m, simd.splat(s, _SQRT2), one, simd.zeros(s))
    e = simd.add(e, big)
    m = simd.where_greater(m, simd.splat(s, _SQRT2), simd.mul(m, simd.splat(s, 0.5)), m)
    z = simd.div(simd.sub(m, one), simd.add(m, one))
    z2 = simd.mul(z, z)
    q = simd.splat(s, _ATANH_SERIES[0])
    for c in _ATANH_SERIES[1:]:
        q = simd.fma(q, z2, simd.splat(s, c))
    log_m = simd.mul(simd.mul(z, q), simd.splat(s, 2.0))
    return simd.fma(e, simd.splat(s, _LN2_HI), simd.fma(e, simd.splat(s, _LN2_LO), log_m))


# signature: (logp[K,T] f64 -> overwritten with responsibilities, lpn[T] f64 out) -> None
@helper
def normalise_tile(logp, lpn):
    """Turn log-densities into responsibilities in place; ``lpn`` gets each row's log-sum-exp.

    One exponential per (row, component): ``exp(logp - rowmax)`` is kept and divided by its
    sum. Terms below ``exp(-CUTOFF)`` become exactly zero, which keeps subnormal numbers out of
    the accumulation loops and changes no sum by more than one rounding. Works on whole
    vectors of rows (all ``T``; callers read the first ``nt``).
    """
    n_components, n_rows = logp.shape
    lanes = simd.lanes_of_array(logp)
    floor = simd.splat(logp, -CUTOFF)
    for r0 in range(0, n_rows, lanes):
        top = simd.load(logp, r0, logp)
        for k in range(1, n_components):
            top = simd.maximum(top, simd.load(logp, k * n_rows + r0, logp))
        total = simd.zeros(logp)
        for k in range(n_components):
            x = simd.maximum(simd.sub(simd.load(logp, k * n_rows + r0, logp), top), floor)
            e = simd.where_greater(x, floor, exp_vec(x), simd.zeros(logp))
            simd.store(logp, k * n_rows + r0, e)
            total = simd.add(total, e)
        simd.store(lpn, r0, simd.add(top, log_vec(total)))
        inv = simd.div(simd.splat(logp, 1.0), total)
        for k in range(n_components):
            off = k * n_rows + r0
            simd.store(logp, off, simd.mul(simd.load(logp, off, logp), inv))


#: From this many features on, statistics use the register-blocked row-major micro-kernels;
#: below it, the loops over a transposed tile (vectorised across rows) are faster.
BLOCKED_MIN_FEATURES = 8


@helper
def row_major_width(d, dp):
    """Width of the row-major scratch tiles: ``dp`` when the blocked statistics run, else 0
    (so ``load_tile`` skips that copy)."""
    return dp if d >= BLOCKED_MIN_FEATURES else 0


# signature: (resp[K,T] f64, k, wt[T] f64, nt, rw[T] f64 out) -> f64
@helper
def weigh_responsibilities(resp, k, wt, nt, rw):
    """``rw[t] = resp[k, t] wt[t]`` for the first ``nt`` rows; returns their sum."""
    tot = 0.0
    for t in range(nt):
        r = resp[k, t] * wt[t]
        rw[t] = r
        tot += r
    return tot


# signature: (xt[d,T] f64, xr[T,dp] f64, nt, wt[T] f64, shift[K,dp] f64 (zero-padded),
#             resp[K,T] f64, rw[T] f64, diff and rd: [d,T] (transposed) and [T,dp] (row-major)
#             f64 scratch, nk[K], S (local_scatter), S1[K,dp] f64) -> None
@helper
def accumulate_tile(xt, xr, nt, wt, shift, resp, rw, diff_t, rd_t, diff_r, rd_r, nk, S, S1):
    """Add a tile's weighted statistics about ``shift``: N_k, first moment, scatter.

    ``S`` selects the layout: ``(K|1, dr, dp)`` square (per component, or pooled for tied;
    only its lower triangle is meaningful) or ``(K, dp)`` diagonal.
    """
    n_components = shift.shape[0]
    d = xt.shape[0]
    for k in range(n_components):
        tot = weigh_responsibilities(resp, k, wt, nt, rw)
        nk[k] += tot
        if tot == 0.0:
            continue
        ks = k if S.shape[0] > 1 else 0
        if diff_r.shape[1] > 0:
            if S.ndim == 3:
                shifted_tile(xr, nt, rw, shift, k, diff_r, rd_r, S1)
                scatter_tile(nt, diff_r, rd_r, ks, S)
            else:
                diagonal_statistics_tile(xr, nt, rw, shift, k, S, S1)
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


# signature: (d, dp, n_components, s2 slab of one slot) -> (xt[d,T], xr[T,w], diff_t[d,T],
#             rd_t[d,T], diff_r[T,w], rd_r[T,w], S (local_scatter), S1[K,dp]), all f64 zeros
@helper
def statistics_scratch(d, dp, n_components, s2):
    """Zeroed scratch of one slot for ``load_tile`` and ``accumulate_tile`` (``w`` is
    ``row_major_width(d, dp)``)."""
    wide = row_major_width(d, dp)
    return (np.zeros((d, TILE)), np.zeros((TILE, wide)), np.zeros((d, TILE)),
            np.zeros((d, TILE)), np.zeros((TILE, wide)), np.zeros((TILE, wide)),
            local_scatter(s2, dp), np.zeros((n_components, dp)))


@helper
def local_scatter(s2, dp):
    """A zeroed, padded float64 accumulator for the scatter layout of ``s2``."""
    if s2.ndim == 3:
        return np.zeros((s2.shape[0], (s2.shape[1] + ROWS - 1) // ROWS * ROWS, dp))
    return np.zeros((s2.shape[0], dp))


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
