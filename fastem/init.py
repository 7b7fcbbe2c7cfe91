"""Initial parameters: k-means, k-means++, random responsibilities, random rows.

Every method works on any chunk source without loading it: a uniform sample of rows (drawn
by index for arrays, by reservoir for streams) is used for seeding, and full passes over the
source use the same statistics-accumulating kernels as EM.

========================  ==================================================================
``init_params``           what it does
========================  ==================================================================
``"kmeans"``              k-means++ seeds on the sample, Lloyd iterations on the sample until
                          the centres settle, one Lloyd pass over all rows; then every row is
                          assigned to its nearest centre and the parameters are estimated from
                          those hard labels (as scikit-learn does with ``KMeans`` labels).
``"k-means++"``           k-means++ seeds on the sample; rows assigned to the nearest seed.
``"random_from_data"``    ``n_components`` distinct random rows as centres; rows assigned to
                          the nearest one (scikit-learn instead gives each centre a single row,
                          which makes every initial covariance ``reg_covar * I``).
``"random"``              uniform random responsibilities per row, normalised (all means start
                          near the data mean), as in scikit-learn.
========================  ==================================================================
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .data.sources import ArraySource, ChunkSource
from .families import CovarianceFamily, GaussianParams
from .kernels.kmeans import kmeanspp_indices
from ._validation import precision_error
from .mstep import m_step
from .backends import numba as nb
from .stats import SuffStats

INITIALIZERS = ("kmeans", "k-means++", "random", "random_from_data")

_SAMPLE_MIN = 20_000
_SAMPLE_PER_COMPONENT = 200
_LLOYD_SAMPLE_MAX_ITER = 100
_LLOYD_TOL = 1e-4
_LLOYD_FULL_PASSES = 1


def sample_size(n_components: int) -> int:
    """Rows drawn for seeding: enough for every component, bounded for memory."""
    return max(_SAMPLE_MIN, _SAMPLE_PER_COMPONENT * n_components)


def draw_sample(source: ChunkSource, m: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """A uniform sample without replacement of at most ``m`` rows, and their weights.

    Every row gets a uniform random key (drawn in row order, so the keys do not depend on
    how the source is chunked) and the ``m`` rows with the smallest keys are kept, in row
    order. Sources that can ``take`` rows (arrays, Dask arrays) keep only keys and indices,
    then gather the rows; other sources keep a reservoir of rows. Either way memory stays
    ``O(m + chunk)``, and an array, a Dask array, and a file or stream holding the same rows
    give the same sample.
    """
    if hasattr(source, "take") and source.n_samples is not None:
        idx = _smallest_key_rows(source.n_samples, m, rng)
        return source.take(idx), source.weights_at(idx)
    keys = np.empty(0)
    rows: Optional[np.ndarray] = None
    wts = np.empty(0)
    for chunk in source.chunks():
        ck = rng.random(chunk.X.shape[0])
        cw = (np.ones(chunk.X.shape[0]) if chunk.sample_weight is None
              else np.asarray(chunk.sample_weight, dtype=np.float64))
        if len(keys) >= m:
            sel = ck < keys.max()
            if not sel.any():
                continue
        else:
            sel = np.ones(len(ck), bool)
        cx = np.asarray(chunk.X[sel], dtype=np.float64)
        keys = np.concatenate([keys, ck[sel]])
        rows = cx if rows is None else np.concatenate([rows, cx])
        wts = np.concatenate([wts, cw[sel]])
        if len(keys) > m:
            keep = np.sort(np.argpartition(keys, m - 1)[:m])
            keys, rows, wts = keys[keep], rows[keep], wts[keep]
    if rows is None:
        raise ValueError("The data source yielded no rows; cannot initialise.")
    return rows, wts


def _smallest_key_rows(n: int, m: int, rng: np.random.Generator,
                       block: int = 1 << 20) -> np.ndarray:
    """Sorted indices of the ``m`` smallest of ``n`` uniform keys drawn in row order."""
    keys = np.empty(0)
    idx = np.empty(0, np.int64)
    for start in range(0, n, block):
        ck = rng.random(min(block, n - start))
        sel = np.flatnonzero(ck < keys.max()) if len(keys) >= m else np.arange(len(ck))
        keys = np.concatenate([keys, ck[sel]])
        idx = np.concatenate([idx, start + sel])
        if len(keys) > m:
            keep = np.argpartition(keys, m - 1)[:m]
            keys, idx = keys[keep], idx[keep]
    return np.sort(idx)


def _kmeanspp(Xs: np.ndarray, ws: np.ndarray, n_components: int,
              rng: np.random.Generator) -> np.ndarray:
    n_trials = 2 + int(math.log(n_components))
    uniforms = rng.random(1 + (n_components - 1) * n_trials)
    idx = kmeanspp_indices.parallel(np.ascontiguousarray(Xs), np.ascontiguousarray(ws),
                                    uniforms, n_components, n_trials)
    return Xs[idx].copy()


def _lloyd_centers(stats: SuffStats, centers: np.ndarray) -> np.ndarray:
    nk = stats.nk
    out = centers.copy()
    ok = nk > 0
    out[ok] = centers[ok] + stats.s1[ok] / nk[ok, None]
    return out


def _lloyd_on_sample(Xs: np.ndarray, ws: np.ndarray, centers: np.ndarray) -> np.ndarray:
    src = ArraySource(Xs, ws)
    scale = float(np.average(np.var(Xs, axis=0), weights=None)) or 1.0
    for _ in range(_LLOYD_SAMPLE_MAX_ITER):
        stats, _ = nb.kmeans_stats(src, centers, None)
        new = _lloyd_centers(stats, centers)
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= _LLOYD_TOL * scale:
            break
    return centers


def initialize(source: ChunkSource, family: CovarianceFamily, n_components: int,
               method: str, rng: np.random.Generator, reg_covar: float, *,
               weights_init: Optional[np.ndarray] = None,
               means_init: Optional[np.ndarray] = None,
               precisions_init: Optional[np.ndarray] = None,
               backend=None) -> GaussianParams:
    """Initial parameters for EM; user-given ``*_init`` arrays override the estimates.

    When all three of ``weights_init``, ``means_init`` and ``precisions_init`` are given the
    data is not read at all. ``backend`` (default: the in-process numba backend) runs the
    passes over the full source: its ``kmeans_stats``, and ``random_resp_stats`` when it has
    one.
    """
    d = source.n_features
    if weights_init is not None and means_init is not None and precisions_init is not None:
        return params_from_user(family, weights_init, means_init, precisions_init)

    stats = _initial_stats(source, family, n_components, method, rng, backend or nb)
    params = m_step(family, stats, reg_covar, dtype_hint=getattr(source, "dtype", None))
    weights = params.weights if weights_init is None else np.asarray(weights_init, float)
    means = params.means if means_init is None else np.asarray(means_init, float)
    cov, prec_chol = params.covariances, params.precisions_cholesky
    if precisions_init is not None:
        prec_chol = _user_prec_chol(family, precisions_init)
        cov = family.covariances_from_precisions(np.asarray(precisions_init, float))
    assert means.shape == (n_components, d)
    return GaussianParams(weights, means, cov, prec_chol)


def _initial_stats(source, family, n_components, method, rng, backend) -> SuffStats:
    d = source.n_features
    scatter = family.scatter_shape(n_components, d)
    Xs, ws = draw_sample(source, sample_size(n_components), rng)
    if Xs.shape[0] < n_components:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = {n_components}, "
            f"n_samples = {Xs.shape[0]}")
    if method == "random":
        shift = np.broadcast_to(np.average(Xs, axis=0, weights=ws), (n_components, d)).copy()
        return backend.random_resp_stats(source, shift, family, rng)
    if method == "random_from_data":
        centers = Xs[np.sort(rng.choice(Xs.shape[0], size=n_components, replace=False))]
    else:
        centers = _kmeanspp(Xs, ws, n_components, rng)
        if method == "kmeans":
            centers = _lloyd_on_sample(Xs, ws, centers)
            for _ in range(_LLOYD_FULL_PASSES):
                centers = _lloyd_centers(backend.kmeans_stats(source, centers, None)[0],
                                         centers)
    stats, _ = backend.kmeans_stats(source, centers, scatter)
    return stats


def _user_prec_chol(family: CovarianceFamily, precisions_init) -> np.ndarray:
    pc, bad = family.precision_cholesky_from_precisions(np.asarray(precisions_init, float))
    if bad >= 0:
        raise precision_error(family, bad)
    return pc


def params_from_user(family: CovarianceFamily, weights_init, means_init,
                     precisions_init) -> GaussianParams:
    """Parameters given entirely by the user (no data is read)."""
    prec = np.asarray(precisions_init, float)
    return GaussianParams(np.asarray(weights_init, float), np.asarray(means_init, float),
                          family.covariances_from_precisions(prec),
                          _user_prec_chol(family, prec))


def family_initial_stats(source: ChunkSource, family, n_components: int, method: str,
                         rng: np.random.Generator, backend=None):
    """Statistics for the first M-step of any component family (the protocol only).

    ``method`` finds hard labels as for the Gaussian (k-means / k-means++ / random rows on
    the rows read as float64; see the table above) and returns
    ``family.resp_stats`` of those one-hot responsibilities over every row (the backend's
    ``label_stats``), or, for ``"random"``, of uniform random responsibilities (the
    backend's ``random_resp_stats``). The statistics are taken about the weighted mean of
    the sample (the ``anchor``; ignored by families without a shift). No ``n x K`` array.
    """
    backend = backend or nb
    k, d = n_components, source.n_features
    Xs, ws = draw_sample(source, sample_size(k), rng)
    if Xs.shape[0] < k:
        raise ValueError(f"Expected n_samples >= n_components but got n_components = {k}, "
                         f"n_samples = {Xs.shape[0]}")
    anchor = np.broadcast_to(np.average(Xs, axis=0, weights=ws), (k, d)).copy()
    if method == "random":
        return backend.random_resp_stats(source, anchor, family, rng)
    if method == "random_from_data":
        centers = Xs[np.sort(rng.choice(Xs.shape[0], size=k, replace=False))]
    else:
        centers = _kmeanspp(Xs, ws, k, rng)
        if method == "kmeans":
            centers = _lloyd_on_sample(Xs, ws, centers)
            for _ in range(_LLOYD_FULL_PASSES):
                centers = _lloyd_centers(backend.kmeans_stats(source, centers, None)[0],
                                         centers)
    return backend.label_stats(source, centers, anchor, family)

