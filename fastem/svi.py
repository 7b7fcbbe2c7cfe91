"""Stochastic variational inference (Hoffman, Blei, Wang & Paisley, 2013) for the variational
Gaussian family, one chunk at a time.

The global variational factors (Dirichlet or stick-breaking Beta weights, Gauss-Wishart
components) are conjugate, so their natural parameters are the prior's plus ``N`` times the
average per-row sufficient statistics (``N_k``, ``sum x``, ``sum x x^T`` per component). For
chunk ``t`` the fused kernel gives that chunk's average statistics ``s_hat`` under the current
posterior (the local step, never an ``n x K`` array); the intermediate global parameter is
the prior plus ``N s_hat``, and the natural-gradient step
``lambda <- (1 - rho_t) lambda + rho_t lambda_hat`` with
``rho_t = (t + learning_offset) ** -learning_decay`` is the same as running averages of the
statistics, ``s <- (1 - rho_t) s + rho_t s_hat``, followed by the variational M-step of
``N s``. ``N`` is ``total_samples`` when it is known (the data size for
``fit(..., algorithm="online")``) and the weight seen so far otherwise.

States are immutable: a step that raises leaves the previous state intact.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .backends import numba as nb
from .data.sources import ChunkSource
from .em import IterationInfo
from .families.base import CovarianceFamily
from .families.variational import VariationalGaussianFamily
from .families.variational_mstep import VariationalParams, VariationalPriors
from .online import step_size
from .stats import SuffStats


@dataclass(frozen=True)
class SVIState:
    """Where SVI stands after ``n_steps`` chunks.

    Parameters
    ----------
    priors : VariationalPriors
        The fit's priors (for ``partial_fit``, from its first chunk).
    params : VariationalParams
        The current posterior (the M-step of ``N * stats``).
    stats : SuffStats
        Running average per-row statistics (``weight_sum`` 1).
    n_steps, n_rows : int
        Chunks and rows absorbed.
    weight_seen : float
        Sum of the sample weights absorbed by steps (or represented by a fitted start).
    loglik : float
        Mean ``log sum_k rho_ik`` of the last chunk before its step (NaN before any step).
    """

    priors: VariationalPriors
    params: VariationalParams
    stats: SuffStats
    n_steps: int = 0
    n_rows: int = 0
    weight_seen: float = 0.0
    loglik: float = float("nan")


@dataclass(frozen=True)
class SVI:
    """Stochastic variational inference with a fixed step schedule (settings only).

    Parameters
    ----------
    gaussian : CovarianceFamily
        The covariance type.
    reg_covar : float
    learning_decay : float, default=0.7
        In ``(0.5, 1]``.
    learning_offset : float, default=10.0
    total_samples : float, optional
        The data size ``N`` the statistics are scaled to; ``None`` uses the weight seen so far.
    """

    gaussian: CovarianceFamily
    reg_covar: float
    learning_decay: float = 0.7
    learning_offset: float = 10.0
    total_samples: Optional[float] = None

    def family(self, priors: VariationalPriors) -> VariationalGaussianFamily:
        """The variational family under ``priors`` (SVI does not prune)."""
        return VariationalGaussianFamily(self.gaussian, priors, None)

    def _posterior(self, priors: VariationalPriors, stats: SuffStats, seen: float,
                   iteration: Optional[int], dtype) -> VariationalParams:
        n = float(self.total_samples) if self.total_samples is not None else float(seen)
        return self.family(priors).m_step(stats.scaled(n), None, reg=self.reg_covar,
                                          iteration=iteration, dtype_hint=dtype)

    def start(self, priors: VariationalPriors, stats: SuffStats, dtype=None, *,
              weight_seen: float = 0.0) -> SVIState:
        """The state from initial statistics (k-means labels on a first chunk, or the
        statistics a fitted posterior implies, which then represent ``weight_seen``)."""
        ws = float(stats.weight_sum)
        if not ws > 0:
            raise ValueError("SVI needs initial statistics of a positive weight.")
        per_row = stats.scaled(1.0 / ws)
        # A first chunk is absorbed again by the first step, so it is not counted as seen.
        params = self._posterior(priors, per_row, weight_seen or ws, None, dtype)
        return SVIState(priors, params, per_row, 0, 0, float(weight_seen))

    def step(self, state: SVIState, X: np.ndarray,
             sample_weight: Optional[np.ndarray] = None) -> SVIState:
        """Absorb one chunk of validated rows and return the new state.

        Raises
        ------
        ValueError
            If the chunk's weights sum to 0.
        """
        family = self.family(state.priors)
        kargs = family.kernel_args(state.params)
        hat = nb.chunk_em_stats(X, sample_weight, kargs, self.gaussian)
        ws = float(hat.weight_sum)
        if not ws > 0:
            raise ValueError(f"The chunk of {X.shape[0]:,} rows has sample weights summing to "
                             f"{ws!r}; give it at least one positive weight.")
        t = state.n_steps + 1
        rho = step_size(t, self.learning_decay, self.learning_offset)
        running = (state.stats.reshifted(hat.shift, family.square).scaled(1.0 - rho)
                   + hat.scaled(rho / ws))
        seen = state.weight_seen + ws
        params = self._posterior(state.priors, running, seen, t, X.dtype)
        return SVIState(state.priors, params, running, t, state.n_rows + int(X.shape[0]),
                        seen, hat.loglik / ws)

    def run(self, source: ChunkSource, state: Optional[SVIState] = None, *,
            initializer: Optional[Callable[[np.ndarray, Optional[np.ndarray]],
                                           SVIState]] = None,
            callback: Optional[Callable[[IterationInfo], None]] = None) -> SVIState:
        """One pass over ``source``, one step per chunk; ``initializer(X, w)`` gives the
        starting state from the first chunk when ``state`` is ``None``. Chunks of zero
        weight are skipped."""
        seen = False
        for chunk in source.chunks():
            seen = True
            w = chunk.sample_weight
            if w is not None and not float(np.sum(w)) > 0:
                continue
            t0 = time.perf_counter()
            if state is None:
                if initializer is None:
                    raise ValueError("SVI.run needs a state or an initializer.")
                state = initializer(chunk.X, w)
            prev = state.loglik
            state = self.step(state, chunk.X, w)
            if callback is not None:
                callback(IterationInfo(0, state.n_steps, state.loglik, state.loglik - prev,
                                       time.perf_counter() - t0, state.params))
        if not seen or state is None:
            raise ValueError("The data source yielded no rows (or only zero weights).")
        return state


__all__ = ["SVI", "SVIState"]
