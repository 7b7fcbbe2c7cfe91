"""fastem.plot and the plot CLI, rendered with the Agg backend."""
import json
import os

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from fastem import GaussianMixture  # noqa: E402
from fastem.cli import _demo_data, main  # noqa: E402
from fastem.plot import (plot_components, plot_lower_bound, plot_parameters,  # noqa: E402
                         plot_selection, plot_uncertainty, project_gaussians, projection)
from fastem.plot import _common  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def demo():
    X = _demo_data(4000, 1)[0]
    return X, GaussianMixture(5, random_state=0).fit(X)


def _ellipses(ax):
    return [p for p in ax.patches if isinstance(p, Ellipse)]


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("n_std", [(1, 2), (1.5,), (1, 2, 3)])
def test_one_ellipse_per_component_and_n_std(cov_type, n_std):
    X = _demo_data(1500, 2)[0]
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    ax = plot_components(gm, X, n_std=n_std)
    assert len(_ellipses(ax)) == 3 * len(n_std)
    assert ax.get_legend() is not None
    assert len(ax.get_legend().get_texts()) == 3


def test_ellipse_matches_covariance_axes(demo):
    X, gm = demo
    ax = plot_components(gm, X, n_std=(2,))
    for e, mean, cov in zip(_ellipses(ax), gm.means_, gm.covariances_):
        evals = np.linalg.eigvalsh(cov)
        np.testing.assert_allclose(e.center, mean)
        np.testing.assert_allclose(sorted([e.width, e.height]), 4 * np.sqrt(evals), rtol=1e-12)


def test_pca_projection_of_covariance_equals_covariance_of_projected_samples():
    rng = np.random.default_rng(3)
    d = 5
    L = rng.normal(size=(d, d))
    cov = L @ L.T + np.eye(d)
    mean = rng.normal(size=d) * 3
    Z = rng.multivariate_normal(mean, cov, size=400_000)
    center, A, _ = projection("pca", d, Z[:20_000])
    m2, c2 = project_gaussians(mean[None], cov[None], center, A)
    P = (Z - center) @ A
    np.testing.assert_allclose(c2[0], np.cov(P, rowvar=False), rtol=0.02, atol=0.02 * c2[0].max())
    np.testing.assert_allclose(m2[0], P.mean(axis=0), atol=0.02 * np.sqrt(c2[0].max()))
    assert abs(c2[0, 0, 1]) < 0.05 * c2[0, 0, 0]  # principal axes: nearly uncorrelated


def test_pca_plot_on_wide_data_draws_projected_ellipses():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(800, 6)), rng.normal(size=(800, 6)) + 4])
    gm = GaussianMixture(2, random_state=0).fit(X)
    ax = plot_components(gm, X, features="pca", n_std=(1, 2))
    assert len(_ellipses(ax)) == 4
    assert ax.get_xlabel().startswith("PC 1")


def test_columns_and_errors(demo):
    X, gm = demo
    ax = plot_components(gm, X, features=(1, 0))
    e = _ellipses(ax)[0]
    np.testing.assert_allclose(e.center, gm.means_[0, ::-1])
    with pytest.raises(ValueError, match=r"two column indices in \[0, 2\); got \(0, 7\)"):
        plot_components(gm, X, features=(0, 7))
    with pytest.raises(ValueError, match="kind must be"):
        plot_components(gm, X, kind="violin")
    with pytest.raises(ValueError, match="X has 3 features but the model was fitted on 2"):
        plot_components(gm, np.zeros((10, 3)))


def test_hexbin_and_model_only(demo):
    X, gm = demo
    ax = plot_components(gm, X, kind="hexbin")
    assert ax.collections and len(_ellipses(ax)) == 10
    ax = plot_components(gm)  # no data: ellipses only
    assert len(_ellipses(ax)) == 10


def test_takes_and_returns_axes(demo):
    X, gm = demo
    fig, axes = plt.subplots(1, 4)
    assert plot_components(gm, X, ax=axes[0]) is axes[0]
    assert plot_lower_bound(gm, ax=axes[1]) is axes[1]
    assert plot_uncertainty(gm, X, ax=axes[2]) is axes[2]
    assert plot_parameters(gm, ax=axes[3]) is axes[3]


class _CountingSource:
    """A raw adapter over a .npy file that counts the rows it hands out per block."""

    reiterable = True

    def __init__(self, path):
        self.mm = np.load(path, mmap_mode="r")
        self.n_samples, self.n_features = self.mm.shape
        self.dtype = self.mm.dtype
        self.name = "counting"
        self.largest_block = 0
        self.rows_read = 0

    def raw_chunks(self, rows):
        for start in range(0, self.n_samples, rows):
            block = np.array(self.mm[start:start + rows])
            self.largest_block = max(self.largest_block, len(block))
            self.rows_read += len(block)
            yield block, None


