"""Shared passes on Dask: every running candidate's pass in one graph, computed at once.

Each request of a pass becomes the same delayed graph the Dask backend
(:mod:`fastem.backends.dask`) builds for that pass in a single fit (one task per block with
the serial kernel, then the same merge tree), so a candidate's statistics are those of its
own Dask fit. All of a pass's graphs are computed by one ``dask.compute`` (or one
``client.compute``): they share the keys of the input blocks, so each block is read once per
pass for all candidates.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .requests import EMPass, KMeansPass, RandomRespPass, ScorePass


def _block_score(X, w, kargs, spec: dict, check_spec, k: int, start: int, index: int,
                 n_blocks: int) -> dict:
    from ..data.sources import ArraySource
    from ..families.registry import make_family
    from ..backends.dask import _checked_by
    X = _checked_by(check_spec, X, start, index, n_blocks)
    req = ScorePass(make_family(spec), kargs, k)
    for chunk in ArraySource(X, w).chunks():
        req.feed(chunk)
    return req.finish()


def _merge_scores(parts: list) -> dict:
    out = dict(parts[0])
    for p in parts[1:]:
        for key in out:
            out[key] = out[key] + p[key]
    return out


def _graph(req: Any, source, bc) -> tuple[Any, Callable[[Any], Any]]:
    """The delayed result of ``req`` over ``source`` and how to turn it into the result
    the candidate expects."""
    from ..backends import dask as dk
    from ..stats import merge
    check = dk._check_spec(source)
    if isinstance(req, EMPass):
        tasks, prefix = dk._block_tasks(source, dk._block_em_stats, bc(req.kargs),
                                        req.family.spec(), check, name="em")
        return dk._tree_merge(tasks, merge, prefix), lambda v: v
    if isinstance(req, KMeansPass):
        tasks, prefix = dk._block_tasks(source, dk._block_kmeans_stats, bc(req.centers),
                                        req.scatter_shape, check, name="kmeans")
        return dk._tree_merge(tasks, dk._merge_kmeans, prefix), lambda v: v[0]
    if isinstance(req, RandomRespPass):
        seeds = req.rng.integers(0, 2**63 - 1, size=source.n_blocks)
        shift = np.ascontiguousarray(req.shift, dtype=np.float64)
        tasks, prefix = dk._block_tasks(source, dk._block_random_resp_stats, bc(shift),
                                        req.family.spec(), check, bc(seeds),
                                        name="random-resp")
        return dk._tree_merge(tasks, merge, prefix), lambda v: v
    if isinstance(req, ScorePass):
        tasks, prefix = dk._block_tasks(source, _block_score, bc(req.kargs),
                                        req.family.spec(), check, req.k, name="score")
        return dk._tree_merge(tasks, _merge_scores, prefix), lambda v: v
    raise TypeError(f"{type(req).__name__} has no Dask form (sources that can take rows "
                    "need no sampling pass).")


def dask_executor(source) -> Callable[[list], list]:
    """``run(requests) -> results``: one shared pass of ``requests`` over a DaskSource."""
    import dask
    from ..backends import dask as dk

    def run(requests: list) -> list:
        client = dk._active_client()
        with dk._connection_guard(client, "a shared pass of the sweep"):
            bc = dk._Broadcast(client)
            graphs, finishers = zip(*(_graph(r, source, bc) for r in requests))
            if client is None:
                values = dask.compute(*graphs)
            else:
                values = [f.result() for f in client.compute(list(graphs))]
        return [fin(v) for fin, v in zip(finishers, values)]

    return run


__all__ = ["dask_executor"]
