"""Missing values (NaN) in the mixed-type family: every block skips its missing coordinates.

A mixed component is a product over columns (the gaussian block is diagonal), so the density
of a row over its observed columns is the full formula without the missing columns' terms.
In ``T(x)`` a missing column's entries (gaussian ``y`` and ``y**2``, bernoulli ``x`` and
``1 - x``, categorical one-hot block, poisson ``x``) are NaN, and the masked
linear-exponential pass (:func:`fastem.kernels.linexp.linexp_nan_pass_chunk`) reads them as
0, takes their per-column constant ``cd`` (gaussian ``-1/2 (log var + log 2 pi + m^2/var)``,
poisson ``-rate``) back out of ``const``, and accumulates ``nmis``, the responsibility mass
of the rows missing each column of ``T``. Each block's M-step then divides by the mass
observing the column, ``N_kd = N_k - nmis_kd``. Only chunks holding a NaN take this path.
"""
from __future__ import annotations

import math

import numpy as np

from .._slots import run_in_slots
from ..kernels.linexp import (NO_LOG_FACTORIAL, NO_OFFSETS, linexp_nan_e_step,
                              linexp_nan_pass_chunk)
from .categorical import offsets_of
from .linexp_nan import (NanPolicyMixin, add_optional, nan_masks, omitted_stats, scale_optional,
                         validate_with_nan)

_FLOOR = 10 * np.finfo(np.float64).eps
_EMPTY_FRACTION = 1e-12
_LOG_2PI = math.log(2 * math.pi)
_NO_WEIGHTS = np.empty(0)


def _t_columns(family, b: str, cols: list, hp: dict) -> list:
    """For each data column of block ``b``, the columns of ``T(x)`` it fills."""
    sl = family._slices[b]
    n = len(cols)
    if b in ("gaussian", "bernoulli"):
        return [[sl.start + j, sl.start + n + j] for j in range(n)]
    if b == "categorical":
        off = offsets_of(hp["n_categories"])
        return [list(range(sl.start + off[j], sl.start + off[j + 1])) for j in range(n)]
    return [[sl.start + j] for j in range(n)]


def column_constants(family, params, shift: np.ndarray) -> np.ndarray:
    """``cd`` (K, width): each column of ``T(x)``'s share of ``const``."""
    k = params.weights.shape[0]
    cd = np.zeros((k, family.width))
    a = params.arrays
    for b, cols, _ in family.blocks:
        if b not in family._slices:      # the student_t block has no columns in T(x)
            continue
        sl = family._slices[b]
        n = len(cols)
        if b == "gaussian":
            var = a["gaussian_covariances"]
            m = a["gaussian_means"] - shift[None, :]
            cd[:, sl.start:sl.start + n] = -0.5 * (np.log(var) + _LOG_2PI + m * m / var)
        elif b == "poisson":
            cd[:, sl] = -a["poisson_means"]
    return np.ascontiguousarray(cd)


def masked_statistic(family, X: np.ndarray, shift: np.ndarray):
    """``T(x)`` with NaN in every column of a missing value, and ``h(x)`` over observed
    values."""
    miss = np.isnan(X)
    T, h = family.statistic(np.where(miss, 0, X), shift)
    for b, cols, hp in family.blocks:
        for j, tcols in zip(cols, _t_columns(family, b, cols, hp)):
            rows = miss[:, j]
            if rows.any():
                T[np.ix_(rows, tcols)] = np.nan
    return T, h


