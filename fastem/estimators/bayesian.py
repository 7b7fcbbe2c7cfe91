"""``BayesianGaussianMixture``: scikit-learn's variational Gaussian mixture on fastem's pass.

The estimator is a thin :class:`~fastem.estimators._mixture.FamilyMixture`: validation,
priors and fitted attributes. The work is the variational family
(:mod:`fastem.families.variational`, registered as ``"bayesian_gaussian"``) run by the
unchanged EM driver on the Gaussian fused kernel through any source and backend, with the
base class's initialisation, checkpoints, save/load and inference; ``partial_fit`` and
``fit(..., algorithm="online")`` are stochastic variational inference (:mod:`fastem.svi`).
"""
from __future__ import annotations

import numbers
import os
from dataclasses import replace
from typing import Any, Optional, Union

import numpy as np

from .._feature_names import check_feature_names, feature_names_of
from .._params import ARRAY_LIKE, NONE, Interval, Options, validate_params
from .._validation import validate_sample_weight
from ..backends import choose_backend
from ..backends import numba as nb
from ..data import ArraySource
from ..data.checked import check_family_chunk
from ..families import FAMILIES, CovarianceFamily, get_family
from ..families.registry import register_estimator
from ..families.variational import (VariationalGaussianFamily, effective_n_components,
                                    make_variational_family)
from ..families.variational_mstep import PRIOR_TYPES, VariationalParams, VariationalPriors
from ..online import default_chunk_size
from ..stats import SuffStats
from ..svi import SVI, SVIState
from ._base import numba_threads
from ._mixture import COMMON_CONSTRAINTS, FamilyMixture, make_rng
from ._nan import NAN_POLICY_CONSTRAINT, NanPolicyMixin

ArrayLike = Any
RandomStateLike = Union[None, int, np.random.RandomState, np.random.Generator]
_POSITIVE = Interval("float", 0.0, None, "neither")

_CONSTRAINTS = {
    **{k: v for k, v in COMMON_CONSTRAINTS.items() if k != "weights_init"},
    "covariance_type": [Options(tuple(FAMILIES))],
    "reg_covar": [Interval("float", 0.0, None, "left")],
    "weight_concentration_prior_type": [Options(PRIOR_TYPES)],
    "weight_concentration_prior": [_POSITIVE, NONE],
    "mean_precision_prior": [_POSITIVE, NONE],
    "mean_prior": [ARRAY_LIKE, NONE],
    "degrees_of_freedom_prior": [_POSITIVE, NONE],
    "covariance_prior": [ARRAY_LIKE, _POSITIVE, NONE],
    "total_samples": [_POSITIVE, NONE],
    "prune_threshold": [Interval("float", 0.0, 1.0, "neither"), NONE],
    **NAN_POLICY_CONSTRAINT,
}


