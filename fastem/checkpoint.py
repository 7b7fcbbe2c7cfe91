"""Checkpoint and resume of a fit: the EM state is written after every iteration.

EM from given parameters is deterministic (fixed accumulation slots, ordered merges), so the
state after iteration ``t`` (parameters, lower bounds, the random generator's state after
the current restart's initialisation, and the best earlier restart) is enough to finish
with exactly the parameters of an uninterrupted fit. Files use the container of
:mod:`fastem.io` (``kind="checkpoint"``) and are replaced atomically, so a fit killed at any
moment leaves the previous complete checkpoint.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional

import numpy as np

from .em import EMResult, IterationInfo, ResumePoint
from .families import GaussianParams
from .io import read_container, to_json, write_container

_FIELDS = ("weights", "means", "covariances", "precisions_cholesky")
# Estimator parameters that do not change the result (excluded from the fingerprint).
_NEUTRAL = {"verbose", "verbose_interval", "n_threads", "progress", "checkpoint"}


def fit_fingerprint(params: dict, n_samples: Optional[int], n_features: int,
                    dtype: Any) -> dict:
    """What must match for a checkpoint to belong to this fit."""
    return {"params": {k: to_json(v) for k, v in sorted(params.items()) if k not in _NEUTRAL},
            "n_samples": n_samples, "n_features": int(n_features), "dtype": str(dtype)}


def _params_arrays(prefix: str, p: GaussianParams) -> dict:
    return {prefix + f: np.asarray(getattr(p, f)) for f in _FIELDS}


def _params_from(prefix: str, arrays: dict) -> GaussianParams:
    return GaussianParams(*(arrays[prefix + f] for f in _FIELDS))


class Checkpointer:
    """Writes the state after each iteration and reads it back to resume.

    Parameters
    ----------
    path : str or os.PathLike
    fingerprint : dict
        From :func:`fit_fingerprint`; a checkpoint with another fingerprint is refused.
    rng : numpy.random.Generator
        The fit's generator; its state is saved after each initialisation and restored on
        resume.
    tol, max_iter : float, int
        To know whether the restart that wrote a checkpoint had finished.
    """

    def __init__(self, path, fingerprint: dict, rng: np.random.Generator, tol: float,
                 max_iter: int) -> None:
        self.path = os.fspath(path)
        self.fingerprint = fingerprint
        self.rng = rng
        self.tol = tol
        self.max_iter = max_iter
        self._rng_state: Any = None
        self._lower_bounds: list = []
        self._init = -1
        self._best: Optional[EMResult] = None

    # ------------------------------------------------------------------ resume
    def load(self) -> Optional[ResumePoint]:
        """The resume point stored at ``path``, or ``None`` when there is no file."""
        if not os.path.exists(self.path):
            return None
        header, arrays = read_container(self.path, "checkpoint")
        if header.get("fingerprint") != to_json(self.fingerprint):
            raise ValueError(
                f"The checkpoint {self.path!r} belongs to another fit (different parameters "
                "or data shape); delete it or choose another checkpoint path.")
        state = header["state"]
        self._rng_state = state["rng_state"]
        self.rng.bit_generator.state = self._rng_state
        best = None
        if state["best"] is not None:
            b = state["best"]
            best = EMResult(_params_from("best_", arrays), b["converged"], b["n_iter"],
                            b["lower_bound"], b["lower_bounds"])
        self._best, self._init = best, state["init"]
        self._lower_bounds = list(state["lower_bounds"])
        return ResumePoint(state["init"], state["n_iter"], _params_from("", arrays),
                           list(state["lower_bounds"]), state["finished"],
                           state["converged"], best)

    # ------------------------------------------------------------------ hooks
    def wrap_initializer(self, initializer: Callable[[int], GaussianParams]
                         ) -> Callable[[int], GaussianParams]:
        """``initializer`` that also records the generator's state after it ran."""
        def wrapped(i: int) -> GaussianParams:
            params = initializer(i)
            self._rng_state = to_json(self.rng.bit_generator.state)
            return params
        return wrapped

    def callback(self, info: IterationInfo) -> None:
        """Write the state after iteration ``info.n_iter`` of restart ``info.init``."""
        if info.init != self._init:
            self._init, self._lower_bounds = info.init, []
        self._lower_bounds.append(float(info.lower_bound))
        converged = abs(info.change) < self.tol
        finished = converged or info.n_iter >= self.max_iter
        b = self._best
        state = {"init": info.init, "n_iter": info.n_iter,
                 "lower_bounds": list(self._lower_bounds), "finished": finished,
                 "converged": converged, "rng_state": self._rng_state,
                 "best": None if b is None else {
                     "converged": bool(b.converged), "n_iter": int(b.n_iter),
                     "lower_bound": float(b.lower_bound),
                     "lower_bounds": [float(v) for v in b.lower_bounds]}}
        arrays = _params_arrays("", info.params)
        if b is not None:
            arrays.update(_params_arrays("best_", b.params))
        write_container(self.path, "checkpoint",
                        {"fingerprint": to_json(self.fingerprint), "state": state}, arrays)

    def on_init_end(self, result: EMResult, seconds: float) -> None:
        """Remember the best finished restart (saved with the next checkpoint)."""
        if self._best is None or result.lower_bound > self._best.lower_bound:
            self._best = result

    def hooks(self) -> dict:
        """Callbacks for :func:`fastem.em.fit_mixture`."""
        return {"callback": self.callback, "on_init_end": self.on_init_end}
