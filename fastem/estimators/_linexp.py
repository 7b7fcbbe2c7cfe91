"""What the categorical and Poisson estimators share: the EM fit on the engine's driver,
initialisation, inference, sampling and information criteria.

A subclass names its family (``_make_family``), its regularisation (``_reg``), how user
``*_init`` arrays become parameters (``_user_params``) and how fitted parameters become
attributes (``_set_params`` / ``_params``). In-memory arrays only (no out-of-core sources,
Dask, online EM, checkpoints or save/load yet).

Initialisation (``init_params``):

* ``"kmeans"``: k-means++ seeds and Lloyd iterations on a sample of rows in the space of the
  family's statistic ``T(x)`` (the counts, or the one-hot codes of the sample), every row
  assigned to its nearest centre, and the M-step on those hard labels.
* ``"k-means++"``: the same without Lloyd iterations; ``"random_from_data"``:
  ``n_components`` distinct rows as the centres.
* ``"random"``: uniform random responsibilities.

The first M-step is smoothed: the estimated parameters are mixed with weight
``INIT_SMOOTHING = 0.1`` with the uninformative value (uniform probabilities; the overall
mean rates), so a category or count never seen in a component's initial rows does not start
at probability ``alpha / N_k`` (about zero), from which EM could never move it.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Any, Optional

import numpy as np

from .. import exceptions
from .._validation import is_sparse, validate_sample_weight
from ..backends import numba as nb
from ..data.sources import ArraySource
from ..em import EMResult, fit_mixture
from ..families.categorical import BLOCK_ROWS
from ..init import _kmeanspp, _lloyd_on_sample, sample_size
from ._base import BaseEstimatorMixin, numba_threads
from .gaussian import _make_rng

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
#: Weight of the uninformative value in the smoothed first M-step.
INIT_SMOOTHING = 0.1
#: Elements of the (sample rows, T columns) array k-means seeding may use.
_SAMPLE_ELEMENTS = 4_000_000


class LinexpMixtureBase(BaseEstimatorMixin):
    """Shared fit / inference of linear-exponential mixtures (see the module docstring)."""

    _who = "LinexpMixture"

    # ---- hooks ------------------------------------------------------------------------------
    def _make_family(self, X: np.ndarray):
        raise NotImplementedError

    def _reg(self) -> float:
        raise NotImplementedError

    def _user_params(self, family, d: int):
        """Parameters from the user's ``*_init`` arrays, or ``None`` to estimate them."""
        raise NotImplementedError

    def _set_params(self, params) -> None:
        raise NotImplementedError

    def _params(self):
        raise NotImplementedError

    def _fitted_family(self):
        raise NotImplementedError

    # ---- input ------------------------------------------------------------------------------
    def _validate_array(self, X: Any, n_features: Optional[int] = None) -> np.ndarray:
        """``X`` as a 2-D numeric array in its own compact dtype (no float copy)."""
        who = self._who
        if is_sparse(X):
            raise TypeError(f"Sparse data was passed for X, but dense data is required. Use "
                            f"'.toarray()' to convert to a dense numpy array ({who} does not "
                            "support sparse input).")
        arr = np.asarray(X)
        if arr.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: X has dtype {arr.dtype!s}; {who} "
                             "needs real numbers.")
        if arr.dtype.kind == "O":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"X has dtype object and holds values that are not numbers "
                                f"({exc}); {who} needs numeric data.") from None
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"X has dtype {arr.dtype!s}; {who} needs numeric or boolean "
                            "data.")
        if arr.ndim != 2:
            raise ValueError(f"Expected a 2D array for X, got an array with ndim={arr.ndim} "
                             f"(shape {arr.shape}) instead. Reshape your data with "
                             "array.reshape(-1, 1) if it has a single feature or "
                             "array.reshape(1, -1) if it is a single sample.")
        if arr.shape[0] == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a "
                             f"minimum of 1 is required by {who}.")
        if arr.shape[1] == 0:
            raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a "
                             f"minimum of 1 is required by {who}.")
        if n_features is not None and arr.shape[1] != n_features:
            raise ValueError(f"X has {arr.shape[1]} features, but {who} is expecting "
                             f"{n_features} features as input.")
        return arr

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    # ---- initialisation ---------------------------------------------------------------------
    def _initial(self, X, w, family, rng):
        k = self.n_components
        user = self._user_params(family, X.shape[1])
        if user is not None:
            return user
        if self.init_params == "random":
            stats = None
            for r0 in range(0, X.shape[0], BLOCK_ROWS):
                r1 = min(X.shape[0], r0 + BLOCK_ROWS)
                resp = rng.uniform(size=(r1 - r0, k))
                resp /= resp.sum(axis=1, keepdims=True)
                part = family.resp_stats(X[r0:r1], None if w is None else w[r0:r1], resp)
                stats = part if stats is None else stats + part
        else:
            labels = self._hard_labels(X, w, family, rng)
            stats = family.label_stats(X, w, labels, k)
        params = family.smoothed(family.m_step(stats, None, reg=self._reg()), INIT_SMOOTHING)
        if self.weights_init is not None:
            params = family.with_weights(params, self._weights_init(k))
        return params

    def _weights_init(self, k: int) -> np.ndarray:
        weights = np.asarray(self.weights_init, dtype=np.float64)
        if weights.shape != (k,) or not np.isfinite(weights).all() or not (weights > 0).all():
            raise ValueError(f"weights_init must have shape ({k},) with positive finite "
                             f"values; got shape {weights.shape}.")
        return weights / weights.sum()

    def _hard_labels(self, X, w, family, rng) -> np.ndarray:
        """Nearest centre (in ``T(x)`` space) of every row, for the hard-label inits."""
        k = self.n_components
        n = X.shape[0]
        width = family.statistic_width(X.shape[1])
        m = int(min(n, sample_size(k), max(10 * k, _SAMPLE_ELEMENTS // max(width, 1))))
        idx = np.sort(rng.choice(n, size=m, replace=False))
        Z = np.ascontiguousarray(family.statistic_block(X[idx]))
        ws = np.ones(m) if w is None else np.ascontiguousarray(w[idx])
        if self.init_params == "random_from_data":
            centers = Z[np.sort(rng.choice(m, size=k, replace=False))]
        else:
            centers = _kmeanspp(Z, ws, k, rng)
            if self.init_params == "kmeans":
                centers = _lloyd_on_sample(Z, ws, centers)
        eta = 2.0 * centers
        const = -(centers ** 2).sum(axis=1)
        labels = np.empty(n, dtype=np.int64)
        for r0 in range(0, n, BLOCK_ROWS):
            r1 = min(n, r0 + BLOCK_ROWS)
            labels[r0:r1] = np.argmax(family.statistic_block(X[r0:r1]) @ eta.T + const,
                                      axis=1)
        return labels

    # ---- fitting ----------------------------------------------------------------------------
    def _fit(self, X: Any, sample_weight: Optional[Any]):
        from .._params import validate_params
        validate_params(type(self).__name__, self.get_params(), self._constraints)
        X = self._validate_array(X)
        if X.shape[0] < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got "
                             f"n_components = {self.n_components}, n_samples = {X.shape[0]}")
        family = self._make_family(X)
        w = validate_sample_weight(sample_weight, X.shape[0])
        source = ArraySource(X, w, self.chunk_size)
        rng = _make_rng(self.random_state)
        with numba_threads(self.n_threads):
            result = fit_mixture(source, family, initializer=lambda i: self._initial(
                X, w, family, rng), n_init=self.n_init, stats_fn=nb.em_stats,
                max_iter=self.max_iter, tol=self.tol, reg_covar=self._reg())
        self._set_result(result, X.shape[1], rng)
        return self

    def _set_result(self, result: EMResult, d: int, rng: np.random.Generator) -> None:
        self._set_params(result.params)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = list(result.lower_bounds)
        self.n_features_in_ = d
        self._sample_rng = np.random.default_rng(rng.integers(0, 2**63 - 1))
        if not result.converged and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different "
                          "init parameters, or increase max_iter, tol, or check for "
                          "degenerate data.", exceptions.ConvergenceWarning, stacklevel=4)

    def fit(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Fit the mixture by EM; returns ``self``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
        """
        return self._fit(X, sample_weight)

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Fit, then return the most likely component of every row of ``X``."""
        return self.fit(X, sample_weight=sample_weight).predict(X)

    # ---- inference --------------------------------------------------------------------------
    def _e_step(self, X: Any, labels: bool = False, resp: bool = False):
        self._check_is_fitted()
        X = self._validate_array(X, self.n_features_in_)
        family = self._fitted_family()
        family.validate(X, fitted=True)
        return family.e_step_outputs(X, family.kernel_args(self._params()), labels=labels,
                                     resp=resp)

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of every row of ``X``, shape (n_samples,)."""
        return self._e_step(X)[0]

    def score(self, X: Any, y: Any = None) -> float:
        """Mean per-row log-likelihood of ``X``."""
        return float(self.score_samples(X).mean())

    def predict(self, X: Any) -> np.ndarray:
        """Most likely component of every row of ``X``, shape (n_samples,)."""
        return self._e_step(X, labels=True)[1]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Responsibilities of every row of ``X``, shape (n_samples, n_components)."""
        return self._e_step(X, resp=True)[2]

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows (int64) and their components (sorted)."""
        self._check_is_fitted()
        if not isinstance(n_samples, numbers.Integral) or isinstance(n_samples, bool) \
                or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling "
                             "requires at least one sample.")
        return self._fitted_family().sample(self._params(), int(n_samples), self._sample_rng)

    def _n_parameters(self) -> int:
        return self._fitted_family().n_parameters(self.n_components, self.n_features_in_)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better)."""
        n = np.asarray(X).shape[0]
        return -2 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better)."""
        n = np.asarray(X).shape[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()


def _fitted_check(self) -> bool:
    return hasattr(self, "weights_")


LinexpMixtureBase.__sklearn_is_fitted__ = _fitted_check  # type: ignore[assignment]


def _check_is_fitted(self) -> None:
    if not hasattr(self, "weights_"):
        raise exceptions.NotFittedError(
            f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator.")


LinexpMixtureBase._check_is_fitted = _check_is_fitted  # type: ignore[assignment]
