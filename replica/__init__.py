"""ptft replica: the theory a user calls.

>>> from replica import Task, Init, solve
>>> res = solve(Task(rho_pt=0.1, rho_ft=0.1, omega=1.0), Init(c_pt=1e-3), [0.1, 0.2])
>>> res.to_frame()[["alpha", "gen_error", "converged"]]   # doctest: +SKIP
"""
from .params import Init, ParameterError, Task
from .solver import Accuracy, SolveResult, solve, solve_classes, solve_single
from .table import table  # replica.table(grid, out) -> DataFrame; the module: `from replica.table import ...`

__all__ = ["Task", "Init", "ParameterError", "Accuracy", "SolveResult", "solve", "solve_single", "solve_classes",
           "table", "regime_of", "optimize_init"]

_LAZY = {"regime_of": "replica.regimes", "optimize_init": "replica.optimize"}


def __getattr__(name):
    # regime_of / optimize_init load their modules (and SciPy's optimiser) only when used
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'replica' has no attribute {name!r}")
