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

from typing import Any, Mapping, Optional, Protocol, runtime_checkable

import numpy as np


class FieldError(ValueError):
    """A parameter array that is invalid (wrong shape, dtype, non-finite or out of range).

    Raised by :meth:`ComponentFamily.params_from_arrays`; ``field`` names the array (one of
    the family's ``fields``) and ``why`` says what is wrong. Model files and checkpoints turn
    it into a :class:`~fastem.exceptions.ModelFileError` naming the file and the field.
    """

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field!r}: {why}")
        self.field = field
        self.why = why


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

    def validate(self, X: np.ndarray, row_offset: int = 0) -> None:
        """Raise a ``ValueError`` naming the first bad row (``row_offset`` + its index in
        ``X``, so rows are global across chunks), column and value of ``X`` when it holds
        values outside the family's domain (NaN included)."""
        ...

    # ---- persistence (model files, checkpoints, Dask tasks, the CLI) --------------------
    def spec(self) -> dict:
        """``{"family": <registered name>, **hyper-parameters}``, JSON-able;
        ``fastem.families.registry.make_family(spec)`` rebuilds an equal family."""
        ...

    def params_to_arrays(self, params: Any) -> dict[str, np.ndarray]:
        """The parameters as arrays keyed by ``fields`` (saved bit for bit)."""
        ...

    def params_from_arrays(self, arrays: Mapping[str, np.ndarray], *,
                           n_components: Optional[int] = None,
                           n_features: Optional[int] = None) -> Any:
        """Parameters from arrays keyed by ``fields`` (untrusted: read from a file).

        Checks dtype, shape (against ``n_components``/``n_features`` when given, and
        between the arrays), finiteness and ranges; raises :class:`FieldError` (a
        ``ValueError``) naming the field. Never returns parameters a kernel could crash on.
        """
        ...


# Optional members a family may provide (looked up with ``getattr``):
#
# * ``prepare(X) -> X``: the chunk in the dtype the family's kernel reads (default: the
#   chunk as it is; e.g. bool and uint8 stay compact for Bernoulli). Sources call it before
#   ``validate``.
# * ``lower_bound(stats, new_params, old_params) -> float``: the lower bound of an iteration
#   (default ``stats.loglik / stats.weight_sum``), for families whose objective is not the
#   plain mean log-likelihood (e.g. a variational bound).
# * ``stats_from_params(params, reg) -> Statistics``: per-row statistics (weight sum 1)
#   whose M-step returns ``params``; needed by online EM (``partial_fit``).
# * ``Statistics.reshifted(shift, square)``: for statistics taken about a shift.


__all__ = ["ComponentFamily", "FieldError", "Statistics"]
