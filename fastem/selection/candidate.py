"""One candidate model's fit, written as a generator for the lockstep driver.

:func:`gaussian_candidate` runs exactly the steps of ``GaussianMixture(...).fit``
(:func:`fastem.init.initialize` for every restart, :func:`fastem.em.run_em`, the best of
``n_init`` as in :func:`fastem.em.fit_mixture`), in the same order and with the same random
draws, but instead of reading the data itself it yields a :mod:`request
<fastem.selection.requests>` wherever the single fit makes a pass, and receives the pass's
result. Work that needs no pass (seeding on the in-memory sample) runs in place; seeding
results that depend only on the generator's state are cached across candidates.

At the end it yields one :class:`~fastem.selection.requests.ScorePass` for the final
parameters and returns ``(EMResult, score, rng)``.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ..data.sources import ChunkSource
from ..em import EMResult, IterationInfo, ResumePoint
from ..families import CovarianceFamily, GaussianParams
from ..init import (_LLOYD_FULL_PASSES, _kmeanspp, _lloyd_centers, _lloyd_on_sample,
                    draw_sample, sample_size)
from ..mstep import m_step
from .requests import (EMPass, KMeansPass, LabelPass, RandomRespPass, ReservoirSample,
                       ScorePass, rng_key)


class _Recent(OrderedDict):
    """A dict that keeps only its ``size`` most recently stored entries."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        while len(self) > self.size:
            self.popitem(last=False)


@dataclass
class SeedCache:
    """Results that depend only on (sample size or k, generator state): computed once for
    the candidates whose generators are in the same state (one integer seed gives every
    candidate the same first sample, and the covariance types of one k the same seeds).

    Only the few most recent entries are kept, so samples do not pile up in memory: the
    candidates that can share an entry ask for it one after another.
    """

    samples: dict = field(default_factory=lambda: _Recent(2))
    seeds: dict = field(default_factory=lambda: _Recent(4))


def _restore(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


def _sample(source: ChunkSource, m: int, rng: np.random.Generator, cache: SeedCache):
    """``draw_sample(source, m, rng)`` for sources that can ``take`` rows (no pass)."""
    key = (m, rng_key(rng))
    hit = cache.samples.get(key)
    if hit is None:
        Xs, ws = draw_sample(source, m, rng)
        cache.samples[key] = hit = (Xs, ws, rng.bit_generator.state)
    else:
        _restore(rng, hit[2])
    return hit[0], hit[1]


def _seed_centers(Xs, ws, k: int, method: str, rng, cache: SeedCache) -> np.ndarray:
    """The centres seeded on the sample (k-means++ and Lloyd on the sample, or random rows),
    exactly as :func:`fastem.init._initial_stats` draws them."""
    # The generator's state fixes the sample too: every candidate draws one key per row.
    key = (Xs.shape, k, method, rng_key(rng))
    hit = cache.seeds.get(key)
    if hit is not None:
        _restore(rng, hit[1])
        return hit[0]
    if method == "random_from_data":
        centers = Xs[np.sort(rng.choice(Xs.shape[0], size=k, replace=False))]
    else:
        centers = _kmeanspp(Xs, ws, k, rng)
        if method == "kmeans":
            centers = _lloyd_on_sample(Xs, ws, centers)
    cache.seeds[key] = (centers, rng.bit_generator.state)
    return centers


def initialize_steps(source: ChunkSource, family: CovarianceFamily, k: int, method: str,
                     rng: np.random.Generator, reg_covar: float, cache: SeedCache):
    """:func:`fastem.init.initialize` (without user ``*_init`` arrays) as a generator."""
    d = source.n_features
    scatter = family.scatter_shape(k, d)
    m = sample_size(k)
    if hasattr(source, "take") and source.n_samples is not None:
        Xs, ws = _sample(source, m, rng, cache)
    else:
        Xs, ws = yield ReservoirSample(m, rng)
    if Xs.shape[0] < k:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = {k}, "
            f"n_samples = {Xs.shape[0]}")
    if method == "random":
        shift = np.broadcast_to(np.average(Xs, axis=0, weights=ws), (k, d)).copy()
        stats = yield RandomRespPass(shift, family, rng)
    else:
        centers = _seed_centers(Xs, ws, k, method, rng, cache)
        if method == "kmeans":
            for _ in range(_LLOYD_FULL_PASSES):
                centers = _lloyd_centers((yield KMeansPass(centers, None)), centers)
        stats = yield KMeansPass(centers, scatter)
    p = m_step(family, stats, reg_covar, dtype_hint=getattr(source, "dtype", None))
    return GaussianParams(p.weights, p.means, p.covariances, p.precisions_cholesky)


