"""Prediction tables (`ptft table`, ptft.table): grid parsing, rows, resume after SIGKILL,
failing workers, one-line errors."""
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replica import Init, ParameterError, Task, solve
from ptft.cli import main
from ptft.grid import GridError, grid_from_dict, load_grid
from ptft.table import (COLUMNS, ChunkFailure, Plan, compute_chunk, count_infeasible_groups, describe,
                           read_table, run_table, table)

ROOT = Path(__file__).resolve().parents[1]

# 2 x 2 x 2 x 2 = 16 groups; feasible: 2 of the 4 (c_pt, lambda) pairs (lambda = -c_pt with gamma = 0
# gives c_FT = 0) x 3 of the 4 (rho_ft, omega) pairs (omega*rho_ft = 0.3 > rho_pt): 16 - 6 = 10 infeasible
SMALL = {"c_pt": [1e-3, 1.0], "lambda_pt_rel": [-1.0, 0.5], "rho_pt": 0.1, "rho_ft": [0.1, 0.3],
         "omega": [0.0, 1.0], "alpha": {"lin": [0.05, 1.2, 6]}}


def toml_text(d: dict) -> str:
    def fmt(v):
        if isinstance(v, dict):
            (k, a), = v.items()
            return "{%s = [%s]}" % (k, ", ".join(repr(x) for x in a))
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        return f'"{v}"' if isinstance(v, str) else repr(v)
    return "".join(f"{k} = {fmt(v)}\n" for k, v in d.items())


def write_grid(tmp_path, d, name="grid.toml") -> Path:
    path = tmp_path / name
    path.write_text(toml_text(d))
    return path


# -- grid parsing ------------------------------------------------------------------------
def test_ranges_lists_and_values_expand_to_the_product():
    g = grid_from_dict({"c_pt": {"log": [1e-4, 1.0, 5]}, "omega": [0, 0.5, 1], "noise": 0.1,
                        "alpha": {"lin": [0.1, 0.5, 5]}})
    assert g.values["c_pt"] == (1e-4, 1e-3, pytest.approx(1e-2), pytest.approx(0.1), 1.0)
    assert g.values["alpha"] == tuple(pytest.approx(a) for a in (0.1, 0.2, 0.3, 0.4, 0.5))
    assert g.names[-1] == "alpha" and g.values["noise"] == (0.1,)
    assert g.values["teacher"] == ("gaussian",) and g.values["rho_pt"] == (0.1,)   # `ptft solve` defaults
    assert (g.n_groups, g.n_points) == (15, 75)
    # C order over the canonical axes: c_pt varies slowest, omega fastest of the two
    assert [(p["c_pt"], p["omega"]) for p in map(g.group_params, range(4))] == \
        [(1e-4, 0.0), (1e-4, 0.5), (1e-4, 1.0), (1e-3, 0.0)]


def test_same_grid_same_digest_and_toml_equals_dict(tmp_path):
    assert load_grid(write_grid(tmp_path, SMALL)) == grid_from_dict(SMALL)
    assert grid_from_dict(SMALL).digest() == grid_from_dict(dict(SMALL)).digest()
    assert grid_from_dict(SMALL).digest() != grid_from_dict({**SMALL, "rho_pt": 0.2}).digest()


