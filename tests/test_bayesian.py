"""fastem.BayesianGaussianMixture: parity with scikit-learn's BayesianGaussianMixture, the
lower bound, weights, thread/chunk/out-of-core invariance, pruning and SVI.

scikit-learn is the reference implementation (it builds the N x K arrays fastem avoids); the
entropy term and the weighted statistics are also checked against direct NumPy formulas below.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import fastem
from fastem import BayesianGaussianMixture
from fastem._digamma import betaln, digamma, gammaln
from fastem.families import get_family
from fastem.families.variational import VariationalGaussianFamily
from fastem.families.variational_mstep import VariationalPriors, entropy_sum
from fastem.estimators.bayesian import _stats_of_posterior

sklearn = pytest.importorskip("sklearn")
scipy_special = pytest.importorskip("scipy.special")
from sklearn.mixture import BayesianGaussianMixture as SkBGM  # noqa: E402

COV_TYPES = ("full", "tied", "diag", "spherical")
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
RTOL = 1e-8


# ------------------------------------------------------------------------------ helpers
def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    parts = [rng.normal(0, 1, (n // 2, 3)),
             rng.normal(0, 0.5, (n // 4, 3)) + [4, 1, 2],
             rng.normal(0, 0.7, (n - n // 2 - n // 4, 3)) + [-3, 2, 0]]
    X = np.concatenate(parts)
    return X[rng.permutation(len(X))]


def _soft_resp(n, k, seed=1):
    rng = np.random.default_rng(seed)
    resp = rng.uniform(size=(n, k)) ** 4
    return resp / resp.sum(axis=1, keepdims=True)


def _from_resp(est, X, resp, sample_weight=None):
    """Make ``est`` start from the M-step of ``resp`` (scikit-learn's ``_initialize``)."""
    def initial(source, family, rng, backend=None):
        stats = family.resp_stats(np.asarray(X, dtype=np.float64), sample_weight, resp,
                                  np.zeros((resp.shape[1], X.shape[1])))
        return family.m_step(stats, None, reg=est.reg_covar)
    est._initialize = initial
    return est


def _sklearn_from_resp(X, resp, **params):
    sk = SkBGM(**params)
    sk._initialize_parameters = lambda X_, rs, xp=None: sk._initialize(X_, resp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(X)
    return sk


def _rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _fit(X, sample_weight=None, **params):
    # One thread: the same answer (see the threads test), less launch overhead on tiny data.
    params.setdefault("n_threads", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        return BayesianGaussianMixture(**params).fit(X, sample_weight=sample_weight)


# ------------------------------------------------------------------ parity with sklearn
@pytest.mark.parametrize("cov,prior", list(itertools.product(COV_TYPES, PRIOR_TYPES)))
def test_matches_sklearn_from_the_same_responsibilities(cov, prior):
    X = _data()
    k = 5
    resp = _soft_resp(len(X), k)
    params = dict(n_components=k, covariance_type=cov, weight_concentration_prior_type=prior,
                  max_iter=30, tol=0.0)
    sk_params = dict(params)
    params["n_threads"] = 1
    sk = _sklearn_from_resp(X, resp, **sk_params)
    est = _from_resp(BayesianGaussianMixture(**params), X, resp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        est.fit(X)
    assert est.n_iter_ == sk.n_iter_ == 30
    sk_bounds = [float(np.ravel(b)[0]) for b in sk.lower_bounds_]  # tied: shape-(1,) arrays
    assert _rel(est.lower_bounds_, sk_bounds) < RTOL
    assert _rel(est.lower_bound_, float(np.ravel(sk.lower_bound_)[0])) < RTOL
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
                 "mean_precision_", "degrees_of_freedom_", "mean_prior_", "covariance_prior_"):
        assert _rel(getattr(est, name), getattr(sk, name)) < RTOL, name
    if prior == "dirichlet_process":
        assert isinstance(est.weight_concentration_, tuple)
        for a, b in zip(est.weight_concentration_, sk.weight_concentration_):
            assert _rel(a, b) < RTOL
    else:
        assert _rel(est.weight_concentration_, sk.weight_concentration_) < RTOL
    for name in ("weight_concentration_prior_", "mean_precision_prior_",
                 "degrees_of_freedom_prior_"):
        assert getattr(est, name) == pytest.approx(getattr(sk, name), rel=1e-12)
    # Inference: scikit-learn's expected log weights and log densities.
    Xt = X[:50] + 0.1
    assert _rel(est.score_samples(Xt), sk.score_samples(Xt)) < RTOL
    assert _rel(est.predict_proba(Xt) + 1e-3, sk.predict_proba(Xt) + 1e-3) < 1e-7
    np.testing.assert_array_equal(est.predict(Xt), sk.predict(Xt))


def test_user_priors_match_sklearn():
    X = _data()
    resp = _soft_resp(len(X), 3)
    params = dict(n_components=3, covariance_type="full", max_iter=10, tol=0.0,
                  weight_concentration_prior=0.3, mean_precision_prior=0.5,
                  mean_prior=[1.0, 0.0, -1.0], degrees_of_freedom_prior=4.5,
                  covariance_prior=np.diag([1.0, 2.0, 0.5]))
    sk = _sklearn_from_resp(X, resp, **params)
    est = _from_resp(BayesianGaussianMixture(**params), X, resp)
    _fit_quiet(est, X)
    assert _rel(est.lower_bounds_, sk.lower_bounds_) < RTOL
    assert _rel(est.covariances_, sk.covariances_) < RTOL


def _fit_quiet(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        return est.fit(X, **kw)


# ----------------------------------------------------------------------- the bound
@pytest.mark.parametrize("cov,prior", list(itertools.product(COV_TYPES, PRIOR_TYPES)))
def test_lower_bound_never_decreases(cov, prior):
    X = _data(500, seed=5)
    est = _fit(X, n_components=6, covariance_type=cov, weight_concentration_prior_type=prior,
               max_iter=60, tol=0.0, random_state=1, init_params="random")
    lb = np.array(est.lower_bounds_)
    assert len(lb) == 60
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:])), np.diff(lb).min()


def _direct_entropy(X, w, kargs):
    """sum_i w_i sum_k r_ik log r_ik from the N x K matrix (the obviously correct way)."""
    means, prec, const = kargs.means, kargs.prec, kargs.const
    k = means.shape[0]
    diff = X[:, None, :] - means[None]
    if prec.ndim == 3:
        p = prec @ np.swapaxes(prec, 1, 2)
        p = np.broadcast_to(p, (k,) + p.shape[1:])
        maha = np.einsum("nki,kij,nkj->nk", diff, p, diff)
    else:
        maha = np.einsum("nki,ki->nk", diff ** 2, prec ** 2)
    wlp = const - 0.5 * maha
    log_resp = wlp - scipy_special.logsumexp(wlp, axis=1)[:, None]
    return float(np.sum(w[:, None] * np.exp(log_resp) * log_resp))


@pytest.mark.parametrize("cov", COV_TYPES)
def test_entropy_from_statistics_equals_the_n_by_k_formula(cov):
    X = _data(300, seed=7)
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(X))
    k = 4
    priors = VariationalPriors("dirichlet_process", 0.25, 1.0, X.mean(0), 3.0,
                               {"full": np.cov(X.T), "tied": np.cov(X.T),
                                "diag": X.var(0, ddof=1),
                                "spherical": float(X.var(0, ddof=1).mean())}[cov])
    fam = VariationalGaussianFamily(get_family(cov), priors)
    p = fam.m_step(fam.resp_stats(X, w, _soft_resp(len(X), k), np.zeros((k, 3))), None,
                   reg=1e-6)
    kargs = fam.kernel_args(p)
    stats = fam.chunk_stats(X, w, kargs)
    got = entropy_sum(kargs.prec, kargs.const, stats, fam.square)
    assert got == pytest.approx(_direct_entropy(X, w, kargs), rel=1e-10)


