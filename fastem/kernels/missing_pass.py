"""The fused pass over rows with missing (NaN) entries: exact EM over the observed coordinates.

Chunks without NaN never come here (they go through the unchanged kernels of :mod:`.em_pass`,
which under a nan_policy other than "raise" stop at a chunk's first tile holding a NaN or inf).
Of a full or tied float64 chunk with NaN every row comes, the complete ones first, whose tiles
take the complete kernel's helpers; a diagonal chunk with NaN comes whole, in file order, and
its kernel scans for NaN itself. For a row with observed coordinates ``o`` and missing ``m``, and a
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
when few entries are missing), its inverse ``C`` and the gain ``B = -C Lam_mo`` serve every
row of one missingness pattern: the caller sorts full and tied rows by pattern and cuts them
into tiles, *pure* tiles of one pattern and *mixed* tiles of runs too short for tiles of their
own (entries missing at random: near-unique patterns). A pure tile is a complete-data tile
over its ``|o|`` observed coordinates, with the upper factor of the marginal precision
``Sigma_oo^{-1} = Lam_oo + Lam_om B`` formed once per pattern; its statistics over ``o`` are
summed while the pattern lasts and then expanded to all coordinates (``e_m = B e_o``, so
``S_mo += B S_oo`` and ``S_mm += B S_oo B^T``), which costs less than a complete tile when
many entries are missing. In a mixed tile the factors of all components are formed at once
(loops over components innermost, which vectorise) and ``delta`` is solved for with them,
row by row or run by run; per row that is ``O(K (|m| |o| + |m|^3 / 6))`` on top of the
complete-data work. Diagonal layouts need no sorting (``Lam_mm`` is diagonal and ``delta`` is
zero: fill with ``mu`` and add the variances).

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

from . import simd
from ._jit import TILE, helper, kernel
from .linalg import cholesky_into
from .blocked import (COLS, ROWS, diagonal_log_prob_tile, mahalanobis_tile,
                      masked_diagonal_log_prob_tile,
                      masked_diagonal_statistics_tile, padded_factor, padded_width,
                      scatter_tile)
from .tiles import (accumulate_tile, local_scatter, log_prob_tile, normalise_tile,
                    row_major_width, weigh_responsibilities)

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


# signature: (out[n,d] f64, i, mis, nm, r[K] f64 responsibilities, means[K,d],
#             E[K,d] (filled differences)) -> None
@helper
def fill_mean(out, i, mis, nm, r, means, E):
    """Row ``i``'s missing entries: the responsibility-weighted conditional means."""
    for a in range(nm):
        j = mis[a]
        acc = 0.0
        for k in range(means.shape[0]):
            acc += r[k] * (means[k, j] + E[k, j])
        out[i, j] = acc


# signature: (z[n,d] f64 standard normal draws, i, mis, nm, L (K',d,d) lower factors of
#             Lam_mm (diagonal layouts: their diagonals), kk, square bool, v[d] f64 out)
#             -> None
@helper
def conditional_noise(z, i, mis, nm, L, kk, square, v):
    """``v = L^-T z_m``, a draw of covariance ``L^-T L^-1 = Lam_mm^-1`` (back substitution)."""
    for a in range(nm - 1, -1, -1):
        t = z[i, mis[a]]
        if square:
            for b in range(a + 1, nm):
                t -= L[kk, b, a] * v[b]
        v[a] = t / L[kk, a, a]


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
                fill_mean(out, i, mis, nm, lp, means, E)
                continue
            k = n_components - 1
            c = 0.0
            for kq in range(n_components):
                c += lp[kq]
                if u[i] < c:
                    k = kq
                    break
            kk = k if lam.shape[0] > 1 else 0
            conditional_noise(z, i, mis, nm, L, kk, lam.ndim == 3, v)
            for a in range(nm):
                j = mis[a]
                out[i, j] = means[k, j] + E[k, j] + v[a]


# signature: (X[n,d] f32|f64) -> (has_nan[n] bool, all_nan[n] bool, first_inf_row i64 or -1,
#             keys[n] u64 (_row_key of every row))
@kernel
def nan_rows(X):
    """Which rows hold a NaN, which are entirely NaN, the first row holding an inf, and each
    row's pattern key (see :func:`_row_key`)."""
    n, d = X.shape
    has = np.zeros(n, np.bool_)
    every = np.zeros(n, np.bool_)
    keys = np.zeros(n, np.uint64)
    n_blocks = max(1, min(n, 256))
    per = (n + n_blocks - 1) // n_blocks
    bad = np.full(n_blocks, n, np.int64)
    for b in prange(n_blocks):
        for r in range(b * per, min(n, (b + 1) * per)):
            cnt = 0
            infs = 0
            w = 0
            for j in range(d):      # branch-free, so the loop over a row vectorises
                v = X[r, j]
                cnt += v != v
                infs += abs(v) == np.inf
                w |= np.int64(v != v) << (j & 63)
            has[r] = cnt > 0
            every[r] = cnt == d
            keys[r] = np.uint64(w) if d <= 64 else _row_key(X, r, d)
            if infs > 0 and bad[b] == n:
                bad[b] = r
    first = -1
    for b in range(n_blocks):
        if bad[b] < n:
            first = bad[b]
            break
    return has, every, first, keys


