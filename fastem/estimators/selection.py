"""``GaussianMixtureSelection``: a BIC / ICL / AIC sweep over ``n_components`` and
covariance types whose candidates share every pass over the data."""
from __future__ import annotations

import math
import numbers
import os
import sys
import time
import warnings
from typing import Any, Iterable, Optional, Union

import numpy as np

from .._feature_names import feature_names_of
from .._params import RANDOM_STATE, NONE, BOOL, Interval, Options, TypeOf, validate_params
from ..backends import BACKENDS, choose_backend
from ..data import as_source
from ..data.checked import ONE_SHOT_REMEDY
from ..families import FAMILIES, get_family
from ..init import INITIALIZERS
from .. import exceptions
from ..selection.candidate import SeedCache, gaussian_candidate
from ..selection.lockstep import run_lockstep
from ..selection.table import SelectionTable
from ._base import BaseEstimatorMixin, numba_threads
from ._mixture import make_rng
from .gaussian import GaussianMixture

ArrayLike = Any

#: Valid values of ``criterion``; lower is better for each (scikit-learn's sign).
CRITERIA = ("bic", "icl", "aic")

_CONSTRAINTS = {
    "criterion": [Options(CRITERIA)],
    "n_init": [Interval("int", 1, None, "left")],
    "init_params": [Options(INITIALIZERS)],
    "tol": [Interval("float", 0.0, None, "left")],
    "reg_covar": [Interval("float", 0.0, None, "left")],
    "max_iter": [Interval("int", 0, None, "left")],
    "random_state": [RANDOM_STATE, NONE],
    "chunk_size": [Interval("int", 1, None, "left"), NONE],
    "n_threads": [Interval("int", 1, None, "left"), NONE],
    "backend": [Options(BACKENDS)],
    "progress": [BOOL],
    "checkpoint": [TypeOf((str, os.PathLike), "a str or os.PathLike"), NONE],
}


def _validate_ks(value: Any, owner: str = "GaussianMixtureSelection") -> list:
    items = [value] if isinstance(value, numbers.Integral) else value
    try:
        ks = list(items)
    except TypeError:
        ks = None
    if (not ks or any(isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral)
                      or k < 1 for k in ks)):
        raise ValueError(f"The 'n_components' parameter of {owner} must be "
                         "an int >= 1 or a non-empty iterable of them (e.g. range(1, 10)). "
                         f"Got {value!r} instead.")
    return list(dict.fromkeys(int(k) for k in ks))


def _validate_types(value: Any) -> list:
    items = [value] if isinstance(value, str) else value
    try:
        types = list(items)
    except TypeError:
        types = None
    if not types or any(t not in FAMILIES for t in types):
        raise ValueError("The 'covariance_types' parameter of GaussianMixtureSelection must "
                         f"be a non-empty sequence of {tuple(FAMILIES)!r}. Got {value!r} "
                         "instead.")
    return list(dict.fromkeys(types))


def _choose_seed(random_state: Any) -> int:
    """One integer seed for every candidate (so each equals a fit with that seed)."""
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))


