"""Small dense linear algebra on K x d x d stacks: Cholesky factors of precisions.

Written here rather than through ``np.linalg`` so that no BLAS/LAPACK thread pool wakes up
between EM iterations (its spinning workers steal a core from the next parallel pass), and so
that the first singular component can be named in the error.
"""
from __future__ import annotations

import math

import numpy as np

from ._jit import helper


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
        L[:, :] = 0.0
        for j in range(d):
            s = cov[k, j, j]
            for p in range(j):
                s -= L[j, p] * L[j, p]
            if not s > 0.0 or not math.isfinite(s):
                return out, k
            ljj = math.sqrt(s)
            L[j, j] = ljj
            for i in range(j + 1, d):
                a = cov[k, i, j]
                for p in range(j):
                    a -= L[i, p] * L[j, p]
                L[i, j] = a / ljj
        # Solve L @ Y = I column by column (forward substitution); U = Y.T.
        for c in range(d):
            for i in range(c, d):
                a = 1.0 if i == c else 0.0
                for p in range(c, i):
                    a -= L[i, p] * out[k, c, p]
                out[k, c, i] = a / L[i, i]
    return out, -1


# signature: (prec[K,d,d] f64) -> (prec_chol[K,d,d] f64 upper, first_bad int)
@helper
def upper_cholesky(prec):
    """Upper-triangular ``U_k`` with ``prec_k = U_k @ U_k.T`` (Cholesky of the reversed matrix)."""
    n_components, d, _ = prec.shape
    out = np.zeros_like(prec)
    L = np.empty((d, d))
    for k in range(n_components):
        L[:, :] = 0.0
        for j in range(d):
            s = prec[k, d - 1 - j, d - 1 - j]
            for p in range(j):
                s -= L[j, p] * L[j, p]
            if not s > 0.0 or not math.isfinite(s):
                return out, k
            ljj = math.sqrt(s)
            L[j, j] = ljj
            for i in range(j + 1, d):
                a = prec[k, d - 1 - i, d - 1 - j]
                for p in range(j):
                    a -= L[i, p] * L[j, p]
                L[i, j] = a / ljj
        for i in range(d):
            for j in range(d):
                out[k, d - 1 - i, d - 1 - j] = L[i, j]
    return out, -1
