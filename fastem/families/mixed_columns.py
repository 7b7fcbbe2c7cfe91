"""The columns of a mixed-type model's blocks: names resolved to indices, and the check that
every column of the data is in exactly one block (errors name the column and the blocks)."""
from __future__ import annotations

import numbers
import os
from typing import Any, Optional

PARQUET_SUFFIXES = (".parquet", ".pq")


def column_names_of(X: Any) -> Optional[list]:
    """The column names of ``X`` (a DataFrame, a ``pyarrow.Table``, a ``.parquet`` path, or
    a source reading one: its numeric columns in file order), or ``None``."""
    from .._feature_names import feature_names_of
    if isinstance(X, (str, os.PathLike)):
        path = os.fspath(X)
        if os.path.splitext(path.rstrip("/"))[1].lower() not in PARQUET_SUFFIXES:
            return None
        from ..data.parquet import ParquetAdapter
        return list(ParquetAdapter(path).columns)
    adapter = getattr(X, "adapter", None)
    if adapter is not None and type(adapter).__name__ == "ParquetAdapter":
        return list(adapter.columns)
    names = feature_names_of(X)
    return None if names is None else [str(v) for v in names]


def resolve_names(columns: dict, names: list) -> dict:
    """``columns`` (family -> names or indices) with every name replaced by its index in
    ``names``; an unknown name is an error listing the data's columns."""
    index = {n: i for i, n in enumerate(names)}
    out = {}
    for family, cols in columns.items():
        cols = [cols] if isinstance(cols, str) else list(cols)
        resolved = []
        for c in cols:
            if isinstance(c, str):
                if c not in index:
                    raise ValueError(f"columns[{family!r}] names the column {c!r}, which the "
                                     f"data does not have; its columns are {names!r}.")
                resolved.append(index[c])
            else:
                resolved.append(c)
        out[family] = resolved
    return out


def check_blocks_cover(blocks: list, n_features: int, names: Optional[list] = None) -> None:
    """Raise unless every column ``0 .. n_features-1`` is in exactly one of ``blocks``
    (``(family, indices)`` pairs); the message names the column (and its two families)."""
    owner: dict = {}
    for family, cols in blocks:
        for c in cols:
            if isinstance(c, bool) or not isinstance(c, numbers.Integral) \
                    or not 0 <= int(c) < n_features:
                raise ValueError(f"columns[{family!r}] holds {c!r}, which is not a column "
                                 f"of the data (0 .. {n_features - 1}, or a column name).")
            c = int(c)
            if c in owner:
                raise ValueError(f"Column {_named(c, names)} is given to two families, "
                                 f"{owner[c]!r} and {family!r}; each column belongs to "
                                 "exactly one block.")
            owner[c] = family
    left = [c for c in range(n_features) if c not in owner]
    if left:
        raise ValueError(f"Column {_named(left[0], names)} has no family: columns must "
                         f"put each of the {n_features} columns of the data in exactly one "
                         f"block ({len(left)} left out: {left[:10]!r}).")


def _named(c: int, names: Optional[list]) -> str:
    return f"{c} ({names[c]!r})" if names is not None and c < len(names) else str(c)
