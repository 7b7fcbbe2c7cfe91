"""BayesianGaussianMixture with missing values: structured variational Bayes
``q(z, x_mis) q(theta)`` under ``nan_policy="marginalize"``, and ``"omit"``.

The reference runs the variational E-step row by row in NumPy (observed/missing split, the
Gaussian conditional under the expected precision, :mod:`tests.reference_missing`) and
scikit-learn's own variational M-step and lower bound on those expected statistics, adding the
entropy of ``q(x_mis | z)`` to the bound.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastem
from fastem import BayesianGaussianMixture
from fastem.families import missing as missing_mod

from .reference_missing import full_covs, posterior_rows, scatter
from .test_bayesian import _data as bayesian_data

sklearn = pytest.importorskip("sklearn")
from sklearn.mixture import BayesianGaussianMixture as SkBGM  # noqa: E402

COV_TYPES = ("full", "tied", "diag", "spherical")
_EPS10 = 10 * np.finfo(np.float64).eps


def _data(n=150, seed=0):
    return bayesian_data(n, seed)


def _holes(X, pattern, seed=2):
    """``X`` with NaN: ``"random-10"``/``"random-40"`` entries missing at random, or
    ``"block"`` (monotone: the last column of a third of the rows, the last two of another
    third); three rows entirely missing in every case."""
    rng = np.random.default_rng(seed)
    M = X.copy()
    n = len(M)
    if pattern.startswith("random"):
        M[rng.uniform(size=M.shape) < int(pattern.split("-")[1]) / 100] = np.nan
    else:
        M[n // 3:2 * n // 3, -1:] = np.nan
        M[2 * n // 3:, -2:] = np.nan
    M[[5, 77, 140]] = np.nan
    return M


def _soft_resp(n, k, seed=1):
    rng = np.random.default_rng(seed)
    resp = rng.uniform(size=(n, k)) ** 4
    return resp / resp.sum(axis=1, keepdims=True)


def _start_from_resp(est, X_complete, resp, captured):
    """Make ``est`` start from the variational M-step of ``resp`` on the complete rows
    ``X_complete``, and keep that posterior in ``captured``."""
    def initial(source, family, rng, backend=None):
        stats = family.resp_stats(X_complete, None, resp,
                                  np.zeros((resp.shape[1], X_complete.shape[1])))
        captured["start"] = family.m_step(stats, None, reg=est.reg_covar)
        captured["priors"] = family.priors
        return captured["start"]
    est._initialize = initial
    return est


def _sklearn_at(posterior, priors, **params) -> SkBGM:
    """A scikit-learn BayesianGaussianMixture holding ``posterior`` and ``priors``."""
    sk = SkBGM(**params)
    sk.weight_concentration_prior_ = priors.weight_concentration_prior
    sk.mean_precision_prior_ = priors.mean_precision_prior
    sk.mean_prior_ = np.asarray(priors.mean_prior)
    sk.degrees_of_freedom_prior_ = priors.degrees_of_freedom_prior
    sk.covariance_prior_ = priors.covariance_prior
    wc = posterior.weight_concentration
    sk.weight_concentration_ = (wc[0].copy(), wc[1].copy()) if wc.ndim == 2 else wc.copy()
    sk.mean_precision_ = posterior.mean_precision.copy()
    sk.means_ = posterior.means.copy()
    nu = posterior.degrees_of_freedom
    sk.degrees_of_freedom_ = float(nu) if np.ndim(nu) == 0 else nu.copy()
    sk.covariances_ = posterior.covariances.copy()
    sk.precisions_cholesky_ = posterior.precisions_cholesky.copy()
    return sk


def _reference_step(sk: SkBGM, X: np.ndarray) -> float:
    """One structured-VB iteration on ``sk`` in place; returns the lower bound."""
    cov_type = sk.covariance_type
    k, d = sk.means_.shape
    covs = full_covs(cov_type, sk.covariances_, k, d)
    # The variational E-step's constant beyond the Gaussian N(m_k, covariances_): scikit-learn's
    # weighted log-density at the mean minus the Gaussian's value there.
    gauss_at_mean = -0.5 * d * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(covs)[1]
    excess = np.diag(sk._estimate_weighted_log_prob(sk.means_)) - gauss_at_mean
    rows = posterior_rows(X, None, sk.means_, covs, log_weights=excess)
    nk = sum(row[0] for row in rows) + _EPS10
    xk = sum(row[0][:, None] * row[1] for row in rows) / nk[:, None]
    scat = scatter(rows, xk)
    reg = sk.reg_covar
    if cov_type == "full":
        s_k = scat / nk[:, None, None] + reg * np.eye(d)
    elif cov_type == "tied":
        s_k = scat.sum(axis=0) / nk.sum() + reg * np.eye(d)
    elif cov_type == "diag":
        s_k = np.diagonal(scat, axis1=1, axis2=2) / nk[:, None] + reg
    else:
        s_k = (np.diagonal(scat, axis1=1, axis2=2) / nk[:, None] + reg).mean(axis=1)
    log_resp = np.log(np.maximum(np.array([row[0] for row in rows]), 1e-300))
    # Entropy of q(x_mis | z = k) for every row and component, weighted by r_ik.
    ent = 0.0
    for r, _, ccov, m, _, _ in rows:
        if m.size:
            logdets = np.linalg.slogdet(ccov)[1]
            ent += float(r @ (0.5 * m.size * (1 + np.log(2 * np.pi)) + 0.5 * logdets))
    sk._estimate_weights(nk)
    sk._estimate_means(nk, xk)
    sk._estimate_precisions(nk, xk, s_k)
    return float(np.ravel(sk._compute_lower_bound(log_resp, None))[0]) + ent


def _rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


_SLOW = pytest.mark.slow
# Every covariance type, pattern and prior type by default; the rest of the grid with -m slow.
CASES = [("full", "random-10", "dirichlet_process"),
         ("full", "random-40", "dirichlet_distribution"),
         ("full", "block", "dirichlet_process"),
         pytest.param("tied", "random-10", "dirichlet_distribution", marks=_SLOW),
         ("tied", "random-40", "dirichlet_process"),
         pytest.param("tied", "block", "dirichlet_distribution", marks=_SLOW),
         pytest.param("diag", "random-10", "dirichlet_process", marks=_SLOW),
         pytest.param("diag", "random-40", "dirichlet_distribution", marks=_SLOW),
         ("diag", "block", "dirichlet_process"),
         pytest.param("spherical", "random-10", "dirichlet_process", marks=_SLOW),
         ("spherical", "random-40", "dirichlet_distribution"),
         pytest.param("spherical", "block", "dirichlet_process", marks=_SLOW)]


@pytest.mark.parametrize("cov,pattern,prior", CASES)
def test_thirty_iterations_match_the_reference(cov, pattern, prior, monkeypatch):
    # Block patterns also take the square kernel's marginal path (pure tiles of one pattern).
    monkeypatch.setattr(missing_mod, "MARGINAL_ROWS", 8)
    X = _data()
    M = _holes(X, pattern)
    k = 4
    resp = _soft_resp(len(X), k)
    captured: dict = {}
    params = dict(n_components=k, covariance_type=cov, weight_concentration_prior_type=prior,
                  max_iter=30, tol=0.0)
    est = _start_from_resp(BayesianGaussianMixture(nan_policy="marginalize", n_threads=1,
                                                   **params), X, resp, captured)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        est.fit(M)
    sk = _sklearn_at(captured["start"], captured["priors"], **params)
    bounds = [_reference_step(sk, M) for _ in range(30)]
    sk._set_parameters(sk._get_parameters())      # weights_ and precisions_
    assert est.n_iter_ == 30
    assert _rel(est.lower_bounds_, bounds) < 1e-10
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                 "mean_precision_", "degrees_of_freedom_"):
        assert _rel(getattr(est, name), getattr(sk, name)) < 1e-10, name
    assert est.n_rows_all_missing_ == int(np.isnan(M).all(axis=1).sum()) >= 3
    assert est.n_rows_omitted_ == 0
    # The structured bound never decreases.
    b = np.asarray(est.lower_bounds_)
    assert np.all(np.diff(b) >= -1e-12 * np.abs(b[1:]))


def test_default_priors_and_start_come_from_the_mean_imputed_data():
    X = _data()
    M = _holes(X, "random-10")
    filled = np.where(np.isnan(M), np.nanmean(M, axis=0), M)
    a = BayesianGaussianMixture(3, nan_policy="marginalize", max_iter=1, random_state=0,
                                n_threads=1)
    b = BayesianGaussianMixture(3, max_iter=1, random_state=0, n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        a.fit(M)
        b.fit(filled)
    np.testing.assert_allclose(a.mean_prior_, b.mean_prior_, rtol=1e-12)
    np.testing.assert_allclose(a.covariance_prior_, b.covariance_prior_, rtol=1e-12)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_without_nan_every_policy_is_bit_identical(cov):
    X = _data()
    fits = []
    for policy in ("raise", "omit", "marginalize"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fastem.ConvergenceWarning)
            fits.append(BayesianGaussianMixture(3, covariance_type=cov, nan_policy=policy,
                                                max_iter=20, random_state=0,
                                                n_threads=1).fit(X))
    for other in fits[1:]:
        assert other.lower_bounds_ == fits[0].lower_bounds_
        np.testing.assert_array_equal(other.means_, fits[0].means_)
        np.testing.assert_array_equal(other.covariances_, fits[0].covariances_)


def test_omit_fits_the_complete_rows_only():
    X = _data()
    M = _holes(X, "random-10")
    keep = ~np.isnan(M).any(axis=1)
    resp = _soft_resp(int(keep.sum()), 3)
    est = _start_from_resp(BayesianGaussianMixture(3, nan_policy="omit", max_iter=15, tol=0,
                                                   n_threads=1), X[keep], resp, {})
    ref = _start_from_resp(BayesianGaussianMixture(3, max_iter=15, tol=0, n_threads=1),
                           X[keep], resp, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        est.fit(M)
        ref.fit(X[keep])
    assert est.n_rows_omitted_ == int((~keep).sum())
    # Same statistics; only the default priors differ (mean-imputed vs complete rows), so
    # compare with the reference fit under est's priors.
    ref2 = _start_from_resp(BayesianGaussianMixture(
        3, max_iter=15, tol=0, n_threads=1, mean_prior=est.mean_prior_,
        covariance_prior=est.covariance_prior_), X[keep], resp, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        ref2.fit(X[keep])
    assert _rel(est.lower_bounds_, ref2.lower_bounds_) < 1e-10
    assert _rel(est.means_, ref2.means_) < 1e-10


def _big(n=12_000, seed=3):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(0, 1, (n // 2, 5)), rng.normal(3, 0.6, (n - n // 2, 5))])
    X = X[rng.permutation(n)]
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    X[:4] = np.nan
    return X


def test_one_and_two_threads_are_bit_identical():
    # Also StudentMixture's missing-value kernel (one subprocess pair for both).
    script = (
        "import numpy as np, warnings, sys; sys.path.insert(0, %r); import fastem\n"
        "from tests.test_bayesian_missing import _big\n"
        "warnings.simplefilter('ignore')\n"
        "for cov in ('full', 'diag'):\n"
        "    for cls in (fastem.BayesianGaussianMixture, fastem.StudentMixture):\n"
        "        b = cls(4, covariance_type=cov, nan_policy='marginalize', max_iter=6, tol=0,"
        " random_state=0, chunk_size=5000).fit(_big())\n"
        "        print(repr(b.lower_bounds_), b.means_.tobytes().hex(),"
        " b.covariances_.tobytes().hex())\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outs = []
    # A first run with an empty kernel cache may compile what the later ones load, and a
    # freshly compiled kernel can differ from its cached copy in the last bit (seen with
    # GaussianMixture too); the warm-up run makes both compared runs load the same code.
    for threads in ("2", "1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        outs.append(subprocess.run([sys.executable, "-c", script % root], env=env, cwd=root,
                                   capture_output=True, text=True, check=True).stdout)
    assert outs[1] == outs[2] and outs[1]


def _fit(X, **kw):
    kw.setdefault("n_threads", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        return BayesianGaussianMixture(4, nan_policy="marginalize", max_iter=10, tol=0,
                                       random_state=0, **kw).fit(X)


def test_out_of_core_and_dask_equal_in_memory(tmp_path):
    X = _big()
    ref = _fit(X, chunk_size=5_000)
    path = tmp_path / "x.npy"
    np.save(path, X)
    ooc = _fit(str(path), chunk_size=5_000)
    assert _rel(ooc.lower_bounds_, ref.lower_bounds_) < 1e-12
    assert _rel(ooc.means_, ref.means_) < 1e-12
    da = pytest.importorskip("dask.array")
    dsk = _fit(da.from_array(X, chunks=(5_000, 5)))
    assert _rel(dsk.lower_bounds_, ref.lower_bounds_) < 1e-10
    assert _rel(dsk.means_, ref.means_) < 1e-10
    n_all = int(np.isnan(X).all(axis=1).sum())
    assert ooc.n_rows_all_missing_ == dsk.n_rows_all_missing_ == n_all >= 4


def test_inference_impute_save_load_and_checkpoint(tmp_path):
    X = _big()
    est = _fit(X)
    rows = X[:200]
    lp = est.score_samples(rows)
    assert np.all(lp[:4] == 0.0) and np.isfinite(lp).all()
    proba = est.predict_proba(rows)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    filled = est.impute(rows)
    assert not np.isnan(filled).any()
    obs = ~np.isnan(rows)
    np.testing.assert_array_equal(filled[obs], rows[obs])
    # The fill is the responsibility-weighted conditional mean under the expected precision.
    k, d = est.means_.shape
    covs = full_covs("full", est.covariances_, k, d)
    for i in (10, 11, 12):
        x = rows[i]
        if not np.isnan(x).any():
            continue
        m = np.isnan(x)
        o = ~m
        expect = np.zeros(m.sum())
        for j in range(k):
            S = covs[j]
            cond = est.means_[j, m] + S[np.ix_(m, o)] @ np.linalg.solve(
                S[np.ix_(o, o)], x[o] - est.means_[j, o])
            expect += proba[i, j] * cond
        np.testing.assert_allclose(filled[i, m], expect, rtol=1e-9, atol=1e-12)
    draws = est.impute(rows, sample=True, random_state=0)
    assert not np.isnan(draws).any()
    model = tmp_path / "m.npz"
    est.save(model)
    back = fastem.load(model)
    assert back.nan_policy == "marginalize"
    np.testing.assert_array_equal(back.score_samples(rows), lp)
    # A checkpointed fit gives the plain fit's answer, and so does resuming from its file.
    ckpt = tmp_path / "c.npz"
    for _ in range(2):
        again = _fit(X, checkpoint=ckpt)
        assert again.lower_bounds_[-1] == est.lower_bounds_[-1]
        np.testing.assert_array_equal(again.means_, est.means_)


def test_partial_fit_and_online_fit_take_nan():
    X = _big()
    est = BayesianGaussianMixture(4, nan_policy="marginalize", random_state=0, n_threads=1)
    for start in range(0, len(X), 4_000):
        est.partial_fit(X[start:start + 4_000])
    assert np.isfinite(est.means_).all() and est.n_iter_ == 3
    online = BayesianGaussianMixture(4, nan_policy="marginalize", random_state=0,
                                     algorithm="online", chunk_size=4_000).fit(X)
    assert np.isfinite(online.means_).all()
    assert online.n_rows_all_missing_ == int(np.isnan(X).all(axis=1).sum())
    # (A few SVI steps need not separate the clusters, with or without NaN; the mixture's
    # mean must be the data's.)
    for fitted in (est, online):
        np.testing.assert_allclose(fitted.weights_ @ fitted.means_, np.nanmean(X, axis=0),
                                   atol=0.1)


def test_errors_name_the_bad_entry():
    X = _data()
    M = X.copy()
    M[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7, column 1"):
        BayesianGaussianMixture(2).fit(M)
    M[9, 2] = np.inf
    with pytest.raises(ValueError, match="row 9, column 2"):
        BayesianGaussianMixture(2, nan_policy="marginalize").fit(M)
    with pytest.raises(ValueError, match="nan_policy"):
        BayesianGaussianMixture(2, nan_policy="drop").fit(X)


def test_cli_fit_bayesian_with_nan_and_impute(tmp_path, capsys):
    from fastem.cli import main
    X = _big(6_000)
    data = tmp_path / "x.npy"
    np.save(data, X)
    model = tmp_path / "m.npz"
    assert main(["fit", str(data), "-k", "3", "--model", "bayesian", "--nan-policy",
                 "marginalize", "--max-iter", "5", "-o", str(model), "--quiet"]) == 0
    out = tmp_path / "filled.npy"
    assert main(["impute", str(model), str(data), "-o", str(out)]) == 0
    filled = np.load(out)
    assert filled.shape == X.shape and not np.isnan(filled).any()
    assert fastem.load(model).nan_policy == "marginalize"


def test_integer_weights_equal_repeated_rows():
    X = _data()
    M = _holes(X, "random-40")
    w = np.random.default_rng(5).integers(1, 4, len(M))
    resp = _soft_resp(len(X), 3)
    a = _start_from_resp(BayesianGaussianMixture(3, nan_policy="marginalize", max_iter=10,
                                                 tol=0, n_threads=1,
                                                 mean_prior=np.zeros(3),
                                                 covariance_prior=np.eye(3)), X, resp, {})
    b = _start_from_resp(BayesianGaussianMixture(3, nan_policy="marginalize", max_iter=10,
                                                 tol=0, n_threads=1,
                                                 mean_prior=np.zeros(3),
                                                 covariance_prior=np.eye(3)), X, resp, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        a.fit(M, sample_weight=w.astype(float))
        b.fit(np.repeat(M, w, axis=0))
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        assert _rel(getattr(a, name), getattr(b, name)) < 1e-10, name
