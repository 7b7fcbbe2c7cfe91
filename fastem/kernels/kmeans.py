"""k-means kernels for initialisation: k-means++ seeding and the Lloyd pass.

The Lloyd pass follows the same slot pattern as the EM pass: hard assignment to the nearest
centre, statistics about the centres (count, first moment, optionally the scatter in the
covariance layout), merged by the caller in slot order.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import helper, kernel


# signature: (x[d] f64, centers[K,d] f64) -> (best int, best_d2 f64)
@helper
def nearest_center(x, centers):
    best = 0
    best_d2 = np.inf
    for k in range(centers.shape[0]):
        d2 = 0.0
        for i in range(x.shape[0]):
            z = x[i] - centers[k, i]
            d2 += z * z
        if d2 < best_d2:
            best_d2 = d2
            best = k
    return best, best_d2


# signature: (X[n,d], sample_weight[n] or [0], centers[K,d] f64, nk[S,K], s1[S,K,d],
#             s2[S,K|1,d,d] or [S,K,d] or [S,0,0], inertia[S], labels[n] i64 or [0]) -> None
@kernel
def kmeans_pass_chunk(X, sample_weight, centers, nk, s1, s2, inertia, labels):
    """Assign rows to their nearest centre and accumulate statistics about the centres."""
    n, d = X.shape
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
    has_w = sample_weight.shape[0] > 0
    want_labels = labels.shape[0] == n
    want_s2 = s2.shape[1] > 0
    for s in prange(n_slots):
        x = np.empty(d)
        tot = 0.0
        for r in range(s * per_slot, min(n, (s + 1) * per_slot)):
            for i in range(d):
                x[i] = X[r, i]
            k, d2 = nearest_center(x, centers)
            w = sample_weight[r] if has_w else 1.0
            if want_labels:
                labels[r] = k
            tot += w * d2
            nk[s, k] += w
            for i in range(d):
                x[i] -= centers[k, i]
                s1[s, k, i] += w * x[i]
            if want_s2:
                if s2.ndim == 4:
                    ks = k if s2.shape[1] > 1 else 0
                    for i in range(d):
                        wx = w * x[i]
                        for j in range(i + 1):
                            s2[s, ks, i, j] += wx * x[j]
                else:
                    for i in range(d):
                        s2[s, k, i] += w * x[i] * x[i]
        inertia[s] = tot


# signature: (X[m,d] f64, w[m] f64, uniforms[1 + (K-1)*n_trials] f64, K, n_trials) -> idx[K]
@kernel
def kmeanspp_indices(X, w, uniforms, n_clusters, n_trials):
    """Greedy k-means++ seeding: rows of ``X`` chosen as the ``n_clusters`` initial centres.

    Each new centre is the best of ``n_trials`` candidates drawn with probability proportional
    to ``w * D(x)^2``; ``uniforms`` are pre-drawn U[0, 1) numbers so the caller owns the RNG.
    """
    m, d = X.shape
    idx = np.empty(n_clusters, np.int64)
    cum = np.cumsum(w)
    idx[0] = min(np.searchsorted(cum, uniforms[0] * cum[-1], side="right"), m - 1)
    closest = np.empty(m)
    for r in prange(m):
        a = 0.0
        for i in range(d):
            z = X[r, i] - X[idx[0], i]
            a += z * z
        closest[r] = a
    trial = np.empty(m)
    best_closest = np.empty(m)
    u = 1
    for c in range(1, n_clusters):
        cum = np.cumsum(w * closest)
        pot = cum[-1]
        best_pot = np.inf
        best_cand = 0
        for _ in range(n_trials):
            if pot > 0.0:
                cand = min(np.searchsorted(cum, uniforms[u] * pot, side="right"), m - 1)
            else:
                cand = min(int(uniforms[u] * m), m - 1)
            u += 1
            for r in prange(m):
                a = 0.0
                for i in range(d):
                    z = X[r, i] - X[cand, i]
                    a += z * z
                trial[r] = min(a, closest[r])
            p = 0.0
            for r in range(m):
                p += w[r] * trial[r]
            if p < best_pot:
                best_pot = p
                best_cand = cand
                best_closest[:] = trial
        idx[c] = best_cand
        closest[:] = best_closest
    return idx
