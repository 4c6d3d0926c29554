"""The public API surface: exports, the short result report and plot, and the generated API
reference being up to date with the docstrings."""
import importlib.util
import inspect
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def _fake_result(converged):
    from replica import SolveResult

    n = len(converged)
    alpha = np.linspace(0.1, 0.5, n)
    gen = 1.0 - alpha                      # any positive curve; the methods only present it
    return SolveResult(alpha=alpha, gen_error=gen, test_error=gen, sigma=np.sqrt(gen / alpha), tau=alpha,
                       group_error=np.zeros((n, 4)), active_fraction=np.ones(n), residual=np.full(n, 1e-14),
                       converged=np.array(converged), phase=np.array(["interior"] * n, dtype=object),
                       n_evals=np.ones(n, int), group_names=("shared", "new", "pt_only", "none"),
                       info={"c_pt": 1e-3, "teacher": "gaussian"})


def test_regime_of_and_optimize_init_are_exported():
    import replica
    from replica.optimize import optimize_init
    from replica.regimes import regime_of

    assert replica.regime_of is regime_of and replica.optimize_init is optimize_init
    assert {"regime_of", "optimize_init"} <= set(replica.__all__)
    with pytest.raises(AttributeError):
        replica.no_such_name  # noqa: B018


def test_repr_is_one_short_line_and_flags_non_convergence():
    ok, bad = _fake_result([True] * 50), _fake_result([True] * 48 + [False] * 2)
    assert "\n" not in repr(ok) and len(repr(ok)) < 200 and "all converged" in repr(ok)
    assert "50 points" in repr(ok) and "2 NOT converged" in repr(bad)


def test_summary_is_short_and_keeps_the_ends():
    res = _fake_result([True] * 49 + [False])
    text = str(res)
    assert text == res.summary()
    lines = text.splitlines()
    assert len(lines) <= 13                          # parameters, header, <= 10 rows, count
    assert "c_pt=0.001" in lines[0] and "1 NOT converged" in lines[-1]
    assert float(lines[2].split()[0]) == 0.1 and float(lines[-2].split()[0]) == 0.5   # both ends kept


def test_plot_draws_the_result_and_marks_failures():
    res = _fake_result([True] * 9 + [False])
    ax = res.plot()
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, res.alpha)
    np.testing.assert_array_equal(y, res.gen_error)
    bx, _ = ax.lines[1].get_data()
    assert list(bx) == [0.5] and ax.get_yscale() == "log" and ax.get_xlabel().startswith("alpha")
    with pytest.raises(ValueError, match="unknown column"):
        res.plot(y="nope")


def test_public_functions_have_a_returns_section():
    import replica
    from empirical import flow
    from numerics import transfer
    from replica import regimes
    from symbolic import verify

    for fn in (replica.solve, replica.solve_single, replica.regime_of, regimes.axes, regimes.classify,
               regimes.q_penalty, transfer.c_ft, transfer.c_ft_numeric, verify.run_checks, verify.main_verify,
               flow.min_q_interpolant, flow.min_q_interpolant_torch, flow.q_hyperbolic, flow.q_objective,
               flow.gen_error, replica.SolveResult.summary, replica.SolveResult.plot):
        assert "Returns\n-------" in inspect.getdoc(fn), fn.__qualname__


def test_api_reference_is_up_to_date():
    spec = importlib.util.spec_from_file_location("make_api", ROOT / "docs" / "make_api.py")
    make_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_api)
    current = (ROOT / "docs" / "api.md").read_text()
    assert make_api.render() == current, "docs/api.md is stale: run `python docs/make_api.py`"


def test_readme_map_matches_the_tree():
    """Every module of the four packages has a line in the map (docs/architecture.md), and every
    line names a file (or a glob) that exists."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Map of the repository", 1)[1].split("\n## ", 1)[0]
    entries = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
    covered = set()
    for entry in entries:
        found = sorted(ROOT.glob(entry))
        assert found, f"README map names {entry}, which does not exist"
        covered |= {p.relative_to(ROOT).as_posix() for p in found}
    modules = {p.relative_to(ROOT).as_posix() for pkg in ("symbolic", "numerics", "replica", "empirical")
               for p in (ROOT / pkg).rglob("*.py") if p.name != "__init__.py"}
    assert not modules - covered, f"modules missing from the README map: {sorted(modules - covered)}"
