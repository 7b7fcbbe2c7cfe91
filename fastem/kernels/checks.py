"""Input checks that must not allocate an n_samples-sized temporary."""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._jit import kernel


# signature: (X[n,d] f32|f64) -> first row index holding NaN or inf, or -1
@kernel
def first_nonfinite_row(X):
    """Index of the first row with a NaN or inf, or -1 when every value is finite."""
    n, d = X.shape
    n_blocks = min(n, 256)
    if n_blocks == 0:
        return -1
    per = (n + n_blocks - 1) // n_blocks
    bad = np.full(n_blocks, n, np.int64)
    for b in prange(n_blocks):
        for r in range(b * per, min(n, (b + 1) * per)):
            ok = True
            for i in range(d):
                if not math.isfinite(X[r, i]):
                    ok = False
            if not ok:
                bad[b] = r
                break
    for b in range(n_blocks):
        if bad[b] < n:
            return bad[b]
    return -1
