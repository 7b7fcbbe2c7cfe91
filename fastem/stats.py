"""Sufficient statistics: the unit of work that kernels return and backends merge.

Every chunk, thread slot or Dask block yields a :class:`SuffStats`; ``a + b`` is the
statistics of both blocks, provided they were accumulated about the same shift.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SuffStats:
    """Additive statistics of weighted rows under one set of responsibilities.

    Parameters
    ----------
    shift : ndarray of shape (n_components, n_features)
        Per-component origin the moments are taken about (the current means).
    nk : ndarray of shape (n_components,)
        Sum of responsibility times sample weight per component.
    s1 : ndarray of shape (n_components, n_features)
        First moment about the shift, ``sum_i r_ik w_i (x_i - shift_k)``.
    s2 : ndarray
        Scatter about the shift in the family's layout (lower triangle for square layouts).
    loglik : float
        Sum of ``w_i * log p(x_i)``.
    weight_sum : float
        Sum of sample weights ``w_i``.
    n_rows : int
        Number of rows seen.
    """

    shift: np.ndarray
    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    loglik: float = 0.0
    weight_sum: float = 0.0
    n_rows: int = 0

    @classmethod
    def zeros(cls, shift: np.ndarray, scatter_shape: tuple[int, ...]) -> "SuffStats":
        """Empty statistics about ``shift``."""
        k, d = shift.shape
        return cls(np.asarray(shift, dtype=np.float64), np.zeros(k), np.zeros((k, d)),
                   np.zeros(scatter_shape))

    def __add__(self, other: "SuffStats") -> "SuffStats":
        if not isinstance(other, SuffStats):
            return NotImplemented
        if self.s2.shape != other.s2.shape or self.shift.shape != other.shift.shape:
            raise ValueError(
                f"Cannot merge statistics of different layouts: scatter {self.s2.shape} and "
                f"{other.s2.shape}.")
        if not np.array_equal(self.shift, other.shift):
            raise ValueError(
                "Cannot merge statistics accumulated about different shifts; both blocks must "
                "be processed with the same parameters.")
        return SuffStats(self.shift, self.nk + other.nk, self.s1 + other.s1,
                         self.s2 + other.s2, self.loglik + other.loglik,
                         self.weight_sum + other.weight_sum, self.n_rows + other.n_rows)

    def scaled(self, factor: float) -> "SuffStats":
        """Statistics multiplied by ``factor`` (for online EM's running averages)."""
        return SuffStats(self.shift, self.nk * factor, self.s1 * factor, self.s2 * factor,
                         self.loglik * factor, self.weight_sum * factor, self.n_rows)

    def reshifted(self, new_shift: np.ndarray, square: bool) -> "SuffStats":
        """The same statistics expressed about ``new_shift``.

        With ``c = new - old``: ``s1' = s1 - nk c`` and
        ``s2' = s2 - s1 c^T - c s1^T + nk c c^T`` (lower triangle kept for square layouts,
        pooled over components for a ``(1, d, d)`` scatter).
        """
        c = np.asarray(new_shift, dtype=np.float64) - self.shift
        s1n = self.s1 - self.nk[:, None] * c
        if not square:
            s2n = self.s2 - 2.0 * self.s1 * c + self.nk[:, None] * c * c
        else:
            corr = (-np.einsum("ki,kj->kij", self.s1, c) - np.einsum("ki,kj->kij", c, self.s1)
                    + np.einsum("k,ki,kj->kij", self.nk, c, c))
            if self.s2.shape[0] == 1 and self.nk.shape[0] > 1:
                corr = corr.sum(axis=0, keepdims=True)
            s2n = np.tril(self.s2 + corr)
        return SuffStats(np.asarray(new_shift, dtype=np.float64), self.nk.copy(), s1n, s2n,
                         self.loglik, self.weight_sum, self.n_rows)


def merge(parts) -> SuffStats:
    """Sum an iterable of statistics in order (deterministic)."""
    it = iter(parts)
    try:
        total = next(it)
    except StopIteration:
        raise ValueError("merge() needs at least one SuffStats") from None
    for p in it:
        total = total + p
    return total
