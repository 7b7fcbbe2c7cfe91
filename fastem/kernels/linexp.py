"""The fused pass of linear exponential families: log p(x | k) = T(x)·eta_k + c_k + h(x).

One pass serves every such family, with two entry kernels (dense rows and category codes, so
that a family compiles only the one it runs); small inlined helpers specialise the statistic
``T``:

* ``T(x) = x`` (Bernoulli, Poisson): log-densities of a tile by a small product with
  ``eta`` (K, D), and accumulation of ``sum_i w_i r_ik x_i`` (plus, for Bernoulli, the
  complement ``sum_i w_i r_ik (1 - x_i)``, when ``sc`` has K rows).
* One-hot codes (categorical), when ``offsets`` is non-empty: column ``d``'s code ``c`` is
  column ``offsets[d] + c`` of ``eta`` (K, offsets[-1]); the log-density is a gather of D
  entries of ``eta`` per row and component, and the statistic a scatter-add into the same
  column of ``st`` (no one-hot matrix is formed).
* The base measure ``h(x) = -sum_d log x_d!`` (Poisson), when ``log_factorial`` is
  non-empty: it does not change responsibilities, only each row's log-likelihood; ``log n!``
  is read from the table for small counts and computed by ``lgamma`` above it.

Per tile: the log-densities, the vectorised log-sum-exp of
:func:`fastem.kernels.tiles.normalise_tile`, then the statistics. No ``n x K`` array;
float64 statistics; fixed slots chosen by the caller, so the result does not depend on the
thread count.

:func:`linexp_dense_e_step_chunk` and :func:`linexp_codes_e_step_chunk` are the per-row
twins for inference (``predict``, ``predict_proba``,
``score_samples``, ``score``): the same helpers, writing each row's ``log p(x)`` and,
optionally, its label and responsibilities.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._jit import TILE, helper, kernel
from .blocked import (gather_sums_tile, linear_rows_tile, linear_tile, padded_width,
                      scatter_sums_tile, weighted_sums_tile)
from .tiles import load_tile, load_weights, normalise_tile


# signature: (X[n,d] int|float, t0, nt, offsets[d+1] int64, ct[d,T] int64) -> None
@helper
def load_codes(X, t0, nt, offsets, ct):
    """Column indices ``offsets[i] + X[t0 + t, i]`` of a tile's codes; rows past ``nt``
    point at each column's first code (valid, ignored)."""
    d = ct.shape[0]
    n_rows = ct.shape[1]
    for t in range(nt):
        for i in range(d):
            ct[i, t] = offsets[i] + np.int64(X[t0 + t, i])
    for t in range(nt, n_rows):
        for i in range(d):
            ct[i, t] = offsets[i]


# signature: (xt[d,T] f64, eta[K,d] f64, const[K] f64, logp[K,T] f64) -> None
@helper
def dense_log_prob_tile(xt, eta, const, logp):
    """``logp[k, t] = const[k] + sum_i xt[i, t] eta[k, i]`` for the whole tile (the
    register-blocked :func:`fastem.kernels.blocked.linear_tile`)."""
    linear_tile(xt, eta, const, logp)


# signature: (eta[K,m] f64, const[K] f64) -> (eta_t[m,Kp] f64, const_p[Kp] f64)
@helper
def padded_transpose(eta, const):
    """``eta`` transposed and ``const``, each zero-padded to ``Kp`` components (whole vectors),
    as :func:`code_log_prob_tile` and :func:`fastem.kernels.blocked.linear_rows_tile` read
    them."""
    n_components, m = eta.shape
    kp = padded_width(n_components, const)
    eta_t = np.zeros((m, kp))
    const_p = np.zeros(kp)
    for k in range(n_components):
        const_p[k] = const[k]
        for j in range(m):
            eta_t[j, k] = eta[k, j]
    return eta_t, const_p


# signature: (ct[d,T] int64, eta_t[m,Kp] f64, const_p[Kp] f64, lp_t[T,Kp] f64, logp[K,T] f64)
@helper
def code_log_prob_tile(ct, eta_t, const_p, lp_t, logp):
    """``logp[k, t] = const[k] + sum_i eta[k, ct[i, t]]`` (one-hot codes): each code adds a
    contiguous row of the transposed, padded ``eta_t`` (vectorised over components, in
    registers: :func:`fastem.kernels.blocked.gather_sums_tile`)."""
    gather_sums_tile(ct, eta_t, const_p, lp_t)
    n_components, n_rows = logp.shape
    for k in range(n_components):
        for t in range(n_rows):
            logp[k, t] = lp_t[t, k]


