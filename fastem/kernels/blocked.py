"""Register-blocked micro-kernels, written with the explicit vectors of :mod:`.simd`.

Both hot products of a full-covariance EM pass are small matrix products per tile and component:

* Mahalanobis: ``y = U^T diff`` with ``diff`` of shape ``(d, TILE)``; ``maha = sum_j y_j^2``.
  Vectors run over rows; a block of 4 row-vectors x 4 columns of ``y`` (16 registers) stays in
  registers for the whole reduction over ``i``.
* Scatter: ``S += rd^T diff`` over the tile's rows, with ``rd = r * diff`` in row-major
  ``(TILE, dp)`` layout. Vectors run over the columns ``j``; a block of 4 rows ``i`` x 2 column
  vectors stays in registers for the whole reduction over the tile's rows. Only blocks that touch
  the lower triangle (``j <= i``) are computed.
* Diagonal layouts: the per-row sums of squares and both statistics sums stay in registers.

Each multiply-add loads about one value, against three loads and a store for a loop that keeps
its accumulator in memory. Arrays are zero-padded to whole vectors so no loop has a remainder.
"""
from __future__ import annotations

import numpy as np
from ._jit import helper
from . import simd

#: Columns of ``y`` per Mahalanobis block (the factor is padded to a multiple of this).
COLS = 4
#: Rows ``i`` of the scatter per block.
ROWS = 4


