"""The ``fastem fit|predict|score|info`` sub-commands (argument handling only; the work is
done by :class:`fastem.GaussianMixture`, :mod:`fastem.data` and :mod:`fastem.io`)."""
from __future__ import annotations

import argparse
import json
import warnings
from typing import Callable

import numpy as np


def _open(args: argparse.Namespace):
    from .data import open_source
    columns = args.columns.split(",") if args.columns else None
    return open_source(args.data, chunk_size=args.chunk_size, key=args.key, columns=columns)


def _check_outputs(args: argparse.Namespace, source, *outputs: tuple) -> None:
    """Every output path usable and distinct from the input, before any work starts."""
    from .data.open import refuse_overwriting_input
    from .io import check_writable
    for path, what in outputs:
        if path:
            refuse_overwriting_input(path, source, what)
            check_writable(path, what)


def _cmd_fit(args: argparse.Namespace) -> int:
    from . import GaussianMixture
    from .data.open import same_file
    from .exceptions import ConvergenceWarning
    source = _open(args)
    _check_outputs(args, source, (args.output, "model file (-o)"),
                   (args.checkpoint, "checkpoint file"))
    if args.checkpoint and same_file(args.checkpoint, args.output):
        raise ValueError(f"The checkpoint {args.checkpoint!r} and the model file (-o) are the "
                         "same file; give them different paths.")
    gm = GaussianMixture(
        n_components=args.n_components, covariance_type=args.covariance_type, tol=args.tol,
        reg_covar=args.reg_covar, max_iter=args.max_iter, n_init=args.n_init,
        init_params=args.init_params, random_state=args.random_state,
        chunk_size=args.chunk_size, progress=not args.quiet, checkpoint=args.checkpoint,
        algorithm=args.algorithm, nan_policy=args.nan_policy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(source)
    gm.save(args.output)
    if args.algorithm == "online":
        how = f"one online pass of {gm.n_iter_} steps"
    else:
        how = f"{gm.n_iter_} iterations, converged={gm.converged_}"
    print(f"{source!r}: {source.n_features} features; {gm.n_components} components "
          f"({gm.covariance_type}), {how}, mean log-likelihood {gm.lower_bound_:.6f}. "
          f"Saved {args.output}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .io import load
    gm = load(args.model)
    source = _open(args)
    _check_outputs(args, source, (args.output, "labels file (-o)"),
                   (args.proba, "probabilities file (--proba)"))
    labels = gm.predict(source, out=args.output)
    print(f"Wrote {labels.shape[0]:,} labels to {args.output}")
    if args.proba:
        proba = gm.predict_proba(source, out=args.proba)
        print(f"Wrote {proba.shape[0]:,} x {proba.shape[1]} probabilities to {args.proba}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from .io import load
    gm = load(args.model)
    source = _open(args)
    _check_outputs(args, source, (args.output, "log-likelihoods file (-o)"))
    if args.output:
        lp = gm.score_samples(source, out=args.output)
        print(f"Wrote {lp.shape[0]:,} per-row log-likelihoods to {args.output}")
    mean, n = gm._mean_log_likelihood(source)
    print(f"mean log-likelihood {mean:.6f} over {n:,} rows; BIC "
          f"{-2 * mean * n + gm._n_parameters() * np.log(n):.1f}")
    return 0


def _cmd_impute(args: argparse.Namespace) -> int:
    from .io import load
    gm = load(args.model)
    source = _open(args)
    _check_outputs(args, source, (args.output, "imputed data file (-o)"))
    filled = gm.impute(source, sample=args.sample, random_state=args.random_state,
                       out=args.output)
    how = "draws from the conditionals" if args.sample else "conditional means"
    print(f"Wrote {filled.shape[0]:,} x {filled.shape[1]} rows with missing values filled "
          f"by {how} to {args.output}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .io import load
    gm = load(args.model)
    if args.json:
        print(json.dumps({"params": {k: v for k, v in gm.get_params().items()
                                     if not isinstance(v, np.ndarray)},
                          "n_features_in_": gm.n_features_in_, "n_iter_": gm.n_iter_,
                          "converged_": gm.converged_, "lower_bound_": gm.lower_bound_,
                          "lower_bounds_": [float(v) for v in gm.lower_bounds_],
                          "weights_": gm.weights_.tolist(), "means_": gm.means_.tolist()}))
        return 0
    k, d = gm.means_.shape
    print(f"{args.model}: GaussianMixture, {k} components, {d} features, covariance_type="
          f"{gm.covariance_type!r}")
    print(f"fit: {gm.n_iter_} iterations, converged={gm.converged_}, mean log-likelihood "
          f"{gm.lower_bound_:.6f}")
    order = np.argsort(-gm.weights_)
    print(f"{'component':>9}  {'weight':>8}  mean")
    for j in order:
        mean = ", ".join(f"{v:.4g}" for v in gm.means_[j][:6]) + (", ..." if d > 6 else "")
        print(f"{j:>9}  {gm.weights_[j]:>8.4f}  ({mean})")
    return 0


def add_commands(sub, add_data_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``fit``, ``predict``, ``score`` and ``info`` to the sub-parser ``sub``."""
    from .families import FAMILIES
    from .init import INITIALIZERS
    data_help = ("data file: .npy, .h5/.hdf5, .zarr or .parquet (CSV: convert first; "
                 "the error message shows how)")

    fit = sub.add_parser("fit", help="fit a mixture to a data file and save the model",
                         description="Fit a Gaussian mixture to DATA chunk by chunk (exact "
                                     "EM in bounded memory) and save it to an .npz file.")
    fit.add_argument("data", metavar="DATA", help=data_help)
    fit.add_argument("-k", "--n-components", type=int, required=True,
                     help="number of mixture components (required)")
    fit.add_argument("-o", "--output", required=True,
                     help="model file to write, .npz (required)")
    fit.add_argument("--covariance-type", choices=tuple(FAMILIES), default="full",
                     help="form of each component's covariance (default: %(default)s)")
    fit.add_argument("--init-params", choices=INITIALIZERS, default="kmeans",
                     help="how the initial parameters are found (default: %(default)s)")
    fit.add_argument("--max-iter", type=int, default=100,
                     help="EM iterations per initialisation at most (default: %(default)s)")
    fit.add_argument("--tol", type=float, default=1e-3,
                     help="stop when the mean log-likelihood changes by less than this "
                          "(default: %(default)s)")
    fit.add_argument("--reg-covar", type=float, default=1e-6,
                     help="added to every covariance's diagonal (default: %(default)s)")
    fit.add_argument("--n-init", type=int, default=1,
                     help="initialisations; the best is kept (default: %(default)s)")
    fit.add_argument("--random-state", type=int, default=None,
                     help="seed for a reproducible fit (default: a fresh random seed)")
    fit.add_argument("--checkpoint", default=None,
                     help="write the state here after every iteration; rerun the same "
                          "command to resume an interrupted fit (default: no checkpoint)")
    fit.add_argument("--algorithm", choices=("em", "online"), default="em",
                     help="'em': exact EM, a pass per iteration; 'online': one pass of "
                          "stepwise online EM, a step per chunk (default: %(default)s)")
    from .families.missing import NAN_POLICIES
    fit.add_argument("--nan-policy", choices=NAN_POLICIES, default="raise",
                     help="NaN (missing values) in DATA: 'raise' an error, 'omit' the rows "
                          "holding one, or 'marginalize' them (exact EM over each row's "
                          "observed values) (default: %(default)s)")
    fit.add_argument("-q", "--quiet", action="store_true",
                     help="no progress bar (default: show it)")
    add_data_args(fit)
    fit.set_defaults(func=_cmd_fit)

    pred = sub.add_parser("predict", help="write the most likely component of each row",
                          description="Label every row of DATA with a saved model, chunk by "
                                      "chunk; results go to .npy files.")
    pred.add_argument("model", metavar="MODEL", help="model file written by 'fastem fit'")
    pred.add_argument("data", metavar="DATA", help=data_help)
    pred.add_argument("-o", "--output", required=True,
                      help="labels file to write, .npy (required)")
    pred.add_argument("--proba", default=None,
                      help="also write the component probabilities to this .npy file "
                           "(default: not written)")
    add_data_args(pred)
    pred.set_defaults(func=_cmd_predict)

    score = sub.add_parser("score", help="mean log-likelihood of data under a saved model",
                           description="Print the mean log-likelihood and BIC of DATA under "
                                       "a saved model.")
    score.add_argument("model", metavar="MODEL", help="model file written by 'fastem fit'")
    score.add_argument("data", metavar="DATA", help=data_help)
    score.add_argument("-o", "--output", default=None,
                       help="also write per-row log-likelihoods to this .npy file "
                            "(default: not written)")
    add_data_args(score)
    score.set_defaults(func=_cmd_score)

    imp = sub.add_parser("impute", help="fill the missing values (NaN) of data from a model",
                         description="Replace every NaN of DATA by its conditional mean "
                                     "given the row's observed values under a saved model "
                                     "(or a draw from that conditional), chunk by chunk; "
                                     "the result goes to a .npy file.")
    imp.add_argument("model", metavar="MODEL", help="model file written by 'fastem fit'")
    imp.add_argument("data", metavar="DATA", help=data_help)
    imp.add_argument("-o", "--output", required=True,
                     help="imputed data file to write, .npy float64 (required)")
    imp.add_argument("--sample", action="store_true",
                     help="draw each missing block from its conditional (default: the "
                          "conditional mean)")
    imp.add_argument("--random-state", type=int, default=None,
                     help="seed of the draws with --sample (default: a fresh random seed)")
    add_data_args(imp)
    imp.set_defaults(func=_cmd_impute)

    info = sub.add_parser("info", help="describe a saved model",
                          description="Print the parameters and components of a model file.")
    info.add_argument("model", metavar="MODEL", help="model file written by 'fastem fit'")
    info.add_argument("--json", action="store_true",
                      help="machine-readable output (default: a table)")
    info.set_defaults(func=_cmd_info)
