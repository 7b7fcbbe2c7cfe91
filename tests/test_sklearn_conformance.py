"""fastem.GaussianMixture against scikit-learn's own bar: ``check_estimator``, exception and
warning classes, messages for the same mistakes, and ``feature_names_in_``.

scikit-learn is an optional extra, so this module needs it (and pandas for the DataFrame
tests); both are in the development environment, where every test here runs.
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
import sklearn.exceptions  # noqa: E402
import sklearn.mixture  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

import fastem  # noqa: E402
from fastem import GaussianMixture  # noqa: E402

from .conftest import make_blobs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COV_TYPES = ("full", "tied", "diag", "spherical")
INITS = ("kmeans", "k-means++", "random", "random_from_data")
# The defaults (full, kmeans) and three settings cover every covariance type and every
# initialisation once in the default suite; the other thirteen pairs run under ``slow`` (each
# run of check_estimator compiles and fits tens of small models).
_DEFAULT_PAIRS = {("tied", "k-means++"), ("diag", "random"), ("spherical", "random_from_data")}
SETTINGS = [{}] + [
    pytest.param(dict(covariance_type=c, init_params=i),
                 marks=() if (c, i) in _DEFAULT_PAIRS else pytest.mark.slow)
    for c, i in itertools.product(COV_TYPES, INITS)]


# ------------------------------------------------------------------ check_estimator
@pytest.mark.parametrize("params", SETTINGS,
                         ids=lambda p: "-".join(getattr(p, "values", lambda: ())()) or "default")
def test_check_estimator_passes(params):
    with warnings.catch_warnings():
        # The checks fit tiny data sets; non-convergence there is expected, not a failure.
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        # fastem does not inherit BaseEstimator (no run-time dependency on scikit-learn), and
        # the array-API check is skipped unless SCIPY_ARRAY_API is set; both are reported as
        # warnings, not failures.
        warnings.filterwarnings("ignore", "Estimator GaussianMixture does not inherit",
                                UserWarning)
        warnings.simplefilter("ignore", sklearn.exceptions.SkipTestWarning)
        results = check_estimator(GaussianMixture(**params), on_fail=None)
    assert len(results) > 40  # the checks ran
    failed = {r["check_name"]: f"{type(r['exception']).__name__}: {r['exception']}"
              for r in results if r["status"] == "failed"}
    assert failed == {}


def test_tags_say_sparse_input_is_not_supported():
    from sklearn.utils import get_tags
    tags = get_tags(GaussianMixture())
    assert tags.input_tags.sparse is False
    assert tags.estimator_type == "density_estimator"


def test_sklearns_check_is_fitted_sees_the_fit():
    from sklearn.utils.validation import check_is_fitted
    gm = GaussianMixture(2)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(gm)
    check_is_fitted(gm.fit(_X))


def test_sample_docstring_says_successive_calls_differ():
    assert "Successive calls return different draws" in GaussianMixture.sample.__doc__


# ------------------------------------------------------------- exception and warning classes
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "bic", "aic"])
def test_predict_before_fit_is_sklearns_not_fitted_error(method):
    with pytest.raises(sklearn.exceptions.NotFittedError, match="is not fitted yet"):
        getattr(GaussianMixture(2), method)(np.ones((3, 2)))


def test_not_fitted_error_keeps_the_builtin_bases():
    assert issubclass(fastem.NotFittedError, sklearn.exceptions.NotFittedError)
    assert issubclass(fastem.NotFittedError, ValueError)
    assert issubclass(fastem.NotFittedError, AttributeError)
    assert fastem.NotFittedError is fastem.exceptions.NotFittedError
    with pytest.raises(sklearn.exceptions.NotFittedError):
        GaussianMixture().sample(2)


def test_sklearns_convergence_warning_filter_catches_fastem():
    X = make_blobs(n=500, d=2, k=3, seed=1)[0]
    assert issubclass(fastem.ConvergenceWarning, sklearn.exceptions.ConvergenceWarning)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning, match="did not converge"):
        GaussianMixture(3, max_iter=1, random_state=0).fit(X)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=sklearn.exceptions.ConvergenceWarning)
        GaussianMixture(3, max_iter=1, random_state=0).fit(X)
    assert [str(w.message) for w in seen] == []


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_fastem_does_not_import_sklearn():
    assert _run("import sys, fastem; print('sklearn' in sys.modules)") == "False"


def test_without_sklearn_the_classes_have_sklearns_bases():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import fastem\n"
            "print([b.__name__ for b in fastem.NotFittedError.__bases__],"
            " [b.__name__ for b in fastem.ConvergenceWarning.__bases__])\n"
            "try:\n    fastem.GaussianMixture().predict([[1.0]])\n"
            "except ValueError as e:\n    print(type(e).__name__)\n")
    assert _run(code).splitlines() == ["['ValueError', 'AttributeError'] ['UserWarning']",
                                       "NotFittedError"]


# ----------------------------------------------------------------- messages for mistakes
def _message(make, X) -> str:
    with pytest.raises(ValueError) as info:
        make().fit(X)
    return str(info.value)


_X = make_blobs(n=300, d=3, k=2, seed=4)[0]
_MISTAKES = {
    "weights shape": dict(weights_init=[1.0]),
    "weights sum": dict(weights_init=[0.5, 0.6]),
    "means shape": dict(means_init=np.zeros((2, 2))),
    "full precision shape": dict(precisions_init=np.ones((2, 3))),
    "full precision not positive definite": dict(precisions_init=np.stack([np.eye(3),
                                                                           -np.eye(3)])),
    "tied precision shape": dict(covariance_type="tied", precisions_init=np.eye(2)),
    "tied precision not positive definite": dict(covariance_type="tied",
                                                 precisions_init=-np.eye(3)),
    "diag precision shape": dict(covariance_type="diag", precisions_init=np.ones(2)),
    "diag precision not positive": dict(covariance_type="diag",
                                        precisions_init=np.array([[1.0, 1, 1], [1, 0, 1]])),
    "spherical precision shape": dict(covariance_type="spherical",
                                      precisions_init=np.ones((2, 3))),
    "spherical precision not positive": dict(covariance_type="spherical",
                                             precisions_init=np.array([1.0, -2.0])),
}


@pytest.mark.parametrize("mistake", list(_MISTAKES))
def test_message_begins_with_sklearns_sentence(mistake):
    kw = _MISTAKES[mistake]
    theirs = _message(lambda: sklearn.mixture.GaussianMixture(2, **kw), _X)
    ours = _message(lambda: GaussianMixture(2, **kw), _X)
    assert ours.startswith(theirs) and len(ours) > len(theirs), (ours, theirs)


def test_weights_out_of_range_message_begins_like_sklearns():
    kw = dict(weights_init=[1.5, -0.5])
    theirs = _message(lambda: sklearn.mixture.GaussianMixture(2, **kw), _X)
    ours = _message(lambda: GaussianMixture(2, **kw), _X)
    # scikit-learn prints the minimum after "max value" and the maximum after "min value";
    # fastem keeps its words but prints each value under its own label.
    head = "The parameter 'weights' should be in the range [0, 1], but got max value "
    assert theirs.startswith(head) and ours.startswith(head)
    assert "max value 1.50000, min value -0.50000" in ours


def _collapsed():
    rng = np.random.default_rng(0)
    return np.vstack([np.tile([[5.0, 5.0]], (50, 1)), rng.normal(size=(200, 2)) * 0.1])


@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ill_defined_covariance_message_begins_with_sklearns(cov_type, dtype):
    X = _collapsed().astype(dtype)
    kw = dict(covariance_type=cov_type, reg_covar=0.0, random_state=0)
    theirs = _message(lambda: sklearn.mixture.GaussianMixture(2, **kw), X)
    with pytest.raises(fastem.FitError) as info:
        GaussianMixture(2, **kw).fit(X)
    ours = str(info.value)
    assert ours.startswith(theirs), (ours, theirs)
    assert "reg_covar is now 0.0" in ours and "Component " in ours
    assert ("passing float64" in ours) == (dtype == np.float32)


def test_sample_weights_all_zero_message_is_sklearns():
    with pytest.raises(ValueError, match=r"^Sample weights must contain at least one non-zero "
                                         r"number"):
        GaussianMixture(2).fit(_X, sample_weight=np.zeros(len(_X)))


# --------------------------------------------------------------- kinds of input arrays
@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array", "coo_matrix"])
def test_sparse_input_says_it_is_not_supported(kind):
    sparse = pytest.importorskip("scipy.sparse")
    S = getattr(sparse, kind)(_X)
    msg = (r"^Sparse data was passed for X, but dense data is required\. Use '\.toarray\(\)' "
           r"to convert to a dense numpy array")
    with pytest.raises(TypeError, match=msg):
        GaussianMixture(2).fit(S)
    gm = GaussianMixture(2, random_state=0).fit(_X)
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score):
        with pytest.raises(TypeError, match=msg):
            method(S)


def test_complex_input_is_a_value_error():
    with pytest.raises(ValueError, match=r"^Complex data not supported: X has dtype "
                                         r"complex128"):
        GaussianMixture(1).fit(_X + 1j)


def test_object_array_of_numbers_is_accepted_as_float64():
    a = GaussianMixture(2, random_state=0).fit(_X)
    b = GaussianMixture(2, random_state=0).fit(_X.astype(object))
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.predict(_X), b.predict(_X.astype(object)))


def test_object_array_of_strings_is_refused():
    X = _X.astype(object)
    X[5, 1] = "n/a"
    with pytest.raises(TypeError, match="X has dtype object and holds values that are not "
                                        "numbers"):
        GaussianMixture(2).fit(X)


# ------------------------------------------------------------------- feature_names_in_
pd = pytest.importorskip("pandas")


def _outcome(fn):
    """What ``fn()`` did, comparable across libraries: an exception or warnings."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            fn()
        except Exception as exc:  # the comparison is the point
            return ("raised", type(exc).__name__, str(exc))
    return ("warned", [(w.category.__name__, str(w.message)) for w in seen
                       if not issubclass(w.category, sklearn.exceptions.ConvergenceWarning)])


