"""``feature_names_in_``: column names recorded at ``fit`` and checked at every later call.

The rules and the messages are scikit-learn's (``sklearn.utils.validation``), so code and
tests written against scikit-learn see the same warnings and errors; scikit-learn is not
needed. Names come from a DataFrame's ``columns`` (pandas, Polars, Dask, ...) or a
``pyarrow.Table``'s ``column_names``; only all-string names are recorded.
"""
from __future__ import annotations

import sys
import warnings
from typing import Any, Optional

import numpy as np

_MAX_LISTED = 5


def feature_names_of(X: Any) -> Optional[np.ndarray]:
    """The column names of ``X`` as an object array, or ``None`` for arrays and for
    tables whose names are not all strings.

    Raises
    ------
    TypeError
        When some names are strings and others are not (as scikit-learn does).
    """
    if isinstance(X, np.ndarray):
        return None
    # A pyarrow.Table's ``columns`` are its data, so its names are read from column_names.
    columns = getattr(X, "column_names", None)
    if columns is None or callable(columns):
        columns = getattr(X, "columns", None)
    if columns is None or callable(columns) or isinstance(columns, (str, bytes)):
        return None
    try:
        names = np.asarray(list(columns), dtype=object)
    except TypeError:
        return None
    if names.ndim != 1 or names.size == 0:
        return None
    types = sorted({type(v).__qualname__ for v in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. "
            "If you want feature names to be stored and validated, you must convert "
            "them all to strings, by using X.columns = X.columns.astype(str) for "
            "example. Otherwise you can remove feature / column names from your input "
            "data, or convert them all to a non-string data type.")
    return names if types == ["str"] else None


def _user_stacklevel() -> int:
    """``stacklevel`` that points a warning at the first caller outside fastem."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "fastem":
        frame, level = frame.f_back, level + 1
    return level


def _listed(names: list) -> str:
    lines = [f"- {n}\n" for n in names[:_MAX_LISTED]]
    if len(names) > _MAX_LISTED:
        lines.append("- ...\n")
    return "".join(lines)


def check_feature_names(fitted: Optional[np.ndarray], X: Any, owner: str) -> None:
    """Compare ``X``'s column names with those recorded at fit (``fitted``).

    Warns (``UserWarning``) when only one side has names; raises ``ValueError`` listing the
    unseen and missing names (at most five of each), or saying the order differs.
    """
    names = feature_names_of(X)
    if fitted is None and names is None:
        return
    if fitted is None:
        warnings.warn(f"X has feature names, but {owner} was fitted without feature names",
                      UserWarning, stacklevel=_user_stacklevel())
        return
    if names is None:
        warnings.warn(f"X does not have valid feature names, but {owner} was fitted with "
                      "feature names", UserWarning, stacklevel=_user_stacklevel())
        return
    if len(names) == len(fitted) and bool(np.all(names == fitted)):
        return
    unseen = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))
    msg = "The feature names should match those that were passed during fit.\n"
    if unseen:
        msg += "Feature names unseen at fit time:\n" + _listed(unseen)
    if missing:
        msg += "Feature names seen at fit time, yet now missing:\n" + _listed(missing)
    if not unseen and not missing:
        msg += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(msg)
