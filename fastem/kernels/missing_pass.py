"""The fused pass over rows with missing (NaN) entries: exact EM over the observed coordinates.

Only rows holding a NaN come here (complete rows of the same chunk go through the unchanged
kernels of :mod:`.em_pass`). For a row with observed coordinates ``o`` and missing ``m``, and a
component with mean ``mu`` and precision ``Lam = U U^T``, the *precision* form of the Gaussian
conditional is used:

* the conditional of ``x_m`` given ``x_o`` has covariance ``C = Lam_mm^{-1}`` and mean
  ``mu_m + delta`` with ``delta = -C Lam_mo (x_o - mu_o)``;
* the filled difference ``e = (x_o - mu_o, delta)`` has ``e^T Lam e = (x_o - mu_o)^T
  Sigma_oo^{-1} (x_o - mu_o)`` (the minimum of the quadratic form over ``x_m``), and
  ``log det Sigma_oo^{-1} = log det Lam - log det Lam_mm``;
* so ``log w + log N(x_o | mu_o, Sigma_oo) = const + |m|/2 log(2 pi) - 1/2 log det Lam_mm
  - 1/2 |U^T e|^2`` with the kernels' ``const = log w + log det U - d/2 log(2 pi)``.

The expected statistics use ``e`` (the missing block filled by its conditional mean) and add
``C`` to the scatter's missing block. One Cholesky factor of ``Lam_mm`` (``|m| x |m|``, small
when few entries are missing) serves every consecutive row of the same missingness pattern:
the caller sorts full and tied rows by pattern; diagonal layouts need no sorting (``Lam_mm`` is
diagonal and ``delta`` is zero: fill with ``mu`` and add the variances).

A row with every coordinate missing adds nothing to the statistics or the log-likelihood
sums; its per-row log-likelihood is 0.0 (the integral of the density over everything).

Rows go to ``n_slots`` fixed ranges of ``rows`` (chosen by the caller from the shape, never
the thread count); the caller sums the slabs in slot order, so results are bit-identical on
any number of threads. Statistics are float64 and about ``means`` (the shift).
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._jit import helper, kernel
from .linalg import cholesky_into

_LOG_2PI = math.log(2.0 * math.pi)


# signature: (X[n,d], i, mask[d] bool, have bool) -> bool  (row i has the pattern in mask)
@helper
def same_pattern(X, i, mask, have):
    if not have:
        return False
    for j in range(X.shape[1]):
        if math.isnan(X[i, j]) != mask[j]:
            return False
    return True


# signature: (X[n,d], i, mask[d] bool out, obs[d] i64 out, mis[d] i64 out) -> (n_obs, n_mis)
@helper
def read_pattern(X, i, mask, obs, mis):
    """The observed and missing coordinates of row ``i`` (ascending)."""
    no = 0
    nm = 0
    for j in range(X.shape[1]):
        if math.isnan(X[i, j]):
            mask[j] = True
            mis[nm] = j
            nm += 1
        else:
            mask[j] = False
            obs[no] = j
            no += 1
    return no, nm


# signature: (lam (K|1,d,d) dense precisions or (K,d) diagonal precisions, mis[d], nm,
#             A[d,d], L[K',d,d] out (lower factor of Lam_mm), C[K',d,d] out (Lam_mm^-1),
#             ldm[K'] out (log det Lam_mm)) -> None
@helper
def factor_pattern(lam, mis, nm, A, L, C, ldm):
    """Per component: the Cholesky factor of ``Lam_mm``, its inverse ``C`` and log-det."""
    for kk in range(lam.shape[0]):
        if lam.ndim == 3:
            for a in range(nm):
                for b in range(nm):
                    A[a, b] = lam[kk, mis[a], mis[b]]
            Lk = L[kk, :nm, :nm]
            cholesky_into(A[:nm, :nm], Lk)
            ld = 0.0
            for a in range(nm):
                ld += math.log(Lk[a, a])
            ldm[kk] = 2.0 * ld
            # C = L^-T L^-1: invert the lower factor column by column into A, then C = A^T A.
            for b in range(nm):
                for a in range(nm):
                    A[a, b] = 0.0
                A[b, b] = 1.0 / Lk[b, b]
                for a in range(b + 1, nm):
                    v = 0.0
                    for p in range(b, a):
                        v -= Lk[a, p] * A[p, b]
                    A[a, b] = v / Lk[a, a]
            for a in range(nm):
                for b in range(a + 1):
                    v = 0.0
                    for p in range(a, nm):
                        v += A[p, a] * A[p, b]
                    C[kk, a, b] = v
                    C[kk, b, a] = v
        else:
            ld = 0.0
            for a in range(nm):
                v = lam[kk, mis[a]]
                ld += math.log(v)
                C[kk, a, a] = 1.0 / v
                L[kk, a, a] = math.sqrt(v)
            ldm[kk] = ld


# signature: (X[n,d], i, means[K,d], U (K|1,d,d) upper factors or (K,d), lam, const[K],
#             obs, no, mis, nm, C, ldm, E[K,d] out (filled differences), g[d] scratch,
#             lp[K] out) -> None
@helper
def row_log_prob(X, i, means, U, lam, const, obs, no, mis, nm, C, ldm, E, g, lp):
    """Log of weight times marginal density of row ``i``'s observed block, per component,
    and the filled differences ``E[k] = (x_o - mu_o, delta)``."""
    n_components, d = means.shape
    half_m = 0.5 * nm * _LOG_2PI
    for k in range(n_components):
        kk = k if lam.shape[0] > 1 else 0
        for a in range(no):
            j = obs[a]
            E[k, j] = X[i, j] - means[k, j]
        if lam.ndim == 3:
            for a in range(nm):
                v = 0.0
                for b in range(no):
                    v += lam[kk, mis[a], obs[b]] * E[k, obs[b]]
                g[a] = v
            for a in range(nm):
                v = 0.0
                for b in range(nm):
                    v -= C[kk, a, b] * g[b]
                E[k, mis[a]] = v
            maha = 0.0
            for j in range(d):
                v = 0.0
                for p in range(j + 1):
                    v += U[kk, p, j] * E[k, p]
                maha += v * v
        else:
            for a in range(nm):
                E[k, mis[a]] = 0.0
            maha = 0.0
            for a in range(no):
                j = obs[a]
                v = E[k, j]
                maha += v * v * lam[k, j]
        lp[k] = const[k] + half_m - 0.5 * ldm[kk] - 0.5 * maha


# signature: (lp[K] in: log-densities, out: responsibilities) -> log-sum-exp
@helper
def normalise_row(lp):
    top = lp[0]
    for k in range(1, lp.shape[0]):
        if lp[k] > top:
            top = lp[k]
    if top == -np.inf:
        for k in range(lp.shape[0]):
            lp[k] = 0.0
        return top
    tot = 0.0
    for k in range(lp.shape[0]):
        x = lp[k] - top
        e = math.exp(x) if x > -50.0 else 0.0
        lp[k] = e
        tot += e
    inv = 1.0 / tot
    for k in range(lp.shape[0]):
        lp[k] *= inv
    return top + math.log(tot)


# signature: (Rk[K], C, mis, nm, s2 slab of one slot) -> None
@helper
def flush_conditional(Rk, C, mis, nm, s2):
    """Add ``sum_rows r_k * C_k`` (the conditional covariances) into the scatter."""
    n_components = Rk.shape[0]
    for k in range(n_components):
        r = Rk[k]
        if r == 0.0:
            continue
        kk = k if C.shape[0] > 1 else 0
        ks = k if s2.shape[0] > 1 else 0
        if s2.ndim == 3:
            for a in range(nm):
                for b in range(a + 1):
                    s2[ks, mis[a], mis[b]] += r * C[kk, a, b]
        else:
            for a in range(nm):
                s2[k, mis[a]] += r * C[kk, a, a]
        Rk[k] = 0.0


@helper
def _scratch(n_components, n_lam, d):
    return (np.zeros(d, np.bool_), np.zeros(d, np.int64), np.zeros(d, np.int64),
            np.zeros((d, d)), np.zeros((n_lam, d, d)), np.zeros((n_lam, d, d)),
            np.zeros(n_lam), np.zeros((n_components, d)), np.zeros(d),
            np.zeros(n_components))


# signature: (X[n,d] f32|f64 with NaN, sample_weight[n] f64 or [0], rows[m] i64 (the rows to
#             process; full/tied sorted by pattern), means[K,d] f64, U f64 (K|1,d,d) upper or
#             (K,d), lam f64 same layout (dense precisions, or squared diagonal factors),
#             const[K], nk[S,K], s1[S,K,d], s2[S,K|1,d,d] or [S,K,d], ll[S,2]) -> None
@kernel
def missing_stats_chunk(X, sample_weight, rows, means, U, lam, const, nk, s1, s2, ll):
    """Expected statistics (about ``means``) and log-likelihood sums of rows with NaN."""
    n_components, d = means.shape
    m = rows.shape[0]
    n_slots = nk.shape[0]
    per_slot = (m + n_slots - 1) // n_slots
    weighted = sample_weight.shape[0] > 0
    for s in prange(n_slots):
        mask, obs, mis, A, L, C, ldm, E, g, lp = _scratch(n_components, lam.shape[0], d)
        Rk = np.zeros(n_components)
        have = False
        no = 0
        nm = 0
        ll_sum = 0.0
        w_sum = 0.0
        for p in range(s * per_slot, min(m, (s + 1) * per_slot)):
            i = rows[p]
            if not same_pattern(X, i, mask, have):
                if have:
                    flush_conditional(Rk, C, mis, nm, s2[s])
                no, nm = read_pattern(X, i, mask, obs, mis)
                factor_pattern(lam, mis, nm, A, L, C, ldm)
                have = True
            if no == 0:
                continue
            w = sample_weight[i] if weighted else 1.0
            row_log_prob(X, i, means, U, lam, const, obs, no, mis, nm, C, ldm, E, g, lp)
            lse = normalise_row(lp)
            ll_sum += w * lse
            w_sum += w
            for k in range(n_components):
                r = lp[k] * w
                if r == 0.0:
                    continue
                nk[s, k] += r
                Rk[k] += r
                ks = k if s2.shape[1] > 1 else 0
                for a in range(d):
                    ea = E[k, a]
                    s1[s, k, a] += r * ea
                    re = r * ea
                    if s2.ndim == 4:
                        for b in range(a + 1):
                            s2[s, ks, a, b] += re * E[k, b]
                    else:
                        s2[s, k, a] += re * ea
        if have:
            flush_conditional(Rk, C, mis, nm, s2[s])
        ll[s, 0] = ll_sum
        ll[s, 1] = w_sum


# signature: (X[n,d] with NaN, rows[m] i64, means, U, lam, const, lpn[n] f64 out, labels[n]
#             i64 or [0], resp[n,K] f64 or [0,K]) -> None   (writes only the given rows)
@kernel
def missing_e_step_chunk(X, rows, means, U, lam, const, lpn_out, labels_out, resp_out):
    """Per-row log-likelihood over the observed coordinates, labels and responsibilities."""
    n_components, d = means.shape
    m = rows.shape[0]
    n_blocks = max(1, min(64, (m + 255) // 256))
    per = (m + n_blocks - 1) // n_blocks
    want_labels = labels_out.shape[0] > 0
    want_resp = resp_out.shape[0] > 0
    for s in prange(n_blocks):
        mask, obs, mis, A, L, C, ldm, E, g, lp = _scratch(n_components, lam.shape[0], d)
        have = False
        no = 0
        nm = 0
        for p in range(s * per, min(m, (s + 1) * per)):
            i = rows[p]
            if not same_pattern(X, i, mask, have):
                no, nm = read_pattern(X, i, mask, obs, mis)
                factor_pattern(lam, mis, nm, A, L, C, ldm)
                have = True
            row_log_prob(X, i, means, U, lam, const, obs, no, mis, nm, C, ldm, E, g, lp)
            if want_labels:
                best = 0
                for k in range(1, n_components):
                    if lp[k] > lp[best]:
                        best = k
                labels_out[i] = best
            lse = normalise_row(lp)
            lpn_out[i] = 0.0 if no == 0 else lse
            if want_resp:
                for k in range(n_components):
                    resp_out[i, k] = lp[k]


# signature: (X[n,d] with NaN, rows[m] i64, means, U, lam, const, u[n] f64 (uniform draws, or
#             [0] for the conditional mean), z[n,d] f64 (standard normal draws, or [0,d]),
#             out[n,d] f64 (X's rows copied; NaN entries overwritten)) -> None
@kernel
def missing_impute_chunk(X, rows, means, U, lam, const, u, z, out):
    """Fill each NaN: the responsibility-weighted conditional mean, or (with draws ``u``,
    ``z``) a component drawn from the responsibilities and a draw from its conditional."""
    n_components, d = means.shape
    m = rows.shape[0]
    n_blocks = max(1, min(64, (m + 255) // 256))
    per = (m + n_blocks - 1) // n_blocks
    draw = u.shape[0] > 0
    for s in prange(n_blocks):
        mask, obs, mis, A, L, C, ldm, E, g, lp = _scratch(n_components, lam.shape[0], d)
        v = np.zeros(d)
        have = False
        no = 0
        nm = 0
        for p in range(s * per, min(m, (s + 1) * per)):
            i = rows[p]
            if not same_pattern(X, i, mask, have):
                no, nm = read_pattern(X, i, mask, obs, mis)
                factor_pattern(lam, mis, nm, A, L, C, ldm)
                have = True
            row_log_prob(X, i, means, U, lam, const, obs, no, mis, nm, C, ldm, E, g, lp)
            normalise_row(lp)
            if not draw:
                for a in range(nm):
                    j = mis[a]
                    acc = 0.0
                    for k in range(n_components):
                        acc += lp[k] * (means[k, j] + E[k, j])
                    out[i, j] = acc
                continue
            k = n_components - 1
            c = 0.0
            for kq in range(n_components):
                c += lp[kq]
                if u[i] < c:
                    k = kq
                    break
            kk = k if lam.shape[0] > 1 else 0
            # v = L^-T z_m has covariance L^-T L^-1 = Lam_mm^-1 (back substitution).
            for a in range(nm - 1, -1, -1):
                t = z[i, mis[a]]
                if lam.ndim == 3:
                    for b in range(a + 1, nm):
                        t -= L[kk, b, a] * v[b]
                v[a] = t / L[kk, a, a]
            for a in range(nm):
                j = mis[a]
                out[i, j] = means[k, j] + E[k, j] + v[a]


# signature: (X[n,d] f32|f64) -> (has_nan[n] bool, all_nan[n] bool, first_inf_row i64 or -1)
@kernel
def nan_rows(X):
    """Which rows hold a NaN, which are entirely NaN, and the first row holding an inf."""
    n, d = X.shape
    has = np.zeros(n, np.bool_)
    every = np.zeros(n, np.bool_)
    n_blocks = max(1, min(n, 256))
    per = (n + n_blocks - 1) // n_blocks
    bad = np.full(n_blocks, n, np.int64)
    for b in prange(n_blocks):
        for r in range(b * per, min(n, (b + 1) * per)):
            cnt = 0
            for j in range(d):
                v = X[r, j]
                if math.isnan(v):
                    cnt += 1
                elif math.isinf(v) and bad[b] == n:
                    bad[b] = r
            has[r] = cnt > 0
            every[r] = cnt == d
    first = -1
    for b in range(n_blocks):
        if bad[b] < n:
            first = bad[b]
            break
    return has, every, first
