"""``nan_policy`` on the estimators of the linear-exponential families (Bernoulli, categorical,
Poisson): the parameter, the NaN-aware initialisation and the missing-row counts.

The family does the work (:mod:`fastem.families.linexp_nan`); this mixin, listed before
:class:`~fastem.estimators._mixture.FamilyMixture` in an estimator's bases, only

* initialises on the mean-imputed data (every NaN read as its column's observed mean) when
  ``nan_policy`` is not "raise", as :class:`fastem.GaussianMixture` does;
* sets ``n_rows_omitted_`` and ``n_rows_all_missing_`` after ``fit`` (one counting pass, only
  when NaN are allowed);
* leaves rows with every coordinate missing out of the ``n`` of ``score``/``bic``/``aic`` on
  Dask arrays (other sources: :func:`fastem.inference.log_likelihood_sum`).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .._params import Options
from ..backends import numba as nb
from ..data.dask_source import is_dask_collection
from ..families.linexp_nan import nan_masks
from ..families.missing import NAN_POLICIES

#: The constraint of ``nan_policy``.
NAN_POLICY_CONSTRAINT = {"nan_policy": [Options(NAN_POLICIES)]}

NAN_POLICY_DOC = """nan_policy : {"raise", "omit", "marginalize"}, default="raise"
        NaN in float input marks a missing entry. ``"raise"``: an error naming the first
        row holding one. ``"omit"``: rows holding a NaN are left out of the fit (counted in
        ``n_rows_omitted_``). ``"marginalize"``: exact EM over each row's observed
        coordinates (the components factorise over coordinates). Under both, inference uses
        each row's observed coordinates; a row with every coordinate missing adds nothing to
        the fit, scores 0.0 and is left out of the ``n`` of ``score``, ``bic`` and ``aic``
        (counted in ``n_rows_all_missing_``). ``inf`` is always an error."""


def count_missing_rows(source) -> tuple[int, int]:
    """Rows of ``source`` holding a NaN, and rows entirely NaN (one pass; integer and bool
    chunks hold none)."""
    from ..data.dask_source import DaskSource
    if isinstance(source, DaskSource):
        if np.dtype(source.X.dtype).kind != "f":
            return 0, 0
        from ..impute import count_missing
        return count_missing(source)
    n_nan = n_all = 0
    for chunk in source.chunks():
        masks = nan_masks(np.asarray(chunk.X))
        if masks is not None:
            n_nan += int(masks[0].sum())
            n_all += int(masks[1].sum())
    return n_nan, n_all


class NanPolicyMixin:
    """``nan_policy`` for a :class:`~fastem.estimators._mixture.FamilyMixture` subclass."""

    nan_policy: str = "raise"

    def _nan_ok(self) -> bool:
        return getattr(self, "nan_policy", "raise") != "raise"

    def _initialize(self, source: Any, family: Any, rng: np.random.Generator,
                    backend: Any = nb) -> Any:
        if self._nan_ok():
            from ..impute import mean_imputed
            source = mean_imputed(source)
        return super()._initialize(source, family, rng, backend)

    def fit(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        super().fit(X, y, sample_weight=sample_weight)
        self._set_missing_counts(X, sample_weight)
        return self

    def _set_missing_counts(self, X: Any, sample_weight: Any) -> None:
        """``n_rows_omitted_`` and ``n_rows_all_missing_``."""
        n_nan = n_all = 0
        if self._nan_ok():
            source = self._open(X, sample_weight, self.chunk_size, self._checker())
            n_nan, n_all = count_missing_rows(source)
        self.n_rows_omitted_ = n_nan if self.nan_policy == "omit" else 0
        self.n_rows_all_missing_ = n_all
        if self.verbose and self._nan_ok():
            what = "omitted" if self.nan_policy == "omit" else "marginalised"
            print(f"{n_nan:,} rows with missing values {what} ({n_all:,} entirely missing).")

    def _mean_log_likelihood(self, X: Any) -> tuple[float, int]:
        if not (self._nan_ok() and is_dask_collection(X)):
            return super()._mean_log_likelihood(X)
        self._check_is_fitted()
        lp = self.score_samples(X)
        import dask
        import dask.array as da
        total, n_all = dask.compute(lp.sum(), da.isnan(X).all(axis=1).sum()
                                    if np.dtype(X.dtype).kind == "f" else 0)
        n = int(lp.shape[0]) - int(n_all)
        if n == 0:
            raise ValueError("Every row of X is entirely missing (NaN); there is no "
                             "observed value to score.")
        return float(total) / n, n




class ImputeMixin:
    """``impute`` for an estimator whose family has ``impute_missing`` (Bernoulli,
    categorical, Poisson)."""

    def impute(self, X: Any, *, sample: bool = False, random_state: Any = None,
               out: Any = None) -> np.ndarray:
        """``X`` with every NaN replaced from the fitted mixture (works under any
        ``nan_policy``).

        Each row's responsibilities are computed from its observed entries (a row entirely
        missing gets the mixture weights). A missing entry then becomes its expectation
        given the observed ones, ``sum_k r_k E_k[x_d]``: for Bernoulli columns the
        probability of a 1, for Poisson columns a rate (neither is rounded); for categorical
        columns the most probable code under ``sum_k r_k P_d[k]``. With ``sample=True`` each
        row instead draws a component from its responsibilities, then every missing entry
        from that component (0/1, counts, codes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or out-of-core data
            NaN marks a missing value; other values must be valid for the family.
        sample : bool, default=False
            Draw from the conditional instead of taking its expectation (or mode).
        random_state : int, RandomState, Generator or None, default=None
            Seed of the draws (``sample=True`` only).
        out : ndarray or path, optional
            Where to write the result: a float64 array (or memmap) of X's shape, or a path
            for a ``.npy`` file (returned memory-mapped); chunk by chunk, so it need not fit
            in memory.

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features), float64
        """
        from .._feature_names import check_feature_names
        from ..impute import impute_source
        from ._base import numba_threads
        from ._mixture import make_rng
        self._check_is_fitted()
        check_feature_names(getattr(self, "feature_names_in_", None), X, type(self).__name__)
        family = self._fitted_family().with_nan_policy("marginalize")
        params = self._params_from_attributes()
        kargs = family.kernel_args(params)
        rng = make_rng(random_state) if sample else None

        def fill(chunk: np.ndarray) -> np.ndarray:
            _, _, resp = family.e_step_outputs(chunk, kargs, resp=True)
            return family.impute_missing(chunk, resp, params, rng)

        with numba_threads(self.n_threads):
            return impute_source(self._source(X, family), fill, out)


__all__ = ["ImputeMixin", "NanPolicyMixin", "NAN_POLICY_CONSTRAINT", "NAN_POLICY_DOC",
           "count_missing_rows"]