def _both(fit_X, then):
    """Fit fastem's and scikit-learn's model on ``fit_X``; return ``then(model)``'s outcome
    for each."""
    out = []
    for cls in (GaussianMixture, sklearn.mixture.GaussianMixture):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = cls(2, random_state=0).fit(fit_X)
        out.append((model, _outcome(lambda: then(model))))
    return out


COLS = ["a", "b", "c"]
_DF = pd.DataFrame(_X, columns=COLS)


def test_dataframe_fit_records_the_column_names():
    (ours, _), (theirs, _) = _both(_DF, lambda m: None)
    assert ours.feature_names_in_.dtype == object
    np.testing.assert_array_equal(ours.feature_names_in_, theirs.feature_names_in_)
    np.testing.assert_array_equal(ours.feature_names_in_, COLS)


@pytest.mark.parametrize("case", ["same", "reordered", "renamed", "extra", "many unseen",
                                  "array", "int names"])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "bic"])
def test_names_at_predict_after_a_dataframe_fit_as_sklearn(case, method):
    X = {"same": _DF,
         "reordered": _DF[["c", "a", "b"]],
         "renamed": _DF.rename(columns={"b": "B"}),
         "extra": _DF.assign(d=1.0),
         "many unseen": pd.DataFrame(_X[:, [0, 1, 2, 0, 1, 2, 0]],
                                     columns=list("uvwxyzq")),
         "array": _X,
         "int names": pd.DataFrame(_X)}[case]
    (_, ours), (_, theirs) = _both(_DF, lambda m: getattr(m, method)(X))
    assert ours == theirs
    expected = {"same": "warned", "int names": "warned", "array": "warned"}.get(case, "raised")
    assert ours[0] == expected
    if case in ("array", "int names"):
        assert ours[1] == [("UserWarning", "X does not have valid feature names, but "
                                           "GaussianMixture was fitted with feature names")]


