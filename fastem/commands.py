"""The ``fastem fit|predict|score|info`` sub-commands (argument handling only; the work is
done by :class:`fastem.GaussianMixture`, :mod:`fastem.data` and :mod:`fastem.io`)."""
from __future__ import annotations

import argparse
import json
import os
import warnings
from typing import Callable

import numpy as np


def _open(args: argparse.Namespace, family=None):
    from .data import open_source
    columns = args.columns.split(",") if args.columns else None
    if family is not None:      # a non-Gaussian family checks (and keeps the dtype of) chunks
        return open_source(args.data, chunk_size=args.chunk_size, key=args.key,
                           columns=columns, family=family)
    return open_source(args.data, chunk_size=args.chunk_size, key=args.key, columns=columns)


def _model_family(model):
    """The component family of a loaded non-Gaussian model (``None`` for the Gaussian)."""
    return model._fitted_family() if hasattr(model, "_fitted_family") else None


def _family_estimator(args: argparse.Namespace):
    """The estimator ``fastem fit --family NAME`` builds: the common options, plus every
    other parameter of the estimator that a sub-command option of the same name set."""
    import inspect
    from .families.registry import estimator_for
    cls = estimator_for(args.family)
    names = set(inspect.signature(cls.__init__).parameters) - {"self"}
    kwargs = dict(n_components=args.n_components, tol=args.tol, max_iter=args.max_iter,
                  n_init=args.n_init, init_params=args.init_params,
                  random_state=args.random_state, chunk_size=args.chunk_size,
                  progress=not args.quiet, checkpoint=args.checkpoint,
                  algorithm=args.algorithm)
    for name in sorted(names - set(kwargs)):
        value = getattr(args, name, None)
        if value is not None:
            kwargs[name] = value
    if args.family == "mixed":      # --columns picks Parquet columns; --blocks the blocks
        kwargs["columns"] = parse_blocks(args.blocks) if getattr(args, "blocks", None) else None
        kwargs.pop("covariance_type", None)
    elif getattr(args, "blocks", None):
        raise ValueError(f"--blocks is for --family mixed; got --family {args.family}.")
    return cls(**{k: v for k, v in kwargs.items() if k in names})


def parse_blocks(text: str) -> dict:
    """``--blocks 'gaussian=a,b;categorical=c;poisson=3'`` -> ``{"gaussian": ["a", "b"],
    "categorical": ["c"], "poisson": [3]}`` (an all-digit column is a 0-based index)."""
    out: dict = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        family, eq, cols = part.partition("=")
        family = family.strip()
        names = [c.strip() for c in cols.split(",") if c.strip()]
        if not eq or not family or not names:
            raise ValueError(f"--blocks: {part!r} is not FAMILY=COL,COL (e.g. "
                             "'gaussian=a,b;categorical=c;poisson=d').")
        if family in out:
            raise ValueError(f"--blocks names the family {family!r} twice; list all its "
                             "columns once.")
        out[family] = [int(c) if c.isdigit() else c for c in names]
    if not out:
        raise ValueError(f"--blocks {text!r} gives no FAMILY=COL,COL block.")
    return out


