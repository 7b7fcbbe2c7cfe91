"""Online (stepwise) EM: running sufficient statistics updated one chunk at a time.

Stepwise EM (Cappé & Moulines, 2009; the mini-batch form of Liang & Klein, 2009) keeps a
running average ``s`` of the per-row sufficient statistics. For chunk ``t = 1, 2, ...``:

1. the fused kernel computes the chunk's statistics ``s_hat`` under the current parameters
   (one E-step and the statistics of that chunk, never an ``n x K`` array), divided by the
   chunk's weight sum so that every chunk counts as one average row;
2. ``s <- (1 - gamma_t) * s + gamma_t * s_hat`` with
   ``gamma_t = (t + learning_offset) ** -learning_decay``; ``s`` is first re-expressed about
   the chunk's shift (the current means) so the two can be added;
3. the M-step (:func:`fastem.mstep.m_step`) turns ``s`` into the new parameters.

The state starts from parameters (an initialisation, the user's ``*_init`` or a model fitted
by exact EM) through the statistics those parameters imply (:func:`stats_from_params`): the
M-step of those statistics gives the parameters back, so ``learning_offset`` says how much
the starting point weighs against the first chunks.

Everything here is independent of the estimator so that the CLI and other front-ends can use
it; states are immutable, so a step that raises leaves the previous state intact.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ._params import Interval, validate_params
from .backends import numba as nb
from .data.sources import ChunkSource
from .em import IterationInfo
from .families import CovarianceFamily, GaussianParams
from .mstep import m_step
from .stats import SuffStats

#: Constraints on the step-size parameters (named as in scikit-learn's
#: ``LatentDirichletAllocation``); the estimator's constraint table includes them.
ONLINE_CONSTRAINTS = {
    "learning_decay": [Interval("float", 0.5, 1.0, "right")],
    "learning_offset": [Interval("float", 0.0, None, "left")],
}

#: The algorithms ``GaussianMixture(algorithm=...)`` accepts.
ALGORITHMS = ("em", "online")

_MIN_CHUNK = 10_000
_CHUNK_PER_COMPONENT = 200


def default_chunk_size(n_components: int) -> int:
    """Rows per online step when the user gives no ``chunk_size``.

    Large enough that every component sees rows in every chunk, small enough that one pass
    makes many steps: ``max(10_000, 200 * n_components)``.
    """
    return max(_MIN_CHUNK, _CHUNK_PER_COMPONENT * int(n_components))


def step_size(t: int, learning_decay: float, learning_offset: float) -> float:
    """Weight of the ``t``-th chunk (``t >= 1``): ``(t + learning_offset) ** -learning_decay``."""
    return float((t + learning_offset) ** (-learning_decay))


def stats_from_params(family: CovarianceFamily, params: GaussianParams,
                      reg_covar: float) -> SuffStats:
    """Per-row statistics whose M-step returns ``params``.

    ``nk`` are the weights (weight sum 1), the statistics are taken about the means (so the
    first moment is 0) and the scatter is ``weight_k * (covariance_k - reg_covar * I)`` in the
    family's scatter layout (pooled for a ``(1, d, d)`` scatter, the diagonal for ``(K, d)``).
    """
    k, d = params.means.shape
    w = np.asarray(params.weights, dtype=np.float64)
    nk = w / w.sum()
    cov = np.asarray(family.full_covariances(params.covariances, k, d), dtype=np.float64)
    weighted = nk[:, None, None] * (cov - reg_covar * np.eye(d))
    shape = family.scatter_shape(k, d)
    if len(shape) == 3:
        s2 = weighted.sum(axis=0, keepdims=True) if shape[0] != k else weighted
        s2 = np.tril(s2)
    else:
        s2 = np.diagonal(weighted, axis1=1, axis2=2).copy()
    means = np.array(params.means, dtype=np.float64)
    return SuffStats(means, nk, np.zeros((k, d)), s2.reshape(shape), 0.0, 1.0, 0)


@dataclass(frozen=True)
class OnlineState:
    """Where online EM stands after ``n_steps`` chunks.

    Parameters
    ----------
    params : GaussianParams
        Current parameters (the M-step of ``stats``).
    stats : SuffStats
        Running per-row statistics (``weight_sum`` is 1), about the shift they were last
        expressed in.
    n_steps : int
        Chunks absorbed so far (``t``).
    n_rows : int
        Rows absorbed so far.
    loglik : float
        Mean log-likelihood of the last chunk under the parameters *before* its step (an
        estimate on data the model had not seen); NaN before the first step.
    """

    params: GaussianParams
    stats: SuffStats
    n_steps: int = 0
    n_rows: int = 0
    loglik: float = float("nan")


@dataclass(frozen=True)
class OnlineEM:
    """Stepwise EM with a fixed step-size schedule; holds no data, only the settings.

    Parameters
    ----------
    family : CovarianceFamily
    reg_covar : float
        Added to the diagonal of every covariance in each M-step.
    learning_decay : float, default=0.7
        Exponent of the step size, in ``(0.5, 1]``.
    learning_offset : float, default=10.0
        Non-negative offset of the step counter; larger values make the first chunks (and the
        starting parameters) weigh more evenly.
    serial : bool, default=False
        Use the serial twin of the kernel (inside thread pools).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem.families import get_family
    >>> from fastem.online import OnlineEM
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-5, 1, (10000, 1)), rng.normal(5, 1, (10000, 1))])
    >>> rng.shuffle(X)
    >>> from fastem.families import GaussianParams
    >>> fam = get_family("diag")
    >>> start = GaussianParams(np.array([0.5, 0.5]), np.array([[-1.0], [1.0]]),
    ...                        np.ones((2, 1)), np.ones((2, 1)))
    >>> engine = OnlineEM(fam, reg_covar=1e-6)
    >>> state = engine.start(start)
    >>> for i in range(0, len(X), 500):  # 40 steps; the start is forgotten gradually
    ...     state = engine.step(state, X[i:i + 500])
    >>> np.sort(state.params.means[:, 0]).round(0)
    array([-5.,  5.])
    """

    family: CovarianceFamily
    reg_covar: float
    learning_decay: float = 0.7
    learning_offset: float = 10.0
    serial: bool = False

    def __post_init__(self) -> None:
        validate_params(type(self).__name__, {"learning_decay": self.learning_decay,
                                              "learning_offset": self.learning_offset},
                        ONLINE_CONSTRAINTS)

    def start(self, params: GaussianParams) -> OnlineState:
        """The state before any chunk: ``params`` and the statistics they imply (the
        family's ``stats_from_params`` when it has one; the Gaussian's otherwise)."""
        own = getattr(self.family, "stats_from_params", None)
        if own is not None:
            return OnlineState(params, own(params, self.reg_covar))
        return OnlineState(params, stats_from_params(self.family, params, self.reg_covar))

    def step(self, state: OnlineState, X: np.ndarray,
             sample_weight: Optional[np.ndarray] = None) -> OnlineState:
        """Absorb one chunk of validated rows and return the new state.

        Raises
        ------
        ValueError
            If the chunk's weights sum to 0 (it carries no information).
        FitError
            If the M-step gives a singular covariance; ``state`` is left as it was.
        """
        family = self.family
        kargs = family.kernel_args(state.params)
        hat = nb.chunk_em_stats(X, sample_weight, kargs, family, serial=self.serial)
        if not hat.weight_sum > 0:
            raise ValueError(f"The chunk of {X.shape[0]:,} rows has sample weights summing to "
                             f"{hat.weight_sum!r}; give it at least one positive weight.")
        t = state.n_steps + 1
        gamma = step_size(t, self.learning_decay, self.learning_offset)
        mean_ll = hat.loglik / hat.weight_sum
        hat = hat.scaled(1.0 / hat.weight_sum)
        previous = state.stats
        if hasattr(previous, "reshifted_like"):    # several shifts (a mixed-type model)
            previous = previous.reshifted_like(hat, getattr(family, "t_square", False))
        elif hasattr(previous, "reshifted"):     # statistics about a shift (the Gaussian)
            previous = previous.reshifted(hat.shift, family.square)
        running = previous.scaled(1.0 - gamma) + hat.scaled(gamma)
        params = m_step(family, running, self.reg_covar, state.params, iteration=t,
                        dtype_hint=X.dtype)
        return OnlineState(params, running, t, state.n_rows + int(X.shape[0]), float(mean_ll))

    def run(self, source: ChunkSource, state: Optional[OnlineState] = None, *,
            initializer: Optional[Callable[[np.ndarray, Optional[np.ndarray]],
                                           GaussianParams]] = None,
            callback: Optional[Callable[[IterationInfo], None]] = None) -> OnlineState:
        """One pass over ``source``: one step per chunk.

        Parameters
        ----------
        source : ChunkSource
        state : OnlineState, optional
            Continue from this state; when ``None``, ``initializer(X, sample_weight)`` of the
            first chunk gives the starting parameters.
        initializer : callable, optional
            Required when ``state`` is ``None``.
        callback : callable, optional
            Called with an :class:`~fastem.em.IterationInfo` after every step (``n_iter`` is
            the step count, ``lower_bound`` the chunk's mean log-likelihood before its step).

        Notes
        -----
        Chunks whose weights sum to 0 are skipped (the step counter does not advance).
        """
        seen = False
        for chunk in source.chunks():
            seen = True
            w = chunk.sample_weight
            if w is not None and not float(np.sum(w)) > 0:
                continue
            t0 = time.perf_counter()
            if state is None:
                if initializer is None:
                    raise ValueError("OnlineEM.run needs a state or an initializer.")
                state = self.start(initializer(chunk.X, w))
            prev = state.loglik
            state = self.step(state, chunk.X, w)
            if callback is not None:
                callback(IterationInfo(0, state.n_steps, state.loglik, state.loglik - prev,
                                       time.perf_counter() - t0, state.params))
        if not seen or state is None:
            raise ValueError("The data source yielded no rows (or only zero weights).")
        return state


__all__ = ["ALGORITHMS", "ONLINE_CONSTRAINTS", "OnlineEM", "OnlineState", "default_chunk_size",
           "stats_from_params", "step_size"]
