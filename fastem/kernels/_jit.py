"""One place that decides how fastem's code is compiled.

* ``FASTMATH`` is the single flag set: every fast-math flag except ``nnan`` and ``ninf``,
  because log-weights and rejected log-densities may legitimately be ``-inf``.
* ``helper`` compiles a per-row or per-tile function that kernels call (LLVM inlines it).
* ``kernel`` builds a parallel and a serial twin from one Python function (``prange`` becomes
  ``range`` in the serial one). The Dask backend uses the serial twin, which releases the GIL
  (``nogil``) so that Dask's threaded scheduler and multi-threaded workers run blocks at once.
* A kernel's first argument is the data, which no kernel writes; each twin receives it as a
  read-only view. Numba types a read-only array apart from a writable one, so without this a
  memory-mapped file and an in-memory array of the same dtype and layout would compile every
  kernel twice; the machine code is the same.
* Compiled code is cached on disk unless ``FASTEM_NUMBA_CACHE=0``; nothing compiles at import.
  Numba keys a cache entry by the modification time of the function's own file only, so a kernel
  would keep running stale copies of helpers edited in another file. Entries of this package
  therefore live in a subdirectory named after a hash of all kernel sources.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import types
from pathlib import Path
from typing import Callable, Iterator, Optional

import numba
import numpy as np
from numba.core import caching

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
CACHE = os.environ.get("FASTEM_NUMBA_CACHE", "1").lower() not in {"0", "false", "no", "off"}

# Rows per tile: the rows of a tile sit in the innermost, contiguous loop so LLVM vectorises
# across rows; 64 float64 values are eight AVX-512 registers.
TILE = 64


_KERNEL_DIR = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def source_stamp() -> str:
    """Hash of every kernel source file (names the on-disk cache subdirectory)."""
    digest = hashlib.sha256()
    for path in sorted(_KERNEL_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class _StampedLocator(getattr(caching, "_CacheLocator", object)):
    """Numba's own choice of cache directory for kernel files, plus a source-hash subdirectory."""

    def __init__(self, inner: caching._CacheLocator) -> None:
        self._inner = inner
        self._path = os.path.join(inner.get_cache_path(), f"fastem-{source_stamp()}")

    def get_cache_path(self) -> str:
        return self._path

    def get_source_stamp(self):
        return self._inner.get_source_stamp()

    def get_disambiguator(self) -> str:
        return self._inner.get_disambiguator()

    @classmethod
    def from_function(cls, py_func, py_file) -> Optional["_StampedLocator"]:
        if Path(py_file).resolve().parent != _KERNEL_DIR:
            return None
        for other in _LOCATORS:
            inner = None if other is cls else other.from_function(py_func, py_file)
            if inner is None:
                continue
            located = cls(inner)
            try:
                located.ensure_cache_path()
            except OSError:
                continue
            return located
        return None


# Numba's list of cache locators is private: if a Numba release moves it, caching falls back to
# Numba's own keys (tests/test_cache.py then fails and says so).
_LOCATORS = getattr(getattr(caching, "CacheImpl", None), "_locator_classes", None)
if CACHE and isinstance(_LOCATORS, list) and _StampedLocator not in _LOCATORS:
    _LOCATORS.insert(0, _StampedLocator)


@contextlib.contextmanager
def _cache_lock(path: str) -> Iterator[None]:
    """An exclusive lock on ``path/.lock`` (nothing where ``fcntl`` is missing)."""
    try:
        import fcntl
        fh = open(os.path.join(path, ".lock"), "a")
    except (ImportError, OSError):
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _locked(method: Callable) -> Callable:
    @functools.wraps(method)
    def run(self, sig, arg):
        if not isinstance(getattr(self._impl, "locator", None), _StampedLocator):
            return method(self, sig, arg)
        with _cache_lock(self._cache_path):
            return method(self, sig, arg)
    return run


