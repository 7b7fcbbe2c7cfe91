"""The NumPy E-step outputs the fused linear-exponential kernel is checked against: per-row
log-sum-exp, first arg-max and responsibilities of a (n, K) matrix of weighted log-densities
(from tests/reference_linexp.py). An (n, K) array is fine here: an oracle for small data."""
from __future__ import annotations

import numba
import numpy as np
from scipy.special import logsumexp


def e_step_from_log_prob(logp):
    """``(log p(x_i), labels, responsibilities)`` of weighted log-densities ``logp``."""
    lpn = logsumexp(logp, axis=1)
    return lpn, np.argmax(logp, axis=1), np.exp(logp - lpn[:, None])


def assert_outputs_match(family, kargs, X, logp_ref, atol_resp=1e-12, serial=True):
    """The family's kernel outputs (all three, and each alone) equal the reference; with
    ``serial``, so do the serial twin's (a kernel specialisation more to compile)."""
    lpn_ref, lab_ref, rsp_ref = e_step_from_log_prob(logp_ref)
    lpn, lab, rsp = family.e_step_outputs(X, kargs, labels=True, resp=True)
    np.testing.assert_allclose(lpn, lpn_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(lab, lab_ref)
    np.testing.assert_allclose(rsp, rsp_ref, rtol=0, atol=atol_resp)
    alone, none_l, none_r = family.e_step_outputs(X, kargs)
    assert none_l is None and none_r is None and np.array_equal(alone, lpn)
    if not serial:
        return
    twin = family.e_step_outputs(X, kargs, labels=True, resp=True, serial=True)
    for a, b in zip(twin, (lpn, lab, rsp)):
        assert np.array_equal(a, b)


def assert_thread_identical(family, kargs, X):
    """1 and 2 threads give bit-identical outputs."""
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = family.e_step_outputs(X, kargs, labels=True, resp=True)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = family.e_step_outputs(X, kargs, labels=True, resp=True)
    finally:
        numba.set_num_threads(old)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)
