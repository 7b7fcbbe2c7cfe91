"""HDF5 datasets (extra ``hdf5``: h5py), read chunk by chunk by slicing."""
from __future__ import annotations

import os
from typing import Any, Optional

from ._extras import require
from .sliced import SlicedAdapter


def is_hdf5_dataset(obj: Any) -> bool:
    """True for an ``h5py.Dataset`` (checked without importing h5py)."""
    return type(obj).__module__.startswith("h5py") and type(obj).__name__ == "Dataset"


def hdf5_adapter(obj: Any, key: Optional[str] = None) -> SlicedAdapter:
    """Adapter for an ``h5py.Dataset``, or a path to an HDF5 file and the dataset ``key``.

    Without ``key`` the file must hold exactly one 2-D dataset.
    """
    if is_hdf5_dataset(obj):
        return SlicedAdapter(obj, f"HDF5 dataset {obj.name!r} of {obj.file.filename!r}")
    h5py = require("h5py", "Reading HDF5 files")
    path = os.fspath(obj)
    f = h5py.File(path, "r")
    if key is None:
        found: list = []
        f.visititems(lambda name, o: found.append(name)
                     if isinstance(o, h5py.Dataset) and o.ndim == 2 else None)
        if len(found) != 1:
            f.close()
            raise ValueError(f"{path!r} holds {len(found)} 2-D datasets {found!r}; name the "
                             "one to use (key='name', or --key on the command line), or pass "
                             "h5py.File(path)['name'] directly.")
        key = found[0]
    if key not in f:
        names = list(f.keys())
        f.close()
        raise ValueError(f"{path!r} has no dataset {key!r}; its top-level names are "
                         f"{names!r}.")
    return SlicedAdapter(f[key], f"HDF5 dataset {key!r} of {path!r}")