# One tile of missing_diag_stats_chunk (``nt`` staged rows, all complete or all with NaN):
# log-densities, responsibilities (left in logp, their log-sum-exp in lpn), statistics, and
# the log-likelihood and weight sums (into ``sums``); a complete tile takes em_pass_chunk's
# helpers.
@helper
def _diagonal_tile(xt, ot, xr, orr, nt, complete, wt, rw, base, means, prec_c, prec, lg, c,
                   const, shift, var, logp, lpn, acc1, acc2, diff_t, rd_t, diff_r, rd_r, nk,
                   sums):
    n_components = means.shape[0]
    for k in range(n_components):
        if complete:
            diagonal_log_prob_tile(xt, means, prec_c, const, k, logp)
        else:
            masked_diagonal_log_prob_tile(xt, ot, means, prec, lg, c[k], base, k, logp)
    normalise_tile(logp, lpn)
    for t in range(nt):
        sums[0] += wt[t] * lpn[t]
        sums[1] += wt[t]
    if complete:
        accumulate_tile(xt, xr, nt, wt, shift, logp, rw, diff_t, rd_t, diff_r, rd_r, nk,
                        acc2, acc1)
        return
    for k in range(n_components):
        tot = weigh_responsibilities(logp, k, wt, nt, rw)
        nk[k] += tot
        if tot != 0.0:
            masked_diagonal_statistics_tile(xr, orr, nt, rw, tot, shift, var, k, acc2, acc1)


# signature: (X[n,d] f32|f64, sample_weight[n] f64 or [0], means[K,d], prec_c[K,d] f32|f64
#             (the complete-data kernel's compute precision), prec[K,d] f64 (diagonal
#             precision factors), const[K], nk[S,K], s1[S,K,d], s2[S,K,d], ll[S,3]) -> None
@kernel
def missing_diag_stats_chunk(X, sample_weight, means, prec_c, prec, const, nk, s1, s2, ll):
    """Expected statistics of a chunk that may hold NaN, for diagonal layouts, a tile of rows
    at a time; the chunk's NaN scan is fused in.

    Diagonal components need no factorisation: the conditional of a missing entry is its
    component's own mean and variance. A tile holds its rows with NaN read as 0 and a 0/1
    mask of the observed entries, so every loop runs over the tile's rows and vectorises as
    the complete-data kernel does: ``log p_k = const_k + sum_missing (1/2 log(2 pi) - log
    prec_kj) - 1/2 sum_observed ((x_j - mu_kj) prec_kj)^2``; the statistics add
    ``r (x_j - mu_kj)`` and ``r (x_j - mu_kj)^2`` for observed entries and ``r sigma_kj^2``
    to the second moment of missing ones. A row with nothing observed gets weight 0.

    The NaN scan is fused in (a separate one is a pass over memory a third as long as the
    diagonal E+M pass itself). Slots are those of :func:`.em_pass_chunk`; each stages its
    rows, in file order, into two tiles, one of complete rows and one of rows with NaN, and
    runs a tile when it is full (both partial tiles at the slot's end): a complete tile takes
    the complete-data kernel's helpers with ``prec_c``, so a complete row costs what it costs
    there even where rows with NaN are spread over the chunk (in block patterns nearly every
    64-row stretch of the file holds one). ``ll[s]``: log-likelihood sum, weight sum, first
    row holding an inf (-1 when none).
    """
    n, d = X.shape
    n_components = means.shape[0]
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
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
        r0 = s * per_slot
        r1 = min(n, r0 + per_slot)
        xt = np.zeros((d, TILE))
        ot = np.zeros((d, TILE))
        xc = np.zeros((TILE, dp))       # the staged complete rows
        wc = np.zeros(TILE)
        xm = np.zeros((TILE, dp))       # the staged rows with NaN (read as 0), their mask
        om = np.zeros((TILE, dp))
        wm = np.zeros(TILE)
        base = np.zeros(TILE)
        logp = np.zeros((n_components, TILE))
        lpn = np.empty(TILE)
        rw = np.zeros(TILE)
        acc1 = np.zeros((n_components, dp))
        acc2 = np.zeros((n_components, dp))
        wide = row_major_width(d, dp)
        diff_t = np.zeros((d, TILE))
        rd_t = np.zeros((d, TILE))
        diff_r = np.zeros((TILE, wide))
        rd_r = np.zeros((TILE, wide))
        sums = np.zeros(2)
        first_inf = -1
        n_c = 0
        n_m = 0
        for i in range(r0, r1 + 1):     # i == r1 reads nothing and runs the partial tiles
            if i < r1:
                bad = 0
                for j in range(d):          # a copy that counts NaN and inf; vectorises
                    v = np.float64(X[i, j])
                    xc[n_c, j] = v
                    bad += not abs(v) < np.inf
                w = sample_weight[i] if weighted else 1.0
                if bad == 0:
                    wc[n_c] = w
                    n_c += 1
                else:
                    cnt = 0
                    for j in range(d):      # branch-free: vectorises over the row
                        v = xc[n_c, j]
                        seen = v == v
                        xm[n_m, j] = v if seen else 0.0
                        om[n_m, j] = 1.0 if seen else 0.0
                        cnt += not seen
                    if cnt < bad and first_inf < 0:     # not every bad value a NaN
                        first_inf = i
                    base[n_m] = half * cnt
                    wm[n_m] = 0.0 if cnt == d else w
                    n_m += 1
            if n_c == TILE or (i == r1 and n_c > 0):
                for j in range(d):
                    for t in range(n_c):
                        xt[j, t] = xc[t, j]
                _diagonal_tile(xt, ot, xc, om, n_c, True, wc, rw, base, means, prec_c,
                               prec, lg, c, const, shift, var, logp, lpn, acc1, acc2,
                               diff_t, rd_t, diff_r, rd_r, nk[s], sums)
                n_c = 0
            if n_m == TILE or (i == r1 and n_m > 0):
                for j in range(d):
                    for t in range(n_m):
                        xt[j, t] = xm[t, j]
                        ot[j, t] = om[t, j]
                _diagonal_tile(xt, ot, xm, om, n_m, False, wm, rw, base, means, prec_c,
                               prec, lg, c, const, shift, var, logp, lpn, acc1, acc2,
                               diff_t, rd_t, diff_r, rd_r, nk[s], sums)
                n_m = 0
        for k in range(n_components):
            for j in range(d):
                s1[s, k, j] += acc1[k, j]
                s2[s, k, j] += acc2[k, j]
        ll[s, 0] = sums[0]
        ll[s, 1] = sums[1]
        ll[s, 2] = first_inf


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


