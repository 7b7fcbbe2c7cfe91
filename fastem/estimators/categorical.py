"""``CategoricalMixture``: a mixture of independent categorical features (latent class
analysis with polytomous answers).

A thin client of :class:`fastem.estimators._mixture.FamilyMixture`: the family
(:class:`fastem.families.categorical.CategoricalFamily`) knows the components; the driver,
both backends, online EM, checkpoints, save/load and the CLI are shared.
"""
from __future__ import annotations

import numbers
import os
from typing import Any, Optional, Union

import numpy as np

from .._params import ARRAY_LIKE, NONE, Interval
from ..families.categorical import CategoricalFamily, CategoricalParams
from ..families.registry import register, register_estimator
from ._mixture import COMMON_CONSTRAINTS, FamilyMixture
from ._nan import NAN_POLICY_CONSTRAINT, ImputeMixin, NanPolicyMixin

#: Weight of the uniform ``1 / C_d`` in the smoothed first M-step.
INIT_SMOOTHING = 0.1


def _column_max(X: np.ndarray) -> np.ndarray:
    """Largest code of every column (int64), NaN (missing) ignored; 0 for a column of NaN."""
    if X.dtype.kind == "f" and np.isnan(X).any():
        top = np.where(np.isnan(X), -np.inf, X).max(axis=0)
        return np.maximum(top, 0).astype(np.int64)
    return np.asarray(X.max(axis=0), dtype=np.int64)


