"""Run-time options: ``set_options`` and the environment defaults behind them.

Nothing here changes global Numba configuration; options are read where they are used.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

_DEFAULTS: dict[str, Any] = {
    # Rows per block when a source has to be cut into chunks (out-of-core, Dask, predict).
    "chunk_size": int(os.environ.get("FASTEM_CHUNK_SIZE", 262_144)),
    # Bytes one out-of-core chunk may take as float64 when no chunk_size is given.
    "chunk_memory": int(os.environ.get("FASTEM_CHUNK_MEMORY", 32 * 2**20)),
    # Bytes the per-slot partial statistics of one kernel call may take.
    "slot_memory": int(os.environ.get("FASTEM_SLOT_MEMORY", 64 * 2**20)),
}

_OPTIONS: dict[str, Any] = dict(_DEFAULTS)


def get_option(name: str) -> Any:
    """Return the current value of option ``name``."""
    return _OPTIONS[name]


@contextlib.contextmanager
def set_options(**options: Any) -> Iterator[None]:
    """Set fastem options for the duration of a ``with`` block.

    Parameters
    ----------
    chunk_size : int
        Rows per block when a source is processed chunk by chunk.
    chunk_memory : int
        Bytes one out-of-core chunk may take (as float64) when ``chunk_size`` is not given.
    slot_memory : int
        Bytes that the per-slot partial statistics of one kernel call may use.

    Examples
    --------
    >>> import fastem
    >>> with fastem.set_options(chunk_size=100_000):
    ...     pass
    """
    unknown = set(options) - set(_DEFAULTS)
    if unknown:
        raise ValueError(
            f"Unknown fastem option(s) {sorted(unknown)!r}; valid options are {sorted(_DEFAULTS)!r}."
        )
    old = {k: _OPTIONS[k] for k in options}
    _OPTIONS.update(options)
    try:
        yield
    finally:
        _OPTIONS.update(old)