# signature: (src[d,T] f64 C-contiguous, idx[d] i64, n_in, coef[d,d] f64, n_out,
#             out[d,T] f64 (may be src), oidx[d] i64) -> None   (T a multiple of 4 vectors)
@helper
def combine_tile(src, idx, n_in, coef, n_out, out, oidx):
    """``out[oidx[a], :] = sum_b coef[a, b] src[idx[b], :]`` over the whole tile, for
    ``a < n_out`` (no ``oidx[a]`` among ``idx``): blocks of 4 outputs x 4 row vectors stay
    in registers for the whole sum over ``b``."""
    n_rows = src.shape[1]
    lanes = simd.lanes_of_array(src)
    for r0 in range(0, n_rows, 4 * lanes):
        a = 0
        while a + 4 <= n_out:
            a00 = simd.zeros(src)
            a01 = simd.zeros(src)
            a02 = simd.zeros(src)
            a03 = simd.zeros(src)
            a10 = simd.zeros(src)
            a11 = simd.zeros(src)
            a12 = simd.zeros(src)
            a13 = simd.zeros(src)
            a20 = simd.zeros(src)
            a21 = simd.zeros(src)
            a22 = simd.zeros(src)
            a23 = simd.zeros(src)
            a30 = simd.zeros(src)
            a31 = simd.zeros(src)
            a32 = simd.zeros(src)
            a33 = simd.zeros(src)
            for b in range(n_in):
                base = idx[b] * n_rows + r0
                x0 = simd.load(src, base, src)
                x1 = simd.load(src, base + lanes, src)
                x2 = simd.load(src, base + 2 * lanes, src)
                x3 = simd.load(src, base + 3 * lanes, src)
                c = simd.splat(src, coef[a, b])
                a00 = simd.fma(x0, c, a00)
                a01 = simd.fma(x1, c, a01)
                a02 = simd.fma(x2, c, a02)
                a03 = simd.fma(x3, c, a03)
                c = simd.splat(src, coef[a + 1, b])
                a10 = simd.fma(x0, c, a10)
                a11 = simd.fma(x1, c, a11)
                a12 = simd.fma(x2, c, a12)
                a13 = simd.fma(x3, c, a13)
                c = simd.splat(src, coef[a + 2, b])
                a20 = simd.fma(x0, c, a20)
                a21 = simd.fma(x1, c, a21)
                a22 = simd.fma(x2, c, a22)
                a23 = simd.fma(x3, c, a23)
                c = simd.splat(src, coef[a + 3, b])
                a30 = simd.fma(x0, c, a30)
                a31 = simd.fma(x1, c, a31)
                a32 = simd.fma(x2, c, a32)
                a33 = simd.fma(x3, c, a33)
            _store4(out, oidx[a] * n_rows + r0, lanes, a00, a01, a02, a03)
            _store4(out, oidx[a + 1] * n_rows + r0, lanes, a10, a11, a12, a13)
            _store4(out, oidx[a + 2] * n_rows + r0, lanes, a20, a21, a22, a23)
            _store4(out, oidx[a + 3] * n_rows + r0, lanes, a30, a31, a32, a33)
            a += 4
        while a < n_out:
            a00 = simd.zeros(src)
            a01 = simd.zeros(src)
            a02 = simd.zeros(src)
            a03 = simd.zeros(src)
            for b in range(n_in):
                base = idx[b] * n_rows + r0
                c = simd.splat(src, coef[a, b])
                a00 = simd.fma(simd.load(src, base, src), c, a00)
                a01 = simd.fma(simd.load(src, base + lanes, src), c, a01)
                a02 = simd.fma(simd.load(src, base + 2 * lanes, src), c, a02)
                a03 = simd.fma(simd.load(src, base + 3 * lanes, src), c, a03)
            _store4(out, oidx[a] * n_rows + r0, lanes, a00, a01, a02, a03)
            a += 1


