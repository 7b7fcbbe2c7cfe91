"""The M-step dispatch: statistics to parameters through the family protocol.

Each family owns its M-step (:meth:`fastem.families.protocol.ComponentFamily.m_step`, with
its own regularisation and empty-component policy); the Gaussian one, with ``reg_covar``, is
:func:`fastem.families.gaussian_mstep.gaussian_m_step`.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .families.gaussian_mstep import (EMPTY_FRACTION, SKLEARN_FLOAT32,  # noqa: F401
                                      SKLEARN_ILL_DEFINED, singular_message)
from .families.protocol import ComponentFamily, Statistics


def m_step(family: ComponentFamily, stats: Statistics, reg: float, previous: Any = None, *,
           iteration: Optional[int] = None, dtype_hint: Optional[np.dtype] = None) -> Any:
    """Turn merged statistics into mixture parameters (``family.m_step``).

    Parameters
    ----------
    family : ComponentFamily
    stats : Statistics
        Merged statistics of the pass.
    reg : float
        The family's regularisation (``reg_covar`` for the Gaussian: added to the diagonal
        of every covariance).
    previous : optional
        Parameters the statistics were computed under; empty components keep theirs.
    iteration : int, optional
        Used in error messages (e.g. a singular covariance).
    dtype_hint : dtype, optional
        The input dtype, for error messages.

    Raises
    ------
    FitError
        If the family cannot form valid parameters (for the Gaussian: a covariance that is
        not positive definite even after ``reg_covar``).
    """
    return family.m_step(stats, previous, reg=reg, iteration=iteration, dtype_hint=dtype_hint)


__all__ = ["m_step", "singular_message", "EMPTY_FRACTION"]
