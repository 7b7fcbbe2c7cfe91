"""The Gaussian M-step: statistics to parameters, with ``reg_covar`` and the empty-component
policy.

Empty-component policy: a component whose weight sum is at most ``EMPTY_FRACTION`` of the
total keeps its previous mean and covariance (at initialisation, the mean of its centre and
the average covariance of the other components); its weight becomes ``nk / sum(nk)`` with the
``10 * eps`` floor scikit-learn also adds, so its log-weight stays finite. Parameters are
never NaN.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..exceptions import FitError
from ..stats import SuffStats
from .params import GaussianParams

if TYPE_CHECKING:
    from .base import CovarianceFamily

EMPTY_FRACTION = 1e-12
_FLOOR = 10 * np.finfo(np.float64).eps


def gaussian_m_step(family: "CovarianceFamily", stats: SuffStats, reg_covar: float,
           previous: GaussianParams | None = None, *, iteration: int | None = None,
           dtype_hint: np.dtype | None = None) -> GaussianParams:
    """Turn merged statistics into mixture parameters.

    Parameters
    ----------
    family : CovarianceFamily
    stats : SuffStats
    reg_covar : float
        Added to the diagonal of every covariance.
    previous : GaussianParams, optional
        Parameters the statistics were computed under; empty components keep theirs.
    iteration : int, optional
        Used in the error message of a singular covariance.
    dtype_hint : dtype, optional
        The input dtype, for the error message.

    Raises
    ------
    FitError
        If a covariance is not positive definite even after ``reg_covar``.
    """
    nk_raw = stats.nk
    total = float(nk_raw.sum())
    empty = nk_raw <= EMPTY_FRACTION * max(total, 1.0)
    nk = nk_raw + _FLOOR
    delta = stats.s1 / nk[:, None]
    delta[empty] = 0.0
    means = stats.shift + delta
    cov = family.covariances_from_stats(nk, delta, family.symmetrise(stats.s2), reg_covar)
    if empty.any():
        if previous is not None:
            means[empty] = previous.means[empty]
            family.restore_empty(cov, previous.covariances, empty)
        elif (~empty).any():
            family.restore_empty(cov, family.initial_fallback(cov, ~empty), empty)
    prec_chol, bad = family.precision_cholesky(cov)
    if bad >= 0:
        raise FitError(singular_message(family, bad, nk_raw, stats.n_rows, reg_covar,
                                        iteration, dtype_hint))
    weights = nk / nk.sum()
    return GaussianParams(weights, means, cov, prec_chol)


#: scikit-learn's message for the same failure (sklearn.mixture._gaussian_mixture), which
#: fastem's message begins with so that code matching scikit-learn's text matches fastem's.
SKLEARN_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease the "
    "number of components, increase reg_covar, or scale the input data.")
SKLEARN_FLOAT32 = (" The numerical accuracy can also be improved by passing float64 data "
                   "instead of float32.")


def singular_message(family: "CovarianceFamily", component: int, nk: np.ndarray, n_rows: int,
                     reg_covar: float, iteration: int | None,
                     dtype_hint: np.dtype | None) -> str:
    """scikit-learn's sentence, then which covariance failed, when, and ``reg_covar``."""
    msg = SKLEARN_ILL_DEFINED
    if dtype_hint is not None and np.dtype(dtype_hint) == np.float32:
        msg += SKLEARN_FLOAT32
    where = f" at iteration {iteration}" if iteration is not None else " at initialisation"
    if family.name == "tied":
        what = (f" The shared (tied) covariance is singular{where} ({len(nk)} components, "
                f"{n_rows:,} rows)")
    else:
        what = (f" Component {component} has a singular covariance{where} (effective weight "
                f"{nk[component]:.3g} of {n_rows:,} rows)")
    return msg + f"{what}; reg_covar is now {reg_covar!r}."
