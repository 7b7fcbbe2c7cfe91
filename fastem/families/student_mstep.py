"""The Student-t M-step: ``u``-weighted means and scale matrices, and the ECM step for the
degrees of freedom (McLachlan & Peel 2000, section 7.5).

From merged statistics (``N_k = sum w r``, ``U_k = sum w r u``, ``u``-weighted first moment and
scatter about the shift, ``A_k = sum w r E[log tau - tau]``):

* ``means_k = shift_k + s1_k / U_k`` (``= sum w r u x / sum w r u``);
* scale ``= sum w r u (x - mu_new)(x - mu_new)^T / N_k + reg_covar I``, tied pooled, diag and
  spherical reduced, exactly as the Gaussian family forms its covariances (it is the Gaussian
  formula with weight sums ``U_k`` rescaled by ``U_k / N_k``, pooled sums for tied);
* ``nu_k``: the root in ``[0.01, 1000]`` of ``log(nu/2) - psi(nu/2) + 1 + A_k / N_k = 0``
  (``E[log tau] = log u + psi((nu_old + D)/2) - log((nu_old + D)/2)`` is accumulated by the
  kernel, so the statistics add across passes with different ``nu``); the nearer bound when
  the root lies outside; a fixed ``degrees_of_freedom`` is never changed.

Empty-component policy (the Gaussian's): a component with ``N_k <= EMPTY_FRACTION * N`` keeps
its previous mean, scale and ``nu``; its weight gets the ``10 eps`` floor. No NaN.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from .._special import log_minus_digamma, solve_monotone, trigamma
from ..exceptions import FitError
from .gaussian_mstep import EMPTY_FRACTION, singular_message

if TYPE_CHECKING:
    from .student import StudentFamily, StudentParams, StudentStats

_FLOOR = 10 * np.finfo(np.float64).eps
#: The bracket of the degrees of freedom.
DOF_MIN = 0.01
DOF_MAX = 1000.0


def solve_dof(mean_log_tau_minus_tau: float) -> float:
    """The ECM root ``nu`` of ``log(nu/2) - psi(nu/2) + 1 + m = 0`` within
    ``[DOF_MIN, DOF_MAX]`` (the nearer bound when the root lies outside)."""
    c = 1.0 + float(mean_log_tau_minus_tau)

    def f(nu: float) -> float:
        return log_minus_digamma(0.5 * nu) + c

    def fprime(nu: float) -> float:
        return 0.5 * (2.0 / nu - trigamma(0.5 * nu))

    return solve_monotone(f, fprime, DOF_MIN, DOF_MAX)


def scale_from_stats(cov_family, nk: np.ndarray, uk: np.ndarray, delta: np.ndarray,
                     s2: np.ndarray, reg_covar: float) -> np.ndarray:
    """``sum w r u (x - mu)(x - mu)^T / N_k + reg_covar I`` in the covariance type's layout.

    ``cov_family.covariances_from_stats`` with the ``u``-weight sums gives
    ``sum w r u (x - mu)(x - mu)^T / U_k`` (pooled over ``sum U_k`` for tied); it is rescaled
    to ``/ N_k`` (``/ sum N_k``) before ``reg_covar`` is added.
    """
    cov = cov_family.covariances_from_stats(uk, delta, s2, 0.0)
    if cov_family.name == "tied":
        cov = cov * (uk.sum() / nk.sum()) + reg_covar * np.eye(delta.shape[1])
    elif cov_family.square:
        cov = cov * (uk / nk)[:, None, None] + reg_covar * np.eye(delta.shape[1])
    elif cov.ndim == 2:
        cov = cov * (uk / nk)[:, None] + reg_covar
    else:
        cov = cov * (uk / nk) + reg_covar
    return cov


def student_m_step(family: "StudentFamily", stats: "StudentStats", reg_covar: float,
                   previous: Optional["StudentParams"] = None, *,
                   iteration: Optional[int] = None,
                   dtype_hint: Optional[np.dtype] = None) -> "StudentParams":
    """New Student-t mixture parameters from merged statistics.

    ``previous`` are the parameters of the pass (``None`` at initialisation, when the
    degrees of freedom start at ``family.degrees_of_freedom_init`` or the fixed value).

    Raises
    ------
    FitError
        If a scale matrix is not positive definite even after ``reg_covar``.
    """
    from .student import StudentParams

    cov_family = family.covariance_family
    nk_raw = stats.nk
    k = nk_raw.shape[0]
    total = float(nk_raw.sum())
    empty = nk_raw <= EMPTY_FRACTION * max(total, 1.0)
    nk = nk_raw + _FLOOR
    uk = stats.uk + _FLOOR
    delta = stats.s1 / uk[:, None]
    delta[empty] = 0.0
    means = stats.shift + delta
    cov = scale_from_stats(cov_family, nk, uk, delta, cov_family.symmetrise(stats.s2),
                           reg_covar)
    if empty.any():
        if previous is not None:
            means[empty] = previous.means[empty]
            cov_family.restore_empty(cov, previous.covariances, empty)
        elif (~empty).any():
            cov_family.restore_empty(cov, cov_family.initial_fallback(cov, ~empty), empty)
    prec_chol, bad = cov_family.precision_cholesky(cov)
    if bad >= 0:
        raise FitError(singular_message(cov_family, bad, nk_raw, stats.n_rows, reg_covar,
                                        iteration, dtype_hint))
    if family.degrees_of_freedom is not None:
        dof = np.full(k, float(family.degrees_of_freedom))
    elif previous is None:
        dof = np.full(k, float(family.degrees_of_freedom_init))
    else:
        dof = np.array(previous.degrees_of_freedom, dtype=np.float64, copy=True)
        for j in np.flatnonzero(~empty):
            dof[j] = solve_dof(stats.aux[j] / nk[j])
    weights = nk / nk.sum()
    return StudentParams(weights, means, cov, prec_chol, dof)