def _cmd_fit_family(args: argparse.Namespace) -> int:
    """``fastem fit --family NAME`` for a family other than the Gaussian."""
    from .data.open import same_file
    from .exceptions import ConvergenceWarning
    model = _family_estimator(args)
    if hasattr(model, "_resolve_columns"):     # column names of --blocks, against DATA
        model._resolve_columns(_open(args))
    source = _open(args, family=model._checker())
    _check_outputs(args, source, (args.output, "model file (-o)"),
                   (args.checkpoint, "checkpoint file"))
    if args.checkpoint and same_file(args.checkpoint, args.output):
        raise ValueError(f"The checkpoint {args.checkpoint!r} and the model file (-o) are the "
                         "same file; give them different paths.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(source)
    model.save(args.output)
    if args.algorithm == "online":
        how = f"one online pass of {model.n_iter_} steps"
    else:
        how = f"{model.n_iter_} iterations, converged={model.converged_}"
    print(f"{source!r}: {source.n_features} features; {model.n_components} components "
          f"({args.family}), {how}, mean log-likelihood {model.lower_bound_:.6f}. "
          f"Saved {args.output}")
    return 0


def _cmd_info_family(args: argparse.Namespace, model) -> int:
    """``fastem info`` of a non-Gaussian model: its spec and public fitted arrays."""
    arrays = {k: v for k, v in model._fitted_attributes(model._params_from_attributes())
              .items() if not k.startswith("_")}
    if args.json:
        print(json.dumps({"estimator": type(model).__name__, "spec": model._family_spec,
                          "params": {k: v for k, v in model.get_params().items()
                                     if not isinstance(v, np.ndarray)},
                          "n_features_in_": model.n_features_in_, "n_iter_": model.n_iter_,
                          "converged_": model.converged_,
                          "lower_bound_": model.lower_bound_,
                          "lower_bounds_": [float(v) for v in model.lower_bounds_],
                          **{k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else
                             [np.asarray(a).tolist() for a in v] for k, v in arrays.items()},
                          **_info_extra(model)}))
        return 0
    k, d = len(model.weights_), model.n_features_in_
    print(f"{args.model}: {type(model).__name__}, {k} components, {d} features, family "
          f"{model._family_spec!r}")
    print(f"fit: {model.n_iter_} iterations, converged={model.converged_}, mean "
          f"log-likelihood {model.lower_bound_:.6f}")
    for key, value in _info_extra(model).items():
        print(f"{key.replace('_', ' ')}: {value}")
    means = getattr(model, "means_", None)
    order = np.argsort(-model.weights_)
    print(f"{'component':>9}  {'weight':>8}" + ("  mean" if means is not None else ""))
    for j in order:
        row = "" if means is None else "  (" + ", ".join(
            f"{v:.4g}" for v in means[j][:6]) + (", ...)" if d > 6 else ")")
        print(f"{j:>9}  {model.weights_[j]:>8.4f}{row}")
    return 0


def _info_extra(model) -> dict:
    """What a model adds to ``fastem info`` (e.g. a Bayesian mixture's effective number of
    components), from its ``_info_extra()`` when it has one."""
    extra = getattr(model, "_info_extra", None)
    return {} if extra is None else dict(extra())


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
    if getattr(args, "model", None) == "bayesian":   # --model bayesian: variational Bayes
        args.family = "bayesian_gaussian"
    if getattr(args, "family", "gaussian") != "gaussian":
        return _cmd_fit_family(args)
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
    source = _open(args, _model_family(gm))
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
    source = _open(args, _model_family(gm))
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
    if not hasattr(gm, "impute"):
        raise ValueError(f"{args.model} holds a {type(gm).__name__}, which cannot impute; "
                         "impute works with GaussianMixture, BayesianGaussianMixture, "
                         "StudentMixture, BernoulliMixture, PoissonMixture and "
                         "CategoricalMixture models.")
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
    if _model_family(gm) is not None:
        return _cmd_info_family(args, gm)
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


def _parse_ks(text: str) -> list:
    """``"1-9"``, ``"2,4,8"`` or ``"1-3,6"`` as a list of component counts."""
    ks: list = []
    try:
        for part in text.split(","):
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-"))
                ks.extend(range(lo, hi + 1))
            else:
                ks.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"-k must be a range like '1-9', a list like '2,4,8' or both ('1-3,6'); got "
            f"{text!r}.") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"-k needs component counts >= 1; got {text!r}.")
    return ks


def _parse_types(text: str) -> list:
    from .families import FAMILIES
    types = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in types if t not in FAMILIES]
    if bad or not types:
        raise argparse.ArgumentTypeError(
            f"--covariance-types must be a comma-separated list of {', '.join(FAMILIES)}; "
            f"got {text!r}.")
    return types