@helper
def padded_factor(prec):
    """The precision factor as the kernels read it.

    Square factors ``(K|1, d, d)`` (upper triangular) are copied into ``(K|1, d, dc)`` with
    ``dc`` a multiple of :data:`COLS` and zeros below the diagonal and in the padding; diagonal
    factors are returned as they are.
    """
    if prec.ndim != 3:
        return prec
    kp, d, _ = prec.shape
    out = np.zeros((kp, d, (d + COLS - 1) // COLS * COLS), prec.dtype)
    for k in range(kp):
        for i in range(d):
            for j in range(i, d):
                out[k, i, j] = prec[k, i, j]
    return out


@helper
def padded_width(d, like):
    """``d`` rounded up to whole vectors of ``like``'s dtype."""
    lanes = simd.lanes_of_array(like)
    return (d + lanes - 1) // lanes * lanes


# signature: (diff[d, T] C-contiguous, U[K|1, d, dc] padded factor, kp int, maha[T]) -> None
@helper
def mahalanobis_tile(diff, U, kp, maha):
    """``maha[t] = || U[kp]^T diff[:, t] ||^2`` for every row ``t`` of the tile (all ``T``)."""
    d, n_rows = diff.shape
    dc = U.shape[2]
    lanes = simd.lanes_of_array(maha)
    for r0 in range(0, n_rows, lanes):
        simd.store(maha, r0, simd.zeros(maha))
    for j0 in range(0, dc, COLS):
        i_end = min(j0 + COLS, d)
        for r0 in range(0, n_rows, 4 * lanes):
            a00 = simd.zeros(maha)
            a01 = simd.zeros(maha)
            a02 = simd.zeros(maha)
            a03 = simd.zeros(maha)
            a10 = simd.zeros(maha)
            a11 = simd.zeros(maha)
            a12 = simd.zeros(maha)
            a13 = simd.zeros(maha)
            a20 = simd.zeros(maha)
            a21 = simd.zeros(maha)
            a22 = simd.zeros(maha)
            a23 = simd.zeros(maha)
            a30 = simd.zeros(maha)
            a31 = simd.zeros(maha)
            a32 = simd.zeros(maha)
            a33 = simd.zeros(maha)
            for i in range(i_end):
                base = i * n_rows + r0
                x0 = simd.load(diff, base, maha)
                x1 = simd.load(diff, base + lanes, maha)
                x2 = simd.load(diff, base + 2 * lanes, maha)
                x3 = simd.load(diff, base + 3 * lanes, maha)
                u = simd.splat(maha, U[kp, i, j0])
                a00 = simd.fma(x0, u, a00)
                a10 = simd.fma(x1, u, a10)
                a20 = simd.fma(x2, u, a20)
                a30 = simd.fma(x3, u, a30)
                u = simd.splat(maha, U[kp, i, j0 + 1])
                a01 = simd.fma(x0, u, a01)
                a11 = simd.fma(x1, u, a11)
                a21 = simd.fma(x2, u, a21)
                a31 = simd.fma(x3, u, a31)
                u = simd.splat(maha, U[kp, i, j0 + 2])
                a02 = simd.fma(x0, u, a02)
                a12 = simd.fma(x1, u, a12)
                a22 = simd.fma(x2, u, a22)
                a32 = simd.fma(x3, u, a32)
                u = simd.splat(maha, U[kp, i, j0 + 3])
                a03 = simd.fma(x0, u, a03)
                a13 = simd.fma(x1, u, a13)
                a23 = simd.fma(x2, u, a23)
                a33 = simd.fma(x3, u, a33)
            _add_squares(maha, r0, a00, a01, a02, a03)
            _add_squares(maha, r0 + lanes, a10, a11, a12, a13)
            _add_squares(maha, r0 + 2 * lanes, a20, a21, a22, a23)
            _add_squares(maha, r0 + 3 * lanes, a30, a31, a32, a33)


@helper
def _add_squares(out, off, a, b, c, e):
    s = simd.load(out, off, out)
    s = simd.fma(a, a, s)
    s = simd.fma(b, b, s)
    s = simd.fma(c, c, s)
    s = simd.fma(e, e, s)
    simd.store(out, off, s)


# signature: (xr[T, dp] f64 row-major tile, nt, rw[T] f64 weights of component k,
#             shift[K, dp] f64 zero-padded, k, diff[T, dp] and rd[T, dp] f64 out,
#             S1[K, dp] f64) -> None
@helper
def shifted_tile(xr, nt, rw, shift, k, diff, rd, S1):
    """``diff_t = x_t - shift_k`` and ``rd_t = rw_t diff_t`` for the first ``nt`` rows, and
    ``S1[k] += sum_t rd_t`` (padding columns stay zero)."""
    dp = diff.shape[1]
    lanes = simd.lanes_of_array(diff)
    for t in range(nt):
        r = simd.splat(diff, rw[t])
        for jo in range(0, dp, lanes):
            dv = simd.sub(simd.load(xr, t * dp + jo, diff), simd.load(shift, k * dp + jo, diff))
            simd.store(diff, t * dp + jo, dv)
            simd.store(rd, t * dp + jo, simd.mul(r, dv))
    for jo in range(0, dp, lanes):
        a = simd.zeros(diff)
        for t in range(nt):
            a = simd.add(a, simd.load(rd, t * dp + jo, diff))
        _add_to(S1, k * dp + jo, a)


# signature: (xr[T, dp] f64, nt, rw[T] f64, shift[K, dp] f64 zero-padded, k,
#             S[K, dp] f64, S1[K, dp] f64) -> None
@helper
def diagonal_statistics_tile(xr, nt, rw, shift, k, S, S1):
    """``S1[k] += sum_t rw_t d_t`` and ``S[k] += sum_t rw_t d_t^2`` (``d_t = x_t - shift_k``),
    both sums held in registers over the tile's rows (float64)."""
    dp = xr.shape[1]
    lanes = simd.lanes_of_array(xr)
    for jo in range(0, dp, lanes):
        m = simd.load(shift, k * dp + jo, xr)
        a1 = simd.zeros(xr)
        a2 = simd.zeros(xr)
        for t in range(nt):
            dv = simd.sub(simd.load(xr, t * dp + jo, xr), m)
            rv = simd.mul(simd.splat(xr, rw[t]), dv)
            a1 = simd.add(a1, rv)
            a2 = simd.fma(rv, dv, a2)
        _add_to(S1, k * dp + jo, a1)
        _add_to(S, k * dp + jo, a2)


# signature: (xt[d, T] f64, means[K, d] f64, prec[K, d] (any float), const[K], k,
#             logp[K, T] f64 out) -> None
@helper
def diagonal_log_prob_tile(xt, means, prec, const, k, logp):
    """``logp[k, t] = const_k - 0.5 sum_i ((x_it - mu_ki) p_ki)^2`` for every row of the tile,
    with 4 row-vectors of sums in registers (float64)."""
    d, n_rows = xt.shape
    lanes = simd.lanes_of_array(xt)
    half = simd.splat(xt, -0.5)
    c = simd.splat(xt, const[k])
    for r0 in range(0, n_rows, 4 * lanes):
        a0 = simd.zeros(xt)
        a1 = simd.zeros(xt)
        a2 = simd.zeros(xt)
        a3 = simd.zeros(xt)
        for i in range(d):
            m = simd.splat(xt, means[k, i])
            p = simd.splat(xt, prec[k, i])
            base = i * n_rows + r0
            z = simd.mul(simd.sub(simd.load(xt, base, xt), m), p)
            a0 = simd.fma(z, z, a0)
            z = simd.mul(simd.sub(simd.load(xt, base + lanes, xt), m), p)
            a1 = simd.fma(z, z, a1)
            z = simd.mul(simd.sub(simd.load(xt, base + 2 * lanes, xt), m), p)
            a2 = simd.fma(z, z, a2)
            z = simd.mul(simd.sub(simd.load(xt, base + 3 * lanes, xt), m), p)
            a3 = simd.fma(z, z, a3)
        out = k * n_rows + r0
        simd.store(logp, out, simd.fma(a0, half, c))
        simd.store(logp, out + lanes, simd.fma(a1, half, c))
        simd.store(logp, out + 2 * lanes, simd.fma(a2, half, c))
        simd.store(logp, out + 3 * lanes, simd.fma(a3, half, c))


# signature: (nt, diff[T, dp] f64, rd[T, dp] f64, ks, S[Ks, dr, dp] f64) -> None
@helper
def scatter_tile(nt, diff, rd, ks, S):
    """``S[ks, i, j] += sum_t rd[t, i] diff[t, j]`` on every block that meets ``j <= i``."""
    dp = diff.shape[1]
    lanes = simd.lanes_of_array(diff)
    n_vec = dp // lanes
    d_rows = S.shape[1]
    for i0 in range(0, d_rows, ROWS):
        v_end = min((i0 + ROWS + lanes - 1) // lanes, n_vec)
        for v in range(0, v_end, 2):
            jo = v * lanes
            out = (ks * d_rows + i0) * dp + jo
            if v + 1 < v_end:
                a00 = simd.zeros(diff)
                a01 = simd.zeros(diff)
                a10 = simd.zeros(diff)
                a11 = simd.zeros(diff)
                a20 = simd.zeros(diff)
                a21 = simd.zeros(diff)
                a30 = simd.zeros(diff)
                a31 = simd.zeros(diff)
                for t in range(nt):
                    y0 = simd.load(diff, t * dp + jo, diff)
                    y1 = simd.load(diff, t * dp + jo + lanes, diff)
                    b = simd.splat(diff, rd[t, i0])
                    a00 = simd.fma(b, y0, a00)
                    a01 = simd.fma(b, y1, a01)
                    b = simd.splat(diff, rd[t, i0 + 1])
                    a10 = simd.fma(b, y0, a10)
                    a11 = simd.fma(b, y1, a11)
                    b = simd.splat(diff, rd[t, i0 + 2])
                    a20 = simd.fma(b, y0, a20)
                    a21 = simd.fma(b, y1, a21)
                    b = simd.splat(diff, rd[t, i0 + 3])
                    a30 = simd.fma(b, y0, a30)
                    a31 = simd.fma(b, y1, a31)
                _add_to(S, out, a00)
                _add_to(S, out + lanes, a01)
                _add_to(S, out + dp, a10)
                _add_to(S, out + dp + lanes, a11)
                _add_to(S, out + 2 * dp, a20)
                _add_to(S, out + 2 * dp + lanes, a21)
                _add_to(S, out + 3 * dp, a30)
                _add_to(S, out + 3 * dp + lanes, a31)
            else:
                a00 = simd.zeros(diff)
                a10 = simd.zeros(diff)
                a20 = simd.zeros(diff)
                a30 = simd.zeros(diff)
                for t in range(nt):
                    y0 = simd.load(diff, t * dp + jo, diff)
                    a00 = simd.fma(simd.splat(diff, rd[t, i0]), y0, a00)
                    a10 = simd.fma(simd.splat(diff, rd[t, i0 + 1]), y0, a10)
                    a20 = simd.fma(simd.splat(diff, rd[t, i0 + 2]), y0, a20)
                    a30 = simd.fma(simd.splat(diff, rd[t, i0 + 3]), y0, a30)
                _add_to(S, out, a00)
                _add_to(S, out + dp, a10)
                _add_to(S, out + 2 * dp, a20)
                _add_to(S, out + 3 * dp, a30)


@helper
def _add_to(S, off, a):
    simd.store(S, off, simd.add(simd.load(S, off, a), a))


# signature: (xt[d, T] f64, eta[K, d] f64, const[K] f64, logp[K, T] f64 out) -> None
@helper
def linear_tile(xt, eta, const, logp):
    """``logp[k, t] = const_k + sum_i eta[k, i] xt[i, t]`` for every row of the tile: blocks of
    4 row-vectors x 4 components (16 registers) over the reduction on ``i``, then single
    components for the last ``K mod 4``."""
    d, n_rows = xt.shape
    n_components = eta.shape[0]
    lanes = simd.lanes_of_array(logp)
    k_full = n_components // 4 * 4
    for r0 in range(0, n_rows, 4 * lanes):
        for k0 in range(0, k_full, 4):
            c = simd.splat(logp, const[k0])
            a00, a10, a20, a30 = c, c, c, c
            c = simd.splat(logp, const[k0 + 1])
            a01, a11, a21, a31 = c, c, c, c
            c = simd.splat(logp, const[k0 + 2])
            a02, a12, a22, a32 = c, c, c, c
            c = simd.splat(logp, const[k0 + 3])
            a03, a13, a23, a33 = c, c, c, c
            for i in range(d):
                base = i * n_rows + r0
                x0 = simd.load(xt, base, logp)
                x1 = simd.load(xt, base + lanes, logp)
                x2 = simd.load(xt, base + 2 * lanes, logp)
                x3 = simd.load(xt, base + 3 * lanes, logp)
                e = simd.splat(logp, eta[k0, i])
                a00 = simd.fma(x0, e, a00)
                a10 = simd.fma(x1, e, a10)
                a20 = simd.fma(x2, e, a20)
                a30 = simd.fma(x3, e, a30)
                e = simd.splat(logp, eta[k0 + 1, i])
                a01 = simd.fma(x0, e, a01)
                a11 = simd.fma(x1, e, a11)
                a21 = simd.fma(x2, e, a21)
                a31 = simd.fma(x3, e, a31)
                e = simd.splat(logp, eta[k0 + 2, i])
                a02 = simd.fma(x0, e, a02)
                a12 = simd.fma(x1, e, a12)
                a22 = simd.fma(x2, e, a22)
                a32 = simd.fma(x3, e, a32)
                e = simd.splat(logp, eta[k0 + 3, i])
                a03 = simd.fma(x0, e, a03)
                a13 = simd.fma(x1, e, a13)
                a23 = simd.fma(x2, e, a23)
                a33 = simd.fma(x3, e, a33)
            _store_rows(logp, k0 * n_rows + r0, lanes, a00, a10, a20, a30)
            _store_rows(logp, (k0 + 1) * n_rows + r0, lanes, a01, a11, a21, a31)
            _store_rows(logp, (k0 + 2) * n_rows + r0, lanes, a02, a12, a22, a32)
            _store_rows(logp, (k0 + 3) * n_rows + r0, lanes, a03, a13, a23, a33)
        for k in range(k_full, n_components):
            c = simd.splat(logp, const[k])
            a0, a1, a2, a3 = c, c, c, c
            for i in range(d):
                base = i * n_rows + r0
                e = simd.splat(logp, eta[k, i])
                a0 = simd.fma(simd.load(xt, base, logp), e, a0)
                a1 = simd.fma(simd.load(xt, base + lanes, logp), e, a1)
                a2 = simd.fma(simd.load(xt, base + 2 * lanes, logp), e, a2)
                a3 = simd.fma(simd.load(xt, base + 3 * lanes, logp), e, a3)
            _store_rows(logp, k * n_rows + r0, lanes, a0, a1, a2, a3)


@helper
def _store_rows(out, off, lanes, a0, a1, a2, a3):
    simd.store(out, off, a0)
    simd.store(out, off + lanes, a1)
    simd.store(out, off + 2 * lanes, a2)
    simd.store(out, off + 3 * lanes, a3)


# signature: (xr[T, dp] f64 row-major tile, nt, rw[Kp, T] f64 with Kp a multiple of 4,
#             acc[Kp, dp] f64, acc_c[Kp, dp] or [0, dp] f64) -> None
@helper
def weighted_sums_tile(xr, nt, rw, acc, acc_c):
    """``acc[k, j] += sum_t rw[k, t] xr[t, j]`` over the tile's first ``nt`` rows, and, when
    ``acc_c`` has rows, the complement ``acc_c[k, j] += sum_t rw[k, t] (1 - xr[t, j])``.

    Vectors run over the columns ``j``; a block of 4 components x 2 column vectors (and as many
    complement sums) stays in registers for the whole reduction over the rows, each lane summing
    its rows in order."""
    dp = xr.shape[1]
    lanes = simd.lanes_of_array(xr)
    n_vec = dp // lanes
    complement = acc_c.shape[0] > 0
    one = simd.splat(xr, 1.0)
    for k0 in range(0, rw.shape[0], 4):
        for v in range(0, n_vec, 2):
            jo = v * lanes
            two = v + 1 < n_vec
            a00 = simd.zeros(xr)
            a01 = simd.zeros(xr)
            a10 = simd.zeros(xr)
            a11 = simd.zeros(xr)
            a20 = simd.zeros(xr)
            a21 = simd.zeros(xr)
            a30 = simd.zeros(xr)
            a31 = simd.zeros(xr)
            c00 = simd.zeros(xr)
            c01 = simd.zeros(xr)
            c10 = simd.zeros(xr)
            c11 = simd.zeros(xr)
            c20 = simd.zeros(xr)
            c21 = simd.zeros(xr)
            c30 = simd.zeros(xr)
            c31 = simd.zeros(xr)
            for t in range(nt):
                x0 = simd.load(xr, t * dp + jo, xr)
                x1 = simd.load(xr, t * dp + jo + lanes, xr) if two else simd.zeros(xr)
                b0 = simd.splat(xr, rw[k0, t])
                b1 = simd.splat(xr, rw[k0 + 1, t])
                b2 = simd.splat(xr, rw[k0 + 2, t])
                b3 = simd.splat(xr, rw[k0 + 3, t])
                a00 = simd.fma(b0, x0, a00)
                a01 = simd.fma(b0, x1, a01)
                a10 = simd.fma(b1, x0, a10)
                a11 = simd.fma(b1, x1, a11)
                a20 = simd.fma(b2, x0, a20)
                a21 = simd.fma(b2, x1, a21)
                a30 = simd.fma(b3, x0, a30)
                a31 = simd.fma(b3, x1, a31)
                if complement:
                    y0 = simd.sub(one, x0)
                    y1 = simd.sub(one, x1)
                    c00 = simd.fma(b0, y0, c00)
                    c01 = simd.fma(b0, y1, c01)
                    c10 = simd.fma(b1, y0, c10)
                    c11 = simd.fma(b1, y1, c11)
                    c20 = simd.fma(b2, y0, c20)
                    c21 = simd.fma(b2, y1, c21)
                    c30 = simd.fma(b3, y0, c30)
                    c31 = simd.fma(b3, y1, c31)
            out = k0 * dp + jo
            _add_to(acc, out, a00)
            _add_to(acc, out + dp, a10)
            _add_to(acc, out + 2 * dp, a20)
            _add_to(acc, out + 3 * dp, a30)
            if two:
                _add_to(acc, out + lanes, a01)
                _add_to(acc, out + dp + lanes, a11)
                _add_to(acc, out + 2 * dp + lanes, a21)
                _add_to(acc, out + 3 * dp + lanes, a31)
            if complement:
                _add_to(acc_c, out, c00)
                _add_to(acc_c, out + dp, c10)
                _add_to(acc_c, out + 2 * dp, c20)
                _add_to(acc_c, out + 3 * dp, c30)
                if two:
                    _add_to(acc_c, out + lanes, c01)
                    _add_to(acc_c, out + dp + lanes, c11)
                    _add_to(acc_c, out + 2 * dp + lanes, c21)
                    _add_to(acc_c, out + 3 * dp + lanes, c31)


# signature: (ct[d, T] int64, eta_t[m, Kp] f64, const_p[Kp] f64, lp_t[T, Kp] f64 out) -> None
@helper
def gather_sums_tile(ct, eta_t, const_p, lp_t):
    """``lp_t[t, k] = const_p[k] + sum_i eta_t[ct[i, t], k]`` (one-hot codes), with ``Kp`` a
    multiple of the vector width: blocks of 4 component vectors stay in registers over the
    reduction on ``i`` (each lane adds its codes in order)."""
    d, n_rows = ct.shape
    kp = eta_t.shape[1]
    lanes = simd.lanes_of_array(eta_t)
    block = 4 * lanes
    k4 = kp // block * block
    for t in range(n_rows):
        out = t * kp
        for k0 in range(0, k4, block):
            a0 = simd.load(const_p, k0, eta_t)
            a1 = simd.load(const_p, k0 + lanes, eta_t)
            a2 = simd.load(const_p, k0 + 2 * lanes, eta_t)
            a3 = simd.load(const_p, k0 + 3 * lanes, eta_t)
            for i in range(d):
                base = ct[i, t] * kp + k0
                a0 = simd.add(a0, simd.load(eta_t, base, eta_t))
                a1 = simd.add(a1, simd.load(eta_t, base + lanes, eta_t))
                a2 = simd.add(a2, simd.load(eta_t, base + 2 * lanes, eta_t))
                a3 = simd.add(a3, simd.load(eta_t, base + 3 * lanes, eta_t))
            _store_rows(lp_t, out + k0, lanes, a0, a1, a2, a3)
        for k0 in range(k4, kp, lanes):
            a = simd.load(const_p, k0, eta_t)
            for i in range(d):
                a = simd.add(a, simd.load(eta_t, ct[i, t] * kp + k0, eta_t))
            simd.store(lp_t, out + k0, a)


# signature: (ct[d, T] int64, nt, rw_t[T, Kp] f64, acc_t[m, Kp] f64) -> None
@helper
def scatter_sums_tile(ct, nt, rw_t, acc_t):
    """``acc_t[ct[i, t], k] += rw_t[t, k]`` for the tile's first ``nt`` rows and every column
    ``i`` (``Kp`` a multiple of the vector width); each row's weights stay in registers while
    they are added to its ``d`` codes' rows."""
    d = ct.shape[0]
    kp = acc_t.shape[1]
    lanes = simd.lanes_of_array(acc_t)
    block = 4 * lanes
    k4 = kp // block * block
    for t in range(nt):
        src = t * kp
        for k0 in range(0, k4, block):
            b0 = simd.load(rw_t, src + k0, acc_t)
            b1 = simd.load(rw_t, src + k0 + lanes, acc_t)
            b2 = simd.load(rw_t, src + k0 + 2 * lanes, acc_t)
            b3 = simd.load(rw_t, src + k0 + 3 * lanes, acc_t)
            for i in range(d):
                base = ct[i, t] * kp + k0
                _add_to(acc_t, base, b0)
                _add_to(acc_t, base + lanes, b1)
                _add_to(acc_t, base + 2 * lanes, b2)
                _add_to(acc_t, base + 3 * lanes, b3)
        for k0 in range(k4, kp, lanes):
            b = simd.load(rw_t, src + k0, acc_t)
            for i in range(d):
                _add_to(acc_t, ct[i, t] * kp + k0, b)


# signature: (xr[T, dp] f64 row-major tile, eta_t[d, Kp] f64, const_p[Kp] f64,
#             lp_t[T, Kp] f64 out) -> None
@helper
def linear_rows_tile(xr, eta_t, const_p, lp_t):
    """``lp_t[t, k] = const_p[k] + sum_i xr[t, i] eta_t[i, k]`` (``Kp`` a multiple of the vector
    width): vectors run over components, so a row-major tile needs no transposition; blocks of
    4 rows x 2 component vectors stay in registers over the reduction on ``i``. The layout for
    few components (one or two vectors), where :func:`linear_tile` would spend more on
    transposing the tile than on the product."""
    n_rows, dp = xr.shape
    d, kp = eta_t.shape
    lanes = simd.lanes_of_array(lp_t)
    for r0 in range(0, n_rows, 4):
        for k0 in range(0, kp, 2 * lanes):
            two = k0 + lanes < kp
            c0 = simd.load(const_p, k0, lp_t)
            c1 = simd.load(const_p, k0 + lanes, lp_t) if two else c0
            a00, a10, a20, a30 = c0, c0, c0, c0
            a01, a11, a21, a31 = c1, c1, c1, c1
            for i in range(d):
                e0 = simd.load(eta_t, i * kp + k0, lp_t)
                e1 = simd.load(eta_t, i * kp + k0 + lanes, lp_t) if two else e0
                b = simd.splat(lp_t, xr[r0, i])
                a00 = simd.fma(b, e0, a00)
                a01 = simd.fma(b, e1, a01)
                b = simd.splat(lp_t, xr[r0 + 1, i])
                a10 = simd.fma(b, e0, a10)
                a11 = simd.fma(b, e1, a11)
                b = simd.splat(lp_t, xr[r0 + 2, i])
                a20 = simd.fma(b, e0, a20)
                a21 = simd.fma(b, e1, a21)
                b = simd.splat(lp_t, xr[r0 + 3, i])
                a30 = simd.fma(b, e0, a30)
                a31 = simd.fma(b, e1, a31)
            out = r0 * kp + k0
            simd.store(lp_t, out, a00)
            simd.store(lp_t, out + kp, a10)
            simd.store(lp_t, out + 2 * kp, a20)
            simd.store(lp_t, out + 3 * kp, a30)
            if two:
                simd.store(lp_t, out + lanes, a01)
                simd.store(lp_t, out + kp + lanes, a11)
                simd.store(lp_t, out + 2 * kp + lanes, a21)
                simd.store(lp_t, out + 3 * kp + lanes, a31)


# signature: (xt[d, T] f64 (0 where missing), ot[d, T] f64 0/1 observed, means[K, d],
#             prec[K, d] f64, lg[K, d] f64 = log prec, c f64, base[T] f64, k,
#             logp[K, T] f64 out) -> None
@helper
def masked_diagonal_log_prob_tile(xt, ot, means, prec, lg, c, base, k, logp):
    """``logp[k, t] = c + base[t] + sum_j o_jt lg_kj - 1/2 sum_j ((x_jt - mu_kj) p_kj o_jt)^2``
    for every row of the tile: the diagonal log-density over each row's observed entries
    (``c`` carries ``-sum_j lg_kj``, ``base`` the missing entries' ``1/2 log 2 pi``), with 4
    row-vectors of both sums in registers."""
    d, n_rows = xt.shape
    lanes = simd.lanes_of_array(xt)
    half = simd.splat(xt, -0.5)
    cv = simd.splat(xt, c)
    for r0 in range(0, n_rows, 4 * lanes):
        a0 = simd.zeros(xt)
        a1 = simd.zeros(xt)
        a2 = simd.zeros(xt)
        a3 = simd.zeros(xt)
        b0 = simd.zeros(xt)
        b1 = simd.zeros(xt)
        b2 = simd.zeros(xt)
        b3 = simd.zeros(xt)
        for i in range(d):
            m = simd.splat(xt, -means[k, i])
            p = simd.splat(xt, prec[k, i])
            g = simd.splat(xt, lg[k, i])
            base_i = i * n_rows + r0
            # x - o mu in one rounding: x - mu where observed (as the complete kernel has
            # it), 0 where missing (x is stored as 0 there)
            o = simd.load(ot, base_i, xt)
            z = simd.mul(simd.fma(o, m, simd.load(xt, base_i, xt)), p)
            a0 = simd.fma(z, z, a0)
            b0 = simd.fma(o, g, b0)
            o = simd.load(ot, base_i + lanes, xt)
            z = simd.mul(simd.fma(o, m, simd.load(xt, base_i + lanes, xt)), p)
            a1 = simd.fma(z, z, a1)
            b1 = simd.fma(o, g, b1)
            o = simd.load(ot, base_i + 2 * lanes, xt)
            z = simd.mul(simd.fma(o, m, simd.load(xt, base_i + 2 * lanes, xt)), p)
            a2 = simd.fma(z, z, a2)
            b2 = simd.fma(o, g, b2)
            o = simd.load(ot, base_i + 3 * lanes, xt)
            z = simd.mul(simd.fma(o, m, simd.load(xt, base_i + 3 * lanes, xt)), p)
            a3 = simd.fma(z, z, a3)
            b3 = simd.fma(o, g, b3)
        out = k * n_rows + r0
        _store_masked(logp, out, base, r0, cv, half, a0, b0)
        _store_masked(logp, out + lanes, base, r0 + lanes, cv, half, a1, b1)
        _store_masked(logp, out + 2 * lanes, base, r0 + 2 * lanes, cv, half, a2, b2)
        _store_masked(logp, out + 3 * lanes, base, r0 + 3 * lanes, cv, half, a3, b3)


@helper
def _store_masked(logp, out, base, r, cv, half, a, b):
    """``logp[out:] = cv + base[r:] + b - 1/2 a`` (one vector)."""
    simd.store(logp, out, simd.fma(a, half, simd.add(simd.add(cv, simd.load(base, r, a)), b)))


# signature: (xr[T, dp] f64 (0 where missing), orr[T, dp] f64 0/1 observed, nt,
#             rw[T] f64, tot = sum rw, shift[K, dp] f64, var[K, dp] f64 (zero-padded), k,
#             S[K, dp] f64, S1[K, dp] f64) -> None
@helper
def masked_diagonal_statistics_tile(xr, orr, nt, rw, tot, shift, var, k, S, S1):
    """``S1[k] += sum_t rw_t d_t`` and ``S[k] += sum_t rw_t (d_t^2 + (1 - o_t) var_k)`` with
    ``d_t = (x_t - shift_k) o_t``: the expected statistics of rows with missing entries
    filled by the component's mean and variance, all sums in registers over the tile's rows
    (vectors over columns); the variance term is ``var_k (tot - sum_t rw_t o_t)``."""
    dp = xr.shape[1]
    lanes = simd.lanes_of_array(xr)
    total = simd.splat(xr, tot)
    for jo in range(0, dp, lanes):
        m = simd.sub(simd.zeros(xr), simd.load(shift, k * dp + jo, xr))
        a1 = simd.zeros(xr)
        a2 = simd.zeros(xr)
        a3 = simd.zeros(xr)
        for t in range(nt):
            o = simd.load(orr, t * dp + jo, xr)
            dv = simd.fma(o, m, simd.load(xr, t * dp + jo, xr))
            r = simd.splat(xr, rw[t])
            rv = simd.mul(r, dv)
            a1 = simd.add(a1, rv)
            a2 = simd.fma(rv, dv, a2)
            a3 = simd.fma(r, o, a3)
        _add_to(S1, k * dp + jo, a1)
        _add_to(S, k * dp + jo,
                simd.fma(simd.load(var, k * dp + jo, xr), simd.sub(total, a3), a2))
