"""The variational Gaussian family: variational Bayes on the Gaussian fused pass.

A client of the component-family protocol (:mod:`fastem.families.protocol`). Its E-step *is*
the Gaussian kernel: the expected log-density under the variational posterior is a Gaussian
log-density under the expected precision ``nu_k W_k`` plus a per-component constant (the
expected log weight, half the expected log-determinant, ``-D / (2 beta_k)``), which the
kernel already takes (``KernelArgs.const``). Its statistics are the Gaussian
:class:`~fastem.stats.SuffStats`; only the M-step (:mod:`.variational_mstep`) and the lower
bound differ. So a variational iteration costs what an EM iteration costs.

With ``prune_threshold``, components whose share of the responsibilities (``N_k / N``, their
expected weight without the prior's pseudo-counts) falls below it are left out of the kernel's
arguments from the next pass on (they cost nothing); the M-step sees them with
zero statistics, so they keep the prior's posterior and stay in the stick-breaking or
Dirichlet normalisation exactly as an empty component would.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..stats import SuffStats
from .base import CovarianceFamily
from .params import GaussianParams, KernelArgs
from .variational_mstep import (VariationalParams, VariationalPriors, e_step_constants,
                                entropy_sum, expand_stats, lower_bound, variational_m_step,
                                with_pruning)


class VariationalGaussianFamily:
    """Variational Bayesian Gaussian components of one covariance type, with fixed priors.

    Parameters
    ----------
    gaussian : CovarianceFamily
        The covariance type (its kernels, layouts and statistics are used unchanged).
    priors : VariationalPriors
        The effective priors (they depend on the data, so a family belongs to one fit).
    prune_threshold : float, optional
        Share of the responsibilities (``N_k / N``) below which a component leaves the passes.
    nan_policy : {"raise", "omit", "marginalize"}, optional
        Missing values (default: ``gaussian``'s policy), handled by the Gaussian pass
        (:mod:`fastem.families.missing`).
        Under ``"marginalize"`` this is structured variational Bayes, ``q(z, x_mis) q(theta)``:
        the variational posterior of a row's missing block given its component is the
        Gaussian conditional under the expected precision ``nu_k W_k``, so the pass, its
        statistics (the conditional mean filled in, the conditional covariance added to the
        scatter) and the lower bound's entropy term (which then includes the entropy of
        ``q(x_mis | z)``; see :func:`.entropy_sum`) are those of EM with missing values.
    """

    #: The parameter arrays checkpoints and model files save, in order (``weights`` are the
    #: expected weights, derived from ``weight_concentration``; ``active`` is 1.0 for the
    #: components the next pass computes, see ``prune_threshold``).
    fields = ("weights", "weight_concentration", "mean_precision", "means",
              "degrees_of_freedom", "covariances", "precisions_cholesky", "active")
    #: The name this family is registered under (:mod:`fastem.families.registry`).
    registered_name = "bayesian_gaussian"

    def __init__(self, gaussian: CovarianceFamily, priors: VariationalPriors,
                 prune_threshold: Optional[float] = None,
                 nan_policy: Optional[str] = None) -> None:
        from .missing import NAN_POLICIES
        if nan_policy is None:
            nan_policy = gaussian.nan_policy
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES!r}; got {nan_policy!r}.")
        self.gaussian = gaussian.with_nan_policy(nan_policy)
        self.priors = priors
        self.prune_threshold = prune_threshold
        self.nan_policy = nan_policy
        self.name = f"bayesian-{gaussian.name}"
        self.square = gaussian.square

    # ---- the kernel's view ------------------------------------------------------------
    def kernel_args(self, params: VariationalParams) -> KernelArgs:
        """Means, expected-precision factor and the variational constants of the active
        components (see :mod:`fastem.families.variational_mstep`)."""
        k, d = params.means.shape
        base = self.gaussian.kernel_args(GaussianParams(
            np.ones(k), params.means, params.covariances, params.precisions_cholesky))
        const = base.const + e_step_constants(params, d)
        active = params.active
        if active is None or active.all():
            return KernelArgs(base.means, base.prec, np.ascontiguousarray(const),
                              base.nan_policy)
        prec = base.prec if self.gaussian.name == "tied" else base.prec[active]
        return KernelArgs(np.ascontiguousarray(base.means[active]), np.ascontiguousarray(prec),
                          np.ascontiguousarray(const[active]), base.nan_policy)

    def scatter_shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """The Gaussian scatter layout of the covariance type."""
        return self.gaussian.scatter_shape(n_components, n_features)

    def zero_stats(self, kargs: KernelArgs) -> SuffStats:
        """Empty statistics about ``kargs.means``."""
        return self.gaussian.zero_stats(kargs)

    def chunk_stats(self, X: np.ndarray, sample_weight: Optional[np.ndarray],
                    kargs: KernelArgs, serial: bool = False) -> SuffStats:
        """The Gaussian fused pass over one block under the variational kernel arguments."""
        return self.gaussian.chunk_stats(X, sample_weight, kargs, serial=serial)

    def resp_stats(self, X: np.ndarray, sample_weight: Optional[np.ndarray],
                   resp: np.ndarray, anchor: np.ndarray, serial: bool = False) -> SuffStats:
        """Statistics under given responsibilities (initialisation)."""
        return self.gaussian.resp_stats(X, sample_weight, resp, anchor, serial=serial)

    def e_step_outputs(self, X: np.ndarray, kargs: KernelArgs, *, labels: bool = False,
                       resp: bool = False, serial: bool = False) -> tuple:
        """Per-row ``log sum_k rho_ik``, labels and responsibilities (scikit-learn's
        ``score_samples``, ``predict`` and ``predict_proba`` of a Bayesian mixture)."""
        return self.gaussian.e_step_outputs(X, kargs, labels=labels, resp=resp, serial=serial)

    # ---- M-step and bound ---------------------------------------------------------------
    def m_step(self, stats: SuffStats, previous: Optional[VariationalParams] = None, *,
               reg: float, iteration: Optional[int] = None,
               dtype_hint: Optional[np.dtype] = None) -> VariationalParams:
        """The variational update from the statistics of a pass under ``previous`` (or of
        the initial responsibilities when ``previous`` is ``None``); ``reg = reg_covar``."""
        if previous is not None:
            stats = expand_stats(stats, previous.active, previous.means,
                                 pooled=self.gaussian.name == "tied")
        new = variational_m_step(self.gaussian, self.priors, stats, reg, iteration=iteration,
                                 dtype_hint=dtype_hint)
        return with_pruning(new, previous, self.prune_threshold, stats.nk)

    def lower_bound(self, stats: SuffStats, new_params: VariationalParams,
                    old_params: VariationalParams) -> float:
        """scikit-learn's lower bound after the M-step: the entropy of the E-step under
        ``old_params`` (from ``stats``) and the posterior terms of ``new_params``."""
        kargs = self.kernel_args(old_params)
        ent = entropy_sum(kargs.prec, kargs.const, stats, self.square)
        return lower_bound(self.gaussian, self.priors, ent, new_params)

    # ---- the rest of the protocol -------------------------------------------------------
    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the Gaussian mixture of the same shape."""
        return self.gaussian.n_parameters(n_components, n_features)

    def sample(self, params: VariationalParams, n_samples: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draws from the point estimate (expected weights, normalised covariances), as
        scikit-learn's ``sample``."""
        return self.gaussian.sample(params.gaussian(), n_samples, rng)

    def prepare(self, X: np.ndarray) -> np.ndarray:
        """float32 and float64 blocks as they are (native byte order); any other numeric
        or boolean block as float64, the dtypes the Gaussian kernels read."""
        X = np.asarray(X)
        if X.dtype in (np.float32, np.float64):
            return X if X.dtype.isnative else X.astype(X.dtype.newbyteorder("="))
        return X.astype(np.float64)

    def validate(self, X: np.ndarray, row_offset: int = 0) -> None:
        """Any finite value (see :meth:`CovarianceFamily.validate`), and NaN unless
        ``nan_policy`` is "raise" (inf is always an error naming its row and column)."""
        from .linexp_nan import validate_with_nan
        validate_with_nan(np.asarray(X), row_offset, self.nan_policy, self.gaussian.validate)

    # ---- persistence ----------------------------------------------------------------------
    def spec(self) -> dict:
        """``{"family": "bayesian_gaussian", "covariance_type": ..., **priors,
        "prune_threshold": ...}`` and ``nan_policy`` unless "raise" (JSON-able; the priors
        are part of the family)."""
        p = self.priors
        cov0 = p.covariance_prior
        return {"family": self.registered_name, "covariance_type": self.gaussian.name,
                "weight_concentration_prior_type": p.weight_concentration_prior_type,
                "weight_concentration_prior": float(p.weight_concentration_prior),
                "mean_precision_prior": float(p.mean_precision_prior),
                "mean_prior": np.asarray(p.mean_prior, dtype=np.float64).tolist(),
                "degrees_of_freedom_prior": float(p.degrees_of_freedom_prior),
                "covariance_prior": (float(cov0) if np.ndim(cov0) == 0
                                     else np.asarray(cov0, dtype=np.float64).tolist()),
                "prune_threshold": (None if self.prune_threshold is None
                                    else float(self.prune_threshold)),
                **({"nan_policy": self.nan_policy} if self.nan_policy != "raise" else {})}

    def params_to_arrays(self, params: VariationalParams) -> dict[str, np.ndarray]:
        """The posterior's arrays keyed by :attr:`fields`."""
        k = params.means.shape[0]
        active = np.ones(k) if params.active is None else params.active.astype(np.float64)
        return {"weights": np.asarray(params.weights),
                "weight_concentration": np.asarray(params.weight_concentration),
                "mean_precision": np.asarray(params.mean_precision),
                "means": np.asarray(params.means),
                "degrees_of_freedom": np.asarray(params.degrees_of_freedom, dtype=np.float64),
                "covariances": np.asarray(params.covariances),
                "precisions_cholesky": np.asarray(params.precisions_cholesky),
                "active": active}

    def params_from_arrays(self, arrays, *, n_components: Optional[int] = None,
                           n_features: Optional[int] = None) -> VariationalParams:
        """A checked posterior from arrays keyed by :attr:`fields` (untrusted input).

        Raises
        ------
        FieldError
            Naming the array that is missing, not float, of the wrong shape, non-finite or
            out of range (non-positive concentrations, precisions or degrees of freedom).
        """
        from .fields import field_array as _field_array
        from .protocol import FieldError
        gauss = self.gaussian.params_from_arrays(
            {"weights": arrays.get("weights"), "means": arrays.get("means"),
             "covariances": arrays.get("covariances"),
             "precisions_cholesky": arrays.get("precisions_cholesky")},
            n_components=n_components, n_features=n_features)
        k = gauss.means.shape[0]
        dp = self.priors.weight_concentration_prior_type == "dirichlet_process"
        wc = _field_array(arrays, "weight_concentration", (2, k) if dp else (k,))
        beta = _field_array(arrays, "mean_precision", (k,))
        nu = _field_array(arrays, "degrees_of_freedom",
                          () if self.gaussian.name == "tied" else (k,))
        active = _field_array(arrays, "active", (k,))
        for name, a in (("weight_concentration", wc), ("mean_precision", beta),
                        ("degrees_of_freedom", nu)):
            if not (a > 0).all():
                raise FieldError(name, "holds a non-positive value")
        if not np.isin(active, (0.0, 1.0)).all() or not active.any():
            raise FieldError("active", "must hold 0.0 or 1.0, with at least one 1.0")
        if not (nu > gauss.means.shape[1] - 1).all():
            raise FieldError("degrees_of_freedom", "must exceed n_features - 1")
        mask = None if active.all() else active.astype(bool)
        return VariationalParams(wc, beta, gauss.means, nu, gauss.covariances,
                                 gauss.precisions_cholesky, mask)

    def with_nan_policy(self, nan_policy: str) -> "VariationalGaussianFamily":
        """This family with another ``nan_policy``."""
        if nan_policy == self.nan_policy:
            return self
        return VariationalGaussianFamily(self.gaussian, self.priors, self.prune_threshold,
                                         nan_policy)

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        """Expected precisions from their Cholesky factors."""
        return self.gaussian.precisions(prec_chol)

    def __repr__(self) -> str:
        return f"<VariationalGaussianFamily {self.gaussian.name!r}>"


def make_variational_family(covariance_type: str = "full",
                            weight_concentration_prior_type: str = "dirichlet_process",
                            weight_concentration_prior: float = 1.0,
                            mean_precision_prior: float = 1.0, mean_prior=(0.0,),
                            degrees_of_freedom_prior: float = 1.0, covariance_prior=1.0,
                            prune_threshold: Optional[float] = None,
                            nan_policy: str = "raise") -> VariationalGaussianFamily:
    """The family of a :meth:`VariationalGaussianFamily.spec` (the registry's factory)."""
    from . import get_family
    from .variational_mstep import PRIOR_TYPES
    if weight_concentration_prior_type not in PRIOR_TYPES:
        raise ValueError(f"weight_concentration_prior_type must be one of {PRIOR_TYPES!r}; "
                         f"got {weight_concentration_prior_type!r}.")
    cov0 = (float(covariance_prior) if np.ndim(covariance_prior) == 0
            else np.asarray(covariance_prior, dtype=np.float64))
    priors = VariationalPriors(weight_concentration_prior_type,
                               float(weight_concentration_prior), float(mean_precision_prior),
                               np.asarray(mean_prior, dtype=np.float64),
                               float(degrees_of_freedom_prior), cov0)
    return VariationalGaussianFamily(get_family(covariance_type), priors,
                                     None if prune_threshold is None
                                     else float(prune_threshold), nan_policy)


def effective_n_components(weights: np.ndarray, threshold: float = 1e-3) -> int:
    """Components whose expected weight is at least ``threshold`` (the ones the data use)."""
    return int(np.count_nonzero(np.asarray(weights) >= threshold))

def _register() -> None:
    from .registry import register
    register(VariationalGaussianFamily.registered_name, make_variational_family)


_register()

__all__ = ["VariationalGaussianFamily", "effective_n_components", "make_variational_family"]
