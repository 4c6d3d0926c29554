"""The ``ptft`` command line: documented forms, CSV header, one-line errors with exit 2."""
import io
import os
import stat
import subprocess
import sys

import pandas as pd
import pytest

from ptft.cli import main


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_solve_csv_header_and_values(capsys):
    code, out, err = run(["solve", "--c-pt", "1e-3", "--lambda-pt", "0", "--gamma-ft", "0", "--rho-pt", "0.1",
                          "--rho-ft", "0.1", "--omega", "1", "--alpha", "0.1,0.2,0.3", "--format", "csv"], capsys)
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    for col in ("alpha", "gen_error", "sigma", "tau", "residual", "converged"):
        assert col in frame.columns
    assert list(frame.alpha) == [0.1, 0.2, 0.3] and frame.converged.all()
    assert (frame.gen_error.diff().dropna() < 0).all()       # more data, less error


def test_alpha_range_and_shared_new_form(capsys):
    code, out, _ = run(["solve", "--rho-shared", "0.05", "--rho-new", "0.05", "--alpha", "0.1:0.3:3",
                        "--format", "json"], capsys)
    frame = pd.read_json(io.StringIO(out))
    assert code == 0 and len(frame) == 3 and frame.omega.iloc[0] == pytest.approx(0.5)


def test_single_penalty(capsys):
    code, out, _ = run(["single", "--penalty", "Abs(b)", "--rho", "0.1", "--alpha", "0.3,0.4", "--format", "csv"], capsys)
    frame = pd.read_csv(io.StringIO(out))
    assert code == 0 and list(frame.phase) == ["interior", "recovery"]


def test_out_file_is_written(tmp_path, capsys):
    target = tmp_path / "t.csv"
    code, out, _ = run(["solve", "--alpha", "0.2", "--format", "csv", "--out", str(target)], capsys)
    assert code == 0 and out == "" and pd.read_csv(target).shape[0] == 1


