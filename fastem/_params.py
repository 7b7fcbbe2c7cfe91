"""Declarative parameter constraints and scikit-learn-style messages for them."""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A number of ``kind`` ("int" or "float") in ``[low, high]`` (``closed`` says which ends)."""

    kind: str
    low: Optional[float]
    high: Optional[float]
    closed: str = "left"  # "left", "right", "both", "neither"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return False
        if self.kind == "int" and not isinstance(value, numbers.Integral):
            return False
        if self.kind == "float" and not isinstance(value, numbers.Real):
            return False
        if not np.isfinite(value) and (self.low is not None or self.high is not None):
            if not (value == np.inf and self.high is None):
                return False
        lo_ok = (self.low is None or value > self.low
                 or (value == self.low and self.closed in ("left", "both")))
        hi_ok = (self.high is None or value < self.high
                 or (value == self.high and self.closed in ("right", "both")))
        return bool(lo_ok and hi_ok)

    def __str__(self) -> str:
        word = "an int" if self.kind == "int" else "a float"
        left = "[" if self.closed in ("left", "both") else "("
        right = "]" if self.closed in ("right", "both") else ")"
        lo = "-inf" if self.low is None else (repr(float(self.low)) if self.kind == "float"
                                              else str(int(self.low)))
        hi = "inf" if self.high is None else (repr(float(self.high)) if self.kind == "float"
                                              else str(int(self.high)))
        return f"{word} in the range {left}{lo}, {hi}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    values: tuple

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values

    def __str__(self) -> str:
        return "a str among {" + ", ".join(repr(v) for v in self.values) + "}"


@dataclass(frozen=True)
class TypeOf:
    """An instance of one of ``types``, described by ``name``."""

    types: tuple
    name: str

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def __str__(self) -> str:
        return self.name


NONE = TypeOf((type(None),), "None")
BOOL = TypeOf((bool, np.bool_), "an instance of 'bool'")
ARRAY_LIKE = TypeOf((np.ndarray, list, tuple), "an array-like")
RANDOM_STATE = TypeOf((numbers.Integral, np.random.RandomState, np.random.Generator),
                      "an int, a numpy.random.RandomState or a numpy.random.Generator")


def validate_params(owner: str, values: dict, constraints: dict[str, Iterable]) -> None:
    """Raise ``ValueError`` (sklearn's wording) for the first value no constraint accepts."""
    for name, allowed in constraints.items():
        allowed = list(allowed)
        value = values[name]
        if any(c.accepts(value) for c in allowed):
            continue
        descr = [str(c) for c in allowed]
        text = descr[0] if len(descr) == 1 else ", ".join(descr[:-1]) + " or " + descr[-1]
        raise ValueError(
            f"The {name!r} parameter of {owner} must be {text}. Got {value!r} instead.")
