"""Adapter for any 2-D array that reads rows by slicing: ``np.memmap``, ``h5py.Dataset``,
``zarr`` arrays. Each chunk is ``array[start:stop]``, so only one chunk is in memory."""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np


class SlicedAdapter:
    """Raw chunks of a sliceable 2-D array (validated later by ``CheckedSource``).

    Parameters
    ----------
    array : object with ``shape``, ``dtype`` and row slicing
    name : str
        How messages refer to the data, e.g. ``"HDF5 dataset '/X' of 'data.h5'"``.
    """

    reiterable = True

    def __init__(self, array: Any, name: str) -> None:
        shape = tuple(array.shape)
        if len(shape) != 2:
            raise ValueError(f"{name} has shape {shape}; expected a 2-D array of shape "
                             "(n_samples, n_features).")
        self.array = array
        self.name = name
        self.n_samples, self.n_features = int(shape[0]), int(shape[1])
        self.dtype = np.dtype(array.dtype)

    def raw_chunks(self, rows: int) -> Iterator[tuple]:
        for start in range(0, self.n_samples, rows):
            block = self.array[start:min(self.n_samples, start + rows)]
            yield np.asarray(block), None
