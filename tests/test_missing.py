"""Missing values: nan_policy ("raise", "omit", "marginalize") and impute, against the slow
NumPy reference in tests/reference_missing.py."""
from __future__ import annotations

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture

from . import reference_missing as ref

COV_TYPES = ("full", "tied", "diag", "spherical")


def _mixture(n, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * d, [4.0] + [1.0] * (d - 1), [-3.0] * (d - 1) + [3.0]])
    lab = rng.integers(0, 3, n)
    A = rng.normal(size=(3, d, d)) * 0.4 + np.eye(d)
    X = centres[lab] + np.einsum("nij,nj->ni", A[lab], rng.normal(size=(n, d)))
    return X


def _remove(X, frac, pattern, seed=1):
    """NaN at random (MCAR) or in blocks: a monotone pattern, where row groups lose their
    last 1, 2, ... columns."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    n, d = X.shape
    if pattern == "random":
        X[rng.uniform(size=X.shape) < frac] = np.nan
    else:
        rows = rng.uniform(size=n) < frac * 2
        depth = rng.integers(1, d, n)
        for i in np.flatnonzero(rows):
            X[i, d - depth[i]:] = np.nan
    return X


def _start(cov_type, k, d, seed=3):
    """Initial weights, means, covariances (reference shape) and precisions_init."""
    rng = np.random.default_rng(seed)
    w = np.full(k, 1.0 / k)
    mu = rng.normal(size=(k, d)) * 2
    base = np.stack([np.eye(d) * (1.5 + 0.2 * j) + 0.2 for j in range(k)])
    cov = {"full": base, "tied": base[0], "diag": np.diagonal(base, axis1=1, axis2=2).copy(),
           "spherical": np.full(k, 1.7)}[cov_type]
    prec = np.linalg.inv(cov) if cov_type in ("full", "tied") else 1.0 / cov
    return w, mu, cov, prec


def _fit_from(X, cov_type, start, n_iter, **kw):
    w, mu, _, prec = start
    gm = GaussianMixture(len(w), covariance_type=cov_type, weights_init=w, means_init=mu,
                         precisions_init=prec, tol=0.0, max_iter=n_iter, reg_covar=0.0,
                         nan_policy="marginalize", **kw)
    with pytest.warns(fastem.exceptions.ConvergenceWarning):
        return gm.fit(X)


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# Two of the four (fraction, pattern) cases run by default; all four with -m slow.
@pytest.mark.parametrize("frac, pattern", [
    (0.1, "random"), (0.4, "block"),
    pytest.param(0.4, "random", marks=pytest.mark.slow),
    pytest.param(0.1, "block", marks=pytest.mark.slow)])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_thirty_iterations_agree_with_the_reference(cov_type, frac, pattern):
    X = _remove(_mixture(60), frac, pattern)
    X[7] = np.nan                                       # one row entirely missing
    k, d = 3, X.shape[1]
    start = _start(cov_type, k, d)
    gm = _fit_from(X, cov_type, start, 30)
    w, mu, cov, _ = start
    bounds = []
    for _ in range(30):
        w, mu, cov, ll = ref.em_step(X, w, mu, cov, cov_type)
        bounds.append(ll)
    assert _rel(gm.weights_, w) < 1e-10
    assert _rel(gm.means_, mu) < 1e-10
    assert _rel(gm.covariances_, cov) < 1e-10
    assert _rel(gm.lower_bounds_, bounds) < 1e-10
    assert gm.n_rows_all_missing_ == int(np.isnan(X).all(axis=1).sum()) >= 1
    assert gm.n_rows_omitted_ == 0


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_inference_and_impute_agree_with_the_reference(cov_type):
    X = _remove(_mixture(200, seed=4), 0.3, "random")
    X[3] = np.nan
    start = _start(cov_type, 3, 3)
    gm = _fit_from(X, cov_type, start, 4)
    args = (gm.weights_, gm.means_, gm.covariances_, cov_type)
    lp = gm.score_samples(X)
    np.testing.assert_allclose(lp, ref.score_samples(X, *args), rtol=1e-12, atol=1e-12)
    assert lp[3] == 0.0
    np.testing.assert_allclose(gm.impute(X), ref.impute(X, *args), rtol=1e-12, atol=1e-12)
    n_obs = int((~np.isnan(X).all(axis=1)).sum())
    assert gm.score(X) == pytest.approx(lp.sum() / n_obs, rel=1e-14)
    assert gm.bic(X) == pytest.approx(-2 * lp.sum() + gm._n_parameters() * np.log(n_obs))
    assert gm.aic(X) == pytest.approx(-2 * lp.sum() + 2 * gm._n_parameters())
    proba = gm.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(gm.predict(X), proba.argmax(axis=1))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_without_nan_marginalize_and_omit_are_bit_identical_to_raise(cov_type):
    X = _mixture(3000, d=4)
    fits = [GaussianMixture(3, covariance_type=cov_type, random_state=0, nan_policy=p,
                            max_iter=20).fit(X) for p in ("raise", "omit", "marginalize")]
    for other in fits[1:]:
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            assert np.array_equal(getattr(fits[0], name), getattr(other, name))
        assert other.lower_bounds_ == fits[0].lower_bounds_
        assert np.array_equal(other.score_samples(X), fits[0].score_samples(X))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_observed_loglik_never_decreases(cov_type):
    X = _remove(_mixture(1500, d=4, seed=5), 0.3, "random")
    gm = GaussianMixture(3, covariance_type=cov_type, nan_policy="marginalize", tol=0.0,
                         max_iter=40, reg_covar=0.0, random_state=0)
    with pytest.warns(fastem.exceptions.ConvergenceWarning):
        gm.fit(X)
    lb = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:]))


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_one_and_two_threads_bit_identical(cov_type):
    X = _remove(_mixture(12_000, d=4, seed=6), 0.2, "random")
    fits = [GaussianMixture(3, covariance_type=cov_type, nan_policy="marginalize",
                            random_state=0, max_iter=5, tol=0.0, n_threads=t)
            for t in (1, 2)]
    with pytest.warns(fastem.exceptions.ConvergenceWarning):
        a, b = (g.fit(X) for g in fits)
    for name in ("weights_", "means_", "covariances_"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.lower_bounds_ == b.lower_bounds_
    assert np.array_equal(a.impute(X), b.impute(X))


@pytest.mark.parametrize("n_all", [5, 40])
def test_rows_entirely_missing_change_nothing(n_all):
    # 40 such rows form a tile of their own in the square kernel (a pure tile, nothing
    # observed); 5 share a mixed tile.
    X = _remove(_mixture(300, seed=7), 0.2, "random")
    Xa = np.vstack([X[:100], np.full((n_all, 3), np.nan), X[100:]])
    start = _start("full", 3, 3)
    a = _fit_from(X, "full", start, 10)
    b = _fit_from(Xa, "full", start, 10)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-12)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-12)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-12)
    assert b.n_rows_all_missing_ == a.n_rows_all_missing_ + n_all
    assert np.all(b.score_samples(Xa)[100:100 + n_all] == 0.0)
    assert b.bic(Xa) == pytest.approx(b.bic(X), rel=1e-12)
    np.testing.assert_allclose(b.impute(Xa)[100], b.weights_ @ b.means_)


def test_omit_fits_the_complete_rows_and_counts_the_rest():
    X = _remove(_mixture(600, seed=8), 0.1, "random")
    X[10] = np.nan
    complete = ~np.isnan(X).any(axis=1)
    w, mu, _, prec = _start("full", 3, 3)
    kw = dict(weights_init=w, means_init=mu, precisions_init=prec, max_iter=15, tol=0.0)
    with pytest.warns(fastem.exceptions.ConvergenceWarning):
        a = GaussianMixture(3, nan_policy="omit", **kw).fit(X)
        b = GaussianMixture(3, **kw).fit(X[complete])
    assert a.n_rows_omitted_ == int((~complete).sum())
    assert a.n_rows_all_missing_ == int(np.isnan(X).all(axis=1).sum()) >= 1
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-12)


def test_errors_name_the_value_row_and_column():
    X = _mixture(50)
    Xn = X.copy()
    Xn[17, 2] = np.nan
    with pytest.raises(ValueError, match=r"first bad row is 17, column 2 is nan.*"
                                         r"nan_policy='omit'"):
        GaussianMixture(2).fit(Xn)
    Xi = Xn.copy()
    Xi[20, 1] = -np.inf
    for policy in ("raise", "omit", "marginalize"):
        with pytest.raises(ValueError, match="row 20, column 1 is -inf" if policy != "raise"
                           else "first bad row is 17"):
            GaussianMixture(2, nan_policy=policy).fit(Xi)
    with pytest.raises(ValueError, match="'nan_policy' parameter of GaussianMixture must be"):
        GaussianMixture(2, nan_policy="drop").fit(X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="first bad row is 17"):
        gm.predict(Xn)
    with pytest.raises(ValueError, match="row 20, column 1 is -inf"):
        gm.impute(Xi)
    np.testing.assert_array_equal(gm.impute(X), X)       # nothing missing: unchanged


def test_out_of_core_and_chunked_match_in_memory(tmp_path):
    X = _remove(_mixture(2000, seed=9), 0.25, "random")
    path = tmp_path / "x.npy"
    np.save(path, X)
    start = _start("tied", 3, 3)
    a = _fit_from(X, "tied", start, 8)
    b = _fit_from(str(path), "tied", start, 8, chunk_size=300)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-11)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-11)
    assert b.n_rows_all_missing_ == a.n_rows_all_missing_
    out = tmp_path / "filled.npy"
    filled = b.impute(str(path), out=out)
    np.testing.assert_allclose(np.load(out), a.impute(X), rtol=1e-11)
    assert filled.shape == X.shape and not np.isnan(np.load(out)).any()
    assert b.score(str(path)) == pytest.approx(a.score(X), rel=1e-11)
    assert b.bic(str(path)) == pytest.approx(a.bic(X), rel=1e-11)


def test_default_initialisation_runs_on_mean_imputed_data():
    X = _remove(_mixture(900, seed=10), 0.3, "random")
    X[:, 0][::2] = np.nan
    gm = GaussianMixture(3, nan_policy="marginalize", random_state=0).fit(X)
    assert np.isfinite(gm.means_).all() and gm.converged_
    g2 = GaussianMixture(3, nan_policy="marginalize", random_state=0,
                         init_params="k-means++").fit(X)
    assert np.isfinite(g2.lower_bound_)


def test_impute_sample_draws_from_the_conditional():
    X = _mixture(4000, seed=11)
    gm = GaussianMixture(3, random_state=0, nan_policy="marginalize").fit(X)
    Xm = np.tile(X[:1], (4000, 1))
    Xm[:, 1] = np.nan
    draws = gm.impute(Xm, sample=True, random_state=0)[:, 1]
    again = gm.impute(Xm, sample=True, random_state=0)[:, 1]
    assert np.array_equal(draws, again)
    mean = gm.impute(Xm[:1])[0, 1]
    assert abs(draws.mean() - mean) < 4 * draws.std() / np.sqrt(len(draws))
    # The conditional variance: mixture of the components' conditionals at this row.
    covs = gm.covariances_
    r = gm.predict_proba(Xm[:1])[0]
    o = [0, 2]
    cm, cv = [], []
    for j in range(3):
        B = np.linalg.solve(covs[j][np.ix_(o, o)], covs[j][np.ix_(o, [1])]).T
        cm.append(gm.means_[j, 1] + B @ (X[0, o] - gm.means_[j, o]))
        cv.append(covs[j][1, 1] - (B @ covs[j][np.ix_(o, [1])])[0, 0])
    cm = np.ravel(cm)
    var = r @ (np.asarray(cv) + cm**2) - (r @ cm) ** 2
    assert draws.var() == pytest.approx(var, rel=0.1)


def test_partial_fit_marginalizes():
    X = _remove(_mixture(4000, seed=12), 0.2, "random")
    gm = GaussianMixture(3, nan_policy="marginalize", random_state=0)
    for part in np.array_split(X, 4):
        gm.partial_fit(part)
    assert np.isfinite(gm.means_).all() and gm.n_iter_ == 4
    with pytest.raises(ValueError, match="column"):
        GaussianMixture(3).partial_fit(X)


def test_checkpoint_fingerprint_holds_the_policy(tmp_path):
    from fastem.checkpoint import fit_fingerprint
    a = fit_fingerprint(GaussianMixture(2, nan_policy="omit").get_params(), 10, 2, "float64")
    b = fit_fingerprint(GaussianMixture(2).get_params(), 10, 2, "float64")
    assert a["params"]["nan_policy"] == "omit" and a != b
    X = _remove(_mixture(500, seed=13), 0.2, "random")
    ck = tmp_path / "ck.npz"
    with pytest.warns(fastem.exceptions.ConvergenceWarning):
        GaussianMixture(2, nan_policy="marginalize", checkpoint=ck, max_iter=3,
                        random_state=0).fit(X)
    with pytest.raises(ValueError, match="checkpoint"):
        GaussianMixture(2, nan_policy="omit", checkpoint=ck, max_iter=3,
                        random_state=0).fit(X)


def test_saved_model_keeps_its_policy(tmp_path):
    X = _remove(_mixture(500, seed=14), 0.2, "random")
    gm = GaussianMixture(2, nan_policy="marginalize", random_state=0).fit(X)
    gm.save(tmp_path / "m.npz")
    back = fastem.load(tmp_path / "m.npz")
    assert back.nan_policy == "marginalize"
    np.testing.assert_array_equal(back.score_samples(X), gm.score_samples(X))


def test_dask_matches_in_memory():
    da = pytest.importorskip("dask.array")
    X = _remove(_mixture(1200, seed=15), 0.25, "random")
    start = _start("full", 3, 3)
    a = _fit_from(X, "full", start, 6)
    b = _fit_from(da.from_array(X, chunks=(400, -1)), "full", start, 6)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-11)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-11)
    assert b.n_rows_all_missing_ == a.n_rows_all_missing_
    lp = b.score_samples(da.from_array(X, chunks=(400, -1))).compute()
    np.testing.assert_allclose(lp, a.score_samples(X), rtol=1e-11)


def test_cli_fit_with_nan_policy_and_impute(tmp_path, capsys):
    from fastem.cli import main
    X = _remove(_mixture(400, seed=16), 0.2, "random")
    data, model, filled = tmp_path / "x.npy", tmp_path / "m.npz", tmp_path / "f.npy"
    np.save(data, X)
    assert main(["fit", str(data), "-k", "2", "-o", str(model), "-q"]) == 1
    assert "nan_policy" in capsys.readouterr().err
    assert main(["fit", str(data), "-k", "2", "-o", str(model), "-q", "--nan-policy",
                 "marginalize", "--random-state", "0"]) == 0
    assert main(["impute", str(model), str(data), "-o", str(filled)]) == 0
    assert "conditional means" in capsys.readouterr().out
    gm = fastem.load(model)
    np.testing.assert_allclose(np.load(filled), gm.impute(X), rtol=1e-12)
    assert main(["impute", str(model), str(data), "-o", str(filled), "--sample",
                 "--random-state", "1"]) == 0
    once = np.load(filled)
    assert not np.isnan(once).any()
    np.testing.assert_array_equal(once[~np.isnan(X)], X[~np.isnan(X)])


@pytest.mark.slow
def test_recovers_a_known_mixture_with_thirty_percent_missing():
    rng = np.random.default_rng(0)
    n, d = 100_000, 3
    weights = np.array([0.4, 0.3, 0.2, 0.1])
    means = np.array([[0, 0, 0], [6, 0, 2], [0, 6, -2], [5, 5, 5]], float)
    covs = []
    for _ in range(4):
        A = rng.normal(size=(d, d)) * 0.5
        covs.append(A @ A.T + 0.5 * np.eye(d))
    covs = np.array(covs)
    lab = rng.choice(4, n, p=weights)
    X = means[lab] + np.einsum("nij,nj->ni", np.linalg.cholesky(covs)[lab],
                               rng.normal(size=(n, d)))
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    gm = GaussianMixture(4, nan_policy="marginalize", random_state=0, n_init=2,
                         tol=1e-6, max_iter=500).fit(X)
    order = [int(np.argmin(((gm.means_ - m) ** 2).sum(axis=1))) for m in means]
    assert sorted(order) == [0, 1, 2, 3]
    assert np.abs(gm.means_[order] - means).max() < 0.05
    assert np.abs(gm.covariances_[order] - covs).max() < 0.05
    assert np.abs(gm.weights_[order] - weights).max() < 0.01


def _tiled_patterns(n, d, seed):
    """Rows that reach every path of the square kernel's tiles: a few block patterns with
    runs spanning several tiles (pure tiles, factors reused across tiles), runs just past and
    below the pure-tile length, near-unique random patterns (mixed tiles), rows missing most
    of their coordinates (a mixed tile's buffer of conditional covariances grows), complete
    rows and a row entirely missing."""
    rng = np.random.default_rng(seed)
    X = _mixture(n, d=d, seed=seed)
    kind = rng.integers(0, 6, n)
    for i in range(n):
        if kind[i] == 0:
            X[i, d - 2:] = np.nan
        elif kind[i] == 1:
            X[i, : d // 3] = np.nan
        elif kind[i] == 2:
            X[i, rng.uniform(size=d) < 0.3] = np.nan
        elif kind[i] == 3:
            keep = rng.integers(0, d)
            X[i, np.arange(d) != keep] = np.nan
    short = np.flatnonzero(kind == 4)[:30]        # one run of 30 rows and one of 10
    X[short[:20], 1] = np.nan
    X[short[20:], 2:4] = np.nan
    X[5] = np.nan
    return X


@pytest.mark.parametrize("d", [7, 70])
@pytest.mark.parametrize("cov_type", ["full", "tied"])
def test_square_kernel_tiles_agree_with_the_reference(cov_type, d):
    # d = 70 keys patterns by a hash (more than 64 columns); sample weights throughout.
    _two_weighted_steps_agree_with_the_reference(
        _tiled_patterns(900 if d == 70 else 3000, d, seed=11), cov_type)


@pytest.mark.parametrize("marginal_rows", [1, 10 ** 9])
@pytest.mark.parametrize("cov_type", ["full", "tied"])
def test_pure_tiles_agree_with_the_reference_on_both_paths(cov_type, marginal_rows,
                                                           monkeypatch):
    # A pure tile runs over its observed coordinates when its pattern lasts MARGINAL_ROWS
    # rows, else it fills the missing block by the gain product: force each path on every
    # pure tile. d = 12: observed blocks of 8 or more take the row-major statistics.
    from fastem.families import missing
    monkeypatch.setattr(missing, "MARGINAL_ROWS", marginal_rows)
    _two_weighted_steps_agree_with_the_reference(_tiled_patterns(3000, 12, seed=13),
                                                 cov_type)


def _two_weighted_steps_agree_with_the_reference(X, cov_type, k=3):
    sw = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    w, mu, cov, prec = _start(cov_type, k, X.shape[1])
    gm = GaussianMixture(k, covariance_type=cov_type, weights_init=w, means_init=mu,
                         precisions_init=prec, tol=0.0, max_iter=2, reg_covar=0.0,
                         nan_policy="marginalize")
    with pytest.warns(fastem.exceptions.ConvergenceWarning):
        gm.fit(X, sample_weight=sw)
    bounds = []
    for _ in range(2):
        w, mu, cov, ll = ref.em_step(X, w, mu, cov, cov_type, sample_weight=sw)
        bounds.append(ll)
    assert _rel(gm.weights_, w) < 1e-10
    assert _rel(gm.means_, mu) < 1e-10
    assert _rel(gm.covariances_, cov) < 1e-10
    assert _rel(gm.lower_bounds_, bounds) < 1e-10


def test_tile_plan_keeps_long_runs_to_tiles_of_their_own():
    from fastem.families.missing import PURE_ROWS, tile_plan
    from fastem.kernels._jit import TILE
    rng = np.random.default_rng(0)
    lengths = rng.choice([1, 3, PURE_ROWS - 1, PURE_ROWS, 2 * TILE + 5, 300], 200)
    keys = np.repeat(np.arange(lengths.size, dtype=np.uint64), lengths)
    tiles = tile_plan(keys)
    assert tiles[0] == 0 and tiles[-1] == keys.size
    sizes = np.diff(tiles)
    assert sizes.min() >= 1 and sizes.max() <= TILE
    run_of = np.repeat(np.arange(lengths.size), lengths)
    for a, b in zip(tiles[:-1], tiles[1:]):
        runs = np.unique(run_of[a:b])
        long = lengths[runs] >= PURE_ROWS
        assert not long.any() or runs.size == 1      # a long run's tile holds it alone
    # every row of a long run is in a tile of that run only, and tiles are full but the last
    starts = np.r_[0, np.cumsum(lengths)]
    for r in np.flatnonzero(lengths >= PURE_ROWS):
        inside = tiles[(tiles >= starts[r]) & (tiles < starts[r + 1])]
        assert inside[0] == starts[r]
        assert np.all(np.diff(np.r_[inside, starts[r + 1]])[:-1] == TILE)


@pytest.mark.parametrize("d", [4, 16])
@pytest.mark.parametrize("cov_type", ["diag", "spherical"])
def test_diagonal_kernel_tiles_agree_with_the_reference(cov_type, d):
    # 9,000 rows: several slots; complete rows staged apart from rows with NaN; d = 4 and 16
    # reach both statistics paths of the complete tiles (transposed and row-major).
    X = _tiled_patterns(9000, d, seed=12)
    X[4000:4200] = _mixture(200, d=d, seed=5)      # a few tiles without NaN
    _two_weighted_steps_agree_with_the_reference(X, cov_type)


def _diagonal_kernel_args(X, cov_type, policy, k=3):
    from fastem.families import GaussianParams, get_family
    fam = get_family(cov_type).with_nan_policy(policy)
    d = X.shape[1]
    _, mu, cov, _ = _start(cov_type, k, d)
    pc, _ = fam.precision_cholesky(cov)
    return fam, fam.kernel_args(GaussianParams(np.full(k, 1.0 / k), mu, cov, pc))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", ["diag", "spherical"])
def test_diagonal_pass_without_nan_is_the_complete_pass_bit_for_bit(cov_type, dtype):
    # Under "marginalize" the complete-data pass checks each tile for NaN: on a chunk
    # without NaN it must give the "raise" statistics exactly (float32 with 16 features:
    # the complete kernel's float32 compute precision).
    from fastem.families import gaussian_pass
    X = _mixture(20_000, d=16).astype(dtype)
    out = []
    for policy in ("raise", "marginalize"):
        fam, kargs = _diagonal_kernel_args(X, cov_type, policy)
        out.append(gaussian_pass.chunk_stats(X, None, kargs, fam.scatter_shape(3, 16)))
    a, b = out
    for name in ("nk", "s1", "s2"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.loglik == b.loglik and a.weight_sum == b.weight_sum


@pytest.mark.parametrize("with_nan", [False, True])
def test_diagonal_pass_names_the_inf(with_nan):
    from fastem.families import gaussian_pass
    X = _mixture(5000, d=5)
    if with_nan:
        X[3001, 0] = np.nan                 # the inf's tile also holds a NaN
    X[3010, 4] = -np.inf
    X[4000, 1] = np.inf
    fam, kargs = _diagonal_kernel_args(X, "diag", "marginalize")
    with pytest.raises(ValueError, match="row 3,010, column 4 is -inf"):
        gaussian_pass.chunk_stats(X, None, kargs, fam.scatter_shape(3, 5))


@pytest.mark.parametrize("bits", [0, 3, 8, 9, 16, 40, 64])
@pytest.mark.parametrize("m", [0, 1, 2, 5000])
def test_pattern_order_is_a_stable_sort_by_key(m, bits):
    from fastem.families.missing import pattern_order
    rng = np.random.default_rng(bits * 7 + m)
    n = m + 50
    keys = np.zeros(n, np.uint64)
    if bits:
        top = np.uint64(1) << np.uint64(bits - 1)
        keys[:] = rng.integers(0, 2 ** min(bits - 1, 62), n, dtype=np.uint64) | (
            top * rng.integers(0, 2, n, dtype=np.uint64))
        keys[:: 7] = keys[0]                        # many equal keys: stability matters
    rows = rng.choice(n, m, replace=False).astype(np.int64)
    got_rows, got_keys = pattern_order(keys, rows)
    order = np.argsort(keys[rows], kind="stable")
    np.testing.assert_array_equal(got_rows, rows[order])
    np.testing.assert_array_equal(got_keys, keys[rows][order])
