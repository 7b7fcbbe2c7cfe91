"""Zarr arrays (extra ``zarr``), read chunk by chunk by slicing."""
from __future__ import annotations

import os
from typing import Any, Optional

from ._extras import require
from .sliced import SlicedAdapter


def is_zarr_array(obj: Any) -> bool:
    """True for a ``zarr.Array`` (checked without importing zarr)."""
    return type(obj).__module__.startswith("zarr") and type(obj).__name__ == "Array"


def zarr_adapter(obj: Any, key: Optional[str] = None) -> SlicedAdapter:
    """Adapter for a ``zarr.Array``, or a path to a Zarr store (``key`` names an array in a
    group)."""
    if is_zarr_array(obj):
        return SlicedAdapter(obj, f"Zarr array {getattr(obj, 'path', '') or '<root>'!r}")
    zarr = require("zarr", "Reading Zarr stores")
    path = os.fspath(obj)
    node = zarr.open(path, mode="r")
    if key is not None:
        try:
            node = node[key]
        except KeyError:
            raise ValueError(f"{path!r} has no array {key!r}.") from None
    if not is_zarr_array(node):
        names = sorted(getattr(node, "array_keys", lambda: [])())
        raise ValueError(f"{path!r} is a Zarr group, not an array; name the array to use "
                         f"(key='name', or --key on the command line); arrays: {names!r}.")
    return SlicedAdapter(node, f"Zarr array {path!r}" + (f"[{key!r}]" if key else ""))