# signature: (ct[d,T] int64, nt, resp[K,T] f64, wt[T] f64, rw_t[T,Kp] f64, acc_t[m,Kp] f64)
@helper
def accumulate_codes_tile(ct, nt, resp, wt, rw_t, acc_t):
    """``acc_t[offsets[i] + x_i, k] += w r_k`` for every row and column of the tile (a
    scatter-add of contiguous rows, vectorised over components:
    :func:`fastem.kernels.blocked.scatter_sums_tile`)."""
    n_components = resp.shape[0]
    for t in range(nt):
        w = wt[t]
        for k in range(n_components):
            rw_t[t, k] = resp[k, t] * w
    scatter_sums_tile(ct, nt, rw_t, acc_t)


# signature: (xt[d,T] f64 (or the transposed view of a row-major tile), nt, log_factorial[L]
#             f64, lpn[T] f64) -> None
@helper
def subtract_log_factorials(xt, nt, log_factorial, lpn):
    """``lpn[t] -= sum_i log(xt[i, t]!)`` (the Poisson base measure) for the tile's rows."""
    d = xt.shape[0]
    size = log_factorial.shape[0]
    for t in range(nt):
        h = 0.0
        for i in range(d):
            v = xt[i, t]
            if v < size:
                h += log_factorial[np.int64(v)]
            else:
                h += math.lgamma(v + 1.0)
        lpn[t] -= h


#: Components (padded to whole vectors) up to which the dense pass computes ``T(x) . eta``
#: with vectors over components from the row-major tile
#: (:func:`fastem.kernels.blocked.linear_rows_tile`) instead of transposing the tile for
#: :func:`dense_log_prob_tile`. Both sum in the same order: the results are identical.
ROWS_LAYOUT_MAX_K = 16


# signature: (X, sample_weight, eta[K,d], const[K], log_factorial, nk, st, sc, ll, s, r0, r1)
@helper
def dense_slot(X, sample_weight, eta, const, log_factorial, nk, st, sc, ll, s, r0, r1):
    """Rows ``r0 : r1`` into slot ``s`` with ``T(x) = x`` (Bernoulli, Poisson)."""
    d = X.shape[1]
    n_components = eta.shape[0]
    want_complement = sc.shape[1] == n_components
    counts = log_factorial.shape[0] > 0
    dp = padded_width(d, const)
    kp = (n_components + 3) // 4 * 4
    eta_t, const_p = padded_transpose(eta, const)
    rows_layout = const_p.shape[0] <= ROWS_LAYOUT_MAX_K
    lp_t = np.zeros((TILE if rows_layout else 0, const_p.shape[0]))
    xt = np.zeros((0 if rows_layout else d, TILE))
    xr = np.zeros((TILE, dp))
    logp = np.zeros((n_components, TILE))
    rw = np.zeros((kp, TILE))
    acc = np.zeros((kp, dp))
    acc_c = np.zeros((kp if want_complement else 0, dp))
    wt = np.zeros(TILE)
    lpn = np.zeros(TILE)
    ll_sum = 0.0
    w_sum = 0.0
    for t0 in range(r0, r1, TILE):
        nt = min(TILE, r1 - t0)
        load_tile(X, t0, nt, xt, xr)
        load_weights(sample_weight, t0, nt, wt)
        if rows_layout:
            linear_rows_tile(xr, eta_t, const_p, lp_t)
            for k in range(n_components):
                for t in range(TILE):
                    logp[k, t] = lp_t[t, k]
        else:
            dense_log_prob_tile(xt, eta, const, logp)
        normalise_tile(logp, lpn)
        if counts:
            if rows_layout:
                subtract_log_factorials(xr[:, :d].T, nt, log_factorial, lpn)
            else:
                subtract_log_factorials(xt, nt, log_factorial, lpn)
        for t in range(nt):
            ll_sum += wt[t] * lpn[t]
            w_sum += wt[t]
        for k in range(n_components):
            tot = 0.0
            for t in range(nt):
                rw[k, t] = logp[k, t] * wt[t]
                tot += rw[k, t]
            nk[s, k] += tot
        weighted_sums_tile(xr, nt, rw, acc, acc_c)
    for k in range(n_components):
        for i in range(d):
            st[s, k, i] += acc[k, i]
            if want_complement:
                sc[s, k, i] += acc_c[k, i]
    ll[s, 0] = ll_sum
    ll[s, 1] = w_sum


