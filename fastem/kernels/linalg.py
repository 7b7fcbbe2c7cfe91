"""Small dense linear algebra on K x d x d stacks: Cholesky factors of precisions.

Written here rather than through ``np.linalg`` so that no BLAS/LAPACK thread pool wakes up
between EM iterations (its spinning workers steal a core from the next parallel pass), and so
that the first singular component can be named in the error.
"""
from __future__ import annotations

import math

import numpy as np

from ._jit import helper


# signature: (a[d,d] f64 symmetric, L[d,d] f64 out) -> bool (False if not positive definite)
@helper
def cholesky_into(a, L):
    """Lower-triangular ``L`` with ``a = L @ L.T``; returns False at a non-positive pivot."""
    d = a.shape[0]
    L[:, :] = 0.0
    for j in range(d):
        s = a[j, j]
        for p in range(j):
            s -= L[j, p] * L[j, p]
        if not s > 0.0 or not math.isfinite(s):
            return False
        ljj = math.sqrt(s)
        L[j, j] = ljj
        for i in range(j + 1, d):
            v = a[i, j]
            for p in range(j):
                v -= L[i, p] * L[j, p]
            L[i, j] = v / ljj
    return True


# signature: (cov[K,d,d] f64) -> (prec_chol[K,d,d] f64 upper, first_bad int)
@helper
def precision_cholesky_full(cov):
    """Upper-triangular ``U_k`` with ``inv(cov_k) = U_k @ U_k.T``; ``first_bad`` = -1 if all ok.

    ``cov_k = L L.T`` (Cholesky) gives ``U_k = inv(L).T``.
    """
    n_components, d, _ = cov.shape
    out = np.zeros_like(cov)
    L = np.empty((d, d))
    for k in range(n_components):
        if not cholesky_into(cov[k], L):
            return out, k
        # Solve L @ Y = I column by column (forward substitution); U = Y.T.
        for c in range(d):
            for i in range(c, d):
                v = 1.0 if i == c else 0.0
                for p in range(c, i):
                    v -= L[i, p] * out[k, c, p]
                out[k, c, i] = v / L[i, i]
    return out, -1


# signature: (prec[K,d,d] f64) -> (prec_chol[K,d,d] f64 upper, first_bad int)
@helper
def upper_cholesky(prec):
    """Upper-triangular ``U_k`` with ``prec_k = U_k @ U_k.T``.

    With ``J`` the reversal permutation, ``J prec J = L L.T`` gives ``U = J L J``.
    """
    n_components, d, _ = prec.shape
    out = np.zeros_like(prec)
    rev = np.empty((d, d))
    L = np.empty((d, d))
    for k in range(n_components):
        for i in range(d):
            for j in range(d):
                rev[i, j] = prec[k, d - 1 - i, d - 1 - j]
        if not cholesky_into(rev, L):
            return out, k
        for i in range(d):
            for j in range(d):
                out[k, d - 1 - i, d - 1 - j] = L[i, j]
    return out, -1
