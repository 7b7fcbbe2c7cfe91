"""Special functions and a safeguarded root solver, in plain Python (no SciPy at run time).

Used by the Student-t M-step for its degrees of freedom (a handful of scalar evaluations per
component and iteration, so no Numba here):

* :func:`digamma` and :func:`trigamma`: the recurrence ``psi(x) = psi(x + 1) - 1/x`` up to
  ``x >= 10``, then the asymptotic (Stirling) series, whose first omitted term is below
  ``1e-16`` relative there;
* :func:`log_minus_digamma`: ``log(x) - psi(x)`` without the cancellation of subtracting
  two nearly equal numbers at large ``x`` (it tends to ``1 / (2x)``);
* :func:`solve_monotone`: the root of a monotone function in a bracket, by Newton steps
  that fall back to bisection whenever a step leaves the bracket or shrinks it too slowly.
"""
from __future__ import annotations

import math
from typing import Callable

#: Recurrence threshold: the asymptotic series is used from here on.
_ASYMPTOTIC_FROM = 10.0
# Bernoulli numbers B_2n / (2n) for n = 1..7 (digamma's series), highest order last.
_PSI_SERIES = (1.0 / 12, -1.0 / 120, 1.0 / 252, -1.0 / 240, 1.0 / 132, -691.0 / 32760,
               1.0 / 12)
# B_2n for n = 1..7 (trigamma's series: sum B_2n / x^(2n+1)).
_PSI1_SERIES = (1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6)


def _check_positive(x: float, name: str) -> float:
    x = float(x)
    if not x > 0 or math.isinf(x):
        raise ValueError(f"{name} needs a finite positive argument; got {x!r}.")
    return x


def _series(coeffs: tuple, inv2: float) -> float:
    """``sum_n coeffs[n] * inv2 ** (n + 1)`` by Horner's rule."""
    acc = 0.0
    for c in reversed(coeffs):
        acc = (acc + c) * inv2
    return acc


def log_minus_digamma(x: float) -> float:
    """``log(x) - digamma(x)`` for ``x > 0`` (positive, decreasing, ``~ 1 / (2x)``).

    For ``x >= 10``: ``1/(2x) + sum_n B_2n / (2n x^2n)``, with no cancellation. Below, the
    recurrence ``g(x) = g(x + 1) + 1/x - log1p(1/x)``.
    """
    x = _check_positive(x, "log_minus_digamma")
    acc = 0.0
    while x < _ASYMPTOTIC_FROM:
        acc += 1.0 / x - math.log1p(1.0 / x)
        x += 1.0
    return acc + 0.5 / x + _series(_PSI_SERIES, 1.0 / (x * x))


def digamma(x: float) -> float:
    """The digamma function ``psi(x) = d/dx log Gamma(x)`` for ``x > 0``."""
    x = _check_positive(x, "digamma")
    acc = 0.0
    while x < _ASYMPTOTIC_FROM:
        acc -= 1.0 / x
        x += 1.0
    return acc + math.log(x) - 0.5 / x - _series(_PSI_SERIES, 1.0 / (x * x))


def trigamma(x: float) -> float:
    """The trigamma function ``psi'(x)`` for ``x > 0``."""
    x = _check_positive(x, "trigamma")
    acc = 0.0
    while x < _ASYMPTOTIC_FROM:
        acc += 1.0 / (x * x)
        x += 1.0
    inv = 1.0 / x
    return acc + inv + 0.5 * inv * inv + inv * _series(_PSI1_SERIES, inv * inv)


def solve_monotone(f: Callable[[float], float], fprime: Callable[[float], float],
                     lo: float, hi: float, max_iter: int = 200) -> float:
    """The root of ``f`` in ``[lo, hi]`` to full float64 precision (safeguarded Newton).

    ``f`` must be continuous and monotone on the bracket. When ``f(lo)`` and ``f(hi)`` have
    the same sign there is no root inside and the bound nearer to the root (the one with the
    smaller ``|f|``) is returned. Otherwise Newton steps from the current point are taken
    while they stay strictly inside the bracket and at least halve it every two steps;
    any other step is a bisection. Stops when ``f`` is exactly zero or the bracket is a few
    ulp wide.
    """
    if not lo < hi:
        raise ValueError(f"solve_monotone needs lo < hi; got lo={lo!r}, hi={hi!r}.")
    f_lo, f_hi = f(lo), f(hi)
    if f_lo == 0.0:
        return lo
    if f_hi == 0.0:
        return hi
    if (f_lo > 0) == (f_hi > 0):
        return lo if abs(f_lo) <= abs(f_hi) else hi
    rising = f_hi > 0  # orient the bracket: f(a) < 0 < f(b) in the rising sense
    x = 0.5 * (lo + hi)
    width_before = hi - lo
    for it in range(max_iter):
        fx = f(x)
        if fx == 0.0:
            return x
        if (fx > 0) == rising:
            hi = x
        else:
            lo = x
        if hi - lo <= 4.0 * math.ulp(max(abs(lo), abs(hi))):
            break
        d = fprime(x)
        step_ok = d != 0.0 and math.isfinite(d)
        if step_ok:
            nxt = x - fx / d
            step_ok = lo < nxt < hi
        if it % 2 == 1:
            # every second step the bracket must have halved since two steps ago
            if hi - lo > 0.5 * width_before:
                step_ok = False
            width_before = hi - lo
        x = nxt if step_ok else 0.5 * (lo + hi)
        if x <= lo or x >= hi:  # bisection of a bracket one ulp wide
            break
    # the better of the bracket's ends and the last point
    cands = [lo, hi, x]
    return min(cands, key=lambda v: abs(f(v)))


__all__ = ["digamma", "trigamma", "log_minus_digamma", "solve_monotone"]
