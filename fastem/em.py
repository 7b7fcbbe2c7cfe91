"""The backend-agnostic EM driver: initialise, iterate passes, check convergence, keep the
best of ``n_init``. Shared by the estimator, the CLI and every backend.

Each iteration is one pass: the E-step under the current parameters yields the statistics
and the log-likelihood together (the lower bound of that iteration, as in scikit-learn),
then the M-step turns the statistics into new parameters.

The driver speaks only the component-family protocol
(:class:`fastem.families.protocol.ComponentFamily`): ``family.kernel_args`` once per pass,
the backend's ``stats_fn`` for the pass, ``family.m_step`` (through :func:`fastem.mstep.m_step`)
with the family's regularisation ``reg_covar`` (the name is the Gaussian's; for another
family it is that family's regularisation). Parameters and statistics are opaque to it
beyond ``stats.loglik`` and ``stats.weight_sum``. A family with a ``lower_bound(stats,
new_params, old_params)`` method supplies the iteration's bound itself (e.g. a variational
bound); otherwise it is ``stats.loglik / stats.weight_sum``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

import numpy as np

from .data.sources import ChunkSource
from .families.protocol import ComponentFamily, Statistics
from .mstep import m_step

#: A family's parameters (:class:`fastem.families.GaussianParams` for the Gaussian).
Params = Any


class StatsFn(Protocol):
    """A backend's pass: statistics of ``source`` under ``kargs``."""

    def __call__(self, source: ChunkSource, kargs: Any,
                 family: ComponentFamily) -> Statistics: ...


@dataclass
class IterationInfo:
    """What a callback sees after every EM iteration."""

    init: int
    n_iter: int
    lower_bound: float
    change: float
    seconds: float
    params: Params


@dataclass
class ResumePoint:
    """Where an interrupted :func:`fit_mixture` continues (read from a checkpoint).

    ``params`` are those after iteration ``n_iter`` of restart ``init``; ``finished`` says
    that restart had already stopped; ``best`` is the best result of earlier restarts.
    """

    init: int
    n_iter: int
    params: Params
    lower_bounds: list
    finished: bool
    converged: bool
    best: Optional["EMResult"] = None


@dataclass
class EMResult:
    """Outcome of :func:`run_em` or :func:`fit_mixture`."""

    params: Params
    converged: bool
    n_iter: int
    lower_bound: float
    lower_bounds: list = field(default_factory=list)


def run_em(source: ChunkSource, family: ComponentFamily, params: Params, *,
           stats_fn: StatsFn, max_iter: int, tol: float, reg_covar: float,
           lower_bound: float = -np.inf, init: int = 0,
           callback: Optional[Callable[[IterationInfo], None]] = None,
           start_iter: int = 0, lower_bounds: Optional[list] = None) -> EMResult:
    """EM iterations from ``params`` until the lower bound changes by less than ``tol``.

    ``start_iter`` iterations (with their ``lower_bounds``) are already done when resuming.
    """
    lower_bounds = [] if lower_bounds is None else list(lower_bounds)
    converged = False
    n_iter = start_iter
    for n_iter in range(start_iter + 1, max_iter + 1):
        t0 = time.perf_counter()
        prev = lower_bound
        stats = stats_fn(source, family.kernel_args(params), family)
        if not stats.weight_sum > 0:
            raise ValueError("The data source yielded no rows (or only zero weights).")
        old_params = params
        params = m_step(family, stats, reg_covar, params, iteration=n_iter,
                        dtype_hint=source.dtype)
        bound_fn = getattr(family, "lower_bound", None)
        lower_bound = (stats.loglik / stats.weight_sum if bound_fn is None
                       else float(bound_fn(stats, params, old_params)))
        lower_bounds.append(lower_bound)
        change = lower_bound - prev
        if callback is not None:
            callback(IterationInfo(init, n_iter, lower_bound, change,
                                   time.perf_counter() - t0, params))
        if abs(change) < tol:
            converged = True
            break
    return EMResult(params, converged, n_iter, lower_bound, lower_bounds)


def _resume_run(source: ChunkSource, family: ComponentFamily, resume: ResumePoint, *,
                stats_fn: StatsFn, max_iter: int, tol: float, reg_covar: float,
                callback: Optional[Callable[[IterationInfo], None]]) -> EMResult:
    """Finish restart ``resume.init`` from its checkpointed state."""
    lbs = list(resume.lower_bounds)
    lb = lbs[-1] if lbs else -np.inf
    if resume.finished or resume.n_iter >= max_iter:
        return EMResult(resume.params, resume.converged, resume.n_iter, lb, lbs)
    return run_em(source, family, resume.params, stats_fn=stats_fn, max_iter=max_iter,
                  tol=tol, reg_covar=reg_covar, lower_bound=lb, init=resume.init,
                  callback=callback, start_iter=resume.n_iter, lower_bounds=lbs)


def fit_mixture(source: ChunkSource, family: ComponentFamily, *,
                initializer: Callable[[int], Params], n_init: int,
                stats_fn: StatsFn, max_iter: int, tol: float, reg_covar: float,
                warm: Optional[tuple[Params, float]] = None,
                callback: Optional[Callable[[IterationInfo], None]] = None,
                on_init: Optional[Callable[[int], None]] = None,
                on_init_end: Optional[Callable[[EMResult, float], None]] = None,
                resume: Optional[ResumePoint] = None) -> EMResult:
    """Run EM ``n_init`` times (once from ``warm`` when given) and keep the best lower bound.

    Parameters
    ----------
    initializer : callable
        ``initializer(i)`` returns the initial parameters of restart ``i``.
    warm : (params, lower_bound), optional
        Continue from fitted parameters instead of initialising (``warm_start``).
    resume : ResumePoint, optional
        Continue an interrupted fit (restart ``resume.init`` after ``resume.n_iter``
        iterations); the result is the one the uninterrupted fit would have given.
    """
    best: Optional[EMResult] = None if resume is None else resume.best
    first = 0 if resume is None else resume.init
    for i in range(first, 1 if warm is not None else n_init):
        if on_init is not None:
            on_init(i)
        t0 = time.perf_counter()
        if resume is not None and i == resume.init:
            result = _resume_run(source, family, resume, stats_fn=stats_fn,
                                 max_iter=max_iter, tol=tol, reg_covar=reg_covar,
                                 callback=callback)
        else:
            if warm is not None:
                params, lb0 = warm
            else:
                params, lb0 = initializer(i), -np.inf
            if max_iter == 0:
                result = EMResult(params, False, 0, lb0, [])
            else:
                result = run_em(source, family, params, stats_fn=stats_fn,
                                max_iter=max_iter, tol=tol, reg_covar=reg_covar,
                                lower_bound=lb0, init=i, callback=callback)
        if on_init_end is not None:
            on_init_end(result, time.perf_counter() - t0)
        if best is None or result.lower_bound > best.lower_bound:
            best = result
    assert best is not None
    return best