@helper
def _store4(out, off, lanes, a0, a1, a2, a3):
    simd.store(out, off, a0)
    simd.store(out, off + lanes, a1)
    simd.store(out, off + 2 * lanes, a2)
    simd.store(out, off + 3 * lanes, a3)


# signature: (lamT[d,d,K'], Cr[d,d,K'] (inverse_run), obs, no, mis, nm, Bt[d,d,K'] scratch,
#             B[K',d,d] out) -> None
@helper
def gain_run(lamT, Cr, obs, no, mis, nm, Bt, B):
    """``B[k] = -Lam_mm^-1 Lam_mo`` of every component (so ``delta = B e_o``; sums over
    components innermost, then stored component-first for :func:`combine_tile`)."""
    n_lam = lamT.shape[2]
    for a in range(nm):
        for b in range(no):
            ob = obs[b]
            for kk in range(n_lam):
                Bt[a, b, kk] = 0.0
            for c in range(nm):
                ac = a if a >= c else c
                cc = c if a >= c else a
                mc = mis[c]
                for kk in range(n_lam):
                    Bt[a, b, kk] -= Cr[ac, cc, kk] * lamT[mc, ob, kk]
    for kk in range(n_lam):
        for a in range(nm):
            for b in range(no):
                B[kk, a, b] = Bt[a, b, kk]


# signature: (xr[T,dp] f64 (NaN read as 0), nt, rw[T], shift[K,dp] zero-padded, k,
#             diffs[K,d,T], run_start[R+1], run_nm[R], run_mis[R,d], n_runs, diff[T,dp] out,
#             rd[T,dp] out, S1[K,dp]) -> None
@helper
def filled_tile(xr, nt, rw, shift, k, diffs, run_start, run_nm, run_mis, n_runs, diff, rd,
                S1):
    """Row-major ``e = x - mu_k`` with each row's missing entries replaced by its
    conditional shift from ``diffs``, ``rd = rw e`` and ``S1[k] += sum_t rd_t``."""
    dp = diff.shape[1]
    lanes = simd.lanes_of_array(diff)
    for t in range(nt):
        for jo in range(0, dp, lanes):
            simd.store(diff, t * dp + jo, simd.sub(simd.load(xr, t * dp + jo, diff),
                                                   simd.load(shift, k * dp + jo, diff)))
    for r in range(n_runs):
        for a in range(run_nm[r]):
            ma = run_mis[r, a]
            for t in range(run_start[r], min(run_start[r + 1], nt)):
                diff[t, ma] = diffs[k, ma, t]
    for jo in range(0, dp, lanes):
        acc = simd.zeros(diff)
        for t in range(nt):
            v = simd.mul(simd.splat(diff, rw[t]), simd.load(diff, t * dp + jo, diff))
            simd.store(rd, t * dp + jo, v)
            acc = simd.add(acc, v)
        simd.store(S1, k * dp + jo, simd.add(simd.load(S1, k * dp + jo, acc), acc))


# signature: (lamT[d,d,K'], B[K',d,d] (gain_run), obs, no, mis, nm, ldr[K'] (factor_run),
#             const[K], means[K,d], half_m, Uo[K',no,dco] out, const_o[K] out,
#             means_o[K,no] out, shift_o[K,dpo] out (zero-padded), rev[d,d], L[d,d]
#             scratch) -> bool (False when a marginal precision is not positive definite)
@helper
def marginal_run(lamT, B, obs, no, mis, nm, ldr, const, means, half_m, Uo, const_o, means_o,
                 shift_o, rev, L):
    """One pattern's rows as a complete-data problem over their ``no`` observed coordinates:
    the upper factors ``Uo[k]`` (padded as :func:`.padded_factor`) of the marginal
    precisions ``Sigma_oo^-1 = Lam_oo + Lam_om B_k`` (``B_k = -Lam_mm^-1 Lam_mo``), with
    ``const_o[k] = const[k] + |m|/2 log(2 pi) - 1/2 log det Lam_mm``, the observed block
    of the means, and the shift of the statistics."""
    n_components = means.shape[0]
    n_lam = lamT.shape[2]
    ro = rev[:no, :no]
    lo = L[:no, :no]
    for kk in range(n_lam):
        for i in range(no):             # J A J (J reverses the order): U = J chol(J A J) J
            oi = obs[no - 1 - i]
            for j in range(i + 1):
                jb = no - 1 - j
                v = lamT[oi, obs[jb], kk]
                for a in range(nm):
                    v += lamT[oi, mis[a], kk] * B[kk, a, jb]
                ro[i, j] = v
        if not cholesky_into(ro, lo):
            return False
        for i in range(no):
            for j in range(i, no):
                Uo[kk, i, j] = lo[no - 1 - i, no - 1 - j]
    for k in range(n_components):
        const_o[k] = const[k] + half_m - 0.5 * ldr[k if n_lam > 1 else 0]
        for b in range(no):
            means_o[k, b] = means[k, obs[b]]
            shift_o[k, b] = means[k, obs[b]]
    return True


