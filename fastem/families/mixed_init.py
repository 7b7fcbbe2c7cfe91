"""Initialisation of models with categorical columns (``CategoricalMixture``, a mixed-type
model's categorical block): k-means on one-hot codes.

Category codes are labels, not numbers (code 2 is not "between" codes 1 and 3), so k-means,
k-means++ and ``random_from_data`` (nearest sampled row) run on a view of the data in which
every categorical column ``d`` is replaced by its ``C_d`` indicator columns (0/1; the squared
distance between two different codes is 2 whatever the codes), and the other columns are
kept as they are. The hard labels found there are handed to the model's own ``resp_stats``
on the original columns (the view is inverted exactly: each indicator block's argmax is the
code). ``init_params="random"`` (random responsibilities) does not look at the values and
needs no view.
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from ..data.sources import Chunk


class OneHotView:
    """``source`` with its category columns ``columns`` (``n_categories[j]`` codes each)
    one-hot (float64 chunks); the other columns come first, as they are."""

    def __init__(self, source, columns, n_categories) -> None:
        self.source = source
        self.cat_cols = [int(c) for c in columns]
        self.n_categories = [int(c) for c in n_categories]
        d = source.n_features
        self.other = [c for c in range(d) if c not in set(self.cat_cols)]
        self.n_original = d
        self.n_features = len(self.other) + int(sum(self.n_categories))
        self.n_samples = getattr(source, "n_samples", None)
        self.dtype = np.dtype(np.float64)

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        out = np.zeros((X.shape[0], self.n_features))
        out[:, :len(self.other)] = X[:, self.other]
        start = len(self.other)
        rows = np.arange(X.shape[0])
        for col, c in zip(self.cat_cols, self.n_categories):
            out[rows, start + np.asarray(X[:, col], dtype=np.int64)] = 1.0
            start += c
        return out

    def inverse(self, V: np.ndarray) -> np.ndarray:
        """The original columns (float64) of view rows ``V``."""
        X = np.zeros((V.shape[0], self.n_original))
        X[:, self.other] = V[:, :len(self.other)]
        start = len(self.other)
        for col, c in zip(self.cat_cols, self.n_categories):
            X[:, col] = np.argmax(V[:, start:start + c], axis=1)
            start += c
        return X

    def __getattr__(self, name: str):
        # Rows by index when the source has them (a sample without a pass).
        if name == "take" and hasattr(self.source, "take"):
            return lambda idx: self.transform(self.source.take(idx))
        if name == "weights_at" and hasattr(self.source, "weights_at"):
            return self.source.weights_at
        raise AttributeError(name)

    def chunks(self) -> Iterator[Chunk]:
        for chunk in self.source.chunks():
            yield Chunk(chunk.start, self.transform(chunk.X), chunk.sample_weight)


class FromOneHot:
    """The model's family seen through a :class:`OneHotView`: ``resp_stats`` of view rows
    are the family's ``resp_stats`` of the original rows."""

    def __init__(self, family, view: OneHotView) -> None:
        self.family = family
        self.view = view

    def resp_stats(self, X, sample_weight, resp, anchor: Optional[np.ndarray] = None,
                   serial: bool = False):
        a = None
        if anchor is not None:
            a = np.zeros((np.shape(anchor)[0], self.view.n_original))
            a[:, self.view.other] = np.asarray(anchor)[:, :len(self.view.other)]
        return self.family.resp_stats(self.view.inverse(np.asarray(X)), sample_weight, resp,
                                      a, serial=serial)

    def __getattr__(self, name):
        return getattr(self.family, name)
