"""Student-t mixtures over rows with missing (NaN) entries: exact EM over the observed
coordinates, on the Gaussian missing-value machinery of :mod:`.missing_pass`.

The marginal of a multivariate t over the observed coordinates ``o`` (``p = |o|``) is a t
with the same ``nu``, location ``mu_o`` and scale ``Sigma_oo``, so per row and component
(``delta2`` the observed block's squared Mahalanobis distance, from the precision-form
conditional of :mod:`.missing_pass`, with ``Lam = Sigma^-1``)::

    log w + log t_p(x_o) = base_k - 1/2 log det Lam_mm + lg[p, k]
                           - (nu + p)/2 log(1 + delta2 / nu)
    base_k = log w_k + log det U_k
    lg[p, k] = lgamma((nu+p)/2) - lgamma(nu/2) - p/2 log(nu pi)

and the weight ``u = (nu + p) / (nu + delta2)``, whose log is ``la[p, k] - log1p(delta2 / nu)``
with ``la[p, k] = log((nu + p) / nu)`` (one logarithm per row and component). Given the
component and ``u`` the missing block is Gaussian with the conditional mean ``mu_m + delta``
and covariance ``C / u`` (``C = Lam_mm^-1``), so the expected statistics are (McLachlan &
Peel, 2000, sec. 7.6)::

    sum w r u e,    sum w r u e e^T + sum w r C (missing block),
    sum w r (log u + el[p, k] - u),    el[p, k] = psi((nu+p)/2) - log((nu+p)/2)

with ``e`` the filled difference about the means: the ``u``-weighted Gaussian statistics
plus ``C`` weighted by ``r`` alone, and the ECM statistic of ``nu`` with each row's own
``p`` (the caller passes ``el + la`` as one table). Rows go one by one, sorted by pattern
for square layouts so that one factorisation of ``Lam_mm`` serves a run of rows (diagonal
layouts need none: ``log det Lam_mm`` is a sum of the precisions' logarithms, tabulated once
per slot); fixed slots as in :mod:`.missing_pass`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._jit import helper, kernel
from .missing_pass import (_scratch, conditional_noise, factor_pattern, fill_mean,
                           normalise_row, read_pattern, row_log_prob, same_pattern)

_LOG_2PI = math.log(2.0 * math.pi)


# signature: (lp[K] in: row_log_prob with zero constants, out: log w + log t), u[K] out,
#             q[K] out (log u + el - u), ldm, nl, no, nm, base[K], nu[K], lg[D+1,K],
#             ela[D+1,K] (el + la)) -> None
@helper
def t_row(lp, u, q, ldm, nl, no, nm, base, nu, lg, ela):
    """Turn the Gaussian marginal terms of one row into Student-t log-densities."""
    half_m = 0.5 * nm * _LOG_2PI
    for k in range(lp.shape[0]):
        kk = k if nl > 1 else 0
        d2 = max(2.0 * (half_m - 0.5 * ldm[kk] - lp[k]), 0.0)
        v = nu[k]
        lz = math.log1p(d2 / v)
        lp[k] = base[k] - 0.5 * ldm[kk] + lg[no, k] - 0.5 * (v + no) * lz
        u[k] = (v + no) / (v + d2)
        q[k] = ela[no, k] - lz - u[k]


# signature: (X[n,d] with NaN, sample_weight[n] or [0], rows[m] i64, means[K,d], U (K|1,d,d)
#             or (K,d), lam (dense precisions or squared diagonal factors), base[K], nu[K],
#             lg[D+1,K], ela[D+1,K], nk[S,K], uk[S,K], s1[S,K,d], s2[S,...], aux[S,K],
#             ll[S,2], lpn[n] or [0], labels[n] i64 or [0], resp[n,K] or [0,K]) -> None
@kernel
def student_missing_chunk(X, sample_weight, rows, means, U, lam, base, nu, lg, ela, nk, uk,
                          s1, s2, aux, ll, lpn_out, labels_out, resp_out):
    """Statistics (about ``means``) of the given rows, each over its observed coordinates,
    and optionally their per-row log-likelihood (0.0 when every coordinate is missing),
    labels and responsibilities."""
    n_components, d = means.shape
    m = rows.shape[0]
    n_slots = nk.shape[0]
    per = (m + n_slots - 1) // n_slots
    weighted = sample_weight.shape[0] > 0
    want_lpn = lpn_out.shape[0] > 0
    want_labels = labels_out.shape[0] > 0
    want_resp = resp_out.shape[0] > 0
    square = s2.ndim == 4
    pooled = s2.shape[1] == 1
    nl = lam.shape[0]
    for s in prange(n_slots):
        mask, obs, mis, A, L, C, ldm, E, g, lp = _scratch(n_components, nl, d)
        zero = np.zeros(n_components)
        u = np.zeros(n_components)
        q = np.zeros(n_components)
        # Diagonal layouts: log det Lam_mm and C = 1 / Lam_mm from tables (no logarithm per
        # row and missing entry).
        log_lam = np.log(lam) if not square else np.zeros((1, 1))
        have = False
        no = 0
        nm = 0
        ll_sum = 0.0
        w_sum = 0.0
        for p in range(s * per, min(m, (s + 1) * per)):
            i = rows[p]
            if not same_pattern(X, i, mask, have):
                no, nm = read_pattern(X, i, mask, obs, mis)
                if square:
                    factor_pattern(lam, mis, nm, A, L, C, ldm)
                else:
                    for k in range(n_components):
                        v = 0.0
                        for a in range(nm):
                            v += log_lam[k, mis[a]]
                        ldm[k] = v
                have = True
            # (With nothing observed the terms reduce to log w: responsibilities = weights.)
            row_log_prob(X, i, means, U, lam, zero, obs, no, mis, nm, C, ldm, E, g, lp)
            t_row(lp, u, q, ldm, nl, no, nm, base, nu, lg, ela)
            if want_labels:
                best = 0
                for k in range(1, n_components):
                    if lp[k] > lp[best]:
                        best = k
                labels_out[i] = best
            lse = normalise_row(lp)
            if want_lpn:
                lpn_out[i] = lse if no > 0 else 0.0
            if want_resp:
                for k in range(n_components):
                    resp_out[i, k] = lp[k]
            if no == 0:
                continue
            w = sample_weight[i] if weighted else 1.0
            ll_sum += w * lse
            w_sum += w
            for k in range(n_components):
                wr = w * lp[k]
                if wr == 0.0:
                    continue
                wru = wr * u[k]
                kk = 0 if pooled else k
                nk[s, k] += wr
                uk[s, k] += wru
                aux[s, k] += wr * q[k]
                for j in range(d):
                    s1[s, k, j] += wru * E[k, j]
                ck = k if nl > 1 else 0
                if square:
                    for a in range(d):
                        ea = wru * E[k, a]
                        for b in range(a + 1):
                            s2[s, kk, a, b] += ea * E[k, b]
                    for a in range(nm):
                        for b in range(a + 1):
                            s2[s, kk, mis[a], mis[b]] += wr * C[ck, a, b]
                else:
                    for j in range(d):
                        s2[s, kk, j] += wru * E[k, j] * E[k, j]
                    for a in range(nm):
                        s2[s, kk, mis[a]] += wr / lam[k, mis[a]]
        ll[s, 0] = ll_sum
        ll[s, 1] = w_sum


# signature: (X[n,d] with NaN, rows[m] i64, means, U, lam, resp[n,K] f64 (the rows'
#             responsibilities), pick[n] i64 (a component per row, or [0] for the mean),
#             z[n,d] f64 (standard normal draws, or [0,d]), out[n,d] f64 (X's rows copied;
#             NaN entries overwritten), noise[n,d] and d2[n] f64 out (pick only)) -> None
@kernel
def student_fill_chunk(X, rows, means, U, lam, resp, pick, z, out, noise, d2):
    """Fill each NaN with ``sum_k r_k E_k[x_m | x_o]`` (the t conditional mean is the
    Gaussian one under the scale), or, with ``pick``, with the picked component's
    conditional mean, writing ``noise = L^-T z_m`` (covariance ``C = Lam_mm^-1``; the caller
    divides it by ``sqrt(tau)``) and ``d2`` the row's squared distance under it."""
    n_components, d = means.shape
    m = rows.shape[0]
    n_blocks = max(1, min(64, (m + 255) // 256))
    per = (m + n_blocks - 1) // n_blocks
    draw = pick.shape[0] > 0
    nl = lam.shape[0]
    for s in prange(n_blocks):
        mask, obs, mis, A, L, C, ldm, E, g, lp = _scratch(n_components, nl, d)
        zero = np.zeros(n_components)
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
            row_log_prob(X, i, means, U, lam, zero, obs, no, mis, nm, C, ldm, E, g, lp)
            if not draw:
                fill_mean(out, i, mis, nm, resp[i], means, E)
                continue
            k = pick[i]
            kk = k if nl > 1 else 0
            d2[i] = max(2.0 * (0.5 * nm * _LOG_2PI - 0.5 * ldm[kk] - lp[k]), 0.0)
            conditional_noise(z, i, mis, nm, L, kk, lam.ndim == 3, v)
            for a in range(nm):
                j = mis[a]
                out[i, j] = means[k, j] + E[k, j]
                noise[i, j] = v[a]
