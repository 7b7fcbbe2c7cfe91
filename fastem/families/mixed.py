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

A ``"student_t"`` block is the exception: a multivariate t over its columns (its columns are
not independent within a component, and its density is not linear in a fixed statistic), with
any of the four covariance types of its scale matrix (``block_params["student_t"]
["covariance_type"]``, default ``"full"``) and fixed or estimated ``nu``. With one, the pass
is :func:`fastem.kernels.mixed_t_pass.mixed_t_pass_chunk`: the t block's log-density (the
Student-t family's Mahalanobis machinery) plus ``T(x) . eta`` of the other blocks, one
log-sum-exp, and both kinds of statistics; the t block's weights ``u_ik`` weight only its own
moments (:class:`fastem.families.student.StudentStats`), and its M-step is the Student-t
family's (McLachlan & Peel's ECM step for ``nu``).

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

import dataclasses

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .._slots import run_in_slots
from ..kernels.linexp import NO_LOG_FACTORIAL, NO_OFFSETS, linexp_pass_chunk
from ..kernels.linexp import linexp_e_step as fused_e_step
from . import mixed_nan
from .categorical import offsets_of
from .poisson import log_factorials
from .student import StudentParams, StudentStats

BLOCKS = ("gaussian", "bernoulli", "categorical", "poisson", "student_t")
_T_FIELDS = ("means", "covariances", "precisions_cholesky", "degrees_of_freedom")
_FLOOR = 10 * np.finfo(np.float64).eps
_EMPTY_FRACTION = 1e-12
_NO_WEIGHTS = np.empty(0)
_LOG_2PI = math.log(2 * math.pi)
#: Rows of a chunk whose ``T(x)`` is built at once (bounds that array: 65,536 rows of a
#: 48-wide ``T`` are 25 MB).
T_ROWS = 65_536
DEFAULTS = {"gaussian": {"reg_covar": 1e-6}, "bernoulli": {"alpha": 1e-10},
            "categorical": {"alpha": 1e-10}, "poisson": {"reg_rate": 1e-10},
            "student_t": {"covariance_type": "full", "degrees_of_freedom": None,
                          "degrees_of_freedom_init": 30.0, "reg_covar": 1e-6}}


@dataclass(frozen=True)
class MixedParams:
    """``weights`` (K,) and ``arrays``: ``"<block>_<field>"`` -> array, e.g.
    ``gaussian_means``, ``gaussian_covariances`` (K, Dg) variances, ``bernoulli_means``,
    ``bernoulli_complements``, ``categorical_probabilities`` (K, sum C), ``poisson_means``,
    ``student_t_means``, ``student_t_covariances`` (the Student-t family's layout),
    ``student_t_precisions_cholesky``, ``student_t_degrees_of_freedom`` (K,)."""

    weights: np.ndarray
    arrays: dict = field(default_factory=dict)


def nan_hint(value) -> str:
    """The pointer to ``nan_policy`` for an error about a NaN value (else nothing)."""
    if value != value:
        return (" (or fit with nan_policy='omit' to skip rows holding NaN, or 'marginalize' "
                "to use their observed values)")
    return ""


