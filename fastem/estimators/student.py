"""``StudentMixture``: a mixture of multivariate Student-t distributions (robust clustering).

A thin client of the engine: the family (:class:`fastem.families.student.StudentFamily`)
knows the components; the driver (:func:`fastem.em.fit_mixture`), the in-process backend
(:mod:`fastem.backends.numba`) and the initialisers (:mod:`fastem.init`, on the Gaussian
covariance family of the same type) are the Gaussian's, unchanged.
"""
from __future__ import annotations

import numbers
import sys
import warnings
from typing import Any, Optional

import numpy as np

from .. import exceptions
from .._feature_names import check_feature_names, feature_names_of
from .._params import (ARRAY_LIKE, BOOL, NONE, RANDOM_STATE, Interval, Options,
                       validate_params)
from .._validation import validate_data, validate_init, validate_sample_weight
from ..backends import numba as nb
from ..data.sources import ArraySource
from ..em import EMResult, IterationInfo, fit_mixture
from ..families import FAMILIES
from ..families.student import StudentFamily, StudentParams
from ..init import INITIALIZERS, initialize
from ._base import BaseEstimatorMixin, numba_threads
from .gaussian import _make_rng

_CONSTRAINTS = {
    "n_components": [Interval("int", 1, None, "left")],
    "covariance_type": [Options(tuple(FAMILIES))],
    "degrees_of_freedom": [Interval("float", 0.0, None, "neither"), NONE],
    "degrees_of_freedom_init": [Interval("float", 0.0, None, "neither")],
    "tol": [Interval("float", 0.0, None, "left")],
    "reg_covar": [Interval("float", 0.0, None, "left")],
    "max_iter": [Interval("int", 0, None, "left")],
    "n_init": [Interval("int", 1, None, "left")],
    "init_params": [Options(INITIALIZERS)],
    "weights_init": [ARRAY_LIKE, NONE],
    "means_init": [ARRAY_LIKE, NONE],
    "precisions_init": [ARRAY_LIKE, NONE],
    "random_state": [RANDOM_STATE, NONE],
    "warm_start": [BOOL],
    "verbose": [Interval("int", 0, None, "left"), BOOL],
    "verbose_interval": [Interval("int", 1, None, "left")],
    "chunk_size": [Interval("int", 1, None, "left"), NONE],
    "n_threads": [Interval("int", 1, None, "left"), NONE],
}


