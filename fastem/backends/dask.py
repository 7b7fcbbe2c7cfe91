"""Dask backend: one task per row block with the serial kernel twin, tree-merged statistics.

Every pass (an EM iteration, a Lloyd pass of the initialisation) is one Dask graph:

* the current parameters are put on the workers once (``Client.scatter(broadcast=True)`` on
  a ``distributed`` cluster, one shared graph key on the local schedulers), never embedded in
  every task;
* one task per row block of the Dask array runs the *serial* twin of the kernel (Dask already
  runs the blocks in parallel) and returns that block's :class:`~fastem.stats.SuffStats`;
* the statistics are summed by a tree of tasks, each merging up to ``_SPLIT_EVERY``
  consecutive blocks in block order, so the sum does not depend on which worker finished
  first; only the final statistics (``O(K d^2)`` numbers) come back to the client, where the
  M-step runs.

A lost worker costs only recomputation: Dask reruns the lost blocks and the result is the
same. Losing the scheduler (``Client`` closed or disconnected) raises ``ConnectionError``;
the estimator keeps its previous state.

Numba compiles each kernel once per worker process, on the first task that needs it; with
the on-disk cache on (the default, ``FASTEM_NUMBA_CACHE``) workers on one machine load the
compiled code instead of compiling it again.

Importing this module imports Dask; ``fastem.backends.choose_backend`` imports it only for
Dask input or ``backend="dask"``.
"""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any, Iterator, Optional

import numpy as np

from ..data.dask_source import DaskSource, import_dask, validate_dask_data
from ..families import CovarianceFamily, KernelArgs
from ..families.protocol import ComponentFamily
from ..families.registry import make_family
from ..kernels.checks import first_nonfinite_row
from ..stats import SuffStats
from . import numba as nb

dask, da = import_dask()

#: Number of partial statistics one reduction task merges.
_SPLIT_EVERY = 8


# ----------------------------------------------------------------------------- client side
def _active_client():
    """The ``distributed.Client`` that Dask would use now, or ``None`` for local schedulers."""
    try:
        from distributed import Client
    except ImportError:
        return None
    sched = dask.base.get_scheduler()
    client = getattr(sched, "__self__", None)
    return client if isinstance(client, Client) else None


class _Broadcast:
    """Small objects made available to every task of one pass, once."""

    def __init__(self, client) -> None:
        self.client = client

    def __call__(self, obj: Any):
        if self.client is not None:
            return self.client.scatter(obj, broadcast=True, hash=False)
        return dask.delayed(obj, pure=True, traverse=False)


def _tree_merge(parts: list, merge_fn, name: str):
    """Delayed merge of ``parts`` by a tree of tasks, each merging consecutive groups."""
    level = 0
    while len(parts) > 1:
        parts = [dask.delayed(merge_fn, pure=True)(
                     parts[i:i + _SPLIT_EVERY], dask_key_name=f"{name}-merge{level}-{i}")
                 for i in range(0, len(parts), _SPLIT_EVERY)]
        level += 1
    return parts[0]


@contextlib.contextmanager
def _connection_guard(client, what: str) -> Iterator[None]:
    """Turn a failure caused by a lost scheduler connection into ``ConnectionError``."""
    try:
        yield
    except (Exception, asyncio.CancelledError) as exc:
        if client is None or client.status in ("running", "newly-created"):
            raise
        raise ConnectionError(
            f"Lost the connection to the Dask scheduler during {what} (client status "
            f"{client.status!r}). The estimator was left unchanged; reconnect with "
            "distributed.Client(...) and fit again.") from exc


def _run_pass(source, client, what: str, build, merge_fn):
    """Build the tasks of one pass with ``build(broadcast)``, tree-merge and compute them."""
    with _connection_guard(client, what):
        tasks, prefix = build(_Broadcast(client))
        result = _tree_merge(tasks, merge_fn, prefix)
        if client is None:
            return dask.compute(result)[0]
        return client.compute(result).result()


def _require_dask_source(source) -> DaskSource:
    if not isinstance(source, DaskSource):
        raise TypeError(f"backend='dask' needs Dask input; got {source!r}. Pass a "
                        "dask.array.Array, e.g. dask.array.from_array(X, chunks=(100_000, -1)), "
                        "or use backend='numba' for in-memory arrays.")
    return source


