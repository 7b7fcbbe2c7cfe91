"""Variational Bayes for Gaussian mixtures: priors, the variational M-step, the E-step's
per-component constants and the lower bound, all from the Gaussian statistics.

The model is scikit-learn's ``BayesianGaussianMixture``: a Dirichlet (or Dirichlet-process,
stick-breaking) prior on the weights and a Gaussian-Wishart prior on each component's mean
and precision. Every formula here follows scikit-learn (``sklearn.mixture._bayesian_mixture``)
where it departs from the textbook (Bishop, 2006, section 10.2):

* ``covariances_`` are *normalised*: ``W_k^-1 / nu_k``, so the expected precision
  ``nu_k W_k`` is ``inv(covariances_)``, and the E-step's Gaussian uses the same Cholesky
  factor as ``GaussianMixture``;
* the per-component covariance estimate ``S_k`` carries ``reg_covar`` on its diagonal and the
  weight sums ``N_k`` carry scikit-learn's ``10 * eps`` floor;
* the tied update pools ``N / K`` rows per component (scikit-learn's choice);
* the lower bound drops every constant scikit-learn drops (it is not the ELBO's value, only
  equal to it up to terms that do not depend on the variational parameters).

The E-step is the Gaussian fused kernel unchanged::

    log rho_ik = const_k - 1/2 (x_i - m_k)^T (nu_k W_k) (x_i - m_k)
    const_k = E[log pi_k] + 1/2 E[log |Lambda_k|] - D/2 log(2 pi) - D / (2 beta_k)

and the lower bound's entropy term needs no ``n_samples x n_components`` array:
``sum_i w_i sum_k r_ik log r_ik = sum_k [const_k N_k - 1/2 tr(P_k S2_k)] - sum_i w_i log
p_i``, with ``S2_k`` the scatter about the E-step's means (the statistics' shift) and
``P_k = nu_k W_k`` the E-step's precision.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from .._digamma import betaln, digamma, gammaln
from ..exceptions import FitError
from ..stats import SuffStats
from .gaussian_mstep import singular_message
from .params import GaussianParams

if TYPE_CHECKING:
    from .base import CovarianceFamily

#: The valid ``weight_concentration_prior_type`` strings.
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
_FLOOR = 10 * np.finfo(np.float64).eps


@dataclass(frozen=True)
class VariationalPriors:
    """The effective priors (scikit-learn's ``*_prior_`` attributes).

    Parameters
    ----------
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}
    weight_concentration_prior : float
    mean_precision_prior : float
    mean_prior : ndarray of shape (n_features,)
    degrees_of_freedom_prior : float
    covariance_prior : ndarray or float
        (n_features, n_features) for full and tied, (n_features,) for diag, a float for
        spherical.
    """

    weight_concentration_prior_type: str
    weight_concentration_prior: float
    mean_precision_prior: float
    mean_prior: np.ndarray
    degrees_of_freedom_prior: float
    covariance_prior: Union[np.ndarray, float]


@dataclass(frozen=True)
class VariationalParams:
    """The variational posterior of a Bayesian Gaussian mixture.

    Parameters
    ----------
    weight_concentration : ndarray
        (2, n_components) Beta parameters of the sticks for the Dirichlet process (rows are
        scikit-learn's ``weight_concentration_[0]`` and ``[1]``), (n_components,) Dirichlet
        parameters otherwise.
    mean_precision : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    degrees_of_freedom : ndarray
        (n_components,), or a 0-d array for tied.
    covariances : ndarray
        Normalised, as scikit-learn's ``covariances_``.
    precisions_cholesky : ndarray
    active : ndarray of bool, shape (n_components,), optional
        Components the next pass computes (``prune_threshold``); ``None`` means all.
    """

    weight_concentration: np.ndarray
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    active: Optional[np.ndarray] = None

    @property
    def weights(self) -> np.ndarray:
        """Expected mixture weights (scikit-learn's ``weights_``)."""
        return expected_weights(self.weight_concentration)

    @property
    def n_components(self) -> int:
        """Number of mixture components."""
        return self.means.shape[0]

    def gaussian(self) -> GaussianParams:
        """The point estimate scikit-learn's ``sample`` uses (expected weights, normalised
        covariances)."""
        return GaussianParams(self.weights, self.means, self.covariances,
                              self.precisions_cholesky)


# ------------------------------------------------------------------------------ weights
def weight_concentration(prior_type: str, prior: float, nk: np.ndarray) -> np.ndarray:
    """Posterior of the weights from the (floored) weight sums ``nk``."""
    if prior_type == "dirichlet_process":
        tail = np.hstack((np.cumsum(nk[::-1])[-2::-1], 0.0))
        return np.vstack((1.0 + nk, prior + tail))
    return prior + nk


def expected_log_weights(wc: np.ndarray) -> np.ndarray:
    """``E[log pi_k]`` (scikit-learn's ``_estimate_log_weights``)."""
    if wc.ndim == 2:
        dsum = digamma(wc[0] + wc[1])
        da, db = digamma(wc[0]), digamma(wc[1])
        return da - dsum + np.hstack((0.0, np.cumsum(db - dsum)[:-1]))
    return digamma(wc) - digamma(np.sum(wc))


def expected_weights(wc: np.ndarray) -> np.ndarray:
    """``E[pi_k]``, normalised as scikit-learn's ``weights_``."""
    if wc.ndim == 2:
        total = wc[0] + wc[1]
        w = wc[0] / total * np.hstack((1.0, np.cumprod(wc[1] / total)[:-1]))
        return w / np.sum(w)
    return wc / np.sum(wc)


# ------------------------------------------------------------------------ Gauss-Wishart
def _wishart_full(p: VariationalPriors, nk, xk, sk, beta):
    nu = p.degrees_of_freedom_prior + nk
    diff = xk - p.mean_prior
    cov = (p.covariance_prior + nk[:, None, None] * sk
           + (nk * p.mean_precision_prior / beta)[:, None, None]
           * diff[:, :, None] * diff[:, None, :])
    return nu, cov / nu[:, None, None]


def _wishart_tied(p: VariationalPriors, nk, xk, sk, beta):
    k = nk.shape[0]
    nu = np.asarray(p.degrees_of_freedom_prior + nk.sum() / k)
    diff = xk - p.mean_prior
    cov = (p.covariance_prior + sk * nk.sum() / k
           + p.mean_precision_prior / k * np.dot((nk / beta) * diff.T, diff))
    return nu, cov / nu


def _wishart_diag(p: VariationalPriors, nk, xk, sk, beta):
    nu = p.degrees_of_freedom_prior + nk
    diff = xk - p.mean_prior
    cov = p.covariance_prior + nk[:, None] * (
        sk + (p.mean_precision_prior / beta)[:, None] * np.square(diff))
    return nu, cov / nu[:, None]


def _wishart_spherical(p: VariationalPriors, nk, xk, sk, beta):
    nu = p.degrees_of_freedom_prior + nk
    diff = xk - p.mean_prior
    cov = p.covariance_prior + nk * (
        sk + p.mean_precision_prior / beta * np.mean(np.square(diff), axis=1))
    return nu, cov / nu


_WISHART = {"full": _wishart_full, "tied": _wishart_tied, "diag": _wishart_diag,
            "spherical": _wishart_spherical}


def expand_stats(stats: SuffStats, active: Optional[np.ndarray], shift: np.ndarray,
                 pooled: bool) -> SuffStats:
    """Statistics of the ``active`` components written into all components (the others
    get zero weight, sums and scatter, about their rows of ``shift``); a ``pooled`` (tied)
    scatter is kept as it is."""
    if active is None or active.all():
        return stats
    k = active.shape[0]
    nk = np.zeros(k)
    nk[active] = stats.nk
    s1 = np.zeros((k,) + stats.s1.shape[1:])
    s1[active] = stats.s1
    if pooled:
        s2 = stats.s2
    else:
        s2 = np.zeros((k,) + stats.s2.shape[1:])
        s2[active] = stats.s2
    full_shift = np.array(shift, dtype=np.float64)
    full_shift[active] = stats.shift
    return SuffStats(full_shift, nk, s1, s2, stats.loglik, stats.weight_sum, stats.n_rows)


def variational_m_step(gaussian: "CovarianceFamily", priors: VariationalPriors,
                       stats: SuffStats, reg_covar: float, *,
                       iteration: Optional[int] = None,
                       dtype_hint: Optional[np.dtype] = None) -> VariationalParams:
    """The variational update of every posterior factor from merged statistics.

    ``stats`` are over all components (see :func:`expand_stats`). Components without rows
    get the prior's mean and (``reg_covar``-inflated) covariance, never NaN.

    Raises
    ------
    FitError
        If a covariance is not positive definite (only possible with ``reg_covar=0`` and a
        singular ``covariance_prior``).
    """
    nk_raw = stats.nk
    nk = nk_raw + _FLOOR
    delta = stats.s1 / nk[:, None]
    xk = stats.shift + delta
    sk = gaussian.covariances_from_stats(nk, delta, gaussian.symmetrise(stats.s2), reg_covar)
    wc = weight_concentration(priors.weight_concentration_prior_type,
                              priors.weight_concentration_prior, nk)
    beta = priors.mean_precision_prior + nk
    means = (priors.mean_precision_prior * priors.mean_prior + nk[:, None] * xk) / beta[:, None]
    nu, cov = _WISHART[gaussian.name](priors, nk, xk, sk, beta)
    prec_chol, bad = gaussian.precision_cholesky(cov)
    if bad >= 0:
        raise FitError(singular_message(gaussian, bad, nk_raw, stats.n_rows, reg_covar,
                                        iteration, dtype_hint))
    return VariationalParams(wc, beta, means, nu, cov, prec_chol)


def with_pruning(new: VariationalParams, previous: Optional[VariationalParams],
                 threshold: Optional[float], nk: np.ndarray) -> VariationalParams:
    """``new`` with its ``active`` mask: a component stays computed while its share of the
    responsibilities, ``N_k / sum_j N_j`` of the pass (its expected weight under the data,
    without the prior's pseudo-counts), is at least ``threshold``; once dropped it stays
    dropped. The largest component is always kept."""
    if threshold is None:
        return new
    total = float(np.sum(nk))
    keep = nk >= threshold * total
    if previous is not None and previous.active is not None:
        keep &= previous.active
    if not keep.any():
        keep[int(np.argmax(nk))] = True
    return replace(new, active=keep)


# ------------------------------------------------------------------ E-step and the bound
def log_det_cholesky(gaussian: "CovarianceFamily", prec_chol: np.ndarray,
                     n_features: int) -> np.ndarray:
    """``log |det U_k|`` of the precision Cholesky factors (a 0-d array for tied)."""
    if gaussian.name == "full":
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    if gaussian.name == "tied":
        return np.asarray(np.log(np.diagonal(prec_chol)).sum())
    if gaussian.name == "diag":
        return np.log(prec_chol).sum(axis=1)
    return n_features * np.log(prec_chol)


def expected_log_det_precision(nu: np.ndarray, n_features: int) -> np.ndarray:
    """``D log 2 + sum_i psi((nu - i) / 2)``: ``E[log |Lambda_k|] - log |W_k|``."""
    nu = np.asarray(nu, dtype=np.float64)
    half = 0.5 * (nu[..., None] - np.arange(n_features))
    return n_features * math.log(2.0) + digamma(half).sum(axis=-1)


def e_step_constants(params: VariationalParams, n_features: int) -> np.ndarray:
    """What the variational E-step adds to the Gaussian kernel's
    ``log |det U_k| - D/2 log(2 pi)`` (scikit-learn's ``_estimate_log_prob`` and
    ``_estimate_log_weights``): ``E[log pi_k] - D/2 log nu_k + 1/2 (E[log|Lambda|] - log|W|)
    - D / (2 beta_k)``."""
    d = n_features
    nu = params.degrees_of_freedom
    extra = (-0.5 * d * np.log(nu) + 0.5 * (expected_log_det_precision(nu, d)
                                             - d / params.mean_precision))
    return expected_log_weights(params.weight_concentration) + extra


def _log_wishart_norm(nu, log_det_chol, n_features):
    # scikit-learn's _log_wishart_norm (its log(pi) term dropped too).
    nu = np.asarray(nu, dtype=np.float64)
    half = 0.5 * (nu[..., None] - np.arange(n_features))
    return -(nu * log_det_chol + nu * n_features * 0.5 * math.log(2.0)
             + gammaln(half).sum(axis=-1))


def entropy_sum(kargs_prec: np.ndarray, kargs_const: np.ndarray, stats: SuffStats,
                square: bool) -> float:
    """``sum_i w_i sum_k r_ik log r_ik`` of a pass from its statistics alone.

    ``kargs_prec``/``kargs_const`` are the kernel arguments the pass ran with (the precision
    factor in the kernel's layout), ``stats`` its statistics about the pass's means.

    With missing values marginalised (``stats`` from :mod:`fastem.families.missing`: the
    conditional mean filled in, the conditional covariance ``C = ((nu W)_mm)^-1`` added to
    the scatter) the same formula gives ``sum_i w_i sum_k r_ik [log r_ik - H_ik]``, with
    ``H_ik`` the entropy of ``q(x_mis | z = k)``: the scatter's ``tr(nu W_mm C) = |m|`` and
    the marginal density's ``-1/2 log det (nu W)_mm + |m|/2 log(2 pi)`` are that entropy.
    So the bound is the structured bound of ``q(z, x_mis) q(theta)`` with no extra term.
    """
    if square:
        prec = kargs_prec @ np.swapaxes(kargs_prec, -1, -2)
        s2 = np.tril(stats.s2) + np.swapaxes(np.tril(stats.s2, -1), -1, -2)
        trace = float(np.einsum("kij,kij->", prec, s2))
    else:
        trace = float(np.sum(kargs_prec * kargs_prec * stats.s2))
    return float(np.dot(kargs_const, stats.nk)) - 0.5 * trace - stats.loglik


def lower_bound(gaussian: "CovarianceFamily", priors: VariationalPriors,
                entropy: float, new: VariationalParams) -> float:
    """scikit-learn's lower bound (``_compute_lower_bound``) after the M-step that gave
    ``new``, with ``entropy = sum_i w_i sum_k r_ik log r_ik`` of the E-step before it."""
    d = new.means.shape[1]
    k = new.means.shape[0]
    nu = new.degrees_of_freedom
    ldc = log_det_cholesky(gaussian, new.precisions_cholesky, d) - 0.5 * d * np.log(nu)
    if gaussian.name == "tied":
        log_wishart = k * float(_log_wishart_norm(nu, ldc, d))
    else:
        log_wishart = float(np.sum(_log_wishart_norm(nu, ldc, d)))
    wc = new.weight_concentration
    if wc.ndim == 2:
        log_norm_weight = -float(np.sum(betaln(wc[0], wc[1])))
    else:
        log_norm_weight = float(gammaln(np.sum(wc)) - np.sum(gammaln(wc)))
    return (-entropy - log_wishart - log_norm_weight
            - 0.5 * d * float(np.sum(np.log(new.mean_precision))))


__all__ = ["PRIOR_TYPES", "VariationalParams", "VariationalPriors", "e_step_constants",
           "entropy_sum", "expand_stats", "expected_log_weights", "expected_weights",
           "lower_bound", "variational_m_step", "weight_concentration", "with_pruning"]
