"""The table of a model-selection sweep: one row per candidate, printable, convertible."""
from __future__ import annotations

import math
from typing import Any, Iterator, Sequence, Union

import numpy as np

#: The columns of every selection table, in order.
COLUMNS = ("n_components", "covariance_type", "bic", "icl", "aic", "lower_bound", "n_iter",
           "converged", "n_parameters", "seconds", "error")


def _cell(value: Any, column: str) -> str:
    if value is None:
        return "" if column == "error" else "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if column == "seconds":
            return f"{value:.2f}"
        if column == "lower_bound":
            return f"{value:.6f}"
        return f"{value:,.2f}"
    return str(value)


class SelectionTable:
    """Rows of a sweep (dicts keyed by :data:`COLUMNS`), in the order they were fitted.

    A failed candidate has ``error`` set (the exception's type and message) and ``nan``
    criteria; it is never chosen. Iterating gives the rows as dicts; ``table["bic"]`` is a
    column as an array; ``to_frame()`` is a pandas DataFrame; ``str(table)`` a text table
    with the chosen row marked ``*``.

    Parameters
    ----------
    rows : sequence of dict
    best : int or None
        Index of the chosen row.
    """

    def __init__(self, rows: Sequence[dict], best: Union[int, None] = None) -> None:
        self.rows = [{c: r.get(c) for c in COLUMNS} for r in rows]
        self.best = best

    @property
    def columns(self) -> tuple:
        """The column names."""
        return COLUMNS

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict]:
        return (dict(r) for r in self.rows)

    def __getitem__(self, key: Union[str, int]):
        if isinstance(key, str):
            if key not in COLUMNS:
                raise KeyError(f"No column {key!r}; columns are {list(COLUMNS)}.")
            values = [r[key] for r in self.rows]
            if key in ("covariance_type", "error"):
                return np.array(values, dtype=object)
            return np.array(values)
        return dict(self.rows[key])

    def to_frame(self):
        """The table as a ``pandas.DataFrame`` (needs pandas: ``pip install pandas``)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("SelectionTable.to_frame needs pandas: pip install pandas "
                              "(or iterate over the table's rows, which are dicts).") from None
        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def to_dict(self, orient: str = "records") -> Any:
        """The rows as dicts (``orient="records"``) or the columns as lists (``"list"``)."""
        if orient == "records":
            return list(self)
        if orient == "list":
            return {c: [r[c] for r in self.rows] for c in COLUMNS}
        raise ValueError(f"orient must be 'records' or 'list'; got {orient!r}.")

    def __str__(self) -> str:
        shown = [c for c in COLUMNS if c != "error" or any(r["error"] for r in self.rows)]
        cells = [[_cell(r[c], c) for c in shown] for r in self.rows]
        widths = [max([len(c)] + [len(row[j]) for row in cells]) for j, c in enumerate(shown)]
        left = {"covariance_type", "error"}

        def line(values: Sequence[str], mark: str) -> str:
            parts = [v.ljust(w) if c in left else v.rjust(w)
                     for v, w, c in zip(values, widths, shown)]
            return (mark + " " + "  ".join(parts)).rstrip()

        out = [line(shown, " "), line(["-" * w for w in widths], " ")]
        out += [line(row, "*" if i == self.best else " ") for i, row in enumerate(cells)]
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)


__all__ = ["SelectionTable", "COLUMNS"]
