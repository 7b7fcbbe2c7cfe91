"""``GaussianMixture``: scikit-learn's estimator, fitted by fastem's fused EM pass."""
from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Optional, Union

import numpy as np

from .._params import ARRAY_LIKE, NONE, Interval, Options, validate_params
from .._feature_names import check_feature_names, feature_names_of
from .._validation import validate_data, validate_init
from ..backends import choose_backend
from ..backends import numba as nb
from ..checkpoint import Checkpointer
from ..data import ArraySource, as_source, is_out_of_core
from ..data.checked import ONE_SHOT_REMEDY, choose_chunk_rows
from ..data.dask_source import is_dask_collection
from ..em import EMResult, IterationInfo, fit_mixture
from ..impute import count_all_missing, count_missing, mean_imputed
from .. import exceptions
from ..families import FAMILIES, GaussianParams, get_family
from ..families.missing import NAN_POLICIES
from ..inference import OUTPUTS, e_step_source, log_likelihood_sum
from ..init import initialize
from ..progress import Progress, chain_hooks
from ._base import BaseEstimatorMixin, numba_threads
from ._mixture import COMMON_CONSTRAINTS
from ._online import OnlineMixin

ArrayLike = Any
RandomStateLike = Union[None, int, np.random.RandomState, np.random.Generator]

_CONSTRAINTS = {
    **COMMON_CONSTRAINTS,
    "covariance_type": [Options(tuple(FAMILIES))],
    "reg_covar": [Interval("float", 0.0, None, "left")],
    "means_init": [ARRAY_LIKE, NONE],
    "precisions_init": [ARRAY_LIKE, NONE],
    "nan_policy": [Options(NAN_POLICIES)],
}


def _make_rng(random_state: RandomStateLike) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    return np.random.default_rng(random_state)


