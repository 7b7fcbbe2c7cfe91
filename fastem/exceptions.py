"""Exceptions and warnings raised by fastem.

``NotFittedError`` and ``ConvergenceWarning`` are scikit-learn's own classes' subclasses when
scikit-learn is installed, so ``except sklearn.exceptions.NotFittedError`` and
``warnings.filterwarnings("ignore", category=sklearn.exceptions.ConvergenceWarning)`` work on
fastem exactly as on scikit-learn. Without scikit-learn they have scikit-learn's bases
(``ValueError`` and ``AttributeError``; ``UserWarning``).

Importing scikit-learn takes about a second (its package ``__init__`` loads most of it), so
these two classes are created on first use (PEP 562 module ``__getattr__``): ``import fastem``
stays fast, and scikit-learn is imported only when one of them is first raised or looked up.
Each is created once; every later look-up returns the same class.
"""
from __future__ import annotations

import importlib.util
import threading
from typing import TYPE_CHECKING, Any


class FitError(ValueError):
    """EM could not continue (for example a covariance that stays singular)."""


class ModelFileError(ValueError):
    """A model file is corrupt, truncated, or not a fastem model."""


_DOCS = {
    "NotFittedError": "A method that needs a fitted model was called before ``fit``.",
    "ConvergenceWarning": ("EM stopped at ``max_iter`` before the lower bound changed by "
                           "less than ``tol``."),
}
_FALLBACK_BASES: dict[str, tuple[type, ...]] = {
    "NotFittedError": (ValueError, AttributeError),
    "ConvergenceWarning": (UserWarning,),
}


def _sklearn_exceptions() -> Any:
    """``sklearn.exceptions``, or ``None`` when scikit-learn is not installed."""
    try:
        if importlib.util.find_spec("sklearn") is None:
            return None
        import sklearn.exceptions
    except Exception:  # a broken install must not turn fastem's own error into another
        return None
    return sklearn.exceptions


_CREATE_LOCK = threading.Lock()


def _create(name: str) -> type:
    with _CREATE_LOCK:  # two threads raising at once must get the same class
        if name in globals():
            return globals()[name]
        sk = _sklearn_exceptions()
        bases = (getattr(sk, name),) if sk is not None else _FALLBACK_BASES[name]
        cls = type(name, bases, {"__doc__": _DOCS[name], "__module__": __name__,
                                 "__qualname__": name})
        globals()[name] = cls
        return cls


if TYPE_CHECKING:  # what type checkers and IDEs see
    class NotFittedError(ValueError, AttributeError):
        """A method that needs a fitted model was called before ``fit``."""

    class ConvergenceWarning(UserWarning):
        """EM stopped at ``max_iter`` before the lower bound changed by less than ``tol``."""
else:
    def __getattr__(name: str) -> type:
        if name in _DOCS:
            return _create(name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_DOCS))


__all__ = ["ConvergenceWarning", "FitError", "ModelFileError", "NotFittedError"]
