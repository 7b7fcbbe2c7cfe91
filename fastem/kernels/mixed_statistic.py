"""``T(x)`` of a mixed-type chunk in one pass over its rows (the statistic that the
linear-exponential pass reads; :meth:`fastem.families.mixed.MixedFamily.statistic`).

Row ``i`` of ``T``: the gaussian columns' ``y = x - shift`` then ``y**2`` (from column
``g0``), the bernoulli columns' ``x`` then ``1 - x`` (from ``b0``), the categorical columns
one-hot (from ``c0``, column ``j``'s code ``c`` at ``c0 + offsets[j] + c``), the poisson
columns' ``x`` (from ``p0``). Rows are independent, so the result does not depend on the
thread count. The caller has validated the values (codes in range, no NaN); a code outside
``[0, C_j)`` is skipped rather than written outside its block.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import kernel


# signature: (X[n, D] any real/int dtype, gcols[g] i64, shift[g] f64, bcols[b] i64,
#             ccols[c] i64, offsets[c+1] i64, pcols[p] i64, starts[4] i64 (g0, b0, c0, p0),
#             T[n, width] f64 out) -> None
@kernel
def mixed_statistic_chunk(X, gcols, shift, bcols, ccols, offsets, pcols, starts, T):
    """Fill ``T`` (see the module docstring)."""
    n = X.shape[0]
    ng = gcols.shape[0]
    nbern = bcols.shape[0]
    ncat = ccols.shape[0]
    npois = pcols.shape[0]
    g0, b0, c0, p0 = starts[0], starts[1], starts[2], starts[3]
    for i in prange(n):
        for j in range(ng):
            y = np.float64(X[i, gcols[j]]) - shift[j]
            T[i, g0 + j] = y
            T[i, g0 + ng + j] = y * y
        for j in range(nbern):
            v = np.float64(X[i, bcols[j]])
            T[i, b0 + j] = v
            T[i, b0 + nbern + j] = 1.0 - v
        if ncat > 0:
            for j in range(offsets[ncat]):
                T[i, c0 + j] = 0.0
            for j in range(ncat):
                code = np.int64(X[i, ccols[j]])
                if 0 <= code < offsets[j + 1] - offsets[j]:
                    T[i, c0 + offsets[j] + code] = 1.0
        for j in range(npois):
            T[i, p0 + j] = np.float64(X[i, pcols[j]])