@dataclass(frozen=True)
class MixedKernelArgs:
    eta: np.ndarray
    const: np.ndarray
    shift: np.ndarray
    #: The t block's kernel arguments (its constants without ``log w``), or ``None``.
    student: Optional[object] = None
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
    #: First column of the gaussian block's ``y = x - shift`` in ``st`` (its ``y**2`` follow
    #: ``len(shift)`` columns later); ``-1`` without a gaussian block.
    gauss_start: int = -1
    #: The t block's statistics (about its own means), or ``None``.
    t: Optional[StudentStats] = None
    #: (K, width) ``sum w r`` of the rows missing each column of T(x) (``None``: none).
    nmis: Optional[np.ndarray] = None

    def __add__(self, other: "MixedStats") -> "MixedStats":
        if not isinstance(other, MixedStats):
            return NotImplemented
        if not np.array_equal(self.shift, other.shift):
            raise ValueError("MixedStats about different shifts cannot be added.")
        return MixedStats(self.nk + other.nk, self.st + other.st, self.shift,
                          self.loglik + other.loglik, self.weight_sum + other.weight_sum,
                          self.n_rows + other.n_rows, max(self.gauss_start, other.gauss_start),
                          None if self.t is None else self.t + other.t,
                          mixed_nan.add_optional(self.nmis, other.nmis))

    def scaled(self, factor: float) -> "MixedStats":
        return MixedStats(self.nk * factor, self.st * factor, self.shift, self.loglik * factor,
                          self.weight_sum * factor, self.n_rows, self.gauss_start,
                          None if self.t is None else self.t.scaled(factor),
                          mixed_nan.scale_optional(self.nmis, factor))

    def reshifted(self, new_shift: np.ndarray, square: bool = False) -> "MixedStats":
        """The same statistics about ``new_shift`` (online EM combines chunks whose gaussian
        statistics were taken about different shifts). With ``c = new - old`` and ``N`` the
        mass observing each gaussian column (``N_k - nmis``):
        ``S1' = S1 - N c`` and ``S2' = S2 - 2 S1 c + N c**2``; other blocks unchanged."""
        new_shift = np.asarray(new_shift, dtype=np.float64)
        if self.gauss_start < 0 or new_shift.shape[0] == 0:
            return self
        n = self.shift.shape[0]
        g0 = self.gauss_start
        c = new_shift - self.shift
        n_obs = np.broadcast_to(self.nk[:, None], (self.nk.shape[0], n))
        if self.nmis is not None:
            n_obs = n_obs - self.nmis[:, g0:g0 + n]
        st = self.st.copy()
        s1 = self.st[:, g0:g0 + n]
        st[:, g0:g0 + n] = s1 - n_obs * c
        st[:, g0 + n:g0 + 2 * n] = (self.st[:, g0 + n:g0 + 2 * n] - 2.0 * s1 * c
                                    + n_obs * c * c)
        return dataclasses.replace(self, nk=self.nk.copy(), st=st, shift=new_shift)

    def reshifted_like(self, other: "MixedStats", t_square: bool = False) -> "MixedStats":
        """The same statistics about ``other``'s shifts: the gaussian block's and the t
        block's (its means; ``t_square`` for full and tied scale matrices)."""
        out = self.reshifted(other.shift)
        if self.t is None:
            return out
        return dataclasses.replace(out, t=self.t.reshifted(other.t.shift, t_square))


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
    #: The gaussian block's statistics are per-column (online EM's ``reshifted`` argument).
    square = False

    def __init__(self, blocks, nan_policy: str = "raise") -> None:
        if nan_policy != "raise":
            self.nan_policy = self.with_nan_policy(nan_policy).nan_policy
        self.blocks = [(str(b), [int(c) for c in cols], {**DEFAULTS[b], **dict(hp)})
                       for b, cols, hp in blocks]
        self._t = None
        for b, cols, hp in self.blocks:
            if b == "student_t":
                from .student import StudentFamily
                self._t = StudentFamily(hp["covariance_type"], hp["degrees_of_freedom"],
                                        hp["degrees_of_freedom_init"])
                self._t_cols = list(cols)
        if self._t is not None and nan_policy == "marginalize":
            raise ValueError("nan_policy='marginalize' is not available with a student_t "
                             "block (its columns do not factorise); use nan_policy='omit', or "
                             "model those columns as a gaussian block.")
        self.n_features = 1 + max(c for _, cols, _ in self.blocks for c in cols)
        width = 0
        self._slices = {}
        for b, cols, hp in self.blocks:
            if b == "student_t":
                continue
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
            elif b == "student_t":
                yield from ("student_t_" + f for f in _T_FIELDS)
            else:
                yield "poisson_means"

    def block(self, name: str):
        for b in self.blocks:
            if b[0] == name:
                return b
        return None

    # ---- T(x) and h(x) of a chunk -----------------------------------------------------------
    def statistic(self, X: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``T(x)`` (rows, width) float64 and ``h(x)`` (rows,) of a chunk (validated values,
        no NaN): one pass of :func:`fastem.kernels.mixed_statistic.mixed_statistic_chunk`,
        plus ``h`` of the poisson columns."""
        from ..kernels.mixed_statistic import mixed_statistic_chunk
        X = np.asarray(X)
        if X.dtype.kind not in "biuf" or not X.dtype.isnative:
            X = X.astype(np.float64)
        T = np.empty((X.shape[0], self.width))
        h = np.zeros(X.shape[0])
        cols = {b: np.asarray(c, dtype=np.int64) for b, c, _ in self.blocks}
        none = np.zeros(0, np.int64)
        starts = np.array([self._slices[b].start if b in self._slices else 0
                           for b in ("gaussian", "bernoulli", "categorical", "poisson")],
                          dtype=np.int64)
        cat = self.block("categorical")
        offsets = offsets_of(cat[2]["n_categories"]) if cat is not None else np.zeros(1, np.int64)
        g_shift = np.ascontiguousarray(shift, dtype=np.float64) if "gaussian" in cols \
            else np.zeros(0)
        mixed_statistic_chunk(X, cols.get("gaussian", none), g_shift,
                              cols.get("bernoulli", none), cols.get("categorical", none),
                              np.asarray(offsets, dtype=np.int64), cols.get("poisson", none),
                              starts, T)
        if "poisson" in cols:
            h -= log_factorials(np.asarray(X[:, cols["poisson"]], dtype=np.float64)).sum(axis=1)
        return T, h

    # ---- the pass ---------------------------------------------------------------------------
    def kernel_args(self, params: MixedParams) -> MixedKernelArgs:
        k = params.weights.shape[0]
        eta = np.zeros((k, self.width))
        with np.errstate(divide="ignore"):
            const = np.log(params.weights).copy()
        a = params.arrays
        shift = np.zeros(0)
        student = None
        for b, cols, _ in self.blocks:
            if b == "student_t":
                student = self._t.kernel_args(self._t_params(params, np.ones(k)))
                continue
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
                               student,
                               mixed_nan.column_constants(self, params, shift)
                               if self.nan_policy == "marginalize" else None,
                               self.nan_policy)

    def _t_params(self, params: MixedParams, weights=None) -> StudentParams:
        a = params.arrays
        return StudentParams(params.weights if weights is None else weights,
                             *(a["student_t_" + f] for f in _T_FIELDS))

    def _t_columns(self, X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(X)[:, self._t_cols], dtype=np.float64)

    @property
    def t_square(self) -> bool:
        """Whether the t block's scale matrices are square (online EM's reshift)."""
        return self._t is not None and self._t.square

    @property
    def _gauss_start(self) -> int:
        return self._slices["gaussian"].start if "gaussian" in self._slices else -1

    def zero_stats(self, kargs: MixedKernelArgs) -> MixedStats:
        k = kargs.eta.shape[0]
        return MixedStats(np.zeros(k), np.zeros((k, self.width)), kargs.shift,
                          gauss_start=self._gauss_start,
                          t=None if self._t is None else self._t.zero_stats(kargs.student))

    def chunk_stats(self, X, sample_weight, kargs, serial=False) -> MixedStats:
        """Statistics of a chunk, ``T_ROWS`` rows at a time (so ``T(x)`` stays a bounded
        array, whatever the chunk: an in-memory array is one chunk)."""
        n = X.shape[0]
        if n <= T_ROWS:
            return self._block_stats(X, sample_weight, kargs, serial)
        total = None
        for a in range(0, n, T_ROWS):
            w = None if sample_weight is None else sample_weight[a:a + T_ROWS]
            part = self._block_stats(X[a:a + T_ROWS], w, kargs, serial)
            total = part if total is None else total + part
        return total

    def _block_stats(self, X, sample_weight, kargs, serial=False) -> MixedStats:
        if kargs.nan_policy != "raise":
            out = mixed_nan.chunk_stats(self, X, sample_weight, kargs, serial)
            if out is not None:
                return out
        kern = linexp_pass_chunk.serial if serial else linexp_pass_chunk.parallel
        k, m = kargs.eta.shape
        w = _NO_WEIGHTS if sample_weight is None else np.asarray(sample_weight, np.float64)
        T, h = self.statistic(X, kargs.shift)
        if self._t is not None:
            return self._chunk_stats_t(X, T, h, w, sample_weight, kargs, serial)

        def run(nk, st, ll):
            kern(T, w, kargs.eta, kargs.const, NO_OFFSETS, NO_LOG_FACTORIAL, nk, st,
                 np.empty((nk.shape[0], 0, m)), ll)

        (nk, st), ll = run_in_slots(run, X.shape[0], ((k,), (k, m)), 2)
        ll = ll.sum(axis=0)
        hsum = float(h.sum() if sample_weight is None else (w * h).sum())
        return MixedStats(nk, st, kargs.shift, float(ll[0]) + hsum, float(ll[1]), X.shape[0],
                          self._gauss_start)

    def _chunk_stats_t(self, X, T, h, w, sample_weight, kargs, serial) -> MixedStats:
        from ..families import gaussian_pass
        from ..kernels.mixed_t_pass import mixed_t_pass_chunk
        kern = mixed_t_pass_chunk.serial if serial else mixed_t_pass_chunk.parallel
        tk = kargs.student
        k, m = kargs.eta.shape
        Xt = self._t_columns(X)
        d = Xt.shape[1]
        prec = gaussian_pass.compute_prec(tk, Xt.dtype)
        sshape = tuple(self._t.covariance_family.scatter_shape(k, d))

        def run(nk, st, uk, s1, s2, aux, ll):
            kern(T, Xt, w, kargs.eta, kargs.const, tk.means, prec, tk.const, tk.tpar, nk, st,
                 uk, s1, s2, aux, ll)

        (nk, st, uk, s1, s2, aux), ll = run_in_slots(
            run, X.shape[0], ((k,), (k, m), (k,), (k, d), sshape, (k,)), 2)
        ll = ll.sum(axis=0)
        hsum = float(h.sum() if sample_weight is None else (w * h).sum())
        t = StudentStats(tk.means, nk, uk, s1, s2, aux, 0.0, float(ll[1]), X.shape[0])
        return MixedStats(nk, st, kargs.shift, float(ll[0]) + hsum, float(ll[1]), X.shape[0],
                          self._gauss_start, t)

    def resp_stats(self, X, sample_weight, resp, anchor=None, serial=False) -> MixedStats:
        g = self.block("gaussian")
        shift = (np.asarray(anchor, dtype=np.float64)[0, g[1]] if g is not None
                 and anchor is not None else np.zeros(len(g[1]) if g else 0))
        T, _ = self.statistic(X, shift)
        w = np.ones(T.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
        wr = np.asarray(resp, dtype=np.float64) * w[:, None]
        t = None
        if self._t is not None:
            k = wr.shape[1]
            Xt = self._t_columns(X)
            t_anchor = (np.asarray(anchor, dtype=np.float64)[:, self._t_cols]
                        if anchor is not None else
                        np.broadcast_to(Xt.mean(axis=0), (k, Xt.shape[1])).copy())
            t = self._t.resp_stats(Xt, sample_weight, resp, np.ascontiguousarray(t_anchor),
                                   serial=serial)
        return MixedStats(wr.sum(axis=0), wr.T @ T, shift, 0.0, float(w.sum()), T.shape[0],
                          self._gauss_start, t)

    def stats_from_params(self, params: MixedParams, reg: float = 0.0) -> MixedStats:
        """Per-row statistics (weight sum 1) whose M-step returns ``params`` (up to rounding;
        online EM's starting state). Each block inverts its own M-step with its own
        hyper-parameters (``reg`` is unused): gaussian ``S1 = N (mu - s)``, ``S2 = N (var -
        reg_covar + (mu - s)**2)`` about ``s`` = the mixture mean (the pass's shift);
        bernoulli/categorical ``S = p (N + C alpha) - alpha``; poisson ``S = N (lam -
        reg_rate)``."""
        w = np.asarray(params.weights, dtype=np.float64)
        nk = w / w.sum()
        a = params.arrays
        st = np.zeros((nk.shape[0], self.width))
        shift = np.zeros(0)
        t = None
        for b, cols, hp in self.blocks:
            if b == "student_t":
                t = self._t.stats_from_params(self._t_params(params), hp["reg_covar"])
                continue
            sl = self._slices[b]
            n = len(cols)
            if b == "gaussian":
                mu, var = a["gaussian_means"], a["gaussian_covariances"]
                shift = w @ mu / w.sum()
                m = mu - shift[None, :]
                st[:, sl.start:sl.start + n] = nk[:, None] * m
                st[:, sl.start + n:sl.stop] = nk[:, None] * (var - hp["reg_covar"] + m * m)
            elif b == "bernoulli":
                al = hp["alpha"]
                denom = (nk + 2.0 * al)[:, None]
                st[:, sl.start:sl.start + n] = np.maximum(a["bernoulli_means"] * denom - al, 0)
                st[:, sl.start + n:sl.stop] = np.maximum(
                    a["bernoulli_complements"] * denom - al, 0.0)
            elif b == "categorical":
                al = hp["alpha"]
                c = np.repeat(np.asarray(hp["n_categories"], float), hp["n_categories"])
                st[:, sl] = np.maximum(a["categorical_probabilities"]
                                       * (nk[:, None] + c[None] * al) - al, 0.0)
            else:
                st[:, sl] = nk[:, None] * np.maximum(a["poisson_means"] - hp["reg_rate"], 0.0)
        return MixedStats(nk, st, shift, 0.0, 1.0, 0, self._gauss_start, t)

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
            if b == "student_t":
                from .student_mstep import student_m_step
                tp = student_m_step(self._t, stats.t, hp["reg_covar"],
                                    None if previous is None else self._t_params(previous),
                                    iteration=iteration, dtype_hint=dtype_hint)
                for f in _T_FIELDS:
                    out["student_t_" + f] = getattr(tp, f)
                continue
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
        """Per-row ``log p(x)``, optionally labels and responsibilities: the fused per-row
        kernel of the linear-exponential families over ``T(x)`` of ``T_ROWS`` rows at a time
        (no (n, K) array but the requested responsibilities), then the base measure ``h(x)``
        added (a per-row constant: labels and responsibilities do not depend on it). Chunks
        holding NaN under "omit" or "marginalize": mixed_nan."""
        n = X.shape[0]
        if n <= T_ROWS:
            return self._block_e_step(X, kargs, labels, resp, serial)
        parts = [self._block_e_step(X[a:a + T_ROWS], kargs, labels, resp, serial)
                 for a in range(0, n, T_ROWS)]
        return tuple(None if parts[0][i] is None else np.concatenate([p[i] for p in parts])
                     for i in range(3))

    def _block_e_step(self, X, kargs, labels, resp, serial):
        if kargs.nan_policy != "raise":
            out = mixed_nan.e_step_outputs(self, X, kargs, labels, resp, serial)
            if out is not None:
                return out
        T, h = self.statistic(X, kargs.shift)
        if self._t is None:
            lpn, lab, rsp = fused_e_step(T, kargs.eta, kargs.const, labels=labels, resp=resp,
                                         serial=serial)
        else:
            from ..families import gaussian_pass
            from ..kernels.mixed_t_pass import mixed_t_e_step_chunk
            kern = mixed_t_e_step_chunk.serial if serial else mixed_t_e_step_chunk.parallel
            tk = kargs.student
            n, k = X.shape[0], kargs.const.shape[0]
            Xt = self._t_columns(X)
            lpn = np.empty(n)
            lab = np.empty(n if labels else 0, np.int64)
            rsp = np.empty((n if resp else 0, k))
            kern(T, Xt, kargs.eta, kargs.const, tk.means,
                 gaussian_pass.compute_prec(tk, Xt.dtype), tk.const, tk.tpar, lpn, lab, rsp)
            lab = lab if labels else None
            rsp = rsp if resp else None
        lpn += h
        return lpn, lab, rsp

    def n_parameters(self, n_components: int, n_features: int) -> int:
        per = 0
        extra = 0
        for b, cols, hp in self.blocks:
            if b == "student_t":     # its scale parameters (and nu) without the weights
                extra += (self._t.n_parameters(n_components, len(cols))
                          - (n_components - 1))
                continue
            per += (2 * len(cols) if b == "gaussian" else
                    sum(c - 1 for c in hp["n_categories"]) if b == "categorical" else len(cols))
        return n_components * per + extra + n_components - 1

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
            elif b == "student_t":
                tp = self._t_params(params)
                covs = self._t.covariance_family.full_covariances(tp.covariances, k, len(cols))
                Z = np.empty((n_samples, len(cols)))
                for j in range(k):
                    rows = y == j
                    if rows.any():
                        z = rng.standard_normal((int(rows.sum()), len(cols)))
                        nu = float(tp.degrees_of_freedom[j])
                        g = rng.chisquare(nu, size=int(rows.sum())) / nu
                        Z[rows] = (tp.means[j] + (z @ np.linalg.cholesky(covs[j]).T)
                                   / np.sqrt(g)[:, None])
                X[:, cols] = Z
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
                if b in ("gaussian", "student_t"):
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
            value = X[row, col].item()
            raise ValueError(f"MixedTypeMixture: row {row + row_offset:,}, column {col} (a "
                             f"{b} column) is {value!r}; {b} columns need "
                             f"{why[b]}{nan_hint(value)}.")

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
        if self._t is not None:
            t_arrays = {"weights": w, **{f: arrays.get("student_t_" + f) for f in _T_FIELDS}}
            try:
                tp = self._t.params_from_arrays(t_arrays, n_components=w.shape[0],
                                                n_features=len(self._t_cols))
            except FieldError as exc:
                raise FieldError("student_t_" + exc.field, exc.why) from None
            for f in _T_FIELDS:
                out["student_t_" + f] = getattr(tp, f)
        for name in self.fields[1:]:
            if name.startswith("student_t_"):
                continue
            a = arrays.get(name)
            if not isinstance(a, np.ndarray) or a.ndim != 2 or a.shape[0] != w.shape[0] \
                    or not np.isfinite(a).all():
                raise FieldError(name, "expected a finite (n_components, ...) array")
            if name != "gaussian_means" and not (a > 0).all():
                raise FieldError(name, "a probability, rate or variance is not positive")
            out[name] = np.ascontiguousarray(a, dtype=np.float64)
        return MixedParams(np.ascontiguousarray(w, dtype=np.float64), out)
