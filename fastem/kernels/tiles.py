"""Per-tile helpers shared by the kernels.

A tile is up to ``TILE`` rows held transposed, ``(n_features, TILE)`` in float64, so that the
innermost loop runs over rows and vectorises. Helpers specialise on the layout of the
precision factor: ``prec.ndim == 3`` is full ``(K, d, d)`` or tied ``(1, d, d)`` (upper
triangular, ``precision = U @ U.T``); ``prec.ndim == 2`` is diag or spherical ``(K, d)``.
Numba prunes the branch that does not apply when it compiles each specialisation.
"""
from __future__ import annotations

import math

import numpy as np

from ._jit import helper, zero_of

# exp(-CUTOFF) is far below float64 resolution relative to the largest term (1.0) of a row's
# normaliser, so smaller responsibilities are set to exactly zero. This keeps subnormal
# numbers out of the accumulation loops and changes no sum by more than one rounding.
CUTOFF = 50.0


# signature: (X[n, d] f32|f64 any layout, t0 int, nt int, xt[d, T] f64) -> None
@helper
def load_tile(X, t0, nt, xt):
    d = X.shape[1]
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


# signature: (xt[d,T], nt, means[K,d], prec, const[K], logp[K,T], diff[d,T], acc[T], maha[T])
@helper
def log_prob_tile(xt, nt, means, prec, const, logp, diff, acc, maha):
    """Weighted log-density ``log w_k + log N(x | mu_k, Sigma_k)`` of every row and component."""
    n_components, d = means.shape
    for k in range(n_components):
        for t in range(nt):
            maha[t] = 0.0
        if prec.ndim == 3:
            kp = k if prec.shape[0] > 1 else 0
            for i in range(d):
                m = means[k, i]
                for t in range(nt):
                    diff[i, t] = xt[i, t] - m
            # y_j = sum_{i <= j} diff_i U_ij ; maha = sum_j y_j^2
            for j in range(d):
                for t in range(nt):
                    acc[t] = 0.0
                for i in range(j + 1):
                    u = prec[kp, i, j]
                    for t in range(nt):
                        acc[t] += diff[i, t] * u
                for t in range(nt):
                    maha[t] += acc[t] * acc[t]
        else:
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


# signature: (xt[d,T], nt, wt[T], shift[K,d], resp[K,T], diff[d,T], rd[d,T], rw[T],
#             nk[K], s1[K,d], s2[K|1,d,d] or [K,d]) -> None
@helper
def accumulate_tile(xt, nt, wt, shift, resp, diff, rd, rw, nk, s1, s2):
    """Add a tile's weighted statistics about ``shift``: N_k, first moment, scatter.

    ``s2`` selects the scatter layout: ``(K, d, d)`` per component, ``(1, d, d)`` pooled (tied),
    or ``(K, d)`` diagonal. Only the lower triangle of a square scatter is written.
    """
    n_components, d = shift.shape
    for k in range(n_components):
        tot = 0.0
        for t in range(nt):
            r = resp[k, t] * wt[t]
            rw[t] = r
            tot += r
        nk[k] += tot
        if tot == 0.0:
            continue
        for i in range(d):
            m = shift[k, i]
            a = 0.0
            for t in range(nt):
                dv = xt[i, t] - m
                diff[i, t] = dv
                v = rw[t] * dv
                rd[i, t] = v
                a += v
            s1[k, i] += a
        if s2.ndim == 3:
            ks = k if s2.shape[0] > 1 else 0
            for i in range(d):
                for j in range(i + 1):
                    a = zero_of(rd)
                    for t in range(nt):
                        a += rd[i, t] * diff[j, t]
                    s2[ks, i, j] += a
        else:
            for i in range(d):
                a = zero_of(rd)
                for t in range(nt):
                    a += rd[i, t] * diff[i, t]
                s2[k, i] += a
