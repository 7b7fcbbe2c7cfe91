"""The fused E+M pass of Student-t mixtures, on the Gaussian Mahalanobis machinery.

Per tile of rows: the squared Mahalanobis distances ``delta2`` under the scale matrices come
from :func:`.tiles.log_prob_tile` run with zero constants (it writes ``-delta2 / 2``, exactly);
then, per component, with ``z = 1 + delta2 / nu``,

    log w_k + log t(x | mu_k, Sigma_k, nu_k) = const_k - (nu_k + D) / 2 * log z,
    u = (nu_k + D) / (nu_k + delta2) = a_k / z,        a_k = (nu_k + D) / nu_k,
    log u - u = log a_k - log z - u,

with the vectorised ``log`` of :mod:`.tiles`; then the log-sum-exp of
:func:`.tiles.normalise_tile`. Accumulation (float64, about the current means, fixed slots as
in :mod:`.em_pass`): ``N_k = sum w r`` and ``A_k = sum w r (log u - u)`` here, and the
``u``-weighted statistics ``sum w r u``, ``sum w r u (x - shift)`` and the scatter by
:func:`.tiles.accumulate_tile` given ``r u`` as the responsibilities. No ``n x K`` array.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from . import simd
from ._jit import TILE, helper, kernel
from .blocked import padded_factor, padded_width
from .em_pass import padded_means
from .tiles import (accumulate_tile, fold_scatter, load_tile, load_weights, log_prob_tile,
                    log_vec, normalise_tile, statistics_scratch)

#: Rows of ``tpar``: (nu + D) / 2, 1 / nu, a = (nu + D) / nu, log a.
HALF, INV_NU, A, LOG_A = 0, 1, 2, 3


# signature: (logp[K,T] f64 in: -delta2/2, out: log-density; u[K,T], q[K,T] f64 out,
#             const[K] f64, tpar[4,K] f64) -> None
@helper
def student_tile(logp, u, q, const, tpar):
    """Turn ``-delta2 / 2`` into Student-t log-densities; ``u`` and ``q = log u - u``.

    Works on all ``T`` lanes; stale lanes (rows past the tile's end) hold finite values
    >= -0, clamped to ``delta2 = 0``, so every lane stays finite.
    """
    n_components, n_rows = logp.shape
    lanes = simd.lanes_of_array(logp)
    zero = simd.zeros(logp)
    one = simd.splat(logp, 1.0)
    m2 = simd.splat(logp, -2.0)
    for k in range(n_components):
        c = simd.splat(logp, const[k])
        h = simd.splat(logp, tpar[HALF, k])
        inv = simd.splat(logp, tpar[INV_NU, k])
        a = simd.splat(logp, tpar[A, k])
        la = simd.splat(logp, tpar[LOG_A, k])
        for r0 in range(0, n_rows, lanes):
            off = k * n_rows + r0
            d2 = simd.maximum(simd.mul(simd.load(logp, off, logp), m2), zero)
            z = simd.fma(d2, inv, one)
            lz = log_vec(z)
            uu = simd.div(a, z)
            simd.store(logp, off, simd.sub(c, simd.mul(h, lz)))
            simd.store(u, off, uu)
            simd.store(q, off, simd.sub(simd.sub(la, lz), uu))


# signature: (X[n,d] f32|f64, sample_weight[n] f64 or [0], means[K,d] f64, prec (as em_pass),
#             const[K] f64, tpar[4,K] f64, nk[S,K], nu[S,K], s1[S,K,d], s2[S,...], aux[S,K],
#             ll[S,2]) -> None   (outputs f64, zeroed by the caller)
@kernel
def student_pass_chunk(X, sample_weight, means, prec, const, tpar, nk, nu, s1, s2, aux, ll):
    """One fused pass: ``nk = sum w r``, ``nu = sum w r u``, ``s1``/``s2`` the ``u``-weighted
    first moment and scatter about ``means``, ``aux = sum w r (log u - u)``; ``ll[s]`` the
    slot's weighted log-likelihood and weight sums."""
    n, d = X.shape
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
        diff = np.zeros((d, TILE), prec.dtype)
        maha = np.zeros(TILE, prec.dtype)
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
            load_tile(X, t0, nt, xt, xr)
            load_weights(sample_weight, t0, nt, wt)
            log_prob_tile(xt, nt, means, factor, zero_const, logp, diff, maha)
            student_tile(logp, u, q, const, tpar)
            normalise_tile(logp, lpn)
            for t in range(nt):
                ll_sum += wt[t] * lpn[t]
                w_sum += wt[t]
            for k in range(n_components):
                tot = 0.0
                tq = 0.0
                for t in range(nt):
                    r = logp[k, t]
                    wr = wt[t] * r
                    tot += wr
                    tq += wr * q[k, t]
                    logp[k, t] = r * u[k, t]
                nk[s, k] += tot
                aux[s, k] += tq
            accumulate_tile(xt, xr, nt, wt, shift, logp, rw, diff_t, rd_t, dr, rd, nu[s], S,
                            S1)
        fold_scatter(S, S1, s1[s], s2[s])
        ll[s, 0] = ll_sum
        ll[s, 1] = w_sum


# signature: (X[n,d], means, prec, const, tpar, lpn[n] f64, labels[n] i64 or [0],
#             resp[n,K] or [0,K]) -> None
@kernel
def student_e_step_chunk(X, means, prec, const, tpar, lpn_out, labels_out, resp_out):
    """Per-row outputs: log-sum-exp, and optionally labels and responsibilities."""
    n, d = X.shape
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
        diff = np.zeros((d, TILE), prec.dtype)
        logp = np.zeros((n_components, TILE))
        u = np.zeros((n_components, TILE))
        q = np.zeros((n_components, TILE))
        maha = np.zeros(TILE, prec.dtype)
        lpn = np.empty(TILE)
        for tile in range(s * per_slot, min(n_tiles, (s + 1) * per_slot)):
            t0 = tile * TILE
            nt = min(TILE, n - t0)
            load_tile(X, t0, nt, xt, xr)
            log_prob_tile(xt, nt, means, factor, zero_const, logp, diff, maha)
            student_tile(logp, u, q, const, tpar)
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
