"""Estimator plumbing shared by mixtures: parameters, repr, fitted checks, thread control.

Compatible with scikit-learn's ``clone``, ``Pipeline`` and ``GridSearchCV`` without importing
scikit-learn: parameters are the keyword arguments of ``__init__``.
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Any, Iterator, Optional

import numba

from .. import exceptions


class BaseEstimatorMixin:
    """``get_params``/``set_params``/``__repr__`` from the ``__init__`` signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this estimator.

        Parameters
        ----------
        deep : bool, default=True
            Kept for scikit-learn compatibility (no parameter is itself an estimator).

        Returns
        -------
        dict
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any):
        """Set parameters of this estimator; returns ``self``.

        Raises
        ------
        ValueError
            For a name that is not a parameter.
        """
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator "
                                 f"{type(self).__name__}. Valid parameters are: "
                                 f"{sorted(valid)!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        changed = []
        for name in self._param_names():
            default = sig.parameters[name].default
            value = getattr(self, name)
            same = value is default
            if not same:
                try:
                    same = bool(value == default)
                except Exception:
                    same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        # Called only by scikit-learn, so importing it here adds no run-time dependency.
        from sklearn.utils import InputTags, Tags, TargetTags
        # Dense 2-D arrays only: sparse input is refused with a TypeError saying so.
        return Tags(estimator_type="density_estimator", target_tags=TargetTags(required=False),
                    input_tags=InputTags(two_d_array=True, sparse=False, allow_nan=False))

    def __sklearn_is_fitted__(self) -> bool:
        # Read by sklearn.utils.validation.check_is_fitted (and so by Pipeline and friends).
        return hasattr(self, "means_")

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "means_"):
            raise exceptions.NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")


@contextlib.contextmanager
def numba_threads(n_threads: Optional[int]) -> Iterator[None]:
    """Run the block with ``n_threads`` Numba threads (``None`` keeps the current number)."""
    if n_threads is None:
        yield
        return
    limit = numba.config.NUMBA_NUM_THREADS
    if n_threads > limit:
        raise ValueError(f"n_threads={n_threads!r} exceeds the {limit} threads Numba was "
                         "started with; set NUMBA_NUM_THREADS before importing fastem to "
                         "allow more.")
    old = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield
    finally:
        numba.set_num_threads(old)
