"""The lockstep driver: many EM fits advance together, one shared read per pass.

Each candidate model is a Python generator (see :mod:`fastem.selection.candidate`) that
runs exactly the steps of its own fit and *yields a request* whenever it needs a full pass
over the data (a reservoir sample, a Lloyd pass, an EM pass, the final scoring pass). The
driver collects one request from every candidate still running, reads the source once,
hands every chunk to every request while the chunk is in memory, and sends each candidate
its result. A candidate that has finished (converged, or failed) simply stops asking, so
later passes serve only the candidates still running.

The number of passes over the source is therefore the largest number of passes any single
candidate needs, not their sum. Requests that would compute the same thing (two candidates
with identical k-means centres, or the same seed and sample size) are computed once.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Hashable, Optional

from ..data.prefetch import pass_chunks
from ..data.sources import Chunk, ChunkSource

#: What a failing candidate may raise; anything else is a bug and propagates.
CANDIDATE_ERRORS: tuple = (ValueError, ArithmeticError)


class PassRequest:
    """A computation over one full pass: ``feed`` every chunk, then ``finish``.

    ``key`` is a hashable fingerprint of the computation (``None``: never shared); requests
    with equal keys in one pass are computed once, the others ``adopt`` the result.
    """

    key: Optional[Hashable] = None

    def feed(self, chunk: Chunk) -> None:
        raise NotImplementedError

    def finish(self) -> Any:
        raise NotImplementedError

    def adopt(self, representative: "PassRequest", result: Any) -> Any:
        """The result for a duplicate of ``representative`` (default: the same object)."""
        return result


Candidate = Generator[PassRequest, Any, Any]


@dataclass
class Outcome:
    """What one candidate ended with: its return value or the error that stopped it."""

    value: Any = None
    error: Optional[BaseException] = None
    seconds: float = 0.0
    passes: int = 0


@dataclass
class LockstepRun:
    """Results of :func:`run_lockstep`, in the order the candidates were given."""

    outcomes: list
    passes: int = 0
    pass_sizes: list = field(default_factory=list)


def run_lockstep(source: ChunkSource, candidates: list,
                 on_pass: Optional[Callable[[int, int], None]] = None,
                 executor: Optional[Callable[[list], list]] = None) -> LockstepRun:
    """Advance every candidate generator to its end, sharing each pass over ``source``.

    Parameters
    ----------
    source : ChunkSource
    candidates : list of generator
        Each yields :class:`PassRequest` objects and receives their results; its return
        value becomes ``Outcome.value``. An exception in :data:`CANDIDATE_ERRORS` stops that
        candidate only (``Outcome.error``); errors reading the source stop everything.
    on_pass : callable, optional
        ``on_pass(pass_number, n_running)`` after every pass.
    executor : callable, optional
        ``executor(requests) -> results`` runs one shared pass itself (the Dask form,
        :func:`fastem.selection.dask_passes.dask_executor`) instead of feeding the chunks
        of ``source.chunks()`` to each request.
    """
    outcomes = [Outcome() for _ in candidates]
    pending: dict[int, PassRequest] = {}

    def advance(i: int, value: Any) -> None:
        t0 = time.perf_counter()
        try:
            req = candidates[i].send(value)
        except StopIteration as stop:
            outcomes[i].value = stop.value
        except CANDIDATE_ERRORS as exc:
            outcomes[i].error = exc
        else:
            pending[i] = req
        outcomes[i].seconds += time.perf_counter() - t0

    for i in range(len(candidates)):
        advance(i, None)
    run = LockstepRun(outcomes)
    while pending:
        current = dict(pending)
        pending.clear()
        reps: dict[Hashable, int] = {}
        owner: dict[int, int] = {}            # candidate -> candidate computing its request
        for i, req in current.items():
            if req.key is not None and req.key in reps:
                owner[i] = reps[req.key]
            else:
                owner[i] = i
                if req.key is not None:
                    reps[req.key] = i
        workers = [i for i in current if owner[i] == i]
        if executor is not None:
            t0 = time.perf_counter()
            values = executor([current[i] for i in workers])
            share = (time.perf_counter() - t0) / max(len(workers), 1)
            results = dict(zip(workers, values))
            for i in workers:
                outcomes[i].seconds += share
        else:
            # Read as the single fits read (file chunks one ahead in a reader thread, so the
            # read of the next chunk overlaps the kernels on this one).
            with contextlib.closing(pass_chunks(source)) as chunks:
                for chunk in chunks:
                    for i in workers:
                        t0 = time.perf_counter()
                        current[i].feed(chunk)
                        outcomes[i].seconds += time.perf_counter() - t0
                    del chunk
            results = {i: current[i].finish() for i in workers}
        run.passes += 1
        run.pass_sizes.append(len(current))
        for i, req in current.items():
            outcomes[i].passes += 1
            rep = owner[i]
            value = results[i] if rep == i else req.adopt(current[rep], results[rep])
            advance(i, value)
        if on_pass is not None:
            on_pass(run.passes, len(pending))
    return run


__all__ = ["PassRequest", "Outcome", "LockstepRun", "run_lockstep", "CANDIDATE_ERRORS"]
