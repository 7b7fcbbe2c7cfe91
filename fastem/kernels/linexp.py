"""The fused pass of linear exponential families: log p(x | k) = T(x)·eta_k + c_k.

Here ``T(x) = x`` (Bernoulli; one-hot codes and counts use the same pass on their own
statistic). Per tile: log-densities by a small product with ``eta``, the vectorised
log-sum-exp of :func:`fastem.kernels.tiles.normalise_tile`, and accumulation of
``sum_i w_i r_ik``, ``sum_i w_i r_ik x_i`` and optionally ``sum_i w_i r_ik (1 - x_i)``. No
``n x K`` array; float64 statistics; fixed slots chosen by the caller, so the result does not
depend on the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import TILE, kernel
from .tiles import load_tile, load_weights, normalise_tile


# signature: (X[n,d] any real dtype, sample_weight[n] f64 or [0], eta[K,d] f64, const[K] f64,
#             nk[S,K], st[S,K,d], sc[S,K,d] or [S,0,d], ll[S,2]) -> None (outputs zeroed)
@kernel
def linexp_pass_chunk(X, sample_weight, eta, const, nk, st, sc, ll):
    """One fused pass; ``sc`` (when it has K rows) gets the complement ``sum w r (1 - x)``."""
    n, d = X.shape
    n_components = eta.shape[0]
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
    want_complement = sc.shape[1] == n_components
    for s in prange(n_slots):
        r0 = s * per_slot
        r1 = min(n, r0 + per_slot)
        xt = np.zeros((d, TILE))
        xr = np.empty((TILE, 0))
        logp = np.zeros((n_components, TILE))
        wt = np.zeros(TILE)
        rw = np.zeros(TILE)
        lpn = np.zeros(TILE)
        ll_sum = 0.0
        w_sum = 0.0
        for t0 in range(r0, r1, TILE):
            nt = min(TILE, r1 - t0)
            load_tile(X, t0, nt, xt, xr)
            load_weights(sample_weight, t0, nt, wt)
            for k in range(n_components):
                for t in range(TILE):
                    logp[k, t] = const[k]
                for i in range(d):
                    e = eta[k, i]
                    for t in range(TILE):
                        logp[k, t] += xt[i, t] * e
            normalise_tile(logp, lpn)
            for t in range(nt):
                ll_sum += wt[t] * lpn[t]
                w_sum += wt[t]
            for k in range(n_components):
                tot = 0.0
                for t in range(nt):
                    rw[t] = logp[k, t] * wt[t]
                    tot += rw[t]
                nk[s, k] += tot
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