def _cmd_select(args: argparse.Namespace) -> int:
    import sys
    from . import GaussianMixtureSelection
    from .exceptions import ConvergenceWarning
    source = _open(args)
    _check_outputs(args, source, (args.output, "model file (-o)"),
                   (args.plot, "image file (--plot)"))
    ks = args.n_components if isinstance(args.n_components, list) else _parse_ks(
        args.n_components)
    types = args.covariance_types if isinstance(args.covariance_types, list) else \
        _parse_types(args.covariance_types)
    sel = GaussianMixtureSelection(
        ks, covariance_types=types, criterion=args.criterion, n_init=args.n_init,
        init_params=args.init_params, tol=args.tol, reg_covar=args.reg_covar,
        max_iter=args.max_iter, random_state=args.random_state, chunk_size=args.chunk_size,
        progress=not args.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sel.fit(source)
    print(f"{source!r}: {source.n_features} features; {len(sel.table_)} candidates in "
          f"{sel.n_passes_} passes over the data (random_state={sel.random_state_})")
    print(sel.table_)
    best = sel.best_params_
    print(f"best by {args.criterion.upper()}: n_components={best['n_components']}, "
          f"covariance_type={best['covariance_type']!r}")
    if args.output:
        sel.best_estimator_.save(args.output)
        print(f"Saved {args.output}")
    if args.plot:
        from .plot import plot_selection
        from .plot._common import import_pyplot
        plt = import_pyplot()
        plt.switch_backend("Agg")
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        plot_selection(sel, criterion=args.criterion, ax=ax)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        plt.close(fig)
        print(f"Wrote {args.plot}")
    sys.stdout.flush()
    return 0


def _cmd_precompile(args: argparse.Namespace) -> int:
    from .precompile import WORKLOADS, precompile
    if args.list:
        for name in WORKLOADS:
            print(name)
        return 0
    failed = precompile(args.workloads or None, jobs=args.jobs, quiet=args.quiet)
    return 1 if failed else 0


def add_precompile_command(sub) -> None:
    """Add ``precompile`` to the sub-parser ``sub``."""
    pre = sub.add_parser("precompile", help="compile the kernels into the on-disk cache now",
                         description="Run tiny fits that compile the kernels the usual calls "
                                     "need (every estimator, its common dtypes and layouts) "
                                     "into Numba's on-disk cache, in parallel processes: for "
                                     "container images, CI runners and cluster workers, so "
                                     "that their first fits start at once.")
    pre.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                     help="what to compile (default: everything; see --list)")
    pre.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                     help="processes to compile in (default: the number of CPUs, %(default)s)")
    pre.add_argument("--list", action="store_true",
                     help="list the workloads and exit (default: compile them)")
    pre.add_argument("-q", "--quiet", action="store_true",
                     help="print only failures (default: a line per workload)")
    pre.set_defaults(func=_cmd_precompile)


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
    from .families.registry import registered
    fit.add_argument("--family", choices=registered(), default="gaussian",
                     help="kind of mixture component; options of other families (e.g. "
                          "--covariance-type, --reg-covar) apply where the family has them "
                          "(default: %(default)s)")
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
    fit.add_argument("--model", choices=("gaussian", "bayesian"), default=None,
                     help="'bayesian': a BayesianGaussianMixture fitted by variational "
                          "Bayes, which can leave unneeded components empty (same as "
                          "--family bayesian_gaussian; default: the Gaussian mixture)")
    from .families.variational_mstep import PRIOR_TYPES
    fit.add_argument("--weight-concentration-prior-type", choices=PRIOR_TYPES, default=None,
                     help="--model bayesian: prior on the weights (default: "
                          "dirichlet_process)")
    fit.add_argument("--weight-concentration-prior", type=float, default=None,
                     help="--model bayesian: concentration of the weight prior; smaller "
                          "leaves more components empty (default: 1 / n_components)")
    fit.add_argument("--algorithm", choices=("em", "online"), default="em",
                     help="'em': exact EM, a pass per iteration; 'online': one pass of "
                          "stepwise online EM, a step per chunk (default: %(default)s)")
    from .families.missing import NAN_POLICIES
    fit.add_argument("--nan-policy", choices=NAN_POLICIES, default="raise",
                     help="NaN (missing values) in DATA: 'raise' an error, 'omit' the rows "
                          "holding one, or 'marginalize' them (exact EM over each row's "
                          "observed values) (default: %(default)s)")
    fit.add_argument("--blocks", default=None,
                     help="--family mixed: the columns of each block, "
                          "'FAMILY=COL,COL;FAMILY=COL' with FAMILY gaussian, bernoulli, "
                          "categorical or poisson and COL a Parquet column name or a 0-based "
                          "index (all digits), each column in one block, e.g. "
                          "'gaussian=a,b;categorical=c;poisson=d' (default: every column "
                          "gaussian)")
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

    sel = sub.add_parser("select", help="choose the number of components and covariance "
                                        "type by BIC, ICL or AIC",
                         description="Fit every (number of components, covariance type) "
                                     "candidate with shared passes over DATA, print the "
                                     "table of criteria and save the best model.")
    sel.add_argument("data", metavar="DATA", help=data_help)
    sel.add_argument("-k", "--n-components", type=_parse_ks, default="1-9",
                     help="numbers of components to try: a range like 1-9, a list like "
                          "2,4,8, or both (default: %(default)s)")
    sel.add_argument("--covariance-types", type=_parse_types,
                     default=",".join(FAMILIES),
                     help="comma-separated covariance types to try (default: %(default)s)")
    sel.add_argument("--criterion", choices=("bic", "icl", "aic"), default="bic",
                     help="what chooses the best model, lower is better (default: "
                          "%(default)s)")
    sel.add_argument("-o", "--output", default=None,
                     help="write the best model to this .npz file (default: not saved)")
    sel.add_argument("--plot", metavar="IMAGE", default=None,
                     help="also draw the criterion against the number of components to "
                          "this image file (default: no picture)")
    sel.add_argument("--init-params", choices=INITIALIZERS, default="kmeans",
                     help="how each candidate's initial parameters are found (default: "
                          "%(default)s)")
    sel.add_argument("--max-iter", type=int, default=100,
                     help="EM iterations per initialisation at most (default: %(default)s)")
    sel.add_argument("--tol", type=float, default=1e-3,
                     help="stop a candidate when its mean log-likelihood changes by less "
                          "than this (default: %(default)s)")
    sel.add_argument("--reg-covar", type=float, default=1e-6,
                     help="added to every covariance's diagonal (default: %(default)s)")
    sel.add_argument("--n-init", type=int, default=1,
                     help="initialisations per candidate; the best is kept (default: "
                          "%(default)s)")
    sel.add_argument("--random-state", type=int, default=None,
                     help="seed of every candidate (default: a fresh seed, printed)")
    sel.add_argument("-q", "--quiet", action="store_true",
                     help="no progress lines (default: one line per pass)")
    add_data_args(sel)
    sel.set_defaults(func=_cmd_select)

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