def _block_tasks(source: DaskSource, fn, *shared, name: str) -> tuple[list, str]:
    """One delayed call ``fn(X_block, w_block, *shared, start, index, n_blocks)`` per block,
    and the key prefix of this pass.

    Each pass gets keys of its own: two passes with equal inputs (a fit at its fixed point, or a
    refit) would otherwise reuse keys the scheduler may still be forgetting, and the second
    pass's future would come back cancelled ("already forgotten").
    """
    token = dask.base.tokenize(source.X, source.sample_weight, *shared)
    prefix = f"fastem-{name}-{token}-{uuid.uuid4().hex[:12]}"
    out = []
    for i, (xb, wb) in enumerate(source.blocks()):
        out.append(dask.delayed(fn, pure=True)(
            xb, wb, *shared, int(source.starts[i]), i, source.n_blocks,
            dask_key_name=f"{prefix}-{i}"))
    return out, prefix


# ----------------------------------------------------------------------------- worker side
def _checked(X: np.ndarray, start: int, index: int, n_blocks: int,
             allow_nan: bool = False) -> np.ndarray:
    """The block as a 2-D float array, or a ``ValueError`` naming its first bad global row
    (NaN is accepted with ``allow_nan``: nan_policy "omit" or "marginalize"; inf never)."""
    X = np.asarray(X)
    if allow_nan:
        from ..families.missing import nan_row_masks
        nan_row_masks(X, start, f" (block {index} of {n_blocks})")
        return X
    if X.shape[0]:
        bad = first_nonfinite_row.serial(X)
        if bad >= 0:
            raise ValueError(f"X contains NaN or inf; row {start + bad:,} (the first bad row "
                             f"of block {index} of {n_blocks}) is bad. Drop or impute those "
                             "rows.")
    return X


def _checked_by(check_spec: Optional[dict], X, start: int, index: int,
                n_blocks: int, allow_nan: bool = False) -> np.ndarray:
    """The block checked by the Gaussian rules (``check_spec`` None; NaN accepted when
    ``allow_nan``) or by the family of ``check_spec`` (its ``prepare`` and ``validate``,
    global row numbers)."""
    if check_spec is None:
        return _checked(X, start, index, n_blocks, allow_nan)
    from ..data.checked import check_family_chunk
    return check_family_chunk(X, make_family(check_spec), row_offset=start,
                              context=f" block {index} of {n_blocks}")


def _nan_allowed(kargs: Any) -> bool:
    return getattr(kargs, "nan_policy", "raise") != "raise"


def _check_spec(source: DaskSource) -> Optional[dict]:
    family = getattr(source, "family", None)
    return None if family is None else family.spec()


def _block_em_stats(X, w, kargs: KernelArgs, spec: dict, check_spec: Optional[dict],
                    start: int, index: int, n_blocks: int) -> SuffStats:
    X = _checked_by(check_spec, X, start, index, n_blocks, _nan_allowed(kargs))
    return nb.chunk_em_stats(X, w, kargs, make_family(spec), serial=True)


def _block_kmeans_stats(X, w, centers: np.ndarray, scatter_shape, check_spec: Optional[dict],
                        start: int, index: int, n_blocks: int) -> tuple[SuffStats, float]:
    from ..data.sources import ArraySource
    X = _checked_by(check_spec, X, start, index, n_blocks)
    return nb.kmeans_stats(ArraySource(X, w), centers, scatter_shape, serial=True)


def _block_random_resp_stats(X, w, shift: np.ndarray, spec: dict, check_spec: Optional[dict],
                             seeds: np.ndarray, start: int, index: int,
                             n_blocks: int) -> SuffStats:
    X = _checked_by(check_spec, X, start, index, n_blocks)
    resp = np.random.default_rng(seeds[index]).uniform(size=(X.shape[0], shift.shape[0]))
    resp /= resp.sum(axis=1, keepdims=True)
    return nb.resp_stats(X, w, resp, shift, make_family(spec), serial=True)


def _block_label_stats(X, w, centers: np.ndarray, anchor, spec: dict,
                       check_spec: Optional[dict], start: int, index: int,
                       n_blocks: int):
    X = _checked_by(check_spec, X, start, index, n_blocks)
    return nb.chunk_label_stats(X, w, centers, anchor, make_family(spec), serial=True)


def _merge_kmeans(parts: list) -> tuple[SuffStats, float]:
    total, inertia = parts[0]
    for s, i in parts[1:]:
        total, inertia = total + s, inertia + i
    return total, inertia