class BayesianGaussianMixture(NanPolicyMixin, FamilyMixture):
    """Variational Bayesian estimation of a Gaussian mixture.

    A drop-in replacement for :class:`sklearn.mixture.BayesianGaussianMixture`: the same
    parameters, defaults, methods and fitted attributes, and the same answers (to rounding)
    from the same initial responsibilities. Each iteration is one fused pass of the Gaussian
    kernel (the variational E-step is a Gaussian log-density under the expected precision
    plus per-component constants), so it runs at ``GaussianMixture``'s speed and never holds
    an ``n_samples x n_components`` array.

    EM and variational Bayes are the same coordinate ascent on a lower bound of the
    evidence, ``log p(X) = L(q) + KL(q || p(Z, theta | X))``: EM's E-step makes the bound
    tight for the labels and its M-step maximises over point parameters; variational Bayes
    also keeps a distribution over the parameters, so unneeded components are switched off by
    the prior instead of overfitting.

    Where this follows scikit-learn rather than the textbook (Bishop 2006, section 10.2):
    ``covariances_`` are normalised (``W_k^-1 / nu_k``, the inverse expected precision);
    ``reg_covar`` is added to each component's covariance estimate and ``10 * eps`` to the
    weight sums; the tied update pools ``n_samples / n_components`` rows per component; the
    lower bound drops the constants scikit-learn drops (so ``lower_bound_`` is scikit-learn's
    number, a sum over rows, not a per-row mean); ``tol`` applies to its change;
    ``predict_proba``/``score_samples`` use the expected log weights and the expected
    log-densities (so ``score_samples`` is not a normalised log-likelihood).

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components; the prior may leave some unused.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound.
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of each component's covariance estimate.
    max_iter : int, default=100
    n_init : int, default=1
        Number of initialisations; the one with the largest lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the initial responsibilities are found (see :mod:`fastem.init`); the initial
        posterior is the variational M-step of those responsibilities, as in scikit-learn.
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
default="dirichlet_process"
        Stick-breaking (Dirichlet process) or finite Dirichlet prior on the weights.
    weight_concentration_prior : float, default=None
        Concentration of the weight prior (``gamma`` or ``alpha``); ``None`` means
        ``1 / n_components``. Smaller values leave more components empty.
    mean_precision_prior : float, default=None
        Precision prior of the means (``beta_0``); ``None`` means 1.
    mean_prior : array-like of shape (n_features,), default=None
        Prior mean of the means; ``None`` means the (weighted) mean of ``X``.
    degrees_of_freedom_prior : float, default=None
        Wishart degrees of freedom (``nu_0 > n_features - 1``); ``None`` means
        ``n_features``.
    covariance_prior : float or array-like, default=None
        Prior of the covariance (``W_0^-1``): (n_features, n_features) for full and tied,
        (n_features,) for diag, a float for spherical; ``None`` means the (weighted)
        empirical covariance of ``X`` (``ddof=1``), or its diagonal or mean variance.
    random_state : int, RandomState, Generator or None, default=None
    warm_start : bool, default=False
        Continue from the fitted posterior on the next ``fit`` (``n_init`` is then 1).
    verbose : int, default=0
    verbose_interval : int, default=10
    chunk_size : int or None, default=None
        Rows per kernel call (and per SVI step); see :class:`fastem.GaussianMixture`.
    n_threads : int or None, default=None
        Numba threads for this estimator.
    backend : {"auto", "numba", "dask"}, default="auto"
        Where statistics are computed (Dask input runs on the active Dask scheduler).
    algorithm : {"em", "online"}, default="em"
        What :meth:`fit` runs: batch variational Bayes to convergence, or one pass of
        stochastic variational inference (one step per chunk of ``chunk_size`` rows,
        default ``max(10_000, 200 * n_components)``). See :meth:`partial_fit`. A Dask
        collection is read one of its own chunks per step, in order, on this machine.
        ``prune_threshold`` and ``checkpoint`` are batch-only (SVI raises ``ValueError``).
    learning_decay : float, default=0.7
        SVI step ``rho_t = (t + learning_offset) ** -learning_decay``, in ``(0.5, 1]``.
    learning_offset : float, default=10.0
        SVI: non-negative offset of the step counter.
    total_samples : float, default=None
        SVI: the data size the chunk statistics are scaled to. ``None``: the number of rows
        of ``X`` for ``fit(..., algorithm="online")``, the weight seen so far for
        :meth:`partial_fit`.
    prune_threshold : float in (0, 1), default=None
        Components whose share of the responsibilities (``N_k / n_samples``: the expected
        weight the data give them, without the prior's pseudo-counts, which keep even an
        empty component's ``weights_`` near ``1 / n_samples`` under a Dirichlet process)
        falls below it are left out of later passes: they cost nothing and keep the prior's
        posterior, and stay in the weights' normalisation. ``None`` (default) computes every
        component every pass, as scikit-learn does. ``1e-7`` leaves the other
        components unchanged to about ``1e-6``. Batch fits only: SVI (``partial_fit``,
        ``algorithm="online"``) raises ``ValueError`` when it is set.
    progress : bool, default=False
        Show a progress bar with the lower bound.
    checkpoint : str or os.PathLike, default=None
        Write the fit's state to this file after every iteration; an existing file resumes
        the fit, which ends with the posterior an uninterrupted fit would have given. Batch
        fits only: SVI raises ``ValueError`` when it is set (``save`` the model between
        ``partial_fit`` calls instead).
    nan_policy : {"raise", "omit", "marginalize"}, default="raise"
        NaN marks a missing entry. ``"raise"``: an error naming the first row and column
        holding one. ``"omit"``: rows holding a NaN are left out of the fit (counted in
        ``n_rows_omitted_``). ``"marginalize"``: structured variational Bayes with the
        missing entries as latent variables, ``q(z, x_mis) q(theta)``: each row's
        responsibilities come from its observed coordinates, its statistics fill the
        missing block with its conditional mean under the expected precision and add the
        conditional covariance, and the lower bound includes the entropy of the missing
        block (the bound never decreases). It costs what ``GaussianMixture``'s
        ``"marginalize"`` costs. Under both, the default priors (``mean_prior``,
        ``covariance_prior``) and the initialisation are computed from the mean-imputed
        data (each NaN read as its column's observed mean), and inference uses each row's
        observed coordinates. A row with every coordinate missing adds nothing to the fit,
        scores 0.0 and is counted in ``n_rows_all_missing_``. ``inf`` is always an error.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Expected weights.
    means_ : ndarray of shape (n_components, n_features)
        Posterior means of the means (``m_k``).
    covariances_ : ndarray
        Normalised covariances ``W_k^-1 / nu_k`` (scikit-learn's definition).
    precisions_ : ndarray
        Expected precisions ``nu_k W_k``.
    precisions_cholesky_ : ndarray
        Cholesky factors of ``precisions_`` (upper triangular for full and tied).
    weight_concentration_prior_ : float
    weight_concentration_ : ndarray or tuple of two ndarrays
        Dirichlet parameters, or the two Beta parameters of each stick (Dirichlet process).
    mean_precision_prior_ : float
    mean_precision_ : ndarray of shape (n_components,)
    mean_prior_ : ndarray of shape (n_features,)
    degrees_of_freedom_prior_ : float
    degrees_of_freedom_ : ndarray of shape (n_components,), or float for tied
    covariance_prior_ : float or ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        scikit-learn's lower bound at the last iteration of the best initialisation.
    lower_bounds_ : list of float
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` had string column names.
    n_rows_omitted_, n_rows_all_missing_ : int
        Rows left out for holding a NaN (``nan_policy="omit"``), and rows entirely NaN.

    For SVI (:meth:`partial_fit`, ``algorithm="online"``), ``n_iter_`` counts steps,
    ``lower_bounds_`` holds each chunk's mean ``score_samples`` under the posterior before
    its step and ``converged_`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import BayesianGaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [12, 4], [10, 7]])
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    >>> bgm.means_.round(2)
    array([[2.5 , 2.29],
           [8.46, 4.52]])
    >>> bgm.predict([[0, 0], [9, 3]])
    array([0, 1])
    """

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 tol: float = 1e-3, reg_covar: float = 1e-6, max_iter: int = 100,
                 n_init: int = 1, init_params: str = "kmeans",
                 weight_concentration_prior_type: str = "dirichlet_process",
                 weight_concentration_prior: Optional[float] = None,
                 mean_precision_prior: Optional[float] = None,
                 mean_prior: Optional[ArrayLike] = None,
                 degrees_of_freedom_prior: Optional[float] = None,
                 covariance_prior: Optional[Union[float, ArrayLike]] = None,
                 random_state: RandomStateLike = None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10,
                 chunk_size: Optional[int] = None, n_threads: Optional[int] = None,
                 backend: str = "auto", algorithm: str = "em",
                 learning_decay: float = 0.7, learning_offset: float = 10.0,
                 total_samples: Optional[float] = None,
                 prune_threshold: Optional[float] = None, progress: bool = False,
                 checkpoint: Optional[Union[str, os.PathLike]] = None,
                 nan_policy: str = "raise") -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
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
        self.total_samples = total_samples
        self.prune_threshold = prune_threshold
        self.progress = progress
        self.checkpoint = checkpoint
        self.nan_policy = nan_policy

    _constraints = _CONSTRAINTS
    #: No ``weights_init`` in scikit-learn's Bayesian mixture (the base class reads it).
    weights_init = None

    # ------------------------------------------------------------------ fitting
    def fit(self, X: ArrayLike, y: Any = None, sample_weight: Optional[ArrayLike] = None, *,
            algorithm: Optional[str] = None) -> "BayesianGaussianMixture":
        """Estimate the variational posterior (batch VB, or one SVI pass).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or out-of-core data
            Anything :class:`fastem.GaussianMixture` accepts (paths, memmaps, HDF5, Zarr,
            Arrow, chunk callables, Dask collections).
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row (a row of weight 2 counts as two copies,
            also in the default priors).
        algorithm : {"em", "online"}, default=None
            Overrides the estimator's ``algorithm`` for this call.

        Returns
        -------
        self : BayesianGaussianMixture
        """
        if algorithm is not None:
            validate_params(f"{type(self).__name__}.fit", {"algorithm": algorithm},
                            {"algorithm": self._constraints["algorithm"]})
        chosen = algorithm or self.algorithm
        if chosen == "online":
            self._validate_params()
            self._check_svi_options('fit(..., algorithm="online")')
            return self._fit_online(X, sample_weight)
        saved = self.algorithm
        self.algorithm = "em"
        try:
            return super().fit(X, y, sample_weight)
        finally:
            self.algorithm = saved

    # -------------------------------------------------------- FamilyMixture hooks
    def _checker(self) -> VariationalGaussianFamily:
        # Chunks are checked (float, finite or NaN by nan_policy) by the family's rules; the
        # priors do not matter.
        return make_variational_family(self.covariance_type, nan_policy=self.nan_policy)

    def _make_family(self, n_features: Optional[int], source: Any
                     ) -> VariationalGaussianFamily:
        gaussian = get_family(self.covariance_type)
        if source is None:
            return self._checker()
        backend = choose_backend(self.backend, source)
        with numba_threads(self.n_threads):
            moments = data_moments(self._moments_view(source), gaussian, backend)
        return VariationalGaussianFamily(gaussian, self._priors(moments, n_features),
                                         self.prune_threshold, self.nan_policy)

    def _moments_view(self, source: Any) -> Any:
        """The data the default priors are computed from: mean-imputed when NaN are
        allowed (as the initialisation's)."""
        if not self._nan_ok():
            return source
        from ..impute import mean_imputed
        return mean_imputed(source)

    def _reg(self) -> float:
        return float(self.reg_covar)

    def _fitted_attributes(self, p: VariationalParams) -> dict:
        gaussian = get_family(self.covariance_type)
        wc = p.weight_concentration
        return {
            "weight_concentration_": (wc[0].copy(), wc[1].copy()) if wc.ndim == 2 else wc,
            "mean_precision_": p.mean_precision,
            "means_": p.means,
            "degrees_of_freedom_": (float(p.degrees_of_freedom)
                                    if np.ndim(p.degrees_of_freedom) == 0
                                    else p.degrees_of_freedom),
            "covariances_": p.covariances,
            "precisions_cholesky_": p.precisions_cholesky,
            "weights_": p.weights,
            "precisions_": gaussian.precisions(p.precisions_cholesky),
            "_active": None if p.active is None else p.active.copy(),
        }

    def _store_fit(self, params: VariationalParams, family: VariationalGaussianFamily,
                   n_features: int, **kwargs: Any) -> None:
        """The base class's attributes, then the effective priors (scikit-learn's
        ``*_prior_`` attributes) of ``family``."""
        super()._store_fit(params, family, n_features, **kwargs)
        priors = family.priors
        self.weight_concentration_prior_ = priors.weight_concentration_prior
        self.mean_precision_prior_ = priors.mean_precision_prior
        self.mean_prior_ = priors.mean_prior
        self.degrees_of_freedom_prior_ = priors.degrees_of_freedom_prior
        self.covariance_prior_ = priors.covariance_prior
        self._fitted_covariance_type = family.gaussian.name
        self._fitted_prior_type = priors.weight_concentration_prior_type
        self._fitted_priors = priors

    def _params_from_attributes(self) -> VariationalParams:
        wc = self.weight_concentration_
        wc = np.vstack(wc) if isinstance(wc, tuple) else np.asarray(wc)
        return VariationalParams(wc, self.mean_precision_, self.means_,
                                 np.asarray(self.degrees_of_freedom_, dtype=np.float64),
                                 self.covariances_, self.precisions_cholesky_,
                                 getattr(self, "_active", None))

    def _check_same_model(self, what: str, n_features: Optional[int] = None) -> None:
        k = self.means_.shape[0]
        if (k != self.n_components or self.covariance_type != self._fitted_covariance_type
                or self.weight_concentration_prior_type != self._fitted_prior_type):
            raise ValueError(
                f"{what} continues the fitted model, which has n_components={k}, "
                f"covariance_type={self._fitted_covariance_type!r} and "
                f"weight_concentration_prior_type={self._fitted_prior_type!r}; got "
                f"{self.n_components!r}, {self.covariance_type!r} and "
                f"{self.weight_concentration_prior_type!r}. Call fit (with warm_start=False) "
                "to start afresh.")
        if n_features is not None and n_features != self.n_features_in_:
            raise ValueError(f"X has {n_features} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")

    # ---------------------------------------------------------------- the priors
    def _priors(self, moments: tuple[np.ndarray, Any], n_features: int) -> VariationalPriors:
        """The effective priors (scikit-learn's ``_check_parameters``), from the user's
        values or the data's ``(mean, covariance)``."""
        d = n_features
        cov_type = self.covariance_type
        wcp = (1.0 / self.n_components if self.weight_concentration_prior is None
               else float(self.weight_concentration_prior))
        beta0 = 1.0 if self.mean_precision_prior is None else float(self.mean_precision_prior)
        if self.mean_prior is None:
            m0 = moments[0]
        else:
            m0 = np.asarray(self.mean_prior, dtype=np.float64)
            if m0.shape != (d,):
                raise ValueError(f"The parameter 'means' should have the shape of {(d,)}, but "
                                 f"got {m0.shape}. mean_prior needs one value per feature.")
            if not np.isfinite(m0).all():
                raise ValueError("mean_prior contains NaN or inf.")
        if self.degrees_of_freedom_prior is None:
            nu0 = float(d)
        elif self.degrees_of_freedom_prior > d - 1.0:
            nu0 = float(self.degrees_of_freedom_prior)
        else:
            raise ValueError("The parameter 'degrees_of_freedom_prior' should be greater than "
                             f"{d - 1}, but got {self.degrees_of_freedom_prior:.3f}.")
        cov0 = moments[1] if self.covariance_prior is None else _user_covariance_prior(
            self.covariance_prior, cov_type, d)
        return VariationalPriors(self.weight_concentration_prior_type, wcp, beta0,
                                 np.asarray(m0, dtype=np.float64), nu0, cov0)

    @property
    def n_effective_components_(self) -> int:
        """Components with an expected weight of at least 1e-3 (the ones the data use)."""
        self._check_is_fitted()
        return effective_n_components(self.weights_)

    def impute(self, X: ArrayLike, *, sample: bool = False, random_state: RandomStateLike = None,
               out: Any = None) -> np.ndarray:
        """``X`` with every NaN replaced from the fitted posterior (works under any
        ``nan_policy``).

        Each missing entry becomes the mean of its variational posterior: the mix, weighted
        by the row's responsibilities (from its observed values), of the components'
        Gaussian conditional means under the expected precisions ``precisions_``. A row
        entirely missing gets the responsibility-weighted means. With ``sample=True`` each
        row instead draws a component from its responsibilities, then its missing block
        from that component's conditional.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or out-of-core data
            NaN marks a missing value; inf is an error.
        sample : bool, default=False
            Draw from the conditional instead of taking its mean.
        random_state : int, RandomState, Generator or None, default=None
            Seed of the draws (``sample=True`` only).
        out : ndarray or path, optional
            Where to write the result: a float64 array (or memmap) of X's shape, or a path
            for a ``.npy`` file (returned memory-mapped), chunk by chunk.

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features), float64
        """
        from ..families.missing import impute_chunk
        from ..impute import impute_source
        self._check_is_fitted()
        check_feature_names(getattr(self, "feature_names_in_", None), X, type(self).__name__)
        family = self._fitted_family().with_nan_policy("marginalize")
        kargs = family.kernel_args(self._params_from_attributes())
        rng = make_rng(random_state) if sample else None
        with numba_threads(self.n_threads):
            return impute_source(self._source(X, family),
                                 lambda chunk: impute_chunk(chunk, kargs, rng), out)

    def _info_extra(self) -> dict:
        # Shown by ``fastem info``.
        return {"n_effective_components": self.n_effective_components_,
                "lower_bound": "scikit-learn's variational bound, summed over rows"}

    # ------------------------------------------------------------------ SVI
    def partial_fit(self, X: ArrayLike, y: Any = None,
                    sample_weight: Optional[ArrayLike] = None) -> "BayesianGaussianMixture":
        """Update the posterior with one chunk of rows: one step of stochastic variational
        inference (Hoffman et al., 2013).

        The chunk's average statistics under the current posterior, scaled to
        ``total_samples`` (or to the weight seen so far), give an intermediate posterior;
        the natural parameters move towards it by ``(t + learning_offset) **
        -learning_decay``. The first call initialises from its chunk (``init_params`` on
        those rows; the default priors are that chunk's mean and covariance), so it needs
        at least ``n_components`` rows. A call after :meth:`fit` continues from the fitted
        posterior with the step counter restarted.

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_svi_options("partial_fit")
        owner = type(self).__name__
        fitted = self._is_fitted()
        if fitted:
            self._check_same_model("partial_fit")
            names = getattr(self, "feature_names_in_", None)
            check_feature_names(names, X, owner)
            Xv = check_family_chunk(X, self._checker(), owner=owner,
                                    n_features=self.n_features_in_)
        else:
            names = feature_names_of(X)
            Xv = check_family_chunk(X, self._checker(), owner=owner)
        w = validate_sample_weight(sample_weight, Xv.shape[0])
        engine = self._svi_engine(self.total_samples)
        rng = None
        with numba_threads(self.n_threads):
            if not fitted:
                rng = make_rng(self.random_state)
                state = self._svi_start(engine, Xv, w, rng)
            else:
                state = getattr(self, "_online_state", None)
                if state is None:
                    state = self._svi_state_from_fit(engine, Xv.dtype)
            new = engine.step(state, Xv, w)
        self._set_svi_result(new, Xv.shape[1], rng, [new.loglik], restart=new.n_steps == 1,
                             feature_names=names)
        return self

    def _fit_online(self, X: ArrayLike, sample_weight: Optional[ArrayLike]):
        """``fit`` with ``algorithm="online"``: one SVI pass over ``X``'s chunks."""
        names = feature_names_of(X)
        chunk = self.chunk_size or default_chunk_size(self.n_components)
        source = self._open(X, sample_weight, chunk, self._checker())
        if isinstance(source, ArraySource) and not source.chunk_size:
            source = ArraySource(source.X, source.sample_weight, chunk)
        d = source.n_features
        total = self.total_samples
        if total is None and sample_weight is not None:
            total = float(np.sum(np.asarray(sample_weight, dtype=np.float64)))
        elif total is None and source.n_samples is not None:
            total = float(source.n_samples)
        engine = self._svi_engine(total)
        state = None
        if self.warm_start and self._is_fitted():
            self._check_same_model("fit with warm_start=True", d)
            state = getattr(self, "_online_state", None)
            if state is None:
                state = self._svi_state_from_fit(engine, source.dtype)
        start_steps = 0 if state is None else state.n_steps
        rng = make_rng(self.random_state)
        bounds: list[float] = []
        verbose_cb = self._verbose_hooks().get("callback")

        def callback(info) -> None:
            bounds.append(info.lower_bound)
            if verbose_cb is not None:
                verbose_cb(info)

        def initializer(Xc: np.ndarray, wc: Optional[np.ndarray]) -> SVIState:
            return self._svi_start(engine, Xc, wc, rng)

        with numba_threads(self.n_threads):
            new = engine.run(source, state, initializer=initializer, callback=callback)
        self._set_svi_result(new, d, rng, bounds, restart=start_steps == 0,
                             feature_names=names)
        self._set_missing_counts(X, sample_weight)
        return self

    def _check_svi_options(self, what: str) -> None:
        """SVI does not prune and does not checkpoint: refuse those settings by name rather
        than ignore them."""
        if self.prune_threshold is not None:
            raise ValueError(
                f"prune_threshold={self.prune_threshold!r} applies to batch fits only; {what} "
                "(stochastic variational inference) computes every component on every chunk, "
                "since a component's running share can grow again. Set prune_threshold=None, "
                "or fit with algorithm=\"em\".")
        if self.checkpoint is not None:
            raise ValueError(
                f"checkpoint={os.fspath(self.checkpoint)!r} applies to batch fits only; {what} "
                "(stochastic variational inference) does not write checkpoints. Set "
                "checkpoint=None; to keep an SVI fit between sessions, save() the model after "
                "partial_fit calls and continue with fastem.load(...).partial_fit (its step "
                "counter restarts).")

    def _svi_engine(self, total: Optional[float]) -> SVI:
        return SVI(get_family(self.covariance_type).with_nan_policy(self.nan_policy),
                   float(self.reg_covar),
                   float(self.learning_decay), float(self.learning_offset),
                   None if total is None else float(total))

    def _svi_start(self, engine: SVI, X: np.ndarray, w: Optional[np.ndarray],
                   rng: np.random.Generator) -> SVIState:
        """The first chunk's priors (unless given) and ``init_params`` statistics."""
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"The first chunk has {X.shape[0]} rows but n_components={self.n_components}: "
                "SVI initialises from its first chunk, which needs at least n_components rows. "
                "Pass a bigger first chunk.")
        source = ArraySource(X, w)
        family = VariationalGaussianFamily(
            engine.gaussian, self._priors(data_moments(self._moments_view(source),
                                                       engine.gaussian, nb), X.shape[1]),
            nan_policy=self.nan_policy)
        # The base class's initialisation on this chunk, as the statistics it implies.
        stats = _stats_of_posterior(self._initialize(source, family, rng), family.priors,
                                    engine.gaussian, float(self.reg_covar))
        return engine.start(family.priors, stats, X.dtype)

    def _svi_state_from_fit(self, engine: SVI, dtype) -> SVIState:
        """An SVI state at the fitted posterior: the running statistics are those the
        posterior implies (:func:`_stats_of_posterior`), representing its ``N``."""
        stats = _stats_of_posterior(self._params_from_attributes(), self._fitted_priors,
                                    get_family(self.covariance_type), float(self.reg_covar))
        state = engine.start(self._fitted_priors, stats, dtype,
                             weight_seen=float(stats.weight_sum))
        return replace(state, params=self._params_from_attributes())

    def _set_svi_result(self, state: SVIState, n_features: int,
                        rng: Optional[np.random.Generator], new_bounds: list, *,
                        restart: bool, feature_names: Optional[np.ndarray] = None) -> None:
        previous = [] if restart else list(getattr(self, "lower_bounds_", []))
        family = VariationalGaussianFamily(get_family(self.covariance_type), state.priors,
                                           nan_policy=self.nan_policy)
        self._store_fit(state.params, family, n_features, converged=False,
                        n_iter=state.n_steps, lower_bound=state.loglik,
                        lower_bounds=previous + [float(b) for b in new_bounds], rng=rng,
                        feature_names=feature_names)
        self._online_state = state


