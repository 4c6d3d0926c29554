"""The one printer: every SymPy expression that becomes code is printed here.

Both generated modules use it: the penalty kernels (``numerics.codegen``, ``@njit`` scalar
functions) and the derived scalar expressions (``numerics.expressions``, ``@njit`` scalar kernels with broadcasting array wrappers:
c_FT, q_c, the regime axes and the oracle PT end state). One set of printing rules
(SymPy's ``PythonCodePrinter`` with ``math.``-qualified functions, symbols renamed to the
argument names) means one place to change them; nothing is ``lambdify``-ed at run time.
"""
from __future__ import annotations


def code(expr, names: dict | None = None) -> str:
    """Python source of ``expr``; ``names`` maps SymPy symbols to the argument names they get
    (needed for symbols whose names are not identifiers, such as ``s_+``)."""
    import sympy as sp
    from sympy.printing.pycode import PythonCodePrinter

    if names:
        expr = sp.sympify(expr).xreplace({sym: sp.Symbol(name, real=True) for sym, name in names.items()})
    return PythonCodePrinter({"fully_qualified_modules": True}).doprint(expr)


def function(name: str, args: str, expr, *, decorator: str, doc: str = "", pre: str = "",
             special: str = "", names: dict | None = None) -> str:
    """One decorated function ``name(args)`` returning the printed ``expr`` as a float.

    ``pre``: lines defining local names the expression uses; ``special``: an early return
    (e.g. a derived limit where the printed form is 0/0); ``names``: see :func:`code`."""
    lines = [decorator, f"def {name}({args}):"]
    if doc:
        lines.append(f'    """{doc}"""')
    lines += [f"    {ln}" for ln in (special + pre).splitlines() if ln]
    lines.append(f"    return float({code(expr, names)})")
    return "\n".join(lines) + "\n\n\n"
