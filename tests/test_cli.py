"""The ``ptft`` command line: documented forms, CSV header, one-line errors with exit 2."""
import io
import os
import stat
import subprocess
import sys

import pandas as pd
import pytest

from replica.cli import main


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
    proc = subprocess.run([sys.executable, "-m", "replica.cli", "solve", "--alpha", "0.2", "--format", "csv"],
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
