"""Estimators: the public, scikit-learn-compatible classes."""
from .gaussian import GaussianMixture

__all__ = ["GaussianMixture"]
