"""Read the next chunk while the kernel works on the current one.

:func:`prefetched` runs a chunk iterator in a reader thread, one chunk ahead, so a file read
(and its validation) overlaps the kernel's work on the chunk before. Memory stays bounded to
two chunks: the one the caller holds and the one being read. The reader only starts chunk
``i + 2`` once chunk ``i`` is gone (its last reference dropped, as in a ``for`` loop that moves
on), or at the latest once the caller asks for chunk ``i + 2`` (a caller that keeps chunks
keeps their memory, but never stalls the reader); for items that cannot be weakly referenced,
once the caller asks for chunk ``i + 1``.

The chunks, their order and their contents are exactly those of the wrapped iterator, so
results are bit-identical with and without prefetching. An exception raised while reading is
re-raised in the caller, the same exception object with its original message. When the
caller stops early (``close()``, an exception in the loop body, or dropping the generator),
the reader is told to stop, the wrapped iterator is closed in the reader thread, and the thread
is joined before ``close()`` returns: no thread outlives its pass.

:func:`pass_chunks` is what the in-process backend iterates: prefetched chunks for file-backed
sources (``.npy``, HDF5, Zarr, Parquet, memmaps), the source's own iterator otherwise (in-memory
arrays need no reading; a user's callable may not be safe to run in another thread).
"""
from __future__ import annotations

import contextlib
import os
import queue
import threading
import weakref
from typing import Any, Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

#: Prefetch file-backed sources (``FASTEM_PREFETCH=0`` turns it off; see :func:`enabled`).
_ENABLED = [os.environ.get("FASTEM_PREFETCH", "1").lower() not in {"0", "false", "no", "off"}]

_DONE = object()  # end-of-pass marker put by the reader thread


@contextlib.contextmanager
def enabled(flag: bool) -> Iterator[None]:
    """Turn prefetching of file sources on or off inside a ``with`` block (benchmarks, tests).

    Parameters
    ----------
    flag : bool
        ``True`` to prefetch file-backed sources in :func:`pass_chunks`, ``False`` not to.
    """
    old = _ENABLED[0]
    _ENABLED[0] = bool(flag)
    try:
        yield
    finally:
        _ENABLED[0] = old


def is_enabled() -> bool:
    """Whether :func:`pass_chunks` prefetches file-backed sources."""
    return _ENABLED[0]


class _Failure:
    """An exception raised in the reader thread, carried to the caller."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Slot:
    """One item's place in the two-item budget; released once, whoever comes first."""

    __slots__ = ("_sem", "_lock", "_held")

    def __init__(self, sem: threading.Semaphore) -> None:
        self._sem = sem
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._sem.release()


def prefetched(make_iter: Callable[[], Iterable[T]], *, name: str = "fastem-prefetch"
               ) -> Iterator[T]:
    """Yield the items of ``make_iter()``, read one item ahead in a reader thread.

    Parameters
    ----------
    make_iter : callable
        Returns the iterable to read (called in the reader thread, so a generator's set-up,
        e.g. opening a file, runs there too).
    name : str
        Name of the reader thread.

    Yields
    ------
    The items of ``make_iter()``, in order. At most two are alive at a time: the one last
    yielded and the one being read.

    Examples
    --------
    >>> list(prefetched(lambda: iter(range(5))))
    [0, 1, 2, 3, 4]
    """
    slots = threading.Semaphore(2)      # items alive: held by the caller, or read / queued
    handoff: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def reader() -> None:
        it = None
        try:
            it = iter(make_iter())
            while True:
                slots.acquire()
                if stop.is_set():
                    return
                try:
                    item = next(it)
                except StopIteration:
                    handoff.put(_DONE)
                    return
                handoff.put(item)
                del item
        except BaseException as exc:  # noqa: BLE001  (re-raised in the caller)
            handoff.put(_Failure(exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001  (the pass already ended)
                    pass

    thread = threading.Thread(target=reader, name=name, daemon=True)
    thread.start()
    previous = None                     # the slot of the item before the last one yielded
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                exc = item.exc
                del item
                raise exc
            slot = _Slot(slots)
            try:
                # The item's slot frees as soon as the caller drops it (strict bound of two)
                weakref.finalize(item, slot.release)
                tracked = True
            except TypeError:
                tracked = False
            yield item
            del item
            # The caller asks for the next item: it is done with the one before the last
            # (a caller that keeps every item, e.g. list(), must not stall the reader) and,
            # for an item without weak references, with the last one too.
            if previous is not None:
                previous.release()
            if not tracked:
                slot.release()
            previous = slot
    finally:
        stop.set()
        slots.release()                 # wake a reader waiting for a slot
        thread.join()


def _is_file_backed(source: Any) -> bool:
    from .checked import CheckedSource
    from .npy import NpyAdapter
    from .parquet import ParquetAdapter
    from .sliced import SlicedAdapter
    return (isinstance(source, CheckedSource)
            and isinstance(source.adapter, (NpyAdapter, SlicedAdapter, ParquetAdapter)))


def pass_chunks(source: Any) -> Iterator:
    """The chunks of one pass over ``source``: prefetched when it is file-backed and
    prefetching is on, else ``source.chunks()`` itself."""
    if _ENABLED[0] and _is_file_backed(source):
        return prefetched(source.chunks)
    return source.chunks()


__all__ = ["enabled", "is_enabled", "pass_chunks", "prefetched"]
