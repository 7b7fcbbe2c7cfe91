"""``MixedTypeMixture``: components that are products of independent blocks of columns
(gaussian, bernoulli, categorical, poisson), fitted by exact EM in one fused pass.

A thin client of :class:`fastem.estimators._mixture.FamilyMixture` over
:class:`fastem.families.mixed.MixedFamily`.
"""
from __future__ import annotations

import numbers
import os
from types import SimpleNamespace
from typing import Any, Optional, Union

import numpy as np

from .._params import NONE, Options, TypeOf
from ..families.categorical import offsets_of
from ..families.mixed_columns import check_blocks_cover, column_names_of, resolve_names
from ..families.mixed import BLOCKS, DEFAULTS, MixedFamily, MixedParams
from ..families.registry import register, register_estimator
from .categorical import _column_max
from ._mixture import COMMON_CONSTRAINTS, FamilyMixture
from ._nan import NAN_POLICY_CONSTRAINT, NanPolicyMixin

#: Weight of the uninformative value in the smoothed first M-step (as the single families).
INIT_SMOOTHING = 0.1
_DICT = TypeOf((dict,), "a dict")
_HYPER = {"gaussian": ("reg_covar",), "bernoulli": ("alpha",),
          "categorical": ("alpha", "n_categories"), "poisson": ("reg_rate",),
          "student_t": ("covariance_type", "degrees_of_freedom", "degrees_of_freedom_init",
                        "reg_covar")}
