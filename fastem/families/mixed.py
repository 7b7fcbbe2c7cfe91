"""The mixed-type family: components that are products of independent blocks of columns.

Blocks: ``"gaussian"`` (diagonal covariance), ``"bernoulli"``, ``"categorical"`` and
``"poisson"``. Every one of them is linear-exponential, so the product is too:
log p(x | k) = T(x)·eta_k + c_k + h(x) with T(x) the concatenation of the blocks' statistics

* gaussian columns: ``y = x - s`` and ``y**2`` (``s``: the current mixture mean of those
  columns, fixed for the pass, so the raw moments lose no precision far from the origin);
* bernoulli columns: ``x`` and ``1 - x`` (the complement accumulated separately, as in the
  Bernoulli family);
* poisson columns: ``x`` (and ``h(x) = -sum log x!``);
* categorical columns: the one-hot codes.

One pass of the linear-exponential kernel (:mod:`fastem.kernels.linexp`) over the chunk's
``T(x)`` therefore sums the blocks' log-densities and accumulates every block's statistics at
once. ``T`` is built per chunk (a chunk-sized float64 array; the categorical block is one-hot
there, unlike the categorical family's code path). Each block's M-step is its family's:
gaussian ``mu = s + S1/N``, ``var = S2/N - (S1/N)**2 + reg_covar``; bernoulli
``(S + alpha) / (N + 2 alpha)``; categorical ``(S + alpha) / (N + C alpha)``; poisson
``S / N + reg_rate``. Weights ``N_k / N`` with the 10·eps floor; empty components keep their
previous gaussian and poisson parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .._slots import run_in_slots
from ..kernels.linexp import NO_LOG_FACTORIAL, NO_OFFSETS, linexp_pass_chunk
from . import mixed_nan
from .categorical import linexp_e_step, offsets_of
from .poisson import log_factorials

BLOCKS = ("gaussian", "bernoulli", "categorical", "poisson")
_FLOOR = 10 * np.finfo(np.float64).eps
_EMPTY_FRACTION = 1e-12
_NO_WEIGHTS = np.empty(0)
_LOG_2PI = math.log(2 * math.pi)
DEFAULTS = {"gaussian": {"reg_covar": 1e-6}, "bernoulli": {"alpha": 1e-10},
            "categorical": {"alpha": 1e-10}, "poisson": {"reg_rate": 1e-10}}


@dataclass(frozen=True)
class MixedParams:
    """``weights`` (K,) and ``arrays``: ``"<block>_<field>"`` -> array, e.g.
    ``gaussian_means``, ``gaussian_covariances`` (K, Dg) variances, ``bernoulli_means``,
    ``bernoulli_complements``, ``categorical_probabilities`` (K, sum C), ``poisson_means``."""

    weights: np.ndarray
    arrays: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MixedKernelArgs:
    eta: np.ndarray
    const: np.ndarray
    shift: np.ndarray
    #: (K, width): each column of T(x)'s share of ``const`` (missing values: mixed_nan).
    cd: Optional[np.ndarray] = None
    nan_policy: str = "raise"


@dataclass(frozen=True)
class MixedStats:
    """``nk`` (K,), ``st`` (K, width of T) about ``shift`` (the gaussian columns' shift)."""

    nk: np.ndarray
    st: np.ndarray
    shift: np.ndarray
    loglik: float = 0.0
    weight_sum: float = 0.0
    n_rows: int = 0
    #: (K, width) ``sum w r`` of the rows missing each column of T(x) (``None``: none).
    nmis: Optional[np.ndarray] = None

    def __add__(self, other: "MixedStats") -> "MixedStats":
        if not isinstance(other, MixedStats):
            return NotImplemented
        if not np.array_equal(self.shift, other.shift):
            raise ValueError("MixedStats about different shifts cannot be added.")
        return MixedStats(self.nk + other.nk, self.st + other.st, self.shift,
                          self.loglik + other.loglik, self.weight_sum + other.weight_sum,
                          self.n_rows + other.n_rows,
                          mixed_nan.add_optional(self.nmis, other.nmis))

    def scaled(self, factor: float) -> "MixedStats":
        return MixedStats(self.nk * factor, self.st * factor, self.shift, self.loglik * factor,
                          self.weight_sum * factor, self.n_rows,
                          mixed_nan.scale_optional(self.nmis, factor))


class MixedFamily(mixed_nan.NanPolicyMixin):
    """Products of independent blocks (see the module docstring; missing values:
    :mod:`fastem.families.mixed_nan`).

    Parameters
    ----------
    blocks : list of [name, columns, hyper-parameters]
        In the order of :data:`BLOCKS`; categorical hyper-parameters must hold
        ``n_categories`` (a list, one per column of the block).
    """

    name = "mixed"

    def __init__(self, blocks, nan_policy: str = "raise") -> None:
        if nan_policy != "raise":
            self.nan_policy = self.with_nan_policy(nan_policy).nan_policy
        self.blocks = [(str(b), [int(c) for c in cols], {**DEFAULTS[b], **dict(hp)})
                       for b, cols, hp in blocks]
        self.n_features = 1 + max(c for _, cols, _ in self.blocks for c in cols)
        width = 0
        self._slices = {}
        for b, cols, hp in self.blocks:
            if b == "gaussian":
                n = 2 * len(cols)
            elif b == "bernoulli":
                n = 2 * len(cols)
            elif b == "categorical":      # n_categories None: a chunk checker only
                n = int(sum(hp["n_categories"] or ()))
            else:
                n = len(cols)
            self._slices[b] = slice(width, width + n)
            width += n
        self.width = width
        self.fields = ("weights",) + tuple(self._fields())

    def _fields(self):
        for b, _, _ in self.blocks:
            if b == "gaussian":
                yield from ("gaussian_means", "gaussian_covariances")
            elif b == "bernoulli":
                yield from ("bernoulli_means", "bernoulli_complements")
            elif b == "categorical":
                yield "categorical_probabilities"
            else:
                yield "poisson_means"

    def block(self, name: str):
        for b in self.blocks:
            if b[0] == name:
                return b
        return None

    # ---- T(x) and h(x) of a chunk -----------------------------------------------------------
    def statistic(self, X: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``T(x)`` (rows, width) float64 and ``h(x)`` (rows,) of a chunk."""
        X = np.asarray(X)
        T = np.empty((X.shape[0], self.width))
        h = np.zeros(X.shape[0])
        for b, cols, hp in self.blocks:
            sl = self._slices[b]
            x = np.asarray(X[:, cols], dtype=np.float64)
            if b == "gaussian":
                y = x - shift[None, :]
                T[:, sl.start:sl.start + len(cols)] = y
                T[:, sl.start + len(cols):sl.stop] = y * y
            elif b == "bernoulli":
                T[:, sl.start:sl.start + len(cols)] = x
                T[:, sl.start + len(cols):sl.stop] = 1.0 - x
            elif b == "categorical":
                off = offsets_of(hp["n_categories"])
                block = np.zeros((X.shape[0], sl.stop - sl.start))
                rows = np.arange(X.shape[0])
                for j in range(len(cols)):
                    block[rows, off[j] + x[:, j].astype(np.int64)] = 1.0
                T[:, sl] = block
            else:
                T[:, sl] = x
                h -= log_factorials(x).sum(axis=1)
        return T, h

    # ---- the pass ---------------------------------------------------------------------------
    def kernel_args(self, params: MixedParams) -> MixedKernelArgs:
        k = params.weights.shape[0]
        eta = np.zeros((k, self.width))
        with np.errstate(divide="ignore"):
            const = np.log(params.weights).copy()
        a = params.arrays
        shift = np.zeros(0)
        for b, cols, _ in self.blocks:
            sl = self._slices[b]
            if b == "gaussian":
                mu, var = a["gaussian_means"], a["gaussian_covariances"]
                shift = params.weights @ mu / params.weights.sum()
                m = mu - shift[None, :]
                eta[:, sl.start:sl.start + len(cols)] = m / var
                eta[:, sl.start + len(cols):sl.stop] = -0.5 / var
                const += -0.5 * (np.log(var).sum(axis=1) + len(cols) * _LOG_2PI
                                 + (m * m / var).sum(axis=1))
            elif b == "bernoulli":
                eta[:, sl.start:sl.start + len(cols)] = np.log(a["bernoulli_means"])
                eta[:, sl.start + len(cols):sl.stop] = np.log(a["bernoulli_complements"])
            elif b == "categorical":
                eta[:, sl] = np.log(a["categorical_probabilities"])
            else:
                lam = a["poisson_means"]
                eta[:, sl] = np.log(lam)
                const -= lam.sum(axis=1)
        return MixedKernelArgs(np.ascontiguousarray(eta), np.ascontiguousarray(const), shift,
                               mixed_nan.column_constants(self, params, shift),
                               self.nan_policy)

    def zero_stats(self, kargs: MixedKernelArgs) -> MixedStats:
        k = kargs.eta.shape[0]
        return MixedStats(np.zeros(k), np.zeros((k, self.width)), kargs.shift)

    def chunk_stats(self, X, sample_weight, kargs, serial=False) -> MixedStats:
        if kargs.nan_policy != "raise":
            out = mixed_nan.chunk_stats(self, X, sample_weight, kargs, serial)
            if out is not None:
                return out
        kern = linexp_pass_chunk.serial if serial else linexp_pass_chunk.parallel
        k, m = kargs.eta.shape
        w = _NO_WEIGHTS if sample_weight is None else np.asarray(sample_weight, np.float64)
        T, h = self.statistic(X, kargs.shift)

        def run(nk, st, ll):
            kern(T, w, kargs.eta, kargs.const, NO_OFFSETS, NO_LOG_FACTORIAL, nk, st,
                 np.empty((nk.shape[0], 0, m)), ll)

        (nk, st), ll = run_in_slots(run, X.shape[0], ((k,), (k, m)), 2)
        ll = ll.sum(axis=0)
        hsum = float(h.sum() if sample_weight is None else (w * h).sum())
        return MixedStats(nk, st, kargs.shift, float(ll[0]) + hsum, float(ll[1]), X.shape[0])

    def resp_stats(self, X, sample_weight, resp, anchor=None, serial=False) -> MixedStats:
        g = self.block("gaussian")
        shift = (np.asarray(anchor, dtype=np.float64)[0, g[1]] if g is not None
                 and anchor is not None else np.zeros(len(g[1]) if g else 0))
        T, _ = self.statistic(X, shift)
        w = np.ones(T.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
        wr = np.asarray(resp, dtype=np.float64) * w[:, None]
        return MixedStats(wr.sum(axis=0), wr.T @ T, shift, 0.0, float(w.sum()), T.shape[0])

    def m_step(self, stats: MixedStats, previous: Optional[MixedParams] = None, *, reg=None,
               iteration=None, dtype_hint=None) -> MixedParams:
        """Each block's own M-step (its hyper-parameters are the family's; ``reg`` unused)."""
        if stats.nmis is not None:
            return mixed_nan.m_step(self, stats, previous)
        nk_raw = stats.nk
        total = float(nk_raw.sum())
        empty = nk_raw <= _EMPTY_FRACTION * max(total, 1.0)
        safe = np.where(empty, 1.0, nk_raw)[:, None]
        out = {}
        for b, cols, hp in self.blocks:
            s = stats.st[:, self._slices[b]]
            n = len(cols)
            if b == "gaussian":
                m = s[:, :n] / safe
                var = s[:, n:] / safe - m * m + hp["reg_covar"]
                mu = stats.shift[None, :] + m
                if empty.any():
                    if previous is not None:
                        mu[empty] = previous.arrays["gaussian_means"][empty]
                        var[empty] = previous.arrays["gaussian_covariances"][empty]
                    else:
                        ok = ~empty
                        mu[empty] = (stats.shift + s[ok, :n].sum(0) / max(nk_raw[ok].sum(),
                                                                         _FLOOR))
                        var[empty] = var[ok].mean(axis=0) if ok.any() else 1.0
                out["gaussian_means"], out["gaussian_covariances"] = mu, var
            elif b == "bernoulli":
                a = hp["alpha"]
                denom = (nk_raw + 2.0 * a)[:, None]
                out["bernoulli_means"] = (s[:, :n] + a) / denom
                out["bernoulli_complements"] = (s[:, n:] + a) / denom
            elif b == "categorical":
                a = hp["alpha"]
                c = np.repeat(np.asarray(hp["n_categories"], float), hp["n_categories"])
                out["categorical_probabilities"] = (s + a) / (nk_raw[:, None] + c[None] * a)
            else:
                lam = s / safe + hp["reg_rate"]
                if empty.any():
                    if previous is not None:
                        lam[empty] = previous.arrays["poisson_means"][empty]
                    else:
                        lam[empty] = s.sum(axis=0) / max(total, _FLOOR) + hp["reg_rate"]
                out["poisson_means"] = lam
        nk = nk_raw + _FLOOR
        return MixedParams(nk / nk.sum(), out)

    def smoothed(self, params: MixedParams, eps: float) -> MixedParams:
        """The first M-step's smoothing: probabilities and rates mixed with weight ``eps``
        with the uninformative value (as the single families do); gaussian unchanged."""
        out = dict(params.arrays)
        w = params.weights / params.weights.sum()
        for b, cols, hp in self.blocks:
            if b == "bernoulli":
                p1 = w @ out["bernoulli_means"]
                p0 = w @ out["bernoulli_complements"]
                out["bernoulli_means"] = (1 - eps) * out["bernoulli_means"] + eps * p1
                out["bernoulli_complements"] = ((1 - eps) * out["bernoulli_complements"]
                                                + eps * p0)
            elif b == "categorical":
                c = np.repeat(np.asarray(hp["n_categories"], float), hp["n_categories"])
                out["categorical_probabilities"] = ((1 - eps) * out["categorical_probabilities"]
                                                    + eps / c[None])
            elif b == "poisson":
                out["poisson_means"] = ((1 - eps) * out["poisson_means"]
                                        + eps * (w @ out["poisson_means"])[None])
        return MixedParams(params.weights, out)

    # ---- inference --------------------------------------------------------------------------
    def log_prob_block(self, X: np.ndarray, kargs: MixedKernelArgs) -> np.ndarray:
        T, h = self.statistic(X, kargs.shift)
        return T @ kargs.eta.T + kargs.const + h[:, None]

    def e_step_outputs(self, X, kargs, *, labels=False, resp=False, serial=False):
        if kargs.nan_policy != "raise":
            out = mixed_nan.e_step_outputs(self, X, kargs, labels, resp, serial)
            if out is not None:
                return out
        return linexp_e_step(self.log_prob_block, X, kargs, labels, resp)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        per = 0
        for b, cols, hp in self.blocks:
            per += (2 * len(cols) if b == "gaussian" else
                    sum(c - 1 for c in hp["n_categories"]) if b == "categorical" else len(cols))
        return n_components * per + n_components - 1

    def sample(self, params: MixedParams, n_samples: int, rng: np.random.Generator):
        k = params.weights.shape[0]
        counts = rng.multinomial(n_samples, params.weights / params.weights.sum())
        y = np.repeat(np.arange(k), counts)
        X = np.empty((n_samples, self.n_features))
        a = params.arrays
        for b, cols, hp in self.blocks:
            if b == "gaussian":
                X[:, cols] = (a["gaussian_means"][y] + np.sqrt(a["gaussian_covariances"][y])
                              * rng.standard_normal((n_samples, len(cols))))
            elif b == "bernoulli":
                X[:, cols] = rng.uniform(size=(n_samples, len(cols))) < a["bernoulli_means"][y]
            elif b == "categorical":
                off = offsets_of(hp["n_categories"])
                p = a["categorical_probabilities"]
                for j, col in enumerate(cols):
                    block = p[:, off[j]:off[j + 1]]
                    cdf = np.cumsum(block / block.sum(axis=1, keepdims=True), axis=1)[y]
                    u = rng.uniform(size=n_samples)[:, None]
                    X[:, col] = np.minimum((u > cdf).sum(axis=1), block.shape[1] - 1)
            else:
                X[:, cols] = rng.poisson(a["poisson_means"][y])
        return X, y

    # ---- validation -------------------------------------------------------------------------
    def validate(self, X: np.ndarray, row_offset: int = 0) -> None:
        """The first value outside its block's domain is an error naming its row, column,
        value and block (NaN marks a missing value under ``nan_policy`` "omit" or
        "marginalize"; inf never)."""
        mixed_nan.validate_with_nan(np.asarray(X), row_offset, self.nan_policy,
                                    self._validate_values)

    def _validate_values(self, X: np.ndarray, row_offset: int = 0) -> None:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            return          # the estimator names the mismatch of the number of features
        bad = np.zeros(X.shape, dtype=bool)
        why = {}
        with np.errstate(invalid="ignore"):
            for b, cols, hp in self.blocks:
                x = np.asarray(X[:, cols], dtype=np.float64)
                if b == "gaussian":
                    m = ~np.isfinite(x)
                    why[b] = "finite values (no NaN or inf)"
                elif b == "bernoulli":
                    m = ~((x == 0) | (x == 1))
                    why[b] = "0/1 values"
                else:
                    m = ~np.isfinite(x) | (x < 0) | (x != np.floor(x))
                    why[b] = "non-negative integer " + ("codes" if b == "categorical"
                                                        else "counts")
                    if b == "categorical" and hp["n_categories"] is not None:
                        m |= x >= np.asarray(hp["n_categories"])[None, :]
                        why[b] += " below n_categories"
                bad[:, cols] |= m
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            b = next(name for name, cols, _ in self.blocks if col in cols)
            raise ValueError(f"MixedTypeMixture: row {row + row_offset:,}, column {col} (a "
                             f"{b} column) is {X[row, col].item()!r}; {b} columns need "
                             f"{why[b]}.")

    def prepare(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            X = X.astype(np.float64)
        return X

    # ---- persistence ------------------------------------------------------------------------
    def spec(self) -> dict:
        return self._spec_with_policy(
            {"family": "mixed",
             "blocks": [[b, list(cols), dict(hp)] for b, cols, hp in self.blocks]})

    def params_to_arrays(self, params: MixedParams) -> dict:
        return {"weights": np.asarray(params.weights), **params.arrays}

    def params_from_arrays(self, arrays, *, n_components=None, n_features=None) -> MixedParams:
        from .protocol import FieldError
        w = arrays.get("weights")
        if not isinstance(w, np.ndarray) or w.ndim != 1 or not np.isfinite(w).all() \
                or (w < 0).any() or abs(w.sum() - 1.0) > 1e-6:
            raise FieldError("weights", "expected non-negative finite weights summing to 1")
        out = {}
        for name in self.fields[1:]:
            a = arrays.get(name)
            if not isinstance(a, np.ndarray) or a.ndim != 2 or a.shape[0] != w.shape[0] \
                    or not np.isfinite(a).all():
                raise FieldError(name, "expected a finite (n_components, ...) array")
            if name != "gaussian_means" and not (a > 0).all():
                raise FieldError(name, "a probability, rate or variance is not positive")
            out[name] = np.ascontiguousarray(a, dtype=np.float64)
        return MixedParams(np.ascontiguousarray(w, dtype=np.float64), out)
