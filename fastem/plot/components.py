"""``plot_components``: a fitted mixture drawn over (a sample of) its data."""
from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from ._common import full_covariances, get_ax, sample_rows

FeaturesLike = Union[Sequence[int], str]


def projection(features: FeaturesLike, n_features: int, rows: np.ndarray = None
               ) -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """The linear map ``x -> (x - center) @ A`` onto the plotting plane.

    Parameters
    ----------
    features : (int, int) or "pca"
        Two column indices, or ``"pca"`` for the two leading principal axes of ``rows``.
    n_features : int
    rows : ndarray of shape (n_rows, n_features), optional
        The (sampled) data the principal axes come from; needed for ``"pca"``.

    Returns
    -------
    center : ndarray of shape (n_features,)
    A : ndarray of shape (n_features, 2)
    labels : (str, str)
        Axis labels.
    """
    if isinstance(features, str):
        if features != "pca":
            raise ValueError(f"features must be two column indices or 'pca'; got "
                             f"{features!r}.")
        if rows is None or len(rows) < 2:
            raise ValueError("features='pca' needs data X with at least 2 rows to compute "
                             "the principal axes.")
        center = rows.mean(axis=0)
        evals, evecs = np.linalg.eigh(np.cov(rows, rowvar=False).reshape(n_features,
                                                                          n_features))
        order = np.argsort(evals)[::-1][:2]
        A = evecs[:, order]
        if A.shape[1] < 2:  # one feature: pad with a zero axis
            A = np.column_stack([A, np.zeros(n_features)])
        share = evals[order] / max(evals.sum(), np.finfo(float).tiny)
        return center, A, (f"PC 1 ({share[0]:.0%} of variance)",
                           f"PC 2 ({share[-1]:.0%} of variance)")
    cols = [int(c) for c in features]
    if len(cols) != 2 or any(not -n_features <= c < n_features for c in cols):
        raise ValueError(f"features must be two column indices in [0, {n_features}); got "
                         f"{features!r}.")
    A = np.zeros((n_features, 2))
    A[cols[0], 0] = A[cols[1], 1] = 1.0
    return np.zeros(n_features), A, (f"feature {cols[0] % n_features}",
                                     f"feature {cols[1] % n_features}")