def test_large_npy_is_sampled_not_loaded(tmp_path, demo):
    _, gm = demo
    n = 2_500_000
    path = tmp_path / "big.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, 2))
    for start in range(0, n, 500_000):  # column 0 holds the row index, column 1 noise
        mm[start:start + 500_000, 0] = np.arange(start, start + 500_000)
        mm[start:start + 500_000, 1] = np.random.default_rng(start).normal(size=500_000)
    del mm
    src = _CountingSource(path)
    from fastem.data import open_source
    rows, total = _common.sample_rows(open_source(src, chunk_size=100_000), 5_000)
    assert total == n and rows.shape == (5_000, 2)
    assert src.largest_block <= 100_000  # never more than one chunk in memory at once
    assert src.rows_read == n  # one streaming pass
    idx = rows[:, 0]
    assert len(np.unique(idx)) == len(idx)  # without replacement
    # Uniform over the whole file, not its head: deciles hold about a tenth each.
    counts = np.bincount((idx * 10 // n).astype(int), minlength=10)
    assert counts.min() > 400 and counts.max() < 600, counts
    ax = plot_components(gm, os.fspath(path), max_points=5_000)
    assert "of 2,500,000 rows" in ax.get_title()


@pytest.mark.slow
def test_ten_million_rows_stay_within_memory(tmp_path, demo):
    import subprocess
    import sys
    _, gm = demo
    n = 10_000_000
    path = tmp_path / "huge.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, 2))
    for start in range(0, n, 1_000_000):
        mm[start:start + 1_000_000] = np.random.default_rng(start).normal(size=(1_000_000, 2))
    del mm
    small = tmp_path / "small.npy"
    np.save(small, np.random.default_rng(1).normal(size=(1000, 2)))
    model = tmp_path / "m.npz"
    gm.save(model)

    def peak_mb(data):
        code = ("import resource, sys, matplotlib; matplotlib.use('Agg');"
                "from fastem.io import load; from fastem.plot import plot_components;"
                f"plot_components(load({os.fspath(model)!r}), {os.fspath(data)!r});"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
        return int(out.stdout.split()[-1]) / 1024

    grown = peak_mb(path) - peak_mb(small)
    # One chunk (about 32 MB) plus a 20,000-row sample, not the 153 MB file.
    assert grown < 0.5 * n * 16 / 2**20, grown


def test_sample_is_uniform_even_for_data_made_with_the_same_seed():
    # Regression: the demo data comes from default_rng(0); an unsalted sample drawn with
    # default_rng(0) reused the label-choosing uniforms and kept only two components.
    X, labels, weights, _ = _demo_data(50_000, 0)
    rows, _ = _common.sample_rows(X, 20_000, seed=0)
    lookup = {tuple(r): lab for r, lab in zip(X, labels)}
    freq = np.bincount([lookup[tuple(r)] for r in rows], minlength=5) / len(rows)
    np.testing.assert_allclose(freq, weights, atol=0.02)


def test_lower_bound_plot(demo):
    _, gm = demo
    ax = plot_lower_bound(gm)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), gm.lower_bounds_)
    assert f"after {gm.n_iter_} iterations" in ax.get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="no lower_bounds_"):
        plot_lower_bound(GaussianMixture(2))


class _Selection:
    def __init__(self, table, best):
        self.table_, self.best_params_ = table, best


@pytest.fixture(scope="module")
def selection():
    X = _demo_data(3000, 4)[0]
    rows = []
    for cov_type in ("full", "diag"):
        for k in range(1, 7):
            gm = GaussianMixture(k, covariance_type=cov_type, random_state=0).fit(X)
            rows.append({"n_components": k, "covariance_type": cov_type,
                         "bic": gm.bic(X), "aic": gm.aic(X)})
    best = min(rows, key=lambda r: r["bic"])
    return _Selection(rows, {"n_components": best["n_components"],
                             "covariance_type": best["covariance_type"]}), best


@pytest.mark.parametrize("as_columns", [False, True])
def test_selection_plot(selection, as_columns):
    sel, best = selection
    if as_columns:
        sel = _Selection({c: [r[c] for r in sel.table_] for c in sel.table_[0]},
                         sel.best_params_)
    ax = plot_selection(sel)
    assert [line.get_label() for line in ax.lines] == ["full", "diag"]
    assert len(ax.lines[0].get_xdata()) == 6
    chosen = ax.collections[-1].get_offsets()[0]
    np.testing.assert_allclose(chosen, [best["n_components"], best["bic"]])
    assert best["n_components"] == 5  # the demo data has five components
    with pytest.raises(ValueError, match="no 'icl' column"):
        plot_selection(sel, criterion="icl")


