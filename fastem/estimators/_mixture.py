"""``FamilyMixture``: the scikit-learn-compatible estimator of any component family.

Everything an estimator does (exact EM with ``n_init``/``warm_start``/checkpoints/progress,
online EM, inference into arrays or files, sampling, BIC/AIC, save/load) is written here once,
through the component-family protocol (:mod:`fastem.families.protocol`), on every source:
arrays, ``.npy``/HDF5/Zarr/Parquet paths and chunk callables (:func:`fastem.data.open_source`),
and Dask arrays (the Dask backend). A family's estimator is a thin subclass that supplies:

* ``__init__`` with its parameters (the common ones below plus its own), and
  ``_constraints`` (``COMMON_CONSTRAINTS`` plus its own);
* ``_make_family(n_features, source)``: the family of this fit (it may read ``source``);
* ``_reg()``: the family's regularisation passed to ``family.m_step`` (``alpha``, ...);
* ``_fitted_attributes(params) -> dict`` and ``_params_from_attributes() -> params``;
* optionally ``_checker()`` (the object whose ``prepare``/``validate`` check every chunk of
  the input; default ``_make_family(None, None)``), ``_user_init_params(family, k, d)``
  (parameters from ``means_init`` etc., or ``None``), ``_init_reg()`` (the regularisation
  of the initial M-step), ``_check_parameters()`` (checks beyond the constraint table) and
  ``_check_same_model(what, n_features)``.

Integer and boolean data keep their dtype through every source (a uint8 table is read as
uint8 chunks), and every chunk is checked by the family, with row numbers global across
chunks.
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Optional, Union

import numpy as np

from .. import exceptions
from .._feature_names import check_feature_names, feature_names_of
from .._params import (ARRAY_LIKE, BOOL, NONE, RANDOM_STATE, Interval, Options, TypeOf,
                       validate_params)
from .._validation import validate_sample_weight
from ..backends import BACKENDS, choose_backend
from ..backends import numba as nb
from ..data import ArraySource, CheckedSource, as_source
from ..data.checked import ONE_SHOT_REMEDY, check_family_chunk, choose_chunk_rows
from ..data.dask_source import is_dask_collection
from ..em import EMResult, fit_mixture
from ..families.protocol import ComponentFamily
from ..families.registry import make_family
from ..inference import e_step_source, log_likelihood_sum
from ..init import INITIALIZERS, family_initial_stats
from ..mstep import m_step
from ..online import ALGORITHMS, ONLINE_CONSTRAINTS, OnlineEM, OnlineState, default_chunk_size
from ..progress import Progress, chain_hooks
from ._base import BaseEstimatorMixin, numba_threads

#: Constraints of the parameters every family estimator has.
COMMON_CONSTRAINTS = {
    "n_components": [Interval("int", 1, None, "left")],
    "tol": [Interval("float", 0.0, None, "left")],
    "max_iter": [Interval("int", 0, None, "left")],
    "n_init": [Interval("int", 1, None, "left")],
    "init_params": [Options(INITIALIZERS)],
    "weights_init": [ARRAY_LIKE, NONE],
    "random_state": [RANDOM_STATE, NONE],
    "warm_start": [BOOL],
    "verbose": [Interval("int", 0, None, "left"), BOOL],
    "verbose_interval": [Interval("int", 1, None, "left")],
    "chunk_size": [Interval("int", 1, None, "left"), NONE],
    "n_threads": [Interval("int", 1, None, "left"), NONE],
    "backend": [Options(BACKENDS)],
    "algorithm": [Options(ALGORITHMS)],
    **ONLINE_CONSTRAINTS,
    "progress": [BOOL],
    "checkpoint": [TypeOf((str, os.PathLike), "a str or os.PathLike"), NONE],
}


def make_rng(random_state: Any) -> np.random.Generator:
    """A ``Generator`` from an int, ``RandomState``, ``Generator`` or ``None``."""
    from .gaussian import _make_rng
    return _make_rng(random_state)


class FamilyMixture(BaseEstimatorMixin):
    """Base class of the mixture estimators of a component family (see module docstring).

    Common parameters (stored by the subclass's ``__init__``): ``n_components``, ``tol``,
    ``max_iter``, ``n_init``, ``init_params``, ``weights_init``, ``random_state``,
    ``warm_start``, ``verbose``, ``verbose_interval``, ``chunk_size``, ``n_threads``,
    ``backend``, ``algorithm``, ``learning_decay``, ``learning_offset``, ``progress``,
    ``checkpoint``; their meaning is :class:`fastem.GaussianMixture`'s.
    """

    _constraints: dict = COMMON_CONSTRAINTS
    _online_state: Optional[OnlineState] = None

    # ------------------------------------------------------------------ subclass hooks
    def _make_family(self, n_features: Optional[int], source: Any) -> ComponentFamily:
        """The family of this fit (``n_features``/``source`` are ``None`` for the checker)."""
        raise NotImplementedError

    def _reg(self) -> float:
        """The family's regularisation (``reg`` of ``family.m_step``)."""
        raise NotImplementedError

    def _init_reg(self) -> float:
        """Regularisation of the initial M-step (from labels or responsibilities)."""
        return self._reg()

    def _checker(self) -> Any:
        """What checks every chunk of the input (``prepare`` and ``validate``)."""
        return self._make_family(None, None)

    def _user_init_params(self, family: ComponentFamily, n_components: int,
                          n_features: int) -> Any:
        """Initial parameters given entirely by the user (``means_init``, ...), or None."""
        return None

    def _smooth_initial(self, params: Any, stats: Any) -> Any:
        """The initial parameters estimated from ``stats`` (hard labels or random
        responsibilities), adjusted before EM starts (default: unchanged)."""
        return params

    def _fitted_attributes(self, params: Any) -> dict:
        """The fitted attributes (``weights_``, ``means_``, ...) of ``params``."""
        raise NotImplementedError

    def _params_from_attributes(self) -> Any:
        """The family's parameters from the fitted attributes."""
        raise NotImplementedError

    def _check_parameters(self) -> None:
        """Checks beyond the constraint table (raise ``ValueError``)."""

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        validate_params(type(self).__name__, self.get_params(), self._constraints)
        self._check_parameters()

    def _is_fitted(self) -> bool:
        return hasattr(self, "_family_spec")

    def __sklearn_is_fitted__(self) -> bool:
        return self._is_fitted()

    def _check_is_fitted(self) -> None:
        if not self._is_fitted():
            raise exceptions.NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def _fitted_family(self) -> ComponentFamily:
        return make_family(self._family_spec)

    def _check_same_model(self, what: str, n_features: Optional[int] = None) -> None:
        """Raise unless the fitted model can be continued with the current parameters."""
        k = len(self.weights_)
        if k != self.n_components:
            raise ValueError(f"{what} continues the fitted model, which has n_components="
                             f"{k}; got n_components={self.n_components!r}. Call fit (with "
                             "warm_start=False) to start afresh.")
        if n_features is not None and n_features != self.n_features_in_:
            raise ValueError(f"X has {n_features} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")

    def _check_weights_init(self) -> Optional[np.ndarray]:
        if self.weights_init is None:
            return None
        k = self.n_components
        w = np.asarray(self.weights_init, dtype=np.float64)
        if w.shape != (k,):
            raise ValueError(f"The parameter 'weights' should have the shape of ({k},), but "
                             f"got {w.shape}. weights_init needs one weight per component.")
        if not (np.isfinite(w).all() and (w > 0).all()):
            raise ValueError("The parameter 'weights' should be in the range (0, 1]; "
                             f"weights_init is {w.tolist()!r}.")
        return w / w.sum()

    # ------------------------------------------------------------------ initialisation
    def _init_view(self, source: Any, family: ComponentFamily) -> Any:
        """The view of ``source`` in which k-means, k-means++ and ``random_from_data`` look
        for hard labels, or ``None`` for the rows as they are. Models with category columns
        return a :class:`~fastem.families.mixed_init.OneHotView` (codes are labels, not
        numbers)."""
        return None

    def _initialize(self, source: Any, family: ComponentFamily, rng: np.random.Generator,
                    backend: Any = nb) -> Any:
        """Initial parameters: the user's, or ``init_params`` on ``source`` (or on
        :meth:`_init_view`) then one M-step (with ``_init_reg()``) from hard labels or
        random responsibilities."""
        k, d = self.n_components, source.n_features
        weights = self._check_weights_init()
        params = self._user_init_params(family, k, d)
        if params is None:
            view = None if self.init_params == "random" else self._init_view(source, family)
            if view is None:
                stats = family_initial_stats(source, family, k, self.init_params, rng, backend)
            else:   # in-process passes over the view (a Dask source's blocks come here)
                from ..families.mixed_init import FromOneHot
                stats = family_initial_stats(view, FromOneHot(family, view), k,
                                             self.init_params, rng, nb)
            params = m_step(family, stats, self._init_reg(),
                            dtype_hint=getattr(source, "dtype", None))
            params = self._smooth_initial(params, stats)
        if weights is not None:
            arrays = dict(family.params_to_arrays(params))
            arrays["weights"] = weights
            params = family.params_from_arrays(arrays)
        return params

    # ------------------------------------------------------------------ fitting
    def _open(self, X: Any, sample_weight: Any, chunk_size: Optional[int], family: Any):
        """``X`` as a source whose every chunk ``family`` checks (a source opened without
        a family, e.g. by ``fastem.data.open_source(path)``, is reopened with it)."""
        if isinstance(X, CheckedSource) and getattr(X, "family", None) is None:
            X = CheckedSource(X.adapter, X.sample_weight if sample_weight is None
                              else sample_weight, chunk_size or X.chunk_rows, family=family)
        elif isinstance(X, ArraySource):      # validated as floats, not by the family
            sample_weight = X.sample_weight if sample_weight is None else sample_weight
            chunk_size = chunk_size or X.chunk_size
            X = X.X
        return as_source(X, sample_weight, chunk_size=chunk_size, owner=type(self).__name__,
                         family=family)

    def fit(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Estimate the parameters by EM (or one online pass, ``algorithm="online"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or out-of-core / Dask data
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        self._validate_params()
        if self.algorithm == "online":
            return self._fit_online(X, sample_weight)
        names = feature_names_of(X)
        source = self._open(X, sample_weight, self.chunk_size, self._checker())
        if getattr(source, "reiterable", True) is False:
            raise ValueError(f"fit needs several passes over the data, but {source!r} is a "
                             f"one-shot iterator. {ONE_SHOT_REMEDY}")
        n, d = source.n_samples, source.n_features
        if n is not None and n < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = "
                             f"{self.n_components}, n_samples = {n}")
        family = self._make_family(d, source)
        self._check_weights_init()
        self._user_init_params(family, self.n_components, d)   # shape errors before a pass
        backend = choose_backend(self.backend, source)
        rng = make_rng(self.random_state)
        warm = None
        if self.warm_start and self._is_fitted():
            self._check_same_model("fit with warm_start=True", d)
            warm = (self._params_from_attributes(), self.lower_bound_)

        def initializer(i: int) -> Any:
            return self._initialize(source, family, rng, backend)

        hooks = self._verbose_hooks()
        resume = None
        if self.checkpoint is not None:
            from ..checkpoint import Checkpointer
            ckpt = Checkpointer.for_fit(self, source, rng, family=family)
            resume = ckpt.load()
            initializer = ckpt.wrap_initializer(initializer)
            hooks = chain_hooks(ckpt.hooks(), hooks)
        if self.progress:
            hooks = chain_hooks(hooks, Progress(self.max_iter, 1 if warm else self.n_init,
                                                n).hooks())
        with numba_threads(self.n_threads):
            result = fit_mixture(source, family, initializer=initializer, n_init=self.n_init,
                                 stats_fn=backend.em_stats, max_iter=self.max_iter,
                                 tol=self.tol, reg_covar=self._reg(), warm=warm,
                                 resume=resume, **hooks)
        if names is not None and len(names) != d:
            names = None
        self._set_result(result, family, d, rng, names)
        self._online_state = None
        return self

    def _verbose_hooks(self) -> dict:
        from .gaussian import GaussianMixture
        return GaussianMixture._verbose_hooks(self)

    def _set_result(self, result: EMResult, family: ComponentFamily, n_features: int,
                    rng: np.random.Generator, names: Optional[np.ndarray]) -> None:
        if not result.converged and self.max_iter > 0:
            warnings.warn(
                f"Best performing initialization did not converge after {result.n_iter} "
                "iterations. Try different init parameters, or increase max_iter, tol, or "
                "check for degenerate data.", exceptions.ConvergenceWarning, stacklevel=3)
        self._store_fit(result.params, family, n_features, converged=result.converged,
                        n_iter=result.n_iter, lower_bound=result.lower_bound,
                        lower_bounds=result.lower_bounds, rng=rng, feature_names=names)

    def _store_fit(self, params: Any, family: ComponentFamily, n_features: int, *,
                   converged: bool, n_iter: int, lower_bound: float, lower_bounds: list,
                   rng: Optional[np.random.Generator],
                   feature_names: Optional[np.ndarray] = None) -> None:
        """Set every fitted attribute at once (nothing is written before a fit succeeds)."""
        for name, value in self._fitted_attributes(params).items():
            setattr(self, name, value)
        self._family_spec = family.spec()
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        self.lower_bound_ = float(lower_bound)
        self.lower_bounds_ = [float(v) for v in lower_bounds]
        self.n_features_in_ = int(n_features)
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if rng is not None:
            self._sample_rng = np.random.default_rng(rng.integers(0, 2**63 - 1))

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Fit, then return the most likely component of each row (``fit(X).predict(X)``)."""
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    # ------------------------------------------------------------------ online EM
    def _online_engine(self, family: ComponentFamily) -> OnlineEM:
        return OnlineEM(family, float(self._reg()), float(self.learning_decay),
                        float(self.learning_offset))

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Update the model with one chunk of rows (one step of stepwise online EM).

        The first call initialises from its chunk (``init_params`` on those rows, or the
        user's ``*_init``); a call after :meth:`fit` continues from the fitted model. See
        :meth:`fastem.GaussianMixture.partial_fit`.

        Returns
        -------
        self
        """
        self._validate_params()
        owner = type(self).__name__
        fitted = self._is_fitted()
        if fitted:
            self._check_same_model("partial_fit")
            names = getattr(self, "feature_names_in_", None)
            check_feature_names(names, X, owner)
            family = self._fitted_family()
            Xv = check_family_chunk(X, family, owner=owner, n_features=self.n_features_in_)
        else:
            names = feature_names_of(X)
            Xv = check_family_chunk(X, self._checker(), owner=owner)
        w = validate_sample_weight(sample_weight, Xv.shape[0])
        if not fitted:
            family = self._make_family(Xv.shape[1], ArraySource(Xv, w))
        engine = self._online_engine(family)
        state = self._online_state if fitted else None
        rng = None
        with numba_threads(self.n_threads):
            if state is None and fitted:
                state = engine.start(self._params_from_attributes())
            elif state is None:
                rng = make_rng(self.random_state)
                state = engine.start(self._online_initial(Xv, w, family, rng))
            new = engine.step(state, Xv, w)
        self._set_online_result(new, family, Xv.shape[1], rng, [new.loglik],
                                restart=new.n_steps == 1, feature_names=names)
        return self

    def _online_initial(self, X: np.ndarray, w: Optional[np.ndarray],
                        family: ComponentFamily, rng: np.random.Generator) -> Any:
        k = self.n_components
        if X.shape[0] < k and self._user_init_params(family, k, X.shape[1]) is None:
            raise ValueError(
                f"The first chunk has {X.shape[0]} rows but n_components={k}: online EM "
                "initialises from its first chunk, which needs at least n_components rows. "
                "Pass a bigger first chunk, or give the *_init parameters.")
        return self._initialize(ArraySource(X, w), family, rng)

    def _fit_online(self, X: Any, sample_weight: Optional[Any]):
        names = feature_names_of(X)
        chunk = self.chunk_size or default_chunk_size(self.n_components)
        source = self._open(X, sample_weight, chunk, self._checker())
        if isinstance(source, ArraySource) and not source.chunk_size:
            source = ArraySource(source.X, source.sample_weight, chunk)
        d = source.n_features
        state = None
        if self.warm_start and self._is_fitted():
            self._check_same_model("fit with warm_start=True", d)
            family = self._fitted_family()
            state = self._online_state
            if state is None:
                state = self._online_engine(family).start(self._params_from_attributes())
        else:
            family = self._make_family(d, source)
        self._check_weights_init()
        rng = make_rng(self.random_state)
        engine = self._online_engine(family)
        start_steps = 0 if state is None else state.n_steps
        bounds: list = []
        verbose_cb = self._verbose_hooks().get("callback")

        def callback(info) -> None:
            bounds.append(info.lower_bound)
            if verbose_cb is not None:
                verbose_cb(info)

        with numba_threads(self.n_threads):
            new = engine.run(source, state, initializer=lambda Xc, wc: self._online_initial(
                Xc, wc, family, rng), callback=callback)
        self._set_online_result(new, family, d, rng, bounds, restart=start_steps == 0,
                                feature_names=names)
        return self

    def _set_online_result(self, state: OnlineState, family: ComponentFamily,
                           n_features: int, rng: Optional[np.random.Generator],
                           new_bounds: list, *, restart: bool,
                           feature_names: Optional[np.ndarray] = None) -> None:
        previous = [] if restart else list(getattr(self, "lower_bounds_", []))
        self._store_fit(state.params, family, n_features, converged=False,
                        n_iter=state.n_steps, lower_bound=state.loglik,
                        lower_bounds=previous + [float(b) for b in new_bounds], rng=rng,
                        feature_names=feature_names)
        self._online_state = state

    # ------------------------------------------------------------------ inference
    def _source(self, X: Any, family: ComponentFamily):
        source = self._open(X, None, self.chunk_size, family)
        if isinstance(source, ArraySource) and source.chunk_size is None:
            source.chunk_size = choose_chunk_rows(source.n_features, None)
        if source.n_features != self.n_features_in_:
            # scikit-learn's wording for an in-memory array (its
            # check_n_features_in_after_fitting matches it); other sources are named.
            what = "X" if isinstance(source, ArraySource) else repr(source)
            raise ValueError(f"{what} has {source.n_features} features, but "
                             f"{type(self).__name__} is expecting {self.n_features_in_} "
                             "features as input.")
        return source

    def _e_step(self, X: Any, what: str, out: Any = None):
        self._check_is_fitted()
        check_feature_names(getattr(self, "feature_names_in_", None), X, type(self).__name__)
        family = self._fitted_family()
        kargs = family.kernel_args(self._params_from_attributes())
        k = len(self.weights_)
        if is_dask_collection(X):
            from ..backends import dask as dask_backend
            return dask_backend.lazy_e_step(X, kargs, what, n_features=self.n_features_in_,
                                            owner=type(self).__name__, family=family,
                                            n_components=k)
        with numba_threads(self.n_threads):
            return e_step_source(self._source(X, family), kargs, what, out, family=family,
                                 n_components=k)

    def score_samples(self, X: Any, out: Any = None) -> np.ndarray:
        """Log-likelihood of each row (``out``: an array or ``.npy`` path to write to)."""
        return self._e_step(X, "log_prob", out)

    def predict(self, X: Any, out: Any = None) -> np.ndarray:
        """Most likely component of each row."""
        return self._e_step(X, "labels", out)

    def predict_proba(self, X: Any, out: Any = None) -> np.ndarray:
        """Posterior probability of each component for each row (n_samples, n_components)."""
        return self._e_step(X, "resp", out)

    def _mean_log_likelihood(self, X: Any) -> tuple[float, int]:
        self._check_is_fitted()
        if is_dask_collection(X):
            lp = self.score_samples(X)
            return float(lp.mean().compute()), int(lp.shape[0])
        check_feature_names(getattr(self, "feature_names_in_", None), X, type(self).__name__)
        family = self._fitted_family()
        kargs = family.kernel_args(self._params_from_attributes())
        with numba_threads(self.n_threads):
            total, rows = log_likelihood_sum(self._source(X, family), kargs, family)
        return total / rows, rows

    def score(self, X: Any, y: Any = None) -> float:
        """Mean per-row log-likelihood of ``X`` (any source; computed chunk by chunk)."""
        return self._mean_log_likelihood(X)[0]

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows from the fitted model and their (sorted) components.

        Successive calls return different draws (one generator, seeded at ``fit``)."""
        self._check_is_fitted()
        if isinstance(n_samples, (bool, np.bool_)) or not isinstance(
                n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling "
                             "requires at least one sample.")
        return self._fitted_family().sample(self._params_from_attributes(), int(n_samples),
                                            self._sample_rng)

    def _n_parameters(self) -> int:
        return self._fitted_family().n_parameters(len(self.weights_), self.n_features_in_)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better)."""
        mean, n = self._mean_log_likelihood(X)
        return float(-2 * mean * n + self._n_parameters() * np.log(n))

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better)."""
        mean, n = self._mean_log_likelihood(X)
        return float(-2 * mean * n + 2 * self._n_parameters())

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Save the fitted model to ``path`` (``.npz`` + JSON header, no pickle); load it
        with :func:`fastem.load`."""
        from ..io import save_family_model
        save_family_model(self, path)


__all__ = ["COMMON_CONSTRAINTS", "FamilyMixture", "make_rng"]
