"""The categorical family: independent integer codes, ``P(x_d = c | k) = P_d[k, c]``.

A client of the component-family protocol (:mod:`fastem.families.protocol`) on the
linear-exponential pass (:mod:`fastem.kernels.linexp`) with one-hot codes as ``T(x)``:
column ``d``'s code ``c`` is column ``offsets[d] + c`` of the flat ``(K, sum_d C_d)``
parameter and statistic arrays, and the kernel gathers / scatter-adds those columns row by row
(no one-hot matrix). Kernel arguments: ``eta = log P``, ``c = log w``. M-step:

    P_d[k, c] = (sum_i w_i r_ik [x_id = c] + alpha) / (N_k + C_d alpha),

weights ``N_k / N`` with the Gaussian's ``10 eps`` floor. ``alpha > 0`` keeps every
probability positive, so an empty component gets uniform probabilities (never NaN).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .._slots import run_in_slots
from ..kernels.linexp import NO_LOG_FACTORIAL, linexp_nan_e_step, linexp_nan_pass_chunk
from ..kernels.linexp import linexp_pass_chunk
from ..kernels.linexp import linexp_e_step as linexp_e_step_kernel
from .linexp_nan import (NanPolicyMixin, add_optional, nan_masks, observed_mass, omitted_stats,
                         scale_optional, validate_with_nan)
from .fill import fill_codes

_FLOOR = 10 * np.finfo(np.float64).eps
_NO_WEIGHTS = np.empty(0)
#: Rows per NumPy block in inference and hard-label passes (bounds the (rows, K) scratch).
BLOCK_ROWS = 16384


@dataclass(frozen=True)
class CategoricalParams:
    """Weights (K,) and the flat probabilities (K, sum C_d); column ``d`` is the slice
    ``offsets[d] : offsets[d + 1]``."""

    weights: np.ndarray
    probabilities: np.ndarray
    offsets: np.ndarray

    def per_column(self) -> list[np.ndarray]:
        """The probabilities as a list of D arrays of shape (K, C_d) (views)."""
        o = self.offsets
        return [self.probabilities[:, o[d]:o[d + 1]] for d in range(len(o) - 1)]


@dataclass(frozen=True)
class CategoricalKernelArgs:
    """``eta`` (K, M) = log P, ``const`` (K,) = log w, ``offsets`` (D + 1,) int64."""

    eta: np.ndarray
    const: np.ndarray
    offsets: np.ndarray
    nan_policy: str = "raise"


@dataclass(frozen=True)
class CategoricalStats:
    """``nk = sum w r`` (K,), ``counts = sum w r [x_d = c]`` (K, M), plus the totals."""

    nk: np.ndarray
    counts: np.ndarray
    loglik: float = 0.0
    weight_sum: float = 0.0
    n_rows: int = 0
    #: (K, D) ``sum w r`` of the rows missing each column (``None``: nothing missing).
    nmis: Optional[np.ndarray] = None

    def __add__(self, other: "CategoricalStats") -> "CategoricalStats":
        if not isinstance(other, CategoricalStats):
            return NotImplemented
        return CategoricalStats(self.nk + other.nk, self.counts + other.counts,
                                self.loglik + other.loglik,
                                self.weight_sum + other.weight_sum,
                                self.n_rows + other.n_rows,
                                add_optional(self.nmis, other.nmis))

    def scaled(self, factor: float) -> "CategoricalStats":
        return CategoricalStats(self.nk * factor, self.counts * factor,
                                self.loglik * factor, self.weight_sum * factor, self.n_rows,
                                scale_optional(self.nmis, factor))


def offsets_of(n_categories: Sequence[int]) -> np.ndarray:
    """Column offsets ``[0, C_0, C_0 + C_1, ...]`` (int64) of per-column category counts."""
    return np.concatenate([[0], np.cumsum(np.asarray(n_categories, dtype=np.int64))]
                          ).astype(np.int64)


def kernel_view(X: np.ndarray) -> np.ndarray:
    """``X`` as the kernel reads it: bool as uint8, everything else as is (no copy)."""
    return X.view(np.uint8) if X.dtype == np.bool_ else X


def _weights(w: Optional[np.ndarray]) -> np.ndarray:
    return _NO_WEIGHTS if w is None else np.asarray(w, dtype=np.float64)


def first_bad(bad: np.ndarray) -> tuple[int, int]:
    """Row and column of the first ``True`` of a boolean (n, d) array, in row order."""
    row, col = (int(i) for i in np.argwhere(bad)[0])
    return row, col


def _integer_codes_error(X: np.ndarray, who: str, what: str,
                         row_offset: int = 0) -> Optional[str]:
    """Message for the first negative, non-integral, NaN or infinite value, or ``None``."""
    if X.dtype == np.bool_:
        return None
    if np.issubdtype(X.dtype, np.unsignedinteger):
        return None
    if np.issubdtype(X.dtype, np.integer):
        bad = X < 0
    else:
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(X) | (X < 0) | (X != np.floor(X))
    if bad.any():
        row, col = first_bad(bad)
        value = X[row, col].item()
        note = "" if np.isfinite(value) else " (NaN and inf are not " + what + ")"
        if isinstance(value, float) and np.isnan(value):
            note = (" (NaN is not one of the " + what + "; it marks a missing value under "
                    "nan_policy='omit' or 'marginalize')")
        return (f"{who} needs non-negative integer {what}; row {row + row_offset:,}, column "
                f"{col} is {value!r}{note}.")
    return None


class CategoricalFamily(NanPolicyMixin):
    """Mixture components of independent categorical features.

    Parameters
    ----------
    n_categories : sequence of int
        ``C_d`` for every column; codes of column ``d`` are ``0 .. C_d - 1``.
    nan_policy : {"raise", "omit", "marginalize"}, default="raise"
        NaN (in float input) marks a missing code (:mod:`fastem.families.linexp_nan`).
    """

    name = "categorical"
    fields = ("weights", "probabilities")

    def __init__(self, n_categories: Optional[Sequence[int]] = None, *,
                 fitted: bool = True, nan_policy: str = "raise") -> None:
        if nan_policy != "raise":
            self.nan_policy = self.with_nan_policy(nan_policy).nan_policy
        # ``None`` (or one int for every column) makes a chunk checker only: it validates
        # codes (and their range) but cannot run a pass.
        self.fitted = fitted
        if n_categories is None or isinstance(n_categories, (int, np.integer)):
            self.n_categories = None if n_categories is None else int(n_categories)
            return
        self.n_categories = tuple(int(c) for c in n_categories)
        self.offsets = offsets_of(self.n_categories)
        # C_d repeated over column d's codes: the M-step's per-column denominator.
        self._c_per_code = np.repeat(np.asarray(self.n_categories, dtype=np.float64),
                                     self.n_categories)

    # ---- the pass ---------------------------------------------------------------------------
    def kernel_args(self, params: CategoricalParams) -> CategoricalKernelArgs:
        with np.errstate(divide="ignore"):
            logw = np.log(params.weights)
        return CategoricalKernelArgs(
            np.ascontiguousarray(np.log(params.probabilities), dtype=np.float64),
            np.ascontiguousarray(logw, dtype=np.float64), self.offsets, self.nan_policy)

    def zero_stats(self, kargs: CategoricalKernelArgs) -> CategoricalStats:
        k, m = kargs.eta.shape
        return CategoricalStats(np.zeros(k), np.zeros((k, m)))

    def chunk_stats(self, X, sample_weight, kargs, serial=False) -> CategoricalStats:
        masks = None if kargs.nan_policy == "raise" else nan_masks(X)
        if masks is not None:
            if kargs.nan_policy == "omit":
                return omitted_stats(self, X, sample_weight, kargs, masks[0], serial)
            return self._nan_chunk_stats(X, sample_weight, kargs, serial)
        kern = linexp_pass_chunk.serial if serial else linexp_pass_chunk.parallel
        k, m = kargs.eta.shape
        w = _weights(sample_weight)
        Xk = kernel_view(X)

        def run(nk, counts, ll):
            kern(Xk, w, kargs.eta, kargs.const, kargs.offsets, NO_LOG_FACTORIAL, nk, counts,
                 np.empty((nk.shape[0], 0, m)), ll)

        (nk, counts), ll = run_in_slots(run, X.shape[0], ((k,), (k, m)), 2)
        ll = ll.sum(axis=0)
        return CategoricalStats(nk, counts, float(ll[0]), float(ll[1]), X.shape[0])

    def _nan_chunk_stats(self, X, sample_weight, kargs, serial=False) -> CategoricalStats:
        """The masked pass over a chunk holding NaN (``nan_policy="marginalize"``)."""
        kern = linexp_nan_pass_chunk.serial if serial else linexp_nan_pass_chunk.parallel
        k, m = kargs.eta.shape
        d = X.shape[1]
        w = _weights(sample_weight)
        no_cd = np.empty((k, 0))

        def run(nk, counts, nmis, ll):
            kern(X, w, kargs.eta, kargs.const, no_cd, kargs.offsets, NO_LOG_FACTORIAL, nk,
                 counts, np.empty((nk.shape[0], 0, m)), nmis, ll)

        (nk, counts, nmis), ll = run_in_slots(run, X.shape[0], ((k,), (k, m), (k, d)), 2)
        ll = ll.sum(axis=0)
        return CategoricalStats(nk, counts, float(ll[0]), float(ll[1]), X.shape[0], nmis)

    def resp_stats(self, X, sample_weight, resp, anchor=None, serial=False
                   ) -> CategoricalStats:
        resp = np.asarray(resp, dtype=np.float64)
        w = np.ones(X.shape[0]) if sample_weight is None else _weights(sample_weight)
        wr = resp * w[:, None]
        k = resp.shape[1]
        counts = np.zeros((k, int(self.offsets[-1])))
        codes = np.asarray(X).astype(np.int64)
        for d, c in enumerate(self.n_categories):
            o = self.offsets[d]
            for j in range(k):
                counts[j, o:o + c] = np.bincount(codes[:, d], weights=wr[:, j], minlength=c)
        return CategoricalStats(wr.sum(axis=0), counts, 0.0, float(w.sum()), X.shape[0])

    def label_stats(self, X, sample_weight, labels, n_components) -> CategoricalStats:
        """Statistics of hard labels (one-hot responsibilities) without an (n, K) array."""
        w = np.ones(X.shape[0]) if sample_weight is None else _weights(sample_weight)
        m = int(self.offsets[-1])
        labels = np.asarray(labels, dtype=np.int64)
        codes = np.asarray(X).astype(np.int64)
        counts = np.zeros(n_components * m)
        for d in range(len(self.n_categories)):
            counts += np.bincount(labels * m + self.offsets[d] + codes[:, d], weights=w,
                                  minlength=n_components * m)
        nk = np.bincount(labels, weights=w, minlength=n_components)
        return CategoricalStats(nk, counts.reshape(n_components, m), 0.0, float(w.sum()),
                                X.shape[0])

    def m_step(self, stats: CategoricalStats, previous=None, *, reg: float,
               iteration=None, dtype_hint=None) -> CategoricalParams:
        """``reg`` is the smoothing ``alpha``: ``(counts + alpha) / (N_k + C_d alpha)``."""
        if stats.nmis is None:
            denom = stats.nk[:, None] + self._c_per_code[None, :] * reg
        else:  # each column over the rows observing it
            nobs = np.repeat(observed_mass(stats.nk, stats.nmis), self.n_categories, axis=1)
            denom = nobs + self._c_per_code[None, :] * reg
        probabilities = (stats.counts + reg) / denom
        nk = stats.nk + _FLOOR
        return CategoricalParams(nk / nk.sum(), probabilities, self.offsets)

    # ---- initialisation helper --------------------------------------------------------------
    def smoothed(self, params: CategoricalParams, eps: float) -> CategoricalParams:
        """Probabilities mixed with weight ``eps`` with the uniform ``1 / C_d``."""
        p = (1.0 - eps) * params.probabilities + eps / self._c_per_code[None, :]
        return CategoricalParams(params.weights, p, self.offsets)

    # ---- inference --------------------------------------------------------------------------
    def log_prob_block(self, X: np.ndarray, kargs: CategoricalKernelArgs) -> np.ndarray:
        """Weighted log-densities (rows, K) of a block (NumPy gathers)."""
        codes = np.asarray(X).astype(np.int64)
        logp = np.broadcast_to(kargs.const, (X.shape[0], kargs.const.shape[0])).copy()
        for d in range(codes.shape[1]):
            logp += kargs.eta[:, kargs.offsets[d] + codes[:, d]].T
        return logp

    def e_step_outputs(self, X, kargs, *, labels=False, resp=False, serial=False):
        """Per-row ``log p(x)``, optionally labels and responsibilities (fused kernel;
        codes must have been checked against the fitted range); under "omit"/"marginalize"
        a row holding NaN uses its observed columns."""
        if kargs.nan_policy != "raise" and nan_masks(X) is not None:
            return linexp_nan_e_step(X, kargs.eta, kargs.const, np.empty((kargs.eta.shape[0], 0)),
                                     offsets=kargs.offsets, labels=labels, resp=resp,
                                     serial=serial)
        return linexp_e_step_kernel(X, kargs.eta, kargs.const, offsets=kargs.offsets,
                                    labels=labels, resp=resp, serial=serial)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * sum(c - 1 for c in self.n_categories) + n_components - 1

    def impute_missing(self, X, resp, params: CategoricalParams, rng=None) -> np.ndarray:
        """``X`` with each missing code replaced by the most probable code given the row's
        observed codes (or a draw with a generator); see :mod:`fastem.families.fill`."""
        return fill_codes(X, resp, params.per_column(), rng)

    def sample(self, params: CategoricalParams, n_samples: int, rng: np.random.Generator):
        k = params.weights.shape[0]
        counts = rng.multinomial(n_samples, params.weights / params.weights.sum())
        y = np.repeat(np.arange(k), counts)
        X = np.empty((n_samples, len(self.n_categories)), dtype=np.int64)
        for d, p in enumerate(params.per_column()):
            cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)[y]
            u = rng.uniform(size=n_samples)[:, None]
            X[:, d] = np.minimum((u > cdf).sum(axis=1), p.shape[1] - 1)
        return X, y

    # ---- validation ---------------------------------------------------------------------
    def prepare(self, X: np.ndarray) -> np.ndarray:
        """The chunk as the kernel reads it: bool and integer chunks stay as they are (a
        uint8 table is never blown up to float64); float16 becomes float64."""
        X = np.asarray(X)
        if not X.dtype.isnative:
            X = X.astype(X.dtype.newbyteorder("="))
        if X.dtype.kind == "f" and X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        return X

    def validate(self, X: np.ndarray, row_offset: int = 0) -> None:
        """Codes must be non-negative integers below ``C_d``; the first bad value is an error
        naming its row (``row_offset`` + its index in ``X``), column and value. Under
        ``nan_policy`` "omit" or "marginalize" NaN marks a missing code."""
        validate_with_nan(X, row_offset, self.nan_policy, self._validate_values)

    def _validate_values(self, X: np.ndarray, row_offset: int = 0) -> None:
        msg = _integer_codes_error(X, "CategoricalMixture", "codes", row_offset)
        if msg is not None:
            raise ValueError(msg)
        if self.n_categories is not None:
            limit = (self.n_categories if not isinstance(self.n_categories, int)
                     else [self.n_categories] * X.shape[1])
            if len(limit) != X.shape[1]:
                return      # the estimator names the mismatch of n_categories and X
            check_code_range(X, limit, fitted=self.fitted, row_offset=row_offset)

    # ---- persistence ---------------------------------------------------------------------
    def spec(self) -> dict:
        """``{"family": "categorical", "n_categories": [C_0, ...]}``."""
        return self._spec_with_policy({"family": "categorical",
                                       "n_categories": list(self.n_categories)})

    def params_to_arrays(self, params: CategoricalParams) -> dict[str, np.ndarray]:
        """``weights`` (K,) and the flat ``probabilities`` (K, sum C_d), bit for bit."""
        return {"weights": np.asarray(params.weights),
                "probabilities": np.asarray(params.probabilities)}

    def params_from_arrays(self, arrays, *, n_components=None,
                           n_features=None) -> CategoricalParams:
        """Checked parameters (untrusted input): float arrays of matching shapes, weights
        non-negative summing to 1, probabilities positive with each column's summing to 1."""
        from .protocol import FieldError
        m = int(self.offsets[-1])
        p = arrays.get("probabilities")
        if not isinstance(p, np.ndarray) or p.ndim != 2:
            raise FieldError("probabilities", f"shape {getattr(p, 'shape', None)}; expected "
                                              f"(n_components, {m})")
        k = p.shape[0] if n_components is None else int(n_components)
        if n_features is not None and int(n_features) != len(self.n_categories):
            raise FieldError("probabilities", f"{len(self.n_categories)} columns of codes; "
                                              f"the file has {n_features} features")
        from .fields import check_weights, field_array
        out = {name: field_array(arrays, name, shape, f"n_categories {list(self.n_categories)}")
               for name, shape in (("weights", (k,)), ("probabilities", (k, m)))}
        w = check_weights(out["weights"])
        probs = CategoricalParams(w, out["probabilities"], self.offsets)
        for d, block in enumerate(probs.per_column()):
            if not (block > 0).all():
                raise FieldError("probabilities", f"a probability of column {d} is not positive")
            if not np.allclose(block.sum(axis=1), 1.0, rtol=0, atol=1e-6):
                raise FieldError("probabilities", f"the probabilities of column {d} do not sum "
                                                  "to 1")
        return probs

    def stats_from_params(self, params: CategoricalParams, reg: float) -> CategoricalStats:
        """Per-row statistics (weight sum 1) whose M-step with ``alpha = reg`` returns
        ``params`` (up to rounding): ``counts = P (N_k + C_d alpha) - alpha``."""
        w = np.asarray(params.weights, dtype=np.float64)
        nk = w / w.sum()
        denom = nk[:, None] + self._c_per_code[None, :] * reg
        counts = np.maximum(params.probabilities * denom - reg, 0.0)
        return CategoricalStats(nk, counts, 0.0, 1.0, 0)


