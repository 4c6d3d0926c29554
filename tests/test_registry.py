"""The parameter and penalty registries: one place to add a parameter or a penalty family, and
one refusal type for user input.

The "add one" tests put a new entry into the registry (monkeypatched, so nothing leaks into
other tests) and check that it reaches every consumer: Task validation, the GRID.toml keys,
the command-line options, codegen and the solver.
"""
import argparse
import ast
import dataclasses
from pathlib import Path

import pytest

from symbolic import registry
from replica.params import Init, ParameterError, Task
from symbolic.errors import InputError, PtftError

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("symbolic", "numerics", "replica", "empirical", "ptft")


def test_no_raise_valueerror_in_library_code():
    """Every refusal is a PtftError (InputError for user input); a plain ValueError raised by
    library code would reach the CLI as an internal error (exit 1). An AST scan, so a new one fails."""
    found = []
    for package in LIBRARY:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Raise) and node.exc is not None:
                    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                    if getattr(exc, "id", None) == "ValueError":
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


def test_shell_does_not_translate_library_valueerrors():
    """No 'except ValueError ... raise InputError(str(err))' in the shell: an internal ValueError
    is a bug (exit 1), not refused input (exit 2)."""
    found = []
    for path in sorted((ROOT / "ptft").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ExceptHandler) and node.name and "ValueError" in ast.unparse(node.type)
                    and f"Error(str({node.name}))" in ast.unparse(node)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


def test_one_refusal_type():
    assert issubclass(ParameterError, InputError) and issubclass(InputError, PtftError)
    from empirical.simulate import SimConfig

    with pytest.raises(InputError, match="dim"):
        SimConfig(dim=5)
    with pytest.raises(InputError, match="rho_pt must lie in"):
        Task(rho_pt=1.5)


@pytest.mark.parametrize("name, bad", [("c_pt", 0.0), ("c_pt", 1e31), ("rho_ft", 0.0), ("omega", -0.1),
                                       ("teacher", "uniform"), ("noise", float("nan")), ("gamma_ft", -1.0)])
def test_every_consumer_gives_the_same_message(name, bad):
    """Task/Init, the grid and the finite-D sampler refuse a value with the registry's words."""
    from empirical.tasks import sample_ptft_task
    from ptft.grid import GridError, grid_from_dict

    with pytest.raises(ParameterError) as ref:
        registry.check(name, bad)
    cls = Task if registry.PARAMS[name].group == "task" else Init
    with pytest.raises(ParameterError) as api:
        cls(**{name: bad})
    assert str(api.value) == str(ref.value)
    if name in ("rho_ft", "omega", "teacher"):
        with pytest.raises(ParameterError) as sampled:
            sample_ptft_task(100, 0.5, 0.1, **{"rho_ft": 0.1, "omega": 1.0, name: bad})
        assert str(sampled.value) == str(ref.value)
    if bad == bad and name != "teacher":            # NaN is not valid TOML input
        with pytest.raises(GridError, match=name):
            grid_from_dict({name: bad, "alpha": [0.2]})


def test_feasibility_is_decided_once():
    with pytest.raises(ParameterError, match="infeasible task") as api:
        Task(rho_pt=0.01, rho_ft=0.1, omega=1.0)
    with pytest.raises(ParameterError) as ref:
        registry.check_task(0.01, 0.1, 1.0)
    assert str(api.value) == str(ref.value)
    from empirical.tasks import sample_ptft_task

    with pytest.raises(ParameterError) as sampled:
        sample_ptft_task(100, 0.5, 0.01, 0.1, 1.0)
    assert str(sampled.value) == str(ref.value)


def _parser(builder):
    from ptft.cli import _Parser

    p = _Parser(prog="t")
    builder(p)
    return p


def test_adding_a_parameter_touches_the_registry_only(monkeypatch):
    """A new task parameter (one registry entry) becomes a GRID.toml key, a --option with its
    rule in the help, and is validated by a Task that carries it."""
    from ptft import grid
    from ptft.cli import add_task_options

    new = registry.Param("drift", "delta", registry.Interval(0.0, 1.0), 0.25, "", "a test parameter", "task")
    params = dict(registry.PARAMS)
    items = list(params.items())
    items.insert(len(items) - 4, ("drift", new))             # before alpha: the grid keeps alpha last
    monkeypatch.setattr(registry, "PARAMS", dict(items))
    monkeypatch.setattr(grid, "PARAMS", registry.PARAMS)

    keys = grid.grid_keys()
    assert "drift" in keys and keys[-1] == "alpha"
    assert grid.grid_from_dict({"drift": [0.0, 0.5], "alpha": [0.2]}).values["drift"] == (0.0, 0.5)
    with pytest.raises(grid.GridError, match=r"drift: value 2.0 is not in \[0, 1\]"):
        grid_from_dict_drift(grid, 2.0)

    parser = _parser(add_task_options)
    assert parser.parse_args([]).drift == 0.25
    assert parser.parse_args(["--drift", "0.5"]).drift == 0.5
    assert "delta: a test parameter; in [0, 1]" in " ".join(parser.format_help().split())

    # the theory's own dataclass gains the field; validation comes from the registry
    TaskD = dataclasses.make_dataclass("TaskD", [("drift", float, dataclasses.field(default=0.25))],
                                       bases=(Task,), frozen=True)
    assert TaskD(drift=0.5).drift == 0.5
    with pytest.raises(ParameterError, match=r"drift must lie in \[0, 1\], got 1.5"):
        TaskD(drift=1.5)