@pytest.mark.parametrize("args,needle", [
    (["solve", "--rho-pt", "0.1", "--rho-ft", "0.5", "--omega", "0.5"], "infeasible"),
    (["solve", "--c-pt", "0"], "c_pt"),
    (["solve", "--c-pt", "1e-3", "--lambda-pt", "2e-3"], "lambda_pt"),
    (["solve", "--alpha", "-0.1"], "alpha"),
    (["solve", "--alpha", "nan"], "NaN"),
    (["solve", "--alpha", "0.1:0.5:0"], "num must be >= 1"),
    (["solve", "--alpha", "0.1:inf:3"], "finite"),
    (["solve", "--alpha", "0.2,inf"], "finite"),
    (["single", "--rho", "1.5", "--alpha", "0.2"], "rho must lie"),
    (["solve", "--c-pt", "nan"], "c_pt"),
    (["solve", "--gamma-ft", "-1"], "gamma_ft"),
    (["single", "--penalty=-b**2"], "not convex"),
    (["single", "--penalty", "b*y"], "expression in b"),
    (["solve", "--out", "/nonexistent/dir/x.csv", "--alpha", "0.2"], "does not exist"),
    (["frobnicate"], "invalid choice"),
    (["solve", "--alpha", "0.2", "--out", "{tmp}"], "is a directory"),
])
def test_bad_input_one_line_exit_2(args, needle, capsys, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = run(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ptft: error:") and needle in lines[0]
    assert not list(tmp_path.iterdir())          # nothing half-written left behind


def test_penalty_without_minimum_is_flagged_not_crashing(capsys):
    code, out, err = run(["single", "--penalty", "exp(-b)", "--alpha", "0.2", "--format", "csv"], capsys)
    assert code == 3 and "did not converge" in err and "False" in out


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "ptft.cli", "solve", "--alpha", "0.2", "--format", "csv"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("alpha,gen_error")


def test_out_writes_through_symlinks_and_devices(tmp_path, capsys):
    """--out never replaces a symlink or a device node by a regular file."""
    real, link = tmp_path / "real.csv", tmp_path / "link.csv"
    real.write_text("")
    link.symlink_to(real.name)
    assert run(["solve", "--alpha", "0.2", "--format", "csv", "--out", str(link)], capsys)[0] == 0
    assert link.is_symlink() and pd.read_csv(real).shape[0] == 1
    assert run(["solve", "--alpha", "0.2", "--format", "csv", "--out", "/dev/null"], capsys)[0] == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


# -- the error contract (issue: bad input is refused, never executed) ------------------------
@pytest.mark.parametrize("args, needle", [
    (["optimize", "--alpha", "0.3", "--lambda-bounds", "-0.5,0.5", "--c-pt-bounds", "-1,1"], "c_pt"),
    (["single", "--penalty", "-b**2", "--alpha", "0.3"], "not convex"),
    (["solve-ext", "--variances", "-0.5:1", "--alpha", "0.2"], "sum to -0.5"),
    (["solve", "--alpha", "-0.5,0.5"], "alpha must be > 0"),
])
def test_negative_values_are_values_not_options(args, needle, capsys):
    """'-0.5,0.5', '-b**2', '-0.5:1' reach their option (and are judged on their merits)
    instead of being rejected by the parser as unknown options."""
    code, _, err = run(args, capsys)
    assert code == 2 and needle in err and "expected one argument" not in err, err


def test_negative_list_value_is_used(capsys):
    code, out, err = run(["optimize", "--alpha", "0.3", "--lambda-bounds", "-0.5,0.5", "--grid", "2,2,2",
                          "--starts", "1", "--format", "csv"], capsys)
    frame = pd.read_csv(io.StringIO(out))
    assert code in (0, 3), err
    best = frame[frame.setting == "optimum"].iloc[0]          # the other rows are canonical settings
    assert -0.5 <= best.lambda_pt_rel <= 0.5


@pytest.mark.parametrize("extra", [["--omega", "0.5"], ["--rho-ft", "0.2"]])
def test_conflicting_task_options_are_refused(extra, capsys):
    code, _, err = run(["solve", "--rho-shared", "0.05", "--rho-new", "0.05", "--alpha", "0.2"] + extra, capsys)
    assert code == 2 and "not both" in err


@pytest.mark.parametrize("option, value", [("--c-pt", "1e308"), ("--c-pt", "1e-320"), ("--a-pt", "1e308"),
                                           ("--gamma-ft", "1e308"), ("--noise", "1e308"), ("--alpha", "1e308"),
                                           ("--alpha", "1e-320")])
def test_values_outside_the_documented_limits_are_refused(option, value, capsys):
    from replica.params import LIMITS

    code, _, err = run(["solve", "--alpha", "0.2", option, value], capsys)
    name = option[2:].replace("-", "_")
    lo, hi = LIMITS[name]
    assert code == 2 and "supported range" in err and f"{hi:g}" in err, err


def test_limits_keep_the_solver_finite(capsys):
    """At both ends of every documented range the solver gives finite, converged points
    (so the limits refuse nothing that would have worked... and allow nothing that fails)."""
    from replica.params import LIMITS

    for name in ("c_pt", "a_pt", "gamma_ft", "noise"):
        lo, hi = LIMITS[name]
        for value in {max(lo, 1e-100 if name == "c_pt" else 0.0), hi}:
            code, out, err = run(["solve", "--alpha", "0.2,0.6", "--format", "csv",
                                  f"--{name.replace('_', '-')}", repr(value)], capsys)
            frame = pd.read_csv(io.StringIO(out))
            assert code == 0 and frame.converged.all() and frame.gen_error.notna().all(), (name, value, err)


def test_alpha_one_with_noise_flagged_and_no_warning_leaks(capsys):
    code, out, err = run(["solve", "--alpha", "1", "--noise", "0.1", "--format", "csv"], capsys)
    frame = pd.read_csv(io.StringIO(out))
    assert code == 3 and not frame.converged.any() and frame.phase.iloc[0] == "divergent"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ptft: warning:") and "RuntimeWarning" not in err


def test_internal_error_is_one_line_exit_1(monkeypatch, capsys):
    import ptft.cli as cli

    def broken(args):
        raise ZeroDivisionError("a bug")

    real = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_handler(real(), broken))
    code, _, err = run(["solve"], capsys)
    assert code == 1 and err.count("\n") == 1 and "internal error: ZeroDivisionError" in err
    monkeypatch.setenv("PTFT_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["solve"])


def _with_handler(parser, handler):
    parser.set_defaults(_handlers={"solve": handler})
    return parser


def test_version(capsys):
    import replica

    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"ptft {replica.__version__}"
    from importlib.metadata import version

    assert replica.__version__ == version("ptft")


def test_help_is_fast_and_light():
    """`ptft --help` imports none of the heavy libraries (measured: python -X importtime)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "ptft.cli", "--help"], capture_output=True,
                         text=True, timeout=60, cwd=root,
                         env=dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert out.returncode == 0 and "usage: ptft" in out.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert not imported & {"numpy", "sympy", "scipy", "torch", "pandas", "numba"}, imported & {"numpy", "sympy"}


def test_documented_limits_match_the_code():
    """docs/errors.md lists every entry of replica.params.LIMITS with the same bounds."""
    import re

    from replica.params import LIMITS

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = open(os.path.join(root, "docs", "errors.md")).read()
    rows = dict((name, (float(lo), float(hi))) for name, lo, hi in
                re.findall(r"^\| (\w+) \| ([-+.e0-9]+) \| ([-+.e0-9]+) \|$", text, re.M))
    assert rows == {k: (float(lo), float(hi)) for k, (lo, hi) in LIMITS.items()}


@pytest.mark.parametrize("args, code_wanted, needle", [
    (["linear-teacher", "deep", "--depth", "1", "--dim", "5", "--n", "2", "--lr", "0.99"], 3, "diverged at step"),
    (["head-energy", "--ft-time", "1e308", "--tau", "0"], 2, "budget"),
    (["linear-teacher", "ntk", "--steps", "10000000000"], 2, "--steps"),
])
def test_former_hangs_stop_at_once(args, code_wanted, needle, capsys):
    """Inputs that used to run for hours (a diverging GD loop, 1e308 of flow time, 1e10
    steps) stop within seconds with one line."""
    import time

    t0 = time.perf_counter()
    code, _, err = run(args, capsys)
    lines = [ln for ln in err.splitlines() if ln.startswith("ptft:")]
    assert code == code_wanted and len(lines) == 1 and needle in lines[0], err
    assert time.perf_counter() - t0 < 30


def test_unwritable_output_is_exit_2_one_line(tmp_path, monkeypatch, capsys):
    """A directory where no file can be created (as for a read-only one): one line, exit 2,
    nothing left behind."""
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    code, _, err = run(["solve", "--alpha", "0.2", "--out", str(tmp_path / "r.csv")], capsys)
    assert code == 2 and err.count("\n") == 1 and "cannot write" in err and "Permission denied" in err
    assert list(tmp_path.iterdir()) == []


def test_empty_theory_column_is_a_failure(monkeypatch, capsys):
    """simulate: if the replica prediction is missing (NaN) for some alpha, exit 3, not 0."""
    import numpy as np

    import empirical.simulate as sim

    real = sim.summarize

    def without_theory(runs, *a, **k):
        table = real(runs, *a, **k)
        table["theory"] = np.nan
        return table

    monkeypatch.setattr(sim, "summarize", without_theory)
    code, _, err = run(["simulate", "--alpha", "0.3", "--dim", "20", "--seeds", "2", "--quiet",
                        "--device", "cpu"], capsys)
    assert code == 3 and "theory" in err


# -- every number at full precision, the same parameter columns everywhere --------------------
SMALL = ["--c-pt", "1e-3", "--lambda-pt", "-0.00099999", "--gamma-ft", "1e-6", "--rho-ft", "0.01", "--omega", "1",
         "--alpha", "0.5,0.7"]


def _bits_equal(a, b) -> bool:
    import math
    import struct

    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return struct.pack("<d", float(a)) == struct.pack("<d", float(b))


def _api_frame():
    from replica import Init, Task, solve

    return solve(Task(rho_ft=0.01, omega=1.0), Init(c_pt=1e-3, lambda_pt=-0.00099999, gamma_ft=1e-6),
                 [0.5, 0.7]).to_frame()


def test_json_reads_back_bit_exact(capsys):
    """gen_error ~ 1e-15 used to print as 0.000000000000002 (32 % off): every float in the
    JSON must be the API's float64, bit for bit (read with the standard json module)."""
    import json
    import math

    code, out, err = run(["solve", *SMALL, "--format", "json"], capsys)
    assert code == 0, err
    records, ref = json.loads(out), _api_frame()
    assert ref.gen_error.max() < 1e-13          # the case that lost digits
    for i, rec in enumerate(records):
        for col in ref.columns:
            want = ref[col].iloc[i]
            if isinstance(want, str) or isinstance(want, (bool,)) or str(ref[col].dtype) in ("bool", "object"):
                continue
            got = math.nan if rec[col] is None else rec[col]
            assert _bits_equal(got, float(want)), (col, got, want)


def test_csv_reads_back_bit_exact(capsys):
    import csv

    code, out, err = run(["solve", *SMALL, "--format", "csv"], capsys)
    assert code == 0, err
    rows, ref = list(csv.DictReader(io.StringIO(out))), _api_frame()
    numeric = [c for c in ref.columns if str(ref[c].dtype).startswith(("float", "int"))]
    for i, row in enumerate(rows):
        for col in numeric:
            got = float(row[col]) if row[col] != "" else float("nan")
            assert _bits_equal(got, float(ref[col].iloc[i])), (col, row[col], ref[col].iloc[i])


@pytest.mark.parametrize("rtol", ["1e-6", "1e-8"])
def test_text_table_rounds_below_the_rtol_and_says_so(rtol, capsys):
    """The text table shows enough significant digits that rounding stays below rtol/10."""
    code, out, err = run(["solve", "--alpha", "0.2,0.3", "--rtol", rtol], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "significant digits" in lines[-1] and "csv or json" in lines[-1]
    header = lines[1].split()
    shown = [float(ln.split()[header.index("gen_error")]) for ln in lines[2:4]]
    from replica import Init, Task, solve

    exact = solve(Task(), Init(), [0.2, 0.3], rtol=float(rtol)).gen_error
    for s, e in zip(shown, exact):
        assert abs(s - e) <= float(rtol) / 10 * abs(e)


def test_api_never_calls_inf_converged():
    """alpha = 1 with label noise: the min-norm interpolator's error has a pole; the Python
    result says so itself (not only the command line)."""
    import math

    from replica import Init, Task, solve

    res = solve(Task(noise=0.1), Init(), [0.5, 1.0, 2.0])
    assert math.isinf(res.gen_error[1]) and not res.converged[1] and res.phase[1] == "divergent"
    assert res.converged[[0, 2]].all()
    assert res.gen_error[2] == pytest.approx(0.01 / (2.0 - 1.0), rel=1e-12)     # sigma^2 / (alpha - 1)


@pytest.mark.parametrize("argv", [
    ["solve", "--alpha", "0.2"],
    ["solve-ext", "--alpha", "0.2", "--alpha-pt", "0.5"],
    ["solve-ext", "--alpha", "0.2", "--variances", "0.5:1,0.5:2"],
    ["regime"],
    ["simulate", "--alpha", "0.3", "--dim", "20", "--seeds", "2", "--quiet", "--device", "cpu"],
    ["optimize", "--alpha", "0.3", "--grid", "2,2,2", "--starts", "1"],
])
def test_every_command_carries_the_parameter_columns(argv, capsys):
    """One row builder: both lambda conventions and every task parameter in every output."""
    from replica.result import PARAMETER_COLUMNS

    code, out, err = run(argv + ["--lambda-pt", "-0.5", "--lambda-relative"] * (argv[0] != "optimize")
                         + ["--format", "csv"], capsys)
    assert code in (0, 3), err
    frame = pd.read_csv(io.StringIO(out))
    expected = set(PARAMETER_COLUMNS)
    assert expected <= set(frame.columns), expected - set(frame.columns)
    if argv[0] != "optimize":
        assert frame.lambda_pt_rel.iloc[0] == -0.5 and frame.lambda_pt.iloc[0] == pytest.approx(-0.5e-3, rel=1e-15)


def test_optimize_json_carries_the_box_wall_report(capsys):
    """What the text head says about the search-box walls is in the json rows too."""
    import json

    argv = ["optimize", "--alpha", "0.3", "--grid", "2,2,2", "--starts", "1", "--c-pt-bounds", "1e-3,1e-2"]
    code, text, _ = run(argv, capsys)
    code_j, out, _ = run(argv + ["--format", "json"], capsys)
    optimum = next(r for r in json.loads(out) if r["setting"] == "optimum")
    assert code == code_j
    assert ("search-box wall" in text) == bool(optimum["box_walls"])
    if optimum["box_walls"]:
        assert optimum["beyond_walls_objective"] is not None
        for wall in optimum["box_walls"].split(","):
            assert wall in text