def data_moments(source, gaussian: CovarianceFamily, backend) -> tuple[np.ndarray, Any]:
    """The (weighted) mean of ``source`` and its covariance prior in ``gaussian``'s shape
    (``ddof=1``: ``np.cov`` for full and tied, ``np.var(ddof=1)`` for diag, its mean for
    spherical), from one pass about the first chunk's mean.

    With a total weight of at most 1 the ``ddof=0`` scatter is used (never NaN).
    """
    d = source.n_features
    first = next(iter(source.chunks()), None)
    if first is None:
        raise ValueError("The data source yielded no rows.")
    center = np.asarray(first.X, dtype=np.float64).mean(axis=0)[None]
    square = gaussian.name in ("full", "tied")
    stats, _ = backend.kmeans_stats(source, center, (1, d, d) if square else (1, d))
    n = float(stats.nk[0])
    if not n > 0:
        raise ValueError("The data source yielded no rows (or only zero weights).")
    delta = stats.s1[0] / n
    mean = center[0] + delta
    denom = n - 1.0 if n > 1.0 else n
    if square:
        s2 = np.tril(stats.s2[0]) + np.tril(stats.s2[0], -1).T
        cov = (s2 - n * np.outer(delta, delta)) / denom
        return mean, cov
    var = (stats.s2[0] - n * delta * delta) / denom
    return mean, (var if gaussian.name == "diag" else float(var.mean()))


