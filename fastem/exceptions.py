"""Exceptions and warnings raised by fastem (subclasses of builtins users already catch)."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the lower bound changed by less than ``tol``."""


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""


class FitError(ValueError):
    """EM could not continue (for example a covariance that stays singular)."""


class ModelFileError(ValueError):
    """A model file is corrupt, truncated, or not a fastem model."""
