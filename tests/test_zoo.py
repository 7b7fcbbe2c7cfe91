"""Adversarial inputs: every one must give finite parameters and a sensible model."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastem import ConvergenceWarning, GaussianMixture

from . import reference as ref
from .conftest import make_blobs


def finite_model(gm):
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.isfinite(getattr(gm, name)).all(), name
    assert np.isfinite(gm.lower_bound_)


def fit(X, k, cov_type, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(k, covariance_type=cov_type, random_state=0, **kw).fit(X)


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_offset_1e8(cov_type):
    X, _ = make_blobs(n=2000, d=2, k=2, seed=50, spread=6.0)
    a = fit(X, 2, cov_type)
    b = fit(X + 1e8, 2, cov_type)
    finite_model(b)
    order_a, order_b = np.argsort(a.means_[:, 0]), np.argsort(b.means_[:, 0])
    np.testing.assert_allclose(b.means_[order_b] - 1e8, a.means_[order_a], atol=1e-5)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_duplicate_points_and_constant_feature(cov_type):
    X, _ = make_blobs(n=600, d=3, k=2, seed=51)
    X = np.vstack([X, X])
    X[:, 1] = 7.0
    gm = fit(X, 2, cov_type)
    finite_model(gm)
    np.testing.assert_allclose(gm.means_[:, 1], 7.0)


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_n_samples_equal_n_components(cov_type):
    X = np.array([[0.0, 0.0], [1.0, 3.0], [5.0, -2.0]])
    gm = fit(X, 3, cov_type)
    finite_model(gm)
    np.testing.assert_allclose(np.sort(gm.means_, axis=0), np.sort(X, axis=0), atol=1e-6)


@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical"])
def test_component_emptied_by_a_far_start_keeps_its_parameters(cov_type):
    X, _ = make_blobs(n=1000, d=2, k=2, seed=52)
    means = np.array([[0.0, 0.0], [1.0, 1.0], [1e6, 1e6]])
    prec = {"full": np.stack([np.eye(2)] * 3), "diag": np.ones((3, 2)),
            "spherical": np.ones(3)}[cov_type]
    gm = fit(X, 3, cov_type, means_init=means, weights_init=[0.4, 0.4, 0.2],
             precisions_init=prec, max_iter=20)
    finite_model(gm)
    np.testing.assert_array_equal(gm.means_[2], means[2])
    assert gm.weights_[2] < 1e-12
    assert np.isfinite(gm.score(X)) and (gm.predict(X) != 2).all()


def test_one_feature_one_component_all_families_agree():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(5000, 1))
    bics = [fit(X, 1, ct).bic(X) for ct in ref.COVARIANCE_TYPES]
    np.testing.assert_allclose(bics, bics[0], rtol=1e-10)
    gm = fit(X, 1, "full")
    np.testing.assert_allclose(gm.means_[0, 0], X.mean(), rtol=1e-12)
    np.testing.assert_allclose(gm.covariances_[0, 0, 0], X.var() + 1e-6, rtol=1e-10)


# Under slow: float32 strided data compiles its own specialisation of every kernel (the default
# suite covers float32 C-contiguous input and strided float64).
@pytest.mark.slow
@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_float32_non_contiguous(cov_type):
    X, _ = make_blobs(n=2000, d=4, k=3, seed=53)
    big = np.asfortranarray(np.hstack([X, X])).astype(np.float32)
    view = big[::2, ::2]
    gm = fit(view, 3, cov_type)
    finite_model(gm)
    ref64 = fit(np.ascontiguousarray(view, dtype=np.float64), 3, cov_type)
    np.testing.assert_allclose(np.sort(gm.means_, axis=0), np.sort(ref64.means_, axis=0),
                               rtol=1e-3, atol=1e-3)


def test_diag_written_as_full_gives_the_same_log_probabilities():
    X, _ = make_blobs(n=500, d=3, k=2, seed=54)
    var = np.array([[1.0, 2.0, 0.5], [0.3, 1.5, 2.5]])
    means = X[:2]
    kw = dict(weights_init=[0.3, 0.7], means_init=means, max_iter=0)
    diag = GaussianMixture(2, covariance_type="diag", precisions_init=1 / var, **kw).fit(X)
    full = GaussianMixture(2, covariance_type="full",
                           precisions_init=np.stack([np.diag(1 / v) for v in var]), **kw).fit(X)
    sph = GaussianMixture(2, covariance_type="spherical", precisions_init=1 / var[:, 0],
                          **kw).fit(X)
    diag_sph = GaussianMixture(2, covariance_type="diag",
                               precisions_init=np.repeat(1 / var[:, :1], 3, axis=1), **kw).fit(X)
    np.testing.assert_allclose(diag.score_samples(X), full.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(sph.score_samples(X), diag_sph.score_samples(X), rtol=1e-12)


def test_many_components_small_data():
    X, _ = make_blobs(n=200, d=2, k=3, seed=55)
    gm = fit(X, 64, "full")
    finite_model(gm)
    np.testing.assert_allclose(gm.weights_.sum(), 1.0)