_T_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class MixedTypeMixture(NanPolicyMixin, FamilyMixture):
    """Mixture whose components are products of independent blocks of columns.

    Parameters
    ----------
    n_components : int, default=1
    columns : dict, optional
        Family name (``"gaussian"``, ``"bernoulli"``, ``"categorical"``, ``"poisson"``,
        ``"student_t"``) ->
        list of columns: 0-based indices, or column names of a pandas DataFrame, a
        ``pyarrow.Table`` or a ``.parquet`` file (its numeric columns, in file order),
        resolved to indices at ``fit`` (``blocks_[name].columns``). Every column in exactly
        one block. ``None``: every column is gaussian. A ``"student_t"`` block is *one*
        multivariate t over all its columns (a t vector's coordinates are not independent,
        so it cannot be split per column like the others): its scale matrix has the
        ``covariance_type`` of ``block_params["student_t"]`` (default ``"full"``; also
        ``"tied"``, ``"diag"``, ``"spherical"``), and its weights ``u_ik = (nu_k + D_t) /
        (nu_k + delta2_ik)`` weight only its own statistics.
    covariance_type : {"diag"}, default="diag"
        Of the gaussian block (independent columns within a component).
    block_params : dict, optional
        Per-block hyper-parameters, e.g. ``{"categorical": {"alpha": 0.5, "n_categories":
        [3, 4]}, "poisson": {"reg_rate": 1e-6}, "gaussian": {"reg_covar": 1e-6},
        "bernoulli": {"alpha": 1e-10}, "student_t": {"covariance_type": "full",
        "degrees_of_freedom": None, "degrees_of_freedom_init": 30.0, "reg_covar": 1e-6}}``
        (those are the keys; the defaults are the single estimators'). ``n_categories`` (int
        or list) defaults to the largest code + 1; ``degrees_of_freedom=None`` estimates
        ``nu_k`` per component (as :class:`fastem.StudentMixture`).
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        As in :class:`fastem.GaussianMixture`; the hard labels are found on the data with
        every categorical column replaced by its 0/1 indicator columns (category codes are
        labels, not numbers), other columns as they are. ``"random"``: random
        responsibilities.
    tol, max_iter, n_init, weights_init, random_state, warm_start, verbose,
    verbose_interval, chunk_size, n_threads, backend, progress, checkpoint
        As in :class:`fastem.GaussianMixture`.
    algorithm : {"em", "online"}, default="em"
        ``"online"``: one pass of stepwise online EM over chunks of ``chunk_size`` rows (as
        :meth:`partial_fit`, chunk by chunk) on every block's statistics; the gaussian
        block's running sums are re-expressed about each chunk's shift before they are
        combined.
    learning_decay, learning_offset
        Online EM's step sizes ``(t + learning_offset) ** -learning_decay``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    blocks_ : dict
        Family name -> the fitted block, holding its parameters under the family's
        attribute names: gaussian ``means_``, ``covariances_`` (K, Dg) variances; bernoulli
        ``means_``; categorical ``probabilities_`` (list of (K, C_d)), ``n_categories_``;
        poisson ``means_`` (rates); student_t ``means_``, ``covariances_`` (scale matrices,
        the Gaussian layout of its covariance type), ``precisions_cholesky_``,
        ``degrees_of_freedom_``, ``covariance_type``; and ``columns`` of each.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_
        As in :class:`fastem.GaussianMixture`.
    n_rows_omitted_, n_rows_all_missing_ : int
        Rows left out for holding a NaN (``nan_policy="omit"``), and rows entirely NaN.

    Notes
    -----
    A model with a single block gives that family's estimator's result (a one-block gaussian
    model is ``GaussianMixture(covariance_type="diag")``). The categorical block is one-hot
    per chunk inside the mixed pass (the categorical family's own pass gathers codes).
    """

    def __init__(self, n_components: int = 1, *, columns: Optional[dict] = None,
                 covariance_type: str = "diag", block_params: Optional[dict] = None,
                 tol: float = 1e-3, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", weights_init: Optional[Any] = None,
                 random_state: Optional[Any] = None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10,
                 chunk_size: Optional[int] = None, n_threads: Optional[int] = None,
                 backend: str = "auto", algorithm: str = "em",
                 learning_decay: float = 0.7, learning_offset: float = 10.0,
                 progress: bool = False,
                 checkpoint: Optional[Union[str, os.PathLike]] = None,
                 nan_policy: str = "raise") -> None:
        self.nan_policy = nan_policy
        self.n_components = n_components
        self.columns = columns
        self.covariance_type = covariance_type
        self.block_params = block_params
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
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

    _constraints = {**COMMON_CONSTRAINTS, **NAN_POLICY_CONSTRAINT, "columns": [_DICT, NONE],
                    "covariance_type": [Options(("diag",))],
                    "block_params": [_DICT, NONE], "algorithm": [Options(("em", "online"))]}

    # ---- blocks -----------------------------------------------------------------------------
    def _check_parameters(self) -> None:
        for name in (self.columns or {}):
            if name not in BLOCKS:
                raise ValueError(f"columns names an unknown family {name!r}; MixedTypeMixture "
                                 f"blocks are {list(BLOCKS)!r}.")
        for name, hp in (self.block_params or {}).items():
            if name not in BLOCKS or not isinstance(hp, dict):
                raise ValueError(f"block_params maps a family name in {list(BLOCKS)!r} to a "
                                 f"dict; got {name!r}: {hp!r}.")
            for key in hp:
                if key not in _HYPER[name]:
                    raise ValueError(f"block_params[{name!r}] accepts {list(_HYPER[name])!r};"
                                     f" got {key!r}.")
            for key in ("alpha", "reg_rate", "reg_covar", "degrees_of_freedom_init"):
                if key in hp and not (isinstance(hp[key], numbers.Real) and hp[key] > 0):
                    raise ValueError(f"block_params[{name!r}][{key!r}] must be a float > 0; "
                                     f"got {hp[key]!r}.")
            dof = hp.get("degrees_of_freedom")
            if dof is not None and not (isinstance(dof, numbers.Real)
                                        and not isinstance(dof, bool) and dof > 0):
                raise ValueError("block_params['student_t']['degrees_of_freedom'] must be None "
                                 f"(estimated) or a float > 0; got {dof!r}.")
            if hp.get("covariance_type", "full") not in _T_COVARIANCE_TYPES:
                raise ValueError("block_params['student_t']['covariance_type'] must be one of "
                                 f"{list(_T_COVARIANCE_TYPES)!r}; got "
                                 f"{hp['covariance_type']!r}.")

    def _block_columns(self, d: Optional[int]) -> list:
        if self.columns is None:
            return [("gaussian", list(range(d)) if d is not None else None)]
        columns = self._column_indices()
        out = []
        for name in BLOCKS:
            if name in columns:
                out.append((name, [int(c) for c in columns[name]]))
        if d is not None:
            resolved = getattr(self, "_resolved_columns", None)
            check_blocks_cover(out, d, resolved[2] if resolved and _has_names(self.columns)
                               else None)
        return out

    def _column_indices(self) -> dict:
        """``columns`` with every name replaced by its index (resolved at ``fit``)."""
        if not _has_names(self.columns):
            return self.columns
        resolved = getattr(self, "_resolved_columns", None)
        if resolved is None or resolved[0] != _frozen(self.columns):
            raise ValueError(f"columns names columns ({self.columns!r}); names are resolved "
                             "against the data at fit: fit a pandas DataFrame, a "
                             "pyarrow.Table or a .parquet file, or give 0-based indices.")
        return resolved[1]

    def _resolve_columns(self, X: Any) -> None:
        """Map the column names in ``columns`` to indices of ``X``'s columns."""
        self._check_parameters()
        if not _has_names(self.columns):
            return
        names = column_names_of(X)
        if names is None:
            raise ValueError(f"columns names columns ({self.columns!r}) but the data has no "
                             f"column names ({type(X).__name__}); fit a pandas DataFrame, a "
                             "pyarrow.Table or a .parquet file, or give 0-based indices.")
        self._resolved_columns = (_frozen(self.columns),
                                  resolve_names(self.columns, list(names)), list(names))

    def fit(self, X: Any, y: Any = None, sample_weight: Optional[Any] = None):
        """Estimate the parameters by EM (see :meth:`FamilyMixture.fit`); column names in
        ``columns`` are resolved against ``X``'s columns first."""
        self._validate_params()
        self._resolve_columns(X)
        return super().fit(X, y, sample_weight)

    def _blocks(self, d: Optional[int], source=None):
        blocks = []
        for name, cols in self._block_columns(d):
            hp = {**DEFAULTS[name], **(self.block_params or {}).get(name, {})}
            if name == "categorical":
                nc = hp.get("n_categories")
                if isinstance(nc, numbers.Integral):
                    nc = [int(nc)] * len(cols)
                elif nc is None and source is not None:
                    top = np.zeros(len(cols), dtype=np.int64)
                    for chunk in source.chunks():
                        if chunk.X.shape[0]:
                            top = np.maximum(top, _column_max(np.asarray(chunk.X)[:, cols]))
                    nc = [int(v) + 1 for v in top]
                elif nc is not None and len(nc) != len(cols):
                    raise ValueError(f"block_params['categorical']['n_categories'] needs one "
                                     f"int per categorical column ({len(cols)}); got {nc!r}.")
                hp["n_categories"] = None if nc is None else [int(v) for v in nc]
            blocks.append([name, cols, hp])
        return blocks

    def _checker(self):
        if self.columns is None:
            return _NanFiniteChecker() if self._nan_ok() else _FiniteChecker()
        return MixedFamily(self._blocks(None), nan_policy=self.nan_policy)

    def _make_family(self, n_features, source) -> MixedFamily:
        return MixedFamily(self._blocks(n_features, source), nan_policy=self.nan_policy)

    def _reg(self) -> float:
        return 0.0            # every block carries its own regularisation (block_params)

    def _smooth_initial(self, params: MixedParams, stats) -> MixedParams:
        return self._current_family.smoothed(params, INIT_SMOOTHING)

    def _initialize(self, source, family, rng, backend=None):
        self._current_family = family
        from ..backends import numba as nb
        return super()._initialize(source, family, rng, backend or nb)

    def _init_view(self, source, family):
        """A categorical block's codes one-hot (codes are labels, not numbers; k-means,
        k-means++ and ``random_from_data`` look there); the other columns as they are."""
        block = family.block("categorical")
        if block is None:
            return None
        from ..families.mixed_init import OneHotView
        _, cols, hp = block
        return OneHotView(source, cols, hp["n_categories"])

    # ---- attributes -------------------------------------------------------------------------
    def _fitted_attributes(self, params: MixedParams) -> dict:
        a = params.arrays
        blocks = {}
        for name, cols, hp in self._last_blocks:
            if name == "gaussian":
                blocks[name] = SimpleNamespace(columns=cols, means_=a["gaussian_means"],
                                               covariances_=a["gaussian_covariances"])
            elif name == "bernoulli":
                blocks[name] = SimpleNamespace(columns=cols, means_=a["bernoulli_means"],
                                               _complements=a["bernoulli_complements"])
            elif name == "categorical":
                off = offsets_of(hp["n_categories"])
                p = a["categorical_probabilities"]
                blocks[name] = SimpleNamespace(
                    columns=cols, n_categories_=list(hp["n_categories"]),
                    probabilities_=[p[:, off[j]:off[j + 1]].copy() for j in range(len(cols))])
            elif name == "student_t":
                blocks[name] = SimpleNamespace(
                    columns=cols, covariance_type=hp["covariance_type"],
                    means_=a["student_t_means"], covariances_=a["student_t_covariances"],
                    precisions_cholesky_=a["student_t_precisions_cholesky"],
                    degrees_of_freedom_=a["student_t_degrees_of_freedom"])
            else:
                blocks[name] = SimpleNamespace(columns=cols, means_=a["poisson_means"])
        return {"weights_": params.weights, "blocks_": blocks}

    def _params_from_attributes(self) -> MixedParams:
        out = {}
        for name, blk in self.blocks_.items():
            if name == "gaussian":
                out["gaussian_means"] = blk.means_
                out["gaussian_covariances"] = blk.covariances_
            elif name == "bernoulli":
                out["bernoulli_means"] = blk.means_
                out["bernoulli_complements"] = blk._complements
            elif name == "categorical":
                out["categorical_probabilities"] = np.concatenate(blk.probabilities_, axis=1)
            elif name == "student_t":
                out["student_t_means"] = blk.means_
                out["student_t_covariances"] = blk.covariances_
                out["student_t_precisions_cholesky"] = blk.precisions_cholesky_
                out["student_t_degrees_of_freedom"] = blk.degrees_of_freedom_
            else:
                out["poisson_means"] = blk.means_
        return MixedParams(self.weights_, out)

    def _check_n_features(self, X: Any) -> None:
        # scikit-learn's wording for an in-memory array with the wrong number of features
        # (FamilyMixture names the source instead).
        if self._is_fitted() and isinstance(X, np.ndarray) and X.ndim == 2 \
                and X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but MixedTypeMixture is "
                             f"expecting {self.n_features_in_} features as input.")

    def _e_step(self, X: Any, what: str, out: Any = None):
        self._check_n_features(X)
        return super()._e_step(X, what, out)

    def _mean_log_likelihood(self, X: Any):
        self._check_n_features(X)
        return super()._mean_log_likelihood(X)

    def _store_fit(self, params, family, n_features, **kw) -> None:
        self._last_blocks = family.blocks
        super()._store_fit(params, family, n_features, **kw)