def grid_from_dict_drift(grid, value):
    return grid.grid_from_dict({"drift": value, "alpha": [0.2]})


def test_registry_defaults_are_the_api_defaults():
    """Dataclass defaults, argparse defaults and grid defaults are the registry's."""
    from ptft.cli import add_init_options, add_task_options
    from ptft.grid import grid_from_dict

    args = _parser(lambda p: (add_task_options(p), add_init_options(p))).parse_args([])
    from ptft.cli import init_from_args, task_from_args

    assert task_from_args(args) == Task() and init_from_args(args) == Init()
    g = grid_from_dict({"alpha": [0.2]}).values
    for name, p in registry.PARAMS.items():
        if p.group == "task":
            assert getattr(Task(), name) == p.default
        if p.group == "init" and p.cli:
            assert getattr(Init(), name) == p.default
        if p.grid and p.default is not None:
            assert g[name] == (p.default,)


def test_adding_a_penalty_family(monkeypatch, tmp_path):
    """A new built-in penalty (one registry entry, its factory in a temporary module) is offered
    by the CLI, compiled by codegen, checked by verify's prox checks and solved by solve_single:
    here Q(b) = b^2 (ridge with twice the weight), whose single-task error is the ridge closed
    form 1 - alpha for alpha < 1 (independent of the penalty's scale)."""
    import sys
    import types

    import numpy as np
    import sympy as sp

    from replica import solve_single
    from symbolic import penalties
    from symbolic.penalty import make_penalty
    from symbolic.symbols import b, x

    mod = types.ModuleType("ptft_test_penalty_family")
    mod.double_ridge = lambda: make_penalty(b**2, name="double_ridge")
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(penalties.BUILTIN, "double_ridge", (f"{mod.__name__}:double_ridge", "Q(b) = b^2"))
    monkeypatch.setenv("PTFT_CACHE_DIR", str(tmp_path))

    assert "double_ridge" in penalties.names()
    from ptft.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "double_ridge" in sub.choices["single"].format_help()
    pen = penalties.make("double_ridge")
    assert sp.simplify(pen.dq(1) - 2 * x) == 0
    import random

    from symbolic.verify import _penalty_checks

    import mpmath

    with mpmath.workdps(50):                                  # as `ptft verify` runs them
        checks = _penalty_checks(pen, random.Random(0))
    assert checks and all(c.passed for c in checks) and all("double_ridge" in c.name for c in checks)
    res = solve_single("double_ridge", 0.5, [0.2, 0.6])
    assert res.converged.all()
    np.testing.assert_allclose(res.gen_error, [0.8, 0.4], rtol=1e-8)
    with pytest.raises(InputError, match="unknown built-in penalty"):
        penalties.make("no_such_penalty")


def test_grid_key_table_in_the_docs_matches_the_registry():
    """docs/tables.md lists exactly the registry's GRID.toml keys, with its defaults."""
    import re

    from ptft.grid import grid_keys

    text = (ROOT / "docs" / "tables.md").read_text()
    rows = re.findall(r"^\| (`[^|]+) \| [^|]+ \| .+ \| ([^|]+) \|$", text, re.M)
    listed = {}
    for keys, default in rows:
        names = re.findall(r"`(\w+)`", keys)
        defaults = [d.strip() for d in default.split(",")]
        for i, name in enumerate(names):
            listed[name] = defaults[i] if len(defaults) == len(names) else defaults[0]
    assert set(listed) == set(grid_keys())
    for name, shown in listed.items():
        want = registry.PARAMS[name].default
        if want is None:
            assert shown.startswith("required") or name == "lambda_pt_rel", (name, shown)
        elif isinstance(want, str):
            assert shown == f'`"{want}"`', (name, shown)
        elif isinstance(want, bool):
            assert shown == f"`{str(want).lower()}`", (name, shown)
        else:
            assert float(shown.split()[0]) == want, (name, shown)
