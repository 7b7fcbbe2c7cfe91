"""Estimators: the public, scikit-learn-compatible classes.

``FamilyMixture`` (:mod:`._mixture`) is the base of every non-Gaussian family's estimator;
``BernoulliMixture`` is its worked example. Each class is imported on first use (so importing
one estimator's module does not import every family's kernels).
"""
__all__ = ["BayesianGaussianMixture", "BernoulliMixture", "CategoricalMixture",
           "GaussianMixture", "MixedTypeMixture", "PoissonMixture", "StudentMixture"]

_MODULES = {"BayesianGaussianMixture": "bayesian", "BernoulliMixture": "bernoulli",
            "CategoricalMixture": "categorical", "GaussianMixture": "gaussian",
            "MixedTypeMixture": "mixed", "PoissonMixture": "poisson",
            "StudentMixture": "student"}


def __getattr__(name: str):
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_MODULES))