class StudentMixture(BaseEstimatorMixin):
    """Mixture of multivariate Student-t distributions fitted by EM (ECM for ``nu``).

    Each component has a location ``mu_k``, a scale matrix ``Sigma_k`` (stored as
    ``covariances_`` in :class:`fastem.GaussianMixture`'s layout for the covariance type; the
    covariance of a t component is ``nu / (nu - 2) Sigma_k`` for ``nu > 2``) and degrees of
    freedom ``nu_k``. Rows far from a component get small weights
    ``u = (nu + D) / (nu + delta2)`` in its M-step, so gross outliers barely move it.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Form of the scale matrices (tied: one pooled matrix; diag and spherical: reduced as
        the Gaussian mixture's covariances are).
    degrees_of_freedom : float or None, default=None
        ``None`` estimates ``nu_k`` per component (the ECM step of McLachlan & Peel 2000,
        solved to full precision within ``[0.01, 1000]``); a positive float fixes ``nu`` for
        every component.
    degrees_of_freedom_init : float, default=30.0
        Starting ``nu`` when it is estimated.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean per-sample log-likelihood.
    reg_covar : float, default=1e-6
        Added to the diagonal of every scale matrix.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        As in :class:`fastem.GaussianMixture`: the initial means, scales and weights are the
        Gaussian initialiser's; ``nu`` starts at ``degrees_of_freedom_init``.
    weights_init, means_init, precisions_init : array-like, optional
        As in :class:`fastem.GaussianMixture` (``precisions_init``: inverse scale matrices).
    random_state : int, RandomState, Generator or None, default=None
    warm_start : bool, default=False
        Continue from the fitted parameters (``nu`` included) on the next ``fit``.
    verbose : int, default=0
    verbose_interval : int, default=10
    chunk_size : int or None, default=None
        Rows per kernel call.
    n_threads : int or None, default=None
        Numba threads; results are bit-identical for any number.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Scale matrices in the Gaussian layout of ``covariance_type``.
    precisions_, precisions_cholesky_ : ndarray
        Their inverses and the inverses' (upper) Cholesky factors.
    degrees_of_freedom_ : ndarray of shape (n_components,)
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_
        As in :class:`fastem.GaussianMixture`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem.estimators.student import StudentMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.standard_t(4, (500, 2)), rng.standard_t(4, (500, 2)) + 8])
    >>> sm = StudentMixture(2, random_state=0).fit(X)
    >>> np.sort(sm.means_[:, 0]).round(0)
    array([-0.,  8.])
    """

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 degrees_of_freedom: Optional[float] = None,
                 degrees_of_freedom_init: float = 30.0, tol: float = 1e-3,
                 reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", weights_init: Optional[Any] = None,
                 means_init: Optional[Any] = None, precisions_init: Optional[Any] = None,
                 random_state: Optional[Any] = None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10,
                 chunk_size: Optional[int] = None, n_threads: Optional[int] = None) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.degrees_of_freedom = degrees_of_freedom
        self.degrees_of_freedom_init = degrees_of_freedom_init
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.n_threads = n_threads

    # ---- fitting ----------------------------------------------------------------------------
    def _family(self) -> StudentFamily:
        return StudentFamily(self.covariance_type, self.degrees_of_freedom,
                             self.degrees_of_freedom_init)

    def _validate_params(self) -> None:
        validate_params(type(self).__name__, self.get_params(), _CONSTRAINTS)

    def fit(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Fit the mixture by EM; returns ``self``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each row.

        Returns
        -------
        self : StudentMixture
        """
        self._validate_params()
        names = feature_names_of(X)
        Xv = validate_data(X, owner=type(self).__name__)
        n, d = Xv.shape
        if n < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = "
                             f"{self.n_components}, n_samples = {n}")
        w = validate_sample_weight(sample_weight, n)
        family = self._family()
        cov_family = family.covariance_family
        inits = validate_init(cov_family, self.n_components, d, self.weights_init,
                              self.means_init, self.precisions_init)
        source = ArraySource(Xv, w, self.chunk_size)
        rng = _make_rng(self.random_state)
        warm = None
        if self.warm_start and hasattr(self, "means_"):
            if self.n_features_in_ != d or self._fitted_covariance_type != self.covariance_type:
                raise ValueError("warm_start=True needs the same n_features and "
                                 "covariance_type as the fitted model.")
            dof = (self.degrees_of_freedom_ if self.degrees_of_freedom is None
                   else family.initial_dof(self.n_components))
            warm = (StudentParams(self.weights_, self.means_, self.covariances_,
                                  self.precisions_cholesky_, dof), self.lower_bound_)

        def initializer(i: int) -> StudentParams:
            g = initialize(source, cov_family, self.n_components, self.init_params, rng,
                           self.reg_covar, weights_init=inits[0], means_init=inits[1],
                           precisions_init=inits[2])
            return family.from_gaussian(g)

        with numba_threads(self.n_threads):
            result = fit_mixture(source, family, initializer=initializer, n_init=self.n_init,
                                 stats_fn=nb.em_stats, max_iter=self.max_iter, tol=self.tol,
                                 reg_covar=self.reg_covar, warm=warm, **self._verbose_hooks())
        self._set_result(result, d, rng, names)
        return self

    def _set_result(self, result: EMResult, d: int, rng: np.random.Generator,
                    names: Optional[np.ndarray]) -> None:
        if not result.converged and self.max_iter > 0:
            warnings.warn(
                f"Best performing initialization did not converge after {result.n_iter} "
                "iterations. Try different init parameters, or increase max_iter, tol, or "
                "check for degenerate data.", exceptions.ConvergenceWarning, stacklevel=3)
        p = result.params
        cov_family = self._family().covariance_family
        self.weights_ = p.weights
        self.means_ = p.means
        self.covariances_ = p.covariances
        self.precisions_cholesky_ = p.precisions_cholesky
        self.precisions_ = cov_family.precisions(p.precisions_cholesky)
        self.degrees_of_freedom_ = np.asarray(p.degrees_of_freedom, dtype=np.float64)
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        self.lower_bound_ = float(result.lower_bound)
        self.lower_bounds_ = list(result.lower_bounds)
        self.n_features_in_ = d
        if names is not None and len(names) == d:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._fitted_covariance_type = self.covariance_type
        self._fitted_family = self._family()
        self._sample_rng = np.random.default_rng(rng.integers(0, 2**63 - 1))

    def _verbose_hooks(self) -> dict:
        if not self.verbose:
            return {}
        level, every = int(self.verbose), self.verbose_interval

        def on_init(i: int) -> None:
            print(f"Initialization {i}", file=sys.stdout)

        def callback(info: IterationInfo) -> None:
            if info.n_iter % every == 0:
                extra = (f"\t time lapse {info.seconds:.5f}s\t ll change {info.change:.5f}"
                         if level >= 2 else "")
                print(f"  Iteration {info.n_iter}{extra}")

        def on_init_end(result: EMResult, seconds: float) -> None:
            state = "converged" if result.converged else "did not converge"
            print(f"Initialization {state}." + (f" lower bound {result.lower_bound:.5f}."
                                                if level >= 2 else ""))

        return {"on_init": on_init, "callback": callback, "on_init_end": on_init_end}

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Fit, then return the most likely component of every row of ``X``."""
        return self.fit(X, sample_weight=sample_weight).predict(X)

    # ---- inference --------------------------------------------------------------------------
    def _params(self) -> StudentParams:
        return StudentParams(self.weights_, self.means_, self.covariances_,
                             self.precisions_cholesky_, self.degrees_of_freedom_)

    def _e_step(self, X: Any, labels: bool = False, resp: bool = False):
        self._check_is_fitted()
        check_feature_names(getattr(self, "feature_names_in_", None), X, type(self).__name__)
        Xv = validate_data(X, n_features=self.n_features_in_, owner=type(self).__name__)
        family = self._fitted_family
        with numba_threads(self.n_threads):
            return family.e_step_outputs(Xv, family.kernel_args(self._params()),
                                         labels=labels, resp=resp)

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of every row of ``X`` under the model."""
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
        """Draw ``n_samples`` rows and their components (sorted). Successive calls return
        different draws (one generator, seeded at ``fit``)."""
        self._check_is_fitted()
        if not isinstance(n_samples, numbers.Integral) or isinstance(n_samples, bool) \
                or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling "
                             "requires at least one sample.")
        return self._fitted_family.sample(self._params(), int(n_samples), self._sample_rng)

    def _n_parameters(self) -> int:
        return self._fitted_family.n_parameters(*self.means_.shape)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better)."""
        lp = self.score_samples(X)
        return float(-2 * lp.sum() + self._n_parameters() * np.log(lp.shape[0]))

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better)."""
        lp = self.score_samples(X)
        return float(-2 * lp.sum() + 2 * self._n_parameters())
