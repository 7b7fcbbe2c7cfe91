"""The Poisson family: independent counts, ``x_d | k ~ Poisson(rates[k, d])``.

A client of the component-family protocol (:mod:`fastem.families.protocol`) on the
linear-exponential pass (:mod:`fastem.kernels.linexp`) with ``T(x) = x`` and the base measure
``h(x) = -sum_d log x_d!``: ``eta = log rates``, ``c = log w - sum_d rates``. M-step:

    rates[k, d] = S_kd / N_k + reg_rate,     S_kd = sum_i w_i r_ik x_id,

weights ``N_k / N`` with the Gaussian's ``10 eps`` floor. Empty-component policy (as the
Gaussian's): a component whose weight sum is at most ``EMPTY_FRACTION`` of the total keeps its
previous rates (at initialisation: the overall mean rates), so no rate is ever NaN.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._slots import run_in_slots
from ..kernels.linexp import (NO_OFFSETS, linexp_e_step, linexp_nan_e_step,
                              linexp_nan_pass_chunk, linexp_pass_chunk, log_factorial_table)
from .linexp_nan import (NanPolicyMixin, add_optional, nan_masks, observed_mass, omitted_stats,
                         scale_optional, validate_with_nan)
from .categorical import _integer_codes_error, kernel_view
from .fill import fill_expected

_FLOOR = 10 * np.finfo(np.float64).eps
_NO_WEIGHTS = np.empty(0)
EMPTY_FRACTION = 1e-12
_LOG_FACTORIAL = log_factorial_table()


@dataclass(frozen=True)
class PoissonParams:
    """Weights (K,) and rates (K, D)."""

    weights: np.ndarray
    means: np.ndarray


@dataclass(frozen=True)
class PoissonKernelArgs:
    """``eta`` (K, D) = log rates and ``const`` (K,) = log w - sum_d rates; ``cd`` (K, D) =
    ``-rates``, each coordinate's share of ``const`` (taken out where it is missing)."""

    eta: np.ndarray
    const: np.ndarray
    cd: Optional[np.ndarray] = None
    nan_policy: str = "raise"


@dataclass(frozen=True)
class PoissonStats:
    """``nk = sum w r`` (K,), ``s1 = sum w r x`` (K, D), plus the totals; ``nmis`` (K, D) =
    ``sum w r`` of rows missing each coordinate (``None``: nothing missing)."""

    nk: np.ndarray
    s1: np.ndarray
    loglik: float = 0.0
    weight_sum: float = 0.0
    n_rows: int = 0
    nmis: Optional[np.ndarray] = None

    def __add__(self, other: "PoissonStats") -> "PoissonStats":
        if not isinstance(other, PoissonStats):
            return NotImplemented
        return PoissonStats(self.nk + other.nk, self.s1 + other.s1, self.loglik + other.loglik,
                            self.weight_sum + other.weight_sum, self.n_rows + other.n_rows,
                            add_optional(self.nmis, other.nmis))

    def scaled(self, factor: float) -> "PoissonStats":
        return PoissonStats(self.nk * factor, self.s1 * factor, self.loglik * factor,
                            self.weight_sum * factor, self.n_rows,
                            scale_optional(self.nmis, factor))


def _weights(w: Optional[np.ndarray]) -> np.ndarray:
    return _NO_WEIGHTS if w is None else np.asarray(w, dtype=np.float64)


def log_factorials(X: np.ndarray) -> np.ndarray:
    """``log x!`` elementwise for non-negative integral ``X`` (table, then ``lgamma``)."""
    x = np.asarray(X, dtype=np.float64)
    small = x < _LOG_FACTORIAL.shape[0]
    out = np.empty_like(x)
    out[small] = _LOG_FACTORIAL[x[small].astype(np.int64)]
    if not small.all():
        out[~small] = [math.lgamma(v + 1.0) for v in x[~small]]
    return out