class GaussianMixtureSelection(BaseEstimatorMixin):
    """Choose ``n_components`` and ``covariance_type`` of a Gaussian mixture by BIC, ICL or
    AIC, fitting every candidate with passes over the data shared between them.

    Every candidate ``(k, c)`` is exactly the model
    ``GaussianMixture(n_components=k, covariance_type=c, random_state=random_state_, ...)``
    with the same other parameters ``.fit(X)`` gives (same initialisation, same iterations,
    same chunking), so a sweep can be checked cell by cell. But the candidates iterate in
    lockstep: each pass over the data (the initialisation's sample and Lloyd passes, every EM
    iteration, and one final scoring pass) reads every chunk once and serves every candidate
    still running; a candidate that has converged drops out of later passes. The number of
    passes over the source is at most the largest number any single candidate's own fit
    needs, plus one shared pass to score the final models, instead of their sum.

    A candidate whose fit fails (e.g. a singular covariance at a large ``k``, or more
    components than rows) is kept in ``table_`` with its ``error``, and never chosen.

    Parameters
    ----------
    n_components : int or iterable of int, default=range(1, 10)
        The numbers of components to try.
    covariance_types : str or sequence of str, default=("full", "tied", "diag", "spherical")
        The covariance types to try.
    criterion : {"bic", "icl", "aic"}, default="bic"
        What chooses the best model (lower is better, scikit-learn's sign convention).
        ``bic = -2 L + p log n`` and ``aic = -2 L + 2 p``, with ``L`` the log-likelihood of
        the data under the final parameters and ``p`` the number of free parameters;
        ``icl = bic - 2 sum_i w_i log r_i,c(i)``, ``r_i,c(i)`` the responsibility of row ``i``'s
        most likely component (BIC penalised by the classification entropy). With
        ``sample_weight``, ``L`` is the weighted log-likelihood and ``n = sum w``.
    n_init : int, default=1
        Initialisations per candidate; each keeps its best lower bound.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
    tol : float, default=1e-3
    reg_covar : float, default=1e-6
    max_iter : int, default=100
        As in :class:`~fastem.GaussianMixture`, for every candidate.
    random_state : int, RandomState, Generator or None, default=None
        Seed of every candidate. An int is used as is; a Generator or RandomState gives
        one int (drawn once); ``None`` draws a fresh one. The int used is ``random_state_``.
    chunk_size : int or None, default=None
        Rows per kernel call (as in ``GaussianMixture``).
    n_threads : int or None, default=None
        Numba threads; ``None`` keeps Numba's current setting.
    backend : {"auto", "numba", "dask"}, default="auto"
        As in ``GaussianMixture``. On Dask, every shared pass is one graph holding every
        running candidate's tasks, computed at once, so each block is read once per pass.
    progress : bool, default=False
        Print one line per shared pass (how many candidates are still running) to stderr.
    checkpoint : str or os.PathLike or None, default=None
        A directory (created if missing; its parent must exist) holding one checkpoint file
        per candidate, ``k<k>-<covariance_type>.ckpt``, written after each of its EM
        iterations: exactly the file ``GaussianMixture(checkpoint=...)`` of that cell
        writes. A killed sweep run again with the same directory resumes every candidate
        where it stopped and ends with the models of an uninterrupted sweep. A candidate's
        file from other data (path, size, modification time or sampled rows) or other
        settings is refused with a ``ValueError`` before any pass, never silently reused.
        Not on the Dask backend.

    Attributes
    ----------
    best_estimator_ : GaussianMixture
        The chosen candidate, fitted.
    best_params_ : dict
        ``{"n_components": k, "covariance_type": c}`` of the chosen candidate.
    best_index_ : int
        Its row in ``table_``.
    table_ : SelectionTable
        One row per candidate (``n_components``, ``covariance_type``, ``bic``, ``icl``,
        ``aic``, ``lower_bound``, ``n_iter``, ``converged``, ``n_parameters``, ``seconds``,
        ``error``); ``table_.to_frame()`` is a pandas DataFrame; ``print(table_)`` shows it.
        ``seconds`` is the compute time spent on that candidate (its kernels and M-steps;
        the shared reading of the data is not attributed to anyone).
    estimators_ : dict
        ``{(k, covariance_type): GaussianMixture}`` for every candidate that succeeded.
    random_state_ : int
        The seed every candidate used.
    n_passes_ : int
        Passes made over the data.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixtureSelection
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(6, 1, (200, 2))])
    >>> sel = GaussianMixtureSelection(range(1, 4), covariance_types=["full", "diag"],
    ...                                random_state=0).fit(X)
    >>> sel.best_params_["n_components"]
    2
    """

    def __init__(self, n_components: Union[int, Iterable[int]] = range(1, 10), *,
                 covariance_types: Union[str, Iterable[str]] = ("full", "tied", "diag",
                                                                "spherical"),
                 criterion: str = "bic", n_init: int = 1, init_params: str = "kmeans",
                 tol: float = 1e-3, reg_covar: float = 1e-6, max_iter: int = 100,
                 random_state: Any = None, chunk_size: Optional[int] = None,
                 n_threads: Optional[int] = None, backend: str = "auto",
                 progress: bool = False,
                 checkpoint: Optional[Union[str, os.PathLike]] = None) -> None:
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.criterion = criterion
        self.n_init = n_init
        self.init_params = init_params
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.n_threads = n_threads
        self.backend = backend
        self.progress = progress
        self.checkpoint = checkpoint

    # ------------------------------------------------------------------ fitting
    def _model(self, k: int, cov: str, seed: int) -> GaussianMixture:
        return GaussianMixture(
            n_components=k, covariance_type=cov, tol=self.tol, reg_covar=self.reg_covar,
            max_iter=self.max_iter, n_init=self.n_init, init_params=self.init_params,
            random_state=seed, chunk_size=self.chunk_size,
            n_threads=self.n_threads, backend=self.backend)

    def fit(self, X: ArrayLike, y: Any = None,
            sample_weight: Optional[ArrayLike] = None) -> "GaussianMixtureSelection":
        """Fit every candidate (sharing the passes over ``X``) and choose the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or out-of-core data
            Anything :meth:`fastem.GaussianMixture.fit` accepts.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; the criteria then use the weighted log-likelihood and
            ``n = sum(sample_weight)``.

        Returns
        -------
        self : GaussianMixtureSelection

        Raises
        ------
        FitError
            If every candidate failed (the message lists their errors).
        """
        owner = type(self).__name__
        validate_params(owner, self.get_params(), _CONSTRAINTS)
        ks = _validate_ks(self.n_components)
        types = _validate_types(self.covariance_types)
        names = feature_names_of(X)
        source = as_source(X, sample_weight, chunk_size=self.chunk_size, owner=owner)
        if getattr(source, "reiterable", True) is False:
            raise ValueError(f"fit needs several passes over the data, but {source!r} is a "
                             f"one-shot iterator. {ONE_SHOT_REMEDY}")
        d = source.n_features
        if names is not None and len(names) != d:
            names = None
        seed = _choose_seed(self.random_state)
        cells = [(k, c) for k in ks for c in types]
        backend = choose_backend(self.backend, source)
        with numba_threads(self.n_threads):
            executor = None
            if backend.__name__.endswith(".dask"):
                if self.checkpoint is not None:
                    raise ValueError(f"checkpoint={self.checkpoint!r}: {owner} cannot "
                                     "checkpoint a sweep on the Dask backend; leave "
                                     "checkpoint=None or use backend='numba'.")
                from ..selection.dask_passes import dask_executor
                executor = dask_executor(source)
            rows, models, passes = self._fit_lockstep(source, cells, d, names, seed,
                                                      executor)
        # Nothing is set before this point, so a failed fit leaves the estimator unchanged.
        self._choose(rows, models, cells)
        self.random_state_, self.n_passes_, self.n_features_in_ = seed, passes, d
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _fit_lockstep(self, source, cells: list, d: int, names, seed: int,
                      executor=None) -> tuple[list, dict, int]:
        cache = SeedCache()
        rngs = [np.random.default_rng(seed) for _ in cells]
        # Every checkpoint is read (and refused if foreign) before the first pass.
        ckpts = [_sweep_checkpoint(self.checkpoint, self._model(k, c, seed), source, rng,
                                   f"k{k}-{c}")
                 for (k, c), rng in zip(cells, rngs)]
        gens = [gaussian_candidate(source, get_family(c), k, init_params=self.init_params,
                                   rng=rng, reg_covar=self.reg_covar, n_init=self.n_init,
                                   max_iter=self.max_iter, tol=self.tol, cache=cache,
                                   resume=resume, ckpt=ckpt)
                for (k, c), rng, (ckpt, resume) in zip(cells, rngs, ckpts)]
        on_pass = None
        if self.progress:
            def on_pass(n: int, running: int) -> None:
                print(f"pass {n}: {running} of {len(cells)} candidates still running",
                      file=sys.stderr, flush=True)
        run = run_lockstep(source, gens, on_pass=on_pass, executor=executor)
        rows, models = [], {}
        for (k, c), out in zip(cells, run.outcomes):
            family = get_family(c)
            p = family.n_parameters(k, d)
            row = {"n_components": k, "covariance_type": c, "n_parameters": p,
                   "seconds": out.seconds}
            if out.error is not None:
                row.update(_failed(out.error))
            else:
                result, score, rng = out.value
                gm = self._model(k, c, seed)
                gm._store_fit(result.params, c, d, converged=result.converged,
                              n_iter=result.n_iter, lower_bound=result.lower_bound,
                              lower_bounds=result.lower_bounds, rng=rng,
                              feature_names=names)
                gm._online_state = None
                models[(k, c)] = gm
                row.update(_criteria(score["loglik"], score["weight_sum"], score["log_rmax"],
                                     p))
                row.update(lower_bound=float(result.lower_bound), n_iter=int(result.n_iter),
                           converged=bool(result.converged))
            rows.append(row)
        return rows, models, run.passes

    def _choose(self, rows: list, models: dict, cells: list) -> None:
        crit = self.criterion
        ok = [i for i, r in enumerate(rows) if r.get("error") is None]
        if not ok:
            lines = "; ".join(f"k={r['n_components']} {r['covariance_type']}: {r['error']}"
                              for r in rows)
            raise exceptions.FitError(f"Every candidate of the sweep failed: {lines}")
        best = min(ok, key=lambda i: (rows[i][crit], i))
        self.table_ = SelectionTable(rows, best)
        self.best_index_ = best
        k, c = cells[best]
        self.best_params_ = {"n_components": k, "covariance_type": c}
        self.best_estimator_ = models[(k, c)]
        self.estimators_ = models
        if not self.best_estimator_.converged_ and self.max_iter > 0:
            warnings.warn(
                f"The chosen model (n_components={k}, covariance_type={c!r}) did not "
                f"converge after {self.best_estimator_.n_iter_} iterations; increase "
                "max_iter or tol.", exceptions.ConvergenceWarning, stacklevel=3)

    # --------------------------------------------------------------- delegation
    def _best(self) -> GaussianMixture:
        if not hasattr(self, "best_estimator_"):
            raise exceptions.NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")
        return self.best_estimator_

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "best_estimator_")

    def predict(self, X: ArrayLike, out: Any = None) -> np.ndarray:
        """``best_estimator_.predict``: the most likely component of each row."""
        return self._best().predict(X, out=out)

    def predict_proba(self, X: ArrayLike, out: Any = None) -> np.ndarray:
        """``best_estimator_.predict_proba``: component probabilities of each row."""
        return self._best().predict_proba(X, out=out)

    def score_samples(self, X: ArrayLike, out: Any = None) -> np.ndarray:
        """``best_estimator_.score_samples``: log-likelihood of each row."""
        return self._best().score_samples(X, out=out)

    def score(self, X: ArrayLike, y: Any = None) -> float:
        """``best_estimator_.score``: mean per-row log-likelihood."""
        return self._best().score(X)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``best_estimator_.sample``: draws from the chosen model."""
        return self._best().sample(n_samples)

    def to_frame(self):
        """``table_.to_frame()``: the sweep as a pandas DataFrame."""
        self._best()
        return self.table_.to_frame()


def _sweep_checkpoint(directory: Any, model: Any, source: Any, rng: np.random.Generator,
                      name: str, family: Any = None) -> tuple:
    """``(Checkpointer, ResumePoint or None)`` of one candidate (``(None, None)`` without a
    checkpoint directory): the checkpoint ``model.fit`` would write at
    ``directory/<name>.ckpt``, with the same fingerprint (parameters, data identity)."""
    if directory is None:
        return None, None
    from ..checkpoint import Checkpointer
    directory = os.fspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"checkpoint={directory!r}: a sweep checkpoints into a "
                                 "directory (one file per candidate), but this is a file.")
    parent = os.path.dirname(os.path.abspath(directory))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"Cannot create the checkpoint directory {directory!r}: its "
                                f"parent {parent!r} does not exist.")
    os.makedirs(directory, exist_ok=True)
    model.set_params(checkpoint=os.path.join(directory, name + ".ckpt"))
    try:
        ckpt = Checkpointer.for_fit(model, source, rng, family=family)
        return ckpt, ckpt.load()
    finally:
        model.set_params(checkpoint=None)


def _criteria(loglik: float, n: float, log_rmax: float, p: int) -> dict:
    bic = -2.0 * loglik + p * math.log(n)
    return {"bic": float(bic), "icl": float(bic - 2.0 * log_rmax),
            "aic": float(-2.0 * loglik + 2.0 * p)}


def _failed(exc: BaseException) -> dict:
    nan = float("nan")
    return {"bic": nan, "icl": nan, "aic": nan, "lower_bound": nan, "n_iter": None,
            "converged": False, "error": f"{type(exc).__name__}: {exc}"}


class MixtureSelection(BaseEstimatorMixin):
    """Choose ``n_components`` of any fastem mixture estimator by BIC, ICL or AIC.

    Each candidate is ``estimator`` with ``n_components=k`` and ``random_state=
    random_state_`` and is exactly what that estimator's own ``fit`` gives. The candidates
    run in lockstep (shared initialisation passes, one shared pass per EM iteration, a
    converged candidate drops out, one final scoring pass) for
    :class:`~fastem.GaussianMixture` (via :class:`GaussianMixtureSelection` with the
    estimator's covariance type) and for every family estimator whose ``fit`` is the exact EM
    of the component-family protocol (``BernoulliMixture``, ``CategoricalMixture``,
    ``PoissonMixture``; a categorical family's one category-counting pass is counted in
    ``n_passes_``). Estimators with their own initialisation or fit (``StudentMixture``,
    ``BayesianGaussianMixture``, ``MixedTypeMixture``), online EM, and Dask input are fitted
    candidate by candidate on in-memory data, each fit with its own passes.

    Parameters
    ----------
    estimator : mixture estimator, default=None
        The model to vary (its other parameters are kept); ``None`` means
        ``GaussianMixture()``.
    n_components : int or iterable of int, default=range(1, 10)
    criterion : {"bic", "icl", "aic"}, default="bic"
        Lower is better; see :class:`GaussianMixtureSelection` for the definitions.
    n_threads : int or None, default=None
        Numba threads for the sweep; ``None`` keeps Numba's current setting.
    checkpoint : str or os.PathLike or None, default=None
        A directory of per-candidate checkpoints (``k<k>-<family>.ckpt``), as in
        :class:`GaussianMixtureSelection`, for the sweeps that run in lockstep.

    Attributes
    ----------
    best_estimator_, best_params_, best_index_, table_, estimators_, random_state_,
    n_passes_, n_features_in_
        As in :class:`GaussianMixtureSelection`; ``best_params_`` has ``n_components`` only
        and ``estimators_`` is keyed by ``n_components``. The table's ``covariance_type``
        column names the family (e.g. ``"bernoulli"``).
    """

    def __init__(self, estimator: Any = None,
                 n_components: Union[int, Iterable[int]] = range(1, 10), *,
                 criterion: str = "bic", n_threads: Optional[int] = None,
                 checkpoint: Optional[Union[str, os.PathLike]] = None) -> None:
        self.estimator = estimator
        self.n_components = n_components
        self.criterion = criterion
        self.n_threads = n_threads
        self.checkpoint = checkpoint

    def fit(self, X: ArrayLike, y: Any = None,
            sample_weight: Optional[ArrayLike] = None) -> "MixtureSelection":
        """Fit every candidate and choose the best (see the class docstring).

        Returns
        -------
        self : MixtureSelection
        """
        owner = type(self).__name__
        validate_params(owner, {"criterion": self.criterion, "n_threads": self.n_threads,
                                "checkpoint": self.checkpoint},
                        {name: _CONSTRAINTS[name]
                         for name in ("criterion", "n_threads", "checkpoint")})
        ks = _validate_ks(self.n_components, owner)
        base = GaussianMixture() if self.estimator is None else self.estimator
        if not hasattr(base, "get_params") or not hasattr(base, "fit"):
            raise TypeError(f"estimator must be a fastem mixture estimator; got "
                            f"{type(base).__name__}.")
        if base.get_params().get("checkpoint") is not None:
            raise ValueError("MixtureSelection fits many candidates, so the estimator's own "
                             "checkpoint (one file) cannot hold them; leave it None and pass "
                             "a directory as MixtureSelection(checkpoint=...).")
        seed = _choose_seed(base.get_params().get("random_state"))
        if isinstance(base, GaussianMixture):
            self._fit_gaussian(base, ks, seed, X, sample_weight)
            return self
        names = None
        with numba_threads(self.n_threads):
            if _lockstep_eligible(base, X):
                rows, models, passes, d, names = _family_lockstep(base, ks, seed, X,
                                                                  sample_weight,
                                                                  self.checkpoint)
            else:
                if self.checkpoint is not None:
                    raise ValueError(f"checkpoint={self.checkpoint!r}: {owner} checkpoints "
                                     "only sweeps that run in lockstep; "
                                     f"{type(base).__name__} (or this backend) is fitted "
                                     "candidate by candidate. Leave checkpoint=None.")
                rows, models, passes, d = _one_by_one(base, ks, seed, X, sample_weight)
        self.random_state_, self.n_passes_, self.n_features_in_ = seed, passes, d
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        ok = [i for i, r in enumerate(rows) if r.get("error") is None]
        if not ok:
            lines = "; ".join(f"k={r['n_components']}: {r['error']}" for r in rows)
            raise exceptions.FitError(f"Every candidate of the sweep failed: {lines}")
        best = min(ok, key=lambda i: (rows[i][self.criterion], i))
        self.table_ = SelectionTable(rows, best)
        self.best_index_ = best
        self.best_params_ = {"n_components": rows[best]["n_components"]}
        self.estimators_ = models
        self.best_estimator_ = models[rows[best]["n_components"]]
        return self

    def _fit_gaussian(self, base: GaussianMixture, ks: list, seed: int, X, w) -> None:
        if any(getattr(base, a) is not None for a in
               ("weights_init", "means_init", "precisions_init")):
            raise ValueError("MixtureSelection varies n_components, so the estimator cannot "
                             "have weights_init, means_init or precisions_init.")
        sel = GaussianMixtureSelection(
            ks, covariance_types=[base.covariance_type], criterion=self.criterion,
            n_init=base.n_init, init_params=base.init_params, tol=base.tol,
            reg_covar=base.reg_covar, max_iter=base.max_iter, random_state=seed,
            chunk_size=base.chunk_size,
            n_threads=self.n_threads if self.n_threads is not None else base.n_threads,
            backend=base.backend, checkpoint=self.checkpoint).fit(X, sample_weight=w)
        for name in ("table_", "best_index_", "best_estimator_", "random_state_",
                     "n_passes_", "n_features_in_"):
            setattr(self, name, getattr(sel, name))
        self.best_params_ = {"n_components": sel.best_params_["n_components"]}
        self.estimators_ = {k: m for (k, _), m in sel.estimators_.items()}

    # delegation, as in GaussianMixtureSelection
    _best = GaussianMixtureSelection._best
    __sklearn_is_fitted__ = GaussianMixtureSelection.__sklearn_is_fitted__

    def predict(self, X: ArrayLike) -> np.ndarray:
        """``best_estimator_.predict``."""
        return self._best().predict(X)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """``best_estimator_.predict_proba``."""
        return self._best().predict_proba(X)

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """``best_estimator_.score_samples``."""
        return self._best().score_samples(X)

    def score(self, X: ArrayLike, y: Any = None) -> float:
        """``best_estimator_.score``."""
        return self._best().score(X)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``best_estimator_.sample``."""
        return self._best().sample(n_samples)

    def to_frame(self):
        """``table_.to_frame()``."""
        self._best()
        return self.table_.to_frame()


def _clone(base: Any, k: int, seed: int) -> Any:
    return type(base)(**{**base.get_params(), "n_components": k, "random_state": seed})


def _lockstep_eligible(base: Any, X: Any) -> bool:
    """Whether ``base``'s fits can run in lockstep: a family estimator whose ``fit`` and
    ``_initialize`` are :class:`FamilyMixture`'s (exact EM, the protocol's initialisation),
    on the in-process backend (not a Dask collection)."""
    from ..data.dask_source import is_dask_collection
    from ._mixture import FamilyMixture
    if is_dask_collection(X):
        return False
    from ._nan import NanPolicyMixin
    cls = type(base)
    if not isinstance(base, FamilyMixture):
        return False
    # The nan_policy mixin's fit and initialisation are FamilyMixture's under "raise".
    params = base.get_params()
    if params.get("nan_policy", "raise") != "raise":
        return False
    if (cls.fit not in (FamilyMixture.fit, NanPolicyMixin.fit)
            or cls._initialize not in (FamilyMixture._initialize, NanPolicyMixin._initialize)):
        return False
    return (params.get("algorithm", "em") == "em" and params.get("checkpoint") is None
            and params.get("backend", "auto") in ("auto", "numba"))


class _CountingSource:
    """``source`` with its ``chunks()`` calls counted (passes made outside the lockstep)."""

    def __init__(self, source: Any) -> None:
        self._source, self.passes = source, 0

    def chunks(self, *args, **kwargs):
        self.passes += 1
        return self._source.chunks(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


def _family_lockstep(base, ks: list, seed: int, X, sample_weight, checkpoint=None):
    """Every candidate ``_clone(base, k, seed).fit(X)`` in lockstep (one shared pass per
    initialisation pass and per EM iteration, then one shared scoring pass)."""
    from ..selection.candidate import family_candidate
    from ._nan import NanPolicyMixin
    first = _clone(base, ks[0], seed)
    first._validate_params()
    given = [name for name, v in first.get_params().items()
             if name.endswith("_init") and name != "n_init" and v is not None]
    if given:
        raise ValueError(f"MixtureSelection varies n_components, so the estimator cannot have "
                         f"{', '.join(given)} set (they fix the number of components).")
    names = feature_names_of(X)
    source = first._open(X, sample_weight, first.chunk_size, first._checker())
    if getattr(source, "reiterable", True) is False:
        raise ValueError(f"fit needs several passes over the data, but {source!r} is a "
                         f"one-shot iterator. {ONE_SHOT_REMEDY}")
    d = source.n_features
    if names is not None and len(names) != d:
        names = None
    counted = _CountingSource(source)
    family = first._make_family(d, counted)      # one pass if it reads the data (categories)
    cache = SeedCache()
    ests = [_clone(base, k, seed) for k in ks]
    rngs = [make_rng(seed) for _ in ks]
    ckpts = [_sweep_checkpoint(checkpoint, est, source, rng, f"k{k}-{family.name}",
                               family=family) for k, est, rng in zip(ks, ests, rngs)]
    gens = [family_candidate(source, family, est, rng=rng, cache=cache, resume=resume,
                             ckpt=ckpt) for est, rng, (ckpt, resume) in zip(ests, rngs, ckpts)]
    run = run_lockstep(source, gens)
    rows, models = [], {}
    for k, est, out in zip(ks, ests, run.outcomes):
        p = family.n_parameters(k, d)
        row = {"n_components": k, "covariance_type": getattr(est, "covariance_type",
                                                              family.name),
               "n_parameters": p, "seconds": out.seconds}
        if out.error is not None:
            row.update(_failed(out.error))
        else:
            result, score, rng = out.value
            est._store_fit(result.params, family, d, converged=result.converged,
                           n_iter=result.n_iter, lower_bound=result.lower_bound,
                           lower_bounds=result.lower_bounds, rng=rng, feature_names=names)
            est._online_state = None
            if isinstance(est, NanPolicyMixin):     # nan_policy="raise": nothing missing
                est.n_rows_omitted_ = est.n_rows_all_missing_ = 0
            models[k] = est
            row.update(_criteria(score["loglik"], score["weight_sum"], score["log_rmax"], p))
            row.update(lower_bound=float(result.lower_bound), n_iter=int(result.n_iter),
                       converged=bool(result.converged))
        rows.append(row)
    return rows, models, run.passes + counted.passes, d, names


def _one_by_one(base, ks: list, seed: int, X, sample_weight):
    """Any other estimator: fit each candidate on its own, score it in memory."""
    Xv = np.asarray(X)
    if Xv.ndim != 2:
        raise ValueError(f"MixtureSelection needs a 2-D in-memory array for "
                         f"{type(base).__name__}; got shape {Xv.shape}.")
    w = np.ones(Xv.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    rows, models, passes = [], {}, 0
    for k in ks:
        t0 = time.perf_counter()
        c = _clone(base, k, seed)
        family = c._make_family(None, None).name if hasattr(c, "_make_family") else None
        row = {"n_components": k,
               "covariance_type": getattr(c, "covariance_type", family or type(c).__name__)}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
                c.fit(Xv, sample_weight=sample_weight)
            p = int(c._n_parameters())
            ll = float(w @ c.score_samples(Xv))
            lr = float(w @ np.log(np.asarray(c.predict_proba(Xv)).max(axis=1)))
        except (ValueError, ArithmeticError) as exc:
            row.update(_failed(exc), n_parameters=None)
        else:
            models[k] = c
            row.update(_criteria(ll, float(w.sum()), lr, p), n_parameters=p,
                       lower_bound=float(c.lower_bound_), n_iter=int(c.n_iter_),
                       converged=bool(c.converged_))
            passes += int(c.n_iter_) + 1
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows, models, passes, Xv.shape[1]


__all__ = ["GaussianMixtureSelection", "MixtureSelection", "CRITERIA"]