def test_uncertainty_is_one_minus_max_responsibility(demo):
    X, gm = demo
    ax = plot_uncertainty(gm, X, max_points=len(X))
    shown = np.sort(ax.collections[0].get_array())
    expected = np.sort(1 - gm.predict_proba(X).max(axis=1))
    np.testing.assert_allclose(shown, expected)


def test_heatmap_for_models_without_covariances():
    class Bernoulli:
        weights_ = np.array([0.6, 0.4])
        probabilities_ = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.5]])

    ax = plot_components(Bernoulli(), None)
    np.testing.assert_allclose(ax.images[0].get_array(), Bernoulli.probabilities_)
    assert not _ellipses(ax)

    class Poisson:
        weights_ = np.array([0.5, 0.5])
        means_ = np.array([[1.0, 7.0], [3.0, 0.5]])

    ax = plot_components(Poisson())
    np.testing.assert_allclose(ax.images[0].get_array(), Poisson.means_)


def test_every_estimator_type_has_a_picture():
    import fastem
    rng = np.random.default_rng(0)
    Xg = np.concatenate([rng.normal(0, 1, (150, 2)), rng.normal(5, 1, (150, 2))])
    codes = rng.integers(0, 3, (300, 2))
    codes[:, 1] = rng.integers(0, 4, 300)
    for model in (fastem.BayesianGaussianMixture(n_components=2, random_state=0),
                  fastem.StudentMixture(2, random_state=0)):
        ax = plot_components(model.fit(Xg), Xg)
        assert len(_ellipses(ax)) == 2 * 2
        plt.close(ax.figure)
    cat = fastem.CategoricalMixture(2, random_state=0).fit(codes)
    ax = plot_components(cat, codes)   # one column per (column, code)
    np.testing.assert_allclose(ax.images[0].get_array(), np.hstack(cat.probabilities_))
    assert [t.get_text() for t in ax.get_xticklabels()][:4] == ["0:0", "0:1", "0:2", "1:0"]
    plt.close(ax.figure)
    X = np.column_stack([Xg, codes[:, 1], rng.poisson(3, 300)])
    mixed = fastem.MixedTypeMixture(2, columns={"gaussian": [0, 1], "categorical": [2],
                                                "poisson": [3]}, random_state=0).fit(X)
    fig = plot_components(mixed, X)
    panels = [a for a in fig.axes if a.images]
    assert [a.get_title().split(":")[0] for a in panels] == list(mixed.blocks_)
    np.testing.assert_allclose(panels[0].images[0].get_array(),
                               mixed.blocks_["gaussian"].means_)
    with pytest.raises(ValueError, match="figure of its own"):
        plot_parameters(mixed, ax=panels[0])
    plt.close(fig)


def _check_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    img = plt.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_cli_plot_fit_plot_and_info_json(tmp_path, capsys):
    data = tmp_path / "X.npy"
    np.save(data, _demo_data(3000, 5)[0])
    model, fit_png = tmp_path / "m.npz", tmp_path / "fit.png"
    assert main(["fit", str(data), "-k", "3", "-o", str(model), "-q", "--random-state", "0",
                 "--plot", str(fit_png)]) == 0
    _check_png(fit_png)
    with_data, without = tmp_path / "c.png", tmp_path / "lb.png"
    assert main(["plot", str(model), str(data), "-o", str(with_data), "--features", "pca"]) == 0
    assert main(["plot", str(model), "-o", str(without)]) == 0
    _check_png(with_data)
    _check_png(without)
    capsys.readouterr()
    assert main(["info", str(model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert len(info["lower_bounds_"]) == info["n_iter_"]
    with pytest.raises(SystemExit):
        main(["plot", str(model), "-o", str(without), "--features", "x"])
    assert "--features must be 'pca' or two column indices like '0,1'; got 'x'" in (
        capsys.readouterr().err)


def test_matplotlib_is_imported_only_when_plotting():
    import subprocess
    import sys
    code = "import sys, fastem.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == "False"


def test_missing_matplotlib_names_the_extra(monkeypatch, demo):
    import sys
    _, gm = demo
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    hint = r"needs matplotlib: pip install matplotlib \(or, in the fastem repository, pip install -e '\.\[plot\]'\)"
    with pytest.raises(ImportError, match=hint):
        plot_lower_bound(gm)
    from fastem.plot_command import make_figure       # the CLI's path says the same
    with pytest.raises(ImportError, match=hint):
        make_figure(gm, None, "never-written.png")


def test_pca_without_data_uses_model_samples(demo):
    _, gm = demo
    ax = plot_components(gm, features="pca", max_points=2_000)
    assert len(_ellipses(ax)) == 10 and ax.get_xlabel().startswith("PC 1")
