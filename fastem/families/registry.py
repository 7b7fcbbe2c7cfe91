"""Registries by name: component families (from their ``spec``) and the estimator of each.

``family.spec()`` is a JSON-able dict ``{"family": <registered name>, **hyper-parameters}``;
:func:`make_family` turns it back into the family. Model files, checkpoints, Dask tasks and
the CLI carry the spec, never the family object, so a new family only has to
:func:`register` itself (and its estimator with :func:`register_estimator`) to run on every
path.

Examples
--------
>>> from fastem.families.registry import make_family
>>> make_family({"family": "gaussian", "covariance_type": "diag"}).name
'diag'
>>> make_family({"family": "bernoulli"}).spec()
{'family': 'bernoulli'}
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from .protocol import ComponentFamily

_FACTORIES: dict[str, Callable[..., ComponentFamily]] = {}
#: family name -> "module:ClassName" of its estimator (imported on first use).
_ESTIMATORS: dict[str, Any] = {}


def register(name: str, factory: Callable[..., ComponentFamily]) -> None:
    """Register ``factory(**hyper_parameters) -> ComponentFamily`` under ``name``.

    Re-registering a name replaces the factory (so a module may be reloaded).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A family name must be a non-empty str; got {name!r}.")
    _FACTORIES[name] = factory


def registered() -> tuple[str, ...]:
    """The registered family names, sorted."""
    _load_builtin()
    return tuple(sorted(_FACTORIES))


def make_family(spec: Any) -> ComponentFamily:
    """The family described by ``spec`` (``{"family": name, **hyper-parameters}``).

    Raises
    ------
    ValueError
        For a spec that is not a dict, names no registered family, or whose
        hyper-parameters the family refuses (the message names the spec).
    """
    _load_builtin()
    if not isinstance(spec, dict) or not isinstance(spec.get("family"), str):
        raise ValueError(f"A family spec is a dict {{'family': <name>, ...}}; got {spec!r}.")
    name = spec["family"]
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"Unknown component family {name!r}; registered families are "
                         f"{sorted(_FACTORIES)!r}.")
    kwargs = {k: v for k, v in spec.items() if k != "family"}
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise ValueError(f"The family spec {spec!r} is invalid: {exc}.") from None


def register_estimator(family_name: str, estimator: Any) -> None:
    """Register the estimator class (or ``"module:ClassName"``) that ``fastem.load`` builds
    for a model file whose spec names ``family_name``."""
    _ESTIMATORS[family_name] = estimator


def estimator_for(family_name: str):
    """The estimator class registered for ``family_name`` (``ValueError`` if none)."""
    _load_builtin()
    est = _ESTIMATORS.get(family_name)
    if est is None:
        raise ValueError(f"No estimator is registered for the component family "
                         f"{family_name!r}; known: {sorted(_ESTIMATORS)!r}.")
    if isinstance(est, str):
        module, _, cls = est.partition(":")
        est = getattr(importlib.import_module(module), cls)
        _ESTIMATORS[family_name] = est
    return est


def _gaussian(covariance_type: str = "full") -> ComponentFamily:
    from . import get_family
    return get_family(covariance_type)


def _bernoulli(nan_policy: str = "raise") -> ComponentFamily:
    from .bernoulli import BernoulliFamily
    return BernoulliFamily(nan_policy=nan_policy)


_BUILTIN_LOADED = False


def _load_builtin() -> None:
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    _BUILTIN_LOADED = True
    _FACTORIES.setdefault("gaussian", _gaussian)
    _FACTORIES.setdefault("bernoulli", _bernoulli)
    _ESTIMATORS.setdefault("gaussian", "fastem.estimators.gaussian:GaussianMixture")
    _ESTIMATORS.setdefault("bernoulli", "fastem.estimators.bernoulli:BernoulliMixture")
    # The estimators' modules register their families and estimators on import.
    importlib.import_module("fastem.estimators")


__all__ = ["register", "registered", "make_family", "register_estimator", "estimator_for"]