# ------------------------------------------------------------------ weights and chunks
@pytest.mark.parametrize("cov", ["full", "diag"])
def test_integer_weights_equal_repeated_rows(cov):
    X = _data(200, seed=2)
    w = np.random.default_rng(4).integers(0, 4, len(X)).astype(float)
    resp = _soft_resp(len(X), 3)
    rep = np.repeat(np.arange(len(X)), w.astype(int))
    kw = dict(n_components=3, covariance_type=cov, max_iter=15, tol=0.0, n_threads=1)
    a = _from_resp(BayesianGaussianMixture(**kw), X, resp, sample_weight=w)
    _fit_quiet(a, X, sample_weight=w)
    b = _from_resp(BayesianGaussianMixture(**kw), X[rep], resp[rep])
    _fit_quiet(b, X[rep])
    assert _rel(a.lower_bounds_, b.lower_bounds_) < 1e-9
    for name in ("means_", "covariances_", "mean_prior_", "covariance_prior_", "weights_"):
        assert _rel(getattr(a, name), getattr(b, name)) < 1e-9, name


def test_one_and_two_threads_are_bit_identical():
    X = _data(20_000, seed=9)
    fits = [_fit(X, n_components=5, covariance_type="full", random_state=0, max_iter=8,
                 tol=0.0, n_threads=t) for t in (1, 2)]
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_
    for name in ("means_", "covariances_", "mean_precision_", "degrees_of_freedom_"):
        np.testing.assert_array_equal(getattr(fits[0], name), getattr(fits[1], name))


