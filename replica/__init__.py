"""ptft replica: the theory a user calls.

>>> from replica import Task, Init, solve
>>> res = solve(Task(rho_pt=0.1, rho_ft=0.1, omega=1.0), Init(c_pt=1e-3), [0.1, 0.2])
>>> res.to_frame()[["alpha", "gen_error", "converged"]]   # doctest: +SKIP

Names are imported on first use (PEP 562), so ``import replica`` (and ``ptft --help``)
does not load SymPy, NumPy or Numba. Prediction tables over grids live in the shell:
``ptft.table``.
"""
from importlib import import_module


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ptft")
    except PackageNotFoundError:
        return "unknown"


# public name -> submodule that defines it
_LAZY = {"Task": ".params", "Init": ".params", "ParameterError": ".params",
         "Accuracy": ".solver", "SolveResult": ".solver", "solve": ".solver", "solve_single": ".solver",
         "SingleTask": ".solver", "Pretraining": ".solver",
         "solve_classes": ".solver",
         "regime_of": ".regimes", "optimize_init": ".optimize",
         "solve_bayes": ".bayes", "BayesResult": ".bayes"}

__all__ = ["Task", "Init", "ParameterError", "Accuracy", "SolveResult", "solve", "solve_single", "solve_classes",
           "SingleTask", "Pretraining",
           "regime_of", "optimize_init", "solve_bayes", "BayesResult", "__version__"]


def __getattr__(name):
    if name == "__version__":         # read on demand: importlib.metadata costs ~30 ms
        globals()["__version__"] = _installed_version()
        return globals()["__version__"]
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'replica' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
