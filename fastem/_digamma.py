"""The special functions variational Bayes needs, in NumPy only: digamma, log-gamma, log-beta.

They are evaluated on ``n_components x n_features`` arguments once per iteration (never per
row), so plain vectorised NumPy is plenty; SciPy stays optional.

``digamma`` uses the recurrence ``psi(x) = psi(x + 1) - 1 / x`` up to ``x >= 10`` and then the
asymptotic series ``log x - 1/(2x) - sum_n B_2n / (2n x^2n)`` through ``x^-14``: the first
omitted term is below ``4e-17`` there, so the result is within a few ulp of SciPy's.
"""
from __future__ import annotations

import math

import numpy as np

_ASYMPTOTIC_FROM = 10.0
# B_2n / (2n) for n = 7 .. 1 (Horner order, highest power first), in powers of x^-2.
_SERIES = (1.0 / 12.0, -691.0 / 32760.0, 1.0 / 132.0, -1.0 / 240.0, 1.0 / 252.0,
           -1.0 / 120.0, 1.0 / 12.0)


def digamma(x) -> np.ndarray:
    """The digamma function ``psi(x) = d/dx log Gamma(x)`` for positive ``x``.

    Parameters
    ----------
    x : array-like of positive floats

    Returns
    -------
    ndarray of float64, the shape of ``x``

    Raises
    ------
    ValueError
        If any value is not a positive finite number.
    """
    x = np.array(x, dtype=np.float64)
    if not (np.isfinite(x).all() and (x > 0).all()):
        raise ValueError(f"digamma needs positive finite arguments; got {x.min()!r}.")
    out = np.zeros_like(x)
    small = x < _ASYMPTOTIC_FROM
    while small.any():
        out[small] -= 1.0 / x[small]
        x[small] += 1.0
        small = x < _ASYMPTOTIC_FROM
    inv2 = 1.0 / (x * x)
    series = np.zeros_like(x)
    for c in _SERIES:
        series = series * inv2 + c
    return out + np.log(x) - 0.5 / x - inv2 * series


def gammaln(x) -> np.ndarray:
    """``log |Gamma(x)|`` elementwise (``math.lgamma``), float64, the shape of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    return np.array([math.lgamma(v) for v in x.ravel()]).reshape(x.shape)


def _stirling_correction(y: np.ndarray) -> np.ndarray:
    # log Gamma(y) - [(y - 1/2) log y - y + log(2 pi) / 2] for y >= 20 (error < 1e-17).
    inv = 1.0 / y
    inv2 = inv * inv
    return inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (
        1.0 / 1260.0 - inv2 * (1.0 / 1680.0 - inv2 / 1188.0))))


_STIRLING_FROM = 20.0


def betaln(a, b) -> np.ndarray:
    """``log B(a, b) = log Gamma(a) + log Gamma(b) - log Gamma(a + b)`` elementwise.

    When the larger argument ``y`` is at least 20, ``log Gamma(y) - log Gamma(y + x)`` is
    taken from Stirling's series, which avoids the cancellation of two large log-gammas
    (scikit-learn's ``betaln`` from SciPy does the same).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    x, y = np.broadcast_arrays(np.minimum(a, b), np.maximum(a, b))
    out = gammaln(a) + gammaln(b) - gammaln(a + b)
    big = y >= _STIRLING_FROM
    if big.any():
        xs, ys = x[big], y[big]
        diff = (-(ys - 0.5) * np.log1p(xs / ys) - xs * np.log(ys + xs) + xs
                + _stirling_correction(ys) - _stirling_correction(ys + xs))
        out = np.array(out, dtype=np.float64)
        out[big] = gammaln(xs) + diff
    return out


__all__ = ["digamma", "gammaln", "betaln"]
