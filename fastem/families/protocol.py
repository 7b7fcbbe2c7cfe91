"""The component-family protocol: what the EM engine needs to know about a kind of component.

A *component family* is the one place that knows a kind of mixture component (Gaussian with a
covariance type, Bernoulli, ...). The EM driver (:mod:`fastem.em`), the M-step dispatch
(:func:`fastem.mstep.m_step`) and the in-process backend (:mod:`fastem.backends.numba`) talk
to a family only through the methods below; they never look inside its parameters or its
statistics beyond :class:`Statistics`.

Who calls what, once per pass (never per row)::

    kargs = family.kernel_args(params)                       # driver, once per iteration
    stats = family.zero_stats(kargs)                         # backend
    for chunk in source.chunks():                            # backend
        family.validate(chunk.X)                             # (front-ends, before the pass)
        stats = stats + family.chunk_stats(X, w, kargs)      # the family's fused kernel
    params = family.m_step(stats, params, reg=..., iteration=n)   # driver, via mstep.m_step

Initialisation from responsibilities (hard labels are one-hot responsibilities) is
``family.m_step(merge(family.resp_stats(X, w, resp, anchor) ...), None, reg=...)``.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Statistics(Protocol):
    """Additive statistics of weighted rows, the unit kernels return and backends merge.

    ``a + b`` is the statistics of both blocks (both computed under the same parameters);
    ``scaled(f)`` multiplies every sum by ``f`` (online EM's running averages). Families whose
    statistics are taken about a shift (the Gaussian's current means) also provide
    ``reshifted(new_shift, ...)`` so that statistics about different shifts can be combined.
    """

    loglik: float
    weight_sum: float
    n_rows: int

    def __add__(self, other: Any) -> Any: ...

    def scaled(self, factor: float) -> Any: ...


@runtime_checkable
class ComponentFamily(Protocol):
    """A kind of mixture component, as the EM engine sees it.

    Attributes
    ----------
    name : str
        The family's registered name (for the Gaussian: the covariance type).
    fields : tuple of str
        Names of the parameter arrays saved by checkpoints and model files, in order.
    """

    name: str
    fields: tuple[str, ...]

    def kernel_args(self, params: Any) -> Any:
        """The arrays the fused pass reads, built once per pass from ``params``."""
        ...

    def zero_stats(self, kargs: Any) -> Statistics:
        """Empty statistics of a pass under ``kargs`` (the start of a sum over chunks)."""
        ...

    def chunk_stats(self, X: np.ndarray, sample_weight: Optional[np.ndarray], kargs: Any,
                    serial: bool = False) -> Statistics:
        """The fused E+M pass over one in-memory block: its statistics and log-likelihood.

        Bit-identical for any thread count (fixed accumulation slots); ``serial`` runs the
        single-threaded kernel (inside Dask tasks).
        """
        ...

    def resp_stats(self, X: np.ndarray, sample_weight: Optional[np.ndarray],
                   resp: np.ndarray, anchor: Any, serial: bool = False) -> Statistics:
        """Statistics of one block under given responsibilities ``resp`` (n, K) (for
        initialisation from hard labels or responsibilities). ``anchor`` is what the
        statistics are expressed about (the Gaussian's shift; ignored by others)."""
        ...

    def m_step(self, stats: Statistics, previous: Any = None, *, reg: float,
               iteration: Optional[int] = None,
               dtype_hint: Optional[np.dtype] = None) -> Any:
        """New parameters from merged statistics, with the family's own regularisation
        ``reg`` (``reg_covar`` for the Gaussian) and empty-component policy; ``previous``
        are the parameters the statistics were computed under (``None`` at initialisation).
        """
        ...

    def e_step_outputs(self, X: np.ndarray, kargs: Any, *, labels: bool = False,
                       resp: bool = False, serial: bool = False) -> tuple:
        """Per-row log-likelihood, and optionally labels and responsibilities, of a block."""
        ...

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Number of free parameters of the mixture (for BIC and AIC)."""
        ...

    def sample(self, params: Any, n_samples: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n_samples`` draws from the mixture and their components (sorted)."""
        ...

    def validate(self, X: np.ndarray) -> None:
        """Raise a ``ValueError`` naming the first bad row, column and value of ``X`` when
        it holds values outside the family's domain."""
        ...


__all__ = ["ComponentFamily", "Statistics"]
