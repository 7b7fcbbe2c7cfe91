"""Filling missing entries of a chunk from a fitted family's components and each row's
responsibilities (computed from its observed entries): the families' ``impute_missing``.

A missing entry becomes the expectation of its value given the row's observed values,
``sum_k r_k E_k[x_d]`` (Bernoulli: a probability, Poisson: a rate), or, with a generator, a
draw: a component from the row's responsibilities, then the value from that component.
Chunk-sized arrays only (no ``n x K`` array beyond the chunk's responsibilities).
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np


def draw_components(resp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One component per row, drawn from that row's responsibilities."""
    cum = np.cumsum(resp, axis=1)
    u = rng.uniform(size=resp.shape[0]) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), resp.shape[1] - 1)


def _missing(X: np.ndarray) -> tuple:
    """A float64 copy of ``X``, its NaN mask and the rows holding a NaN."""
    out = np.array(X, dtype=np.float64)
    miss = np.isnan(out)
    return out, miss, np.flatnonzero(miss.any(axis=1))


def fill_expected(X: np.ndarray, resp: np.ndarray, expected: np.ndarray,
                  rng: Optional[np.random.Generator],
                  draw: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> np.ndarray:
    """``X`` (float64 copy) with each NaN replaced by ``resp @ expected`` (``expected``: the
    components' means, (K, D)), or with ``rng`` by ``draw(expected[z], rng)`` for a component
    ``z`` drawn per row."""
    out, miss, rows = _missing(X)
    if not rows.size:
        return out
    r = resp[rows]
    if rng is None:
        values = r @ expected
    else:
        values = draw(expected[draw_components(r, rng)], rng).astype(np.float64)
    sub = out[rows]
    m = miss[rows]
    sub[m] = values[m]
    out[rows] = sub
    return out


def fill_codes(X: np.ndarray, resp: np.ndarray, probabilities: list,
               rng: Optional[np.random.Generator]) -> np.ndarray:
    """``X`` (float64 copy) with each missing code replaced by its most probable code under
    the row's predictive ``sum_k r_k P_d[k]`` (``probabilities``: one (K, C_d) array per
    column), or with ``rng`` by a code drawn from ``P_d[z]`` for a component ``z`` drawn per
    row."""
    out, miss, rows = _missing(X)
    if not rows.size:
        return out
    r = resp[rows]
    z = None if rng is None else draw_components(r, rng)
    for d, p in enumerate(probabilities):
        sel = np.flatnonzero(miss[rows, d])
        if not sel.size:
            continue
        if z is None:
            codes = np.argmax(r[sel] @ p, axis=1)
        else:
            cum = np.cumsum(p[z[sel]], axis=1)
            u = rng.uniform(size=sel.size) * cum[:, -1]
            codes = np.minimum((cum < u[:, None]).sum(axis=1), p.shape[1] - 1)
        out[rows[sel], d] = codes
    return out


__all__ = ["draw_components", "fill_expected", "fill_codes"]
