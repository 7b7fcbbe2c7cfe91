"""StudentMixture: the fused pass, the M-step and the estimator against the NumPy reference EM
(tests/reference_student.py), plus the special functions, statistics, threads and messages."""
from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import pytest
from scipy import special

from fastem import exceptions
from fastem._special import digamma, log_minus_digamma, solve_monotone, trigamma
from fastem import StudentMixture
from fastem.families import get_family
from fastem.families.student import StudentFamily, StudentParams
from fastem.families.student_mstep import DOF_MAX, DOF_MIN, solve_dof

from . import reference_student as ref

COV_TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(autouse=True)
def _one_thread():
    """Small fits run on one Numba and one BLAS thread: on a loaded machine, waking threads
    costs more than these tiny passes (results do not depend on the thread count, which
    test_threads_are_bit_identical checks with 1 and 2)."""
    from threadpoolctl import threadpool_limits
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        numba.set_num_threads(old)


def _rel(a, b):
    """Largest difference relative to the largest magnitude of ``b`` (per array)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _data(n=300, d=3, seed=0):
    rng = np.random.default_rng(seed)
    h = n // 2
    X = np.vstack([rng.standard_t(5, (h, d)), rng.standard_t(3, (n - h, d)) * 1.5 + 4.0])
    return X, rng.uniform(0.5, 2.0, n)


def _init(cov_type, X, d=3):
    """Initial weights, means, scales (the reference's) and precisions (fastem's)."""
    cov = {"full": np.array([np.eye(d) * 1.5, np.eye(d) * 2.0 + 0.3]),
           "tied": np.eye(d) * 2.0 + 0.2,
           "diag": np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 1.5]]),
           "spherical": np.array([1.5, 2.5])}[cov_type]
    prec = get_family(cov_type).covariances_from_precisions(cov)  # the inverse
    return np.array([0.4, 0.6]), X[[0, 200]] + 0.1, cov, prec


def _params(cov_type, X, dof):
    weights, means, cov, prec = _init(cov_type, X)
    fam = get_family(cov_type)
    pc, _ = fam.precision_cholesky(cov)
    return StudentParams(weights, means, cov, pc, np.asarray(dof, float))


# ------------------------------------------------------------------- special functions
def test_digamma_trigamma_match_scipy():
    xs = np.concatenate([np.geomspace(1e-3, 1e5, 400), np.linspace(0.5, 20.0, 157)])
    for x in xs:
        assert digamma(x) == pytest.approx(special.digamma(x), rel=2e-15, abs=2e-15)
        assert trigamma(x) == pytest.approx(special.polygamma(1, x), rel=2e-15)
    for x in np.geomspace(1e-3, 50.0, 200):  # beyond, scipy's own difference cancels
        assert log_minus_digamma(x) == pytest.approx(math.log(x) - special.digamma(x),
                                                     rel=1e-13)
    # large x: log x - psi(x) = 1/(2x) + 1/(12 x^2) + O(x^-4), without cancellation
    x = 1e7
    assert log_minus_digamma(x) == pytest.approx(0.5 / x + 1 / (12 * x * x), rel=1e-15)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_special_functions_refuse_bad_arguments(bad):
    with pytest.raises(ValueError, match=r"digamma needs a finite positive argument; got"):
        digamma(bad)


def test_root_solver_full_precision_and_bounds():
    f = lambda x: math.exp(-x) - 0.3  # noqa: E731  (decreasing, root log(1/0.3))
    fp = lambda x: -math.exp(-x)  # noqa: E731
    root = solve_monotone(f, fp, 0.0, 50.0)
    assert abs(root - math.log(1 / 0.3)) <= 2 * math.ulp(root)
    # a derivative that lies makes Newton useless; bisection still gets there
    root = solve_monotone(f, lambda x: 1e-300, 0.0, 50.0)
    assert abs(root - math.log(1 / 0.3)) <= 4 * math.ulp(root)
    # increasing function
    assert solve_monotone(lambda x: x**3 - 2, lambda x: 3 * x * x, 0.0, 5.0) == \
        pytest.approx(2 ** (1 / 3), rel=4e-16)
    # no root inside: the nearer bound
    assert solve_monotone(f, fp, 2.0, 50.0) == 2.0
    assert solve_monotone(f, fp, 0.0, 1.0) == 1.0
    with pytest.raises(ValueError, match="lo < hi"):
        solve_monotone(f, fp, 1.0, 1.0)


def test_dof_root_matches_brentq_and_clamps():
    for nu_true in (0.5, 2.0, 4.0, 30.0, 400.0):
        m = -1.0 - log_minus_digamma(nu_true / 2)  # the statistic whose root is nu_true
        assert solve_dof(m) == pytest.approx(nu_true, rel=1e-11)
        # the reference takes sum w r (log u - u) / N_k and adds psi(h) - log h itself
        m_raw = m + (math.log(5.0) - special.digamma(5.0))  # nu_old = 7, D = 3: h = 5
        assert solve_dof(m) == pytest.approx(ref.dof_root(m_raw, 7.0, 3), rel=1e-11)
    assert solve_dof(-1.0 - 1e-12) == DOF_MAX  # nearly Gaussian: root beyond 1000
    assert solve_dof(-500.0) == DOF_MIN  # root below 0.01


# ------------------------------------------------------------- the pass and its statistics
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_statistics_match_reference_and_add_over_random_splits(cov_type):
    X, w = _data()
    params = _params(cov_type, X, [4.0, 9.0])
    fam = StudentFamily(cov_type)
    kargs = fam.kernel_args(params)
    whole = fam.chunk_stats(X, w, kargs)
    nk, uk, sx, sxx, aux, ll = ref.reference_stats(X, w, params.weights, params.means,
                                                   params.covariances, [4.0, 9.0], cov_type)
    np.testing.assert_allclose(whole.nk, nk, rtol=1e-12)
    np.testing.assert_allclose(whole.uk, uk, rtol=1e-12)
    np.testing.assert_allclose(whole.s1 + whole.uk[:, None] * whole.shift, sx, rtol=1e-11,
                               atol=1e-10)
    assert whole.loglik == pytest.approx(ll, rel=1e-12)
    # aux = sum w r (log u - u) + N_k (psi(h) - log h): the reference's statistic, shifted
    h = (np.array([4.0, 9.0]) + X.shape[1]) / 2
    np.testing.assert_allclose(whole.aux, aux + nk * (special.digamma(h) - np.log(h)),
                               rtol=1e-12)
    if cov_type == "full":
        shifted = np.einsum("k,ki,kj->kij", uk, whole.shift, whole.shift)
        s2 = fam.covariance_family.symmetrise(whole.s2)
        raw = (s2 + np.einsum("ki,kj->kij", whole.s1, whole.shift)
               + np.einsum("ki,kj->kij", whole.shift, whole.s1) + shifted)
        np.testing.assert_allclose(raw, sxx, rtol=1e-11, atol=1e-9)
    rng = np.random.default_rng(3)
    cuts = np.sort(rng.choice(np.arange(1, X.shape[0]), size=4, replace=False))
    parts = fam.zero_stats(kargs)
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, X.shape[0]]):
        parts = parts + fam.chunk_stats(X[a:b], w[a:b], kargs)
    for name in ("nk", "uk", "s1", "s2", "aux"):
        np.testing.assert_allclose(getattr(parts, name), getattr(whole, name), rtol=1e-12,
                                   atol=1e-12)
    assert parts.loglik == pytest.approx(whole.loglik, rel=1e-13)
    assert parts.n_rows == X.shape[0]


def test_inference_matches_reference_densities():
    X, _ = _data()
    params = _params("full", X, [4.0, 9.0])
    fam = StudentFamily("full")
    lpn, lab, rsp = fam.e_step_outputs(X, fam.kernel_args(params), labels=True, resp=True)
    resp, _, ll = ref.e_step(X, params.weights, params.means, params.covariances, [4.0, 9.0])
    np.testing.assert_allclose(lpn, ll, rtol=1e-12)
    np.testing.assert_allclose(rsp, resp, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(lab, resp.argmax(axis=1))
    # and the reference's density is scipy's multivariate t
    from scipy.stats import multivariate_t
    lt, _ = ref.log_t(X[:20], params.means[0], params.covariances[0], 4.0)
    np.testing.assert_allclose(lt, multivariate_t(params.means[0], params.covariances[0],
                                                  df=4.0).logpdf(X[:20]), rtol=1e-12)


def test_threads_are_bit_identical():
    X, w = _data(n=20_000, d=5, seed=2)
    old = numba.get_num_threads()
    out = []
    try:
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
                sm = StudentMixture(3, max_iter=4, tol=0, random_state=0).fit(X, sample_weight=w)
            out.append((sm.means_, sm.covariances_, sm.degrees_of_freedom_, sm.lower_bounds_,
                        sm.score_samples(X)))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


# -------------------------------------------------------------- EM against the reference
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("fixed", [None, 5.0], ids=["nu-estimated", "nu-fixed"])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_thirty_iterations_agree_with_reference(cov_type, fixed, weighted):
    X, w = _data()
    w = w if weighted else None
    weights, means, cov, prec = _init(cov_type, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        sm = StudentMixture(2, covariance_type=cov_type, degrees_of_freedom=fixed,
                            degrees_of_freedom_init=10.0, weights_init=weights,
                            means_init=means, precisions_init=prec, max_iter=30,
                            tol=0).fit(X, sample_weight=w)
    rw, rm, rc, rd, rb = ref.reference_em(X, w, weights, means, cov,
                                          np.full(2, fixed or 10.0), cov_type=cov_type,
                                          n_iter=30, fixed_dof=fixed)
    assert sm.n_iter_ == 30
    assert _rel(sm.weights_, rw) < 1e-10
    assert _rel(sm.means_, rm) < 1e-10
    assert _rel(sm.covariances_, rc) < 1e-10
    assert _rel(sm.degrees_of_freedom_, rd) < 1e-10
    assert _rel(sm.lower_bounds_, rb) < 1e-10
    if fixed is None:
        assert not np.allclose(rd, 10.0)  # nu moved: the ECM step was exercised
    else:
        assert (sm.degrees_of_freedom_ == fixed).all()


@pytest.mark.parametrize("cov_type, fixed", [(c, 4.0) for c in COV_TYPES] + [("full", None)])
def test_lower_bound_never_decreases(cov_type, fixed):
    X, _ = _data(n=600, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        sm = StudentMixture(3, covariance_type=cov_type, degrees_of_freedom=fixed,
                            reg_covar=0.0, max_iter=25, tol=0, random_state=1).fit(X)
    lb = np.array(sm.lower_bounds_)
    assert (np.diff(lb) >= -1e-12 * np.abs(lb[1:])).all()


def test_float32_is_close_to_float64_and_chunks_equal_one_block():
    X, w = _data(n=3000, d=3, seed=7)
    kw = dict(max_iter=10, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        a = StudentMixture(2, **kw).fit(X, sample_weight=w)
        b = StudentMixture(2, chunk_size=777, **kw).fit(X, sample_weight=w)
        c = StudentMixture(2, **kw).fit(X.astype(np.float32), sample_weight=w)
    assert _rel(b.means_, a.means_) < 1e-12
    assert _rel(b.degrees_of_freedom_, a.degrees_of_freedom_) < 1e-10
    assert _rel(c.means_, a.means_) < 1e-4


def test_estimator_surface():
    X, _ = _data(n=600, seed=1)
    sm = StudentMixture(2, random_state=0).fit(X)
    assert sm.degrees_of_freedom_.shape == (2,)
    assert sm.predict_proba(X).shape == (600, 2)
    np.testing.assert_allclose(sm.predict_proba(X).sum(axis=1), 1.0)
    assert sm.score(X) == pytest.approx(sm.score_samples(X).mean())
    np.testing.assert_array_equal(sm.fit_predict(X), sm.predict(X))
    k, d = 2, 3
    n_par = k * d * (d + 1) // 2 + k * d + k - 1 + k
    assert sm.bic(X) == pytest.approx(-2 * sm.score(X) * 600 + n_par * np.log(600))
    assert sm.aic(X) == pytest.approx(-2 * sm.score(X) * 600 + 2 * n_par)
    fixed = StudentMixture(2, degrees_of_freedom=3.0, random_state=0).fit(X)
    assert fixed.aic(X) == pytest.approx(-2 * fixed.score(X) * 600 + 2 * (n_par - k))
    Xs, ys = sm.sample(5000)
    assert Xs.shape == (5000, 3) and (np.diff(ys) >= 0).all()
    np.testing.assert_allclose(sm.precisions_,
                               np.linalg.inv(sm.covariances_), rtol=1e-8)


def test_sample_has_the_t_tails():
    fam = StudentFamily("diag")
    p = StudentParams(np.array([1.0]), np.zeros((1, 1)), np.ones((1, 1)), np.ones((1, 1)),
                      np.array([3.0]))
    x, _ = fam.sample(p, 200_000, np.random.default_rng(0))
    # P(|t_3| > 5.841) = 0.01
    assert np.mean(np.abs(x) > 5.841) == pytest.approx(0.01, abs=0.0015)


# ---------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("bad", [0.0, -2.0])
def test_nonpositive_degrees_of_freedom_are_refused(bad):
    X, _ = _data()
    with pytest.raises(ValueError, match=r"The 'degrees_of_freedom' parameter of "
                                         r"StudentMixture must be a float in the range "
                                         rf"\(0.0, inf\) or None. Got {bad!r} instead."):
        StudentMixture(2, degrees_of_freedom=bad).fit(X)
    with pytest.raises(ValueError, match=r"The 'degrees_of_freedom_init' parameter"):
        StudentMixture(2, degrees_of_freedom_init=bad).fit(X)


def test_nan_input_names_the_row():
    X, _ = _data()
    X[17, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf: row 17, column 1 is nan"):
        StudentMixture(2).fit(X)
    good = StudentMixture(2, random_state=0).fit(_data()[0])
    with pytest.raises(ValueError, match=r"row 17, column 1 is nan"):
        good.predict(X)


def test_predict_before_fit():
    with pytest.raises(exceptions.NotFittedError, match="StudentMixture instance is not "
                                                        "fitted yet"):
        StudentMixture(2).predict(np.ones((3, 2)))


# ------------------------------------------------------------------- scikit-learn checks
def test_check_estimator_passes():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        warnings.filterwarnings("ignore", "Estimator StudentMixture does not inherit",
                                UserWarning)
        warnings.simplefilter("ignore", sklearn.exceptions.SkipTestWarning)
        results = check_estimator(StudentMixture(), on_fail=None)
    assert len(results) > 40
    failed = {r["check_name"]: f"{type(r['exception']).__name__}: {r['exception']}"
              for r in results if r["status"] == "failed"}
    assert failed == {}


# ------------------------------------------------------------------ real-sized (slow)
def _t_rows(rng, n, mean, scale, nu):
    chol = np.linalg.cholesky(scale)
    z = rng.standard_normal((n, len(mean))) @ chol.T
    return mean + z / np.sqrt(rng.chisquare(nu, n) / nu)[:, None]


@pytest.mark.slow
def test_recovers_a_known_mixture_with_nu_4_on_a_million_rows():
    rng = np.random.default_rng(11)
    n = 1_000_000
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 2.0], [0.0, 9.0, -3.0]])
    scales = np.array([[[1.0, 0.3, 0.0], [0.3, 2.0, 0.2], [0.0, 0.2, 0.5]],
                       np.diag([0.5, 0.8, 1.2]),
                       [[1.5, -0.4, 0.1], [-0.4, 1.0, 0.0], [0.1, 0.0, 2.0]]])
    counts = rng.multinomial(n, weights)
    X = np.vstack([_t_rows(rng, c, m, s, 4.0) for c, m, s in zip(counts, means, scales)])
    sm = StudentMixture(3, tol=1e-8, max_iter=500, random_state=0).fit(X)
    order = [int(np.argmin(((sm.means_ - m) ** 2).sum(axis=1))) for m in means]
    assert sorted(order) == [0, 1, 2]
    print("\nnu:", sm.degrees_of_freedom_[order], "weights:", sm.weights_[order])
    assert np.all(np.abs(sm.degrees_of_freedom_[order] / 4.0 - 1.0) < 0.15)
    assert np.all(np.abs(sm.weights_[order] - weights) < 0.01)
    for j, o in enumerate(order):
        err = np.abs(sm.covariances_[o] - scales[j]).max() / np.abs(scales[j]).max()
        assert err < 0.02, (j, err)
        assert np.abs(sm.means_[o] - means[j]).max() < 0.02


@pytest.mark.slow
def test_gross_outliers_barely_move_the_t_means_but_pull_the_gaussian():
    from fastem import GaussianMixture
    rng = np.random.default_rng(12)
    n = 1_000_000
    means = np.array([[0.0, 0.0], [6.0, 0.0]])
    clean = np.vstack([rng.standard_normal((n // 2, 2)) + means[0],
                       rng.standard_normal((n // 2, 2)) + means[1]])
    n_out = n // 100
    outliers = rng.uniform(30.0, 60.0, size=(n_out, 2))  # 1% gross outliers on one side
    X = np.vstack([clean, outliers])
    kw = dict(means_init=means, tol=1e-6, max_iter=500, random_state=0)
    sm = StudentMixture(2, **kw).fit(X)
    gm = GaussianMixture(2, **kw).fit(X)
    t_move = np.abs(sm.means_ - means).max()
    g_move = np.abs(gm.means_ - means).max()
    print(f"\nmean displacement by 1% outliers: StudentMixture {t_move:.4f}, "
          f"GaussianMixture {g_move:.4f}; nu = {sm.degrees_of_freedom_}")
    assert t_move < 0.05
    assert g_move > 0.3


# ------------------------------------------------------------------ every path (FamilyMixture)
def _path_fit(data, **kw):
    X, _ = _data(n=3000, d=3, seed=21)
    kw = {"n_components": 2, "max_iter": 12, "tol": 0.0, "random_state": 4, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        return StudentMixture(**kw).fit(X if data is None else data)


def _same_fit(a, b, tol=1e-10):
    for name in ("weights_", "means_", "covariances_", "degrees_of_freedom_"):
        assert _rel(getattr(a, name), getattr(b, name)) < tol, name
    assert _rel(a.lower_bounds_, b.lower_bounds_) < tol


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_npy_path_in_chunks_equals_in_memory(tmp_path, cov_type):
    X, _ = _data(n=3000, d=3, seed=21)
    path = str(tmp_path / "x.npy")
    np.save(path, X)
    mem = _path_fit(None, covariance_type=cov_type)
    disk = _path_fit(path, covariance_type=cov_type, chunk_size=700)
    _same_fit(disk, mem)
    np.testing.assert_array_equal(disk.predict(path), mem.predict(X))


def test_save_load_round_trip(tmp_path):
    import fastem
    X, _ = _data(n=3000, d=3, seed=21)
    model = _path_fit(None, covariance_type="tied", degrees_of_freedom=6.0)
    path = str(tmp_path / "m.npz")
    model.save(path)
    loaded = fastem.load(path)
    assert type(loaded) is StudentMixture
    assert loaded.get_params() == model.get_params()
    for name in ("weights_", "means_", "covariances_", "precisions_", "degrees_of_freedom_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    z = dict(np.load(path))
    bad = {k: v.copy() for k, v in z.items()}
    bad["degrees_of_freedom_"].flat[0] = -1.0
    np.savez(str(tmp_path / "bad.npz"), **bad)
    with pytest.raises(fastem.ModelFileError, match="degrees_of_freedom_"):
        fastem.load(str(tmp_path / "bad.npz"))


def test_partial_fit_runs_and_improves():
    X, _ = _data(n=20_000, d=3, seed=22)
    X = X[np.random.default_rng(0).permutation(len(X))]
    model = StudentMixture(2, random_state=1)
    first = None
    for i in range(0, len(X), 2000):
        model.partial_fit(X[i:i + 2000])
        first = model.score(X) if first is None else first
    assert model.n_iter_ == 10 and np.isfinite(model.means_).all()
    assert model.score(X) >= first - 1e-6
    assert (model.degrees_of_freedom_ > 0).all()


def test_checkpoint_resume_is_bit_identical(tmp_path, monkeypatch):
    from fastem.checkpoint import Checkpointer
    X, _ = _data(n=3000, d=3, seed=21)
    path = str(tmp_path / "x.npy")
    np.save(path, X)
    ckpt = str(tmp_path / "fit.ckpt.npz")
    kw = dict(n_components=2, max_iter=8, tol=0.0, n_init=2, random_state=3, chunk_size=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        whole = StudentMixture(**kw).fit(path)
        original = Checkpointer.callback

        def interrupt(self, info):
            original(self, info)
            if info.init == 1 and info.n_iter == 3:
                raise KeyboardInterrupt

        monkeypatch.setattr(Checkpointer, "callback", interrupt)
        with pytest.raises(KeyboardInterrupt):
            StudentMixture(checkpoint=ckpt, **kw).fit(path)
        monkeypatch.setattr(Checkpointer, "callback", original)
        resumed = StudentMixture(checkpoint=ckpt, **kw).fit(path)
    for name in ("weights_", "means_", "covariances_", "degrees_of_freedom_"):
        assert np.array_equal(getattr(resumed, name), getattr(whole, name))
    assert resumed.lower_bounds_ == whole.lower_bounds_


def test_registry_rebuilds_the_family():
    from fastem.families.registry import estimator_for, make_family
    fam = StudentFamily("diag", 3.0, 12.0)
    again = make_family(fam.spec())
    assert again.spec() == fam.spec() and isinstance(again, StudentFamily)
    assert estimator_for("student_t") is StudentMixture


def test_cli_fits_a_student_model_and_predicts(tmp_path, capsys):
    import fastem
    from fastem.cli import main
    X, _ = _data(n=3000, d=3, seed=21)
    data = str(tmp_path / "x.npy")
    np.save(data, X)
    model = str(tmp_path / "m.npz")
    assert main(["fit", data, "--family", "student_t", "--covariance-type", "diag", "-k", "2",
                 "-o", model, "-q", "--random-state", "0"]) == 0
    assert "(student_t)" in capsys.readouterr().out
    fitted = fastem.load(model)
    assert type(fitted) is StudentMixture and fitted.covariance_type == "diag"
    labels = str(tmp_path / "l.npy")
    assert main(["predict", model, data, "-o", labels]) == 0
    np.testing.assert_array_equal(np.load(labels), fitted.predict(X))


def test_dask_array_equals_in_memory():
    dask = pytest.importorskip("dask")
    import dask.array as da
    X, _ = _data(n=3000, d=3, seed=21)
    mem = _path_fit(None)
    with dask.config.set(scheduler="synchronous"):
        lazy = _path_fit(da.from_array(X, chunks=(700, -1)))
        _same_fit(lazy, mem)
        np.testing.assert_array_equal(mem.predict(da.from_array(X, chunks=(700, -1))).compute(),
                                      mem.predict(X))