# signature: (X, sample_weight, eta[K,m], const[K], offsets[d+1], nk, st, ll, s, r0, r1)
@helper
def codes_slot(X, sample_weight, eta, const, offsets, nk, st, ll, s, r0, r1):
    """Rows ``r0 : r1`` into slot ``s`` with one-hot codes as ``T(x)`` (categorical); the
    statistics are kept transposed, ``(m, K)``, and written to ``st`` once at the end."""
    d = X.shape[1]
    n_components, m = eta.shape
    ct = np.zeros((d, TILE), np.int64)
    eta_t, const_p = padded_transpose(eta, const)
    kp = const_p.shape[0]
    acc_t = np.zeros((m, kp))
    lp_t = np.zeros((TILE, kp))
    rw_t = np.zeros((TILE, kp))
    logp = np.zeros((n_components, TILE))
    wt = np.zeros(TILE)
    lpn = np.zeros(TILE)
    ll_sum = 0.0
    w_sum = 0.0
    for t0 in range(r0, r1, TILE):
        nt = min(TILE, r1 - t0)
        load_weights(sample_weight, t0, nt, wt)
        load_codes(X, t0, nt, offsets, ct)
        code_log_prob_tile(ct, eta_t, const_p, lp_t, logp)
        normalise_tile(logp, lpn)
        for t in range(nt):
            ll_sum += wt[t] * lpn[t]
            w_sum += wt[t]
        accumulate_codes_tile(ct, nt, logp, wt, rw_t, acc_t)
        for k in range(n_components):
            tot = 0.0
            for t in range(nt):
                tot += logp[k, t] * wt[t]
            nk[s, k] += tot
    for j in range(m):
        for k in range(n_components):
            st[s, k, j] = acc_t[j, k]
    ll[s, 0] = ll_sum
    ll[s, 1] = w_sum


# signature: (X[n,d] any real/int dtype, sample_weight[n] f64 or [0], eta[K,d] f64, const[K] f64,
#             log_factorial[L] f64 or [0], nk[S,K], st[S,K,d], sc[S,K,d] or [S,0,d],
#             ll[S,2]) -> None (outputs zeroed)
@kernel
def linexp_dense_pass_chunk(X, sample_weight, eta, const, log_factorial, nk, st, sc, ll):
    """One fused pass with ``T(x) = x``; ``sc`` (when it has K rows) gets the complement
    ``sum w r (1 - x)``, non-empty ``log_factorial`` adds the Poisson base measure to the
    log-likelihood."""
    n = X.shape[0]
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
    for s in prange(n_slots):
        r0 = s * per_slot
        r1 = min(n, r0 + per_slot)
        dense_slot(X, sample_weight, eta, const, log_factorial, nk, st, sc, ll, s, r0, r1)


# signature: (X[n,d] int codes, sample_weight[n] f64 or [0], eta[K,m] f64, const[K] f64,
#             offsets[d+1] int64, nk[S,K], st[S,K,m], ll[S,2]) -> None (outputs zeroed)
@kernel
def linexp_codes_pass_chunk(X, sample_weight, eta, const, offsets, nk, st, ll):
    """One fused pass reading ``X`` as category codes (one-hot ``T(x)``)."""
    n = X.shape[0]
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
    for s in prange(n_slots):
        r0 = s * per_slot
        r1 = min(n, r0 + per_slot)
        codes_slot(X, sample_weight, eta, const, offsets, nk, st, ll, s, r0, r1)


class _ByStatistic:
    """One entry point over a dense and a codes kernel: ``run(twin, *args)`` calls the codes
    kernel for non-empty ``offsets``, else the dense one. The two are separate kernels so
    that a family's first call compiles only the variant it runs (a parallel kernel holding
    both took twice as long to compile); ``parallel`` and ``serial`` pick the twin, calling
    the object runs the parallel one.
    """

    def __init__(self, run, twin: str = "parallel") -> None:
        self._run = run
        self._twin = twin

    def __call__(self, *args) -> None:
        self._run(self._twin, *args)

    @property
    def parallel(self) -> "_ByStatistic":
        return _ByStatistic(self._run, "parallel")

    @property
    def serial(self) -> "_ByStatistic":
        return _ByStatistic(self._run, "serial")


def _run_pass(twin, X, sample_weight, eta, const, offsets, log_factorial, nk, st, sc, ll):
    if offsets.shape[0] > 0:
        getattr(linexp_codes_pass_chunk, twin)(X, sample_weight, eta, const, offsets, nk, st,
                                               ll)
    else:
        getattr(linexp_dense_pass_chunk, twin)(X, sample_weight, eta, const, log_factorial,
                                               nk, st, sc, ll)


#: ``linexp_pass_chunk(X, sample_weight, eta, const, offsets, log_factorial, nk, st, sc, ll)``;
#: ``.parallel`` / ``.serial`` as for a kernel (see :class:`_ByStatistic`).
linexp_pass_chunk = _ByStatistic(_run_pass)


#: Size of the ``log n!`` table the Poisson family passes (larger counts use ``lgamma``).
LOG_FACTORIAL_SIZE = 1024


