"""Generate the README pictures in docs/img/ (run from the repository root).

    python docs/make_figures.py

Needs matplotlib and scikit-learn (for iris and digits). Every picture is made with the
public ``fastem.plot`` functions; the code below is what the README shows.
"""
from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fastem  # noqa: E402
from fastem.cli import _demo_data  # noqa: E402  (the data of `fastem demo`)
from fastem.plot import (plot_components, plot_lower_bound, plot_selection,  # noqa: E402
                         plot_uncertainty)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "img")
DPI = 100


def save(ax, name):
    ax.figure.tight_layout()
    path = os.path.join(OUT, name)
    ax.figure.savefig(path, dpi=DPI, pil_kwargs={"optimize": True})
    plt.close(ax.figure)
    print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KB)")


class Sweep:
    """A hand-made model-selection result: ``table_`` rows and ``best_params_``."""

    def __init__(self, X, ks, cov_types):
        self.table_ = []
        for cov_type in cov_types:
            for k in ks:
                gm = fastem.GaussianMixture(k, covariance_type=cov_type, n_init=2,
                                            random_state=0).fit(X)
                self.table_.append({"n_components": k, "covariance_type": cov_type,
                                    "bic": gm.bic(X), "aic": gm.aic(X)})
        best = min(self.table_, key=lambda r: r["bic"])
        self.best_params_ = {"n_components": best["n_components"],
                             "covariance_type": best["covariance_type"]}


def main():
    os.makedirs(OUT, exist_ok=True)

    # The demo data: 200,000 points from 5 Gaussians (as `fastem demo`).
    X, _, _, _ = _demo_data(200_000, 0)
    gm = fastem.GaussianMixture(n_components=5, n_init=2, random_state=0).fit(X)
    save(plot_components(gm, X), "demo_components.png")
    save(plot_lower_bound(gm), "demo_lower_bound.png")
    save(plot_uncertainty(gm, X), "demo_uncertainty.png")
    save(plot_selection(Sweep(X[:20_000], range(1, 9),
                              ("full", "tied", "diag", "spherical"))), "demo_bic.png")

    from sklearn.datasets import load_digits, load_iris
    from sklearn.decomposition import PCA

    # Iris: 4 features, 3 species; shown on its two leading principal axes.
    iris = load_iris().data
    gm = fastem.GaussianMixture(n_components=3, n_init=5, random_state=0).fit(iris)
    save(plot_components(gm, iris, features="pca"), "iris_pca.png")

    # Digits: 64 pixels -> 10 principal components, 10 components fitted there.
    digits = PCA(n_components=10, random_state=0).fit_transform(load_digits().data)
    gm = fastem.GaussianMixture(n_components=10, n_init=3, random_state=0).fit(digits)
    _, ax = plt.subplots(figsize=(8.0, 4.8))  # room for the legend beside the axes
    save(plot_components(gm, digits, features="pca", n_std=(1,), ax=ax), "digits_pca.png")


if __name__ == "__main__":
    main()