BAD = [
    ({"c_tp": 1.0}, "unknown key 'c_tp' (did you mean 'c_pt'?)"),
    ({"frobnicate": 1.0}, "unknown key 'frobnicate'"),
    ({"omega": []}, "omega: empty list"),
    ({"c_pt": {"log": [1e-3, 1.0, 0]}}, "c_pt: empty range"),
    ({"rho_ft": {"lin": [0.1, 0.2]}}, "rho_ft: lin range needs [start, stop, num]"),
    ({"rho_ft": {"geom": [0.1, 0.2, 3]}}, "rho_ft: a range is"),
    ({"c_pt": {"log": [0.0, 1.0, 3]}}, "c_pt: log range needs start, stop > 0"),
    ({"alpha": {"lin": [0.1, 0.2, 2.5]}}, "alpha: range num must be an integer"),
    ({"c_pt": "big"}, "c_pt: expected a number"),
    ({"noise": True}, "noise: expected a number"),
    ({"c_pt": -1.0}, "c_pt: value -1.0 is not > 0"),
    ({"rho_pt": [0.1, 1.5]}, "rho_pt: value 1.5 is not in [0, 1]"),
    ({"gamma_ft": -0.5}, "gamma_ft: value -0.5 is not >= 0"),
    ({"teacher": "uniform"}, "teacher: value 'uniform' is not one of gaussian|fixed"),
    ({"omega": [0.5, 0.5]}, "omega: duplicate value 0.5"),
    ({"lambda_pt": 0.0}, "lambda_pt_rel: give lambda_pt (absolute) or lambda_pt_rel"),
    ({"alpha": None}, "alpha: missing"),
    ({"rho_pt": 0.0, "omega": 1.0}, "rho_pt, rho_ft, omega: infeasible combination"),
    ({"lambda_pt_rel": None, "lambda_pt": [0.01, 0.02], "c_pt": 1e-3}, "lambda_pt, c_pt, gamma_ft: infeasible combination"),
    ({"lambda_pt_rel": -1.0, "gamma_ft": 0.0}, "c_FT = 0"),          # every point has c_FT = 0
    ({"bayes": [True, False]}, "bayes: a table option, give true or false"),
    ({"bayes": "yes"}, "bayes: a table option, give true or false"),
]


@pytest.mark.parametrize("change,needle", BAD)
def test_malformed_grid_one_line_exit_2_names_the_key(change, needle, tmp_path, capsys):
    d = {**SMALL, **change}
    d = {k: v for k, v in d.items() if v is not None}
    path = write_grid(tmp_path, d)
    code = main(["table", str(path), "--out", str(tmp_path / "t.parquet")])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ptft: error:") and needle in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.toml"]      # nothing written


@pytest.mark.parametrize("text,needle", [("c_pt = [1e-3,\n", "invalid TOML"), (None, "no such file")])
def test_unreadable_grid_file(text, needle, tmp_path, capsys):
    path = tmp_path / "g.toml"
    if text is not None:
        path.write_text(text)
    assert main(["table", str(path), "--describe"]) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("extra,needle", [(["--out", "{tmp}/t.txt"], ".parquet or .csv"),
                                          (["--out", "/nonexistent/d/t.csv"], "does not exist"),
                                          ([], "--out FILE"), (["--out", "{tmp}/t.csv", "--workers", "0"], "--workers")])
