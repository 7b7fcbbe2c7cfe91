"""StudentMixture under nan_policy="marginalize": exact EM over each row's observed coordinates
against the NumPy reference (tests/reference_student.py, ``reference_em_missing``: the t
marginal with the sub-block of the scale, the conditional mean filled in, the conditional
scale added to the scatter, the ``nu`` equation with each row's own number of observed
coordinates), and every path."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastem
from fastem import StudentMixture, exceptions
from fastem.families import get_family

from . import reference_student as ref

COV_TYPES = ("full", "tied", "diag", "spherical")


def _data(n=140, d=3, seed=0):
    rng = np.random.default_rng(seed)
    h = n // 2
    return np.vstack([rng.standard_t(5, (h, d)), rng.standard_t(3, (n - h, d)) * 1.5 + 4.0])


def _holes(X, pattern, seed=2):
    rng = np.random.default_rng(seed)
    M = X.copy()
    if pattern.startswith("random"):
        M[rng.uniform(size=M.shape) < int(pattern.split("-")[1]) / 100] = np.nan
    else:                                   # monotone blocks, interleaved with complete rows
        M[1::3, -1:] = np.nan
        M[2::3, -2:] = np.nan
    M[[4, 99]] = np.nan          # (random holes empty a few more rows)
    return M


def _init(cov_type, X, d=3):
    cov = {"full": np.array([np.eye(d) * 1.5, np.eye(d) * 2.0 + 0.3]),
           "tied": np.eye(d) * 2.0 + 0.2,
           "diag": np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 1.5]]),
           "spherical": np.array([1.5, 2.5])}[cov_type]
    prec = get_family(cov_type).covariances_from_precisions(cov)
    return np.array([0.4, 0.6]), X[[0, len(X) - 1]] + 0.1, cov, prec


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


_SLOW = pytest.mark.slow


@pytest.mark.parametrize("cov_type,pattern", [
    ("full", "random-10"), ("full", "random-40"), ("full", "block"),
    ("tied", "random-40"), pytest.param("tied", "random-10", marks=_SLOW),
    pytest.param("tied", "block", marks=_SLOW), ("diag", "block"),
    pytest.param("diag", "random-10", marks=_SLOW), pytest.param("diag", "random-40", marks=_SLOW),
    ("spherical", "random-10"), pytest.param("spherical", "random-40", marks=_SLOW),
    pytest.param("spherical", "block", marks=_SLOW)])
def test_thirty_iterations_agree_with_the_reference(cov_type, pattern):
    X = _data()
    M = _holes(X, pattern)
    weights, means, cov, prec = _init(cov_type, X)
    fixed = 5.0 if cov_type == "spherical" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        sm = StudentMixture(2, covariance_type=cov_type, degrees_of_freedom=fixed,
                            degrees_of_freedom_init=10.0, weights_init=weights,
                            means_init=means, precisions_init=prec, max_iter=30, tol=0,
                            nan_policy="marginalize", n_threads=1).fit(M)
    rw, rm, rc, rd, rb = ref.reference_em_missing(M, weights, means, cov,
                                                  np.full(2, fixed or 10.0),
                                                  cov_type=cov_type, n_iter=30,
                                                  fixed_dof=fixed)
    assert sm.n_iter_ == 30
    for got, want in ((sm.weights_, rw), (sm.means_, rm), (sm.covariances_, rc),
                      (sm.degrees_of_freedom_, rd), (sm.lower_bounds_, rb)):
        assert _rel(got, want) < 1e-10
    if fixed is None:
        assert not np.allclose(rd, 10.0)
    assert sm.n_rows_all_missing_ == int(np.isnan(M).all(axis=1).sum()) >= 2
    lb = np.asarray(sm.lower_bounds_)
    assert (np.diff(lb) >= -1e-12 * np.abs(lb[1:])).all()
    # Inference over the observed coordinates: the reference's per-row log-likelihood.
    scales = ref.full_scales(rc, cov_type, 2, 3)
    for i in (1, 2, 4, 10):
        x = M[i]
        if np.isnan(x).all():
            assert sm.score_samples(M[i:i + 1])[0] == 0.0
            continue
        logp = ref._missing_row(x, sm.weights_, sm.means_, scales, sm.degrees_of_freedom_)[0]
        top = logp.max()
        want = top + np.log(np.exp(logp - top).sum())
        assert sm.score_samples(M[i:i + 1])[0] == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_without_nan_every_policy_is_bit_identical(cov_type):
    X = _data()
    fits = []
    for policy in ("raise", "omit", "marginalize"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
            fits.append(StudentMixture(2, covariance_type=cov_type, nan_policy=policy,
                                       max_iter=10, random_state=0, n_threads=1).fit(X))
    for other in fits[1:]:
        assert other.lower_bounds_ == fits[0].lower_bounds_
        np.testing.assert_array_equal(other.covariances_, fits[0].covariances_)
        np.testing.assert_array_equal(other.degrees_of_freedom_, fits[0].degrees_of_freedom_)


def _big(n=20_000, seed=3):
    """Two multivariate t components (nu = 4: one gamma draw per row), 20% missing."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 5)) / np.sqrt(rng.chisquare(4.0, n) / 4.0)[:, None]
    z[n // 2:] += 4.0
    X = z[rng.permutation(n)]
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    X[:3] = np.nan
    return X


def _fit(X, **kw):
    kw = {"n_threads": 1, "max_iter": 8, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        return StudentMixture(2, nan_policy="marginalize", tol=0, random_state=0,
                              **kw).fit(X)


def test_paths_recover_the_mixture_and_agree(tmp_path):
    X = _big()
    long = _fit(X, max_iter=25)
    order = np.argsort(long.means_[:, 0])
    np.testing.assert_allclose(long.means_[order], [[0.0] * 5, [4.0] * 5], atol=0.05)
    assert np.all(np.abs(long.degrees_of_freedom_ - 4.0) < 0.4)
    ref_fit = _fit(X, chunk_size=6_000)
    path = tmp_path / "x.npy"
    np.save(path, X)
    ooc = _fit(str(path), chunk_size=6_000)
    assert _rel(ooc.lower_bounds_, ref_fit.lower_bounds_) < 1e-12
    assert _rel(ooc.means_, ref_fit.means_) < 1e-12
    da = pytest.importorskip("dask.array")
    dsk = _fit(da.from_array(X, chunks=(6_000, 5)))
    assert _rel(dsk.lower_bounds_, ref_fit.lower_bounds_) < 1e-10
    assert _rel(dsk.covariances_, ref_fit.covariances_) < 1e-10
    assert ooc.n_rows_all_missing_ == dsk.n_rows_all_missing_ == int(
        np.isnan(X).all(axis=1).sum())
    # Inference, save/load, checkpoint.
    rows = X[:500]
    proba = ref_fit.predict_proba(rows)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(proba[:3], np.tile(ref_fit.weights_, (3, 1)), rtol=1e-12)
    model = tmp_path / "m.npz"
    ref_fit.save(model)
    back = fastem.load(model)
    assert back.nan_policy == "marginalize"
    np.testing.assert_array_equal(back.score_samples(rows), ref_fit.score_samples(rows))
    ckpt = tmp_path / "c.npz"
    for _ in range(2):
        again = _fit(X, chunk_size=6_000, checkpoint=ckpt)
        assert again.lower_bounds_[-1] == ref_fit.lower_bounds_[-1]


def test_partial_fit_takes_nan():
    X = _big()
    sm = StudentMixture(2, nan_policy="marginalize", random_state=0, n_threads=1)
    for start in range(0, len(X), 5_000):
        sm.partial_fit(X[start:start + 5_000])
    order = np.argsort(sm.means_[:, 0])
    np.testing.assert_allclose(sm.means_[order], [[0.0] * 5, [4.0] * 5], atol=0.4)  # 4 steps


def test_inf_is_an_error_naming_the_entry():
    X = _data()
    X[7, 2] = np.nan
    X[9, 1] = np.inf
    with pytest.raises(ValueError, match="row 9, column 1"):
        StudentMixture(2, nan_policy="marginalize").fit(X)


def test_cli_fit_student_with_nan(tmp_path):
    from fastem.cli import main
    X = _big(8_000)
    data = tmp_path / "x.npy"
    np.save(data, X)
    model = tmp_path / "m.npz"
    assert main(["fit", str(data), "-k", "2", "--family", "student_t", "--nan-policy",
                 "marginalize", "--max-iter", "5", "-o", str(model), "--quiet"]) == 0
    assert fastem.load(model).nan_policy == "marginalize"


def test_impute_is_the_conditional_mean_and_samples_the_conditional_t():
    X = _big()
    sm = _fit(X, max_iter=10)
    rows = X[:300]
    filled = sm.impute(rows)
    obs = ~np.isnan(rows)
    np.testing.assert_array_equal(filled[obs], rows[obs])
    scales = ref.full_scales(sm.covariances_, "full", 2, 5)
    proba = sm.predict_proba(rows)
    for i in range(3, 40):
        x = rows[i]
        if not np.isnan(x).any():
            continue
        _, _, _, fills, _, m = ref._missing_row(x, sm.weights_, sm.means_, scales,
                                                sm.degrees_of_freedom_)
        np.testing.assert_allclose(filled[i, m], proba[i] @ fills[:, m], rtol=1e-9,
                                   atol=1e-12)
    # Draws for one row (its component certain): the conditional t's mean and variance,
    # (nu + delta2) / (nu + p - 2) times the conditional scale.
    i = next(i for i in range(3, 300) if np.isnan(rows[i]).sum() == 1 and
             proba[i].max() > 1 - 1e-5)
    x = rows[i]
    logp, _, _, fills, ccov, m = ref._missing_row(x, sm.weights_, sm.means_, scales,
                                                  sm.degrees_of_freedom_)
    j = int(np.argmax(proba[i]))
    o = ~np.isnan(x)
    S = scales[j]
    diff = x[o] - sm.means_[j, o]
    d2 = diff @ np.linalg.solve(S[np.ix_(o, o)], diff)
    nu, p = sm.degrees_of_freedom_[j], int(o.sum())
    draws = sm.impute(np.repeat(x[None], 40_000, axis=0), sample=True, random_state=1)[:, m[0]]
    var = (nu + d2) / (nu + p - 2) * ccov[j][0, 0]
    assert abs(draws.mean() - fills[j, m[0]]) < 4 * np.sqrt(var / draws.size)
    assert draws.var() == pytest.approx(var, rel=0.06)


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_integer_weights_equal_repeated_rows(cov_type):
    M = _holes(_data(), "random-40")
    w = np.random.default_rng(5).integers(1, 4, len(M))
    weights, means, cov, prec = _init(cov_type, _data())
    kw = dict(covariance_type=cov_type, weights_init=weights, means_init=means,
              precisions_init=prec, max_iter=10, tol=0, nan_policy="marginalize",
              n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        a = StudentMixture(2, **kw).fit(M, sample_weight=w.astype(float))
        b = StudentMixture(2, **kw).fit(np.repeat(M, w, axis=0))
    for name in ("weights_", "means_", "covariances_", "degrees_of_freedom_", "lower_bounds_"):
        assert _rel(getattr(a, name), getattr(b, name)) < 1e-10, name