def log_factorial_table(size: int = LOG_FACTORIAL_SIZE) -> np.ndarray:
    """``log n!`` for ``n = 0 .. size - 1`` (each entry correctly rounded by ``lgamma``)."""
    return np.array([math.lgamma(i + 1.0) for i in range(size)], dtype=np.float64)


#: The empty arrays that switch the code and count variants off.
NO_OFFSETS = np.empty(0, np.int64)
NO_LOG_FACTORIAL = np.empty(0, np.float64)


# signature: (logp[K,T] f64, nt, t0, labels_out[n] int64) -> None
@helper
def write_labels(logp, nt, t0, labels_out):
    """``labels_out[t0 + t]`` = the first component of largest log-density of row ``t``."""
    n_components = logp.shape[0]
    for t in range(nt):
        best = 0
        for k in range(1, n_components):
            if logp[k, t] > logp[best, t]:
                best = k
        labels_out[t0 + t] = best


# signature: (X[n,d] int|float, eta[K,d] f64, const[K] f64, log_factorial[L] f64 or [0],
#             lpn_out[n] f64, labels_out[n] int64 or [0], resp_out[n,K] f64 or [0,K]) -> None
@kernel
def linexp_dense_e_step_chunk(X, eta, const, log_factorial, lpn_out, labels_out, resp_out):
    """Per-row outputs of the linear-exponential E-step with ``T(x) = x``: ``log p(x_i)``
    (base measure included when ``log_factorial`` is non-empty), and optionally labels and
    responsibilities (when their arrays have ``n`` rows).

    Each row's outputs depend on that row only, and tiles start at multiples of ``TILE``
    whatever the thread count, so the results are the same on any number of threads.
    """
    n, d = X.shape
    n_components = eta.shape[0]
    n_tiles = (n + TILE - 1) // TILE
    n_slots = min(n_tiles, 64)
    per_slot = (n_tiles + n_slots - 1) // max(n_slots, 1)
    for s in prange(n_slots):
        xt = np.zeros((d, TILE))
        xr = np.empty((TILE, 0))
        logp = np.zeros((n_components, TILE))
        lpn = np.zeros(TILE)
        for tile in range(s * per_slot, min(n_tiles, (s + 1) * per_slot)):
            t0 = tile * TILE
            nt = min(TILE, n - t0)
            load_tile(X, t0, nt, xt, xr)
            dense_log_prob_tile(xt, eta, const, logp)
            write_outputs(logp, lpn, nt, t0, lpn_out, labels_out, resp_out, xt, log_factorial)


# signature: (X[n,d] int codes, eta[K,m] f64, const[K] f64, offsets[d+1] int64,
#             lpn_out[n] f64, labels_out[n] int64 or [0], resp_out[n,K] f64 or [0,K]) -> None
@kernel
def linexp_codes_e_step_chunk(X, eta, const, offsets, lpn_out, labels_out, resp_out):
    """Per-row outputs of the categorical E-step (codes ``X``); as
    :func:`linexp_dense_e_step_chunk` otherwise."""
    n, d = X.shape
    n_components, m = eta.shape
    n_tiles = (n + TILE - 1) // TILE
    n_slots = min(n_tiles, 64)
    per_slot = (n_tiles + n_slots - 1) // max(n_slots, 1)
    eta_t, const_p = padded_transpose(eta, const)
    for s in prange(n_slots):
        ct = np.zeros((d, TILE), np.int64)
        lp_t = np.zeros((TILE, const_p.shape[0]))
        logp = np.zeros((n_components, TILE))
        lpn = np.zeros(TILE)
        xt = np.zeros((0, TILE))
        no_log_factorial = np.zeros(0)
        for tile in range(s * per_slot, min(n_tiles, (s + 1) * per_slot)):
            t0 = tile * TILE
            nt = min(TILE, n - t0)
            load_codes(X, t0, nt, offsets, ct)
            code_log_prob_tile(ct, eta_t, const_p, lp_t, logp)
            write_outputs(logp, lpn, nt, t0, lpn_out, labels_out, resp_out, xt,
                          no_log_factorial)


# signature: (logp[K,T] f64, lpn[T] f64, nt, t0, lpn_out, labels_out, resp_out, xt[d,T] f64,
#             log_factorial[L] f64 or [0]) -> None
@helper
def write_outputs(logp, lpn, nt, t0, lpn_out, labels_out, resp_out, xt, log_factorial):
    """A tile's per-row outputs from its log-densities ``logp``: labels (first), then the
    log-sum-exp (minus the base measure for a non-empty ``log_factorial``) and
    responsibilities, each only when its output array has a row per data row."""
    n = lpn_out.shape[0]
    n_components = logp.shape[0]
    if labels_out.shape[0] == n:
        write_labels(logp, nt, t0, labels_out)
    normalise_tile(logp, lpn)
    if log_factorial.shape[0] > 0:
        subtract_log_factorials(xt, nt, log_factorial, lpn)
    for t in range(nt):
        lpn_out[t0 + t] = lpn[t]
    if resp_out.shape[0] == n:
        for t in range(nt):
            for k in range(n_components):
                resp_out[t0 + t, k] = logp[k, t]


