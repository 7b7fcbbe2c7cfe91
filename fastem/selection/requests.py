"""The passes a candidate can ask the lockstep driver for (one class per kind of pass).

Each request reproduces, chunk by chunk, exactly what the corresponding single-fit pass
computes (:func:`fastem.backends.numba.em_stats`, ``kmeans_stats``, ``random_resp_stats``,
the reservoir branch of :func:`fastem.init.draw_sample`), summing in the same chunk order,
so a candidate's statistics are bit-identical to those of its own fit.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..backends import numba as nb
from ..data.sources import ArraySource, Chunk
from ..families.protocol import ComponentFamily
from .lockstep import PassRequest

#: The scoring pass computes responsibilities for at most this many values at a time
#: (rows x components), so it never holds an ``n_samples x n_components`` array.
SCORE_BLOCK_VALUES = 1 << 20


def rng_key(rng: np.random.Generator) -> str:
    """A hashable fingerprint of a generator's exact state."""
    return repr(rng.bit_generator.state)


class EMPass(PassRequest):
    """One fused E+M pass under ``kargs`` (as ``nb.em_stats``)."""

    def __init__(self, family: ComponentFamily, kargs) -> None:
        self.family, self.kargs = family, kargs
        self.total = family.zero_stats(kargs)

    def feed(self, chunk: Chunk) -> None:
        self.total = self.total + self.family.chunk_stats(chunk.X, chunk.sample_weight,
                                                          self.kargs)

    def finish(self):
        return self.total


def _seen(X, view):
    """A chunk's rows as the initialisation sees them (``view.transform``, e.g. one-hot
    codes), or as they are."""
    return X if view is None else view.transform(X)


def _view_key(view) -> Optional[tuple]:
    return None if view is None else (tuple(view.cat_cols), tuple(view.n_categories))


class KMeansPass(PassRequest):
    """One Lloyd pass about ``centers`` (as ``nb.kmeans_stats``), with the scatter in
    ``scatter_shape`` when given. Candidates with identical centres share it."""

    def __init__(self, centers: np.ndarray, scatter_shape: Optional[tuple],
                 view: Any = None) -> None:
        self.centers = np.ascontiguousarray(centers, dtype=np.float64)
        self.scatter_shape = None if scatter_shape is None else tuple(scatter_shape)
        self.view = view
        self.key = ("kmeans", self.centers.shape, self.centers.tobytes(), self.scatter_shape,
                    _view_key(view))
        self.total = None

    def feed(self, chunk: Chunk) -> None:
        # One chunk as its own source: zero + chunk is the chunk exactly, so the running
        # sum is the one kmeans_stats forms over the whole source.
        part, _ = nb.kmeans_stats(ArraySource(_seen(chunk.X, self.view), chunk.sample_weight),
                                  self.centers, self.scatter_shape)
        self.total = part if self.total is None else self.total + part

    def finish(self):
        if self.total is None:
            raise ValueError("The data source yielded no rows.")
        return self.total


class LabelPass(PassRequest):
    """Statistics of hard labels (every row to its nearest centre) about ``anchor``, as
    ``nb.label_stats`` (a non-Gaussian family's initialisation)."""

    def __init__(self, centers: np.ndarray, anchor, family: ComponentFamily,
                 view: Any = None) -> None:
        self.centers, self.anchor, self.family, self.view = centers, anchor, family, view
        self.total = None

    def feed(self, chunk: Chunk) -> None:
        part = nb.chunk_label_stats(_seen(chunk.X, self.view), chunk.sample_weight,
                                    self.centers, self.anchor, self.family)
        self.total = part if self.total is None else self.total + part

    def finish(self):
        if self.total is None:
            raise ValueError("The data source yielded no rows.")
        return self.total


class RandomRespPass(PassRequest):
    """Statistics of uniform random responsibilities (as ``nb.random_resp_stats``),
    drawn from the candidate's own generator chunk by chunk."""

    def __init__(self, shift: np.ndarray, family: ComponentFamily,
                 rng: np.random.Generator) -> None:
        self.shift, self.family, self.rng = shift, family, rng
        self.total = None

    def feed(self, chunk: Chunk) -> None:
        k = np.shape(self.shift)[0]
        resp = self.rng.uniform(size=(chunk.X.shape[0], k))
        resp /= resp.sum(axis=1, keepdims=True)
        part = nb.resp_stats(chunk.X, chunk.sample_weight, resp, self.shift, self.family)
        self.total = part if self.total is None else self.total + part

    def finish(self):
        if self.total is None:
            raise ValueError("The data source yielded no rows.")
        return self.total


