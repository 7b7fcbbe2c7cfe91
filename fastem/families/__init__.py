"""Component families. ``FAMILIES`` is the only source of valid ``covariance_type`` strings.

:class:`ComponentFamily` (in :mod:`.protocol`) is what the EM engine sees of any family; the
four Gaussian covariance families are its clients.
"""
from __future__ import annotations

from .base import CovarianceFamily, GaussianParams, KernelArgs
from .diag import DiagFamily
from .full import FullFamily
from .protocol import ComponentFamily, Statistics
from .spherical import SphericalFamily
from .tied import TiedFamily

FAMILIES: dict[str, CovarianceFamily] = {
    f.name: f for f in (FullFamily(), TiedFamily(), DiagFamily(), SphericalFamily())
}


def get_family(name: str) -> CovarianceFamily:
    """The family registered under ``name``."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"covariance_type must be one of {sorted(FAMILIES)!r}; got {name!r}.") from None


__all__ = ["FAMILIES", "ComponentFamily", "CovarianceFamily", "Statistics", "GaussianParams", "KernelArgs", "get_family"]