@pytest.mark.parametrize("cov", ["full", "spherical"])
def test_npy_path_out_of_core_equals_in_memory(tmp_path, cov):
    X = _data(3000, seed=11)
    path = tmp_path / "x.npy"
    np.save(path, X)
    kw = dict(n_components=4, covariance_type=cov, random_state=0, max_iter=12, tol=0.0)
    mem = _fit(X, **kw)
    ooc = _fit(str(path), chunk_size=700, **kw)
    assert _rel(ooc.lower_bounds_, mem.lower_bounds_) < 1e-10
    for name in ("means_", "covariances_", "weights_", "mean_prior_", "covariance_prior_"):
        assert _rel(getattr(ooc, name), getattr(mem, name)) < 1e-10, name
    np.testing.assert_allclose(mem.score_samples(str(path)), mem.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(mem.predict(str(path)), mem.predict(X))


def test_dask_equals_in_memory():
    da = pytest.importorskip("dask.array")
    import dask
    X = _data(2000, seed=12)
    kw = dict(n_components=3, covariance_type="diag", random_state=0, max_iter=10, tol=0.0)
    mem = _fit(X, **kw)
    with dask.config.set(scheduler="synchronous"):
        dx = _fit(da.from_array(X, chunks=(512, 3)), **kw)
    assert _rel(dx.lower_bounds_, mem.lower_bounds_) < 1e-10
    assert _rel(dx.means_, mem.means_) < 1e-10


# ------------------------------------------------------------------------- pruning
@pytest.mark.parametrize("cov,prior", [("full", "dirichlet_process"),
                                       ("diag", "dirichlet_distribution"),
                                       ("spherical", "dirichlet_distribution")])
def test_pruned_survivors_equal_the_unpruned_fit(cov, prior):
    X = _data(2000, seed=13)
    kw = dict(n_components=10, covariance_type=cov, weight_concentration_prior_type=prior,
              weight_concentration_prior=1e-3, random_state=0, max_iter=100, tol=0.0,
              init_params="random")
    full = _fit(X, **kw)
    pruned = _fit(X, prune_threshold=1e-7, **kw)
    alive = pruned._active
    assert alive is not None and 0 < alive.sum() < 10
    nk = full.mean_precision_ - full.mean_precision_prior_
    assert np.all(nk[~alive] < 1e-7 * len(X))
    for name in ("means_", "weights_", "mean_precision_", "covariances_"):
        assert _rel(getattr(pruned, name)[alive], getattr(full, name)[alive]) < 1e-6, name
    assert pruned.lower_bound_ == pytest.approx(full.lower_bound_, rel=1e-6)
    # The pruned components keep the prior's posterior (no rows), never NaN.
    assert np.all(np.isfinite(pruned.covariances_))
    np.testing.assert_allclose(pruned.means_[~alive], np.broadcast_to(
        pruned.mean_prior_, pruned.means_[~alive].shape), rtol=1e-12)


# ----------------------------------------------------------------------------- SVI
def test_online_fit_finds_the_clusters():
    X = _data(30_000, seed=14)
    est = BayesianGaussianMixture(6, random_state=0, algorithm="online", chunk_size=2000,
                                  n_threads=1)
    est.fit(X)
    assert est.n_iter_ == 15 and not est.converged_
    batch = _fit(X, n_components=6, random_state=0)
    assert est.score(X) == pytest.approx(batch.score(X), abs=0.05)
    assert len(est.lower_bounds_) == 15


def test_partial_fit_steps_and_continues_a_fit():
    X = _data(3000, seed=15)
    est = BayesianGaussianMixture(3, random_state=0, n_threads=1)
    for i in range(0, 3000, 1000):
        est.partial_fit(X[i:i + 1000])
    assert est.n_iter_ == 3 and len(est.lower_bounds_) == 3
    assert np.isfinite(est.score(X))
    fitted = _fit(X, n_components=3, random_state=0, tol=1e-4, max_iter=200)
    before = fitted.score(X)
    fitted.partial_fit(X[:1000])   # continues from the fitted posterior
    assert fitted.n_iter_ == 1
    assert fitted.score(X) == pytest.approx(before, abs=0.02)


def test_online_dask_equals_online_in_memory():
    da = pytest.importorskip("dask.array")
    import dask
    X = _data(6000, seed=17)
    kw = dict(n_components=3, random_state=0, algorithm="online", n_threads=1)
    ref = BayesianGaussianMixture(chunk_size=1000, **kw).fit(X)
    with dask.config.set(scheduler="synchronous"):
        got = BayesianGaussianMixture(**kw).fit(da.from_array(X, chunks=(1000, X.shape[1])))
    assert got.n_iter_ == ref.n_iter_ == 6
    for name in ("means_", "covariances_", "weights_", "degrees_of_freedom_"):
        assert _rel(getattr(got, name), getattr(ref, name)) < 1e-10, name


@pytest.mark.parametrize("option", [{"prune_threshold": 1e-3}, {"checkpoint": "svi.ckpt"}])
def test_svi_refuses_batch_only_options_by_name(option, tmp_path):
    X = _data(600, seed=18)
    (name, value), = option.items()
    if name == "checkpoint":
        value = str(tmp_path / value)
    est = BayesianGaussianMixture(3, random_state=0, n_threads=1, **{name: value})
    with pytest.raises(ValueError, match=name):
        est.fit(X, algorithm="online")
    with pytest.raises(ValueError, match=name):
        est.partial_fit(X)
    assert not (tmp_path / "svi.ckpt").exists()
    est.fit(X)          # the batch fit takes the option
    assert est.n_iter_ >= 1


@pytest.mark.parametrize("cov", COV_TYPES)
def test_statistics_of_a_posterior_give_it_back(cov):
    X = _data(500, seed=16)
    est = _fit(X, n_components=3, covariance_type=cov, random_state=0, max_iter=20)
    p = est._params_from_attributes()
    stats = _stats_of_posterior(p, est._fitted_priors, get_family(cov), est.reg_covar)
    again = VariationalGaussianFamily(get_family(cov), est._fitted_priors).m_step(
        stats, None, reg=est.reg_covar)
    np.testing.assert_allclose(again.means, p.means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(again.covariances, p.covariances, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(again.weight_concentration, p.weight_concentration, rtol=1e-9)


@pytest.mark.slow
def test_svi_one_pass_of_a_million_rows_is_within_one_percent_of_batch():
    rng = np.random.default_rng(0)
    n, d = 1_000_000, 4
    centers = rng.normal(0, 6, (5, d))
    X = centers[rng.integers(0, 5, n)] + rng.normal(0, 1, (n, d))
    rng.shuffle(X)
    batch = _fit(X, n_components=8, random_state=0)
    svi = BayesianGaussianMixture(8, random_state=0, algorithm="online",
                                  chunk_size=20_000).fit(X)
    # Both posteriors judged the same way: one batch VB iteration from each under the batch
    # fit's priors, then scikit-learn's bound (it is defined after an M-step).
    from fastem.backends import numba as nb
    from fastem.data import ArraySource
    from fastem.families.registry import make_family
    family = make_family(batch._family_spec)
    bounds = []
    for m in (batch, svi):
        p = m._params_from_attributes()
        stats = nb.em_stats(ArraySource(X), family.kernel_args(p), family)
        bounds.append(family.lower_bound(stats, family.m_step(stats, p, reg=1e-6), p) / n)
    print("bound per sample: batch %.6f, SVI %.6f" % tuple(bounds))
    assert abs(bounds[1] - bounds[0]) <= 0.01 * abs(bounds[0]), bounds


# --------------------------------------------------------------------- sklearn surface
def test_check_estimator_passes():
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        warnings.filterwarnings("ignore", "Estimator BayesianGaussianMixture does not inherit",
                                UserWarning)
        warnings.simplefilter("ignore", sklearn.exceptions.SkipTestWarning)
        results = check_estimator(BayesianGaussianMixture(n_threads=1), on_fail=None)
    assert len(results) > 40
    failed = {r["check_name"]: f"{type(r['exception']).__name__}: {r['exception']}"
              for r in results if r["status"] == "failed"}
    assert failed == {}


def test_defaults_are_sklearns():
    import inspect
    ours = inspect.signature(BayesianGaussianMixture).parameters
    theirs = inspect.signature(SkBGM).parameters
    for name, p in theirs.items():
        assert ours[name].default == p.default, name


def test_parameter_errors_name_the_value():
    X = _data(100)
    with pytest.raises(ValueError, match="'degrees_of_freedom_prior' should be greater than 2"):
        BayesianGaussianMixture(2, degrees_of_freedom_prior=1.5).fit(X)
    with pytest.raises(ValueError, match=r"'means' should have the shape of \(3,\)"):
        BayesianGaussianMixture(2, mean_prior=[0.0, 1.0]).fit(X)
    with pytest.raises(ValueError, match="symmetric, positive-definite"):
        BayesianGaussianMixture(2, covariance_prior=-np.eye(3)).fit(X)
    with pytest.raises(ValueError, match="'diag precision' should be positive"):
        BayesianGaussianMixture(2, covariance_type="diag", covariance_prior=[1, -1, 1]).fit(X)
    with pytest.raises(ValueError, match="weight_concentration_prior_type"):
        BayesianGaussianMixture(2, weight_concentration_prior_type="dp").fit(X)
    with pytest.raises(ValueError, match="prune_threshold"):
        BayesianGaussianMixture(2, prune_threshold=1.5).fit(X)


def test_effective_components_on_five_clusters():
    rng = np.random.default_rng(1)
    centers = rng.normal(0, 8, (5, 2))
    X = centers[rng.integers(0, 5, 5000)] + rng.normal(0, 0.5, (5000, 2))
    est = _fit(X, n_components=12, random_state=0, max_iter=500,
               weight_concentration_prior=1e-2)
    assert est.n_effective_components_ == 5


def test_special_functions_match_scipy():
    x = np.concatenate([np.logspace(-6, 7, 400), [0.05, 0.5, 1.0, 9.999, 10.0]])
    np.testing.assert_allclose(digamma(x), scipy_special.digamma(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(gammaln(x), scipy_special.gammaln(x), rtol=1e-13, atol=1e-13)
    a, b = np.logspace(-2, 7, 40), np.logspace(6, -2, 40)
    # SciPy's betaln itself is off by up to ~3e-9 for one large and one small argument.
    np.testing.assert_allclose(betaln(a, b), scipy_special.betaln(a, b), rtol=1e-8)
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    for x, y in [(725703.9612324231, 0.10600258488068803), (3.0, 4.0), (1e6, 1e6),
                 (0.01, 25.0), (19.9, 0.5)]:
        exact = float(mpmath.log(mpmath.beta(x, y)))
        assert float(betaln(x, y)) == pytest.approx(exact, rel=1e-13, abs=1e-14)
    with pytest.raises(ValueError, match="positive"):
        digamma([1.0, 0.0])


# ------------------------------------------------------------ save/load and checkpoints
@pytest.mark.parametrize("cov,prior", [("full", "dirichlet_process"),
                                       ("tied", "dirichlet_distribution"),
                                       ("spherical", "dirichlet_process")])
def test_save_load_round_trip(tmp_path, cov, prior):
    X = _data(600, seed=17)
    est = _fit(X, n_components=4, covariance_type=cov, weight_concentration_prior_type=prior,
               random_state=0, max_iter=10, prune_threshold=1e-9)
    path = str(tmp_path / "bgm.npz")
    est.save(path)
    loaded = fastem.load(path)
    assert type(loaded) is BayesianGaussianMixture
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    for name in ("weights_", "means_", "covariances_", "mean_precision_",
                 "degrees_of_freedom_", "mean_prior_", "covariance_prior_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(est, name))
    assert loaded.lower_bounds_ == est.lower_bounds_
    assert loaded.get_params() == est.get_params()


def test_damaged_model_file_names_the_field(tmp_path):
    X = _data(300, seed=18)
    est = _fit(X, n_components=2, random_state=0, max_iter=5)
    path = str(tmp_path / "bgm.npz")
    est.save(path)
    with np.load(path) as f:
        arrays = dict(f)
    arrays["mean_precision_"] = -arrays["mean_precision_"]
    np.savez(path, **arrays)
    with pytest.raises(fastem.ModelFileError, match="mean_precision"):
        fastem.load(path)


def test_checkpoint_resume_is_bit_identical(tmp_path, monkeypatch):
    from fastem.checkpoint import Checkpointer
    X = _data(2000, seed=19)
    path = tmp_path / "x.npy"
    np.save(path, X)
    ckpt = str(tmp_path / "fit.ckpt.npz")
    kw = dict(n_components=4, max_iter=12, tol=0.0, n_init=2, random_state=3,
              chunk_size=600, n_threads=1)
    whole = _fit(str(path), **kw)
    original = Checkpointer.callback

    def interrupt(self, info):
        original(self, info)
        if info.init == 1 and info.n_iter == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpointer, "callback", interrupt)
    with pytest.raises(KeyboardInterrupt):
        _fit(str(path), checkpoint=ckpt, **kw)
    monkeypatch.setattr(Checkpointer, "callback", original)
    resumed = _fit(str(path), checkpoint=ckpt, **kw)
    assert resumed.lower_bounds_ == whole.lower_bounds_
    for name in ("means_", "covariances_", "weight_concentration_", "degrees_of_freedom_"):
        np.testing.assert_array_equal(np.asarray(getattr(resumed, name)),
                                      np.asarray(getattr(whole, name)))


def test_cli_fit_model_bayesian_and_info(tmp_path, capsys):
    from fastem.cli import main
    rng = np.random.default_rng(20)
    centers = rng.normal(0, 8, (3, 2))
    X = centers[rng.integers(0, 3, 3000)] + rng.normal(0, 0.5, (3000, 2))
    data, model = tmp_path / "x.npy", tmp_path / "m.npz"
    np.save(data, X)
    assert main(["fit", str(data), "-k", "6", "-o", str(model), "--model", "bayesian",
                 "--weight-concentration-prior-type", "dirichlet_distribution",
                 "--weight-concentration-prior", "0.001", "--max-iter", "300",
                 "--random-state", "0", "-q"]) == 0
    loaded = fastem.load(model)
    assert type(loaded) is BayesianGaussianMixture
    assert loaded.weight_concentration_prior_type == "dirichlet_distribution"
    assert loaded.weight_concentration_prior_ == 0.001
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    assert f"n effective components: {loaded.n_effective_components_}" in capsys.readouterr().out
    assert main(["info", str(model), "--json"]) == 0
    import json
    info = json.loads(capsys.readouterr().out)
    assert info["n_effective_components"] == loaded.n_effective_components_ == 3


def test_warm_start_continues_the_fit():
    X = _data(800, seed=21)
    kw = dict(n_components=3, random_state=0, tol=0.0)
    ten = _fit(X, max_iter=10, **kw)
    est = _fit(X, max_iter=4, **kw)
    est.set_params(warm_start=True, max_iter=6)
    _fit_quiet(est, X)
    assert est.lower_bounds_ == ten.lower_bounds_[4:]
    np.testing.assert_array_equal(est.means_, ten.means_)
    np.testing.assert_array_equal(est.covariances_, ten.covariances_)
