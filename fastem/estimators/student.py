"""``StudentMixture``: a mixture of multivariate Student-t distributions (robust clustering).

A thin client of the engine: the family (:class:`fastem.families.student.StudentFamily`)
knows the components; :class:`fastem.estimators._mixture.FamilyMixture` runs it on every path
(arrays, out-of-core sources, Dask, ``partial_fit``, checkpoints, save/load). Initial
parameters come from the Gaussian initialiser (:func:`fastem.init.initialize`) on the
covariance family of the same type, so ``init_params``, ``weights_init``, ``means_init`` and
``precisions_init`` mean exactly what they mean for :class:`fastem.GaussianMixture`.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np

from .._params import ARRAY_LIKE, NONE, Interval, Options
from .._validation import validate_init
from ..backends import numba as nb
from ..families import FAMILIES
from ..families.registry import register, register_estimator
from ..families.student import StudentFamily, StudentParams
from ..init import initialize, params_from_user
from ._mixture import COMMON_CONSTRAINTS, FamilyMixture
from ._nan import ImputeMixin, NanPolicyMixin
from ..families.missing import NAN_POLICIES

class StudentMixture(ImputeMixin, NanPolicyMixin, FamilyMixture):
    """Mixture of multivariate Student-t distributions fitted by EM (ECM for ``nu``).

    Each component has a location ``mu_k``, a scale matrix ``Sigma_k`` (stored as
    ``covariances_`` in :class:`fastem.GaussianMixture`'s layout for the covariance type; the
    covariance of a t component is ``nu / (nu - 2) Sigma_k`` for ``nu > 2``) and degrees of
    freedom ``nu_k``. Rows far from a component get small weights
    ``u = (nu + D) / (nu + delta2)`` in its M-step, so gross outliers barely move it.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Form of the scale matrices (tied: one pooled matrix; diag and spherical: reduced as
        the Gaussian mixture's covariances are).
    degrees_of_freedom : float or None, default=None
        ``None`` estimates ``nu_k`` per component (the ECM step of McLachlan & Peel 2000,
        solved to full precision within ``[0.01, 1000]``); a positive float fixes ``nu`` for
        every component.
    degrees_of_freedom_init : float, default=30.0
        Starting ``nu`` when it is estimated.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean per-sample log-likelihood.
    reg_covar : float, default=1e-6
        Added to the diagonal of every scale matrix.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        As in :class:`fastem.GaussianMixture`: the initial means, scales and weights are the
        Gaussian initialiser's; ``nu`` starts at ``degrees_of_freedom_init``.
    weights_init, means_init, precisions_init : array-like, optional
        As in :class:`fastem.GaussianMixture` (``precisions_init``: inverse scale matrices).
    random_state : int, RandomState, Generator or None, default=None
    warm_start : bool, default=False
        Continue from the fitted parameters (``nu`` included) on the next ``fit``.
    verbose : int, default=0
    verbose_interval : int, default=10
    chunk_size : int or None, default=None
        Rows per kernel call (and per online EM step).
    n_threads : int or None, default=None
        Numba threads; results are bit-identical for any number.
    backend : {"auto", "numba", "dask"}, default="auto"
    algorithm : {"em", "online"}, default="em"
    learning_decay : float, default=0.7
    learning_offset : float, default=10.0
    progress : bool, default=False
    checkpoint : str or os.PathLike, default=None
        As in :class:`fastem.GaussianMixture` (Dask input, stepwise online EM with
        :meth:`partial_fit`, a progress bar, resumable fits). In online EM the ``nu``
        equation uses the running average of ``sum w r (E[log tau] - u)``.
    nan_policy : {"raise", "omit", "marginalize"}, default="raise"
        NaN (in float input) marks a missing entry; ``"raise"`` makes it an error naming its
        row and column. ``"omit"``: rows holding a NaN are left out of the fit (counted in
        ``n_rows_omitted_``); scoring a row with NaN is then an error naming it.
        ``"marginalize"``: exact EM over each row's observed coordinates (the marginal of a
        t is a t with the same ``nu`` and the sub-block of the scale; the missing block's
        conditional mean is filled in and its conditional scale added to the scatter, and
        the ``nu`` equation uses each row's number of observed coordinates); inference then
        uses the observed coordinates too, and a row with every coordinate missing adds
        nothing, scores 0.0 and is counted in ``n_rows_all_missing_``. Under both, the
        initialisation reads the mean-imputed rows. ``inf`` is always an error.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Scale matrices in the Gaussian layout of ``covariance_type``.
    precisions_, precisions_cholesky_ : ndarray
        Their inverses and the inverses' (upper) Cholesky factors.
    degrees_of_freedom_ : ndarray of shape (n_components,)
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_
        As in :class:`fastem.GaussianMixture`.
    n_rows_omitted_, n_rows_all_missing_ : int
        Rows left out for holding a NaN (``nan_policy="omit"``), and rows entirely NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import StudentMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.standard_t(4, (500, 2)), rng.standard_t(4, (500, 2)) + 8])
    >>> sm = StudentMixture(2, random_state=0).fit(X)
    >>> np.sort(sm.means_[:, 0]).round(0)
    array([-0.,  8.])
    """

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 degrees_of_freedom: Optional[float] = None,
                 degrees_of_freedom_init: float = 30.0, tol: float = 1e-3,
                 reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", weights_init: Optional[Any] = None,
                 means_init: Optional[Any] = None, precisions_init: Optional[Any] = None,
                 random_state: Optional[Any] = None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10,
                 chunk_size: Optional[int] = None, n_threads: Optional[int] = None,
                 backend: str = "auto", algorithm: str = "em", learning_decay: float = 0.7,
                 learning_offset: float = 10.0, progress: bool = False,
                 checkpoint: Optional[Union[str, os.PathLike]] = None,
                 nan_policy: str = "raise") -> None:
        self.nan_policy = nan_policy
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.degrees_of_freedom = degrees_of_freedom
        self.degrees_of_freedom_init = degrees_of_freedom_init
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
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

    _constraints = {
        **COMMON_CONSTRAINTS,
        "nan_policy": [Options(NAN_POLICIES)],
        "covariance_type": [Options(tuple(FAMILIES))],
        "degrees_of_freedom": [Interval("float", 0.0, None, "neither"), NONE],
        "degrees_of_freedom_init": [Interval("float", 0.0, None, "neither")],
        "reg_covar": [Interval("float", 0.0, None, "left")],
        "means_init": [ARRAY_LIKE, NONE],
        "precisions_init": [ARRAY_LIKE, NONE],
    }

    def impute(self, X: Any, *, sample: bool = False, random_state: Any = None,
               out: Any = None) -> np.ndarray:
        """``X`` with every NaN replaced from the fitted mixture (works under any
        ``nan_policy``).

        Each row's responsibilities come from its observed values (a row entirely missing
        gets the weights). A missing entry then becomes ``E[x_mis | x_obs] = sum_k r_k
        (mu_k,m + Sigma_k,mo Sigma_k,oo^-1 (x_o - mu_k,o))`` (a t's conditional mean is the
        Gaussian one under its scale). With ``sample=True`` each row instead draws a
        component from its responsibilities, then its missing block from that component's
        conditional, a t with ``nu + p`` degrees of freedom (``p`` observed coordinates).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or out-of-core data
            NaN marks a missing value; inf is an error.
        sample : bool, default=False
            Draw from the conditional instead of taking its mean.
        random_state : int, RandomState, Generator or None, default=None
            Seed of the draws (``sample=True`` only).
        out : ndarray or path, optional
            Where to write the result: a float64 array (or memmap) of X's shape, or a path
            for a ``.npy`` file (returned memory-mapped), chunk by chunk.

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features), float64
        """
        return super().impute(X, sample=sample, random_state=random_state, out=out)

    # ---- FamilyMixture hooks ------------------------------------------------------------------
    def _make_family(self, n_features: Optional[int], source: Any) -> StudentFamily:
        return StudentFamily(self.covariance_type, self.degrees_of_freedom,
                             self.degrees_of_freedom_init, nan_policy=self.nan_policy)

    def _reg(self) -> float:
        return float(self.reg_covar)

    def _inits(self, n_features: int) -> tuple:
        """The checked ``weights_init``, ``means_init``, ``precisions_init`` (the Gaussian
        estimator's checks and messages)."""
        cov_family = self._make_family(None, None).covariance_family
        return validate_init(cov_family, self.n_components, n_features, self.weights_init,
                             self.means_init, self.precisions_init)

    def _check_weights_init(self) -> Optional[np.ndarray]:
        if self.weights_init is None:
            return None
        w = np.asarray(self.weights_init, dtype=np.float64)
        return validate_init(self._make_family(None, None).covariance_family,
                             self.n_components, 1, w, None, None)[0]

    def _user_init_params(self, family: StudentFamily, n_components: int,
                          n_features: int) -> Optional[StudentParams]:
        w, m, p = self._inits(n_features)
        if w is None or m is None or p is None:
            return None
        return family.from_gaussian(params_from_user(family.covariance_family, w, m, p))

    def _initialize(self, source: Any, family: StudentFamily, rng: np.random.Generator,
                    backend: Any = nb) -> StudentParams:
        w, m, p = self._inits(source.n_features)
        if self._nan_ok():  # k-means on the mean-imputed rows
            from ..impute import mean_imputed
            source = mean_imputed(source)
        g = initialize(source, family.covariance_family, self.n_components, self.init_params,
                       rng, self.reg_covar, weights_init=w, means_init=m, precisions_init=p,
                       backend=backend)
        return family.from_gaussian(g)

    def _check_same_model(self, what: str, n_features: Optional[int] = None) -> None:
        super()._check_same_model(what, n_features)
        fitted = self._family_spec.get("covariance_type")
        if fitted != self.covariance_type:
            raise ValueError(f"{what} continues the fitted model, whose covariance_type is "
                             f"{fitted!r}; got covariance_type={self.covariance_type!r}. "
                             "Call fit (with warm_start=False) to start afresh.")

    def _source(self, X: Any, family: StudentFamily):
        # scikit-learn's wording for an in-memory array of the wrong width (its
        # check_n_features_in_after_fitting matches it); other sources say which source.
        shape = getattr(X, "shape", None)
        if shape is not None and len(shape) == 2 and shape[1] != self.n_features_in_:
            raise ValueError(f"X has {shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")
        return super()._source(X, family)

    def _fitted_attributes(self, p: StudentParams) -> dict:
        cov_family = StudentFamily(self.covariance_type).covariance_family
        return {"weights_": p.weights, "means_": p.means, "covariances_": p.covariances,
                "precisions_cholesky_": p.precisions_cholesky,
                "precisions_": cov_family.precisions(p.precisions_cholesky),
                "degrees_of_freedom_": np.asarray(p.degrees_of_freedom, dtype=np.float64)}

    def _params_from_attributes(self) -> StudentParams:
        return StudentParams(self.weights_, self.means_, self.covariances_,
                             self.precisions_cholesky_, self.degrees_of_freedom_)


register("student_t", StudentFamily)
register_estimator("student_t", "fastem.estimators.student:StudentMixture")
