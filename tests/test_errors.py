"""Bad input gets a clear error that says what was wrong; failures leave a model unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from fastem import FitError, GaussianMixture, NotFittedError

from .conftest import make_blobs


@pytest.fixture(scope="module")
def X():
    return make_blobs(n=300, d=3, k=2, seed=40)[0]


def test_nan_and_inf_name_the_first_bad_row(X):
    bad = X.copy()
    bad[123, 1] = np.nan
    bad[200, 0] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or inf; first bad row is 123"):
        GaussianMixture(2).fit(bad)
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="first bad row is 200"):
        gm.predict(np.where(np.arange(300)[:, None] == 123, 0.0, bad))


@pytest.mark.parametrize("shape, match", [((30,), "Expected a 2D array for X, got a 1D array"),
                                          ((3, 4, 5), "got an array with ndim=3"),
                                          ((0, 3), r"^Found array with 0 sample\(s\) \(shape=\(0, "
                                                   r"3\)\) while a minimum of 1 is required by "
                                                   r"GaussianMixture\.$"),
                                          ((5, 0), r"^Found array with 0 feature\(s\) \(shape=\(5, "
                                                   r"0\)\) while a minimum of 1 is required by "
                                                   r"GaussianMixture\.$")])
def test_wrong_shapes(shape, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(1).fit(np.ones(shape))


def test_fewer_samples_than_components(X):
    with pytest.raises(ValueError, match="Expected n_samples >= n_components but got "
                                         "n_components = 10, n_samples = 5"):
        GaussianMixture(10).fit(X[:5])


def test_non_numeric_dtype():
    with pytest.raises(TypeError, match="X has dtype <U1; fastem needs numeric data"):
        GaussianMixture(1).fit(np.array([["a", "b"], ["c", "d"]]))


def test_integer_input_is_converted(X):
    gm = GaussianMixture(1).fit(np.round(X * 100).astype(np.int64))
    assert gm.means_.dtype == np.float64


@pytest.mark.parametrize("w, match", [
    (-np.ones(300), r"sample_weight\[0\] is -1.0"),
    (np.r_[np.ones(299), np.nan], r"sample_weight\[299\] is nan"),
    (np.zeros(300), r"^Sample weights must contain at least one non-zero number: "
                    "sample_weight sums to 0"),
    (np.ones(7), r"sample_weight has shape \(7,\); expected \(300,\)"),
])
def test_bad_sample_weights(X, w, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(X, sample_weight=w)


@pytest.mark.parametrize("param, value, match", [
    ("n_components", 0, r"The 'n_components' parameter of GaussianMixture must be an int in "
                        r"the range \[1, inf\)\. Got 0 instead\."),
    ("reg_covar", -1.0, r"The 'reg_covar' parameter of GaussianMixture must be a float in the "
                        r"range \[0\.0, inf\)\. Got -1\.0 instead\."),
    ("covariance_type", "ful", r"must be a str among \{'full', 'tied', 'diag', 'spherical'\}\. "
                               r"Got 'ful' instead"),
    ("init_params", "kmean", r"'init_params' parameter .* Got 'kmean' instead"),
    ("tol", -1e-3, r"'tol' parameter .* Got -0\.001 instead"),
    ("max_iter", 1.5, r"'max_iter' parameter .* Got 1\.5 instead"),
    ("n_init", 0, r"'n_init' parameter .* Got 0 instead"),
    ("random_state", "seed", r"'random_state' parameter .* Got 'seed' instead"),
    ("warm_start", "yes", r"'warm_start' parameter of GaussianMixture must be an instance "
                           r"of 'bool'\. Got 'yes'"),
    ("chunk_size", 0, r"'chunk_size' parameter .* Got 0 instead"),
    ("n_threads", -2, r"'n_threads' parameter .* Got -2 instead"),
    ("backend", "gpu", r"'backend' parameter .* Got 'gpu' instead"),
])
def test_invalid_parameters_follow_sklearn_wording(X, param, value, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**{"n_components": 2, param: value}).fit(X)


def test_too_many_threads(X):
    with pytest.raises(ValueError, match="n_threads=4096 exceeds the"):
        GaussianMixture(2, n_threads=4096).fit(X)


@pytest.mark.parametrize("kw, match", [
    # scikit-learn's sentence first (sklearn.mixture), then fastem's hint.
    (dict(weights_init=[0.5, 0.6]), r"^The parameter 'weights' should be normalized, but got "
                                    r"sum\(weights\) = 1\.10000\. weights_init must sum to 1"),
    (dict(weights_init=[1.5, -0.5]), r"^The parameter 'weights' should be in the range \[0, 1\], "
                                     r"but got max value 1\.50000, min value -0\.50000\. "
                                     r"weights_init\[0\] is 1\.5"),
    (dict(weights_init=[0.5, np.nan]), r"weights_init contains NaN or inf; weights_init\[1\]"),
    (dict(weights_init=[1.0]), r"^The parameter 'weights' should have the shape of \(2,\), but "
                               r"got \(1,\)\. weights_init needs one weight per component "
                               r"\(n_components=2\)"),
    (dict(means_init=np.zeros((2, 2))), r"^The parameter 'means' should have the shape of "
                                        r"\(2, 3\), but got \(2, 2\)\. means_init"),
    (dict(precisions_init=np.ones((2, 3))), r"^The parameter 'full precision' should have the "
                                            r"shape of \(2, 3, 3\), but got \(2, 3\)\. "
                                            r"precisions_init for covariance_type='full'"),
    (dict(precisions_init=np.stack([np.eye(3), -np.eye(3)])),
     r"^'full precision' should be symmetric, positive-definite\. precisions_init\[1\] is not "
     r"positive definite"),
    (dict(precisions_init=np.stack([np.eye(3), np.triu(np.ones((3, 3)))])),
     r"^'full precision' should be symmetric, positive-definite\. precisions_init\[1, 0, 1\] "
     r"differs from its transpose"),
    (dict(covariance_type="tied", precisions_init=-np.eye(3)),
     r"^'tied precision' should be symmetric, positive-definite\. precisions_init is not "),
    (dict(covariance_type="tied", precisions_init=np.eye(2)),
     r"^The parameter 'tied precision' should have the shape of \(3, 3\), but got \(2, 2\)"),
    (dict(covariance_type="diag", precisions_init=np.array([[1.0, 1, 1], [1, 0, 1]])),
     r"^'diag precision' should be positive\. precisions_init\[1, 1\] is 0\.0"),
    (dict(covariance_type="spherical", precisions_init=np.array([1.0, -2.0])),
     r"^'spherical precision' should be positive\. precisions_init\[1\] is -2\.0"),
])
def test_bad_initial_parameters(X, kw, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, **kw).fit(X)


def test_predict_before_fit():
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(NotFittedError, match="This GaussianMixture instance is not fitted"):
            getattr(GaussianMixture(2), method)(np.ones((3, 2)))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        GaussianMixture(2).sample(3)


def test_other_number_of_features_at_predict(X):
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting "
                                         "3 features as input"):
        gm.predict(X[:, :2])


def test_sample_needs_a_positive_count(X):
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="Invalid value for 'n_samples': 0"):
        gm.sample(0)


def _degenerate():
    # 50 copies of one point plus a spread cloud: with reg_covar=0 the copies' component has
    # an exactly zero covariance.
    rng = np.random.default_rng(0)
    return np.vstack([np.tile([[5.0, 5.0]], (50, 1)), rng.normal(size=(200, 2)) * 0.1])


def test_singular_covariance_names_component_and_reg_covar():
    with pytest.raises(FitError, match=r"^Fitting the mixture model failed because some "
                                       r"components have ill-defined empirical covariance .*"
                                       r"scale the input data\. Component \d has a singular "
                                       r"covariance at initialisation .*; reg_covar is now 0\.0"):
        GaussianMixture(2, reg_covar=0.0, random_state=0).fit(_degenerate())


def test_failed_fit_leaves_the_fitted_model_unchanged(X):
    gm = GaussianMixture(2, random_state=0).fit(_degenerate())
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v)
              for k, v in vars(gm).items() if k.endswith("_") and not k.startswith("_")}
    gm.set_params(reg_covar=0.0)
    with pytest.raises(FitError):
        gm.fit(_degenerate())
    for k, v in before.items():
        now = getattr(gm, k)
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(now, v)
        else:
            assert now == v, k
    with pytest.raises(ValueError):
        gm.fit(np.full((10, 2), np.nan))
    np.testing.assert_array_equal(gm.means_, before["means_"])


# ---- issue 11's bug: tied covariance with a component that is empty at initialisation ----
def _duplicated_rows():
    # 5 distinct points, 20 copies each: 8 centres drawn from the rows must repeat a point,
    # so at least 3 components get no row at initialisation.
    rng = np.random.default_rng(0)
    return np.repeat(rng.normal(size=(5, 2)), 20, axis=0)


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random_from_data"])
def test_tied_with_components_empty_at_initialisation_fits(init):
    # Used to raise a bare IndexError in mstep.py: the initial fallback covariance for empty
    # components indexed the single (d, d) tied covariance with a component mask.
    gm = GaussianMixture(8, covariance_type="tied", init_params=init, random_state=0)
    gm.fit(_duplicated_rows())
    assert np.isfinite(gm.means_).all() and np.isfinite(gm.covariances_).all()
    assert gm.covariances_.shape == (2, 2)
    np.testing.assert_allclose(gm.weights_.sum(), 1.0)
    assert (gm.weights_ < 1e-6).sum() >= 3  # the empty components stayed empty


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random_from_data"])
def test_tied_reg_covar_zero_on_duplicated_rows_is_a_clear_error(init):
    # Every row sits on its centre, so the pooled covariance is exactly 0.
    with pytest.raises(FitError, match=r"^Fitting the mixture model failed because some "
                                       r"components have ill-defined empirical covariance.* "
                                       r"The shared \(tied\) covariance is singular at "
                                       r"initialisation \(8 components, 100 rows\); reg_covar "
                                       r"is now 0\.0\.$"):
        GaussianMixture(8, covariance_type="tied", init_params=init, reg_covar=0.0,
                        random_state=0).fit(_duplicated_rows())


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_m_step_without_previous_parameters_fills_empty_components(cov_type):
    from fastem.families import get_family
    from fastem.mstep import m_step
    from fastem.stats import SuffStats
    family = get_family(cov_type)
    rng = np.random.default_rng(1)
    k, d = 4, 3
    X = rng.normal(size=(60, d))
    labels = np.repeat([0, 1], 30)  # components 2 and 3 get nothing
    shift = np.zeros((k, d))
    nk = np.bincount(labels, minlength=k).astype(float)
    s1 = np.zeros((k, d))
    np.add.at(s1, labels, X)
    outer = X[:, :, None] * X[:, None, :]
    if cov_type == "tied":
        s2 = outer.sum(axis=0)[None]
    elif family.square:
        s2 = np.zeros((k, d, d))
        np.add.at(s2, labels, outer)
    else:
        s2 = np.zeros((k, d))
        np.add.at(s2, labels, X * X)
    p = m_step(family, SuffStats(shift, nk, s1, s2, 0.0, 60.0, 60), 1e-6)
    assert np.isfinite(p.covariances).all() and np.isfinite(p.precisions_cholesky).all()
    np.testing.assert_array_equal(p.means[2:], 0.0)  # empty components keep their centre
    if cov_type == "tied":
        within = sum(np.cov(X[labels == j].T, bias=True) * 30 for j in (0, 1)) / 60
        np.testing.assert_allclose(p.covariances, within + 1e-6 * np.eye(d), rtol=1e-10)
    else:  # the empty ones get the average of the others
        np.testing.assert_allclose(p.covariances[2], p.covariances[:2].mean(axis=0))
        np.testing.assert_allclose(p.covariances[3], p.covariances[:2].mean(axis=0))
