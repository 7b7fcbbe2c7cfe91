"""The fused pass of linear exponential families: log p(x | k) = T(x)·eta_k + c_k + h(x).

One kernel serves every such family; small inlined helpers specialise the statistic ``T``:

* ``T(x) = x`` (Bernoulli, Poisson): log-densities of a tile by a small product with
  ``eta`` (K, D), and accumulation of ``sum_i w_i r_ik x_i`` (plus, for Bernoulli, the
  complement ``sum_i w_i r_ik (1 - x_i)``, when ``sc`` has K rows).
* One-hot codes (categorical), when ``offsets`` is non-empty: column ``d``'s code ``c`` is
  column ``offsets[d] + c`` of ``eta`` (K, offsets[-1]); the log-density is a gather of D
  entries of ``eta`` per row and component, and the statistic a scatter-add into the same
  column of ``st`` (no one-hot matrix is formed).
* The base measure ``h(x) = -sum_d log x_d!`` (Poisson), when ``log_factorial`` is
  non-empty: it does not change responsibilities, only each row's log-likelihood; ``log n!``
  is read from the table for small counts and computed by ``lgamma`` above it.

Per tile: the log-densities, the vectorised log-sum-exp of
:func:`fastem.kernels.tiles.normalise_tile`, then the statistics. No ``n x K`` array;
float64 statistics; fixed slots chosen by the caller, so the result does not depend on the
thread count.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._jit import TILE, helper, kernel
from .tiles import load_tile, load_weights, normalise_tile


# signature: (X[n,d] int|float, t0, nt, offsets[d+1] int64, ct[d,T] int64) -> None
@helper
def load_codes(X, t0, nt, offsets, ct):
    """Column indices ``offsets[i] + X[t0 + t, i]`` of a tile's codes; rows past ``nt``
    point at each column's first code (valid, ignored)."""
    d = ct.shape[0]
    n_rows = ct.shape[1]
    for t in range(nt):
        for i in range(d):
            ct[i, t] = offsets[i] + np.int64(X[t0 + t, i])
    for t in range(nt, n_rows):
        for i in range(d):
            ct[i, t] = offsets[i]


# signature: (xt[d,T] f64, eta[K,d] f64, const[K] f64, logp[K,T] f64) -> None
@helper
def dense_log_prob_tile(xt, eta, const, logp):
    """``logp[k, t] = const[k] + sum_i xt[i, t] eta[k, i]`` for the whole tile."""
    n_components, d = eta.shape
    n_rows = logp.shape[1]
    for k in range(n_components):
        for t in range(n_rows):
            logp[k, t] = const[k]
        for i in range(d):
            e = eta[k, i]
            for t in range(n_rows):
                logp[k, t] += xt[i, t] * e


# signature: (ct[d,T] int64, eta[K,m] f64, const[K] f64, logp[K,T] f64) -> None
@helper
def code_log_prob_tile(ct, eta, const, logp):
    """``logp[k, t] = const[k] + sum_i eta[k, ct[i, t]]`` (one-hot codes, gathered)."""
    n_components = eta.shape[0]
    d, n_rows = ct.shape
    for k in range(n_components):
        for t in range(n_rows):
            logp[k, t] = const[k]
        for i in range(d):
            for t in range(n_rows):
                logp[k, t] += eta[k, ct[i, t]]


# signature: (xt[d,T] f64, nt, log_factorial[L] f64, lpn[T] f64) -> None
@helper
def subtract_log_factorials(xt, nt, log_factorial, lpn):
    """``lpn[t] -= sum_i log(xt[i, t]!)`` (the Poisson base measure) for the tile's rows."""
    d = xt.shape[0]
    size = log_factorial.shape[0]
    for t in range(nt):
        h = 0.0
        for i in range(d):
            v = xt[i, t]
            if v < size:
                h += log_factorial[np.int64(v)]
            else:
                h += math.lgamma(v + 1.0)
        lpn[t] -= h


# signature: (X[n,d] any real/int dtype, sample_weight[n] f64 or [0], eta[K,m] f64, const[K] f64,
#             offsets[d+1] int64 or [0], log_factorial[L] f64 or [0],
#             nk[S,K], st[S,K,m], sc[S,K,m] or [S,0,m], ll[S,2]) -> None (outputs zeroed)
@kernel
def linexp_pass_chunk(X, sample_weight, eta, const, offsets, log_factorial, nk, st, sc, ll):
    """One fused pass; ``sc`` (when it has K rows) gets the complement ``sum w r (1 - x)``;
    non-empty ``offsets`` reads ``X`` as category codes, non-empty ``log_factorial`` adds the
    Poisson base measure to the log-likelihood."""
    n, d = X.shape
    n_components = eta.shape[0]
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
    want_complement = sc.shape[1] == n_components
    codes = offsets.shape[0] > 0
    counts = log_factorial.shape[0] > 0
    for s in prange(n_slots):
        r0 = s * per_slot
        r1 = min(n, r0 + per_slot)
        xt = np.zeros((0 if codes else d, TILE))
        ct = np.zeros((d if codes else 0, TILE), np.int64)
        xr = np.empty((TILE, 0))
        logp = np.zeros((n_components, TILE))
        wt = np.zeros(TILE)
        rw = np.zeros(TILE)
        lpn = np.zeros(TILE)
        ll_sum = 0.0
        w_sum = 0.0
        for t0 in range(r0, r1, TILE):
            nt = min(TILE, r1 - t0)
            load_weights(sample_weight, t0, nt, wt)
            if codes:
                load_codes(X, t0, nt, offsets, ct)
                code_log_prob_tile(ct, eta, const, logp)
            else:
                load_tile(X, t0, nt, xt, xr)
                dense_log_prob_tile(xt, eta, const, logp)
            normalise_tile(logp, lpn)
            if counts:
                subtract_log_factorials(xt, nt, log_factorial, lpn)
            for t in range(nt):
                ll_sum += wt[t] * lpn[t]
                w_sum += wt[t]
            for k in range(n_components):
                tot = 0.0
                for t in range(nt):
                    rw[t] = logp[k, t] * wt[t]
                    tot += rw[t]
                nk[s, k] += tot
                if codes:
                    for i in range(d):
                        for t in range(nt):
                            st[s, k, ct[i, t]] += rw[t]
                    continue
                for i in range(d):
                    acc = 0.0
                    for t in range(nt):
                        acc += rw[t] * xt[i, t]
                    st[s, k, i] += acc
                    if want_complement:
                        acc0 = 0.0
                        for t in range(nt):
                            acc0 += rw[t] * (1.0 - xt[i, t])
                        sc[s, k, i] += acc0
        ll[s, 0] = ll_sum
        ll[s, 1] = w_sum


#: Size of the ``log n!`` table the Poisson family passes (larger counts use ``lgamma``).
LOG_FACTORIAL_SIZE = 1024


def log_factorial_table(size: int = LOG_FACTORIAL_SIZE) -> np.ndarray:
    """``log n!`` for ``n = 0 .. size - 1`` (each entry correctly rounded by ``lgamma``)."""
    return np.array([math.lgamma(i + 1.0) for i in range(size)], dtype=np.float64)


#: The empty arrays that switch the code and count variants off.
NO_OFFSETS = np.empty(0, np.int64)
NO_LOG_FACTORIAL = np.empty(0, np.float64)
