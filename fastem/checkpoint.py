"""Checkpoint and resume of a fit: the EM state is written after every iteration.

EM from given parameters is deterministic (fixed accumulation slots, ordered merges), so the
state after iteration ``t`` (parameters, lower bounds, the random generator's state after
the current restart's initialisation, and the best earlier restart) is enough to finish
with exactly the parameters of an uninterrupted fit. Files use the container of
:mod:`fastem.io` (``kind="checkpoint"``) and are replaced atomically, so a fit killed at any
moment leaves the previous complete checkpoint.
"""
from __future__ import annotations

import hashlib
import os
import sys
from typing import Any, Callable, Optional

import numpy as np

from . import _filecheck as fc
from .data.npy import NpyAdapter
from .data.open import refuse_overwriting_input, source_file
from .em import EMResult, IterationInfo, ResumePoint
from .families import GaussianParams
from .io import check_writable, read_container, to_json, write_container

_FIELDS = ("weights", "means", "covariances", "precisions_cholesky")
# Estimator parameters that do not change the result (excluded from the fingerprint).
_NEUTRAL = {"verbose", "verbose_interval", "n_threads", "progress", "checkpoint"}


#: Rows hashed to recognise the data (evenly spaced, first and last included).
SAMPLE_ROWS = 256


def _sample_index(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, SAMPLE_ROWS)).astype(np.int64))


def _sampled_rows(source: Any) -> Optional[np.ndarray]:
    """A fixed strided sample of the rows (cheap: :data:`SAMPLE_ROWS` rows), if readable."""
    n = getattr(source, "n_samples", None)
    if not n:
        return None
    idx = _sample_index(int(n))
    X = getattr(source, "X", None)                      # ArraySource
    if X is not None and not isinstance(X, np.ndarray):
        return None                                     # Dask: identified by its graph name
    adapter = getattr(source, "adapter", None)
    if X is None and isinstance(adapter, NpyAdapter):
        X = np.load(adapter.path, mmap_mode="r")
    if X is None:
        X = getattr(adapter, "array", None)             # memmap, HDF5, Zarr
    if X is None:
        return None
    return np.stack([np.asarray(X[int(i)]) for i in idx]) if not isinstance(
        X, np.ndarray) else np.asarray(X[idx])


def data_identity(source: Any) -> dict:
    """What identifies the data of a fit: for a file its path, size and modification time;
    for every source that can be indexed a hash of a fixed sample of rows and weights."""
    ident: dict = {}
    path = source_file(source)
    if path is not None and os.path.exists(path):
        st = os.stat(path)
        ident.update(path=path, size=int(st.st_size), mtime_ns=int(st.st_mtime_ns))
    X = getattr(source, "X", None)
    if X is not None and not isinstance(X, np.ndarray) and hasattr(X, "name"):
        ident["dask_name"] = str(X.name)    # deterministic token of the graph (its inputs)
    rows = _sampled_rows(source)
    if rows is not None:
        h = hashlib.sha256(np.ascontiguousarray(rows).tobytes())
        w = getattr(source, "sample_weight", None)
        if w is not None:
            h.update(np.ascontiguousarray(np.asarray(w)[_sample_index(len(w))]).tobytes())
        ident["rows_sha256"] = h.hexdigest()
    return ident


def fit_fingerprint(params: dict, n_samples: Optional[int], n_features: int,
                    dtype: Any, source: Any = None) -> dict:
    """What must match for a checkpoint to belong to this fit: the parameters that change
    the result, the data's shape and dtype and (given ``source``) the data's identity."""
    fp = {"params": {k: to_json(v) for k, v in sorted(params.items()) if k not in _NEUTRAL},
          "n_samples": n_samples, "n_features": int(n_features), "dtype": str(dtype)}
    if source is not None:
        fp["data"] = data_identity(source)
    return fp