class GaussianMixture(OnlineMixin, BaseEstimatorMixin):
    """Gaussian mixture model fitted by Expectation-Maximization.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the same parameters,
    methods and fitted attributes, computed by one fused, parallel pass per EM iteration that
    never holds an ``n_samples x n_components`` array.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Form of the covariance of each component.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean per-sample log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of every covariance.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the best lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How initial parameters are found (see :mod:`fastem.init`).
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        Shape as ``precisions_`` for the covariance type. When all three ``*_init`` are
        given, no initialisation pass over the data is made.
    random_state : int, RandomState, Generator or None, default=None
        Seed for initialisation and for :meth:`sample`.
    warm_start : bool, default=False
        Continue from the fitted parameters on the next ``fit`` (``n_init`` is then 1).
    verbose : int, default=0
        1 prints the current initialisation and iteration, 2 also times and lower bounds.
    verbose_interval : int, default=10
        Iterations between two progress lines.
    chunk_size : int or None, default=None
        Rows per kernel call; ``None`` processes an in-memory array in one call and reads
        out-of-core data in chunks of ``fastem.set_options(chunk_memory=...)`` bytes.
    n_threads : int or None, default=None
        Numba threads for this estimator; ``None`` uses Numba's current setting.
    backend : {"auto", "numba", "dask"}, default="auto"
        Where statistics are computed. ``"auto"`` runs Dask input (a ``dask.array.Array``
        or numeric ``dask.dataframe.DataFrame``) on the active Dask scheduler, one task per
        row block, and everything else in process. For Dask input, ``predict``,
        ``predict_proba`` and ``score_samples`` return lazy Dask arrays.
    algorithm : {"em", "online"}, default="em"
        What :meth:`fit` runs: exact EM to convergence (several passes), or one pass of
        stepwise online EM, one step per chunk of ``chunk_size`` rows (default
        ``max(10_000, 200 * n_components)``); ``tol``, ``max_iter`` and ``n_init`` are
        then unused. See :meth:`partial_fit`.
    learning_decay : float, default=0.7
        Online EM: the step of chunk ``t`` is ``(t + learning_offset) ** -learning_decay``;
        in ``(0.5, 1]``. Larger values forget old chunks faster early and slower late.
    learning_offset : float, default=10.0
        Online EM: non-negative offset of the step counter; larger values damp the first
        steps (and keep more of the starting parameters).
    progress : bool, default=False
        Show a progress bar (tqdm if installed) with the lower bound, rows/s and ETA.
    checkpoint : str or os.PathLike, default=None
        Write the fit's state to this file after every iteration (atomically). If the file
        exists when ``fit`` starts, the fit resumes from it and ends with the parameters an
        uninterrupted fit would have given.
    nan_policy : {"raise", "omit", "marginalize"}, default="raise"
        What a NaN (a missing value) in ``X`` means. ``"raise"``: an error naming its first
        row and column. ``"omit"``: rows holding a NaN are left out of the fit (counted in
        ``n_rows_omitted_``). ``"marginalize"``: exact EM over each row's observed
        coordinates (the missing entries are latent variables: the density of a row is the
        marginal of its observed block, and the statistics use the conditional mean of the
        missing block plus its conditional covariance). Initialisation then runs on
        mean-imputed data (NaN replaced by the column's observed mean). Under "omit" and
        "marginalize", ``predict``, ``predict_proba``, ``score_samples``, ``score``,
        ``bic`` and ``aic`` use each row's observed coordinates; a row entirely missing gets
        ``score_samples`` 0.0 and is not counted in ``score``, ``bic`` and ``aic``.
        ``inf`` is an error under every policy. See also :meth:`impute`.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
        Upper triangular for "full" and "tied" (``precision = U @ U.T``).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean per-sample log-likelihood at the last iteration of the best initialisation.
    lower_bounds_ : list of float
        Lower bound of every iteration of the best initialisation.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of the DataFrame given to ``fit``; only set when they are all strings.
        Later calls warn or raise as scikit-learn does when the names differ.
    n_rows_omitted_ : int
        Rows left out of the fit because they hold a NaN (``nan_policy="omit"``; else 0).
    n_rows_all_missing_ : int
        Rows of the fitted data with every value missing (they add nothing to the fit and
        are left out of the lower bound's denominator).

    For online EM (:meth:`partial_fit` or ``algorithm="online"``), ``n_iter_`` counts the
    steps (chunks) since the online state started, ``lower_bounds_`` holds each chunk's mean
    log-likelihood under the parameters before its step, ``lower_bound_`` the last one, and
    ``converged_`` is False (there is no convergence test).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0]).round(1)
    array([ 1., 10.])
    """

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 tol: float = 1e-3, reg_covar: float = 1e-6, max_iter: int = 100,
                 n_init: int = 1, init_params: str = "kmeans",
                 weights_init: Optional[ArrayLike] = None,
                 means_init: Optional[ArrayLike] = None,
                 precisions_init: Optional[ArrayLike] = None,
                 random_state: RandomStateLike = None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10,
                 chunk_size: Optional[int] = None, n_threads: Optional[int] = None,
                 backend: str = "auto", algorithm: str = "em",
                 learning_decay: float = 0.7, learning_offset: float = 10.0,
                 progress: bool = False,
                 checkpoint: Optional[Union[str, os.PathLike]] = None,
                 nan_policy: str = "raise") -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
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
        self.backend = backend
        self.algorithm = algorithm
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.progress = progress
        self.checkpoint = checkpoint
        self.nan_policy = nan_policy

    # ------------------------------------------------------------------ fitting
    def fit(self, X: ArrayLike, y: Any = None, sample_weight: Optional[ArrayLike] = None, *,
            algorithm: Optional[str] = None) -> "GaussianMixture":
        """Estimate the parameters with EM (or one online pass, ``algorithm="online"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            float32 or float64 (integers are converted to float64), any memory layout.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row (a row of weight 2 counts as two copies).
        algorithm : {"em", "online"}, default=None
            Overrides the estimator's ``algorithm`` for this call (``None`` keeps it).

        Returns
        -------
        self : GaussianMixture
        """
        self._validate_params()
        if algorithm is not None:
            validate_params(f"{type(self).__name__}.fit", {"algorithm": algorithm},
                            {"algorithm": _CONSTRAINTS["algorithm"]})
        if (algorithm or self.algorithm) == "online":
            return self._fit_online(X, sample_weight)
        names = feature_names_of(X)
        family = self._family(self.covariance_type)
        source = as_source(X, sample_weight, chunk_size=self.chunk_size,
                           owner=type(self).__name__,
                           allow_nan=self.nan_policy != "raise")
        if getattr(source, "reiterable", True) is False:
            raise ValueError(f"fit needs several passes over the data, but {source!r} is a "
                             f"one-shot iterator. {ONE_SHOT_REMEDY}")
        n, d = source.n_samples, source.n_features
        if n is not None and n < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = "
                             f"{self.n_components}, n_samples = {n}")
        inits = validate_init(family, self.n_components, d, self.weights_init,
                              self.means_init, self.precisions_init)
        backend = choose_backend(self.backend, source)
        rng = _make_rng(self.random_state)
        warm = None
        if self.warm_start and hasattr(self, "means_"):
            self._check_same_model("fit with warm_start=True", d)
            warm = (self._params(), self.lower_bound_)

        init_source = source if self.nan_policy == "raise" else mean_imputed(source)

        def initializer(i: int) -> GaussianParams:
            return initialize(init_source, family, self.n_components, self.init_params, rng,
                              self.reg_covar, weights_init=inits[0], means_init=inits[1],
                              precisions_init=inits[2], backend=backend)

        hooks = self._verbose_hooks()
        resume = None
        if self.checkpoint is not None:
            ckpt = Checkpointer.for_fit(self, source, rng)
            resume = ckpt.load()
            initializer = ckpt.wrap_initializer(initializer)
            hooks = chain_hooks(ckpt.hooks(), hooks)
        if self.progress:
            hooks = chain_hooks(hooks, Progress(self.max_iter, 1 if warm else self.n_init,
                                                n).hooks())
        with numba_threads(self.n_threads):
            result = fit_mixture(
                source, family, initializer=initializer, n_init=self.n_init,
                stats_fn=backend.em_stats, max_iter=self.max_iter, tol=self.tol,
                reg_covar=self.reg_covar, warm=warm, resume=resume, **hooks)
        if names is not None and len(names) != d:
            names = None  # a table whose non-numeric columns were left out
        self._set_result(result, family.name, d, rng, names)
        self._set_missing_counts(source)
        self._online_state = None  # a later partial_fit restarts its step counter from here
        return self

    def _family(self, covariance_type: str):
        """The covariance family of ``covariance_type`` under this estimator's nan_policy."""
        return get_family(covariance_type).with_nan_policy(
            getattr(self, "nan_policy", "raise"))

    def _set_missing_counts(self, source) -> None:
        """``n_rows_omitted_`` and ``n_rows_all_missing_`` (one counting pass, only when NaN
        are allowed)."""
        n_nan = n_all = 0
        if self.nan_policy != "raise":
            n_nan, n_all = count_missing(source)
        self.n_rows_omitted_ = n_nan if self.nan_policy == "omit" else 0
        self.n_rows_all_missing_ = n_all
        if self.verbose and self.nan_policy != "raise":
            what = "omitted" if self.nan_policy == "omit" else "marginalised"
            print(f"{n_nan:,} rows with missing values {what} ({n_all:,} entirely missing).")

    def _nan_ok(self) -> bool:
        return getattr(self, "nan_policy", "raise") != "raise"

    def impute(self, X: ArrayLike, *, sample: bool = False,
               random_state: RandomStateLike = None, out: Any = None) -> np.ndarray:
        """``X`` with every NaN replaced from the fitted mixture (works under any
        ``nan_policy``).

        Each missing entry becomes ``E[x_mis | x_obs]``: the mix of the components'
        conditional means given the row's observed values, weighted by the row's
        responsibilities (computed from its observed values). A row entirely missing gets
        the mixture's mean. With ``sample=True`` each row instead draws a component from its
        responsibilities, then its missing block from that component's conditional.

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
            for a ``.npy`` file (returned memory-mapped); chunk by chunk, so it need not fit
            in memory.

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features)
        """
        from ..families.missing import impute_chunk
        from ..impute import impute_source
        self._check_is_fitted()
        self._check_names(X)
        kargs = self._family(self._fitted_covariance_type).kernel_args(self._params())
        rng = _make_rng(random_state) if sample else None
        with numba_threads(self.n_threads):
            source = as_source(X, chunk_size=self.chunk_size, owner=type(self).__name__,
                               allow_nan=True)
            if source.n_features != self.n_features_in_:
                raise ValueError(f"{source!r} has {source.n_features} features, but "
                                 f"{type(self).__name__} is expecting {self.n_features_in_} "
                                 "features as input.")
            if isinstance(source, ArraySource) and source.chunk_size is None and out is not None:
                source.chunk_size = choose_chunk_rows(source.n_features, None)
            return impute_source(source, lambda X: impute_chunk(X, kargs, rng), out)

    def _validate_params(self) -> None:
        validate_params(type(self).__name__, self.get_params(), _CONSTRAINTS)

    def _new_rng(self) -> np.random.Generator:
        return _make_rng(self.random_state)

    def fit_predict(self, X: ArrayLike, y: Any = None,
                    sample_weight: Optional[ArrayLike] = None) -> np.ndarray:
        """Fit, then return the most likely component of each row.

        Equal to ``fit(X).predict(X)``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    def _set_result(self, result: EMResult, cov_type: str, n_features: int,
                    rng: np.random.Generator, feature_names: Optional[np.ndarray]) -> None:
        if not result.converged and self.max_iter > 0:
            warnings.warn(
                f"Best performing initialization did not converge after {result.n_iter} "
                "iterations. Try different init parameters, or increase max_iter, tol, or "
                "check for degenerate data.", exceptions.ConvergenceWarning, stacklevel=3)
        self._store_fit(result.params, cov_type, n_features, converged=result.converged,
                        n_iter=result.n_iter, lower_bound=result.lower_bound,
                        lower_bounds=result.lower_bounds, rng=rng,
                        feature_names=feature_names)

    def _store_fit(self, p: GaussianParams, cov_type: str, n_features: int, *,
                   converged: bool, n_iter: int, lower_bound: float, lower_bounds: list,
                   rng: Optional[np.random.Generator],
                   feature_names: Optional[np.ndarray] = None) -> None:
        """Set every fitted attribute at once (nothing is written before a fit succeeds).

        ``feature_names`` (the column names of the fitted DataFrame) become
        ``feature_names_in_``; ``None`` removes an earlier fit's names, as scikit-learn does.
        """
        precisions = get_family(cov_type).precisions(p.precisions_cholesky)
        self.weights_ = p.weights
        self.means_ = p.means
        self.covariances_ = p.covariances
        self.precisions_cholesky_ = p.precisions_cholesky
        self.precisions_ = precisions
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        self.lower_bound_ = float(lower_bound)
        self.lower_bounds_ = list(lower_bounds)
        self.n_features_in_ = n_features
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._fitted_covariance_type = cov_type
        if rng is not None:
            self._sample_rng = np.random.default_rng(rng.integers(0, 2**63 - 1))

    def _params(self) -> GaussianParams:
        return GaussianParams(self.weights_, self.means_, self.covariances_,
                              self.precisions_cholesky_)

    def _verbose_hooks(self) -> dict:
        if not self.verbose:
            return {}
        level, every = int(self.verbose), self.verbose_interval

        def on_init(i: int) -> None:
            print(f"Initialization {i}", file=sys.stdout)

        def callback(info: IterationInfo) -> None:
            if info.n_iter % every == 0:
                if level >= 2:
                    print(f"  Iteration {info.n_iter}\t time lapse {info.seconds:.5f}s\t "
                          f"ll change {info.change:.5f}")
                else:
                    print(f"  Iteration {info.n_iter}")

        def on_init_end(result: EMResult, seconds: float) -> None:
            state = "converged" if result.converged else "did not converge"
            if level >= 2:
                print(f"Initialization {state}. time lapse {seconds:.5f}s\t lower bound "
                      f"{result.lower_bound:.5f}.")
            else:
                print(f"Initialization {state}.")

        return {"on_init": on_init, "callback": callback, "on_init_end": on_init_end}

    # --------------------------------------------------------------- inference
    def _source(self, X: ArrayLike):
        """``X`` as a chunked source with the fitted number of features (arrays are cut into
        ``chunk_size`` blocks too, so outputs written to ``out`` need no full-size temporary)."""
        source = as_source(X, chunk_size=self.chunk_size, owner=type(self).__name__,
                           allow_nan=self._nan_ok())
        if isinstance(source, ArraySource) and source.chunk_size is None:
            source.chunk_size = choose_chunk_rows(source.n_features, None)
        if source.n_features != self.n_features_in_:
            raise ValueError(f"{source!r} has {source.n_features} features, but "
                             f"{type(self).__name__} is expecting {self.n_features_in_} "
                             "features as input.")
        return source

    def _check_names(self, X: ArrayLike) -> None:
        """scikit-learn's feature-name rules for ``X`` against ``feature_names_in_``."""
        check_feature_names(getattr(self, "feature_names_in_", None), X, type(self).__name__)

    def _e_step(self, X: ArrayLike, what: str, out: Any = None):
        self._check_is_fitted()
        self._check_names(X)
        if is_dask_collection(X):
            return self._lazy_e_step(X, what)
        kargs = self._family(self._fitted_covariance_type).kernel_args(self._params())
        pos = OUTPUTS[what][0]
        with numba_threads(self.n_threads):
            if out is None and not is_out_of_core(X):
                Xv = validate_data(X, n_features=self.n_features_in_,
                                   owner=type(self).__name__, allow_nan=self._nan_ok())
                return nb.e_step_outputs(Xv, kargs, labels=(what == "labels"),
                                         resp=(what == "resp"))[pos]
            return e_step_source(self._source(X), kargs, what, out)

    def _lazy_e_step(self, X: Any, what: str):
        from ..backends import dask as dask_backend
        kargs = self._family(self._fitted_covariance_type).kernel_args(self._params())
        out = dask_backend.lazy_e_step(X, kargs, what, n_features=self.n_features_in_,
                                       owner=type(self).__name__)
        return out

    def score_samples(self, X: ArrayLike, out: Any = None) -> np.ndarray:
        """Log-likelihood of each row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or out-of-core data
            Anything ``fit`` accepts (paths, memmaps, HDF5/Zarr/Arrow, chunk callables).
        out : ndarray or path, optional
            Where to write the result: an array (or memmap) of shape (n_samples,), or a path
            for a ``.npy`` file (returned memory-mapped), so it need not fit in memory.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._e_step(X, "log_prob", out)

    def score(self, X: ArrayLike, y: Any = None) -> float:
        """Mean per-row log-likelihood of ``X`` (any source; computed chunk by chunk).

        Returns
        -------
        float
        """
        return self._mean_log_likelihood(X)[0]

    def _mean_log_likelihood(self, X: ArrayLike) -> tuple[float, int]:
        if not is_out_of_core(X):
            lp = self.score_samples(X)
            n = lp.shape[0]
            if self._nan_ok():  # rows entirely missing carry no information
                n -= count_all_missing(X if is_dask_collection(X)
                                       else validate_data(X, allow_nan=True))
                if n == 0:
                    raise ValueError("Every row of X is entirely missing (NaN); there is no "
                                     "observed value to score.")
                return float(lp.sum() / n), n
            return float(lp.mean()), lp.shape[0]
        self._check_is_fitted()
        self._check_names(X)
        kargs = self._family(self._fitted_covariance_type).kernel_args(self._params())
        with numba_threads(self.n_threads):
            total, rows = log_likelihood_sum(self._source(X), kargs)
        return total / rows, rows

    def predict(self, X: ArrayLike, out: Any = None) -> np.ndarray:
        """Most likely component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or out-of-core data
        out : ndarray or path, optional
            An int64 array of shape (n_samples,) or a ``.npy`` path to write the labels to.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._e_step(X, "labels", out)

    def predict_proba(self, X: ArrayLike, out: Any = None) -> np.ndarray:
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or out-of-core data
        out : ndarray or path, optional
            An array of shape (n_samples, n_components) or a ``.npy`` path to write to.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._e_step(X, "resp", out)

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Save the fitted model to ``path`` (``.npz`` + JSON header, no pickle).

        Load it with :func:`fastem.load`. See :mod:`fastem.io` for the format.
        """
        from ..io import save
        save(self, path)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw random rows from the fitted model.

        .. note:: **Successive calls return different draws**, even with an integer
           ``random_state``: the estimator keeps one random generator, seeded at ``fit``, and
           each call advances it. A model fitted with an integer ``random_state`` gives the
           same *sequence* of draws after every fit: ``fit(X).sample(5)`` is reproducible,
           but two ``sample(5)`` calls in a row return different rows (as in scikit-learn,
           where an integer ``random_state`` instead repeats the same rows on every call).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each draw, sorted.
        """
        self._check_is_fitted()
        if isinstance(n_samples, (bool, np.bool_)) or not isinstance(
                n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling "
                             "requires at least one sample.")
        family = get_family(self._fitted_covariance_type)
        return family.sample(self._params(), n_samples, self._sample_rng)

    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        return get_family(self._fitted_covariance_type).n_parameters(k, d)

    def bic(self, X: ArrayLike, sample_weight: Optional[ArrayLike] = None) -> float:
        """Bayesian information criterion of the model on ``X`` (lower is better).

        With ``sample_weight``, ``-2 sum_i w_i log p(x_i) + p log(sum_i w_i)``.
        """
        if sample_weight is not None:
            ll, n = self._weighted_log_likelihood(X, sample_weight)
            return float(-2 * ll + self._n_parameters() * np.log(n))
        mean, n = self._mean_log_likelihood(X)
        return float(-2 * mean * n + self._n_parameters() * np.log(n))

    def aic(self, X: ArrayLike, sample_weight: Optional[ArrayLike] = None) -> float:
        """Akaike information criterion of the model on ``X`` (lower is better).

        With ``sample_weight``, ``-2 sum_i w_i log p(x_i) + 2 p``.
        """
        if sample_weight is not None:
            ll, _ = self._weighted_log_likelihood(X, sample_weight)
            return float(-2 * ll + 2 * self._n_parameters())
        mean, n = self._mean_log_likelihood(X)
        return float(-2 * mean * n + 2 * self._n_parameters())

    def _weighted_log_likelihood(self, X: ArrayLike,
                                 sample_weight: ArrayLike) -> tuple[float, float]:
        """``sum_i w_i log p(x_i)`` and ``sum_i w_i`` over any source, chunk by chunk."""
        self._check_is_fitted()
        self._check_names(X)
        source = as_source(X, sample_weight, chunk_size=self.chunk_size,
                           owner=type(self).__name__)
        if source.n_features != self.n_features_in_:
            raise ValueError(f"{source!r} has {source.n_features} features, but "
                             f"{type(self).__name__} is expecting {self.n_features_in_} "
                             "features as input.")
        kargs = get_family(self._fitted_covariance_type).kernel_args(self._params())
        ll, n = 0.0, 0.0
        with numba_threads(self.n_threads):
            for chunk in source.chunks():
                lp = nb.e_step_outputs(chunk.X, kargs)[0]
                w = chunk.sample_weight
                ll += float(lp.sum()) if w is None else float(np.dot(w, lp))
                n += float(lp.shape[0]) if w is None else float(np.sum(w))
        return ll, n
