"""``CategoricalMixture``: a mixture of independent categorical features (latent class
analysis with polytomous answers).

A thin client of the engine: the family (:class:`fastem.families.categorical.CategoricalFamily`)
knows the components; the driver and the in-process backend are the Gaussian's, unchanged.
"""
from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np

from .._params import ARRAY_LIKE, NONE, RANDOM_STATE, Interval, Options
from ..families.categorical import (CategoricalFamily, CategoricalParams,
                                    _integer_codes_error)
from ._linexp import INIT_PARAMS, LinexpMixtureBase


class CategoricalMixture(LinexpMixtureBase):
    """Mixture of independent categorical features fitted by exact EM.

    Parameters
    ----------
    n_components : int, default=1
    alpha : float, default=1e-10
        Additive smoothing: ``P(x_d = c | k) = (sum_i w_i r_ik [x_id = c] + alpha) /
        (N_k + C_d alpha)``.
    n_categories : int or list of int, optional
        ``C_d``: one int for every column, or one per column. By default the number of
        categories of ``probabilities_init``, else the largest code of each column seen in
        ``fit`` plus one.
    probabilities_init : list of array-like, optional
        One array of shape (n_components, C_d) per column: initial probabilities, positive,
        each row summing to 1.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean per-sample log-likelihood.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        See :mod:`fastem.estimators._linexp` (k-means on the one-hot codes of a sample). The
        first M-step is smoothed: its probabilities are mixed with weight 0.1 with the uniform
        ``1 / C_d``, so a code absent from a component's initial rows does not start (and,
        with a tiny ``alpha``, stay) at probability zero.
    weights_init : array-like of shape (n_components,), optional
    random_state : int, RandomState or Generator, optional
    chunk_size : int, optional
        Rows per kernel call.
    n_threads : int, optional
        Numba threads; results are bit-identical for any number.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    probabilities_ : list of ndarray of shape (n_components, C_d)
        ``P(x_d = c | k)``, one array per column.
    n_categories_ : list of int
        ``C_d`` per column.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_
        As in :class:`fastem.GaussianMixture`.

    Notes
    -----
    ``X`` holds integer codes ``0 .. C_d - 1``: integer or boolean dtypes (read as they are,
    no float copy), or floats with integral values. A negative, fractional, NaN or
    out-of-range value is a ``ValueError`` naming its row, column and value, in ``fit`` and
    at prediction (a code the model was not fitted with).
    """

    _who = "CategoricalMixture"

    def __init__(self, n_components: int = 1, *, alpha: float = 1e-10,
                 n_categories: Optional[Any] = None, probabilities_init: Optional[Any] = None,
                 tol: float = 1e-3, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", weights_init: Optional[Any] = None,
                 random_state: Optional[Any] = None, chunk_size: Optional[int] = None,
                 n_threads: Optional[int] = None) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.n_categories = n_categories
        self.probabilities_init = probabilities_init
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.n_threads = n_threads

    _constraints = {
        "n_components": [Interval("int", 1, None, "left")],
        "alpha": [Interval("float", 0.0, None, "neither")],
        "n_categories": [Interval("int", 1, None, "left"), ARRAY_LIKE, NONE],
        "probabilities_init": [ARRAY_LIKE, NONE],
        "tol": [Interval("float", 0.0, None, "left")],
        "max_iter": [Interval("int", 0, None, "left")],
        "n_init": [Interval("int", 1, None, "left")],
        "init_params": [Options(INIT_PARAMS)],
        "weights_init": [ARRAY_LIKE, NONE],
        "random_state": [RANDOM_STATE, NONE],
        "chunk_size": [Interval("int", 1, None, "left"), NONE],
        "n_threads": [Interval("int", 1, None, "left"), NONE],
    }

    def _reg(self) -> float:
        return float(self.alpha)

    def _resolve_n_categories(self, X: np.ndarray) -> list[int]:
        d = X.shape[1]
        nc = self.n_categories
        if nc is None and self.probabilities_init is not None:
            return [np.shape(p)[1] if np.ndim(p) == 2 else -1
                    for p in self._probability_list(d)]
        if nc is None:
            top = X.max(axis=0)
            return [int(v) + 1 for v in np.asarray(top, dtype=np.int64)]
        if isinstance(nc, numbers.Integral):
            return [int(nc)] * d
        values = list(nc)
        if len(values) != d or not all(isinstance(v, numbers.Integral)
                                       and not isinstance(v, bool) and v >= 1
                                       for v in values):
            raise ValueError(f"n_categories must be an int >= 1 or a list of {d} ints >= 1 "
                             f"(one per column of X); got {nc!r}.")
        return [int(v) for v in values]

    def _probability_list(self, d: int) -> list:
        probs = list(self.probabilities_init)
        if len(probs) != d:
            raise ValueError(f"probabilities_init must hold one array of shape "
                             f"(n_components, C_d) per column: {d} arrays; got {len(probs)}.")
        return probs

    def _make_family(self, X: np.ndarray) -> CategoricalFamily:
        msg = _integer_codes_error(X, "CategoricalMixture", "codes")
        if msg is not None:
            raise ValueError(msg)
        family = CategoricalFamily(self._resolve_n_categories(X))
        family.validate(X)
        return family

    def _fitted_family(self) -> CategoricalFamily:
        return CategoricalFamily(self.n_categories_)

    def _user_params(self, family: CategoricalFamily, d: int
                     ) -> Optional[CategoricalParams]:
        if self.probabilities_init is None:
            return None
        k = self.n_components
        blocks = []
        for col, (p, c) in enumerate(zip(self._probability_list(d), family.n_categories)):
            p = np.asarray(p, dtype=np.float64)
            if p.shape != (k, c) or not np.isfinite(p).all() or not (p > 0).all() \
                    or not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-8):
                raise ValueError(f"probabilities_init[{col}] must have shape ({k}, {c}) with "
                                 f"positive values whose rows sum to 1; got shape {p.shape}.")
            blocks.append(p)
        weights = (np.full(k, 1.0 / k) if self.weights_init is None
                   else self._weights_init(k))
        return CategoricalParams(weights, np.concatenate(blocks, axis=1), family.offsets)

    def _set_params(self, params: CategoricalParams) -> None:
        self.weights_ = params.weights
        self.probabilities_ = [p.copy() for p in params.per_column()]
        self.n_categories_ = [p.shape[1] for p in self.probabilities_]

    def _params(self) -> CategoricalParams:
        family = CategoricalFamily(self.n_categories_)
        return CategoricalParams(self.weights_, np.concatenate(self.probabilities_, axis=1),
                                 family.offsets)
