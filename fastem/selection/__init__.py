"""Model selection whose candidates share every pass over the data.

:mod:`.lockstep` is the driver (candidates as generators that ask for passes),
:mod:`.requests` the kinds of pass, :mod:`.candidate` a Gaussian candidate's fit step by
step, :mod:`.table` the result table. The estimator is
:class:`fastem.estimators.selection.GaussianMixtureSelection`.
"""
from .lockstep import LockstepRun, Outcome, PassRequest, run_lockstep
from .table import COLUMNS, SelectionTable

__all__ = ["LockstepRun", "Outcome", "PassRequest", "run_lockstep", "SelectionTable",
           "COLUMNS"]