# signature: (xt[d,T], xr[T,dp], nt, wt[T], obs, no, and marginal_run's means_o, Uo, const_o,
#             shift_o; xto[no,T], xro[T,wo], dto, rdto [no,T], dro, rdro [T,wo] scratch,
#             logp[K,T], lpn[T], rw[T], maha[T], nk[K], So, S1o, ll_sum, w_sum)
#             -> (ll_sum, w_sum)
@helper
def marginal_tile(xt, xr, nt, wt, obs, no, means_o, Uo, const_o, shift_o, xto, xro, dto,
                  rdto, dro, rdro, logp, lpn, rw, maha, nk, So, S1o, ll_sum, w_sum):
    """A pure tile as the complete-data tile over its observed coordinates: the tile's
    observed columns gathered, log-densities under the marginal problem of
    :func:`marginal_run`, responsibilities, and the statistics over ``o`` into ``So`` and
    ``S1o`` (:func:`expand_marginal` adds them to the full ones)."""
    for b in range(no):
        ob = obs[b]
        for t in range(TILE):
            xto[b, t] = xt[ob, t]
    if xro.shape[1] > 0:
        for t in range(nt):
            for b in range(no):
                xro[t, b] = xr[t, obs[b]]
    log_prob_tile(xto, nt, means_o, Uo, const_o, logp, dto, maha)
    normalise_tile(logp, lpn)
    for t in range(nt):
        ll_sum += wt[t] * lpn[t]
        w_sum += wt[t]
    accumulate_tile(xto, xro, nt, wt, shift_o, logp, rw, dto, rdto, dro, rdro, nk, So, S1o)
    return ll_sum, w_sum


# signature: (So[Ks,dro,dpo] (lower triangle), S1o[K,dpo], B[K',d,d], obs, no, mis, nm,
#             F[d,d], G[d,d] scratch, S (local_scatter), S1[K,dp]) -> None
@helper
def expand_marginal(So, S1o, B, obs, no, mis, nm, F, G, S, S1):
    """Add statistics summed over the observed coordinates of one pattern's rows to the
    full ones, each row's missing block filled by its conditional shift ``e_m = B_k e_o``:
    ``S1_o += S1o``, ``S1_m += B S1o``; ``S_oo += So``, ``S_mo += B So``,
    ``S_mm += B So B^T`` (lower triangles); then zero ``So`` and ``S1o``."""
    n_components = S1.shape[0]
    n_lam = B.shape[0]
    for k in range(n_components):
        kk = k if n_lam > 1 else 0
        for b in range(no):
            S1[k, obs[b]] += S1o[k, b]
        for a in range(nm):
            v = 0.0
            for b in range(no):
                v += B[kk, a, b] * S1o[k, b]
            S1[k, mis[a]] += v
        for b in range(no):
            S1o[k, b] = 0.0
    for ks in range(So.shape[0]):
        kk = ks if n_lam > 1 else 0
        for i in range(no):
            for j in range(i + 1):
                v = So[ks, i, j]
                F[i, j] = v
                F[j, i] = v
                S[ks, obs[i], obs[j]] += v
                So[ks, i, j] = 0.0
        for a in range(nm):
            ma = mis[a]
            for b in range(no):
                v = 0.0
                for c in range(no):
                    v += B[kk, a, c] * F[c, b]
                G[a, b] = v
                ob = obs[b]
                if ma > ob:
                    S[ks, ma, ob] += v
                else:
                    S[ks, ob, ma] += v
            for c in range(a + 1):
                v = 0.0
                for b in range(no):
                    v += G[a, b] * B[kk, c, b]
                S[ks, ma, mis[c]] += v


# signature: (xt[d,T], means[K,d], diffs[K,d,T] out) -> None
@helper
def fill_diffs(xt, means, diffs):
    """``diffs[k, j, t] = xt[j, t] - means[k, j]`` over the whole tile (``TILE`` rows: a
    trip count known when compiling)."""
    n_components, d = means.shape
    for k in range(n_components):
        for j in range(d):
            mu = means[k, j]
            for t in range(TILE):
                diffs[k, j, t] = xt[j, t] - mu


# signature: (Lr[d,d,K'] from factor_run, nm, Li[d,d,K'] scratch, Cr[d,d,K'] out) -> None
@helper
def inverse_run(Lr, nm, Li, Cr):
    """``Cr[a, b, k] = (Lam_mm^-1)[a, b]`` (``b <= a``) of every component at once, from the
    factor of :func:`factor_run` (``Li = L^-1`` column by column, then ``Li^T Li``; loops over
    components innermost)."""
    n_lam = Lr.shape[2]
    for b in range(nm):
        for kk in range(n_lam):
            Li[b, b, kk] = Lr[b, b, kk]
        for a in range(b + 1, nm):
            for kk in range(n_lam):
                Li[a, b, kk] = 0.0
            for p in range(b, a):
                for kk in range(n_lam):
                    Li[a, b, kk] -= Lr[a, p, kk] * Li[p, b, kk]
            for kk in range(n_lam):
                Li[a, b, kk] *= Lr[a, a, kk]
    for a in range(nm):
        for b in range(a + 1):
            for kk in range(n_lam):
                Cr[a, b, kk] = 0.0
            for p in range(a, nm):
                for kk in range(n_lam):
                    Cr[a, b, kk] += Li[p, a, kk] * Li[p, b, kk]


@helper
def _pattern_word(X, i, j0, j1):
    w = 0       # int64 bit arithmetic: branch-free, so the loop vectorises
    for j in range(j0, j1):
        v = X[i, j]
        w |= np.int64(v != v) << (j - j0)
    return w


