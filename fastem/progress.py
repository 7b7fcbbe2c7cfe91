"""Progress display of a fit: per-iteration lower bound, rows/s and ETA.

Uses tqdm when installed (``pip install tqdm``, or ``pip install -e '.[progress]'`` from a clone), else one plain line per
iteration on stderr. Off by default in the library (``progress=True`` turns it on); on in
the command line.
"""
from __future__ import annotations

import sys
import weakref
from typing import Optional

from .em import EMResult, IterationInfo


_OPEN_BARS: "weakref.WeakSet" = weakref.WeakSet()


def close_open_bars() -> None:
    """Close every progress bar still open (a fit stopped by an error or Ctrl-C), so a
    message printed next starts on its own line and no bar redraws after it."""
    for bar in list(_OPEN_BARS):
        try:
            bar.close()
        except Exception:  # pragma: no cover - closing is best effort
            pass
        _OPEN_BARS.discard(bar)


class Progress:
    """Callbacks for :func:`fastem.em.fit_mixture` that display progress.

    Parameters
    ----------
    max_iter : int
        Iterations per restart (the bar's length; EM may stop earlier).
    n_init : int
    n_samples : int or None
        Rows per pass, for rows/s (unknown for some streams).
    """

    def __init__(self, max_iter: int, n_init: int, n_samples: Optional[int],
                 stream=None) -> None:
        self.max_iter, self.n_init, self.n_samples = max_iter, n_init, n_samples
        self.stream = stream if stream is not None else sys.stderr
        self._bar = None
        try:
            import tqdm  # noqa: F401
            self._tqdm = tqdm.tqdm
        except ImportError:
            self._tqdm = None

    def _rate(self, info: IterationInfo) -> str:
        if self.n_samples is None or info.seconds <= 0:
            return f"{info.seconds:.2f} s/iter"
        return f"{self.n_samples / info.seconds:,.0f} rows/s"

    def on_init(self, i: int) -> None:
        label = f"fit {i + 1}/{self.n_init}" if self.n_init > 1 else "fit"
        if self._tqdm is not None:
            self._bar = self._tqdm(total=self.max_iter, desc=label, unit="iter",
                                   file=self.stream, leave=True, dynamic_ncols=True)
            _OPEN_BARS.add(self._bar)

    def callback(self, info: IterationInfo) -> None:
        text = f"lower bound {info.lower_bound:.6f}, {self._rate(info)}"
        if self._bar is not None:
            if self._bar.n < info.n_iter - 1:   # resumed fits start mid-way
                self._bar.update(info.n_iter - 1 - self._bar.n)
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(1)
        else:
            left = (self.max_iter - info.n_iter) * info.seconds
            print(f"iteration {info.n_iter}/{self.max_iter}: {text}, ETA <= {left:.0f} s",
                  file=self.stream, flush=True)

    def on_init_end(self, result: EMResult, seconds: float) -> None:
        state = "converged" if result.converged else "did not converge"
        if self._bar is not None:
            self._bar.close()
            _OPEN_BARS.discard(self._bar)
            self._bar = None
        print(f"{state} after {result.n_iter} iterations in {seconds:.1f} s, lower bound "
              f"{result.lower_bound:.6f}", file=self.stream, flush=True)

    def hooks(self) -> dict:
        """Callbacks for :func:`fastem.em.fit_mixture`."""
        return {"on_init": self.on_init, "callback": self.callback,
                "on_init_end": self.on_init_end}


def chain_hooks(*hook_dicts: dict) -> dict:
    """Merge hook dictionaries: each event calls every hook in the order given."""
    merged: dict = {}
    for name in ("on_init", "callback", "on_init_end"):
        fns = [h[name] for h in hook_dicts if h and name in h]
        if fns:
            def call(*args, _fns=fns):
                for fn in _fns:
                    fn(*args)
            merged[name] = call
    return merged
