"""fastem: fast, memory-bounded Expectation-Maximization for Gaussian mixtures."""
from ._config import set_options
from .estimators import GaussianMixture
from .exceptions import ConvergenceWarning, FitError, ModelFileError, NotFittedError
from .io import load

__version__ = "0.1.0"

__all__ = ["GaussianMixture", "set_options", "ConvergenceWarning", "FitError",
           "ModelFileError", "NotFittedError", "load", "__version__"]