@helper
def _row_key(X, i, d):
    """A 64-bit key of row ``i``'s missingness pattern: bit ``j`` set when column ``j`` is
    NaN (exact for ``d <= 64``); wider rows hash their 64-column words (equal patterns,
    equal keys; a collision only interleaves two patterns, which the kernels compare)."""
    if d <= 64:
        return np.uint64(_pattern_word(X, i, 0, d))
    h = np.uint64(0)
    for j0 in range(0, d, 64):   # splitmix64's finaliser of the running key and each word
        z = (h ^ np.uint64(_pattern_word(X, i, j0, min(d, j0 + 64)))) \
            + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        h = z ^ (z >> np.uint64(31))
    return h


@helper
def _square_scratch(n_components, n_lam, d):
    return (np.zeros((d, d, n_lam)), np.zeros((d, d, n_lam)), np.zeros((d, d, n_lam)),
            np.zeros(n_lam), np.zeros(n_lam), np.zeros((d, n_components)),
            np.zeros((d, n_components)), np.zeros((d, d, n_lam)))


#: The square kernel's slots take blocks of this many consecutive tiles in turn.
SLOT_TILES = 16


# signature: (X, sample_weight, rows, keys, tiles, n_complete, marginal_rows, slot,
#             n_slots (this slot's tiles: blocks slot, slot + n_slots, ... of SLOT_TILES
#             tiles), means[K,d], meansT[d,K], factor (padded_factor of U), lamT, const,
#             nk[K], s1[K,d], s2[K|1,d,d], ll[2]) -> None
#             (one slot of missing_square_stats_chunk)
@helper
def square_slot(X, sample_weight, rows, keys, tiles, n_complete, marginal_rows, slot,
                n_slots, means, meansT, factor, lamT, const, nk, s1, s2, ll):
    n_components, d = means.shape
    weighted = sample_weight.shape[0] > 0
    exact_keys = d <= 64
    n_lam = lamT.shape[2]
    dp = padded_width(d, means)
    half = 0.5 * _LOG_2PI
    mask = np.zeros(d, np.bool_)
    obs = np.zeros(d, np.int64)
    mis = np.zeros(d, np.int64)
    Lr, Li, Cr, ldr, prod, eo, y, SC = _square_scratch(n_components, n_lam, d)
    last_mis = np.zeros(d, np.int64)
    last_nm = -1
    Cbuf = np.zeros(TILE * d * n_lam)
    run_start = np.zeros(TILE + 1, np.int64)
    run_nm = np.zeros(TILE, np.int64)
    run_no = np.zeros(TILE, np.int64)
    run_off = np.zeros(TILE, np.int64)
    run_mis = np.zeros((TILE, d), np.int64)
    run_obs = np.zeros((TILE, d), np.int64)
    diffs = np.zeros((n_components, d, TILE))
    xt = np.zeros((d, TILE))
    xr = np.zeros((TILE, dp))
    Bt = np.zeros((d, d, n_lam))
    B = np.zeros((n_lam, d, d))
    gained = False
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
    S = local_scatter(s2, dp)
    S1 = np.zeros((n_components, dp))
    shift = np.zeros((n_components, dp))
    for k in range(n_components):
        for j in range(d):
            shift[k, j] = means[k, j]
    Rk = np.zeros(n_components)
    ll_sum = 0.0
    w_sum = 0.0
    dtile = np.zeros((d, TILE))
    rd_t = np.zeros((d, TILE))
    # A pure tile's rows as a problem over their observed coordinates (marginal_run): built
    # once per pattern, its statistics summed until the pattern changes (expand_marginal).
    mg_ready = False
    mg_ok = False
    mg_pending = False
    mg_no = 0
    mg_nm = 0
    mg_obs = np.zeros(d, np.int64)
    mg_mis = np.zeros(d, np.int64)
    Uo = np.zeros((n_lam, 1, COLS))
    const_o = np.zeros(n_components)
    means_o = np.zeros((n_components, 1))
    shift_o = np.zeros((n_components, 1))
    xto = np.zeros((1, TILE))
    xro = np.zeros((TILE, 1))
    dto = np.zeros((1, TILE))
    rdto = np.zeros((1, TILE))
    dro = np.zeros((TILE, 1))
    rdro = np.zeros((TILE, 1))
    So = np.zeros((S.shape[0], 1, 1))
    S1o = np.zeros((n_components, 1))
    F = np.zeros((d, d))
    G = np.zeros((d, d))
    n_tiles = tiles.shape[0] - 1
    for q in range(n_tiles):
        if (q // SLOT_TILES) % n_slots != slot:
            continue
        t0 = tiles[q]
        nt = tiles[q + 1] - t0
        if t0 + nt <= n_complete:       # complete rows: the complete-data kernel's tile
            for t in range(nt):
                i = rows[t0 + t]
                for j in range(d):
                    xr[t, j] = X[i, j]
                wt[t] = sample_weight[i] if weighted else 1.0
            for j in range(d):
                for t in range(nt):
                    xt[j, t] = xr[t, j]
            log_prob_tile(xt, nt, means, factor, const, logp, dtile, maha)
            normalise_tile(logp, lpn)
            for t in range(nt):
                ll_sum += wt[t] * lpn[t]
                w_sum += wt[t]
            accumulate_tile(xt, xr, nt, wt, shift, logp, rw, dtile, rd_t, diff_r, rd_r, nk,
                            S, S1)
            continue
        for t in range(nt):
            i = rows[t0 + t]
            for j in range(d):
                v = X[i, j]
                xr[t, j] = 0.0 if math.isnan(v) else v
        for j in range(d):
            for t in range(nt):
                xt[j, t] = xr[t, j]
        # The tile's runs of one pattern.
        n_runs = 0
        ta = 0
        need = 0
        while ta < nt:
            key = keys[t0 + ta]
            no, nm = read_pattern(X, rows[t0 + ta], mask, obs, mis)
            tb = ta + 1
            while tb < nt and keys[t0 + tb] == key and (
                    exact_keys or same_pattern(X, rows[t0 + tb], mask, True)):
                tb += 1
            run_start[n_runs] = ta
            run_nm[n_runs] = nm
            run_no[n_runs] = no
            run_off[n_runs] = need
            for a in range(nm):
                run_mis[n_runs, a] = mis[a]
            for b in range(no):
                run_obs[n_runs, b] = obs[b]
            need += nm * nm * n_lam
            n_runs += 1
            ta = tb
        run_start[n_runs] = nt
        if need > Cbuf.shape[0]:
            Cbuf = np.zeros(2 * need)
        pure = n_runs == 1 and run_nm[0] > 0 and run_no[0] > 0
        if not pure:
            fill_diffs(xt, means, diffs)
        use_mg = False
        for r in range(n_runs):
            ta = run_start[r]
            tb = run_start[r + 1]
            nm = run_nm[r]
            no = run_no[r]
            rmis = run_mis[r]
            robs = run_obs[r]
            if nm > 0:
                same = nm == last_nm
                for a in range(nm):
                    if same and rmis[a] != last_mis[a]:
                        same = False
                if not same:
                    if mg_pending:
                        expand_marginal(So, S1o, B, mg_obs, mg_no, mg_mis, mg_nm, F, G, S,
                                        S1)
                        mg_pending = False
                    factor_run(lamT, rmis, nm, Lr, ldr, prod)
                    inverse_run(Lr, nm, Li, Cr)
                    gained = False
                    mg_ready = False
                    last_nm = nm
                    for a in range(nm):
                        last_mis[a] = rmis[a]
                if tb - ta == nt:
                    if not gained:
                        gain_run(lamT, Cr, robs, no, rmis, nm, Bt, B)
                        gained = True
                    if pure and not mg_ready and (
                            t0 + marginal_rows > keys.shape[0]
                            or keys[t0 + marginal_rows - 1] != keys[t0]):
                        mg_ready = True     # the gain product costs less here
                        mg_ok = False
                    if pure and not mg_ready:
                        dco = (no + COLS - 1) // COLS * COLS
                        dpo = padded_width(no, means)
                        wide_o = row_major_width(no, dpo)
                        Uo = np.zeros((n_lam, no, dco))
                        means_o = np.zeros((n_components, no))
                        shift_o = np.zeros((n_components, dpo))
                        mg_ok = marginal_run(lamT, B, robs, no, rmis, nm, ldr, const,
                                             means, half * nm, Uo, const_o, means_o,
                                             shift_o, F, G)
                        xto = np.zeros((no, TILE))
                        xro = np.zeros((TILE, wide_o))
                        dto = np.zeros((no, TILE))
                        rdto = np.zeros((no, TILE))
                        dro = np.zeros((TILE, wide_o))
                        rdro = np.zeros((TILE, wide_o))
                        So = np.zeros((S.shape[0], (no + ROWS - 1) // ROWS * ROWS, dpo))
                        S1o = np.zeros((n_components, dpo))
                        mg_no = no
                        mg_nm = nm
                        for b in range(no):
                            mg_obs[b] = robs[b]
                        for a in range(nm):
                            mg_mis[a] = rmis[a]
                        mg_ready = True
                    use_mg = pure and mg_ok
                    if not use_mg:
                        if pure:
                            fill_diffs(xt, means, diffs)
                        for k in range(n_components):
                            combine_tile(diffs[k], robs, no, B[k if n_lam > 1 else 0], nm,
                                         diffs[k], rmis)
                elif tb - ta >= RUN_ROWS:
                    delta_run(diffs, ta, tb, lamT, robs, no, rmis, nm, Lr, g2)
                else:
                    for t in range(ta, tb):
                        delta_row(xt, t, meansT, lamT, robs, no, rmis, nm, Lr, eo, y,
                                  diffs)
                c = run_off[r]
                for a in range(nm):
                    for b in range(a + 1):
                        for kk in range(n_lam):
                            Cbuf[c] = Cr[a, b, kk]
                            c += 1
                for t in range(ta, tb):
                    for kk in range(n_lam):
                        ldmt[kk, t] = ldr[kk]
            else:
                for t in range(ta, tb):
                    for kk in range(n_lam):
                        ldmt[kk, t] = 0.0
            for t in range(ta, tb):
                wt[t] = 0.0 if no == 0 else (
                    sample_weight[rows[t0 + t]] if weighted else 1.0)
                halfm[t] = half * nm
        for t in range(nt, TILE):
            wt[t] = 0.0
        if use_mg:      # the complete-data tile over the observed coordinates
            ll_sum, w_sum = marginal_tile(xt, xr, nt, wt, mg_obs, mg_no, means_o, Uo,
                                          const_o, shift_o, xto, xro, dto, rdto, dro, rdro,
                                          logp, lpn, rw, maha, nk, So, S1o, ll_sum, w_sum)
            mg_pending = True
        else:
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
                tot = weigh_responsibilities(logp, k, wt, TILE, rw)
                nk[k] += tot
                if tot == 0.0:
                    continue
                ks = k if S.shape[0] > 1 else 0
                filled_tile(xr, nt, rw, shift, k, diffs, run_start, run_nm, run_mis,
                            n_runs, diff_r, rd_r, S1)
                scatter_tile(nt, diff_r, rd_r, ks, S)
        # Conditional covariances: per run, weighted by its summed responsibilities.
        for r in range(n_runs):
            nm = run_nm[r]
            if nm == 0:
                continue
            ta = run_start[r]
            tb = run_start[r + 1]
            for k in range(n_components):
                acc = 0.0
                for t in range(ta, tb):
                    acc += logp[k, t] * wt[t]
                Rk[k] = acc
            if n_lam == 1:
                acc = 0.0
                for k in range(n_components):
                    acc += Rk[k]
                Rk[0] = acc
            c = run_off[r]
            for a in range(nm):
                ma = run_mis[r, a]
                for b in range(a + 1):
                    mb = run_mis[r, b]
                    for kk in range(n_lam):
                        SC[ma, mb, kk] += Rk[kk] * Cbuf[c]
                        c += 1
    if mg_pending:
        expand_marginal(So, S1o, B, mg_obs, mg_no, mg_mis, mg_nm, F, G, S, S1)
    for k in range(n_components):
        for j in range(d):
            s1[k, j] += S1[k, j]
    for kq in range(s2.shape[0]):
        for i in range(d):
            for j in range(i + 1):
                s2[kq, i, j] += S[kq, i, j] + SC[i, j, kq]
    ll[0] = ll_sum
    ll[1] = w_sum


# signature: (X[n,d] f32|f64 with NaN, sample_weight[n] f64 or [0], rows[m] i64 (sorted by
#             pattern), keys[m] u64 (their _row_key), tiles[q+1] i64 (tile starts into
#             rows, then m), n_complete (rows[:n_complete] hold no NaN), marginal_rows
#             (a pure tile takes the marginal path when its pattern lasts at least this
#             many rows from it), means[K,d] f64, U (K|1,d,d) f64 upper, lamT (d,d,K|1)
#             f64 dense precisions (component last), const[K], nk[S,K], s1[S,K,d],
#             s2[S,K|1,d,d], ll[S,2]) -> None
@kernel
def missing_square_stats_chunk(X, sample_weight, rows, keys, tiles, n_complete,
                               marginal_rows, means, U, lamT, const, nk, s1, s2, ll):
    """Expected statistics (about ``means``) and log-likelihood sums of rows with NaN, for
    full and tied layouts (``U (K|1, d, d)`` upper factors, ``lamT (d, d, K|1)`` dense
    precisions with the component index last), a tile of rows at a time.

    The caller sorts the rows by pattern and cuts them into tiles (:func:`.tile_plan` in
    ``fastem.families.missing``): a *pure* tile holds rows of one pattern, a mixed tile the
    short runs of near-unique patterns. Slot ``s`` of ``S`` takes the blocks ``s, s + S, ...``
    of ``SLOT_TILES`` consecutive tiles: the cheap complete tiles come first and the costly
    mixed ones last, and a contiguous share per slot would leave one thread with most of the
    work (blocks rather than single tiles keep the reads of X in streams the prefetcher
    follows). Per run of one pattern in a tile: the factor of every component's ``Lam_mm``
    at once (:func:`factor_run`) and the conditional covariances ``Lam_mm^-1``
    (:func:`inverse_run`), both reused while consecutive tiles keep the pattern. A pure tile
    with something observed runs the complete-data tile helpers over its observed
    coordinates (:func:`marginal_run` forms the problem once per pattern, from the gain of
    :func:`gain_run`; :func:`expand_marginal` adds its summed statistics to the full ones
    when the pattern changes). Otherwise the conditional mean shift ``delta``: component by
    component over the rows (:func:`delta_run`; for a tile of one run, ``B e_o`` by
    :func:`combine_tile`), or row by row over the components (:func:`delta_row`) for runs
    shorter than ``RUN_ROWS``, then the complete-data kernel's register-blocked helpers on
    the filled rows: ``|U^T e|^2``, responsibilities, the first moment and scatter of ``e``.
    Per run, the conditional covariances weighted by the run's summed responsibilities go to
    a component-last accumulator of the missing blocks, added to the scatter when the slot
    ends.
    """
    n_slots = nk.shape[0]
    factor = padded_factor(U)
    meansT = np.ascontiguousarray(means.T)
    for s in prange(n_slots):
        square_slot(X, sample_weight, rows, keys, tiles, n_complete, marginal_rows, s,
                    n_slots, means, meansT, factor, lamT, const, nk[s], s1[s], s2[s], ll[s])