def test_dataframe_at_predict_after_an_array_fit_warns_as_sklearn():
    (ours_model, ours), (_, theirs) = _both(_X, lambda m: m.predict(_DF))
    assert ours == theirs == ("warned", [("UserWarning", "X has feature names, but "
                                                         "GaussianMixture was fitted without "
                                                         "feature names")])
    assert not hasattr(ours_model, "feature_names_in_")


def test_warning_points_at_the_callers_line():
    gm = GaussianMixture(2, random_state=0).fit(_DF)
    with pytest.warns(UserWarning, match="does not have valid feature names") as seen:
        gm.score(_X)
    assert seen[0].filename == __file__


def test_refit_on_an_array_forgets_the_names():
    gm = GaussianMixture(2, random_state=0).fit(_DF)
    gm.fit(_X)
    assert not hasattr(gm, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm.predict(_X)


def test_mixed_name_types_raise_as_sklearn():
    X = pd.DataFrame(_X, columns=["a", 1, "c"])
    ours = _outcome(lambda: GaussianMixture(2).fit(X))
    theirs = _outcome(lambda: sklearn.mixture.GaussianMixture(2).fit(X))
    assert ours == theirs and ours[:2] == ("raised", "TypeError")


def test_int_names_are_not_recorded_as_sklearn():
    X = pd.DataFrame(_X)
    (ours, _), (theirs, _) = _both(X, lambda m: None)
    assert not hasattr(ours, "feature_names_in_") and not hasattr(theirs, "feature_names_in_")


def test_partial_fit_records_names_on_the_first_call_and_checks_later():
    gm = GaussianMixture(2, random_state=0).partial_fit(_DF)
    np.testing.assert_array_equal(gm.feature_names_in_, COLS)
    gm.partial_fit(_DF)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        gm.partial_fit(_DF[["b", "a", "c"]])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        gm.partial_fit(_X)
