"""``PoissonMixture``: a mixture of independent Poisson counts.

A thin client of :class:`fastem.estimators._mixture.FamilyMixture`: the family
(:class:`fastem.families.poisson.PoissonFamily`) knows the components; the driver, both
backends, online EM, checkpoints, save/load and the CLI are shared.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np

from .._params import ARRAY_LIKE, NONE, Interval
from ..families.poisson import PoissonFamily, PoissonParams
from ..families.registry import register, register_estimator
from ._mixture import COMMON_CONSTRAINTS, FamilyMixture
from ._nan import NAN_POLICY_CONSTRAINT, ImputeMixin, NanPolicyMixin

#: Weight of the overall mean rates in the smoothed first M-step.
INIT_SMOOTHING = 0.1


class PoissonMixture(ImputeMixin, NanPolicyMixin, FamilyMixture):
    """Mixture of independent Poisson counts fitted by exact EM.

    Parameters
    ----------
    n_components : int, default=1
    reg_rate : float, default=1e-10
        Added to every rate (> 0): ``means_ = S_kd / N_k + reg_rate`` with
        ``S_kd = sum_i w_i r_ik x_id`` and ``N_k = sum_i w_i r_ik``; keeps ``log`` rates
        finite for a column that is all zeros in a component. A component whose weight
        sum is (almost) zero keeps its previous rates.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean per-sample log-likelihood.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Hard labels from k-means on the counts (or uniform random responsibilities), then
        one M-step. That first M-step is smoothed: the rates are mixed with weight 0.1 with
        the overall mean rates, so a column that is all zeros in a component's initial rows
        does not start at ``reg_rate`` (from which EM could hardly move it).
    weights_init : array-like of shape (n_components,), optional
    means_init : array-like of shape (n_components, n_features), optional
        Initial rates, positive; the data is then not read to initialise.
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
    means_ : ndarray of shape (n_components, n_features)
        The rates ``lambda_kd``.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_, feature_names_in_
        As in :class:`fastem.GaussianMixture`.
    n_rows_omitted_, n_rows_all_missing_ : int
        Rows left out for holding a NaN (``nan_policy="omit"``), and rows entirely NaN.

    Notes
    -----
    ``X`` holds non-negative integer counts: integer or boolean dtypes (read as they are,
    also from out-of-core sources: no float64 copy), or floats with integral values. A
    negative or fractional value, NaN or infinity is a ``ValueError`` naming its row, column
    and value.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import PoissonMixture
    >>> X = np.array([[0, 9], [1, 11], [10, 0], [12, 1]])
    >>> pm = PoissonMixture(n_components=2, random_state=0).fit(X)
    >>> bool(pm.predict(X)[0] != pm.predict(X)[2])
    True
    """

    def __init__(self, n_components: int = 1, *, reg_rate: float = 1e-10, tol: float = 1e-3,
                 max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 weights_init: Optional[Any] = None, means_init: Optional[Any] = None,
                 random_state: Optional[Any] = None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10,
                 chunk_size: Optional[int] = None, n_threads: Optional[int] = None,
                 backend: str = "auto", algorithm: str = "em",
                 learning_decay: float = 0.7, learning_offset: float = 10.0,
                 progress: bool = False,
                 checkpoint: Optional[Union[str, os.PathLike]] = None,
                 nan_policy: str = "raise") -> None:
        self.n_components = n_components
        self.reg_rate = reg_rate
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
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
                    "reg_rate": [Interval("float", 0.0, None, "neither")],
                    "means_init": [ARRAY_LIKE, NONE]}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    # ---- the hooks of FamilyMixture ---------------------------------------------------------
    def _make_family(self, n_features, source) -> PoissonFamily:
        return PoissonFamily(nan_policy=self.nan_policy)

    def _reg(self) -> float:
        return float(self.reg_rate)

    def _user_init_params(self, family, n_components, n_features):
        if self.means_init is None:
            return None
        k, d = n_components, n_features
        means = np.asarray(self.means_init, dtype=np.float64)
        if means.shape != (k, d):
            raise ValueError(f"The parameter 'means' should have the shape of {(k, d)}, but "
                             f"got {means.shape}. means_init needs one row of rates per "
                             "component.")
        bad = ~(np.isfinite(means) & (means > 0))
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise ValueError(f"means_init must hold positive finite rates; means_init[{i}, "
                             f"{j}] is {float(means[i, j])!r}.")
        return PoissonParams(np.full(k, 1.0 / k), means.copy())

    def _smooth_initial(self, params: PoissonParams, stats) -> PoissonParams:
        return PoissonFamily().smoothed(params, INIT_SMOOTHING)

    def _fitted_attributes(self, params: PoissonParams) -> dict:
        return {"weights_": params.weights, "means_": params.means}

    def _params_from_attributes(self) -> PoissonParams:
        return PoissonParams(self.weights_, self.means_)


register("poisson", PoissonFamily)
register_estimator("poisson", PoissonMixture)

__all__ = ["PoissonMixture"]
