"""The ``fastem`` command: argument parsing only; the work is done by the estimators."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Callable, Iterator, NoReturn, Optional, Sequence

import numpy as np

from .online import ALGORITHMS


def _demo_data(n_samples: int, seed: int):
    """A known 2-D, 5-component mixture (the "built-in" example data)."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.30, 0.25, 0.20, 0.15, 0.10])
    means = np.array([[0.0, 0.0], [6.0, 1.0], [-4.0, 5.0], [3.0, -6.0], [8.0, 8.0]])
    angles = np.array([0.0, 0.6, 1.2, -0.4, 2.0])
    scales = np.array([[1.0, 0.4], [1.5, 0.5], [0.8, 0.8], [2.0, 0.3], [0.6, 1.2]])
    labels = rng.choice(len(weights), size=n_samples, p=weights)
    z = rng.standard_normal((n_samples, 2)) * scales[labels]
    c, s = np.cos(angles[labels]), np.sin(angles[labels])
    X = np.stack([c * z[:, 0] - s * z[:, 1], s * z[:, 0] + c * z[:, 1]], axis=1) + means[labels]
    return X, labels, weights, means


@contextlib.contextmanager
def _count_compilations() -> Iterator[Callable[[], bool]]:
    """Yields a function telling whether Numba compiled anything inside the block."""
    try:
        from numba.core import event
        recorder = event.install_recorder("numba:compile")
    except (ImportError, AttributeError):       # pragma: no cover - older/newer numba
        yield lambda: False
        return
    with recorder as rec:
        yield lambda: bool(rec.buffer)


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import GaussianMixture
    X, _, true_w, true_m = _demo_data(args.n_samples, args.seed)
    print(f"fastem demo: {X.shape[0]:,} points in 2-D drawn from a known mixture of "
          f"{len(true_w)} Gaussians.")
    online = args.algorithm == "online"
    print("Fitting GaussianMixture(n_components=5, covariance_type='full'"
          + (", algorithm='online'" if online else "") + ") ...")
    t0 = time.perf_counter()
    with _count_compilations() as compiled:
        gm = GaussianMixture(n_components=5, covariance_type="full", random_state=args.seed,
                             n_init=2, algorithm=args.algorithm).fit(X)
    seconds = time.perf_counter() - t0
    if online:
        done = (f"{gm.n_iter_} online steps in one pass, mean log-likelihood "
                f"{gm.score(X):.4f}.")
    else:
        done = (f"{gm.n_iter_} EM iterations, converged={gm.converged_}, "
                f"mean log-likelihood {gm.lower_bound_:.4f}.")
    jit = " (includes JIT compilation)" if compiled() else ""
    print(f"Done in {seconds:.2f} s{jit}: {done}")
    # Match each fitted component to the nearest true mean for a readable comparison.
    order = [int(np.argmin(((gm.means_ - m) ** 2).sum(axis=1))) for m in true_m]
    print()
    print(f"{'component':>9} | {'true weight':>11} {'fitted':>7} | {'true mean':>16} "
          f"{'fitted mean':>18}")
    print("-" * 71)
    for j, k in enumerate(order):
        tm = f"({true_m[j, 0]:6.2f}, {true_m[j, 1]:6.2f})"
        fm = f"({gm.means_[k, 0]:6.2f}, {gm.means_[k, 1]:6.2f})"
        print(f"{j:>9} | {true_w[j]:>11.3f} {gm.weights_[k]:>7.3f} | {tm:>16} {fm:>18}")
    print()
    print(f"BIC on the data: {gm.bic(X):,.1f}. Try: fastem --help")
    return 0


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", help="dataset name inside an HDF5 file or Zarr group (default: "
                                 "the file's only 2-D dataset)")
    p.add_argument("--columns", help="comma-separated Parquet columns to use as features "
                                     "(default: every numeric column)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="rows read per chunk (default: about 32 MB of rows)")


class _Parser(argparse.ArgumentParser):
    """argparse with the README's promise: a usage error is one line and exit status 1."""

    def error(self, message: str) -> NoReturn:
        print(f"fastem: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(1)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastem`` command."""
    from . import __version__
    parser = _Parser(
        prog="fastem", description="Fit Gaussian mixtures fast with Expectation-Maximization.")
    parser.add_argument("--version", action="version", version=f"fastem {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    demo = sub.add_parser("demo", help="fit a mixture on built-in example data and show it",
                          description="Fit a 5-component mixture to built-in 2-D data and "
                                      "print the fitted weights and means next to the truth.")
    demo.add_argument("--n-samples", type=int, default=200_000,
                      help="points to draw (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0,
                      help="random seed of the data and the fit (default: %(default)s)")
    demo.add_argument("--algorithm", choices=ALGORITHMS, default="em",
                      help="'em': exact EM to convergence; 'online': one pass of stepwise "
                           "online EM, see partial_fit (default: %(default)s)")
    demo.set_defaults(func=_cmd_demo)
    from .commands import add_commands, add_precompile_command
    add_commands(sub, _add_data_args)
    add_precompile_command(sub)
    from .plot_command import add_plot_commands
    add_plot_commands(sub, _add_data_args)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``fastem`` console script."""
    from .progress import close_open_bars
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        close_open_bars()
        print(f"fastem: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        close_open_bars()
        ckpt = getattr(args, "checkpoint", None)
        if ckpt and os.path.exists(ckpt):
            print(f"fastem: interrupted; the checkpoint {ckpt!r} holds the last finished "
                  "iteration: rerun the same command to resume.", file=sys.stderr)
        elif ckpt:
            print(f"fastem: interrupted before the first iteration finished (no checkpoint "
                  f"was written to {ckpt!r} yet); rerun the same command to start again.",
                  file=sys.stderr)
        else:
            print("fastem: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
