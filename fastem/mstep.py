"""The M-step: statistics to parameters, with ``reg_covar`` and the empty-component policy.

Empty-component policy: a component whose weight sum is at most ``EMPTY_FRACTION`` of the
total keeps its previous mean and covariance (at initialisation, the mean of its centre and
the average covariance of the other components); its weight becomes ``nk / sum(nk)`` with the
``10 * eps`` floor scikit-learn also adds, so its log-weight stays finite. Parameters are
never NaN.
"""
from __future__ import annotations

import numpy as np

from .exceptions import FitError
from .families import CovarianceFamily, GaussianParams
from .stats import SuffStats

EMPTY_FRACTION = 1e-12
_FLOOR = 10 * np.finfo(np.float64).eps


def m_step(family: CovarianceFamily, stats: SuffStats, reg_covar: float,
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
            fallback = np.broadcast_to(cov[~empty].mean(axis=0), cov.shape)
            family.restore_empty(cov, fallback, empty)
    prec_chol, bad = family.precision_cholesky(cov)
    if bad >= 0:
        raise FitError(_singular_message(bad, nk_raw, stats.n_rows, reg_covar, iteration,
                                         dtype_hint))
    weights = nk / nk.sum()
    return GaussianParams(weights, means, cov, prec_chol)


def _singular_message(component, nk, n_rows, reg_covar, iteration, dtype_hint) -> str:
    where = f" at iteration {iteration}" if iteration is not None else ""
    msg = (f"Component {component} has a singular covariance{where} (effective weight "
           f"{nk[component]:.3g} of {n_rows:,} rows). Increase reg_covar (now {reg_covar!r}), "
           "reduce n_components, or scale the data")
    if dtype_hint is not None and np.dtype(dtype_hint) == np.float32:
        msg += "; float64 input is more accurate than float32"
    return msg + "."