# Numba saves an entry as: read the function's index, pick the first free data-file number,
# write the index, write the data file. Two processes compiling different specialisations of
# one kernel at once (Dask workers on one machine, `fastem precompile --jobs N`) could pick the
# same number, and the index would then point one signature at the other's machine code.
# Loading and saving an entry of fastem's cache therefore hold a lock on its directory.
if (CACHE and isinstance(_LOCATORS, list) and hasattr(caching.Cache, "_save_overload")
        and hasattr(caching.Cache, "_load_overload")
        and not getattr(caching.Cache._save_overload, "_fastem_locked", False)):
    caching.Cache._save_overload = _locked(caching.Cache._save_overload)
    caching.Cache._load_overload = _locked(caching.Cache._load_overload)
    caching.Cache._save_overload._fastem_locked = True


def _answer_numba_blas_probe() -> None:
    """Let Numba's CPU target load without importing ``scipy.linalg``.

    The first kernel call (compiled or loaded from the cache) imports ``numba.np.arraymath``,
    which probes for BLAS by importing ``scipy.linalg.cython_blas``: ~0.17 s of
    ``scipy.linalg`` at every process start, for BLAS that no fastem kernel calls (they are
    written without ``np.linalg`` / ``np.dot``). When SciPy is installed, the probe is
    answered by a placeholder module that is removed straight after, so any later user of
    Numba's BLAS (``np.dot`` in a jitted function) imports the real module as usual.
    """
    import importlib
    import importlib.util
    import sys
    name = "scipy.linalg.cython_blas"
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules \
            or "scipy" not in sys.modules or importlib.util.find_spec("scipy.linalg") is None:
        return
    placeholder = types.ModuleType(name)
    sys.modules[name] = placeholder
    try:
        importlib.import_module("numba.np.arraymath")
    except Exception:   # a Numba laid out otherwise: it probes as usual when it loads
        pass
    finally:
        if sys.modules.get(name) is placeholder:
            del sys.modules[name]


if os.environ.get("FASTEM_NUMBA_BLAS_PROBE", "0").lower() in {"0", "false", "no", "off"}:
    _answer_numba_blas_probe()


def helper(fn: Callable) -> Callable:
    """Compile ``fn`` as a helper that kernels call (LLVM inlines small ones)."""
    return numba.njit(fastmath=set(FASTMATH), cache=CACHE)(fn)


def _renamed(fn: Callable, suffix: str) -> types.FunctionType:
    # Numba's on-disk cache is keyed by qualified name, not by compile flags, so each twin
    # must carry its own name or the two would overwrite each other's cache entries.
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix,
                              fn.__defaults__, fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + suffix
    twin.__doc__ = fn.__doc__
    twin.__module__ = fn.__module__
    return twin


def _read_only(X):
    if isinstance(X, np.ndarray) and X.flags.writeable:
        X = X.view()
        X.flags.writeable = False
    return X


class _Twin:
    """One compiled twin; passes the data (first argument) as a read-only view."""

    def __init__(self, dispatcher) -> None:
        self.dispatcher = dispatcher

    def __call__(self, X, *args):
        return self.dispatcher(_read_only(X), *args)

    def __getattr__(self, name: str):
        return getattr(self.dispatcher, name)


class Kernel:
    """A compiled kernel with a parallel and a serial twin built from one function.

    Calling the object calls the parallel twin.
    """

    def __init__(self, fn: Callable) -> None:
        self.py_func = fn
        self.parallel = _Twin(numba.njit(fastmath=set(FASTMATH), cache=CACHE, parallel=True)(fn))
        self.serial = _Twin(numba.njit(fastmath=set(FASTMATH), cache=CACHE, parallel=False,
                                       nogil=True)(_renamed(fn, "_serial")))
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __call__(self, *args):
        return self.parallel(*args)


def kernel(fn: Callable) -> Kernel:
    """Decorate a kernel function: returns a :class:`Kernel` with both twins."""
    return Kernel(fn)
