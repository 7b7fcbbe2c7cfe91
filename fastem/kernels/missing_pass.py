"""The fused pass over rows with missing (NaN) entries: exact EM over the observed coordinates.

Chunks without NaN never come here (they go through the unchanged kernels of :mod:`.em_pass`);
of a chunk with NaN, full and tied layouts send only the rows holding a NaN, diagonal layouts
every row (their tiled kernel costs what the complete one does). For a row with observed coordinates ``o`` and missing ``m``, and a
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
the caller sorts full and tied rows by pattern. When patterns are nearly unique (entries
missing at random) a run is one row, so the statistics kernel factors all components at once
(loops over components innermost, which vectorise), solves for ``delta`` with the factor
instead of forming ``C``, and forms ``C`` only for components with non-zero responsibility;
per row that is ``O(K (|m| |o| + |m|^3 / 6))`` on top of the complete-data work. Diagonal
layouts need no sorting (``Lam_mm`` is diagonal and ``delta`` is zero: fill with ``mu`` and
add the variances).

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

from ._jit import TILE, helper, kernel
from .linalg import cholesky_into
from .blocked import (mahalanobis_tile, masked_diagonal_log_prob_tile,
                      masked_diagonal_statistics_tile, padded_factor, padded_width, scatter_tile)
from .tiles import local_scatter, normalise_tile

_LOG_2PI = math.log(2.0 * math.pi)

#: Runs of one pattern at least this long take the per-component, row-vectorised path of
#: the square kernel; shorter ones (near-unique patterns) the per-row, component-vectorised
#: path (chosen by measurement, see docs/performance.md).
RUN_ROWS = 8


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


@helper
def _scratch(n_components, n_lam, d):
    return (np.zeros(d, np.bool_), np.zeros(d, np.int64), np.zeros(d, np.int64),
            np.zeros((d, d)), np.zeros((n_lam, d, d)), np.zeros((n_lam, d, d)),
            np.zeros(n_lam), np.zeros((n_components, d)), np.zeros(d),
            np.zeros(n_components))


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
            infs = 0
            for j in range(d):      # branch-free, so the loop over a row vectorises
                v = X[r, j]
                cnt += v != v
                infs += abs(v) == np.inf
            has[r] = cnt > 0
            every[r] = cnt == d
            if infs > 0 and bad[b] == n:
                bad[b] = r
    first = -1
    for b in range(n_blocks):
        if bad[b] < n:
            first = bad[b]
            break
    return has, every, first


# signature: (X[n,d] f32|f64 with NaN, sample_weight[n] f64 or [0], rows[m] i64, means[K,d],
#             prec[K,d] f64 (diagonal precision factors), const[K], nk[S,K], s1[S,K,d],
#             s2[S,K,d], ll[S,2]) -> None
@kernel
def missing_diag_stats_chunk(X, sample_weight, rows, means, prec, const, nk, s1, s2, ll):
    """Expected statistics of rows with NaN for diagonal layouts, a tile of rows at a time.

    Diagonal components need no factorisation: the conditional of a missing entry is its
    component's own mean and variance. A tile holds the rows with NaN read as 0 and a 0/1
    mask of the observed entries, so every loop runs over the tile's rows and vectorises as
    the complete-data kernel does: ``log p_k = const_k + sum_missing (1/2 log(2 pi) - log
    prec_kj) - 1/2 sum_observed ((x_j - mu_kj) prec_kj)^2``; the statistics add
    ``r (x_j - mu_kj)`` and ``r (x_j - mu_kj)^2`` for observed entries and ``r sigma_kj^2``
    to the second moment of missing ones. A row with nothing observed gets weight 0.
    """
    n_components, d = means.shape
    m = rows.shape[0]
    n_slots = nk.shape[0]
    per_slot = (m + n_slots - 1) // n_slots
    weighted = sample_weight.shape[0] > 0
    half = 0.5 * _LOG_2PI
    dp = padded_width(d, const)
    lg = np.zeros((n_components, d))
    c = np.zeros(n_components)
    shift = np.zeros((n_components, dp))
    var = np.zeros((n_components, dp))
    for k in range(n_components):
        c[k] = const[k]
        for j in range(d):
            p = np.float64(prec[k, j])
            lg[k, j] = math.log(p)
            c[k] -= lg[k, j]
            shift[k, j] = means[k, j]
            var[k, j] = 1.0 / (p * p)
    for s in prange(n_slots):
        p0 = s * per_slot
        p1 = min(m, p0 + per_slot)
        xt = np.zeros((d, TILE))
        ot = np.zeros((d, TILE))
        xr = np.zeros((TILE, dp))
        orr = np.zeros((TILE, dp))
        logp = np.zeros((n_components, TILE))
        lpn = np.empty(TILE)
        wt = np.zeros(TILE)
        rw = np.zeros(TILE)
        base = np.zeros(TILE)
        acc1 = np.zeros((n_components, dp))
        acc2 = np.zeros((n_components, dp))
        ll_sum = 0.0
        w_sum = 0.0
        for t0 in range(p0, p1, TILE):
            nt = min(TILE, p1 - t0)
            for t in range(TILE):
                if t >= nt:
                    wt[t] = 0.0
                    continue
                i = rows[t0 + t]
                cnt = 0
                for j in range(d):          # branch-free: vectorises over the row
                    v = np.float64(X[i, j])
                    seen = v == v
                    xr[t, j] = v if seen else 0.0
                    orr[t, j] = 1.0 if seen else 0.0
                    cnt += not seen
                base[t] = half * cnt
                wt[t] = 0.0 if cnt == d else (sample_weight[i] if weighted else 1.0)
            for j in range(d):
                for t in range(nt):
                    xt[j, t] = xr[t, j]
                    ot[j, t] = orr[t, j]
            for k in range(n_components):
                masked_diagonal_log_prob_tile(xt, ot, means, prec, lg, c[k], base, k, logp)
            normalise_tile(logp, lpn)
            for t in range(nt):
                ll_sum += wt[t] * lpn[t]
                w_sum += wt[t]
            for k in range(n_components):
                tot = 0.0
                for t in range(TILE):
                    r = logp[k, t] * wt[t]
                    rw[t] = r
                    tot += r
                nk[s, k] += tot
                if tot == 0.0:
                    continue
                masked_diagonal_statistics_tile(xr, orr, nt, rw, shift, var, k, acc2, acc1)
        for k in range(n_components):
            for j in range(d):
                s1[s, k, j] += acc1[k, j]
                s2[s, k, j] += acc2[k, j]
        ll[s, 0] = ll_sum
        ll[s, 1] = w_sum


# signature: (lamT[d,d,K'] dense precisions, component last, mis[d] i64, nm, Lr[d,d,K'] out,
#             ldr[K'] out, prod[K'] scratch) -> None
@helper
def factor_run(lamT, mis, nm, Lr, ldr, prod):
    """Lower Cholesky factor of every component's ``Lam_mm`` at once (loops over components
    innermost, so they vectorise): ``Lr[a, b, k]`` for ``b < a``, the *inverse* pivot
    ``1 / L_aa`` on the diagonal, and ``ldr[k] = log det Lam_mm``."""
    n_lam = lamT.shape[2]
    for kk in range(n_lam):
        prod[kk] = 1.0
    for j in range(nm):
        mj = mis[j]
        for kk in range(n_lam):
            Lr[j, j, kk] = lamT[mj, mj, kk]
        for p in range(j):
            for kk in range(n_lam):
                v = Lr[j, p, kk]
                Lr[j, j, kk] -= v * v
        for kk in range(n_lam):
            v = math.sqrt(max(Lr[j, j, kk], 1e-300))
            prod[kk] *= v
            Lr[j, j, kk] = 1.0 / v
        for i in range(j + 1, nm):
            mi = mis[i]
            for kk in range(n_lam):
                Lr[i, j, kk] = lamT[mi, mj, kk]
            for p in range(j):
                for kk in range(n_lam):
                    Lr[i, j, kk] -= Lr[i, p, kk] * Lr[j, p, kk]
            for kk in range(n_lam):
                Lr[i, j, kk] *= Lr[j, j, kk]
    for kk in range(n_lam):
        pr = prod[kk]
        if pr > 1e-150 and pr < 1e150:
            ldr[kk] = 2.0 * math.log(pr)
        else:
            ld = 0.0
            for j in range(nm):
                ld -= math.log(Lr[j, j, kk])
            ldr[kk] = 2.0 * ld


# signature: (xt[d,T], t, meansT[d,K], lamT[d,d,K'], obs, no, mis, nm, Lr[d,d,K'], eo[d,K],
#             y[d,K] scratch, diffs[K,d,T] out) -> None
@helper
def delta_row(xt, t, meansT, lamT, obs, no, mis, nm, Lr, eo, y, diffs):
    """``delta = -Lam_mm^-1 Lam_mo (x_o - mu_o)`` of one row for every component at once
    (two triangular solves with the factor of :func:`factor_run`), into ``diffs[:, mis, t]``."""
    n_components = meansT.shape[1]
    tied = lamT.shape[2] == 1
    for b in range(no):
        ob = obs[b]
        x = xt[ob, t]
        for k in range(n_components):
            eo[b, k] = x - meansT[ob, k]
    for a in range(nm):
        ma = mis[a]
        for k in range(n_components):
            y[a, k] = 0.0
        for b in range(no):
            ob = obs[b]
            if tied:
                c = lamT[ma, ob, 0]
                for k in range(n_components):
                    y[a, k] += c * eo[b, k]
            else:
                for k in range(n_components):
                    y[a, k] += lamT[ma, ob, k] * eo[b, k]
    for a in range(nm):
        for p in range(a):
            if tied:
                c = Lr[a, p, 0]
                for k in range(n_components):
                    y[a, k] -= c * y[p, k]
            else:
                for k in range(n_components):
                    y[a, k] -= Lr[a, p, k] * y[p, k]
        if tied:
            c = Lr[a, a, 0]
            for k in range(n_components):
                y[a, k] *= c
        else:
            for k in range(n_components):
                y[a, k] *= Lr[a, a, k]
    for a in range(nm - 1, -1, -1):
        for p in range(a + 1, nm):
            if tied:
                c = Lr[p, a, 0]
                for k in range(n_components):
                    y[a, k] -= c * y[p, k]
            else:
                for k in range(n_components):
                    y[a, k] -= Lr[p, a, k] * y[p, k]
        if tied:
            c = Lr[a, a, 0]
            for k in range(n_components):
                y[a, k] *= c
        else:
            for k in range(n_components):
                y[a, k] *= Lr[a, a, k]
    for a in range(nm):
        ma = mis[a]
        for k in range(n_components):
            diffs[k, ma, t] = -y[a, k]


# signature: (diffs[K,d,T] in/out, ta, tb, lamT, obs, no, mis, nm, Lr, g2[d,T] scratch) -> None
@helper
def delta_run(diffs, ta, tb, lamT, obs, no, mis, nm, Lr, g2):
    """As :func:`delta_row` for the rows ``ta..tb`` of one pattern, component by component
    (loops over the rows innermost)."""
    n_components = diffs.shape[0]
    n_lam = lamT.shape[2]
    for k in range(n_components):
        kk = k if n_lam > 1 else 0
        for a in range(nm):
            ma = mis[a]
            for t in range(ta, tb):
                g2[a, t] = 0.0
            for b in range(no):
                ob = obs[b]
                c = lamT[ma, ob, kk]
                for t in range(ta, tb):
                    g2[a, t] += c * diffs[k, ob, t]
        for a in range(nm):
            for p in range(a):
                c = Lr[a, p, kk]
                for t in range(ta, tb):
                    g2[a, t] -= c * g2[p, t]
            c = Lr[a, a, kk]
            for t in range(ta, tb):
                g2[a, t] *= c
        for a in range(nm - 1, -1, -1):
            for p in range(a + 1, nm):
                c = Lr[p, a, kk]
                for t in range(ta, tb):
                    g2[a, t] -= c * g2[p, t]
            c = Lr[a, a, kk]
            for t in range(ta, tb):
                g2[a, t] *= c
        for a in range(nm):
            ma = mis[a]
            for t in range(ta, tb):
                diffs[k, ma, t] = -g2[a, t]


# signature: (r weight, Lbuf flat, off, n_lam, kk, mis, nm, Li[d,d] scratch, s2slab, ks) -> None
@helper
def add_conditional(r, Lbuf, off, n_lam, kk, mis, nm, Li, s2, ks):
    """``s2[ks, mis, mis] += r * Lam_mm^-1`` from a stored factor (lower triangle)."""
    # Li = L^-1, column by column.
    for b in range(nm):
        Li[b, b] = Lbuf[off + (b * nm + b) * n_lam + kk]
        for a in range(b + 1, nm):
            v = 0.0
            for p in range(b, a):
                v -= Lbuf[off + (a * nm + p) * n_lam + kk] * Li[p, b]
            Li[a, b] = v * Lbuf[off + (a * nm + a) * n_lam + kk]
    for a in range(nm):
        ma = mis[a]
        for b in range(a + 1):
            v = 0.0
            for p in range(a, nm):
                v += Li[p, a] * Li[p, b]
            s2[ks, ma, mis[b]] += r * v


# signature: (X[n,d] f32|f64 with NaN, sample_weight[n] f64 or [0], rows[m] i64 (sorted by
#             pattern), means[K,d] f64, U (K|1,d,d) f64 upper, lamT (d,d,K|1) f64 dense
#             precisions (component last), const[K], nk[S,K], s1[S,K,d], s2[S,K|1,d,d],
#             ll[S,2]) -> None
@kernel
def missing_square_stats_chunk(X, sample_weight, rows, means, U, lamT, const, nk, s1, s2,
                               ll):
    """Expected statistics (about ``means``) and log-likelihood sums of rows with NaN, for
    full and tied layouts (``U (K|1, d, d)`` upper factors, ``lamT (d, d, K|1)`` dense
    precisions with the component index last), a tile of rows at a time.

    Per run of rows sharing a pattern in the tile (rows come sorted by pattern): the factor
    of every component's ``Lam_mm`` at once (:func:`factor_run`), then the conditional mean
    shift ``delta`` of the run's rows: row by row, vectorised over components
    (:func:`delta_row`), when the run is shorter than ``RUN_ROWS`` (near-unique patterns, as
    with entries missing at random), else component by component, vectorised over the run's
    rows (:func:`delta_run`). Per tile (the complete-data kernel's register-blocked helpers):
    ``|U^T e|^2``, responsibilities, and the first moment and scatter of ``e``. Then per run,
    only for components with non-zero summed responsibility (tied: once), the conditional
    covariance ``Lam_mm^-1`` from the stored factor, weighted into the scatter's missing block
    (:func:`add_conditional`).
    """
    n_components, d = means.shape
    m = rows.shape[0]
    n_slots = nk.shape[0]
    per_slot = (m + n_slots - 1) // n_slots
    weighted = sample_weight.shape[0] > 0
    n_lam = lamT.shape[2]
    factor = padded_factor(U)
    dp = padded_width(d, means)
    meansT = np.ascontiguousarray(means.T)
    half = 0.5 * _LOG_2PI
    for s in prange(n_slots):
        p0 = s * per_slot
        p1 = min(m, p0 + per_slot)
        mask = np.zeros(d, np.bool_)
        obs = np.zeros(d, np.int64)
        mis = np.zeros(d, np.int64)
        Lr = np.zeros((d, d, n_lam))
        ldr = np.zeros(n_lam)
        prod = np.zeros(n_lam)
        eo = np.zeros((d, n_components))
        y = np.zeros((d, n_components))
        Li = np.zeros((d, d))
        Lbuf = np.zeros(TILE * d * d * n_lam)
        run_start = np.zeros(TILE + 1, np.int64)
        run_nm = np.zeros(TILE, np.int64)
        run_off = np.zeros(TILE, np.int64)
        run_mis = np.zeros((TILE, d), np.int64)
        diffs = np.zeros((n_components, d, TILE))
        xt = np.zeros((d, TILE))
        g2 = np.zeros((d, TILE))
        maha = np.zeros(TILE)
        logp = np.zeros((n_components, TILE))
        lpn = np.empty(TILE)
        wt = np.zeros(TILE)
        rw = np.zeros(TILE)
        halfm = np.zeros(TILE)
        ldmt = np.zeros((n_lam, TILE))
        diff_r = np.zeros((TILE, dp))
        rd_r = np.zeros((TILE, dp))
        S = local_scatter(s2[s], dp)
        S1 = np.zeros((n_components, d))
        Rk = np.zeros(n_components)
        ll_sum = 0.0
        w_sum = 0.0
        for t0 in range(p0, p1, TILE):
            nt = min(TILE, p1 - t0)
            for t in range(nt):
                i = rows[t0 + t]
                for j in range(d):
                    v = X[i, j]
                    xt[j, t] = 0.0 if math.isnan(v) else v
            for k in range(n_components):
                for j in range(d):
                    mu = means[k, j]
                    for t in range(TILE):
                        diffs[k, j, t] = xt[j, t] - mu
            ta = 0
            n_runs = 0
            off = 0
            while ta < nt:
                no, nm = read_pattern(X, rows[t0 + ta], mask, obs, mis)
                tb = ta + 1
                while tb < nt and same_pattern(X, rows[t0 + tb], mask, True):
                    tb += 1
                if nm > 0:
                    factor_run(lamT, mis, nm, Lr, ldr, prod)
                    if tb - ta >= RUN_ROWS:
                        delta_run(diffs, ta, tb, lamT, obs, no, mis, nm, Lr, g2)
                    else:
                        for t in range(ta, tb):
                            delta_row(xt, t, meansT, lamT, obs, no, mis, nm, Lr, eo, y, diffs)
                    q = off
                    for a in range(nm):
                        for b in range(nm):
                            for kk in range(n_lam):
                                Lbuf[q] = Lr[a, b, kk]
                                q += 1
                else:
                    for kk in range(n_lam):
                        ldr[kk] = 0.0
                for t in range(ta, tb):
                    wt[t] = 0.0 if no == 0 else (
                        sample_weight[rows[t0 + t]] if weighted else 1.0)
                    halfm[t] = half * nm
                    for kk in range(n_lam):
                        ldmt[kk, t] = ldr[kk]
                run_start[n_runs] = ta
                run_nm[n_runs] = nm
                run_off[n_runs] = off
                for a in range(nm):
                    run_mis[n_runs, a] = mis[a]
                n_runs += 1
                off += nm * nm * n_lam
                ta = tb
            run_start[n_runs] = nt
            for t in range(nt, TILE):
                wt[t] = 0.0
            for k in range(n_components):
                kk = k if n_lam > 1 else 0
                mahalanobis_tile(diffs[k], factor, kk, maha)
                c = const[k]
                for t in range(TILE):
                    logp[k, t] = c + halfm[t] - 0.5 * ldmt[kk, t] - 0.5 * maha[t]
            normalise_tile(logp, lpn)
            for t in range(nt):
                ll_sum += wt[t] * lpn[t]
                w_sum += wt[t]
            for k in range(n_components):
                tot = 0.0
                for t in range(TILE):
                    r = logp[k, t] * wt[t]
                    rw[t] = r
                    tot += r
                nk[s, k] += tot
                if tot == 0.0:
                    continue
                ks = k if S.shape[0] > 1 else 0
                for j in range(d):
                    a1 = 0.0
                    for t in range(nt):
                        v = diffs[k, j, t]
                        diff_r[t, j] = v
                        rd = rw[t] * v
                        rd_r[t, j] = rd
                        a1 += rd
                    S1[k, j] += a1
                scatter_tile(nt, diff_r, rd_r, ks, S)
            # Conditional covariances: per run, per component with any responsibility.
            s2s = s2[s]
            for q in range(n_runs):
                nm = run_nm[q]
                if nm == 0:
                    continue
                ta = run_start[q]
                tb = run_start[q + 1]
                for k in range(n_components):
                    r = 0.0
                    for t in range(ta, tb):
                        r += logp[k, t] * wt[t]
                    Rk[k] = r
                if n_lam == 1:
                    r = 0.0
                    for k in range(n_components):
                        r += Rk[k]
                    if r != 0.0:
                        add_conditional(r, Lbuf, run_off[q], 1, 0, run_mis[q], nm, Li, s2s, 0)
                else:
                    for k in range(n_components):
                        if Rk[k] != 0.0:
                            add_conditional(Rk[k], Lbuf, run_off[q], n_lam, k, run_mis[q],
                                            nm, Li, s2s, k)
        for k in range(n_components):
            for j in range(d):
                s1[s, k, j] += S1[k, j]
        for kq in range(s2.shape[1]):
            for i in range(d):
                for j in range(i + 1):
                    s2[s, kq, i, j] += S[kq, i, j]
        ll[s, 0] = ll_sum
        ll[s, 1] = w_sum