def _user_covariance_prior(value: Any, cov_type: str, d: int) -> Any:
    """A user's ``covariance_prior``, checked as scikit-learn checks it."""
    if cov_type == "spherical":
        arr = np.asarray(value, dtype=np.float64)
        if arr.size != 1 or not float(arr.reshape(-1)[0]) > 0:
            raise ValueError(f"spherical covariance_prior must be a positive float; got "
                             f"{value!r}.")
        return float(arr.reshape(-1)[0])
    arr = np.asarray(value, dtype=np.float64)
    if isinstance(value, numbers.Real):
        raise ValueError(f"{cov_type} covariance_prior must be an array of shape "
                         f"{(d, d) if cov_type in ('full', 'tied') else (d,)}; got {value!r}.")
    if cov_type in ("full", "tied"):
        if arr.shape != (d, d):
            raise ValueError(f"The parameter '{cov_type} covariance_prior' should have the "
                             f"shape of {(d, d)}, but got {arr.shape}.")
        if not (np.allclose(arr, arr.T) and np.all(np.linalg.eigvalsh(arr) > 0.0)):
            raise ValueError(f"'{cov_type} precision' should be symmetric, positive-definite")
        return arr
    if arr.shape != (d,):
        raise ValueError(f"The parameter '{cov_type} covariance_prior' should have the shape "
                         f"of {(d,)}, but got {arr.shape}.")
    if np.any(arr <= 0.0):
        raise ValueError(f"'{cov_type} precision' should be positive")
    return arr


