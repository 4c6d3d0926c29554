"""Generate docs/api.md, the API reference, from the docstrings (``python docs/make_api.py``).

``tests/test_api.py`` regenerates the text and compares it with the file, so a docstring change
without a regenerated page fails the suite. Run from the repository root.
"""
from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

OUT = Path(__file__).with_name("api.md")

# (section title, module, names or None for the module's ``__all__``)
SECTIONS = [
    ("Public front door (`ptft`)", "ptft", None),
    ("Theory API (`replica`)", "replica", None),
    ("Regimes (`replica.regimes`)", "replica.regimes",
     ["Thresholds", "RegimeReport", "axes", "classify", "q_penalty", "CANONICAL"]),
    ("Beyond the paper (`replica.imperfect`, `replica.anisotropic`)", None,
     ["replica.imperfect:solve_imperfect_pt", "replica.anisotropic:InputVariances",
      "replica.anisotropic:solve_anisotropic"]),
    ("Theorem 4.1 numerically (`numerics.transfer`)", "numerics.transfer", ["c_ft", "c_ft_numeric"]),
    ("Derivation checks (`symbolic.verify`)", "symbolic.verify", ["CheckResult", "run_checks", "main_verify"]),
    ("Finite-D minimiser (`empirical.flow`)", "empirical.flow",
     ["min_q_interpolant", "min_q_interpolant_torch", "FlowSolution", "FlowSolveError", "q_hyperbolic",
      "q_objective", "gen_error"]),
    ("Companion theory: linear teachers (`replica.linear_teacher`)", "replica.linear_teacher", None),
    ("Companion theory: task-head energy (`empirical.head_energy`)", "empirical.head_energy", None),
    ("Prediction tables (`ptft.table`)", None, ["ptft.table:table", "ptft.grid:load_grid"]),
]
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _signature(obj) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""
    if _ADDRESS.search(sig):
        raise ValueError(f"{obj!r}: a default value prints a memory address; give it a repr")
    return sig


def _doc(obj) -> str:
    return inspect.getdoc(obj) or "(no docstring)"


def _entry(qualname: str, obj) -> list[str]:
    """One object: heading with the signature, the docstring as text, public methods of classes."""
    if not (inspect.isclass(obj) or callable(obj)):
        return [f"### `{qualname}`", "", "```text", repr(obj), "```", ""]
    kind = "class" if inspect.isclass(obj) else "def"
    lines = [f"### `{qualname}`", "", "```python", f"{kind} {qualname.rsplit('.', 1)[-1]}{_signature(obj)}", "```",
             "", "```text", _doc(obj), "```", ""]
    if inspect.isclass(obj) and not issubclass(obj, BaseException):
        for name, member in vars(obj).items():
            if name.startswith("_") or not callable(member) or not member.__doc__:
                continue
            lines += [f"#### `{qualname}.{name}`", "", "```python", f"def {name}{_signature(member)}", "```", "",
                      "```text", _doc(member), "```", ""]
    return lines


def _objects(module_name, names):
    if module_name is None:
        for spec in names:
            mod, name = spec.split(":")
            yield f"{mod}.{name}", getattr(importlib.import_module(mod), name)
        return
    module = importlib.import_module(module_name)
    for name in names if names is not None else module.__all__:
        yield f"{module_name}.{name}", getattr(module, name)


def render() -> str:
    """The whole page.

    Returns
    -------
    str
        The Markdown text of docs/api.md.
    """
    lines = ["# API reference", "",
             "Generated from the docstrings by `python docs/make_api.py`; do not edit by hand. The notation",
             "is defined in [theory](theory.md); worked examples are in the [tutorial](tutorial.md).", ""]
    for title, module_name, names in SECTIONS:
        lines += [f"## {title}", ""]
        for qualname, obj in _objects(module_name, names):
            lines += _entry(qualname, obj)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    OUT.write_text(render())
    print(f"wrote {OUT}")