def test_bad_command_line(extra, needle, tmp_path, capsys):
    path = write_grid(tmp_path, SMALL)
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert main(["table", str(path)] + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


# -- the rows ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_table(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "t.parquet"
    run_table(SMALL, out, workers=1, chunk_rows=12)
    return read_table(out)


def test_rows_equal_direct_solve_and_infeasible_rows_carry_the_message(small_table):
    f = small_table
    grid = grid_from_dict(SMALL)
    assert list(f.columns) == list(COLUMNS)
    assert f.point.tolist() == list(range(grid.n_points))          # no row lost or doubled
    n_inf = 0
    for g, rows in f.groupby("group", sort=True):
        p = grid.group_params(g)
        try:
            task = Task(rho_pt=p["rho_pt"], rho_ft=p["rho_ft"], omega=p["omega"])
            init = Init(c_pt=p["c_pt"], lambda_pt=p["lambda_pt_rel"] * p["c_pt"])
            ref = solve(task, init, rows.alpha.to_numpy()).to_frame()
        except ParameterError as err:
            n_inf += 1
            assert (rows.status == "infeasible").all() and (rows.message == str(err)).all()
            assert rows.gen_error.isna().all() and not rows.converged.any()
            continue
        assert (rows.status == "ok").all() and (rows.message == "").all()
        for col in ("gen_error", "test_error", "sigma", "tau", "err_new", "residual", "n_evals", "phase",
                    "c_ft_used", "lambda_pt", "lambda_pt_rel"):
            np.testing.assert_array_equal(rows[col].to_numpy(), ref[col].to_numpy(), err_msg=col)
    assert n_inf == 10 == count_infeasible_groups(grid)                # two independent counts
    assert (f.ptft_version == f.ptft_version.iloc[0]).all() and f.ptft_version.iloc[0] != ""


def test_columns_cover_every_output_of_solve():
    res = solve(Task(), Init(), [0.2, 1.5]).to_frame()
    assert set(res.columns) <= set(COLUMNS) | {"teacher"}
    chunk = compute_chunk(grid_from_dict({"alpha": [0.2, 1.5]}), 0, 1)
    pd.testing.assert_frame_equal(chunk[res.columns], res, check_dtype=False, check_exact=True)   # the row is the solve row


def test_csv_output_equals_parquet_output(small_table, tmp_path):
    out = tmp_path / "t.csv"
    assert main(["table", str(write_grid(tmp_path, SMALL)), "--out", str(out), "--workers", "1", "--quiet",
                 "--chunk-rows", "12"]) == 0
    pd.testing.assert_frame_equal(read_table(out), small_table, check_dtype=False, check_exact=True)


def test_python_api_returns_the_frame(small_table):
    pd.testing.assert_frame_equal(table(SMALL, workers=1, chunk_rows=12), small_table, check_exact=True)
    with pytest.raises(GridError, match="unknown key 'alpah'"):
        table({"alpah": 0.1})


def test_describe_counts_and_estimates(tmp_path, capsys):
    est = describe(SMALL, chunk_rows=12, probe_seconds=0.2)
    assert (est.n_points, est.n_groups, est.n_alpha, est.n_chunks, est.n_infeasible_groups) == (96, 16, 6, 8, 10)
    assert est.probe_points > 0 and est.seconds(1) >= est.seconds(2) > 0
    assert main(["table", str(write_grid(tmp_path, SMALL)), "--describe"]) == 0
    out = capsys.readouterr().out
    assert "points: 96 = 16 groups x 6 alpha" in out and "estimate:" in out and "10 groups (60 points)" in out


# -- failures and resume --------------------------------------------------------------------
def compute_failing_chunk(grid, lo, hi):
    """A worker that raises on one chunk (module level so spawned workers can import it)."""
    if lo == 4:
        raise RuntimeError("boom in a worker")
    return compute_chunk(grid, lo, hi)


@pytest.mark.parametrize("workers", [1, 2])
def test_failing_worker_keeps_other_rows_and_resume_completes(workers, small_table, tmp_path):
    out = tmp_path / "t.parquet"
    plan = Plan.for_grid(grid_from_dict(SMALL), 12)                   # 2 groups per chunk, 8 chunks
    with pytest.raises(ChunkFailure, match="1 of 8 chunks failed.*groups 4..5.*boom in a worker"):
        run_table(SMALL, out, workers=workers, chunk_rows=12, compute=compute_failing_chunk)
    parts = sorted(p.name for p in (tmp_path / "t.parquet.parts").iterdir())
    assert parts == ["manifest.json"] + [f"part-{c:06d}.parquet" for c in range(plan.n_chunks) if c != 2]
    assert not out.exists()
    summary = run_table(SMALL, out, workers=1, resume=True)
    assert summary.n_computed == 12                                   # only the missing chunk
    pd.testing.assert_frame_equal(read_table(out), small_table, check_exact=True)
    assert not (tmp_path / "t.parquet.parts").exists()


def compute_dying_chunk(grid, lo, hi):
    """A worker process that dies outright (segfault, OOM kill) on one chunk."""
    if lo == 4:
        time.sleep(0.5)                  # let the other worker finish some chunks first
        os._exit(1)
    return compute_chunk(grid, lo, hi)


def test_dying_worker_process_keeps_finished_rows(small_table, tmp_path):
    out = tmp_path / "t.parquet"
    with pytest.raises(ChunkFailure, match="BrokenProcessPool"):
        run_table(SMALL, out, workers=2, chunk_rows=12, compute=compute_dying_chunk)
    kept = len(list((tmp_path / "t.parquet.parts").glob("part-*.parquet")))
    assert kept >= 1                    # the chunk finished before the death is on disk
    summary = run_table(SMALL, out, workers=1, resume=True)
    assert summary.n_computed == 96 - 12 * kept
    pd.testing.assert_frame_equal(read_table(out), small_table, check_exact=True)


def test_resume_recomputes_truncated_parts_and_ignores_stray_temporary_files(small_table, tmp_path):
    """What a power loss can leave: a half-written part under its final name, a temp file."""
    out = tmp_path / "t.parquet"
    with pytest.raises(ChunkFailure):
        run_table(SMALL, out, workers=1, chunk_rows=12, compute=compute_failing_chunk)
    parts = tmp_path / "t.parquet.parts"
    victim = parts / "part-000005.parquet"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    (parts / ".part-000006.parquet.tmp-x").write_bytes(b"partial")
    (tmp_path / ".t.parquet.tmp-y").write_bytes(b"partial")
    summary = run_table(SMALL, out, workers=1, resume=True)
    assert summary.n_computed == 24                                   # chunk 2 (failed) + chunk 5 (truncated)
    pd.testing.assert_frame_equal(read_table(out), small_table, check_exact=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


@settings(max_examples=60, deadline=None)
@given(n_groups=st.integers(1, 500), n_alpha=st.integers(1, 300), chunk_rows=st.integers(1, 5000))
def test_chunks_cover_every_group_exactly_once(n_groups, n_alpha, chunk_rows):
    grid = grid_from_dict({"c_pt": {"log": [1e-3, 1.0, n_groups]} if n_groups > 1 else 1e-3,
                           "alpha": {"lin": [0.01, 0.5, n_alpha]} if n_alpha > 1 else 0.1})
    plan = Plan.for_grid(grid, chunk_rows)
    bounds = [plan.bounds(c) for c in range(plan.n_chunks)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_groups
    assert all(hi > lo for lo, hi in bounds) and all(b[1] == c[0] for b, c in zip(bounds, bounds[1:]))
    assert sum(plan.rows(c) for c in range(plan.n_chunks)) == grid.n_points == n_groups * n_alpha
    assert max(plan.rows(c) for c in range(plan.n_chunks)) <= max(chunk_rows, n_alpha)


def test_resume_refuses_another_grid_and_fresh_run_refuses_old_parts(tmp_path, capsys):
    out = tmp_path / "t.parquet"
    with pytest.raises(ChunkFailure):
        run_table(SMALL, out, workers=1, chunk_rows=12, compute=compute_failing_chunk)
    other = write_grid(tmp_path, {**SMALL, "rho_pt": 0.2}, "other.toml")
    assert main(["table", str(other), "--out", str(out), "--resume"]) == 2
    assert "made from a different grid" in capsys.readouterr().err
    assert main(["table", str(write_grid(tmp_path, SMALL)), "--out", str(out)]) == 2
    assert "pass --resume" in capsys.readouterr().err


def test_dask_cluster_gives_the_same_rows(small_table, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        frame = table(SMALL, tmp_path / "t.parquet", dask=cluster.scheduler_address, chunk_rows=12)
    pd.testing.assert_frame_equal(frame, small_table, check_exact=True)


# a grid that takes a few seconds on one core, in 45 chunks
KILL_GRID = {"c_pt": {"log": [1e-3, 1.0, 12]}, "lambda_pt_rel": [-0.5, 0.0, 0.5], "omega": {"lin": [0.0, 1.0, 5]},
             "alpha": {"lin": [0.02, 0.7, 25]}}


def _sweep_cmd(grid_path, out, workers):
    return [sys.executable, "-m", "ptft.cli", "table", str(grid_path), "--out", str(out), "--resume",
            "--workers", str(workers), "--chunk-rows", "100", "--quiet"]


def _n_parts(parts: Path) -> int:
    return len(list(parts.glob("part-*.parquet"))) if parts.exists() else 0


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_exactly_the_uninterrupted_rows(tmp_path):
    grid_path = write_grid(tmp_path, KILL_GRID)
    ref_out = tmp_path / "ref.parquet"
    run_table(grid_path, ref_out, workers=1, chunk_rows=100)
    reference = read_table(ref_out)
    n_chunks = Plan.for_grid(load_grid(grid_path), 100).n_chunks
    out, parts = tmp_path / "killed.parquet", tmp_path / "killed.parquet.parts"
    rng = random.Random(20240605)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    history = []
    for kill in range(5):
        workers = 2 if kill == 2 else 1
        proc = subprocess.Popen(_sweep_cmd(grid_path, out, workers), env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        before = _n_parts(parts)
        deadline = time.monotonic() + 60
        while _n_parts(parts) <= before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)                       # started working: now kill at a random moment
        time.sleep(rng.uniform(0.0, 0.5))
        try:
            os.killpg(proc.pid, signal.SIGKILL)    # the sweep and its workers, like a power cut
        except ProcessLookupError:                 # it had already finished
            pass
        proc.wait()
        history.append(_n_parts(parts))
        if not parts.exists():                     # it finished before the kill
            break
    print(f"parts on disk after each SIGKILL: {history} of {n_chunks}")
    assert any(0 < n < n_chunks for n in history), history          # some kill landed mid-sweep
    proc = subprocess.run(_sweep_cmd(grid_path, out, 1), env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    resumed = read_table(out)
    pd.testing.assert_frame_equal(resumed, reference, check_exact=True)   # exact, every column
    assert resumed.point.is_unique and len(resumed) == load_grid(grid_path).n_points
    assert not parts.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_docs_example_runs(tmp_path):
    """The code in docs/tables.md loads a table and plots a slice."""
    text = (ROOT / "docs" / "tables.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, re.S)
    assert code, "no python block in docs/tables.md"
    run_table(ROOT / "examples" / "grid.toml", tmp_path / "table.parquet", workers=1)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code[0].replace("docs/img/", ""), "docs/tables.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert (tmp_path / "table_slice.png").stat().st_size > 10_000


# -- the --out contract: lock, symlinks, permissions, orphans ------------------------------
def test_second_run_on_the_same_out_is_refused_naming_the_holder(tmp_path, capsys):
    from ptft.table import OutLock

    path = write_grid(tmp_path, SMALL)
    out = tmp_path / "t.parquet"
    with OutLock(out):
        assert main(["table", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in use" in err[0] and f"pid {os.getpid()}" in err[0], err
    assert not out.exists()
    assert main(["table", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0   # released
    assert not (tmp_path / ".t.parquet.lock").exists()


def test_symlinked_out_is_written_through(small_table, tmp_path):
    target = tmp_path / "real" / "t.parquet"
    target.parent.mkdir()
    link = tmp_path / "link.parquet"
    link.symlink_to(target)
    run_table(SMALL, link, workers=1, chunk_rows=12)
    assert link.is_symlink() and os.readlink(link) == str(target)
    pd.testing.assert_frame_equal(read_table(target), small_table, check_exact=True)


def test_unwritable_out_directory_is_exit_2(tmp_path, monkeypatch, capsys):
    path = write_grid(tmp_path, SMALL)
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(ro) else real(p, mode))
    assert main(["table", str(path), "--out", str(ro / "t.csv"), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not writable" in err[0]


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_workers_die_when_the_parent_is_killed(tmp_path):
    grid_path = write_grid(tmp_path, KILL_GRID)
    out = tmp_path / "t.parquet"
    proc = subprocess.Popen(_sweep_cmd(grid_path, out, 2), env=dict(os.environ, OPENBLAS_NUM_THREADS="1"),
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers = []
    while time.monotonic() < deadline and proc.poll() is None:
        own = Path(f"/proc/{proc.pid}/cmdline").read_text()
        # forked workers share the parent's command line; spawned ones run spawn_main
        workers = [k for k in _children(proc.pid) if Path(f"/proc/{k}/cmdline").read_text() == own
                   or "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
        if len(workers) >= 2:
            break
        time.sleep(0.05)
    assert len(workers) >= 2, "the sweep did not start its workers"
    os.kill(proc.pid, signal.SIGKILL)          # the parent only, as `kill -9 PID` would
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    survivors = [w for w in workers if _alive(w)]
    for w in survivors:                        # never leave them running, even when failing
        os.kill(w, signal.SIGKILL)
    assert not survivors


def test_infinite_prediction_is_never_ok():
    """alpha = 1 with label noise: the replica error is infinite (a pole of the min-norm
    interpolator, error ~ noise^2 / |1 - alpha|); the row is noconv/divergent, its
    neighbours are ok and grow towards the pole."""
    grid = grid_from_dict({"noise": 0.1, "alpha": [0.9, 0.99, 1.0, 1.01, 1.1]})
    frame = compute_chunk(grid, 0, 1)
    pole = frame[frame.alpha == 1.0].iloc[0]
    assert pole.status == "noconv" and pole.phase == "divergent" and not pole.converged
    others = frame[frame.alpha != 1.0]
    assert (others.status == "ok").all() and np.isfinite(others.gen_error).all()
    near = others.set_index("alpha").gen_error
    assert near[0.99] > near[0.9] and near[1.01] > near[1.1]


@pytest.mark.parametrize("data, needle", [
    ({"c_pt": {"log": [1e-4, 1.0, 1001]}, "gamma_ft": {"lin": [0.0, 1.0, 1001]}, "alpha": [0.2]}, "initialisations"),
    ({"rho_ft": {"lin": [0.01, 1.0, 1001]}, "omega": {"lin": [0.0, 1.0, 1001]}, "alpha": [0.2]}, "tasks"),
    ({"alpha": {"lin": [0.01, 0.5, 100001]}}, "per axis"),
    ({"c_pt": {"log": [1e-4, 1.0, 1000]}, "noise": {"lin": [0.0, 1.0, 1000]}, "reg": {"lin": [0.0, 1.0, 1000]},
      "alpha": {"lin": [0.1, 0.5, 10]}}, "points"),
])
def test_grid_sizes_are_bounded(data, needle):
    """Sizes a sweep (or the feasibility count of --describe) could never finish are refused
    at once, naming the bound."""
    t0 = time.perf_counter()
    with pytest.raises(GridError, match=needle):
        grid_from_dict(data)
    assert time.perf_counter() - t0 < 5


def test_bayes_columns_equal_the_limit_solved_directly(tmp_path):
    """`bayes = true` appends the Bayes/AMP limit of each row's task; efficiency = bayes / gen
    error lies in [0, 1] within the estimates (Bayes is below every estimator, the network too)."""
    from replica.bayes import solve_bayes
    from ptft.table import BAYES_COLUMNS

    d = {"c_pt": [1e-3, 1.0], "lambda_pt_rel": 0.0, "rho_pt": 0.1, "rho_ft": 0.1, "omega": [0.5, 1.0],
         "teacher": ["gaussian", "fixed"], "noise": [0.0, 0.1], "alpha": {"lin": [0.05, 0.8, 5]}}
    plain, with_limit = grid_from_dict(d), grid_from_dict({**d, "bayes": True})
    assert plain.digest() == grid_from_dict({**d, "bayes": False}).digest() != with_limit.digest()
    assert not plain.bayes and with_limit.bayes and with_limit.n_points == plain.n_points
    out = tmp_path / "t.csv"
    assert main(["table", str(write_grid(tmp_path, {**d, "bayes": True})), "--out", str(out), "--workers", "1",
                 "--quiet"]) == 0
    f = read_table(out)
    assert list(f.columns) == list(COLUMNS) + list(BAYES_COLUMNS)
    assert set(BAYES_COLUMNS).isdisjoint(compute_chunk(plain, 0, 1).columns)
    for _, rows in f.groupby("group"):
        r = rows.iloc[0]
        task = Task(rho_pt=r.rho_pt, rho_ft=r.rho_ft, omega=r.omega, teacher=r.teacher, noise=r.noise)
        lim = solve_bayes(task, rows.alpha.to_numpy())
        assert lim.converged.all()
        for col in BAYES_COLUMNS[:4]:
            np.testing.assert_allclose(rows[col].to_numpy(), getattr(lim, col), rtol=1e-15, atol=0, err_msg=col)
        ok = rows.converged.to_numpy()
        gen, err = rows.gen_error.to_numpy()[ok], rows.gen_error_err.to_numpy()[ok]
        b, berr, eff = lim.bayes_error[ok], lim.bayes_error_err[ok], rows.efficiency.to_numpy()[ok]
        np.testing.assert_allclose(eff[gen > 0], b[gen > 0] / gen[gen > 0], rtol=1e-15)
        assert (b <= gen + err + berr).all()
        pos = gen > 0
        assert (eff[pos] <= 1 + (err[pos] + berr[pos]) / gen[pos]).all() and (eff >= 0).all()