def run_em_steps(source: ChunkSource, family, params, *, max_iter: int, tol: float,
                 reg_covar: float, lower_bound: float = -np.inf, init: int = 0,
                 callback: Optional[Callable[[IterationInfo], None]] = None,
                 start_iter: int = 0, lower_bounds: Optional[list] = None):
    """:func:`fastem.em.run_em` as a generator (one :class:`EMPass` per iteration).

    ``reg_covar`` is the family's regularisation; a family with a ``lower_bound`` method
    gives the iteration's bound itself, as in ``run_em``. ``start_iter`` iterations (with
    their ``lower_bounds``) are already done when resuming; ``callback`` sees every
    iteration (a checkpoint writer)."""
    lower_bounds = [] if lower_bounds is None else list(lower_bounds)
    converged = False
    n_iter = start_iter
    bound_fn = getattr(family, "lower_bound", None)
    for n_iter in range(start_iter + 1, max_iter + 1):
        t0 = time.perf_counter()
        prev = lower_bound
        stats = yield EMPass(family, family.kernel_args(params))
        if not stats.weight_sum > 0:
            raise ValueError("The data source yielded no rows (or only zero weights).")
        old_params = params
        params = m_step(family, stats, reg_covar, params, iteration=n_iter,
                        dtype_hint=source.dtype)
        lower_bound = (stats.loglik / stats.weight_sum if bound_fn is None
                       else float(bound_fn(stats, params, old_params)))
        lower_bounds.append(lower_bound)
        if callback is not None:
            callback(IterationInfo(init, n_iter, lower_bound, lower_bound - prev,
                                   time.perf_counter() - t0, params))
        if abs(lower_bound - prev) < tol:
            converged = True
            break
    return EMResult(params, converged, n_iter, lower_bound, lower_bounds)


def _restarts(n_init: int, max_iter: int, rng: np.random.Generator, init_steps, em_steps,
              resume: Optional[ResumePoint] = None, ckpt: Any = None):
    """:func:`fastem.em.fit_mixture`'s restarts (no warm start) as a generator: the best of
    ``n_init`` runs of ``init_steps()`` then ``em_steps(params, init, lower_bound,
    start_iter, lower_bounds, callback)``, continuing from ``resume`` (a checkpoint read by
    ``ckpt``, a :class:`fastem.checkpoint.Checkpointer` that also writes every iteration)."""
    best: Optional[EMResult] = None if resume is None else resume.best
    first = 0 if resume is None else resume.init
    callback = None if ckpt is None else ckpt.callback
    for i in range(first, n_init):
        if resume is not None and i == resume.init:
            lbs = list(resume.lower_bounds)
            lb = lbs[-1] if lbs else -np.inf
            if resume.finished or resume.n_iter >= max_iter:
                result = EMResult(resume.params, resume.converged, resume.n_iter, lb, lbs)
            else:
                result = yield from em_steps(resume.params, i, lb, resume.n_iter, lbs,
                                             callback)
        else:
            params = yield from init_steps()
            if ckpt is not None:       # the generator's state after this initialisation
                ckpt.wrap_initializer(lambda _: params)(i)
            if max_iter == 0:
                result = EMResult(params, False, 0, -np.inf, [])
            else:
                result = yield from em_steps(params, i, -np.inf, 0, [], callback)
        if ckpt is not None:
            ckpt.on_init_end(result, 0.0)
        if best is None or result.lower_bound > best.lower_bound:
            best = result
    assert best is not None
    return best


