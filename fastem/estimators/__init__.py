"""Estimators: the public, scikit-learn-compatible classes.

``FamilyMixture`` (:mod:`._mixture`) is the base of every non-Gaussian family's estimator;
``BernoulliMixture`` is its worked example.
"""
from .bernoulli import BernoulliMixture
from .gaussian import GaussianMixture
from .bayesian import BayesianGaussianMixture

__all__ = ["BayesianGaussianMixture", "BernoulliMixture", "GaussianMixture"]
