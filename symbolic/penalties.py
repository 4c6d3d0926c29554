"""The penalty registry: the built-in penalty families by name, written once.

Codegen (``numerics.codegen.penalty_kernels``), the solver (``solve_single``), ``ptft verify``
and the ``--penalty`` option of ``ptft single`` read their names from :data:`BUILTIN`. An entry
is ``name -> (factory, help)``; the factory returns a :class:`symbolic.penalty.Penalty` and is
given as 'module:function' so that reading the names imports nothing (``ptft --help`` stays
light). Adding a family: write its factory (usually one ``make_penalty`` call) and add one entry
here (docs/contributing.md). Any other convex penalty can be given as text, no entry needed.
"""
from __future__ import annotations

from importlib import import_module

from .errors import InputError

# order: the order ``ptft verify`` checks them in
BUILTIN: dict[str, tuple[str, str]] = {
    "ridge": ("symbolic.penalty:ridge", "Q(b) = b^2/2"),
    "l1": ("symbolic.penalty:l1", "Q(b) = |b|"),
    "hypent": ("symbolic.penalty:hyperbolic_entropy", "q_c(b), the mirror potential of the diagonal network"),
}


def names() -> tuple[str, ...]:
    """The built-in penalty names, in registry order."""
    return tuple(BUILTIN)


def make(name: str):
    """The :class:`symbolic.penalty.Penalty` of a built-in name (imports SymPy)."""
    if name not in BUILTIN:
        raise InputError(f"unknown built-in penalty '{name}' (choose from {', '.join(BUILTIN)})")
    module, func = BUILTIN[name][0].split(":")
    return getattr(import_module(module), func)()