def linexp_e_step(X: np.ndarray, eta: np.ndarray, const: np.ndarray, *,
                  offsets: np.ndarray = NO_OFFSETS, log_factorial: np.ndarray = NO_LOG_FACTORIAL,
                  labels: bool = False, resp: bool = False, serial: bool = False):
    """Run the per-row E-step kernel (:func:`linexp_codes_e_step_chunk` for non-empty
    ``offsets``, else :func:`linexp_dense_e_step_chunk`) on a chunk ``X`` (bool is read as
    uint8).

    Returns ``(log_prob (n,), labels (n,) int64 or None, resp (n, K) or None)``; ``serial``
    picks the serial twin (Dask tasks).
    """
    if X.dtype == np.bool_:
        X = X.view(np.uint8)
    n = X.shape[0]
    k = const.shape[0]
    lpn = np.empty(n)
    lab = np.empty(n if labels else 0, np.int64)
    rsp = np.empty((n, k) if resp else (0, k))
    twin = "serial" if serial else "parallel"
    if offsets.shape[0] > 0:
        getattr(linexp_codes_e_step_chunk, twin)(X, eta, const, offsets, lpn, lab, rsp)
    else:
        getattr(linexp_dense_e_step_chunk, twin)(X, eta, const, log_factorial, lpn, lab, rsp)
    return lpn, (lab if labels else None), (rsp if resp else None)


# ---- missing coordinates (NaN): the masked twin of the pass and of the E-step ------------
# The blocks of a linear-exponential family factorise over coordinates, so a row's density
# over its observed coordinates is the full formula with every missing coordinate's terms
# left out: ``T(x)_d`` read as 0 and its per-coordinate constant ``cd[k, d]`` taken back out
# of ``const[k]``. These kernels run only on chunks holding a NaN (complete chunks keep the
# kernels above, bit for bit). A row with every coordinate missing gets weight 0 (it adds
# nothing, not even to the weight sum) and log-likelihood 0.0.


# signature: (X[n,d] f32|f64 with NaN, t0, nt, xt[d,T] f64, mt[d,T] f64, obs[T] f64) -> None
@helper
def load_tile_masked(X, t0, nt, xt, mt, obs):
    """Rows ``t0 : t0 + nt`` transposed into ``xt`` with NaN read as 0, ``mt[i, t] = 1`` where
    the entry is missing (else 0), ``obs[t] = 1`` when the row has an observed entry (else 0);
    rows past ``nt`` are zero, fully observed and of no weight."""
    d = xt.shape[0]
    n_rows = xt.shape[1]
    for t in range(nt):
        cnt = 0
        for i in range(d):
            v = X[t0 + t, i]
            if math.isnan(v):
                xt[i, t] = 0.0
                mt[i, t] = 1.0
                cnt += 1
            else:
                xt[i, t] = v
                mt[i, t] = 0.0
        obs[t] = 1.0 if cnt < d else 0.0
    for t in range(nt, n_rows):
        for i in range(d):
            xt[i, t] = 0.0
            mt[i, t] = 0.0
        obs[t] = 0.0


# signature: (X[n,d] f32|f64 with NaN, t0, nt, offsets[d+1], ct[d,T] i64, mt[d,T] f64,
#             obs[T] f64) -> None
@helper
def load_codes_masked(X, t0, nt, offsets, ct, mt, obs):
    """Column indices of a tile's codes as :func:`load_codes`, ``-1`` for a missing code
    (with ``mt`` and ``obs`` as in :func:`load_tile_masked`)."""
    d = ct.shape[0]
    n_rows = ct.shape[1]
    for t in range(nt):
        cnt = 0
        for i in range(d):
            v = X[t0 + t, i]
            if math.isnan(v):
                ct[i, t] = -1
                mt[i, t] = 1.0
                cnt += 1
            else:
                ct[i, t] = offsets[i] + np.int64(v)
                mt[i, t] = 0.0
        obs[t] = 1.0 if cnt < d else 0.0
    for t in range(nt, n_rows):
        for i in range(d):
            ct[i, t] = offsets[i]
            mt[i, t] = 0.0
        obs[t] = 0.0