class ReservoirSample(PassRequest):
    """The streaming branch of :func:`fastem.init.draw_sample`: the ``m`` rows with the
    smallest uniform keys. Candidates whose generators are in the same state share it (the
    others' generators are then moved to the state the draw left)."""

    def __init__(self, m: int, rng: np.random.Generator) -> None:
        self.m, self.rng = m, rng
        self.key = ("sample", m, rng_key(rng))
        self.keys = np.empty(0)
        self.rows: Optional[np.ndarray] = None
        self.wts = np.empty(0)

    def feed(self, chunk: Chunk) -> None:
        m = self.m
        ck = self.rng.random(chunk.X.shape[0])
        cw = (np.ones(chunk.X.shape[0]) if chunk.sample_weight is None
              else np.asarray(chunk.sample_weight, dtype=np.float64))
        if len(self.keys) >= m:
            sel = ck < self.keys.max()
            if not sel.any():
                return
        else:
            sel = np.ones(len(ck), bool)
        cx = np.asarray(chunk.X[sel], dtype=np.float64)
        self.keys = np.concatenate([self.keys, ck[sel]])
        self.rows = cx if self.rows is None else np.concatenate([self.rows, cx])
        self.wts = np.concatenate([self.wts, cw[sel]])
        if len(self.keys) > m:
            keep = np.sort(np.argpartition(self.keys, m - 1)[:m])
            self.keys, self.rows, self.wts = self.keys[keep], self.rows[keep], self.wts[keep]

    def finish(self):
        if self.rows is None:
            raise ValueError("The data source yielded no rows; cannot initialise.")
        self.final_state = self.rng.bit_generator.state   # before its owner moves on
        return self.rows, self.wts

    def adopt(self, representative: "ReservoirSample", result):
        self.rng.bit_generator.state = representative.final_state
        return result


class ScorePass(PassRequest):
    """The final models' criteria ingredients: ``sum w log p(x)``, ``sum w`` and
    ``sum w log max_k r_k(x)`` (for ICL), from per-row outputs in blocks of at most
    :data:`SCORE_BLOCK_VALUES` responsibilities."""

    def __init__(self, family: ComponentFamily, kargs, n_components: Optional[int] = None
                 ) -> None:
        self.family, self.kargs = family, kargs
        self.k = kargs.means.shape[0] if n_components is None else int(n_components)
        self.loglik = 0.0
        self.weight_sum = 0.0
        self.log_rmax = 0.0
        self.n_rows = 0

    def feed(self, chunk: Chunk) -> None:
        n = chunk.X.shape[0]
        step = max(1, SCORE_BLOCK_VALUES // max(self.k, 1))
        for a in range(0, n, step):
            X = chunk.X[a:a + step]
            lpn, lab, resp = self.family.e_step_outputs(X, self.kargs, labels=True,
                                                        resp=True)
            # The label's responsibility is the row's largest (a gather: resp.max(axis=1),
            # a reduction over the short axis, cost more than the E-step itself).
            with np.errstate(divide="ignore"):
                lr = np.log(resp[np.arange(resp.shape[0]), lab])
            if chunk.sample_weight is None:
                self.loglik += float(lpn.sum())
                self.log_rmax += float(lr.sum())
                self.weight_sum += float(X.shape[0])
            else:
                w = np.asarray(chunk.sample_weight[a:a + step], dtype=np.float64)
                self.loglik += float(w @ lpn)
                self.log_rmax += float(w @ lr)
                self.weight_sum += float(w.sum())
        self.n_rows += n

    def finish(self):
        return {"loglik": self.loglik, "weight_sum": self.weight_sum,
                "log_rmax": self.log_rmax, "n_rows": self.n_rows}


__all__ = ["EMPass", "KMeansPass", "LabelPass", "RandomRespPass", "ReservoirSample", "ScorePass",
           "SCORE_BLOCK_VALUES", "rng_key"]
