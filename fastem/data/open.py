"""Dispatch user input to the right adapter: paths by suffix, objects by type."""
from __future__ import annotations

import collections.abc
import os
from typing import Any, Optional, Sequence

import numpy as np

from .checked import CheckedSource

PATH_SUFFIXES = {".npy": "npy", ".h5": "hdf5", ".hdf5": "hdf5", ".he5": "hdf5",
                 ".zarr": "zarr", ".parquet": "parquet", ".pq": "parquet"}
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")


def is_sparse(obj: Any) -> bool:
    """True for a ``scipy.sparse`` matrix or array (checked without importing scipy)."""
    return type(obj).__module__.startswith("scipy.sparse")


SPARSE_MESSAGE = ("Sparse input is not supported: Gaussian mixtures need dense data. "
                  "Convert it with X.toarray() if it fits in memory.")


def is_out_of_core(X: Any) -> bool:
    """True for input that is read chunk by chunk rather than validated as one array."""
    from .hdf5 import is_hdf5_dataset
    from .parquet import is_arrow_table
    from .zarr import is_zarr_array
    return (isinstance(X, (str, os.PathLike, np.memmap, CheckedSource))
            or is_hdf5_dataset(X) or is_zarr_array(X) or is_arrow_table(X)
            or hasattr(X, "raw_chunks")
            or (callable(X) and not isinstance(X, np.ndarray))
            or isinstance(X, collections.abc.Iterator))


def source_file(source: Any) -> Optional[str]:
    """The file (absolute path) behind an out-of-core source, when there is one."""
    adapter = getattr(source, "adapter", None)
    path = getattr(adapter, "path", None)
    array = getattr(adapter, "array", None)
    if path is None and isinstance(array, np.memmap):
        path = getattr(array, "filename", None)
    if path is None and hasattr(array, "file") and hasattr(array.file, "filename"):
        path = array.file.filename                      # h5py.Dataset
    return None if path is None else os.path.abspath(os.fspath(path))


def same_file(a: Any, b: Any) -> bool:
    """True when paths ``a`` and ``b`` name the same file (same inode, or same path)."""
    a, b = os.fspath(a), os.fspath(b)
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def refuse_overwriting_input(out: Any, source: Any, what: str = "output") -> None:
    """Raise before anything is written when ``out`` names the file ``source`` reads."""
    data = source_file(source)
    if data is not None and same_file(out, data):
        raise ValueError(f"The {what} path {os.fspath(out)!r} is the input data file itself; "
                         "writing it would destroy the data. Choose another output path.")


def _path_adapter(path: str, key: Optional[str], columns: Optional[Sequence[str]]):
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file or directory: {path!r}.")
    kind = PATH_SUFFIXES.get(os.path.splitext(path.rstrip("/"))[1].lower())
    if kind is None and os.path.isdir(path) and (
            os.path.exists(os.path.join(path, "zarr.json"))
            or os.path.exists(os.path.join(path, ".zarray"))
            or os.path.exists(os.path.join(path, ".zgroup"))):
        kind = "zarr"
    if kind == "npy":
        from .npy import NpyAdapter
        return NpyAdapter(path)
    if kind == "hdf5":
        from .hdf5 import hdf5_adapter
        return hdf5_adapter(path, key)
    if kind == "zarr":
        from .zarr import zarr_adapter
        return zarr_adapter(path, key)
    if kind == "parquet":
        from .parquet import ParquetAdapter
        return ParquetAdapter(path, columns)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in TEXT_SUFFIXES:
        sep = "\\t" if suffix == ".tsv" else ","
        stem = os.path.splitext(path)[0]
        raise ValueError(
            f"{path!r} is a text ({suffix}) file; fastem reads binary formats, which it can "
            f"read chunk by chunk. Convert it once, e.g. to .npy with numpy: python -c \"import "
            f"numpy as np; np.save('{stem}.npy', np.loadtxt('{path}', delimiter='{sep}', "
            f"skiprows=1))\" (drop skiprows=1 if there is no header line), or to Parquet for "
            f"large files: python -c \"import pandas as pd; pd.read_csv('{path}', "
            f"sep='{sep}').to_parquet('{stem}.parquet')\".")
    raise ValueError(f"Cannot tell the format of {path!r} from its name; supported: .npy, "
                     ".h5/.hdf5 (HDF5), .zarr (Zarr), .parquet/.pq (Parquet).")


def open_source(data: Any, *, sample_weight: Any = None, chunk_size: Optional[int] = None,
                key: Optional[str] = None,
                columns: Optional[Sequence[str]] = None, family=None) -> CheckedSource:
    """Open out-of-core data as a validated, chunked source.

    Parameters
    ----------
    data : path, np.memmap, h5py.Dataset, zarr.Array, pyarrow.Table, callable or iterator
        A path to a ``.npy``, HDF5, Zarr or Parquet file (chosen by suffix); an array-like
        object read by row slices; a callable returning a fresh iterator of 2-D blocks (or
        ``(X, sample_weight)`` pairs); or a one-shot iterator (enough for ``predict``).
    sample_weight : array-like of shape (n_samples,), optional
        Weights by global row (may be a memmap).
    chunk_size : int, optional
        Rows per chunk; by default what fits ``fastem.set_options(chunk_memory=...)``.
    key : str, optional
        Dataset name inside an HDF5 file or Zarr group.
    columns : sequence of str, optional
        Parquet columns to use as features (default: every numeric column).
    family : ComponentFamily, optional
        Check every chunk with this family (``prepare`` + ``validate``) and keep its dtype,
        instead of the Gaussian rules (float, finite).

    Returns
    -------
    CheckedSource

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from fastem.data import open_source
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> np.save(path, np.zeros((10, 3)))
    >>> open_source(path, chunk_size=4).n_samples
    10
    """
    from .hdf5 import hdf5_adapter, is_hdf5_dataset
    from .parquet import ParquetAdapter, is_arrow_table
    from .sliced import SlicedAdapter
    from .zarr import is_zarr_array, zarr_adapter
    from .callable import CallableAdapter
    if isinstance(data, CheckedSource):
        return data
    if is_sparse(data):
        raise TypeError(f"{SPARSE_MESSAGE} Got {type(data).__name__}.")
    if isinstance(data, (str, os.PathLike)):
        adapter = _path_adapter(os.fspath(data), key, columns)
    elif isinstance(data, np.memmap):
        adapter = SlicedAdapter(data, f"np.memmap({getattr(data, 'filename', None)!r})")
    elif is_hdf5_dataset(data):
        adapter = hdf5_adapter(data)
    elif is_zarr_array(data):
        adapter = zarr_adapter(data)
    elif is_arrow_table(data):
        adapter = ParquetAdapter(data, columns)
    elif hasattr(data, "raw_chunks"):
        adapter = data
    elif isinstance(data, collections.abc.Iterator):
        adapter = CallableAdapter(iterator=data)
    elif callable(data):
        adapter = CallableAdapter(make_iter=data)
    else:
        raise TypeError(f"Cannot read data of type {type(data).__name__}; pass an array, a "
                        "path (.npy, .h5, .zarr, .parquet), an np.memmap, an h5py.Dataset, a "
                        "zarr array, a pyarrow.Table, or a callable returning an iterator of "
                        "2-D arrays.")
    if family is not None:
        return CheckedSource(adapter, sample_weight, chunk_size, family=family)
    return CheckedSource(adapter, sample_weight, chunk_size)
