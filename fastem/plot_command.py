"""``fastem plot`` and ``fastem fit --plot``: pictures from the command line.

Kept apart from :mod:`fastem.cli` and :mod:`fastem.commands`; ``cli.build_parser`` calls
:func:`add_plot_commands` once after the other sub-commands exist.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable, Optional


def _features(text: str):
    if text == "pca":
        return "pca"
    try:
        i, j = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--features must be 'pca' or two column indices like '0,1'; got {text!r}.")
    return (i, j)


def make_figure(model: Any, data: Optional[Any], output: str, *, features: Any = (0, 1),
                max_points: int = 20_000, dpi: int = 100) -> str:
    """Save the picture of ``model`` to ``output``: components over ``data`` when given
    (lower bound beside them), otherwise the lower bound alone. Returns ``output``."""
    from .plot import plot_components, plot_lower_bound
    from .plot._common import import_pyplot
    plt = import_pyplot()          # a clear ImportError when matplotlib is missing
    plt.switch_backend("Agg")      # files only: no window, whatever the default backend
    lb = getattr(model, "lower_bounds_", None)
    has_lb = lb is not None and len(lb) > 0
    if data is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        if has_lb:
            plot_lower_bound(model, ax=ax)
        else:
            plot_components(model, features=features, max_points=max_points, ax=ax)
    else:
        fig, axes = plt.subplots(1, 2 if has_lb else 1, figsize=(12.8 if has_lb else 6.4, 5.2),
                                 squeeze=False, gridspec_kw={"width_ratios": [3, 2]}
                                 if has_lb else None)
        plot_components(model, data, features=features, max_points=max_points, ax=axes[0, 0])
        if has_lb:
            plot_lower_bound(model, ax=axes[0, 1])
    fig.tight_layout()
    fig.savefig(output, dpi=dpi)
    plt.close(fig)
    return output


def _cmd_plot(args: argparse.Namespace) -> int:
    from .io import load
    model = load(args.model)
    make_figure(model, _data(args), args.output, features=args.features,
                max_points=args.max_points, dpi=args.dpi)
    print(f"Wrote {args.output}")
    return 0


def _data(args: argparse.Namespace):
    if getattr(args, "data", None) is None:
        return None
    if not (args.key or args.columns or args.chunk_size):
        return args.data
    from .data import open_source
    columns = args.columns.split(",") if args.columns else None
    return open_source(args.data, chunk_size=args.chunk_size, key=args.key, columns=columns)


def add_plot_commands(sub, add_data_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``plot`` sub-command and ``fit --plot`` to the sub-parsers ``sub``."""
    p = sub.add_parser("plot", help="draw a saved model (over its data) to an image file",
                       description="Draw a saved model: with DATA, its components over a "
                                   "uniform sample of the rows plus the lower bound per "
                                   "iteration; without DATA, the lower bound alone.")
    p.add_argument("model", metavar="MODEL", help="model file written by 'fastem fit'")
    p.add_argument("data", metavar="DATA", nargs="?", default=None,
                   help="data file: .npy, .h5/.hdf5, .zarr or .parquet (only a sample is read)")
    p.add_argument("-o", "--output", required=True, help="image to write (.png, .svg, .pdf; required)")
    _add_plot_options(p)
    add_data_args(p)
    p.set_defaults(func=_cmd_plot)

    fit = sub.choices.get("fit")
    if fit is not None:
        fit.add_argument("--plot", metavar="IMAGE", default=None,
                         help="also draw the fitted model over DATA to this image file "
                              "(default: no picture)")
        _add_plot_options(fit)
        fit_func = fit.get_default("func")

        def fit_then_plot(args: argparse.Namespace) -> int:
            code = fit_func(args)
            if code == 0 and args.plot:
                from .io import load
                make_figure(load(args.output), _data(args), args.plot,
                            features=args.features, max_points=args.max_points, dpi=args.dpi)
                print(f"Wrote {args.plot}")
            return code

        fit.set_defaults(func=fit_then_plot)


def _add_plot_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features", type=_features, default="0,1",
                   help="two column indices like '0,1', or 'pca' (default 0,1)")
    p.add_argument("--max-points", type=int, default=20_000,
                   help="rows sampled uniformly for the picture (default 20000)")
    p.add_argument("--dpi", type=int, default=100, help="image resolution (default 100)")
