"""Input validation: arrays, sample weights and user-given initial parameters.

``validate_*`` functions raise a clear error or return cleaned input.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .kernels.checks import first_nonfinite_row


def validate_data(X, *, n_features: Optional[int] = None, owner: str = "GaussianMixture",
                  what: str = "X", row_offset: int = 0, context: str = "") -> np.ndarray:
    """A 2-D float32/float64 array with finite values (any memory layout is kept).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_features : int, optional
        Expected number of features (the fitted model's).
    row_offset : int
        Added to row numbers in messages (for chunks of a larger source).
    context : str
        Appended to the location in messages, e.g. " (chunk 12 of NpySource('big.npy'))".
    """
    arr = np.asarray(X)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind == "f" and arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise TypeError(f"{what} has dtype {arr.dtype!s}; fastem needs numeric data "
                        "(float32, float64, or integers, which are converted to float64).")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.ndim != 2:
        if arr.ndim == 1:
            raise ValueError(
                f"Expected a 2D array for {what}, got a 1D array of shape {arr.shape} instead. "
                "Reshape your data with array.reshape(-1, 1) if it has a single feature or "
                "array.reshape(1, -1) if it is a single sample.")
        raise ValueError(f"Expected a 2D array for {what}, got an array with ndim={arr.ndim} "
                         f"(shape {arr.shape}) instead.")
    if arr.shape[0] == 0:
        raise ValueError(f"{what} has 0 samples (shape={arr.shape}); at least 1 is required.")
    if arr.shape[1] == 0:
        raise ValueError(f"{what} has 0 features (shape={arr.shape}); at least 1 is required.")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{what} has {arr.shape[1]} features, but {owner} is expecting "
                         f"{n_features} features as input.")
    bad = first_nonfinite_row(arr)
    if bad >= 0:
        raise ValueError(f"{what} contains NaN or inf; first bad row is {bad + row_offset:,}"
                         f"{context}. Drop or impute those rows.")
    return arr


def validate_sample_weight(sample_weight, n_samples: int) -> Optional[np.ndarray]:
    """A float64 vector of non-negative finite weights with a positive sum, or ``None``."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight has shape {w.shape}; expected ({n_samples},), one "
                         "weight per row of X.")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(f"sample_weight must be finite and non-negative; "
                         f"sample_weight[{bad[0]}] is {float(w[bad[0]])!r}.")
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to 0; at least one row needs a positive weight.")
    return w


def validate_init(family, n_components: int, n_features: int, weights_init, means_init,
                  precisions_init):
    """Check the shapes and values of user-given initial parameters; return float arrays."""
    if weights_init is not None:
        w = np.asarray(weights_init, dtype=np.float64)
        if w.shape != (n_components,):
            raise ValueError(f"weights_init has shape {w.shape}; expected ({n_components},).")
        if (w < 0).any() or (w > 1).any() or not np.isfinite(w).all():
            raise ValueError("weights_init must be in the range [0, 1]; got min "
                             f"{float(w.min())!r}, max {float(w.max())!r}.")
        if not np.allclose(w.sum(), 1.0, rtol=0, atol=1e-6):
            raise ValueError(f"weights_init must sum to 1; got sum(weights_init) = "
                             f"{w.sum():.5f}.")
        weights_init = w
    if means_init is not None:
        m = np.asarray(means_init, dtype=np.float64)
        if m.shape != (n_components, n_features):
            raise ValueError(f"means_init has shape {m.shape}; expected "
                             f"({n_components}, {n_features}).")
        if not np.isfinite(m).all():
            raise ValueError("means_init contains NaN or inf.")
        means_init = m
    if precisions_init is not None:
        p = np.asarray(precisions_init, dtype=np.float64)
        shape = family.covariance_shape(n_components, n_features)
        if p.shape != shape:
            raise ValueError(f"precisions_init has shape {p.shape}; expected {shape} for "
                             f"covariance_type={family.name!r}.")
        if not np.isfinite(p).all():
            raise ValueError("precisions_init contains NaN or inf.")
        if family.square and not np.allclose(p, np.swapaxes(p, -1, -2)):
            raise ValueError("precisions_init must be symmetric.")
        if not family.square and (p <= 0).any():
            raise ValueError("precisions_init must be positive.")
        precisions_init = p
    return weights_init, means_init, precisions_init
