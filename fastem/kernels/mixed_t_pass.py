"""The fused pass of a mixed-type model with a Student-t block.

A mixed model's linear-exponential blocks (gaussian diag, bernoulli, categorical, poisson)
give ``T(x) . eta_k + c_k`` (:mod:`.linexp`); a Student-t block over its own columns gives
its multivariate t log-density through the Student-t machinery (:mod:`.student_pass`: the
Mahalanobis distances of :func:`.tiles.log_prob_tile`, then :func:`.student_pass.student_tile`).
Per tile of rows the two are summed, normalised by the log-sum-exp, and both kinds of
statistics are accumulated: ``N_k``, ``sum w r T(x)`` for the linear-exponential blocks, and
the t block's ``sum w r (log u - u)`` and ``u``-weighted moments about its means (with ``r u``
as the responsibilities of :func:`.tiles.accumulate_tile`). Fixed slots as everywhere, so the
result is the same on any number of threads. No ``n x K`` array.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import TILE, helper, kernel
from .blocked import padded_factor, padded_width
from .em_pass import padded_means
from .linexp import dense_log_prob_tile, write_labels
from .student_pass import student_tile
from .tiles import (accumulate_tile, fold_scatter, load_tile, load_weights, log_prob_tile,
                    normalise_tile, statistics_scratch)


# signature: (T[n,m] f64, Xt[n,d] f64, means[K,d] f64, factor, zero_const[K], eta[K,m],
#             const[K], tconst[K], tpar[4,K], t0, nt, tt[m,T], xt[d,T], xr, diff, maha,
#             lq[K,T], logp[K,T], u[K,T], q[K,T]) -> None
@helper
def joint_log_prob_tile(T, Xt, means, factor, zero_const, eta, const, tconst, tpar, t0, nt,
                        tt, xt, xr, diff, maha, lq, logp, u, q):
    """``logp`` = the t block's log-density + ``T(x) . eta + const`` for rows
    ``t0 : t0 + nt``; ``u`` and ``q = log u - u`` of the t block."""
    load_tile(Xt, t0, nt, xt, xr)
    log_prob_tile(xt, nt, means, factor, zero_const, logp, diff, maha)
    student_tile(logp, u, q, tconst, tpar)
    load_tile(T, t0, nt, tt, np.empty((TILE, 0)))
    dense_log_prob_tile(tt, eta, const, lq)
    n_components = logp.shape[0]
    for k in range(n_components):
        for t in range(TILE):
            logp[k, t] += lq[k, t]


# signature: (T[n,m] f64, Xt[n,d] f64, sample_weight[n] f64 or [0], eta[K,m], const[K],
#             means[K,d], prec (as em_pass), tconst[K], tpar[4,K], nk[S,K], st[S,K,m],
#             nu[S,K], s1[S,K,d], s2[S,...], aux[S,K], ll[S,2]) -> None (outputs zeroed)
@kernel
def mixed_t_pass_chunk(T, Xt, sample_weight, eta, const, means, prec, tconst, tpar, nk, st,
                       nu, s1, s2, aux, ll):
    """One fused pass over a chunk: ``T`` the linear-exponential blocks' statistic, ``Xt``
    the t block's columns (both float64, C order)."""
    n, d = Xt.shape
    m = T.shape[1]
    n_components = means.shape[0]
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
    factor = padded_factor(prec)
    dp = padded_width(d, means)
    shift = padded_means(means, dp)
    zero_const = np.zeros(n_components)
    for s in prange(n_slots):
        r0 = s * per_slot
        r1 = min(n, r0 + per_slot)
        xt, xr, diff_t, rd_t, dr, rd, S, S1 = statistics_scratch(d, dp, n_components, s2[s])
        tt = np.zeros((m, TILE))
        diff = np.zeros((d, TILE), prec.dtype)
        maha = np.zeros(TILE, prec.dtype)
        lq = np.zeros((n_components, TILE))
        logp = np.zeros((n_components, TILE))
        u = np.zeros((n_components, TILE))
        q = np.zeros((n_components, TILE))
        wt = np.empty(TILE)
        rw = np.empty(TILE)
        lpn = np.empty(TILE)
        ll_sum = 0.0
        w_sum = 0.0
        for t0 in range(r0, r1, TILE):
            nt = min(TILE, r1 - t0)
            load_weights(sample_weight, t0, nt, wt)
            joint_log_prob_tile(T, Xt, means, factor, zero_const, eta, const, tconst, tpar,
                                t0, nt, tt, xt, xr, diff, maha, lq, logp, u, q)
            normalise_tile(logp, lpn)
            for t in range(nt):
                ll_sum += wt[t] * lpn[t]
                w_sum += wt[t]
            for k in range(n_components):
                tot = 0.0
                tq = 0.0
                for t in range(nt):
                    wr = wt[t] * logp[k, t]
                    rw[t] = wr
                    tot += wr
                    tq += wr * q[k, t]
                    logp[k, t] = logp[k, t] * u[k, t]
                nk[s, k] += tot
                aux[s, k] += tq
                for j in range(m):
                    acc = 0.0
                    for t in range(nt):
                        acc += rw[t] * tt[j, t]
                    st[s, k, j] += acc
            accumulate_tile(xt, xr, nt, wt, shift, logp, rw, diff_t, rd_t, dr, rd, nu[s], S,
                            S1)
        fold_scatter(S, S1, s1[s], s2[s])
        ll[s, 0] = ll_sum
        ll[s, 1] = w_sum


# signature: (T, Xt, eta, const, means, prec, tconst, tpar, lpn[n] f64,
#             labels[n] i64 or [0], resp[n,K] f64 or [0,K]) -> None
@kernel
def mixed_t_e_step_chunk(T, Xt, eta, const, means, prec, tconst, tpar, lpn_out, labels_out,
                         resp_out):
    """Per-row outputs of the same model: ``log p(x_i)`` without the base measure ``h(x)``
    (the caller adds it), and optionally labels and responsibilities."""
    n, d = Xt.shape
    m = T.shape[1]
    n_components = means.shape[0]
    n_tiles = (n + TILE - 1) // TILE
    n_slots = min(n_tiles, 64)
    per_slot = (n_tiles + n_slots - 1) // max(n_slots, 1)
    want_labels = labels_out.shape[0] == n
    want_resp = resp_out.shape[0] == n
    factor = padded_factor(prec)
    zero_const = np.zeros(n_components)
    for s in prange(n_slots):
        xt = np.zeros((d, TILE))
        xr = np.empty((TILE, 0))
        tt = np.zeros((m, TILE))
        diff = np.zeros((d, TILE), prec.dtype)
        maha = np.zeros(TILE, prec.dtype)
        lq = np.zeros((n_components, TILE))
        logp = np.zeros((n_components, TILE))
        u = np.zeros((n_components, TILE))
        q = np.zeros((n_components, TILE))
        lpn = np.empty(TILE)
        for tile in range(s * per_slot, min(n_tiles, (s + 1) * per_slot)):
            t0 = tile * TILE
            nt = min(TILE, n - t0)
            joint_log_prob_tile(T, Xt, means, factor, zero_const, eta, const, tconst, tpar,
                                t0, nt, tt, xt, xr, diff, maha, lq, logp, u, q)
            if want_labels:
                write_labels(logp, nt, t0, labels_out)
            normalise_tile(logp, lpn)
            for t in range(nt):
                lpn_out[t0 + t] = lpn[t]
            if want_resp:
                for t in range(nt):
                    for k in range(n_components):
                        resp_out[t0 + t, k] = logp[k, t]
