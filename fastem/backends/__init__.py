"""Backends compute statistics over a source. ``BACKENDS`` lists the valid names.

A backend is a module (or object) with ``em_stats(source, kargs, family) -> SuffStats``.
"""
from __future__ import annotations

from types import ModuleType

from . import numba as numba_backend

BACKENDS = ("auto", "numba")


def choose_backend(name: str, source) -> ModuleType:
    """Resolve ``"auto"`` for ``source`` and return the backend that will run the passes."""
    if name in ("auto", "numba"):
        return numba_backend
    raise ValueError(f"backend must be one of {BACKENDS!r}; got {name!r}.")


__all__ = ["BACKENDS", "choose_backend", "numba_backend"]