def _stats_of_posterior(p: VariationalParams, priors: VariationalPriors,
                        gaussian: CovarianceFamily, reg_covar: float) -> SuffStats:
    """Statistics whose variational M-step gives the posterior ``p`` back (up to the
    ``10 eps`` floor): ``N_k = beta_k - beta_0``, the data means from ``m_k`` and the
    scatter from the Wishart scale, about the data means (so the first moments are 0)."""
    k, d = p.means.shape
    b0 = priors.mean_precision_prior
    nk = np.maximum(p.mean_precision - b0, 0.0)
    safe = np.where(nk > 0, nk, 1.0)
    xk = (p.mean_precision[:, None] * p.means - b0 * priors.mean_prior) / safe[:, None]
    xk[nk <= 0] = p.means[nk <= 0]
    diff = xk - priors.mean_prior
    cov0 = np.asarray(priors.covariance_prior, dtype=np.float64)
    nu = np.asarray(p.degrees_of_freedom, dtype=np.float64)
    shrink = b0 / p.mean_precision
    if gaussian.name == "full":
        nsk = (p.covariances * nu[:, None, None] - cov0
               - (nk * shrink)[:, None, None] * diff[:, :, None] * diff[:, None, :])
        s2 = np.tril(nsk - nk[:, None, None] * reg_covar * np.eye(d))
    elif gaussian.name == "tied":
        nsk = (p.covariances * nu - cov0 - np.dot((nk * shrink) * diff.T, diff) / k) * k
        s2 = np.tril(nsk - nk.sum() * reg_covar * np.eye(d))[None]
    elif gaussian.name == "diag":
        nsk = p.covariances * nu[:, None] - cov0 - (nk * shrink)[:, None] * diff ** 2
        s2 = nsk - nk[:, None] * reg_covar
    else:
        nsk = p.covariances * nu - cov0 - nk * shrink * np.mean(diff ** 2, axis=1)
        s2 = np.repeat((nsk - nk * reg_covar)[:, None], d, axis=1)
    return SuffStats(np.ascontiguousarray(xk), nk, np.zeros((k, d)), np.asarray(s2), 0.0,
                     float(nk.sum()), 0)


register_estimator(VariationalGaussianFamily.registered_name, BayesianGaussianMixture)

__all__ = ["BayesianGaussianMixture", "data_moments"]
