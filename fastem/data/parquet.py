"""Parquet files and ``pyarrow.Table`` objects (extra ``parquet``: pyarrow).

Rows are read in record batches; the chosen numeric columns become the features. Nulls
become NaN, which the shared validation reports with their global row number.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from ._extras import require


def is_arrow_table(obj: Any) -> bool:
    """True for a ``pyarrow.Table`` (checked without importing pyarrow)."""
    return type(obj).__module__.startswith("pyarrow") and type(obj).__name__ == "Table"


def _numeric_columns(schema, columns: Optional[Sequence[str]], name: str) -> list[str]:
    pa = require("pyarrow", "Reading Parquet data")
    numeric = [f.name for f in schema
               if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
               or pa.types.is_boolean(f.type)]
    if columns is None:
        if not numeric:
            raise TypeError(f"{name} has no numeric columns (columns: {schema.names!r}); "
                            "fastem needs numeric data.")
        return numeric
    columns = list(columns)
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise ValueError(f"{name} has no column(s) {missing!r}; its columns are "
                         f"{schema.names!r}.")
    bad = [c for c in columns if c not in numeric]
    if bad:
        raise TypeError(f"Column(s) {bad!r} of {name} are not numeric "
                        f"({[str(schema.field(c).type) for c in bad]!r}); choose numeric "
                        "columns with columns=[...].")
    return columns


class ParquetAdapter:
    """Raw chunks of a Parquet file or a ``pyarrow.Table``.

    Parameters
    ----------
    data : str, os.PathLike or pyarrow.Table
    columns : sequence of str, optional
        Feature columns, in order; by default every numeric column (others are skipped).
    """

    reiterable = True

    def __init__(self, data: Any, columns: Optional[Sequence[str]] = None) -> None:
        if is_arrow_table(data):
            self.table, self.path = data, None
            self.name = f"pyarrow.Table({data.num_rows:,} rows)"
            schema, n = data.schema, data.num_rows
        else:
            pq = require("pyarrow.parquet", "Reading Parquet files")
            self.table, self.path = None, os.fspath(data)
            self.name = repr(self.path)
            meta = pq.ParquetFile(self.path)
            schema, n = meta.schema_arrow, meta.metadata.num_rows
        self.columns = _numeric_columns(schema, columns, self.name)
        self.n_samples, self.n_features = int(n), len(self.columns)
        types = [schema.field(c).type.to_pandas_dtype() for c in self.columns]
        self.dtype = np.result_type(*types)

    def _batches(self, rows: int):
        if self.table is not None:
            return self.table.select(self.columns).to_batches(max_chunksize=rows)
        pq = require("pyarrow.parquet", "Reading Parquet files")
        return pq.ParquetFile(self.path).iter_batches(batch_size=rows, columns=self.columns)

    def raw_chunks(self, rows: int) -> Iterator[tuple]:
        for batch in self._batches(rows):
            X = np.empty((batch.num_rows, self.n_features), dtype=self.dtype)
            for j in range(self.n_features):
                col = batch.column(j).to_numpy(zero_copy_only=False)
                X[:, j] = col if col.dtype != object else np.asarray(col, dtype=np.float64)
            yield X, None
