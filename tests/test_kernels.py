"""The fused pass and its siblings against the NumPy/SciPy reference, for every covariance
type, dtype and memory layout; plus properties of the statistics."""
from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastem.backends import numba as nb
from fastem.data import ArraySource
from fastem.families import FAMILIES, GaussianParams
from fastem.mstep import m_step

from . import reference as ref
from .conftest import make_blobs, random_params


def params_for(cov_type, w, means, cov):
    family = FAMILIES[cov_type]
    pc, bad = family.precision_cholesky(np.asarray(cov, float))
    assert bad == -1
    return family, GaussianParams(w, means, np.asarray(cov, float), pc)


def layouts(X):
    """The same data as C-ordered, F-ordered and a strided view."""
    big = np.empty((2 * X.shape[0], X.shape[1] + 1), dtype=X.dtype)
    big[::2, 1:] = X
    return {"C": np.ascontiguousarray(X), "F": np.asfortranarray(X), "strided": big[::2, 1:]}


# d = 4 runs the transposed-tile statistics; 13 and 37 the blocked micro-kernels with padding.
# float32 data below FLOAT32_COMPUTE_MIN_FEATURES computes in float64, so it meets the same
# tolerance; above it, test_float32_compute_path_stays_accurate checks the float32 products.
# float32 in Fortran order or strided compiles four more specialisations of each kernel: those
# run under `-m slow`, float32 C-contiguous and every float64 layout in the default suite.
_DTYPE_D = [(np.float64, 4), (np.float64, 13), (np.float64, 37), (np.float32, 4), (np.float32, 13)]
_EM_PASS_CASES = [
    pytest.param(dtype, d, layout, id=f"{np.dtype(dtype).name}-{d}-{layout}",
                 marks=pytest.mark.slow if dtype is np.float32 and layout != "C" else ())
    for layout in ("C", "F", "strided") for dtype, d in _DTYPE_D]


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype,d,layout", _EM_PASS_CASES)
def test_em_pass_matches_reference(cov_type, dtype, layout, d):
    X, _ = make_blobs(n=1500, d=d, k=3, seed=1, dtype=dtype)
    X = layouts(X)[layout]
    w, means, cov = random_params(cov_type, 3, d, seed=2, X=X)
    family, params = params_for(cov_type, w, means, cov)
    stats = nb.em_stats(ArraySource(X), family.kernel_args(params), family)

    # The reference sees exactly the values the kernel saw (float32 widened to float64).
    lpn, resp = ref.e_step(X.astype(np.float64), w, means, cov_type, cov)
    tol = 1e-10
    assert stats.n_rows == len(X)
    np.testing.assert_allclose(stats.loglik, lpn.sum(), rtol=tol)
    np.testing.assert_allclose(stats.nk, resp.sum(axis=0), rtol=tol)

    new = m_step(family, stats, 1e-6, params)
    w_ref, m_ref, c_ref = ref.m_step(X, resp, cov_type, 1e-6)
    np.testing.assert_allclose(new.weights, w_ref, rtol=tol)
    np.testing.assert_allclose(new.means, m_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(new.covariances, c_ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_e_step_outputs_match_reference(cov_type):
    X, _ = make_blobs(n=700, d=3, k=4, seed=3)
    w, means, cov = random_params(cov_type, 4, 3, seed=4, X=X)
    family, params = params_for(cov_type, w, means, cov)
    lpn, labels, resp = nb.e_step_outputs(X, family.kernel_args(params), labels=True, resp=True)
    lpn_ref, resp_ref = ref.e_step(X, w, means, cov_type, cov)
    np.testing.assert_allclose(lpn, lpn_ref, rtol=1e-12)
    np.testing.assert_allclose(resp, resp_ref, rtol=1e-9, atol=1e-13)
    lp = ref.weighted_log_prob(X, w, means, cov_type, cov)
    np.testing.assert_array_equal(labels, lp.argmax(axis=1))
    # The serial twin gives the same numbers.
    lpn_s, labels_s, resp_s = nb.e_step_outputs(X, family.kernel_args(params), labels=True,
                                                resp=True, serial=True)
    np.testing.assert_array_equal(lpn_s, lpn)
    np.testing.assert_array_equal(labels_s, labels)


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_stats_from_resp_match_reference(cov_type):
    X, _ = make_blobs(n=500, d=3, k=2, seed=5)
    rng = np.random.default_rng(0)
    resp = rng.uniform(size=(500, 2))
    resp /= resp.sum(axis=1, keepdims=True)
    family = FAMILIES[cov_type]
    shift = rng.normal(size=(2, 3))
    stats = nb.resp_stats(X, None, resp, shift, family)
    new = m_step(family, stats, 1e-6)
    w_ref, m_ref, c_ref = ref.m_step(X, resp, cov_type, 1e-6)
    np.testing.assert_allclose(new.weights, w_ref, rtol=1e-12)
    np.testing.assert_allclose(new.means, m_ref, rtol=1e-10)
    np.testing.assert_allclose(new.covariances, c_ref, rtol=1e-10)


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_sample_weight_equals_repeated_rows(cov_type):
    X, _ = make_blobs(n=300, d=3, k=2, seed=6)
    reps = np.random.default_rng(1).integers(0, 4, size=300)
    w, means, cov = random_params(cov_type, 2, 3, seed=7, X=X)
    family, params = params_for(cov_type, w, means, cov)
    kargs = family.kernel_args(params)
    a = nb.em_stats(ArraySource(X, reps.astype(float)), kargs, family)
    b = nb.em_stats(ArraySource(np.repeat(X, reps, axis=0)), kargs, family)
    np.testing.assert_allclose(a.nk, b.nk, rtol=1e-12)
    np.testing.assert_allclose(a.s1, b.s1, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(a.s2, b.s2, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-12)


@given(data=st.data(), cov_type=st.sampled_from(ref.COVARIANCE_TYPES))
def test_statistics_are_additive_over_any_chunking(data, cov_type):
    n = data.draw(st.integers(2, 400), label="n")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    cuts = sorted(set(data.draw(st.lists(st.integers(1, n - 1), max_size=6), label="cuts")))
    X, _ = make_blobs(n=n, d=3, k=2, seed=seed)
    w, means, cov = random_params(cov_type, 2, 3, seed=seed)
    family, params = params_for(cov_type, w, means, cov)
    kargs = family.kernel_args(params)
    whole = nb.em_stats(ArraySource(X), kargs, family)
    parts = [nb.em_stats(ArraySource(p), kargs, family) for p in np.split(X, cuts)]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    assert total.n_rows == whole.n_rows
    for a, b in [(total.nk, whole.nk), (total.s1, whole.s1), (total.s2, whole.s2)]:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(b).max()))
    np.testing.assert_allclose(total.loglik, whole.loglik, rtol=1e-12)
    # The chunk_size knob of a source gives the same statistics as explicit splits.
    chunked = nb.em_stats(ArraySource(X, chunk_size=max(1, n // 3)), kargs, family)
    np.testing.assert_allclose(chunked.nk, whole.nk, rtol=1e-10, atol=1e-12)


@given(seed=st.integers(0, 2**16), k=st.integers(1, 6), d=st.integers(1, 5),
       cov_type=st.sampled_from(ref.COVARIANCE_TYPES), scale=st.floats(0.1, 100.0))
def test_responsibilities_sum_to_one(seed, k, d, cov_type, scale):
    X, _ = make_blobs(n=200, d=d, k=k, seed=seed, spread=scale)
    w, means, cov = random_params(cov_type, k, d, seed=seed + 1)
    family, params = params_for(cov_type, w, means, cov)
    _, _, resp = nb.e_step_outputs(X, family.kernel_args(params), resp=True)
    assert np.isfinite(resp).all()
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)


@given(seed=st.integers(0, 2**16), cov_type=st.sampled_from(ref.COVARIANCE_TYPES))
def test_row_permutation_invariance_and_component_equivariance(seed, cov_type):
    X, _ = make_blobs(n=300, d=3, k=3, seed=seed)
    w, means, cov = random_params(cov_type, 3, 3, seed=seed)
    family, params = params_for(cov_type, w, means, cov)
    base = nb.em_stats(ArraySource(X), family.kernel_args(params), family)
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(X))
    perm_rows = nb.em_stats(ArraySource(X[rows]), family.kernel_args(params), family)
    np.testing.assert_allclose(perm_rows.nk, base.nk, rtol=1e-10)
    np.testing.assert_allclose(perm_rows.loglik, base.loglik, rtol=1e-12)
    comps = rng.permutation(3)
    pcov = cov if cov_type == "tied" else cov[comps]
    family, pparams = params_for(cov_type, w[comps], means[comps], pcov)
    perm_comp = nb.em_stats(ArraySource(X), family.kernel_args(pparams), family)
    np.testing.assert_allclose(perm_comp.nk, base.nk[comps], rtol=1e-10)
    np.testing.assert_allclose(perm_comp.s1, base.s1[comps], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
@pytest.mark.parametrize("d", [4, 13])
def test_statistics_identical_for_one_and_two_threads(cov_type, d):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.fail("this test needs NUMBA_NUM_THREADS >= 2")
    X, _ = make_blobs(n=50_000, d=d, k=3, seed=8)
    w, means, cov = random_params(cov_type, 3, d, seed=9, X=X)
    family, params = params_for(cov_type, w, means, cov)
    kargs = family.kernel_args(params)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = nb.em_stats(ArraySource(X), kargs, family)
        numba.set_num_threads(2)
        two = nb.em_stats(ArraySource(X), kargs, family)
    finally:
        numba.set_num_threads(old)
    for a, b in [(one.nk, two.nk), (one.s1, two.s1), (one.s2, two.s2)]:
        np.testing.assert_array_equal(a, b)
    assert one.loglik == two.loglik


def test_kmeans_pass_matches_bruteforce():
    X, _ = make_blobs(n=1000, d=3, k=4, seed=10)
    centers = X[:4].copy()
    stats, inertia = nb.kmeans_stats(ArraySource(X), centers, (4, 3, 3))
    d2 = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2)
    lab = d2.argmin(axis=1)
    np.testing.assert_allclose(inertia, d2.min(axis=1).sum(), rtol=1e-12)
    np.testing.assert_array_equal(stats.nk, np.bincount(lab, minlength=4))
    for k in range(4):
        diff = X[lab == k] - centers[k]
        np.testing.assert_allclose(stats.s1[k], diff.sum(axis=0), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(np.tril(stats.s2[k]), np.tril(diff.T @ diff), rtol=1e-10,
                                   atol=1e-10)


def test_reshifted_statistics_equal_statistics_about_new_shift():
    X, _ = make_blobs(n=400, d=3, k=2, seed=11)
    rng = np.random.default_rng(2)
    resp = rng.uniform(size=(400, 2))
    resp /= resp.sum(axis=1, keepdims=True)
    a_shift, b_shift = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    for cov_type in ref.COVARIANCE_TYPES:
        family = FAMILIES[cov_type]
        a = nb.resp_stats(X, None, resp, a_shift, family).reshifted(b_shift, family.square)
        b = nb.resp_stats(X, None, resp, b_shift, family)
        np.testing.assert_allclose(a.s1, b.s1, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(a.s2, b.s2, rtol=1e-10, atol=1e-10)


def test_merging_different_shifts_is_refused():
    family = FAMILIES["full"]
    X, _ = make_blobs(n=50, d=2, k=2)
    resp = np.full((50, 2), 0.5)
    a = nb.resp_stats(X, None, resp, np.zeros((2, 2)), family)
    b = nb.resp_stats(X, None, resp, np.ones((2, 2)), family)
    with pytest.raises(ValueError, match="different shifts"):
        a + b


@pytest.mark.parametrize("cov_type", ref.COVARIANCE_TYPES)
def test_float32_compute_path_stays_accurate(cov_type):
    # From FLOAT32_COMPUTE_MIN_FEATURES on, float32 data computes its products in float32.
    d = nb.FLOAT32_COMPUTE_MIN_FEATURES + 4
    X, _ = make_blobs(n=3000, d=d, k=3, seed=12, spread=3.0, offset=1000.0, dtype=np.float32)
    w, means, cov = random_params(cov_type, 3, d, seed=13, X=X)
    family, params = params_for(cov_type, w, means, cov)
    kargs = family.kernel_args(params)
    assert nb.compute_prec(kargs, X.dtype).dtype == np.float32
    stats = nb.em_stats(ArraySource(X), kargs, family)
    lpn, resp = ref.e_step(X.astype(np.float64), w, means, cov_type, cov)
    np.testing.assert_allclose(stats.loglik, lpn.sum(), rtol=1e-6)
    np.testing.assert_allclose(stats.nk, resp.sum(axis=0), rtol=1e-5)
    new = m_step(family, stats, 1e-6, params)
    w_ref, m_ref, c_ref = ref.m_step(X, resp, cov_type, 1e-6)
    np.testing.assert_allclose(new.means, m_ref, rtol=1e-7)
    np.testing.assert_allclose(new.covariances, c_ref, rtol=1e-4, atol=1e-6)
    out, _, _ = nb.e_step_outputs(X, kargs)
    np.testing.assert_allclose(out, lpn, rtol=1e-5)
