"""``BernoulliMixture``: a mixture of independent Bernoulli features (latent class analysis).

A thin client of the engine: the family (:class:`fastem.families.bernoulli.BernoulliFamily`)
knows the components; the driver (:func:`fastem.em.fit_mixture`) and the in-process backend
(:mod:`fastem.backends.numba`) are the Gaussian's, unchanged. In-memory arrays only so far
(no Dask, out-of-core sources, online EM, checkpoints or save/load yet).
"""
from __future__ import annotations

import numbers
import warnings
from typing import Any, Optional

import numpy as np

from .. import exceptions
from .._params import ARRAY_LIKE, NONE, RANDOM_STATE, Interval, Options, validate_params
from .._validation import validate_sample_weight
from ..backends import numba as nb
from ..data.sources import ArraySource
from ..em import EMResult, fit_mixture
from ..families.bernoulli import BernoulliFamily, BernoulliParams
from ._base import BaseEstimatorMixin, numba_threads
from .gaussian import _make_rng

_INIT_PARAMS = ("random", "random_from_data")


class BernoulliMixture(BaseEstimatorMixin):
    """Mixture of multivariate Bernoulli distributions fitted by exact EM.

    Parameters
    ----------
    n_components : int, default=1
    alpha : float, default=1e-10
        Additive smoothing: ``means_ = (S_kd + alpha) / (N_k + 2 alpha)``.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean per-sample log-likelihood.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"random", "random_from_data"}, default="random"
        Uniform random responsibilities, or ``n_components`` distinct rows as the means
        (smoothed half-way towards 0.5 so no probability starts at 0 or 1). The first M-step
        from random responsibilities uses ``max(alpha, 1e-3)`` for the same reason.
    weights_init, means_init : array-like, optional
        Initial weights (K,) and means (K, D), strictly between 0 and 1.
    random_state : int, RandomState or Generator, optional
    chunk_size : int, optional
        Rows per kernel call.
    n_threads : int, optional
        Numba threads; results are bit-identical for any number.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
        ``P(x_d = 1 | k)``.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_
        As in :class:`fastem.GaussianMixture`.
    """

    def __init__(self, n_components: int = 1, *, alpha: float = 1e-10, tol: float = 1e-3,
                 max_iter: int = 100, n_init: int = 1, init_params: str = "random",
                 weights_init: Optional[Any] = None, means_init: Optional[Any] = None,
                 random_state: Optional[Any] = None, chunk_size: Optional[int] = None,
                 n_threads: Optional[int] = None) -> None:
        self.n_components = n_components
        self.alpha = alpha
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
        "alpha": [Interval("float", 0.0, None, "neither")],
        "tol": [Interval("float", 0.0, None, "left")],
        "max_iter": [Interval("int", 0, None, "left")],
        "n_init": [Interval("int", 1, None, "left")],
        "init_params": [Options(_INIT_PARAMS)],
        "weights_init": [ARRAY_LIKE, NONE],
        "means_init": [ARRAY_LIKE, NONE],
        "random_state": [RANDOM_STATE, NONE],
        "chunk_size": [Interval("int", 1, None, "left"), NONE],
        "n_threads": [Interval("int", 1, None, "left"), NONE],
    }

    # ---- fitting ----------------------------------------------------------------------------
    def _validate_data(self, X: Any, n_features: Optional[int] = None) -> np.ndarray:
        arr = np.asarray(X)
        if arr.dtype != np.bool_ and not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"BernoulliMixture needs numeric or boolean 0/1 data; got dtype "
                             f"{arr.dtype}.")
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"Expected a non-empty 2D array, got shape {arr.shape}.")
        if n_features is not None and arr.shape[1] != n_features:
            raise ValueError(f"X has {arr.shape[1]} features, but BernoulliMixture is "
                             f"expecting {n_features} features as input.")
        BernoulliFamily().validate(arr)
        return arr

    def _initial(self, X: np.ndarray, w: Optional[np.ndarray], family: BernoulliFamily,
                 rng: np.random.Generator) -> BernoulliParams:
        k, d = self.n_components, X.shape[1]
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=np.float64)
            if means.shape != (k, d) or not ((means > 0) & (means < 1)).all():
                raise ValueError(f"means_init must have shape ({k}, {d}) with every value "
                                 "strictly between 0 and 1.")
            weights = (np.full(k, 1.0 / k) if self.weights_init is None
                       else np.asarray(self.weights_init, dtype=np.float64))
            if weights.shape != (k,) or not (weights > 0).all():
                raise ValueError(f"weights_init must have shape ({k},) with positive values.")
            return BernoulliParams(weights / weights.sum(), means, 1.0 - means)
        if self.init_params == "random_from_data":
            rows = X[rng.choice(X.shape[0], size=k, replace=False)].astype(np.float64)
            means = 0.25 + 0.5 * rows
            return BernoulliParams(np.full(k, 1.0 / k), means, 1.0 - means)
        # The first M-step is smoothed with at least 1e-3 so that a column that is constant
        # in the data does not start at a probability of exactly 0 or 1.
        return family.m_step(self._random_stats(X, w, family, rng), None,
                             reg=max(self.alpha, 1e-3))

    def _random_stats(self, X, w, family, rng):
        resp = rng.uniform(size=(X.shape[0], self.n_components))
        resp /= resp.sum(axis=1, keepdims=True)
        return family.resp_stats(X, w, resp, None)

    def fit(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Fit the mixture by EM; returns ``self``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            0/1 values (bool or numeric).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
        """
        validate_params(type(self).__name__, self.get_params(), self._constraints)
        X = self._validate_data(X)
        if X.shape[0] < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got "
                             f"n_components = {self.n_components}, n_samples = {X.shape[0]}")
        w = validate_sample_weight(sample_weight, X.shape[0])
        family = BernoulliFamily()
        source = ArraySource(X, w, self.chunk_size)
        rng = _make_rng(self.random_state)
        with numba_threads(self.n_threads):
            result = fit_mixture(source, family, initializer=lambda i: self._initial(
                X, w, family, rng), n_init=self.n_init, stats_fn=nb.em_stats,
                max_iter=self.max_iter, tol=self.tol, reg_covar=self.alpha)
        self._set_result(result, X.shape[1], rng)
        return self

    def _set_result(self, result: EMResult, d: int, rng: np.random.Generator) -> None:
        p = result.params
        self.weights_, self.means_, self._complements = p.weights, p.means, p.complements
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = list(result.lower_bounds)
        self.n_features_in_ = d
        self._sample_rng = np.random.default_rng(rng.integers(0, 2**63 - 1))
        if not result.converged and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different "
                          "init parameters, or increase max_iter, tol, or check for "
                          "degenerate data.", exceptions.ConvergenceWarning, stacklevel=3)

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Fit, then return the most likely component of every row of ``X``."""
        return self.fit(X, sample_weight=sample_weight).predict(X)

    # ---- inference --------------------------------------------------------------------------
    def _params(self) -> BernoulliParams:
        return BernoulliParams(self.weights_, self.means_, self._complements)

    def _e_step(self, X: Any, labels: bool = False, resp: bool = False):
        self._check_is_fitted()
        X = self._validate_data(X, self.n_features_in_)
        family = BernoulliFamily()
        return family.e_step_outputs(X, family.kernel_args(self._params()), labels=labels,
                                     resp=resp)

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of every row of ``X``."""
        return self._e_step(X)[0]

    def score(self, X: Any, y: Any = None) -> float:
        """Mean per-row log-likelihood of ``X``."""
        return float(self.score_samples(X).mean())

    def predict(self, X: Any) -> np.ndarray:
        """Most likely component of every row of ``X``."""
        return self._e_step(X, labels=True)[1]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Responsibilities of every row of ``X`` (n_samples, n_components)."""
        return self._e_step(X, resp=True)[2]

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows (float 0/1) and their components (sorted)."""
        self._check_is_fitted()
        if not isinstance(n_samples, numbers.Integral) or isinstance(n_samples, bool) \
                or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling "
                             "requires at least one sample.")
        return BernoulliFamily().sample(self._params(), int(n_samples), self._sample_rng)

    def _n_parameters(self) -> int:
        return BernoulliFamily().n_parameters(*self.means_.shape)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better)."""
        n = np.asarray(X).shape[0]
        return -2 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better)."""
        n = np.asarray(X).shape[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()
