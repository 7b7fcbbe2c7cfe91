"""Convergence, model-selection and uncertainty plots."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._common import get_ax, sample_rows

CRITERIA = ("bic", "icl", "aic")


def plot_lower_bound(model: Any, *, ax: Any = None):
    """The mean per-sample lower bound at each EM iteration of a fitted model.

    Parameters
    ----------
    model : fitted mixture with ``lower_bounds_`` (and ``n_iter_``, ``converged_``)
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    lb = getattr(model, "lower_bounds_", None)
    lb = np.asarray([] if lb is None else lb, dtype=np.float64)
    if lb.size == 0:
        raise ValueError("The model has no lower_bounds_ to plot; fit it first (models "
                         "saved by older fastem versions may not store them).")
    ax = get_ax(ax)
    it = np.arange(1, lb.size + 1)
    ax.plot(it, lb, marker="o" if lb.size <= 60 else None, markersize=3, color="C0")
    converged = bool(getattr(model, "converged_", False))
    ax.axvline(lb.size, color="C2" if converged else "C3", linestyle="--", linewidth=1,
               label=("converged" if converged else "not converged")
               + f" after {getattr(model, 'n_iter_', lb.size)} iterations")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("mean log-likelihood lower bound")
    ax.set_title("Convergence")
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_selection(selection: Any, *, criterion: str = "bic", ax: Any = None):
    """Criterion against the number of components, one line per covariance type.

    Parameters
    ----------
    selection : object with ``table_`` and ``best_params_``
        ``table_`` is a pandas DataFrame, a dict of columns, or a sequence of row dicts with
        ``n_components``, ``covariance_type`` and the criterion column; ``best_params_`` is
        a dict with the chosen ``n_components`` and ``covariance_type``.
    criterion : {"bic", "icl", "aic"}, default="bic"
        Lower is better (scikit-learn's sign convention).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}.")
    rows = _rows(selection.table_)
    if not rows or criterion not in rows[0]:
        have = sorted(rows[0]) if rows else []
        raise ValueError(f"selection.table_ has no {criterion!r} column; columns: {have}.")
    ax = get_ax(ax)
    types = list(dict.fromkeys(str(r["covariance_type"]) for r in rows))
    for i, t in enumerate(types):
        pts = sorted((int(r["n_components"]), float(r[criterion])) for r in rows
                     if str(r["covariance_type"]) == t)
        ks, vals = zip(*pts)
        ax.plot(ks, vals, marker="o", markersize=4, color=f"C{i}", label=t)
    best = getattr(selection, "best_params_", None) or {}
    match = [r for r in rows if int(r["n_components"]) == best.get("n_components")
             and str(r["covariance_type"]) == str(best.get("covariance_type"))]
    if match:
        ax.scatter([int(match[0]["n_components"])], [float(match[0][criterion])], s=160,
                   facecolors="none", edgecolors="black", linewidths=2, zorder=3,
                   label=f"chosen: K={best['n_components']}, {best['covariance_type']}")
    ax.set_xlabel("number of components K")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.set_title(f"Model selection by {criterion.upper()}")
    ax.legend(fontsize="small", title="covariance_type", title_fontsize="small")
    return ax


def _rows(table: Any) -> list:
    if hasattr(table, "to_dict"):  # pandas DataFrame
        return table.to_dict("records")
    if isinstance(table, dict):
        keys = list(table)
        return [dict(zip(keys, vals)) for vals in zip(*(table[k] for k in keys))]
    return [dict(r) for r in table]


def plot_uncertainty(model: Any, X: Any, *, features: Any = (0, 1), max_points: int = 20_000,
                     random_state: int = 0, ax: Any = None):
    """Each (sampled) point sized and shaded by its classification uncertainty.

    The uncertainty of a row is ``1 - max_k p(k | x)``, as in mclust's uncertainty plot:
    0 where one component owns the point, up to ``1 - 1/K`` where all share it.

    Parameters
    ----------
    model : fitted mixture with ``predict_proba``
    X : array-like or any source fastem reads
        Only a uniform sample of at most ``max_points`` rows is read into memory.
    features : (int, int) or "pca", default=(0, 1)
    max_points : int, default=20_000
    random_state : int, default=0
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from .components import projection
    rows, n_total = sample_rows(X, max_points, random_state)
    u = 1.0 - np.asarray(model.predict_proba(rows)).max(axis=1)
    center, A, labels = projection(features, rows.shape[1], rows)
    P = (rows - center) @ A
    order = np.argsort(u)  # uncertain points on top
    ax = get_ax(ax)
    from matplotlib.colors import ListedColormap
    import matplotlib
    # magma without its palest end, so certain points stay visible on white.
    cmap = ListedColormap(matplotlib.colormaps["magma_r"](np.linspace(0.12, 1.0, 256)))
    sc = ax.scatter(P[order, 0], P[order, 1], c=u[order], s=2 + 40 * u[order], cmap=cmap,
                    vmin=0.0, vmax=max(u.max(), 1e-12), linewidths=0, rasterized=True)
    ax.figure.colorbar(sc, ax=ax, label="uncertainty 1 - max p(k | x)")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(f"Classification uncertainty ({len(rows):,} of {n_total:,} rows)")
    return ax