def gaussian_candidate(source: ChunkSource, family: CovarianceFamily, k: int, *,
                       init_params: str, rng: np.random.Generator, reg_covar: float,
                       n_init: int, max_iter: int, tol: float, cache: SeedCache,
                       resume: Optional[ResumePoint] = None, ckpt: Any = None):
    """The whole fit of one (k, covariance type) candidate, then its scoring pass.

    Returns ``(EMResult, score dict, rng)``; ``rng`` is in the state the single fit leaves
    (it seeds the fitted model's ``sample``). ``resume``/``ckpt``: continue from and write
    the candidate's checkpoint (the one ``GaussianMixture(checkpoint=...)`` writes).
    """
    n = source.n_samples
    if n is not None and n < k:
        raise ValueError(f"Expected n_samples >= n_components but got n_components = "
                         f"{k}, n_samples = {n}")

    def init_steps():
        return (yield from initialize_steps(source, family, k, init_params, rng, reg_covar,
                                            cache))

    def em_steps(params, init, lb, start, lbs, callback):
        return (yield from run_em_steps(source, family, params, max_iter=max_iter, tol=tol,
                                        reg_covar=reg_covar, lower_bound=lb, init=init,
                                        callback=callback, start_iter=start,
                                        lower_bounds=lbs))

    best = yield from _restarts(n_init, max_iter, rng, init_steps, em_steps, resume, ckpt)
    score: Any = yield ScorePass(family, family.kernel_args(best.params))
    return best, score, rng




def family_initialize_steps(source: ChunkSource, family, estimator, rng: np.random.Generator,
                            cache: SeedCache):
    """``FamilyMixture._initialize`` (no user ``*_init`` arrays), i.e.
    :func:`fastem.init.family_initial_stats`, one M-step with the estimator's
    ``_init_reg()`` and its ``_smooth_initial``, as a generator."""
    k, d = estimator.n_components, source.n_features
    method = estimator.init_params
    m = sample_size(k)
    if hasattr(source, "take") and source.n_samples is not None:
        Xs, ws = _sample(source, m, rng, cache)
    else:
        Xs, ws = yield ReservoirSample(m, rng)
    if Xs.shape[0] < k:
        raise ValueError(f"Expected n_samples >= n_components but got n_components = {k}, "
                         f"n_samples = {Xs.shape[0]}")
    # The estimator's view for hard labels (e.g. codes one-hot), as its _initialize sees it.
    view = None if method == "random" else estimator._init_view(source, family)
    labelled = family
    if view is not None:
        from ..families.mixed_init import FromOneHot
        Xs, d, labelled = view.transform(Xs), view.n_features, FromOneHot(family, view)
    anchor = np.broadcast_to(np.average(Xs, axis=0, weights=ws), (k, d)).copy()
    if method == "random":
        stats = yield RandomRespPass(anchor, family, rng)
    else:
        centers = _seed_centers(Xs, ws, k, method, rng, cache)
        if method == "kmeans":
            for _ in range(_LLOYD_FULL_PASSES):
                centers = _lloyd_centers((yield KMeansPass(centers, None, view)), centers)
        stats = yield LabelPass(centers, anchor, labelled, view)
    params = m_step(family, stats, estimator._init_reg(),
                    dtype_hint=getattr(source, "dtype", None))
    return estimator._smooth_initial(params, stats)


def family_candidate(source: ChunkSource, family, estimator, *, rng: np.random.Generator,
                     cache: SeedCache, resume: Optional[ResumePoint] = None,
                     ckpt: Any = None):
    """The whole fit of ``estimator`` (a :class:`~fastem.estimators._mixture.FamilyMixture`
    whose ``fit`` and ``_initialize`` are the base class's, with ``n_components`` and
    ``random_state`` set) on ``source``, then its scoring pass: the steps of
    :func:`fastem.em.fit_mixture` with the estimator's ``n_init``, ``max_iter``, ``tol`` and
    ``_reg()``. Returns ``(EMResult, score dict, rng)``."""
    k = estimator.n_components
    n = source.n_samples
    if n is not None and n < k:
        raise ValueError(f"Expected n_samples >= n_components but got n_components = "
                         f"{k}, n_samples = {n}")

    def init_steps():
        return (yield from family_initialize_steps(source, family, estimator, rng, cache))

    def em_steps(params, init, lb, start, lbs, callback):
        return (yield from run_em_steps(source, family, params, max_iter=estimator.max_iter,
                                        tol=estimator.tol, reg_covar=estimator._reg(),
                                        lower_bound=lb, init=init, callback=callback,
                                        start_iter=start, lower_bounds=lbs))

    best = yield from _restarts(estimator.n_init, estimator.max_iter, rng, init_steps,
                                em_steps, resume, ckpt)
    score: Any = yield ScorePass(family, family.kernel_args(best.params), k)
    return best, score, rng


__all__ = ["gaussian_candidate", "family_candidate", "initialize_steps",
           "family_initialize_steps", "run_em_steps", "SeedCache"]
