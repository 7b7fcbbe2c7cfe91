"""Estimators: the public, scikit-learn-compatible classes.

``estimators.bernoulli.BernoulliMixture`` is the in-memory worked example of the
component-family protocol; it is not exported until it runs on every path (issue 12).
"""
from .gaussian import GaussianMixture

__all__ = ["GaussianMixture"]
