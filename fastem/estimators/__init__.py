"""Estimators: the public, scikit-learn-compatible classes.

``FamilyMixture`` (:mod:`._mixture`) is the base of every non-Gaussian family's estimator;
``BernoulliMixture`` is its worked example.
"""
from .bernoulli import BernoulliMixture
from .categorical import CategoricalMixture
from .gaussian import GaussianMixture
from .bayesian import BayesianGaussianMixture
from .mixed import MixedTypeMixture
from .poisson import PoissonMixture
from .student import StudentMixture

__all__ = ["BayesianGaussianMixture", "BernoulliMixture", "CategoricalMixture",
           "GaussianMixture", "MixedTypeMixture", "PoissonMixture", "StudentMixture"]