# signature: (mt[d,T] f64, cd[K,d] f64 or [K,0], logp[K,T] f64) -> None
@helper
def remove_missing_constants(mt, cd, logp):
    """``logp[k, t] -= sum_i mt[i, t] cd[k, i]``: the per-coordinate constants of the
    missing coordinates taken back out (nothing when ``cd`` has no columns)."""
    if cd.shape[1] == 0:
        return
    n_components, d = cd.shape
    n_rows = logp.shape[1]
    for k in range(n_components):
        for i in range(d):
            c = cd[k, i]
            for t in range(n_rows):
                logp[k, t] -= mt[i, t] * c


# signature: (ct[d,T] i64 (-1 missing), eta_t[m,K] f64, const[K] f64, lp_t[T,K], logp[K,T])
@helper
def code_log_prob_tile_masked(ct, eta_t, const, lp_t, logp):
    """:func:`code_log_prob_tile` skipping missing codes."""
    d, n_rows = ct.shape
    n_components = eta_t.shape[1]
    for t in range(n_rows):
        for k in range(n_components):
            lp_t[t, k] = const[k]
        for i in range(d):
            r = ct[i, t]
            if r >= 0:
                for k in range(n_components):
                    lp_t[t, k] += eta_t[r, k]
    for k in range(n_components):
        for t in range(n_rows):
            logp[k, t] = lp_t[t, k]


# signature: (ct[d,T] i64, nt, resp[K,T], wt[T], rw_t[K], acc_t[m,K], mis_t[d,K]) -> None
@helper
def accumulate_codes_tile_masked(ct, nt, resp, wt, rw_t, acc_t, mis_t):
    """:func:`accumulate_codes_tile` skipping missing codes, whose ``w r`` goes to the
    column's missing mass ``mis_t[i, k]`` instead."""
    d = ct.shape[0]
    n_components = resp.shape[0]
    for t in range(nt):
        w = wt[t]
        for k in range(n_components):
            rw_t[k] = resp[k, t] * w
        for i in range(d):
            r = ct[i, t]
            if r >= 0:
                for k in range(n_components):
                    acc_t[r, k] += rw_t[k]
            else:
                for k in range(n_components):
                    mis_t[i, k] += rw_t[k]


# signature: (X, sample_weight, eta[K,d], const[K], cd[K,d], log_factorial, nk, st, sc, nmis,
#             ll, s, r0, r1)
@helper
def dense_slot_masked(X, sample_weight, eta, const, cd, log_factorial, nk, st, sc, nmis, ll,
                      s, r0, r1):
    """:func:`dense_slot` over observed coordinates; ``nmis[s, k, i] += w r`` of every row
    missing coordinate ``i``; the complement ``sc`` sums ``w r (1 - x)`` over observed
    entries only."""
    d = X.shape[1]
    n_components = eta.shape[0]
    want_complement = sc.shape[1] == n_components
    counts = log_factorial.shape[0] > 0
    xt = np.zeros((d, TILE))
    mt = np.zeros((d, TILE))
    obs = np.zeros(TILE)
    logp = np.zeros((n_components, TILE))
    wt = np.zeros(TILE)
    rw = np.zeros(TILE)
    lpn = np.zeros(TILE)
    ll_sum = 0.0
    w_sum = 0.0
    for t0 in range(r0, r1, TILE):
        nt = min(TILE, r1 - t0)
        load_tile_masked(X, t0, nt, xt, mt, obs)
        load_weights(sample_weight, t0, nt, wt)
        for t in range(nt):
            wt[t] *= obs[t]
        dense_log_prob_tile(xt, eta, const, logp)
        remove_missing_constants(mt, cd, logp)
        normalise_tile(logp, lpn)
        if counts:
            subtract_log_factorials(xt, nt, log_factorial, lpn)
        for t in range(nt):
            ll_sum += wt[t] * lpn[t]
            w_sum += wt[t]
        for k in range(n_components):
            tot = 0.0
            for t in range(nt):
                rw[t] = logp[k, t] * wt[t]
                tot += rw[t]
            nk[s, k] += tot
            for i in range(d):
                acc = 0.0
                accm = 0.0
                for t in range(nt):
                    acc += rw[t] * xt[i, t]
                    accm += rw[t] * mt[i, t]
                st[s, k, i] += acc
                nmis[s, k, i] += accm
                if want_complement:
                    acc0 = 0.0
                    for t in range(nt):
                        acc0 += rw[t] * (1.0 - xt[i, t] - mt[i, t])
                    sc[s, k, i] += acc0
    ll[s, 0] = ll_sum
    ll[s, 1] = w_sum


