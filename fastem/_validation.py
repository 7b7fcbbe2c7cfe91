"""Input validation: arrays, sample weights and user-given initial parameters.

``validate_*`` functions raise a clear error or return cleaned input.
"""
from __future__ import annotations

import sys
from typing import Optional

import numpy as np

from .kernels.checks import first_nonfinite_row


def validate_data(X, *, n_features: Optional[int] = None, owner: str = "GaussianMixture",
                  what: str = "X", row_offset: int = 0, context: str = "",
                  allow_nan: bool = False) -> np.ndarray:
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
    allow_nan : bool
        Accept NaN (missing values, for ``nan_policy`` "omit" or "marginalize"); inf is
        still an error.
    """
    if is_sparse(X):
        raise TypeError(f"Sparse data was passed for {what}, but dense data is required. Use "
                        "'.toarray()' to convert to a dense numpy array (fastem does not "
                        "support sparse input).")
    arr = _as_real_array(X, what)
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
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum "
                         f"of 1 is required by {owner}.{_where(what, context)}")
    if arr.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum "
                         f"of 1 is required by {owner}.{_where(what, context)}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{what} has {arr.shape[1]} features, but {owner} is expecting "
                         f"{n_features} features as input.")
    if allow_nan:
        from .families.missing import nan_row_masks
        nan_row_masks(arr, row_offset, context)
        return arr
    bad = first_nonfinite_row(arr)
    if bad >= 0:
        col = int(np.flatnonzero(~np.isfinite(arr[bad]))[0])
        value = float(arr[bad, col])
        hint = (" (or fit with nan_policy='omit' to skip them, or 'marginalize' to use "
                "their observed values)") if np.isnan(value) else ""
        raise ValueError(f"{what} contains NaN or inf; first bad row is {bad + row_offset:,}"
                         f"{context}, column {col} is {value!r}. Drop or impute those "
                         f"rows{hint}.")
    return arr


def _where(what: str, context: str) -> str:
    return f" (in {what}{context})" if context else ""


def is_sparse(X) -> bool:
    """True for a ``scipy.sparse`` matrix or array (without importing SciPy)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(X))


def _as_real_array(X, what: str) -> np.ndarray:
    """``X`` as a float32/float64 ndarray (integers, booleans, float16 and object arrays
    holding numbers become float64), or a clear error."""
    arr = np.asarray(X)
    kind = arr.dtype.kind
    if kind == "f" and arr.dtype in (np.float32, np.float64):
        return arr
    if kind in "biuf":
        return arr.astype(np.float64)
    if kind == "c":
        raise ValueError(f"Complex data not supported: {what} has dtype {arr.dtype!s}; "
                         "fastem needs real numbers. Pass the real part (X.real), the "
                         "magnitude (abs(X)) or both parts as separate columns.")
    if kind == "O":
        try:
            return arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} has dtype object and holds values that are not numbers "
                            f"({exc}); fastem needs numeric data.") from None
    raise TypeError(f"{what} has dtype {arr.dtype!s}; fastem needs numeric data "
                    "(float32, float64, or integers, which are converted to float64).")


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
        raise ValueError("Sample weights must contain at least one non-zero number: "
                         "sample_weight sums to 0; at least one row needs a positive weight.")
    return w


def _shape_error(sk_name: str, expected: tuple, got: tuple, hint: str) -> ValueError:
    # scikit-learn's sentence (sklearn.mixture._base._check_shape), then fastem's hint.
    return ValueError(f"The parameter '{sk_name}' should have the shape of {expected}, but "
                      f"got {got}. {hint}")


def _first_bad(mask: np.ndarray) -> str:
    idx = np.argwhere(mask)[0]
    return ", ".join(str(int(i)) for i in idx)


def precision_error(family, bad, value=None) -> ValueError:
    """The error for ``precisions_init[bad]`` that is not positive (definite).

    Begins with scikit-learn's sentence for the same mistake.
    """
    if family.square:
        where = "" if family.name == "tied" else f"[{bad}]"
        return ValueError(f"'{family.name} precision' should be symmetric, positive-definite. "
                          f"precisions_init{where} is not positive definite (its Cholesky "
                          "factorisation failed); every precision matrix must be.")
    shown = "" if value is None else f" is {value!r}"
    return ValueError(f"'{family.name} precision' should be positive. precisions_init[{bad}]"
                      f"{shown}; every precision must be > 0.")


def validate_init(family, n_components: int, n_features: int, weights_init, means_init,
                  precisions_init):
    """Check the shapes and values of user-given initial parameters; return float arrays.

    Every message begins with scikit-learn's sentence for the same mistake
    (``sklearn.mixture``), then says which entry of which ``*_init`` is wrong.
    """
    k, d = n_components, n_features
    if weights_init is not None:
        w = np.asarray(weights_init, dtype=np.float64)
        if w.shape != (k,):
            raise _shape_error("weights", (k,), w.shape,
                               f"weights_init needs one weight per component "
                               f"(n_components={k}).")
        if not np.isfinite(w).all():
            raise ValueError(f"weights_init contains NaN or inf; weights_init"
                             f"[{_first_bad(~np.isfinite(w))}] is "
                             f"{float(w[~np.isfinite(w)][0])!r}.")
        out = (w < 0) | (w > 1)
        if out.any():
            raise ValueError(
                "The parameter 'weights' should be in the range [0, 1], but got max value "
                f"{w.max():.5f}, min value {w.min():.5f}. weights_init[{_first_bad(out)}] is "
                f"{float(w[out][0])!r}.")
        if not np.allclose(w.sum(), 1.0, rtol=0, atol=1e-6):
            raise ValueError("The parameter 'weights' should be normalized, but got "
                             f"sum(weights) = {w.sum():.5f}. weights_init must sum to 1; "
                             "divide it by its sum.")
        weights_init = w
    if means_init is not None:
        m = np.asarray(means_init, dtype=np.float64)
        if m.shape != (k, d):
            raise _shape_error("means", (k, d), m.shape,
                               f"means_init needs one row per component and one column per "
                               f"feature (n_components={k}, n_features={d}).")
        if not np.isfinite(m).all():
            raise ValueError(f"means_init contains NaN or inf; first at means_init"
                             f"[{_first_bad(~np.isfinite(m))}].")
        means_init = m
    if precisions_init is not None:
        p = np.asarray(precisions_init, dtype=np.float64)
        shape = family.covariance_shape(k, d)
        if p.shape != shape:
            raise _shape_error(f"{family.name} precision", shape, p.shape,
                               f"precisions_init for covariance_type={family.name!r} has "
                               f"the shape of precisions_: {shape} for n_components={k}, "
                               f"n_features={d}.")
        if not np.isfinite(p).all():
            raise ValueError(f"precisions_init contains NaN or inf; first at precisions_init"
                             f"[{_first_bad(~np.isfinite(p))}].")
        if family.square:
            asym = ~np.isclose(p, np.swapaxes(p, -1, -2))
            if asym.any():
                raise ValueError(f"'{family.name} precision' should be symmetric, "
                                 f"positive-definite. precisions_init[{_first_bad(asym)}] "
                                 "differs from its transpose; precisions must be symmetric.")
            _, bad = family.precision_cholesky_from_precisions(p)
            if bad >= 0:
                raise precision_error(family, bad)
        elif (p <= 0).any():
            raise precision_error(family, _first_bad(p <= 0), float(p[p <= 0][0]))
        precisions_init = p
    return weights_init, means_init, precisions_init
