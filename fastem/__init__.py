"""fastem: fast, memory-bounded Expectation-Maximization for mixture models."""
from ._config import set_options
from .estimators import (BayesianGaussianMixture, BernoulliMixture, CategoricalMixture,
                         GaussianMixture, MixedTypeMixture, PoissonMixture, StudentMixture)
from .estimators.selection import GaussianMixtureSelection, MixtureSelection
from .exceptions import FitError, ModelFileError
from .io import load

__version__ = "0.1.0"

__all__ = ["GaussianMixture", "BayesianGaussianMixture", "BernoulliMixture",
           "CategoricalMixture", "PoissonMixture", "StudentMixture", "MixedTypeMixture",
           "GaussianMixtureSelection", "MixtureSelection", "set_options",
           "ConvergenceWarning", "FitError", "ModelFileError", "NotFittedError", "load",
           "__version__"]


def __getattr__(name: str):
    # NotFittedError and ConvergenceWarning subclass scikit-learn's classes when it is
    # installed; they are created on first use so that ``import fastem`` does not import it.
    if name in ("NotFittedError", "ConvergenceWarning"):
        from . import exceptions
        return getattr(exceptions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"NotFittedError", "ConvergenceWarning"})
