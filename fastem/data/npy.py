"""Adapter for a ``.npy`` file on disk, read chunk by chunk with plain file reads.

Reading (rather than memory-mapping) keeps memory to one chunk and turns a file that is
truncated or deleted during a fit into a clear ``OSError`` instead of a crash (``SIGBUS``).
"""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np


def _read_header(path: str):
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        except ValueError as exc:
            raise ValueError(f"{path!r} is not a valid .npy file ({exc}).") from None
        return shape, fortran, np.dtype(dtype), f.tell()


class NpyAdapter:
    """Raw chunks of a 2-D ``.npy`` file.

    Parameters
    ----------
    path : str or os.PathLike
    """

    reiterable = True

    def __init__(self, path) -> None:
        self.path = os.fspath(path)
        self.name = repr(self.path)
        shape, fortran, dtype, offset = _read_header(self.path)
        if len(shape) != 2:
            raise ValueError(f"{self.name} holds an array of shape {shape}; expected a 2-D "
                             "array of shape (n_samples, n_features).")
        if dtype.hasobject or dtype.kind not in "biuf":
            raise TypeError(f"{self.name} has dtype {dtype!s}; fastem needs numeric data "
                            "(float32, float64, or integers).")
        size = os.path.getsize(self.path)
        # Each dimension is at most the file's size in bytes; anything else (negative, or
        # absurd like 10**15 rows) is a damaged header, not a data shape to report.
        if not all(isinstance(s, int) and 0 <= s <= max(size, 1) for s in shape):
            raise ValueError(f"{self.name} has a bad .npy header: it declares the impossible "
                             f"shape {shape} for a file of {size:,} bytes. The file is "
                             "corrupt or was not written by numpy.")
        self.n_samples, self.n_features = int(shape[0]), int(shape[1])
        self.dtype = dtype
        self.fortran = bool(fortran)
        self.offset = offset
        expected = offset + self.n_samples * self.n_features * dtype.itemsize
        if size < expected:
            raise OSError(f"{self.name} is truncated: {size:,} bytes, but its header "
                          f"announces {expected:,}.")

    def raw_chunks(self, rows: int) -> Iterator[tuple]:
        if self.fortran:
            # Column-major files: rows are strided on disk; a read-only map slices them.
            mm = np.load(self.path, mmap_mode="r")
            for start in range(0, self.n_samples, rows):
                yield np.array(mm[start:start + rows], order="C"), None
            return
        d, item = self.n_features, self.dtype.itemsize
        with open(self.path, "rb") as f:
            for start in range(0, self.n_samples, rows):
                n = min(rows, self.n_samples - start)
                buf = np.empty((n, d), dtype=self.dtype)
                f.seek(self.offset + start * d * item)
                got = f.readinto(buf.view(np.uint8).reshape(-1))
                if got != buf.nbytes:
                    raise OSError(
                        f"{self.name} ended early at row {start + got // (d * item):,} of "
                        f"{self.n_samples:,}: the file was truncated or replaced while "
                        "being read.")
                yield buf, None