# signature: (X, sample_weight, eta[K,m], const[K], offsets[d+1], nk, st, nmis, ll, s, r0, r1)
@helper
def codes_slot_masked(X, sample_weight, eta, const, offsets, nk, st, nmis, ll, s, r0, r1):
    """:func:`codes_slot` skipping missing codes; ``nmis[s, k, i]`` gets the missing mass of
    column ``i``."""
    d = X.shape[1]
    n_components, m = eta.shape
    ct = np.zeros((d, TILE), np.int64)
    mt = np.zeros((d, TILE))
    obs = np.zeros(TILE)
    eta_t = np.zeros((m, n_components))
    for k in range(n_components):
        for j in range(m):
            eta_t[j, k] = eta[k, j]
    acc_t = np.zeros((m, n_components))
    mis_t = np.zeros((d, n_components))
    lp_t = np.zeros((TILE, n_components))
    rw_t = np.zeros(n_components)
    logp = np.zeros((n_components, TILE))
    wt = np.zeros(TILE)
    lpn = np.zeros(TILE)
    ll_sum = 0.0
    w_sum = 0.0
    for t0 in range(r0, r1, TILE):
        nt = min(TILE, r1 - t0)
        load_weights(sample_weight, t0, nt, wt)
        load_codes_masked(X, t0, nt, offsets, ct, mt, obs)
        for t in range(nt):
            wt[t] *= obs[t]
        code_log_prob_tile_masked(ct, eta_t, const, lp_t, logp)
        normalise_tile(logp, lpn)
        for t in range(nt):
            ll_sum += wt[t] * lpn[t]
            w_sum += wt[t]
        accumulate_codes_tile_masked(ct, nt, logp, wt, rw_t, acc_t, mis_t)
        for k in range(n_components):
            tot = 0.0
            for t in range(nt):
                tot += logp[k, t] * wt[t]
            nk[s, k] += tot
    for j in range(m):
        for k in range(n_components):
            st[s, k, j] = acc_t[j, k]
    for i in range(d):
        for k in range(n_components):
            nmis[s, k, i] = mis_t[i, k]
    ll[s, 0] = ll_sum
    ll[s, 1] = w_sum


# signature: (X[n,d] f32|f64 with NaN, sample_weight[n] f64 or [0], eta[K,d], const[K],
#             cd[K,d] f64 or [K,0], log_factorial[L] or [0], nk[S,K], st[S,K,d],
#             sc[S,K,d] or [S,0,d], nmis[S,K,d], ll[S,2]) -> None
@kernel
def linexp_nan_dense_pass_chunk(X, sample_weight, eta, const, cd, log_factorial, nk, st, sc,
                                nmis, ll):
    """:func:`linexp_dense_pass_chunk` on a chunk holding NaN: each row over its observed
    coordinates (``cd``: the per-coordinate constants in ``const``), ``nmis`` the
    responsibility mass of the rows missing each coordinate (the M-step's per-coordinate
    count is ``nk - nmis``)."""
    n = X.shape[0]
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
    for s in prange(n_slots):
        r0 = s * per_slot
        r1 = min(n, r0 + per_slot)
        dense_slot_masked(X, sample_weight, eta, const, cd, log_factorial, nk, st, sc, nmis,
                          ll, s, r0, r1)


# signature: (X[n,d] f32|f64 codes with NaN, sample_weight[n] f64 or [0], eta[K,m], const[K],
#             offsets[d+1] i64, nk[S,K], st[S,K,m], nmis[S,K,d], ll[S,2]) -> None
@kernel
def linexp_nan_codes_pass_chunk(X, sample_weight, eta, const, offsets, nk, st, nmis, ll):
    """:func:`linexp_codes_pass_chunk` on a chunk holding NaN (as
    :func:`linexp_nan_dense_pass_chunk`)."""
    n = X.shape[0]
    n_slots = nk.shape[0]
    per_slot = (n + n_slots - 1) // n_slots
    for s in prange(n_slots):
        r0 = s * per_slot
        r1 = min(n, r0 + per_slot)
        codes_slot_masked(X, sample_weight, eta, const, offsets, nk, st, nmis, ll, s, r0, r1)


def _run_nan_pass(twin, X, sample_weight, eta, const, cd, offsets, log_factorial, nk, st, sc,
                  nmis, ll):
    if offsets.shape[0] > 0:
        getattr(linexp_nan_codes_pass_chunk, twin)(X, sample_weight, eta, const, offsets, nk,
                                                   st, nmis, ll)
    else:
        getattr(linexp_nan_dense_pass_chunk, twin)(X, sample_weight, eta, const, cd,
                                                   log_factorial, nk, st, sc, nmis, ll)


#: ``linexp_nan_pass_chunk(X, sample_weight, eta, const, cd, offsets, log_factorial, nk, st,
#: sc, nmis, ll)``: the masked pass, dense or codes by ``offsets`` (see :class:`_ByStatistic`).
linexp_nan_pass_chunk = _ByStatistic(_run_nan_pass)


