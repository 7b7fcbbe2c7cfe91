"""Backends compute statistics over a source. ``BACKENDS`` lists the valid names."""
from . import numba as numba_backend

BACKENDS = ("auto", "numba")

__all__ = ["BACKENDS", "numba_backend"]
