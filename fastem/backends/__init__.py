"""Backends compute statistics over a source. ``BACKENDS`` lists the valid names.

A backend is a module (or object) with ``em_stats(source, kargs, family) -> SuffStats``.
The Dask backend is imported only when it is used.
"""
from __future__ import annotations

from types import ModuleType

from . import numba as numba_backend

BACKENDS = ("auto", "numba", "dask")


def _dask_backend() -> ModuleType:
    from ..data.dask_source import import_dask
    import_dask()  # a clear ImportError with the install hint when Dask is missing
    from . import dask as dask_backend
    return dask_backend


def choose_backend(name: str, source) -> ModuleType:
    """Resolve ``"auto"`` for ``source`` and return the backend that will run the passes.

    ``"auto"`` is the Dask backend for Dask input and the in-process numba backend otherwise;
    ``"numba"`` on Dask input streams the blocks through this process one at a time.
    """
    from ..data.dask_source import DaskSource
    if name == "dask" or (name == "auto" and isinstance(source, DaskSource)):
        backend = _dask_backend()
        backend._require_dask_source(source)
        return backend
    if name in ("auto", "numba"):
        return numba_backend
    raise ValueError(f"backend must be one of {BACKENDS!r}; got {name!r}.")


__all__ = ["BACKENDS", "choose_backend", "numba_backend"]
