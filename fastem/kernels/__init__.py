"""Numba kernels: the only place with ``@njit``. Imports numpy and numba only."""