def check_code_range(X: np.ndarray, n_categories: Sequence[int], *, fitted: bool,
                     row_offset: int = 0) -> None:
    """Raise naming the first code ``>= C_d`` (row, column, value and the range)."""
    if X.dtype == np.bool_:
        if min(n_categories) >= 2:
            return
        X = X.view(np.uint8)
    limit = np.asarray(n_categories)
    bad = X >= limit[None, :]
    if bad.any():
        row, col = first_bad(bad)
        c = int(limit[col])
        where = ("outside the fitted range" if fitted else "outside the range")
        tail = (f"the model was fitted with {c} categories in column {col}" if fitted
                else f"n_categories gives {c} categories for column {col}")
        raise ValueError(f"CategoricalMixture: row {row + row_offset:,}, column {col} is code "
                         f"{X[row, col].item()!r}, {where} 0 .. {c - 1} ({tail}).")


def linexp_e_step(log_prob_block, X, kargs, labels: bool, resp: bool):
    """Per-row log-likelihood, labels and responsibilities, block by block (NumPy; the
    single families run the fused :func:`fastem.kernels.linexp.linexp_e_step` instead)."""
    n = X.shape[0]
    lpn = np.empty(n)
    lab = np.empty(n, dtype=np.int64) if labels else None
    rsp = np.empty((n, kargs.const.shape[0])) if resp else None
    for r0 in range(0, n, BLOCK_ROWS):
        r1 = min(n, r0 + BLOCK_ROWS)
        logp = log_prob_block(X[r0:r1], kargs)
        top = logp.max(axis=1, keepdims=True)
        e = np.exp(logp - top)
        total = e.sum(axis=1)
        lpn[r0:r1] = top[:, 0] + np.log(total)
        if labels:
            lab[r0:r1] = np.argmax(logp, axis=1)
        if resp:
            rsp[r0:r1] = e / total[:, None]
    return lpn, lab, rsp
