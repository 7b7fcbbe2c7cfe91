"""Pictures of fitted mixtures (needs matplotlib: ``pip install matplotlib``).

matplotlib is imported only when a function is called. Every function takes ``ax=None``
(a new figure is made) and returns the Axes it drew on.
"""
from .components import plot_components, plot_parameters, project_gaussians, projection
from .diagnostics import plot_lower_bound, plot_selection, plot_uncertainty

__all__ = ["plot_components", "plot_lower_bound", "plot_parameters", "plot_selection",
           "plot_uncertainty", "project_gaussians", "projection"]