# signature: (X[n,d] f32|f64 with NaN, eta[K,d], const[K], cd[K,d] or [K,0],
#             log_factorial or [0], lpn_out[n], labels_out[n] or [0], resp_out[n,K] or [0,K])
@kernel
def linexp_nan_dense_e_step_chunk(X, eta, const, cd, log_factorial, lpn_out, labels_out,
                                  resp_out):
    """:func:`linexp_dense_e_step_chunk` over each row's observed coordinates; a row with
    every coordinate missing gets ``log p = 0.0`` (its responsibilities are the weights)."""
    n, d = X.shape
    n_components = eta.shape[0]
    n_tiles = (n + TILE - 1) // TILE
    n_slots = min(n_tiles, 64)
    per_slot = (n_tiles + n_slots - 1) // max(n_slots, 1)
    for s in prange(n_slots):
        xt = np.zeros((d, TILE))
        mt = np.zeros((d, TILE))
        obs = np.zeros(TILE)
        logp = np.zeros((n_components, TILE))
        lpn = np.zeros(TILE)
        for tile in range(s * per_slot, min(n_tiles, (s + 1) * per_slot)):
            t0 = tile * TILE
            nt = min(TILE, n - t0)
            load_tile_masked(X, t0, nt, xt, mt, obs)
            dense_log_prob_tile(xt, eta, const, logp)
            remove_missing_constants(mt, cd, logp)
            write_outputs(logp, lpn, nt, t0, lpn_out, labels_out, resp_out, xt, log_factorial)
            for t in range(nt):
                if obs[t] == 0.0:
                    lpn_out[t0 + t] = 0.0


# signature: (X[n,d] f32|f64 codes with NaN, eta[K,m], const[K], offsets[d+1] i64,
#             lpn_out[n], labels_out[n] or [0], resp_out[n,K] or [0,K]) -> None
@kernel
def linexp_nan_codes_e_step_chunk(X, eta, const, offsets, lpn_out, labels_out, resp_out):
    """:func:`linexp_codes_e_step_chunk` skipping missing codes (as
    :func:`linexp_nan_dense_e_step_chunk`)."""
    n, d = X.shape
    n_components, m = eta.shape
    n_tiles = (n + TILE - 1) // TILE
    n_slots = min(n_tiles, 64)
    per_slot = (n_tiles + n_slots - 1) // max(n_slots, 1)
    eta_t = np.zeros((m, n_components))
    for k in range(n_components):
        for j in range(m):
            eta_t[j, k] = eta[k, j]
    for s in prange(n_slots):
        mt = np.zeros((d, TILE))
        obs = np.zeros(TILE)
        ct = np.zeros((d, TILE), np.int64)
        lp_t = np.zeros((TILE, n_components))
        logp = np.zeros((n_components, TILE))
        lpn = np.zeros(TILE)
        xt = np.zeros((0, TILE))
        no_log_factorial = np.zeros(0)
        for tile in range(s * per_slot, min(n_tiles, (s + 1) * per_slot)):
            t0 = tile * TILE
            nt = min(TILE, n - t0)
            load_codes_masked(X, t0, nt, offsets, ct, mt, obs)
            code_log_prob_tile_masked(ct, eta_t, const, lp_t, logp)
            write_outputs(logp, lpn, nt, t0, lpn_out, labels_out, resp_out, xt,
                          no_log_factorial)
            for t in range(nt):
                if obs[t] == 0.0:
                    lpn_out[t0 + t] = 0.0


def linexp_nan_e_step(X: np.ndarray, eta: np.ndarray, const: np.ndarray, cd: np.ndarray, *,
                      offsets: np.ndarray = NO_OFFSETS,
                      log_factorial: np.ndarray = NO_LOG_FACTORIAL, labels: bool = False,
                      resp: bool = False, serial: bool = False):
    """Run the masked per-row E-step (:func:`linexp_nan_codes_e_step_chunk` for non-empty
    ``offsets``, else :func:`linexp_nan_dense_e_step_chunk`) on a float chunk ``X`` holding
    NaN (returns as :func:`linexp_e_step`)."""
    n = X.shape[0]
    k = const.shape[0]
    lpn = np.empty(n)
    lab = np.empty(n if labels else 0, np.int64)
    rsp = np.empty((n, k) if resp else (0, k))
    twin = "serial" if serial else "parallel"
    if offsets.shape[0] > 0:
        getattr(linexp_nan_codes_e_step_chunk, twin)(X, eta, const, offsets, lpn, lab, rsp)
    else:
        getattr(linexp_nan_dense_e_step_chunk, twin)(X, eta, const, cd, log_factorial, lpn,
                                                     lab, rsp)
    return lpn, (lab if labels else None), (rsp if resp else None)