class PoissonFamily(NanPolicyMixin):
    """Mixture components of independent Poisson counts (``nan_policy``: see
    :mod:`fastem.families.linexp_nan`)."""

    name = "poisson"
    fields = ("weights", "means")

    def __init__(self, nan_policy: str = "raise") -> None:
        if nan_policy != "raise":
            self.nan_policy = self.with_nan_policy(nan_policy).nan_policy

    def kernel_args(self, params: PoissonParams) -> PoissonKernelArgs:
        with np.errstate(divide="ignore"):
            logw = np.log(params.weights)
        return PoissonKernelArgs(np.ascontiguousarray(np.log(params.means), dtype=np.float64),
                                 np.ascontiguousarray(logw - params.means.sum(axis=1)),
                                 np.ascontiguousarray(-params.means, dtype=np.float64),
                                 self.nan_policy)

    def zero_stats(self, kargs: PoissonKernelArgs) -> PoissonStats:
        k, d = kargs.eta.shape
        return PoissonStats(np.zeros(k), np.zeros((k, d)))

    def chunk_stats(self, X, sample_weight, kargs, serial=False) -> PoissonStats:
        masks = None if kargs.nan_policy == "raise" else nan_masks(X)
        if masks is not None:
            if kargs.nan_policy == "omit":
                return omitted_stats(self, X, sample_weight, kargs, masks[0], serial)
            return self._nan_chunk_stats(X, sample_weight, kargs, serial)
        kern = linexp_pass_chunk.serial if serial else linexp_pass_chunk.parallel
        k, d = kargs.eta.shape
        w = _weights(sample_weight)
        Xk = kernel_view(X)

        def run(nk, s1, ll):
            kern(Xk, w, kargs.eta, kargs.const, NO_OFFSETS, _LOG_FACTORIAL, nk, s1,
                 np.empty((nk.shape[0], 0, d)), ll)

        (nk, s1), ll = run_in_slots(run, X.shape[0], ((k,), (k, d)), 2)
        ll = ll.sum(axis=0)
        return PoissonStats(nk, s1, float(ll[0]), float(ll[1]), X.shape[0])

    def _nan_chunk_stats(self, X, sample_weight, kargs, serial=False) -> PoissonStats:
        """The masked pass over a chunk holding NaN (``nan_policy="marginalize"``)."""
        kern = linexp_nan_pass_chunk.serial if serial else linexp_nan_pass_chunk.parallel
        k, d = kargs.eta.shape
        w = _weights(sample_weight)

        def run(nk, s1, nmis, ll):
            kern(X, w, kargs.eta, kargs.const, kargs.cd, NO_OFFSETS, _LOG_FACTORIAL, nk, s1,
                 np.empty((nk.shape[0], 0, d)), nmis, ll)

        (nk, s1, nmis), ll = run_in_slots(run, X.shape[0], ((k,), (k, d), (k, d)), 2)
        ll = ll.sum(axis=0)
        return PoissonStats(nk, s1, float(ll[0]), float(ll[1]), X.shape[0], nmis)

    def resp_stats(self, X, sample_weight, resp, anchor=None, serial=False) -> PoissonStats:
        x = np.asarray(X, dtype=np.float64)
        w = np.ones(x.shape[0]) if sample_weight is None else _weights(sample_weight)
        wr = np.asarray(resp, dtype=np.float64) * w[:, None]
        miss = np.isnan(x)
        if miss.any():
            return PoissonStats(wr.sum(axis=0), wr.T @ np.where(miss, 0.0, x), 0.0,
                                float(w.sum()), x.shape[0], wr.T @ miss.astype(np.float64))
        return PoissonStats(wr.sum(axis=0), wr.T @ x, 0.0, float(w.sum()), x.shape[0])

    def label_stats(self, X, sample_weight, labels, n_components) -> PoissonStats:
        """Statistics of hard labels (one-hot responsibilities) without an (n, K) array."""
        x = np.asarray(X, dtype=np.float64)
        w = np.ones(x.shape[0]) if sample_weight is None else _weights(sample_weight)
        labels = np.asarray(labels, dtype=np.int64)
        s1 = np.stack([np.bincount(labels, weights=w * x[:, d], minlength=n_components)
                       for d in range(x.shape[1])], axis=1)
        nk = np.bincount(labels, weights=w, minlength=n_components)
        return PoissonStats(nk, s1, 0.0, float(w.sum()), x.shape[0])

    def m_step(self, stats: PoissonStats, previous: Optional[PoissonParams] = None, *,
               reg: float, iteration=None, dtype_hint=None) -> PoissonParams:
        """``reg`` is ``reg_rate``: ``rates = S / N_k + reg_rate``; empty components keep
        their previous rates (at initialisation: the overall mean rates)."""
        nk_raw = stats.nk
        total = float(nk_raw.sum())
        if stats.nmis is not None:
            return self._m_step_missing(stats, previous, reg)
        empty = nk_raw <= EMPTY_FRACTION * max(total, 1.0)
        safe = np.where(empty, 1.0, nk_raw)
        rates = stats.s1 / safe[:, None] + reg
        if empty.any():
            if previous is not None:
                rates[empty] = previous.means[empty]
            else:
                rates[empty] = stats.s1.sum(axis=0) / max(total, _FLOOR) + reg
        nk = nk_raw + _FLOOR
        return PoissonParams(nk / nk.sum(), rates)

    def _m_step_missing(self, stats: PoissonStats, previous: Optional[PoissonParams],
                        reg: float) -> PoissonParams:
        """The M-step with missing coordinates: ``rates = S_kd / N_kd + reg_rate`` over the
        mass ``N_kd`` observing coordinate ``d``; a (component, coordinate) observed by no
        mass keeps its previous rate (at initialisation: the coordinate's mean rate)."""
        nobs = observed_mass(stats.nk, stats.nmis)
        total = float(stats.nk.sum())
        empty = nobs <= EMPTY_FRACTION * max(total, 1.0)
        rates = stats.s1 / np.where(empty, 1.0, nobs) + reg
        if empty.any():
            if previous is not None:
                rates[empty] = np.asarray(previous.means)[empty]
            else:
                col = stats.s1.sum(axis=0) / np.maximum(nobs.sum(axis=0), _FLOOR) + reg
                rates[empty] = np.broadcast_to(col, rates.shape)[empty]
        nk = stats.nk + _FLOOR
        return PoissonParams(nk / nk.sum(), rates)

    # ---- initialisation helper --------------------------------------------------------------
    def smoothed(self, params: PoissonParams, eps: float) -> PoissonParams:
        """Rates mixed with weight ``eps`` with the overall mean rates."""
        mean = params.weights @ params.means
        return PoissonParams(params.weights, (1.0 - eps) * params.means + eps * mean[None, :])

    # ---- inference --------------------------------------------------------------------------
    def log_prob_block(self, X: np.ndarray, kargs: PoissonKernelArgs) -> np.ndarray:
        """Weighted log-densities (rows, K) of a block, base measure included."""
        x = np.asarray(X, dtype=np.float64)
        return x @ kargs.eta.T + kargs.const - log_factorials(x).sum(axis=1)[:, None]

    def e_step_outputs(self, X, kargs, *, labels=False, resp=False, serial=False):
        """Per-row ``log p(x)`` (base measure included), optionally labels and
        responsibilities (fused kernel); under "omit"/"marginalize" a row holding NaN uses
        its observed coordinates."""
        if kargs.nan_policy != "raise" and nan_masks(X) is not None:
            return linexp_nan_e_step(X, kargs.eta, kargs.const, kargs.cd,
                                     log_factorial=_LOG_FACTORIAL, labels=labels, resp=resp,
                                     serial=serial)
        return linexp_e_step(X, kargs.eta, kargs.const, log_factorial=_LOG_FACTORIAL,
                             labels=labels, resp=resp, serial=serial)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features + n_components - 1

    def impute_missing(self, X, resp, params: PoissonParams, rng=None) -> np.ndarray:
        """``X`` with each NaN replaced by ``E[x_d | observed] = sum_k r_k lambda_kd`` (or a
        Poisson draw with a generator); see :mod:`fastem.families.fill`."""
        return fill_expected(X, resp, params.means, rng, lambda lam, g: g.poisson(lam))

    def sample(self, params: PoissonParams, n_samples: int, rng: np.random.Generator):
        k = params.weights.shape[0]
        counts = rng.multinomial(n_samples, params.weights / params.weights.sum())
        y = np.repeat(np.arange(k), counts)
        return rng.poisson(params.means[y]).astype(np.int64), y

    def prepare(self, X: np.ndarray) -> np.ndarray:
        """The chunk as the kernel reads it: bool and integer chunks stay as they are (a
        uint16 table is never blown up to float64); float16 becomes float64."""
        X = np.asarray(X)
        if not X.dtype.isnative:
            X = X.astype(X.dtype.newbyteorder("="))
        if X.dtype.kind == "f" and X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        return X

    def validate(self, X: np.ndarray, row_offset: int = 0) -> None:
        """Counts must be non-negative integers (integer dtypes, or integral floats); the
        first other value is an error naming its row (``row_offset`` + its index in ``X``),
        column and value. Under ``nan_policy`` "omit" or "marginalize" NaN marks a missing
        count."""
        validate_with_nan(X, row_offset, self.nan_policy, self._validate_values)

    def _validate_values(self, X: np.ndarray, row_offset: int = 0) -> None:
        msg = _integer_codes_error(X, "PoissonMixture", "counts", row_offset)
        if msg is not None:
            raise ValueError(msg)

    # ---- persistence ---------------------------------------------------------------------
    def spec(self) -> dict:
        """``{"family": "poisson"}`` (``reg_rate`` is the estimator's)."""
        return self._spec_with_policy({"family": "poisson"})

    def params_to_arrays(self, params: PoissonParams) -> dict[str, np.ndarray]:
        """``weights`` (K,) and ``means`` (K, D) = the rates, bit for bit."""
        return {"weights": np.asarray(params.weights), "means": np.asarray(params.means)}

    def params_from_arrays(self, arrays, *, n_components=None,
                           n_features=None) -> PoissonParams:
        """Checked parameters (untrusted input): float arrays of matching shapes, weights
        non-negative summing to 1, rates positive and finite."""
        from .protocol import FieldError
        m = arrays.get("means")
        if not isinstance(m, np.ndarray) or m.ndim != 2:
            raise FieldError("means", f"shape {getattr(m, 'shape', None)}; expected "
                                      "(n_components, n_features)")
        k = m.shape[0] if n_components is None else int(n_components)
        d = m.shape[1] if n_features is None else int(n_features)
        from .fields import check_weights, field_array
        out = {name: field_array(arrays, name, shape)
               for name, shape in (("weights", (k,)), ("means", (k, d)))}
        w = check_weights(out["weights"])
        if not (out["means"] > 0).all():
            raise FieldError("means", "a rate is not positive")
        return PoissonParams(w, out["means"])

    def stats_from_params(self, params: PoissonParams, reg: float) -> PoissonStats:
        """Per-row statistics (weight sum 1) whose M-step with ``reg_rate = reg`` returns
        ``params`` (up to rounding): ``s1 = (rates - reg_rate) N_k``."""
        w = np.asarray(params.weights, dtype=np.float64)
        nk = w / w.sum()
        s1 = np.maximum(params.means - reg, 0.0) * nk[:, None]
        return PoissonStats(nk, s1, 0.0, 1.0, 0)
