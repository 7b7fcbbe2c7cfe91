"""The explicit-vector building blocks against NumPy: exp, log, log-sum-exp and the blocked
micro-kernels on their own (padding, odd sizes, both dtypes)."""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from fastem.kernels import simd
from fastem.kernels.blocked import (diagonal_statistics_tile, mahalanobis_tile, padded_factor,
                                    padded_width, scatter_tile, shifted_tile)
from fastem.kernels.tiles import CUTOFF, exp_vec, log_vec, normalise_tile

T = 64


@njit
def _exp_log(x, out_exp, out_log):
    for i in range(0, x.shape[0], 8):
        simd.store(out_exp, i, exp_vec(simd.load(x, i, x)))
        simd.store(out_log, i, log_vec(simd.load(x, i, x)))


def test_vector_exp_and_log_match_libm():
    x = -np.linspace(0.0, CUTOFF, 8 * 4001)
    e, lg = np.empty_like(x), np.empty_like(x)
    _exp_log(x, e, lg)
    np.testing.assert_allclose(e, np.exp(x), rtol=4e-15, atol=0)
    y = np.exp(np.linspace(-700.0, 700.0, 8 * 4001))
    _exp_log(y, e, lg)
    np.testing.assert_allclose(lg, np.log(y), rtol=4e-16, atol=4e-16)


@njit
def _normalise(logp, lpn):
    normalise_tile(logp, lpn)


@pytest.mark.parametrize("k", [1, 3, 16])
def test_log_sum_exp_tile_matches_numpy(k):
    rng = np.random.default_rng(k)
    logp = rng.standard_normal((k, T)) * 30.0
    if k > 1:
        logp[0, 5] = -np.inf  # a zero-weight component (a row always has a finite one)
    want_lpn = np.logaddexp.reduce(logp, axis=0)
    want = np.exp(logp - want_lpn)
    want[logp - logp.max(axis=0) < -CUTOFF] = 0.0
    lpn = np.empty(T)
    _normalise(logp, lpn)
    np.testing.assert_allclose(lpn, want_lpn, rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(logp, want, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(logp.sum(axis=0), 1.0, rtol=1e-14)


@njit
def _maha(diff, U, maha, out):
    for k in range(diff.shape[0]):
        mahalanobis_tile(diff[k], U, k, maha)
        out[k] = maha


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 3, 8, 13, 37])
def test_blocked_mahalanobis_matches_numpy(d, dtype):
    rng = np.random.default_rng(d)
    k = 3
    U = np.triu(rng.standard_normal((k, d, d))) + 3 * np.eye(d)
    diff = rng.standard_normal((k, d, T)).astype(dtype)
    out = np.zeros((k, T))
    _maha(diff, padded_factor(U.astype(dtype)), np.zeros(T, dtype), out)
    want = (np.einsum("kit,kij->ktj", diff.astype(np.float64), U) ** 2).sum(axis=-1)
    np.testing.assert_allclose(out, want, rtol=1e-13 if dtype == np.float64 else 3e-6)


@njit
def _stats(xr, nt, rw, shift, S, S1, D, D1):
    diff = np.zeros_like(xr)
    rd = np.zeros_like(xr)
    for k in range(shift.shape[0]):
        shifted_tile(xr, nt, rw[k], shift, k, diff, rd, S1)
        scatter_tile(nt, diff, rd, k, S)
        diagonal_statistics_tile(xr, nt, rw[k], shift, k, D, D1)


@pytest.mark.parametrize("d", [1, 5, 8, 13, 37])
def test_blocked_statistics_match_numpy(d):
    rng = np.random.default_rng(100 + d)
    k, nt = 3, 50  # a partial tile: rows past nt must not count
    dp = padded_width(d, np.zeros(1))
    dr = (d + 3) // 4 * 4
    xr = np.zeros((T, dp))
    xr[:, :d] = rng.standard_normal((T, d)) + 100.0
    shift = np.zeros((k, dp))
    shift[:, :d] = 100.0 + rng.standard_normal((k, d))
    rw = rng.random((k, T))
    S, S1 = np.zeros((k, dr, dp)), np.zeros((k, dp))
    D, D1 = np.zeros((k, dp)), np.zeros((k, dp))
    _stats(xr, nt, rw, shift, S, S1, D, D1)
    diff = xr[None, :nt, :d] - shift[:, None, :d]
    r = rw[:, :nt]
    want_s = np.einsum("kt,kti,ktj->kij", r, diff, diff)
    want_s1 = np.einsum("kt,kti->ki", r, diff)
    low = np.tril(np.ones((d, d), bool))
    np.testing.assert_allclose(S[:, :d, :d][:, low], want_s[:, low], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S1[:, :d], want_s1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(D[:, :d], np.einsum("kti,kti->ki", diff * r[..., None], diff),
                               rtol=1e-12)
    np.testing.assert_allclose(D1[:, :d], want_s1, rtol=1e-12, atol=1e-12)
    assert not S1[:, d:].any() and not D1[:, d:].any()  # padding stays zero