def project_gaussians(means: np.ndarray, covariances: np.ndarray, center: np.ndarray,
                      A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means ``(mu - center) @ A`` and covariances ``A.T @ S @ A`` on the plane.

    If ``x ~ N(mu, S)`` then ``(x - center) @ A ~ N((mu - center) @ A, A.T S A)``: the
    ellipses are exact images of the components, not re-fitted ones.
    """
    return (means - center) @ A, np.einsum("di,kde,ej->kij", A, covariances, A)


def _ellipse(mean2, cov2, n_std, color, **kw):
    from matplotlib.patches import Ellipse
    evals, evecs = np.linalg.eigh(cov2)
    evals = np.clip(evals, 0.0, None)
    angle = np.degrees(np.arctan2(evecs[1, 1], evecs[0, 1]))
    return Ellipse(tuple(mean2), 2 * n_std * np.sqrt(evals[1]), 2 * n_std * np.sqrt(evals[0]),
                   angle=angle, fill=False, edgecolor=color, **kw)


def plot_components(model: Any, X: Any = None, *, features: FeaturesLike = (0, 1),
                    n_std: Sequence[float] = (1, 2), max_points: int = 20_000,
                    kind: str = "scatter", random_state: int = 0, ax: Any = None):
    """Draw a fitted mixture: data coloured by component and each component's ellipses.

    Parameters
    ----------
    model : fitted mixture
        A Gaussian-like model (``means_`` and ``covariances_``, any ``covariance_type``)
        gets ellipses; a model with ``probabilities_`` or a ``means_`` matrix and no
        covariances (Bernoulli, Poisson, ...) gets a heatmap of its parameters
        (see :func:`plot_parameters`).
    X : array-like or any source fastem reads, optional
        The data: an array, a ``.npy``/HDF5/Zarr/Parquet path, a callable of chunks. Only a
        uniform sample of at most ``max_points`` rows is kept in memory (out-of-core
        sources are streamed once).
    features : (int, int) or "pca", default=(0, 1)
        Two columns to show, or ``"pca"``: the two leading principal axes of the sampled
        rows. Points, means and covariances go through the same linear map, so each
        ellipse is the exact projection of its component.
    n_std : sequence of float, default=(1, 2)
        Draw one ellipse per component at each of these numbers of standard deviations
        (one ``matplotlib.patches.Ellipse`` each).
    max_points : int, default=20_000
        Rows sampled uniformly (without replacement) for the points and the PCA map.
    kind : {"scatter", "hexbin"}, default="scatter"
        Points coloured by predicted component, or a grey 2-D histogram of the sample.
    random_state : int, default=0
        Seed of the row sample.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import fastem, numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 2))
    >>> gm = fastem.GaussianMixture(2, random_state=0).fit(X)
    >>> ax = plot_components(gm, X)  # doctest: +SKIP
    """
    covs = full_covariances(model)
    if covs is None:
        return plot_parameters(model, ax=ax)
    if kind not in ("scatter", "hexbin"):
        raise ValueError(f"kind must be 'scatter' or 'hexbin'; got {kind!r}.")
    means = np.asarray(model.means_, dtype=np.float64)
    weights = np.asarray(model.weights_, dtype=np.float64)
    k, d = means.shape
    rows = None
    if X is not None:
        rows, n_total = sample_rows(X, max_points, random_state)
        if rows.shape[1] != d:
            raise ValueError(f"X has {rows.shape[1]} features but the model was fitted on {d}.")
    elif features == "pca":
        rows = model.sample(max_points)[0] if hasattr(model, "sample") else None
    center, A, labels = projection(features, d, rows)
    m2, c2 = project_gaussians(means, covs, center, A)
    ax = get_ax(ax)
    import matplotlib.pyplot as plt
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    colors = [cmap(j % cmap.N) for j in range(k)]
    if rows is not None and X is not None:
        P = (rows - center) @ A
        if kind == "hexbin":
            ax.hexbin(P[:, 0], P[:, 1], gridsize=60, cmap="Greys", mincnt=1, bins="log")
        else:
            lab = np.asarray(model.predict(rows))
            dense = len(P) > 5_000  # small data sets get bigger, more opaque points
            ax.scatter(P[:, 0], P[:, 1], c=np.asarray(colors)[lab], s=3 if dense else 10,
                       alpha=0.2 if dense else 0.5,
                       linewidths=0, rasterized=True)
        shown = len(rows)
        ax.set_title(f"{k} components on {shown:,} of {n_total:,} rows"
                     if shown < n_total else f"{k} components on {n_total:,} rows")
    else:
        ax.set_title(f"{k} components")
    for j in range(k):
        for s in n_std:
            ax.add_patch(_ellipse(m2[j], c2[j], float(s), colors[j], linewidth=1.8, zorder=2.5,
                                  alpha=1.0 if s == min(n_std) else 0.7))
        ax.scatter(m2[j, 0], m2[j, 1], s=30 + 400 * weights[j], color=colors[j],
                   edgecolors="black", linewidths=0.8, zorder=3,
                   label=f"{j}: weight {weights[j]:.2f}")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.autoscale_view()
    # Few components: legend inside; many: beside the axes, where it hides no data.
    outside = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)} if k > 5 else {"loc": "best"}
    ax.legend(fontsize="small", title="component", title_fontsize="small", markerscale=0.6,
              framealpha=0.8, ncol=1 if k <= 12 else 2, borderaxespad=0.0 if k > 5 else 0.5,
              **outside)
    return ax


def _parameter_matrix(holder: Any) -> tuple[np.ndarray, str, list]:
    """The per-component parameters of ``holder`` as one (K, columns) matrix, its name and
    the column labels: categorical probabilities (a list of (K, C_d) arrays) side by side,
    labelled ``column:code``; otherwise ``probabilities_`` or ``means_`` as they are."""
    name = "probabilities_" if hasattr(holder, "probabilities_") else "means_"
    value = getattr(holder, name)
    if isinstance(value, (list, tuple)):
        labels = [f"{d}:{c}" for d, block in enumerate(value) for c in range(block.shape[1])]
        return np.concatenate([np.asarray(b, np.float64) for b in value], axis=1), name, labels
    P = np.asarray(value, dtype=np.float64)
    if P.ndim != 2:
        P = P.reshape(P.shape[0], -1)
    return P, name, [str(j) for j in range(P.shape[1])]


def _heatmap(ax: Any, P: np.ndarray, name: str, labels: list, weights: Any,
             title: str) -> None:
    k = P.shape[0]
    im = ax.imshow(P, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label=name.rstrip("_"))
    ax.set_yticks(range(k))
    ax.set_yticklabels([f"{j} ({weights[j]:.2f})" if weights is not None else str(j)
                        for j in range(k)])
    ax.set_ylabel("component (weight)")
    coded = any(":" in label for label in labels)
    if len(labels) <= 40:
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=90 if len(labels) > 12 else 0)
    ax.set_xlabel("column:code" if coded else "feature")
    ax.set_title(title)


def plot_parameters(model: Any, *, ax: Any = None):
    """Heatmap of per-component parameters (latent-class profile), K rows by D columns.

    Used for families without covariances: ``probabilities_`` (Bernoulli; categorical, one
    column per (column, code)) when present, else ``means_`` (e.g. Poisson rates). A
    mixed-type model (``blocks_``) gets one heatmap per block, side by side, in a new figure.

    Parameters
    ----------
    model : fitted mixture
    ax : matplotlib Axes, optional
        Not accepted for a mixed-type model, which draws a figure of its own.

    Returns
    -------
    matplotlib.axes.Axes, or matplotlib.figure.Figure for a mixed-type model
    """
    weights = getattr(model, "weights_", None)
    blocks = getattr(model, "blocks_", None)
    if isinstance(blocks, dict):
        if ax is not None:
            raise ValueError("A mixed-type model draws one panel per block in a figure of "
                             "its own; call plot_components(model) without ax.")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(blocks), figsize=(4.8 * len(blocks), 4.2),
                                 squeeze=False)
        for panel, (family, block) in zip(axes[0], blocks.items()):
            P, name, labels = _parameter_matrix(block)
            _heatmap(panel, P, name, labels, weights, f"{family}: {name.rstrip('_')}")
        fig.tight_layout()
        return fig
    P, name, labels = _parameter_matrix(model)
    ax = get_ax(ax)
    _heatmap(ax, P, name, labels, weights, f"{name.rstrip('_')} per component")
    return ax
