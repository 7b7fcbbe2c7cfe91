"""``PoissonMixture``: a mixture of independent Poisson counts.

A thin client of the engine: the family (:class:`fastem.families.poisson.PoissonFamily`) knows
the components; the driver and the in-process backend are the Gaussian's, unchanged.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .._params import ARRAY_LIKE, NONE, RANDOM_STATE, Interval, Options
from ..families.poisson import PoissonFamily, PoissonParams
from ._linexp import INIT_PARAMS, LinexpMixtureBase


class PoissonMixture(LinexpMixtureBase):
    """Mixture of independent Poisson counts fitted by exact EM.

    Parameters
    ----------
    n_components : int, default=1
    reg_rate : float, default=1e-10
        Added to every rate: ``means_ = S_kd / N_k + reg_rate`` with
        ``S_kd = sum_i w_i r_ik x_id`` and ``N_k = sum_i w_i r_ik``; keeps ``log`` rates
        finite for a column that is all zeros in a component.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean per-sample log-likelihood.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        See :mod:`fastem.estimators._linexp`; the first M-step is smoothed towards the overall
        mean rates (weight 0.1) so that no rate starts at ``reg_rate``.
    weights_init : array-like of shape (n_components,), optional
    means_init : array-like of shape (n_components, n_features), optional
        Initial rates, positive.
    random_state : int, RandomState or Generator, optional
    chunk_size : int, optional
        Rows per kernel call.
    n_threads : int, optional
        Numba threads; results are bit-identical for any number.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
        The rates ``lambda_kd``.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_
        As in :class:`fastem.GaussianMixture`.

    Notes
    -----
    ``X`` holds non-negative integer counts: integer or boolean dtypes (read as they are, no
    float copy), or floats with integral values. Anything else — a negative or fractional
    value, NaN or infinity — is a ``ValueError`` naming its row, column and value.
    """

    _who = "PoissonMixture"

    def __init__(self, n_components: int = 1, *, reg_rate: float = 1e-10, tol: float = 1e-3,
                 max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 weights_init: Optional[Any] = None, means_init: Optional[Any] = None,
                 random_state: Optional[Any] = None, chunk_size: Optional[int] = None,
                 n_threads: Optional[int] = None) -> None:
        self.n_components = n_components
        self.reg_rate = reg_rate
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.n_threads = n_threads

    _constraints = {
        "n_components": [Interval("int", 1, None, "left")],
        "reg_rate": [Interval("float", 0.0, None, "neither")],
        "tol": [Interval("float", 0.0, None, "left")],
        "max_iter": [Interval("int", 0, None, "left")],
        "n_init": [Interval("int", 1, None, "left")],
        "init_params": [Options(INIT_PARAMS)],
        "weights_init": [ARRAY_LIKE, NONE],
        "means_init": [ARRAY_LIKE, NONE],
        "random_state": [RANDOM_STATE, NONE],
        "chunk_size": [Interval("int", 1, None, "left"), NONE],
        "n_threads": [Interval("int", 1, None, "left"), NONE],
    }

    def _reg(self) -> float:
        return float(self.reg_rate)

    def _make_family(self, X: np.ndarray) -> PoissonFamily:
        family = PoissonFamily()
        family.validate(X)
        return family

    def _fitted_family(self) -> PoissonFamily:
        return PoissonFamily()

    def _user_params(self, family: PoissonFamily, d: int) -> Optional[PoissonParams]:
        if self.means_init is None:
            return None
        k = self.n_components
        means = np.asarray(self.means_init, dtype=np.float64)
        if means.shape != (k, d) or not np.isfinite(means).all() or not (means > 0).all():
            raise ValueError(f"means_init must have shape ({k}, {d}) with positive finite "
                             f"rates; got shape {means.shape}.")
        weights = (np.full(k, 1.0 / k) if self.weights_init is None
                   else self._weights_init(k))
        return PoissonParams(weights, means.copy())

    def _set_params(self, params: PoissonParams) -> None:
        self.weights_, self.means_ = params.weights, params.means

    def _params(self) -> PoissonParams:
        return PoissonParams(self.weights_, self.means_)