def _block_e_step(X, kargs: KernelArgs, what: str, spec: Optional[dict] = None,
                  block_info=None):
    start = block_info[0]["array-location"][0][0]
    index = block_info[0]["chunk-location"][0]
    n_blocks = block_info[0]["num-chunks"][0]
    X = _checked_by(spec, X, start, index, n_blocks, _nan_allowed(kargs))
    family = None if spec is None else make_family(spec)
    lpn, labels, resp = nb.e_step_outputs(X, kargs, labels=what == "labels",
                                          resp=what == "resp", serial=True, family=family)
    return {"log_prob": lpn, "labels": labels, "resp": resp}[what]


# ----------------------------------------------------------------------------- backend API
def em_stats(source: DaskSource, kargs: KernelArgs, family: CovarianceFamily) -> SuffStats:
    """One fused E+M pass over every block of ``source``: statistics about ``kargs.means``.

    Parameters
    ----------
    source : DaskSource
    kargs : KernelArgs
        Current parameters; sent to the workers once for this pass.
    family : CovarianceFamily

    Returns
    -------
    SuffStats
        The merged statistics of all blocks.
    """
    source = _require_dask_source(source)
    return _run_pass(source, _active_client(), "an EM pass", lambda bc: _block_tasks(
        source, _block_em_stats, bc(kargs), family.spec(), _check_spec(source), name="em"),
        _merge_any)


def kmeans_stats(source: DaskSource, centers: np.ndarray,
                 scatter_shape: Optional[tuple[int, ...]]) -> tuple[SuffStats, float]:
    """One distributed Lloyd pass: hard-assignment statistics about ``centers``, and inertia."""
    source = _require_dask_source(source)
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    sshape = None if scatter_shape is None else tuple(scatter_shape)
    return _run_pass(source, _active_client(), "a k-means pass", lambda bc: _block_tasks(
        source, _block_kmeans_stats, bc(centers), sshape, _check_spec(source),
        name="kmeans"), _merge_kmeans)


def random_resp_stats(source: DaskSource, shift: np.ndarray, family: CovarianceFamily,
                      rng: np.random.Generator) -> SuffStats:
    """Statistics of uniform random responsibilities (``init_params="random"``), per block.

    Every block draws from its own seed taken from ``rng``, so the draws depend on the
    block sizes (as they depend on ``chunk_size`` in memory).
    """
    source = _require_dask_source(source)
    seeds = rng.integers(0, 2**63 - 1, size=source.n_blocks)
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    return _run_pass(source, _active_client(), "the random initialisation",
                     lambda bc: _block_tasks(source, _block_random_resp_stats, bc(shift),
                                             family.spec(), _check_spec(source), bc(seeds),
                                             name="random-resp"),
                     _merge_any)


def label_stats(source: DaskSource, centers: np.ndarray, anchor, family: ComponentFamily):
    """Statistics of the hard assignment of every row to its nearest centre
    (``family.resp_stats`` of one-hot responsibilities), one task per block."""
    source = _require_dask_source(source)
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    return _run_pass(source, _active_client(), "the initialisation",
                     lambda bc: _block_tasks(source, _block_label_stats, bc(centers),
                                             bc(anchor), family.spec(), _check_spec(source),
                                             name="labels"), _merge_any)


def _merge_any(parts: list):
    """Sum of statistics in block order (any family's ``+``)."""
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def lazy_e_step(X: Any, kargs: KernelArgs, what: str, *, n_features: int,
                owner: str = "GaussianMixture", family: Optional[ComponentFamily] = None,
                n_components: Optional[int] = None):
    """Per-row E-step outputs of a Dask collection, as a lazy Dask array.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
    kargs : KernelArgs
        Fitted parameters; one shared graph key, not copied into every task.
    what : {"log_prob", "labels", "resp"}

    Returns
    -------
    dask.array.Array
        Shape (n_samples,) for "log_prob" (float64) and "labels" (int64), (n_samples,
        n_components) for "resp".
    """
    if family is None:
        Xd = validate_dask_data(X, owner=owner, n_features=n_features)
    else:
        Xd = validate_dask_data(X, owner=owner, n_features=n_features, family=family)
    shared = dask.delayed(kargs, pure=True, traverse=False)
    extra = () if family is None else (family.spec(),)
    if what == "resp":
        k = kargs.means.shape[0] if n_components is None else int(n_components)
        return Xd.map_blocks(_block_e_step, shared, what, *extra, dtype=np.float64,
                             chunks=(Xd.chunks[0], (k,)), meta=np.empty((0, 0)))
    dtype = np.int64 if what == "labels" else np.float64
    return Xd.map_blocks(_block_e_step, shared, what, *extra, dtype=dtype, drop_axis=1,
                         meta=np.empty((0,), dtype))


__all__ = ["em_stats", "kmeans_stats", "random_resp_stats", "label_stats", "lazy_e_step"]
