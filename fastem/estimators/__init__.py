"""Estimators: the public, scikit-learn-compatible classes."""
from .bernoulli import BernoulliMixture
from .gaussian import GaussianMixture

__all__ = ["BernoulliMixture", "GaussianMixture"]
