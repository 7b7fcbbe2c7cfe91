"""``BernoulliMixture``: a mixture of independent Bernoulli features (latent class analysis).

A thin client of :class:`~fastem.estimators._mixture.FamilyMixture`: the family
(:class:`fastem.families.bernoulli.BernoulliFamily`) knows the components; this module only
adds the parameters ``alpha`` and ``means_init`` and maps parameters to fitted attributes.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np

from .._params import ARRAY_LIKE, NONE, Interval
from ..families.bernoulli import BernoulliFamily, BernoulliParams
from ..families.registry import register_estimator
from ._mixture import COMMON_CONSTRAINTS, FamilyMixture
from ._nan import NAN_POLICY_CONSTRAINT, ImputeMixin, NanPolicyMixin

#: Smoothing of the first M-step (from hard labels or random responsibilities) when
#: ``alpha`` is smaller: no probability starts at exactly 0 or 1.
INIT_ALPHA = 1e-3
#: Weight of every column's overall frequency in the initial probabilities.
INIT_SHRINK = 0.1


class BernoulliMixture(ImputeMixin, NanPolicyMixin, FamilyMixture):
    """Mixture of multivariate Bernoulli distributions fitted by exact EM.

    Parameters
    ----------
    n_components : int, default=1
    alpha : float, default=1e-10
        Additive smoothing (> 0): ``means_ = (S_kd + alpha) / (N_k + 2 alpha)`` with
        ``S_kd = sum_i w_i r_ik x_id``; ``1 - means_`` is computed from the separately
        accumulated ``sum_i w_i r_ik (1 - x_id)``, so no probability is ever 0 or 1.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean per-sample log-likelihood.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        ``"kmeans"``: k-means on the 0/1 rows (k-means++ seeds on a sample, Lloyd
        iterations, one Lloyd pass over all rows), then every row goes to its nearest
        centre and the parameters are estimated from those hard labels. ``"k-means++"`` and
        ``"random_from_data"`` assign rows to the k-means++ seeds or to random distinct
        rows; ``"random"`` uses uniform random responsibilities. That first M-step is
        smoothed: ``alpha`` is at least 1e-3, and the probabilities are then shrunk by 10%
        towards each column's overall frequency, ``0.9 * mu + 0.1 * mean(x_d)``. Hard
        labels often make a component pure in a column; without this it would start at a
        probability of (almost) exactly 0 or 1, which EM never leaves.
    weights_init : array-like of shape (n_components,), optional
    means_init : array-like of shape (n_components, n_features), optional
        Initial ``P(x_d = 1 | k)``, strictly between 0 and 1; the data is then not read to
        initialise.
    random_state, warm_start, verbose, verbose_interval, chunk_size, n_threads, backend,
    algorithm, learning_decay, learning_offset, progress, checkpoint
        As in :class:`fastem.GaussianMixture`.
    nan_policy : {"raise", "omit", "marginalize"}, default="raise"
        NaN in float input marks a missing entry (integer and bool arrays hold none; a
        pandas nullable column's NA becomes NaN when read as floats). ``"raise"``: an error
        naming the first row holding one. ``"omit"``: rows holding a NaN are left out of the
        fit (``n_rows_omitted_``). ``"marginalize"``: exact EM over each row's observed
        coordinates (the components factorise, so each coordinate's M-step divides by the
        responsibility mass observing it). Under both, inference uses each row's observed
        coordinates; a row with every coordinate missing adds nothing, scores 0.0, is left
        out of the ``n`` of ``score``/``bic``/``aic`` (``n_rows_all_missing_``). ``inf`` and
        values outside the family's domain are always errors.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
        ``P(x_d = 1 | k)``.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_, feature_names_in_
        As in :class:`fastem.GaussianMixture`.
    n_rows_omitted_, n_rows_all_missing_ : int
        Rows left out for holding a NaN (``nan_policy="omit"``), and rows entirely NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import BernoulliMixture
    >>> X = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=np.uint8)
    >>> bm = BernoulliMixture(n_components=2, random_state=0).fit(X)
    >>> bool(bm.predict(X)[0] != bm.predict(X)[2])
    True
    """

    def __init__(self, n_components: int = 1, *, alpha: float = 1e-10, tol: float = 1e-3,
                 max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 weights_init: Optional[Any] = None, means_init: Optional[Any] = None,
                 random_state: Optional[Any] = None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10,
                 chunk_size: Optional[int] = None, n_threads: Optional[int] = None,
                 backend: str = "auto", algorithm: str = "em",
                 learning_decay: float = 0.7, learning_offset: float = 10.0,
                 progress: bool = False,
                 checkpoint: Optional[Union[str, os.PathLike]] = None,
                 nan_policy: str = "raise") -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.n_threads = n_threads
        self.backend = backend
        self.algorithm = algorithm
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.progress = progress
        self.checkpoint = checkpoint
        self.nan_policy = nan_policy

    _constraints = {**COMMON_CONSTRAINTS, **NAN_POLICY_CONSTRAINT,
                    "alpha": [Interval("float", 0.0, None, "neither")],
                    "means_init": [ARRAY_LIKE, NONE]}

    # ---- the hooks of FamilyMixture ---------------------------------------------------------
    def _make_family(self, n_features, source) -> BernoulliFamily:
        return BernoulliFamily(nan_policy=self.nan_policy)

    def _reg(self) -> float:
        return float(self.alpha)

    def _init_reg(self) -> float:
        return max(float(self.alpha), INIT_ALPHA)

    def _user_init_params(self, family, n_components, n_features):
        if self.means_init is None:
            return None
        k, d = n_components, n_features
        means = np.asarray(self.means_init, dtype=np.float64)
        if means.shape != (k, d):
            raise ValueError(f"The parameter 'means' should have the shape of {(k, d)}, but "
                             f"got {means.shape}. means_init needs one row of "
                             "P(x_d = 1 | k) per component.")
        bad = ~((means > 0) & (means < 1))
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise ValueError(f"means_init must be strictly between 0 and 1; "
                             f"means_init[{i}, {j}] is {means[i, j]!r}.")
        return BernoulliParams(np.full(k, 1.0 / k), means, 1.0 - means)

    def _smooth_initial(self, params: BernoulliParams, stats) -> BernoulliParams:
        """Shrink the initial probabilities by ``INIT_SHRINK`` towards every column's
        overall frequency: hard labels often make a component pure in a column
        (probability 0 or 1), which EM would never leave."""
        lam = INIT_SHRINK
        total = float(stats.nk.sum())
        p1 = stats.s1.sum(axis=0) / total
        p0 = stats.s0.sum(axis=0) / total
        return BernoulliParams(params.weights, (1 - lam) * params.means + lam * p1,
                               (1 - lam) * params.complements + lam * p0)

    def _fitted_attributes(self, params: BernoulliParams) -> dict:
        return {"weights_": params.weights, "means_": params.means,
                "_complements": params.complements}

    def _params_from_attributes(self) -> BernoulliParams:
        return BernoulliParams(self.weights_, self.means_, self._complements)


register_estimator("bernoulli", BernoulliMixture)

__all__ = ["BernoulliMixture"]
