"""``partial_fit`` and one-pass online fitting for the mixture estimators.

The algorithm lives in :mod:`fastem.online`; this mixin only validates input, chooses the
starting point and stores the fitted attributes. How ``fit`` and ``partial_fit`` combine:

* the first ``partial_fit`` initialises from its chunk (``init_params`` on those rows, or the
  user's ``*_init``), then takes one step on the same chunk;
* ``partial_fit`` after ``fit`` (exact EM) continues from the fitted parameters, with the step
  counter restarted at 0 (so ``learning_offset`` sets how much the fitted model weighs);
* ``fit`` after ``partial_fit`` starts afresh, unless ``warm_start=True`` (then it continues
  from the current parameters);
* ``fit(X)`` with ``algorithm="online"`` is one ``partial_fit`` per chunk of ``X`` (rows in
  chunks of ``chunk_size``), from a fresh start, or from the current state with
  ``warm_start=True``.

Every method validates everything before changing an attribute, so a call that raises leaves
the model as it was.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .._feature_names import check_feature_names, feature_names_of
from .._validation import validate_data, validate_init, validate_sample_weight
from ..data import as_source
from ..data.sources import ArraySource
from ..families import CovarianceFamily, GaussianParams, get_family
from ..init import initialize
from ..online import OnlineEM, OnlineState, default_chunk_size
from ._base import numba_threads


class OnlineMixin:
    """Adds ``partial_fit`` and ``fit(..., algorithm="online")`` to a mixture estimator.

    The host class provides ``n_components``, ``covariance_type``, ``reg_covar``,
    ``learning_decay``, ``learning_offset``, ``init_params``, ``*_init``, ``random_state``,
    ``warm_start``, ``chunk_size``, ``n_threads`` and ``_params()``.
    """

    _online_state: Optional[OnlineState] = None

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Update the model with one chunk of rows (one step of stepwise online EM).

        The chunk's statistics under the current parameters are mixed into running
        statistics with weight ``(t + learning_offset) ** -learning_decay`` (``t`` counts the
        chunks), then the parameters are re-estimated from them. Each call is one step,
        whatever the number of rows; the chunk is never kept.

        The first call initialises the model from its chunk (``init_params`` on those rows,
        or ``weights_init``/``means_init``/``precisions_init``), so it needs at least
        ``n_components`` rows. A call after :meth:`fit` continues from the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row; they are normalised within the chunk.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For a chunk with another number of features than the model, a first chunk with
            fewer than ``n_components`` rows, or changed ``n_components``/``covariance_type``
            since the model was fitted. The model is unchanged.
        """
        self._validate_params()
        family = self._online_family()
        owner = type(self).__name__
        fitted = hasattr(self, "means_")
        if fitted:
            self._check_same_model("partial_fit")
            names = getattr(self, "feature_names_in_", None)
            check_feature_names(names, X, owner)
        else:
            names = feature_names_of(X)
        Xv = validate_data(X, n_features=self.n_features_in_ if fitted else None, owner=owner,
                           allow_nan=self._online_nan_policy() != "raise")
        w = validate_sample_weight(sample_weight, Xv.shape[0])
        engine = self._online_engine(family)
        state = self._online_state if fitted else None
        rng = None
        with numba_threads(self.n_threads):
            if state is None and fitted:
                state = engine.start(self._params())
            elif state is None:
                rng = self._new_rng()
                state = engine.start(self._online_initial_params(Xv, w, family, rng))
            new = engine.step(state, Xv, w)
        self._set_online_result(new, family, Xv.shape[1], rng, [new.loglik],
                                restart=new.n_steps == 1, feature_names=names)
        return self

    # -------------------------------------------------------------------------- helpers
    def _fit_online(self, X: Any, sample_weight: Optional[Any]):
        """``fit`` with ``algorithm="online"``: one stepwise-EM pass over ``X``'s chunks."""
        family = self._online_family()
        names = feature_names_of(X)
        chunk = self.chunk_size or default_chunk_size(self.n_components)
        source = as_source(X, sample_weight, chunk_size=chunk, owner=type(self).__name__,
                           allow_nan=self._online_nan_policy() != "raise")
        if isinstance(source, ArraySource) and not source.chunk_size:
            source = ArraySource(source.X, source.sample_weight, chunk)
        d = source.n_features
        validate_init(family, self.n_components, d, self.weights_init, self.means_init,
                      self.precisions_init)
        state = None
        if self.warm_start and hasattr(self, "means_"):
            self._check_same_model("fit with warm_start=True", d)
            state = self._online_state
            if state is None:
                state = self._online_engine(family).start(self._params())
        rng = self._new_rng()
        engine = self._online_engine(family)

        def initializer(Xc: np.ndarray, wc: Optional[np.ndarray]) -> GaussianParams:
            return self._online_initial_params(Xc, wc, family, rng)

        start_steps = 0 if state is None else state.n_steps
        bounds: list[float] = []
        verbose_cb = self._verbose_hooks().get("callback")

        def callback(info) -> None:
            bounds.append(info.lower_bound)
            if verbose_cb is not None:
                verbose_cb(info)

        with numba_threads(self.n_threads):
            new = engine.run(source, state, initializer=initializer, callback=callback)
        self._set_online_result(new, family, d, rng, bounds, restart=start_steps == 0,
                                feature_names=names)
        return self

    def _online_nan_policy(self) -> str:
        return getattr(self, "nan_policy", "raise")

    def _online_family(self) -> CovarianceFamily:
        """The covariance family under the host's ``nan_policy`` (missing values: each
        step's statistics marginalise or omit NaN like a pass of exact EM)."""
        return get_family(self.covariance_type).with_nan_policy(self._online_nan_policy())

    def _online_engine(self, family: CovarianceFamily) -> OnlineEM:
        return OnlineEM(family, float(self.reg_covar), float(self.learning_decay),
                        float(self.learning_offset))

    def _online_initial_params(self, X: np.ndarray, w: Optional[np.ndarray],
                               family: CovarianceFamily, rng: np.random.Generator
                               ) -> GaussianParams:
        k, d = self.n_components, X.shape[1]
        inits = validate_init(family, k, d, self.weights_init, self.means_init,
                              self.precisions_init)
        all_given = all(v is not None for v in inits)
        if not all_given and X.shape[0] < k:
            raise ValueError(
                f"The first chunk has {X.shape[0]} rows but n_components={k}: online EM "
                "initialises from its first chunk, which needs at least n_components rows. "
                "Pass a bigger first chunk, or give weights_init, means_init and "
                "precisions_init.")
        source = ArraySource(X, w)
        if self._online_nan_policy() != "raise":
            from ..impute import mean_imputed
            source = mean_imputed(source)  # initialise on mean-imputed rows
        return initialize(source, family, k, self.init_params, rng,
                          self.reg_covar, weights_init=inits[0], means_init=inits[1],
                          precisions_init=inits[2])

    def _check_same_model(self, what: str, n_features: Optional[int] = None) -> None:
        """Raise unless the fitted model can be continued with the current parameters (and,
        when given, data of ``n_features`` features)."""
        k = self.means_.shape[0]
        if k != self.n_components or self.covariance_type != self._fitted_covariance_type:
            raise ValueError(
                f"{what} continues the fitted model, which has n_components={k} and "
                f"covariance_type={self._fitted_covariance_type!r}; got n_components="
                f"{self.n_components!r} and covariance_type={self.covariance_type!r}. Call "
                "fit (with warm_start=False) to start afresh.")
        if n_features is not None and n_features != self.n_features_in_:
            raise ValueError(f"X has {n_features} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")

    def _set_online_result(self, state: OnlineState, family: CovarianceFamily,
                           n_features: int, rng: Optional[np.random.Generator],
                           new_bounds: list, *, restart: bool,
                           feature_names: Optional[np.ndarray] = None) -> None:
        previous = [] if restart else list(getattr(self, "lower_bounds_", []))
        self._store_fit(state.params, family.name, n_features, converged=False,
                        n_iter=state.n_steps, lower_bound=state.loglik,
                        lower_bounds=previous + [float(b) for b in new_bounds], rng=rng,
                        feature_names=feature_names)
        self._online_state = state