def _params_arrays(prefix: str, p: GaussianParams) -> dict:
    return {prefix + f: np.asarray(getattr(p, f)) for f in _FIELDS}


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
                 max_iter: int, n_init: int = 1, announce: bool = False,
                 family: Any = None) -> None:
        self.path = check_writable(path, "checkpoint file")
        #: The component family whose ``fields`` are saved (``None``: the Gaussian's).
        self.family = family
        self.fingerprint = fingerprint
        self.rng = rng
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.announce = announce
        self._rng_state: Any = None
        self._lower_bounds: list = []
        self._init = -1
        self._best: Optional[EMResult] = None

    @classmethod
    def for_fit(cls, estimator: Any, source: Any, rng: np.random.Generator,
                family: Any = None) -> "Checkpointer":
        """The checkpointer of ``estimator.fit(source)`` (``estimator.checkpoint`` is set).

        The path is checked now, before the first iteration: a writable directory, and not
        the input data file itself. ``family`` (any component family; default the
        Gaussian) says which parameter arrays are saved: its ``fields``, read back with
        ``family.params_from_arrays``; its ``spec`` joins the fingerprint.
        """
        refuse_overwriting_input(estimator.checkpoint, source, "checkpoint")
        fp = fit_fingerprint(estimator.get_params(), source.n_samples, source.n_features,
                             source.dtype, source)
        if family is not None:
            fp["family"] = family.spec()
        return cls(estimator.checkpoint, fp, rng, estimator.tol, estimator.max_iter,
                   n_init=estimator.n_init,
                   announce=bool(estimator.progress or estimator.verbose), family=family)

    def _arrays(self, prefix: str, params: Any) -> dict:
        if self.family is None:
            return _params_arrays(prefix, params)
        return {prefix + f: np.asarray(a)
                for f, a in self.family.params_to_arrays(params).items()}

    def _params(self, arrays: dict, prefix: str, k: int, d: int, cov_type: Any):
        if self.family is None:
            return fc.gaussian_params(self.path, arrays, tuple(prefix + f for f in _FIELDS),
                                      cov_type, k, d)
        return fc.family_params(self.path, arrays, self.family,
                                tuple(prefix + f for f in self.family.fields), k, d)

    # ------------------------------------------------------------------ resume
    def load(self) -> Optional[ResumePoint]:
        """The resume point stored at ``path``, or ``None`` when there is no file.

        Raises
        ------
        ValueError
            When the checkpoint belongs to another fit (other parameters or other data).
        ModelFileError
            When the file is corrupt or any of its fields is invalid.
        """
        if not os.path.exists(self.path):
            return None
        header, arrays = read_container(self.path, "checkpoint")
        saved, mine = header.get("fingerprint"), to_json(self.fingerprint)
        if saved != mine:
            what = ("other data (the data file's path, size or modification time, or its "
                    "sampled rows, differ)"
                    if isinstance(saved, dict) and saved.get("data") != mine.get("data")
                    and {k: v for k, v in saved.items() if k != "data"}
                    == {k: v for k, v in mine.items() if k != "data"}
                    else "another fit (different parameters or data shape)")
            raise ValueError(
                f"The checkpoint {self.path!r} was written by {what}; it is not reused. "
                "Delete it to start afresh, or pass another checkpoint path.")
        point = self._resume_point(header.get("state"), arrays)
        if self.announce:
            print(f"fastem: resuming from iteration {point.n_iter} of restart "
                  f"{point.init + 1} (checkpoint {self.path!r})", file=sys.stderr, flush=True)
        return point

    def _resume_point(self, state: Any, arrays: dict) -> ResumePoint:
        """Every field of the checkpoint, validated before any of it is used."""
        path = self.path
        if not isinstance(state, dict):
            raise fc.bad(path, "state", "expected a JSON object")
        p = self.fingerprint["params"]
        cov_type = (fc.covariance_type(path, p.get("covariance_type"))
                    if self.family is None else None)
        k, d = int(p["n_components"]), int(self.fingerprint["n_features"])
        init = fc.get_int(path, state, "init", lo=0, hi=max(1, self.n_init),
                          field="state.init (restart index)")
        n_iter = fc.get_int(path, state, "n_iter", lo=0, hi=self.max_iter + 1,
                            field="state.n_iter")
        lbs = fc.get_floats(path, state, "lower_bounds", length=n_iter,
                            field="state.lower_bounds")
        finished = fc.get_bool(path, state, "finished", field="state.finished")
        converged = fc.get_bool(path, state, "converged", field="state.converged")
        params = self._params(arrays, "", k, d, cov_type)
        best = None
        b = state.get("best")
        if b is not None:
            if not isinstance(b, dict):
                raise fc.bad(path, "state.best", "expected a JSON object or null")
            bn = fc.get_int(path, b, "n_iter", lo=0, hi=self.max_iter + 1,
                            field="state.best.n_iter")
            best = EMResult(
                self._params(arrays, "best_", k, d, cov_type),
                fc.get_bool(path, b, "converged", field="state.best.converged"), bn,
                fc.get_float(path, b, "lower_bound", field="state.best.lower_bound"),
                fc.get_floats(path, b, "lower_bounds", length=bn,
                              field="state.best.lower_bounds"))
        rng_state = state.get("rng_state")
        if rng_state is not None:       # None: a warm-started fit, which never initialises
            fc.get_rng(path, rng_state, "state.rng_state", rng=self.rng)
        self._rng_state = rng_state
        self._best, self._init = best, init
        self._lower_bounds = list(lbs)
        return ResumePoint(init, n_iter, params, list(lbs), finished, converged, best)

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
        arrays = self._arrays("", info.params)
        if b is not None:
            arrays.update(self._arrays("best_", b.params))
        write_container(self.path, "checkpoint",
                        {"fingerprint": to_json(self.fingerprint), "state": state}, arrays)

    def on_init_end(self, result: EMResult, seconds: float) -> None:
        """Remember the best finished restart (saved with the next checkpoint)."""
        if self._best is None or result.lower_bound > self._best.lower_bound:
            self._best = result

    def hooks(self) -> dict:
        """Callbacks for :func:`fastem.em.fit_mixture`."""
        return {"callback": self.callback, "on_init_end": self.on_init_end}
