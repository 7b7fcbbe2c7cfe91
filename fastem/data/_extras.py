"""Lazy imports of the optional IO libraries, with an install hint when one is missing."""
from __future__ import annotations

import importlib
from types import ModuleType

_EXTRAS = {"h5py": "hdf5", "zarr": "zarr", "pyarrow": "parquet", "pyarrow.parquet": "parquet",
           "tqdm": "progress"}


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise ``ImportError`` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = _EXTRAS.get(module, module)
        raise ImportError(f"{what} needs {module.split('.')[0]}: pip install {module.split('.')[0]} "
                          f"(or, in the fastem repository, pip install -e '.[{extra}]').") from None
