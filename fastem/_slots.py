"""Fixed accumulation slots: how every fused pass stays bit-identical on any thread count.

A kernel call gets a number of slots chosen from the chunk's shape and the slab size, never
from the thread count; each slot accumulates its own rows and the slabs are summed in slot
order. Shared by every family's kernel helper.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ._config import get_option

_MAX_SLOTS = 32
_MIN_ROWS_PER_SLOT = 2048


def choose_n_slots(n_rows: int, slab_elements: int) -> int:
    """Number of accumulation slots for a chunk: a function of its shape only."""
    by_rows = max(1, n_rows // _MIN_ROWS_PER_SLOT)
    by_memory = max(1, get_option("slot_memory") // max(8 * slab_elements, 1))
    return int(min(_MAX_SLOTS, by_rows, by_memory))


def run_in_slots(run: Callable[..., None], n_rows: int,
                 shapes: tuple[tuple[int, ...], ...],
                 extra_cols: int = 0) -> tuple[list[np.ndarray], Optional[np.ndarray]]:
    """Call ``run(*slabs, extra)`` with zeroed ``(n_slots,) + shape`` float64 slabs and
    return each slab summed over its slots in slot order (``extra`` is returned unsummed,
    ``None`` when ``extra_cols`` is 0)."""
    slab = sum(int(np.prod(s)) for s in shapes)
    n_slots = choose_n_slots(n_rows, slab)
    slabs = [np.zeros((n_slots,) + tuple(s)) for s in shapes]
    extra = np.zeros((n_slots, extra_cols)) if extra_cols else None
    run(*slabs, extra)
    return [s.sum(axis=0) for s in slabs], extra
