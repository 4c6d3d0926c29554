"""ptft: the public front door.

>>> import ptft
>>> res = ptft.solve(ptft.Task(rho_pt=0.1, rho_ft=0.1, omega=1.0), ptft.Init(c_pt=1e-3), [0.1, 0.2])
>>> res.to_frame()[["alpha", "gen_error", "converged"]]   # doctest: +SKIP

This package is the application shell on top of the four layers
(symbolic -> numerics -> replica -> empirical): the ``ptft`` command line (:mod:`ptft.cli`,
one plug-in per subcommand in :mod:`ptft.commands`), the figures (:mod:`ptft.figures`) and the
batch infrastructure (grids :mod:`ptft.grid`, prediction tables :mod:`ptft.table`). Nothing
below it imports it.

Names are imported on first use (PEP 562), so ``import ptft`` and ``ptft --help`` load
neither SymPy, NumPy nor Numba.
"""
from importlib import import_module

# public name -> module that defines it
_LAZY = {"Task": "replica.params", "Init": "replica.params", "ParameterError": "replica.params",
         "Accuracy": "replica.solver", "SolveResult": "replica.solver", "solve": "replica.solver",
         "SingleTask": "replica.solver", "Pretraining": "replica.solver",
         "solve_single": "replica.solver", "solve_classes": "replica.solver",
         "regime_of": "replica.regimes", "optimize_init": "replica.optimize",
         "solve_bayes": "replica.bayes", "BayesResult": "replica.bayes",
         "PtftError": "symbolic.errors", "InputError": "symbolic.errors",
         "ConvergenceError": "symbolic.errors",
         "load_grid": "ptft.grid", "read_table": "ptft.table"}

__all__ = sorted([*_LAZY, "table", "__version__"])


def __getattr__(name):
    if name == "__version__":         # read on demand: importlib.metadata costs ~30 ms
        from replica import __version__
        globals()["__version__"] = __version__
        return __version__
    if name == "table":               # the submodule is callable: ptft.table(grid, out)
        return import_module("ptft.table")
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ptft' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"table"})
