"""Shared helpers of :mod:`fastem.plot`: lazy matplotlib, row samples, covariance layouts."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np


_SALT = 0x706C6F74  # "plot"


def import_pyplot():
    """``matplotlib.pyplot``, or an ImportError naming the extra to install."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("fastem.plot needs matplotlib: pip install matplotlib (or, in the "
                          "fastem repository, pip install -e '.[plot]').") from None
    return plt


def get_ax(ax):
    """``ax`` itself, or a new Axes on a new figure."""
    if ax is not None:
        return ax
    plt = import_pyplot()
    _, ax = plt.subplots(figsize=(6.4, 4.8))
    return ax


def sample_rows(X: Any, max_points: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """A uniform sample of at most ``max_points`` rows of ``X`` and the total row count.

    ``X`` may be an array or any source :func:`fastem.data.open_source` reads (a ``.npy``
    path, HDF5, Zarr, Parquet, a callable of chunks). Out-of-core sources are streamed chunk
    by chunk through :func:`fastem.init.draw_sample`, so memory stays ``O(max_points +
    chunk)`` whatever the file size.
    """
    from ..data import is_out_of_core, open_source
    from ..data.sources import ArraySource
    from ..init import draw_sample
    if max_points < 1:
        raise ValueError(f"max_points must be a positive integer; got {max_points!r}.")
    if is_out_of_core(X):
        source = open_source(X)
    else:
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"X must be 2-D of shape (n_samples, n_features); got shape "
                             f"{arr.shape}.")
        source = ArraySource(arr)
    # Salt the seed: data generated from default_rng(seed) would otherwise share the
    # uniforms that pick the sample, and the sample would not be uniform over the data.
    rng = np.random.default_rng([int(seed), _SALT])
    rows, _ = draw_sample(source, max_points, rng)
    n = source.n_samples if source.n_samples is not None else len(rows)
    return rows, int(n)


def full_covariances(model: Any) -> Optional[np.ndarray]:
    """The covariances of a Gaussian-like model as ``(n_components, d, d)``, or None."""
    cov = getattr(model, "covariances_", None)
    if cov is None:
        return None
    means = np.asarray(model.means_)
    k, d = means.shape
    cov = np.asarray(cov, dtype=np.float64)
    kind = getattr(model, "covariance_type", None)
    if kind == "full" or (kind is None and cov.shape == (k, d, d)):
        return cov
    if kind == "tied" or (kind is None and cov.shape == (d, d)):
        return np.broadcast_to(cov, (k, d, d)).copy()
    if kind == "diag" or (kind is None and cov.shape == (k, d)):
        return np.einsum("kd,de->kde", cov, np.eye(d))
    if kind == "spherical" or (kind is None and cov.shape == (k,)):
        return cov[:, None, None] * np.eye(d)[None]
    raise ValueError(f"Cannot read covariances_ of shape {cov.shape} with "
                     f"covariance_type={kind!r}.")
