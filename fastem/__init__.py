"""fastem: fast, memory-bounded Expectation-Maximization for mixture models."""
from ._config import set_options
from .exceptions import FitError, ModelFileError

__version__ = "0.1.0"

__all__ = ["GaussianMixture", "BayesianGaussianMixture", "BernoulliMixture",
           "CategoricalMixture", "PoissonMixture", "StudentMixture", "MixedTypeMixture",
           "GaussianMixtureSelection", "MixtureSelection", "set_options",
           "ConvergenceWarning", "FitError", "ModelFileError", "NotFittedError", "load",
           "__version__"]

# Public names imported on first use (PEP 562), so that ``from fastem import GaussianMixture``
# loads the Gaussian estimator's modules only, not every family's kernels: a fresh process
# fitting small data spends most of its time importing.
_LAZY = {
    "GaussianMixture": "estimators.gaussian",
    "BayesianGaussianMixture": "estimators.bayesian",
    "BernoulliMixture": "estimators.bernoulli",
    "CategoricalMixture": "estimators.categorical",
    "PoissonMixture": "estimators.poisson",
    "StudentMixture": "estimators.student",
    "MixedTypeMixture": "estimators.mixed",
    "GaussianMixtureSelection": "estimators.selection",
    "MixtureSelection": "estimators.selection",
    "load": "io",
    # NotFittedError and ConvergenceWarning subclass scikit-learn's classes when it is
    # installed; they are created on first use so that ``import fastem`` does not import it.
    "NotFittedError": "exceptions",
    "ConvergenceWarning": "exceptions",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    if name not in ("NotFittedError", "ConvergenceWarning"):
        globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
