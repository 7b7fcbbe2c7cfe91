"""The Bernoulli family: independent 0/1 features, ``P(x_d = 1 | k) = means[k, d]``.

A client of the component-family protocol (:mod:`fastem.families.protocol`) and the worked
example of how a family plugs into the engine: parameters (:class:`BernoulliParams`), additive
statistics (:class:`BernoulliStats`), the kernel arguments of the linear-exponential pass
(``eta = log mu - log(1 - mu)``, ``c = log w + sum_d log(1 - mu)``), and the M-step

    means = (S + alpha) / (N + 2 alpha),   1 - means = (S0 + alpha) / (N + 2 alpha),

with ``S = sum w r x`` and ``S0 = sum w r (1 - x)`` accumulated separately, so rounding never
pushes a probability to 0 or 1 (``log(1 - mu)`` stays finite).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._slots import run_in_slots
from ..kernels.checks import first_nonfinite_row
from ..kernels.linexp import (NO_LOG_FACTORIAL, NO_OFFSETS, linexp_e_step,
                              linexp_nan_e_step, linexp_nan_pass_chunk, linexp_pass_chunk)
from .linexp_nan import (NanPolicyMixin, add_optional, nan_masks, observed_mass, omitted_stats,
                         scale_optional, validate_with_nan)
from .fill import fill_expected

_FLOOR = 10 * np.finfo(np.float64).eps
_NO_WEIGHTS = np.empty(0)


@dataclass(frozen=True)
class BernoulliParams:
    """Weights (K,), means (K, D) = P(x = 1 | k) and complements (K, D) = P(x = 0 | k)."""

    weights: np.ndarray
    means: np.ndarray
    complements: np.ndarray


@dataclass(frozen=True)
class BernoulliKernelArgs:
    """``eta`` (K, D) and ``const`` (K,), float64 and C-contiguous; ``cd`` (K, D) =
    ``log(1 - mu)``, each coordinate's share of ``const`` (taken out where it is missing)."""

    eta: np.ndarray
    const: np.ndarray
    cd: Optional[np.ndarray] = None
    nan_policy: str = "raise"


@dataclass(frozen=True)
class BernoulliStats:
    """``nk = sum w r``, ``s1 = sum w r x``, ``s0 = sum w r (1 - x)`` (observed entries),
    plus the totals; ``nmis`` (K, D) = ``sum w r`` of rows missing each coordinate (``None``:
    nothing missing)."""

    nk: np.ndarray
    s1: np.ndarray
    s0: np.ndarray
    loglik: float = 0.0
    weight_sum: float = 0.0
    n_rows: int = 0
    nmis: Optional[np.ndarray] = None

    def __add__(self, other: "BernoulliStats") -> "BernoulliStats":
        if not isinstance(other, BernoulliStats):
            return NotImplemented
        return BernoulliStats(self.nk + other.nk, self.s1 + other.s1, self.s0 + other.s0,
                              self.loglik + other.loglik, self.weight_sum + other.weight_sum,
                              self.n_rows + other.n_rows, add_optional(self.nmis, other.nmis))

    def scaled(self, factor: float) -> "BernoulliStats":
        return BernoulliStats(self.nk * factor, self.s1 * factor, self.s0 * factor,
                              self.loglik * factor, self.weight_sum * factor, self.n_rows,
                              scale_optional(self.nmis, factor))


def _weights(w: Optional[np.ndarray]) -> np.ndarray:
    return _NO_WEIGHTS if w is None else np.asarray(w, dtype=np.float64)


def _kernel_view(X: np.ndarray) -> np.ndarray:
    return X.view(np.uint8) if X.dtype == np.bool_ else X


