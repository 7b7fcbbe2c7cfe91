"""The linear-exponential pass at shapes that reach every branch of its register-blocked tile
helpers (:mod:`fastem.kernels.blocked`): components below and above the row-major layout's
limit (``ROWS_LAYOUT_MAX_K``), numbers of components and features that are not whole vectors
or blocks, against the NumPy reference EMs of ``tests/reference_linexp.py``."""
import warnings

import numpy as np
import pytest

from fastem import BernoulliMixture, CategoricalMixture, PoissonMixture
from fastem.kernels.linexp import ROWS_LAYOUT_MAX_K

from . import reference_linexp as ref
from .test_bernoulli import reference_em as bernoulli_em

N_ITER = 4
# (K, D): one vector of components and a single column; two vectors and padded columns;
# above the row-major limit with K mod 4 != 0 and an odd number of column vectors.
SHAPES = [(1, 1), (3, 13), (ROWS_LAYOUT_MAX_K, 8), (ROWS_LAYOUT_MAX_K + 3, 70), (40, 5)]


def _fit(est, X, sw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, sample_weight=sw)


def _data(k, d, seed):
    rng = np.random.default_rng(seed)
    n = 1500 + 37               # not a whole number of tiles
    return rng, n, rng.uniform(0.5, 2.0, n)


@pytest.mark.parametrize("k,d", SHAPES)
def test_bernoulli_shapes_match_the_reference(k, d):
    rng, n, sw = _data(k, d, k * 100 + d)
    proto = rng.uniform(0.1, 0.9, (k, d))
    X = (rng.uniform(size=(n, d)) < proto[rng.integers(0, k, n)]).astype(np.float64)
    w0, m0 = np.full(k, 1.0 / k), rng.uniform(0.2, 0.8, (k, d))
    gm = _fit(BernoulliMixture(k, weights_init=w0, means_init=m0, max_iter=N_ITER, tol=0.0,
                               chunk_size=700), X, sw)
    w_ref, m_ref, lb_ref = bernoulli_em(X, w0, m0, 1e-10, N_ITER, sw)
    np.testing.assert_allclose(gm.weights_, w_ref, rtol=1e-10)
    np.testing.assert_allclose(gm.means_, m_ref, rtol=1e-10)
    np.testing.assert_allclose(gm.lower_bounds_, lb_ref, rtol=1e-10)


@pytest.mark.parametrize("k,d", SHAPES)
def test_poisson_shapes_match_the_reference(k, d):
    rng, n, sw = _data(k, d, k * 100 + d + 1)
    rates = rng.uniform(0.5, 8.0, (k, d))
    X = rng.poisson(rates[rng.integers(0, k, n)]).astype(np.int64)
    X[5, 0] = 3000                # beyond the log n! table
    w0, m0 = np.full(k, 1.0 / k), rng.uniform(1.0, 5.0, (k, d))
    pm = _fit(PoissonMixture(k, weights_init=w0, means_init=m0, max_iter=N_ITER, tol=0.0,
                             chunk_size=700), X, sw)
    w_ref, m_ref, lb_ref = ref.poisson_em(X, w0, m0, 1e-10, N_ITER, sw)
    np.testing.assert_allclose(pm.weights_, w_ref, rtol=1e-10)
    np.testing.assert_allclose(pm.means_, m_ref, rtol=1e-10)
    np.testing.assert_allclose(pm.lower_bounds_, lb_ref, rtol=1e-10)
    lp = ref.poisson_log_prob(X, pm.weights_, pm.means_)
    top = lp.max(axis=1, keepdims=True)
    want = top[:, 0] + np.log(np.exp(lp - top).sum(axis=1))
    np.testing.assert_allclose(pm.score_samples(X), want, rtol=1e-10)


@pytest.mark.parametrize("k", [1, 9, 40, 67])
def test_categorical_component_counts_match_the_reference(k):
    """Components padded to whole vectors: one, two, five (one block of 4 + 1), nine."""
    rng, n, sw = _data(k, 3, k)
    n_cat = [2, 5, 3]
    X = np.column_stack([rng.integers(0, c, n) for c in n_cat])
    w0 = np.full(k, 1.0 / k)
    p0 = [rng.dirichlet(np.ones(c), size=k) for c in n_cat]
    cm = _fit(CategoricalMixture(k, weights_init=w0, probabilities_init=p0, max_iter=N_ITER,
                                 tol=0.0, chunk_size=700), X, sw)
    w_ref, p_ref, lb_ref = ref.categorical_em(X, w0, p0, 1e-10, N_ITER, sw)
    np.testing.assert_allclose(cm.weights_, w_ref, rtol=1e-10)
    for got, want in zip(cm.probabilities_, p_ref):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(cm.lower_bounds_, lb_ref, rtol=1e-10)
    lp = ref.categorical_log_prob(X, cm.weights_, cm.probabilities_)
    top = lp.max(axis=1, keepdims=True)
    want = top[:, 0] + np.log(np.exp(lp - top).sum(axis=1))
    np.testing.assert_allclose(cm.score_samples(X), want, rtol=1e-10)