def _has_names(columns: Optional[dict]) -> bool:
    return bool(columns) and any(isinstance(c, str) for cols in columns.values()
                                 for c in (cols if not isinstance(cols, str) else [cols]))


def _frozen(columns: dict) -> tuple:
    return tuple((k, tuple(v) if not isinstance(v, str) else (v,))
                 for k, v in sorted(columns.items()))


class _FiniteChecker:
    """The chunk checker of an all-gaussian model: finite values."""

    def prepare(self, X):
        return np.asarray(X, dtype=np.float64)

    def validate(self, X, row_offset: int = 0) -> None:
        bad = ~np.isfinite(X)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            from ..families.mixed import nan_hint
            value = X[row, col].item()
            raise ValueError(f"MixedTypeMixture: row {row + row_offset:,}, column {col} (a "
                             f"gaussian column) is {value!r}; gaussian columns "
                             f"need finite values (no NaN or inf){nan_hint(value)}.")


class _NanFiniteChecker(_FiniteChecker):
    """The chunk checker of an all-gaussian model under nan_policy "omit"/"marginalize":
    NaN marks a missing value; inf is an error naming its row and column."""

    def validate(self, X, row_offset: int = 0) -> None:
        from ..families.linexp_nan import validate_with_nan
        validate_with_nan(X, row_offset, "marginalize", super().validate)


def _mixed(blocks, nan_policy: str = "raise") -> MixedFamily:
    return MixedFamily(blocks, nan_policy=nan_policy)


register("mixed", _mixed)
register_estimator("mixed", MixedTypeMixture)

__all__ = ["MixedTypeMixture"]
