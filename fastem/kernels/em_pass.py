"""The fused E+M pass, and its siblings that write per-row outputs or take given responsibilities.

The *compute* dtype is the dtype of ``prec`` (the caller passes float32 factors for float32
data with many features): the per-row Mahalanobis products of full and tied covariances run in
it. Everything else stays float64: means, shifts, log-densities, and all statistics, whose
products of float32 data are exact in float64. (Scatter products rounded to float32 carry
errors of ~6e-8 of the largest eigenvalue, more than reg_covar = 1e-6 in the small
eigenvalues of a nearly empty component: the covariance turned indefinite on benchmark data.)

Rows are split into ``n_slots`` contiguous ranges (the caller allocates one slab of partial
statistics per slot, chosen from the data shape, never from the thread count). ``prange`` runs
over slots; the caller sums the slabs in slot order, so results do not depend on threads.
Each slot first accumulates into padded float64 scratch (``local_scatter``) and folds it into
its slab once at the end.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import TILE, helper, kernel
from .blocked import padded_factor, padded_width
from .tiles import (accumulate_tile, fold_scatter, load_tile, load_weights, log_prob_tile,
                    normalise_tile, statistics_scratch)


# signature: (xt[d,T] f64, nt) -> bool: no NaN or inf in the first nt rows of the tile
@helper
def finite_tile(xt, nt):
    bad = 0
    for i in range(xt.shape[0]):
        for t in range(nt):         # branch-free: vectorises over the rows
            bad += not abs(xt[i, t]) < np.inf
    return bad == 0


# signature: (X[n,d] f32|f64, sample_weight[n] f64 or [0], means[K,d] f64, prec f64
#             (K|1,d,d) or (K,d), const[K] f64, nk[S,K], s1[S,K,d], s2[S,K|1,d,d] or [S,K,d],
#             ll[S,2|3]) -> None   (all outputs f64, zeroed by the caller)
@kernel
def em_pass_chunk(X, sample_weight, means, prec, const, nk, s1, s2, ll):
    """One fused pass: log-densities, log-sum-exp, responsibilities and statistics.

    Statistics are accumulated about ``means`` (the shift); ``ll[s]`` holds the slot's
    weighted log-likelihood sum and weight sum. With a third column in ``ll`` each tile is
    checked for NaN and inf first, and a slot that meets one stops and sets ``ll[s, 2] = 1``
    (its statistics are then meaningless): how a chunk under a ``nan_policy`` other than
    "raise" is found to need the missing-data kernels without a separate pass over memory.
    """
    n, d = X.shape
    n_components = means.shape[0]
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
    factor = padded_factor(prec)
    dp = padded_width(d, means)
    shift = padded_means(means, dp)
    check = ll.shape[1] > 2
    for s in prange(n_slots):
        r0 = s * per_slot
        r1 = min(n, r0 + per_slot)
        xt, xr, diff_t, rd_t, dr, rd, S, S1 = statistics_scratch(d, dp, n_components, s2[s])
        diff = np.zeros((d, TILE), prec.dtype)
        maha = np.zeros(TILE, prec.dtype)
        logp = np.zeros((n_components, TILE))
        wt = np.empty(TILE)
        rw = np.empty(TILE)
        lpn = np.empty(TILE)
        ll_sum = 0.0
        w_sum = 0.0
        for t0 in range(r0, r1, TILE):
            nt = min(TILE, r1 - t0)
            load_tile(X, t0, nt, xt, xr)
            if check and not finite_tile(xt, nt):
                ll[s, 2] = 1.0
                break
            load_weights(sample_weight, t0, nt, wt)
            log_prob_tile(xt, nt, means, factor, const, logp, diff, maha)
            normalise_tile(logp, lpn)
            for t in range(nt):
                ll_sum += wt[t] * lpn[t]
                w_sum += wt[t]
            accumulate_tile(xt, xr, nt, wt, shift, logp, rw, diff_t, rd_t, dr, rd, nk[s], S, S1)
        fold_scatter(S, S1, s1[s], s2[s])
        ll[s, 0] = ll_sum
        ll[s, 1] = w_sum


# signature: (X[n,d], means, prec, const, lpn[n] f64, labels[n] i64 or [0], resp[n,K] or [0,K])
@kernel
def e_step_chunk(X, means, prec, const, lpn_out, labels_out, resp_out):
    """Per-row outputs of the E-step: log-sum-exp, and optionally labels and responsibilities."""
    n, d = X.shape
    n_components = means.shape[0]
    n_tiles = (n + TILE - 1) // TILE
    n_slots = min(n_tiles, 64)
    per_slot = (n_tiles + n_slots - 1) // n_slots
    want_labels = labels_out.shape[0] == n
    want_resp = resp_out.shape[0] == n
    factor = padded_factor(prec)
    for s in prange(n_slots):
        xt = np.zeros((d, TILE))
        xr = np.empty((TILE, 0))
        diff = np.zeros((d, TILE), prec.dtype)
        logp = np.zeros((n_components, TILE))
        maha = np.zeros(TILE, prec.dtype)
        lpn = np.empty(TILE)
        for tile in range(s * per_slot, min(n_tiles, (s + 1) * per_slot)):
            t0 = tile * TILE
            nt = min(TILE, n - t0)
            load_tile(X, t0, nt, xt, xr)
            log_prob_tile(xt, nt, means, factor, const, logp, diff, maha)
            if want_labels:
                for t in range(nt):
                    best = 0
                    for k in range(1, n_components):
                        if logp[k, t] > logp[best, t]:
                            best = k
                    labels_out[t0 + t] = best
            normalise_tile(logp, lpn)
            for t in range(nt):
                lpn_out[t0 + t] = lpn[t]
            if want_resp:
                for t in range(nt):
                    for k in range(n_components):
                        resp_out[t0 + t, k] = logp[k, t]


# signature: (X[n,d], sample_weight[n] or [0], resp[n,K] f64, shift[K,d], nk[S,K], s1[S,K,d],
#             s2[S,...]) -> None
@kernel
def stats_from_resp_chunk(X, sample_weight, resp, shift, nk, s1, s2):
    """Statistics about ``shift`` for given responsibilities (initialisation, tests)."""
    n, d = X.shape
    n_components = shift.shape[0]
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
    dp = padded_width(d, shift)
    shiftp = padded_means(shift, dp)
    for s in prange(n_slots):
        r0 = s * per_slot
        r1 = min(n, r0 + per_slot)
        xt, xr, diff_t, rd_t, dr, rd, S, S1 = statistics_scratch(d, dp, n_components, s2[s])
        rt = np.empty((n_components, TILE))
        wt = np.empty(TILE)
        rw = np.empty(TILE)
        for t0 in range(r0, r1, TILE):
            nt = min(TILE, r1 - t0)
            load_tile(X, t0, nt, xt, xr)
            load_weights(sample_weight, t0, nt, wt)
            for t in range(nt):
                for k in range(n_components):
                    rt[k, t] = resp[t0 + t, k]
            accumulate_tile(xt, xr, nt, wt, shiftp, rt, rw, diff_t, rd_t, dr, rd, nk[s], S, S1)
        fold_scatter(S, S1, s1[s], s2[s])


# signature: (means[K, d] f64, dp) -> [K, dp] f64
@helper
def padded_means(means, dp):
    """``means`` with zero columns up to ``dp`` (the row-major tile's width)."""
    out = np.zeros((means.shape[0], dp))
    for k in range(means.shape[0]):
        for i in range(means.shape[1]):
            out[k, i] = means[k, i]
    return out
