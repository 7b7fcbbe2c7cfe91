"""Missing values (NaN) in the linear-exponential families (Bernoulli, categorical, Poisson).

Their components factorise over coordinates, so EM with missing coordinates is exact and
cheap: a row's density is the product over its *observed* coordinates, and each coordinate's
M-step divides by the responsibility mass of the rows that observe it,
``N_kd = N_k - M_kd`` with ``M_kd = sum_i w_i r_ik [x_id missing]`` (``nmis`` in the
statistics). The masked kernels are in :mod:`fastem.kernels.linexp`
(:func:`~fastem.kernels.linexp.linexp_nan_pass_chunk`); they run only on chunks that hold a
NaN, so complete data goes through the unchanged kernels and gives bit-identical results
under every policy.

Missing entries are NaN in float input (integer and bool arrays cannot hold one; a pandas
nullable or categorical column's NA becomes NaN when the table is read as floats). ``inf`` and
values outside the family's domain stay errors naming their row, column and value.

Policies (:data:`fastem.families.missing.NAN_POLICIES`): ``"raise"`` (NaN is an error),
``"omit"`` (rows holding a NaN are left out of the fit), ``"marginalize"`` (exact EM over the
observed coordinates). Inference (``predict``, ``score_samples``, ...) under ``"omit"`` and
``"marginalize"`` uses each row's observed coordinates. A row with every coordinate missing
adds nothing to the fit (not even to the weight sum, the bound's denominator) and scores 0.0.
"""
from __future__ import annotations

import copy
from typing import Callable, Optional

import numpy as np

from .missing import NAN_POLICIES, nan_row_masks


def add_optional(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """``a + b`` where ``None`` is zero (statistics without any missing coordinate)."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def scale_optional(a: Optional[np.ndarray], factor: float) -> Optional[np.ndarray]:
    return None if a is None else a * factor


def observed_mass(nk: np.ndarray, nmis: Optional[np.ndarray]) -> np.ndarray:
    """``N_kd``: the responsibility mass observing each coordinate, ``(K, 1)`` (broadcast)
    when nothing was missing, else ``(K, D)`` (never negative)."""
    if nmis is None:
        return nk[:, None]
    return np.maximum(nk[:, None] - nmis, 0.0)


class NanPolicyMixin:
    """``nan_policy`` of a linear-exponential family: ``with_nan_policy`` and the spec."""

    #: How rows holding NaN are treated ("raise", "omit" or "marginalize").
    nan_policy: str = "raise"

    def with_nan_policy(self, nan_policy: str):
        """This family with another ``nan_policy`` (``self`` when it is the same)."""
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES!r}; got "
                             f"{nan_policy!r}.")
        if nan_policy == self.nan_policy:
            return self
        twin = copy.copy(self)
        twin.nan_policy = nan_policy
        return twin

    def _spec_with_policy(self, spec: dict) -> dict:
        """``spec`` plus ``"nan_policy"`` when it is not the default (so specs, model files
        and checkpoint fingerprints of "raise" fits are unchanged)."""
        if self.nan_policy != "raise":
            spec = dict(spec, nan_policy=self.nan_policy)
        return spec


def nan_masks(X: np.ndarray, row_offset: int = 0):
    """``(has_nan, all_nan)`` row masks of a float chunk holding a NaN, or ``None`` (no NaN,
    or a non-float chunk); an inf is an error naming its row and column."""
    if X.dtype.kind != "f" or X.shape[0] == 0:
        return None
    has, every = nan_row_masks(np.asarray(X), row_offset)
    return (has, every) if has.any() else None


def validate_with_nan(X: np.ndarray, row_offset: int, policy: str,
                      check: Callable[[np.ndarray, int], None]) -> None:
    """``check(X, row_offset)`` (the family's own checks) with NaN allowed unless
    ``policy`` is "raise": an inf is an error naming its row, column and value, and the
    other entries are checked as usual."""
    if policy == "raise" or X.dtype.kind != "f":
        check(X, row_offset)
        return
    masks = nan_masks(X, row_offset)
    if masks is None:
        check(X, row_offset)
        return
    check(np.where(np.isnan(X), 0, X).astype(X.dtype, copy=False), row_offset)


def omitted(X: np.ndarray, sample_weight: Optional[np.ndarray], has: np.ndarray):
    """The rows of a chunk without NaN, and their weights ("omit")."""
    keep = ~has
    w = None if sample_weight is None else np.asarray(sample_weight)[keep]
    return np.ascontiguousarray(X[keep]), w


def omitted_stats(family, X: np.ndarray, sample_weight: Optional[np.ndarray], kargs,
                  has: np.ndarray, serial: bool = False):
    """``family``'s statistics of a chunk under "omit": the rows without NaN through the
    complete kernel, counted with every row of the chunk (``n_rows``)."""
    import dataclasses
    Xo, wo = omitted(X, sample_weight, has)
    out = family.chunk_stats(Xo, wo, dataclasses.replace(kargs, nan_policy="raise"), serial)
    return dataclasses.replace(out, n_rows=X.shape[0])


__all__ = ["NanPolicyMixin", "add_optional", "scale_optional", "observed_mass", "nan_masks",
           "validate_with_nan", "omitted", "omitted_stats"]