class CategoricalMixture(ImputeMixin, NanPolicyMixin, FamilyMixture):
    """Mixture of independent categorical features fitted by exact EM.

    Parameters
    ----------
    n_components : int, default=1
    alpha : float, default=1e-10
        Additive smoothing (> 0): ``P(x_d = c | k) = (sum_i w_i r_ik [x_id = c] + alpha) /
        (N_k + C_d alpha)``; an empty component gets uniform probabilities.
    n_categories : int or list of int, optional
        ``C_d``: one int for every column, or one per column. By default the number of
        categories of ``probabilities_init``, else the largest code of each column seen in
        ``fit`` plus one (one extra pass over the data).
    probabilities_init : list of array-like, optional
        One array of shape (n_components, C_d) per column: initial probabilities, positive,
        each row summing to 1; the data is then not read to initialise.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean per-sample log-likelihood.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Hard labels from k-means, k-means++ or the nearest sampled row on the codes seen
        one-hot (codes are labels, not numbers: every two different codes are equally far
        apart), or uniform random responsibilities; then one M-step. That first M-step is
        smoothed: its probabilities are mixed with weight 0.1 with the uniform ``1 / C_d``,
        so a code absent from a component's initial rows does not start at probability
        ``alpha / N_k`` (about zero), from which EM could hardly move it.
    weights_init : array-like of shape (n_components,), optional
    random_state, warm_start, verbose, verbose_interval, chunk_size, n_threads, backend,
    algorithm, learning_decay, learning_offset, progress, checkpoint
        As in :class:`fastem.GaussianMixture`.
    nan_policy : {"raise", "omit", "marginalize"}, default="raise"
        NaN in float input marks a missing entry (integer and bool arrays hold none; a
        pandas nullable column's NA becomes NaN when read as floats). ``"raise"``: an error
        naming the first row holding one. ``"omit"``: rows holding a NaN are left out of the
        fit (``n_rows_omitted_``). ``"marginalize"``: exact EM over each row's observed
        coordinates (the components factorise, so each coordinate's M-step divides by the
        responsibility mass observing it). Under both, inference uses each row's observed
        coordinates; a row with every coordinate missing adds nothing, scores 0.0, is left
        out of the ``n`` of ``score``/``bic``/``aic`` (``n_rows_all_missing_``). ``inf`` and
        values outside the family's domain are always errors.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    probabilities_ : list of ndarray of shape (n_components, C_d)
        ``P(x_d = c | k)``, one array per column.
    n_categories_ : list of int
        ``C_d`` per column.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_, feature_names_in_
        As in :class:`fastem.GaussianMixture`.
    n_rows_omitted_, n_rows_all_missing_ : int
        Rows left out for holding a NaN (``nan_policy="omit"``), and rows entirely NaN.

    Notes
    -----
    ``X`` holds integer codes ``0 .. C_d - 1``: integer or boolean dtypes (read as they are,
    also from out-of-core sources: no float64 copy, no one-hot matrix), or floats with
    integral values. A negative, fractional, NaN or out-of-range value is a ``ValueError``
    naming its row, column and value, in ``fit`` and at prediction (a code the model was not
    fitted with).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import CategoricalMixture
    >>> X = np.array([[0, 2], [0, 2], [1, 0], [1, 0]], dtype=np.uint8)
    >>> cm = CategoricalMixture(n_components=2, random_state=0).fit(X)
    >>> cm.n_categories_
    [2, 3]
    """

    def __init__(self, n_components: int = 1, *, alpha: float = 1e-10,
                 n_categories: Optional[Any] = None, probabilities_init: Optional[Any] = None,
                 tol: float = 1e-3, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", weights_init: Optional[Any] = None,
                 random_state: Optional[Any] = None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10,
                 chunk_size: Optional[int] = None, n_threads: Optional[int] = None,
                 backend: str = "auto", algorithm: str = "em",
                 learning_decay: float = 0.7, learning_offset: float = 10.0,
                 progress: bool = False,
                 checkpoint: Optional[Union[str, os.PathLike]] = None,
                 nan_policy: str = "raise") -> None:
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
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.n_threads = n_threads
        self.backend = backend
        self.algorithm = algorithm
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.progress = progress
        self.checkpoint = checkpoint
        self.nan_policy = nan_policy

    _constraints = {**COMMON_CONSTRAINTS, **NAN_POLICY_CONSTRAINT,
                    "alpha": [Interval("float", 0.0, None, "neither")],
                    "n_categories": [Interval("int", 1, None, "left"), ARRAY_LIKE, NONE],
                    "probabilities_init": [ARRAY_LIKE, NONE]}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    # ---- n_categories -----------------------------------------------------------------------
    def _probability_list(self, d: Optional[int]) -> list:
        probs = list(self.probabilities_init)
        if d is not None and len(probs) != d:
            raise ValueError(f"probabilities_init must hold one array of shape "
                             f"(n_components, C_d) per column: {d} arrays; got {len(probs)}.")
        return probs

    def _given_n_categories(self, d: Optional[int]):
        """``C_d`` from the parameters (an int, a list, or the shapes of
        ``probabilities_init``), or ``None`` when it must be read from the data."""
        nc = self.n_categories
        if nc is None and self.probabilities_init is not None:
            return [int(np.shape(p)[1]) if np.ndim(p) == 2 else 1
                    for p in self._probability_list(d)]
        if nc is None or isinstance(nc, numbers.Integral):
            return None if nc is None else (int(nc) if d is None else [int(nc)] * d)
        values = list(nc)
        if d is not None and (len(values) != d or not all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
                for v in values)):
            raise ValueError(f"n_categories must be an int >= 1 or a list of {d} ints >= 1 "
                             f"(one per column of X); got {nc!r}.")
        return values

    def _make_family(self, n_features, source) -> CategoricalFamily:
        if n_features is None:          # the chunk checker of fit
            return CategoricalFamily(self._given_n_categories(None), fitted=False,
                                     nan_policy=self.nan_policy)
        given = self._given_n_categories(n_features)
        if given is None:
            top = np.zeros(n_features, dtype=np.int64)
            for chunk in source.chunks():
                if chunk.X.shape[0]:
                    top = np.maximum(top, _column_max(chunk.X))
            given = [int(v) + 1 for v in top]
        return CategoricalFamily(given, nan_policy=self.nan_policy)

    # ---- the hooks of FamilyMixture ---------------------------------------------------------
    def _reg(self) -> float:
        return float(self.alpha)

    def _user_init_params(self, family, n_components, n_features):
        if self.probabilities_init is None:
            return None
        k = n_components
        blocks = []
        for col, (p, c) in enumerate(zip(self._probability_list(n_features),
                                         family.n_categories)):
            p = np.asarray(p, dtype=np.float64)
            if p.shape != (k, c) or not np.isfinite(p).all() or not (p > 0).all() \
                    or not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-8):
                raise ValueError(f"probabilities_init[{col}] must have shape ({k}, {c}) with "
                                 f"positive values whose rows sum to 1; got shape {p.shape}.")
            blocks.append(p)
        return CategoricalParams(np.full(k, 1.0 / k), np.concatenate(blocks, axis=1),
                                 family.offsets)

    def _init_view(self, source, family):
        """The codes one-hot (code 2 is not between codes 1 and 3)."""
        from ..families.mixed_init import OneHotView
        return OneHotView(source, range(source.n_features), family.n_categories)

    def _smooth_initial(self, params: CategoricalParams, stats) -> CategoricalParams:
        return CategoricalFamily(list(np.diff(params.offsets))).smoothed(params,
                                                                         INIT_SMOOTHING)

    def _fitted_attributes(self, params: CategoricalParams) -> dict:
        probs = [p.copy() for p in params.per_column()]
        return {"weights_": params.weights, "probabilities_": probs,
                "n_categories_": [p.shape[1] for p in probs]}

    def _params_from_attributes(self) -> CategoricalParams:
        family = CategoricalFamily(self.n_categories_)
        return CategoricalParams(self.weights_, np.concatenate(self.probabilities_, axis=1),
                                 family.offsets)


register("categorical", CategoricalFamily)
register_estimator("categorical", CategoricalMixture)

__all__ = ["CategoricalMixture"]