def chunk_stats(family, X, sample_weight, kargs, serial=False):
    """Statistics of a chunk holding NaN, or ``None`` without NaN (complete kernel)."""
    X = np.asarray(X)
    masks = nan_masks(X)
    if masks is None:
        return None
    if kargs.nan_policy == "omit":
        return omitted_stats(family, X, sample_weight, kargs, masks[0], serial)
    from .mixed import MixedStats
    kern = linexp_nan_pass_chunk.serial if serial else linexp_nan_pass_chunk.parallel
    k, m = kargs.eta.shape
    w = _NO_WEIGHTS if sample_weight is None else np.asarray(sample_weight, np.float64)
    T, h = masked_statistic(family, X, kargs.shift)

    def run(nk, st, nmis, ll):
        kern(T, w, kargs.eta, kargs.const, kargs.cd, NO_OFFSETS, NO_LOG_FACTORIAL, nk, st,
             np.empty((nk.shape[0], 0, m)), nmis, ll)

    (nk, st, nmis), ll = run_in_slots(run, X.shape[0], ((k,), (k, m), (k, m)), 2)
    ll = ll.sum(axis=0)
    hsum = float(h.sum() if sample_weight is None else (w * h).sum())
    return MixedStats(nk, st, kargs.shift, float(ll[0]) + hsum, float(ll[1]), X.shape[0],
                      gauss_start=family._gauss_start, nmis=nmis)


def e_step_outputs(family, X, kargs, labels, resp, serial):
    """Per-row outputs over observed values (0.0 for a row entirely missing), or ``None``
    for a chunk without NaN."""
    X = np.asarray(X)
    if nan_masks(X) is None:
        return None
    T, h = masked_statistic(family, X, kargs.shift)
    lpn, lab, rsp = linexp_nan_e_step(T, kargs.eta, kargs.const, kargs.cd, labels=labels,
                                      resp=resp, serial=serial)
    return lpn + h, lab, rsp


def m_step(family, stats, previous=None):
    """Each block's M-step over the mass observing each of its columns."""
    from .mixed import MixedParams
    nk_raw = stats.nk
    total = float(nk_raw.sum())
    nobs_all = np.maximum(nk_raw[:, None] - stats.nmis, 0.0)
    out = {}
    for b, cols, hp in family.blocks:
        sl = family._slices[b]
        s = stats.st[:, sl]
        nobs = nobs_all[:, sl]
        n = len(cols)
        if b in ("gaussian", "poisson"):
            nd = nobs[:, :n]
            empty = nd <= _EMPTY_FRACTION * max(total, 1.0)
            safe = np.where(empty, 1.0, nd)
            col_mass = np.maximum(nd.sum(axis=0), _FLOOR)
        if b == "gaussian":
            m = s[:, :n] / safe
            var = s[:, n:] / safe - m * m + hp["reg_covar"]
            mu = stats.shift[None, :] + m
            if empty.any():
                if previous is not None:
                    mu[empty] = previous.arrays["gaussian_means"][empty]
                    var[empty] = previous.arrays["gaussian_covariances"][empty]
                else:
                    cm = s[:, :n].sum(axis=0) / col_mass
                    cv = s[:, n:].sum(axis=0) / col_mass - cm * cm + hp["reg_covar"]
                    mu[empty] = np.broadcast_to(stats.shift + cm, mu.shape)[empty]
                    var[empty] = np.broadcast_to(cv, var.shape)[empty]
            out["gaussian_means"], out["gaussian_covariances"] = mu, var
        elif b == "bernoulli":
            a = hp["alpha"]
            denom = nobs[:, :n] + 2.0 * a
            out["bernoulli_means"] = (s[:, :n] + a) / denom
            out["bernoulli_complements"] = (s[:, n:] + a) / denom
        elif b == "categorical":
            a = hp["alpha"]
            c = np.repeat(np.asarray(hp["n_categories"], float), hp["n_categories"])
            out["categorical_probabilities"] = (s + a) / (nobs + c[None] * a)
        else:
            lam = s / safe + hp["reg_rate"]
            if empty.any():
                if previous is not None:
                    lam[empty] = previous.arrays["poisson_means"][empty]
                else:
                    col = s.sum(axis=0) / col_mass + hp["reg_rate"]
                    lam[empty] = np.broadcast_to(col, lam.shape)[empty]
            out["poisson_means"] = lam
    nk = nk_raw + _FLOOR
    return MixedParams(nk / nk.sum(), out)


__all__ = ["NanPolicyMixin", "add_optional", "scale_optional", "validate_with_nan",
           "column_constants", "masked_statistic", "chunk_stats", "e_step_outputs", "m_step"]