class BernoulliFamily(NanPolicyMixin):
    """Mixture components of independent Bernoulli features (``nan_policy``: see
    :mod:`fastem.families.linexp_nan`)."""

    name = "bernoulli"
    fields = ("weights", "means", "complements")

    def __init__(self, nan_policy: str = "raise") -> None:
        if nan_policy != "raise":
            self.nan_policy = self.with_nan_policy(nan_policy).nan_policy

    def kernel_args(self, params: BernoulliParams) -> BernoulliKernelArgs:
        log_mu = np.log(params.means)
        log_cmu = np.log(params.complements)
        with np.errstate(divide="ignore"):
            logw = np.log(params.weights)
        return BernoulliKernelArgs(np.ascontiguousarray(log_mu - log_cmu, dtype=np.float64),
                                   np.ascontiguousarray(logw + log_cmu.sum(axis=1)),
                                   np.ascontiguousarray(log_cmu, dtype=np.float64),
                                   self.nan_policy)

    def zero_stats(self, kargs: BernoulliKernelArgs) -> BernoulliStats:
        k, d = kargs.eta.shape
        return BernoulliStats(np.zeros(k), np.zeros((k, d)), np.zeros((k, d)))

    def chunk_stats(self, X, sample_weight, kargs, serial=False) -> BernoulliStats:
        masks = None if kargs.nan_policy == "raise" else nan_masks(X)
        if masks is not None:
            if kargs.nan_policy == "omit":
                return omitted_stats(self, X, sample_weight, kargs, masks[0], serial)
            return self._nan_chunk_stats(X, sample_weight, kargs, serial)
        kern = linexp_pass_chunk.serial if serial else linexp_pass_chunk.parallel
        k, d = kargs.eta.shape
        w = _weights(sample_weight)
        Xk = _kernel_view(X)

        def run(nk, s1, s0, ll):
            kern(Xk, w, kargs.eta, kargs.const, NO_OFFSETS, NO_LOG_FACTORIAL, nk, s1, s0, ll)

        (nk, s1, s0), ll = run_in_slots(run, X.shape[0], ((k,), (k, d), (k, d)), 2)
        ll = ll.sum(axis=0)
        return BernoulliStats(nk, s1, s0, float(ll[0]), float(ll[1]), X.shape[0])

    def _nan_chunk_stats(self, X, sample_weight, kargs, serial=False) -> BernoulliStats:
        """The masked pass over a chunk holding NaN (``nan_policy="marginalize"``)."""
        kern = linexp_nan_pass_chunk.serial if serial else linexp_nan_pass_chunk.parallel
        k, d = kargs.eta.shape
        w = _weights(sample_weight)

        def run(nk, s1, s0, nmis, ll):
            kern(X, w, kargs.eta, kargs.const, kargs.cd, NO_OFFSETS, NO_LOG_FACTORIAL, nk,
                 s1, s0, nmis, ll)

        (nk, s1, s0, nmis), ll = run_in_slots(run, X.shape[0],
                                              ((k,), (k, d), (k, d), (k, d)), 2)
        ll = ll.sum(axis=0)
        return BernoulliStats(nk, s1, s0, float(ll[0]), float(ll[1]), X.shape[0], nmis)

    def resp_stats(self, X, sample_weight, resp, anchor=None, serial=False) -> BernoulliStats:
        x = np.asarray(X, dtype=np.float64)
        w = np.ones(x.shape[0]) if sample_weight is None else _weights(sample_weight)
        wr = np.asarray(resp, dtype=np.float64) * w[:, None]
        miss = np.isnan(x)
        if miss.any():  # missing coordinates count for neither x nor 1 - x
            obs = (~miss).astype(np.float64)
            x = np.where(miss, 0.0, x)
            return BernoulliStats(wr.sum(axis=0), wr.T @ x, wr.T @ (obs - x), 0.0,
                                  float(w.sum()), x.shape[0], wr.T @ miss.astype(np.float64))
        return BernoulliStats(wr.sum(axis=0), wr.T @ x, wr.T @ (1.0 - x), 0.0,
                              float(w.sum()), x.shape[0])

    def m_step(self, stats: BernoulliStats, previous=None, *, reg: float,
               iteration=None, dtype_hint=None) -> BernoulliParams:
        """``reg`` is the smoothing ``alpha``; weights follow the Gaussian rule
        (``N_k / N`` with the ``10 eps`` floor)."""
        nk = stats.nk + _FLOOR
        if stats.nmis is None:
            denom = (stats.nk + 2.0 * reg)[:, None]
        else:  # each coordinate over the rows observing it
            denom = observed_mass(stats.nk, stats.nmis) + 2.0 * reg
        means = (stats.s1 + reg) / denom
        complements = (stats.s0 + reg) / denom
        return BernoulliParams(nk / nk.sum(), means, complements)

    def e_step_outputs(self, X, kargs, *, labels=False, resp=False, serial=False):
        """Per-row ``log p(x)``, optionally labels and responsibilities (fused kernel); under
        "omit"/"marginalize" a row holding NaN uses its observed coordinates."""
        if kargs.nan_policy != "raise" and nan_masks(X) is not None:
            return linexp_nan_e_step(X, kargs.eta, kargs.const, kargs.cd, labels=labels,
                                     resp=resp, serial=serial)
        return linexp_e_step(X, kargs.eta, kargs.const, labels=labels, resp=resp,
                             serial=serial)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features + n_components - 1

    def impute_missing(self, X, resp, params: BernoulliParams, rng=None) -> np.ndarray:
        """``X`` with each NaN replaced by ``P(x_d = 1 | observed) = sum_k r_k mu_kd`` (or a
        0/1 draw with a generator); see :mod:`fastem.families.fill`."""
        return fill_expected(X, resp, params.means, rng,
                             lambda mu, g: g.uniform(size=mu.shape) < mu)

    def sample(self, params: BernoulliParams, n_samples: int, rng: np.random.Generator):
        k, d = params.means.shape
        counts = rng.multinomial(n_samples, params.weights / params.weights.sum())
        y = np.repeat(np.arange(k), counts)
        X = (rng.uniform(size=(n_samples, d)) < params.means[y]).astype(np.float64)
        return X, y

    def prepare(self, X: np.ndarray) -> np.ndarray:
        """The chunk as the kernel reads it: bool and integer chunks stay as they are (a
        uint8 table is never blown up to float64), float32/float64 too, other floats become
        float64."""
        X = np.asarray(X)
        if not X.dtype.isnative:
            X = X.astype(X.dtype.newbyteorder("="))
        if X.dtype.kind == "f" and X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        return X

    def validate(self, X: np.ndarray, row_offset: int = 0) -> None:
        """Every value must be 0 or 1 (bool or numeric); the first other value (NaN
        included) is an error naming its row (``row_offset`` + its index in ``X``), column
        and value. Under ``nan_policy`` "omit" or "marginalize" NaN marks a missing entry."""
        validate_with_nan(X, row_offset, self.nan_policy, self._validate_values)

    def _validate_values(self, X: np.ndarray, row_offset: int = 0) -> None:
        if X.dtype == np.bool_:
            return
        row = first_nonfinite_row(X) if X.dtype.kind == "f" else -1
        if row >= 0:
            col = int(np.flatnonzero(~np.isfinite(X[row]))[0])
            raise ValueError(f"X contains NaN or inf: row {row + row_offset:,}, column {col} "
                             f"is {float(X[row, col])!r}; BernoulliMixture needs 0/1 values"
                             + (" (NaN marks a missing value under nan_policy='omit' or "
                                "'marginalize')." if np.isnan(X[row, col]) else "."))
        bad = ~((X == 0) | (X == 1))
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"BernoulliMixture needs 0/1 values; row {row + row_offset:,}, "
                             f"column {col} is {X[row, col].item()!r}.")

    # ---- persistence ---------------------------------------------------------------------
    def spec(self) -> dict:
        """``{"family": "bernoulli"}`` (the smoothing ``alpha`` is the estimator's)."""
        return self._spec_with_policy({"family": "bernoulli"})

    def params_to_arrays(self, params: BernoulliParams) -> dict[str, np.ndarray]:
        """``weights`` (K,), ``means`` and ``complements`` (K, D), bit for bit."""
        return {f: np.asarray(getattr(params, f)) for f in self.fields}

    def params_from_arrays(self, arrays, *, n_components=None,
                           n_features=None) -> BernoulliParams:
        """Checked parameters (untrusted input): float arrays of matching shapes, weights
        non-negative summing to 1, every probability strictly inside (0, 1)."""
        from .protocol import FieldError
        m = arrays.get("means")
        if not isinstance(m, np.ndarray) or m.ndim != 2:
            raise FieldError("means", f"shape {getattr(m, 'shape', None)}; expected "
                                      "(n_components, n_features)")
        k = m.shape[0] if n_components is None else int(n_components)
        d = m.shape[1] if n_features is None else int(n_features)
        from .fields import check_weights, field_array
        shapes = (("weights", (k,)), ("means", (k, d)), ("complements", (k, d)))
        out = {name: field_array(arrays, name, shape) for name, shape in shapes}
        w = check_weights(out["weights"])
        for name in ("means", "complements"):
            a = out[name]
            if not ((a > 0) & (a < 1)).all():
                raise FieldError(name, "a probability is not strictly between 0 and 1")
        return BernoulliParams(w, out["means"], out["complements"])

    def stats_from_params(self, params: BernoulliParams, reg: float) -> BernoulliStats:
        """Per-row statistics (weight sum 1) whose M-step with ``alpha = reg`` returns
        ``params`` (up to rounding): ``s1 = mu (N_k + 2 alpha) - alpha``."""
        w = np.asarray(params.weights, dtype=np.float64)
        nk = w / w.sum()
        denom = (nk + 2.0 * reg)[:, None]
        s1 = np.maximum(params.means * denom - reg, 0.0)
        s0 = np.maximum(params.complements * denom - reg, 0.0)
        return BernoulliStats(nk, s1, s0, 0.0, 1.0, 0)
