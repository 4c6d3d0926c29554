"""Throughput benchmark of ``ptft table`` on a 10^5-point grid.

Measures, each as a fresh ``ptft table`` process (so interpreter start, imports and loading
the cached Numba kernels in every worker are counted):
  1. ``--describe``: the estimated time for 1 and 2 workers (and how long the dry run took);
  2. the sweep with ``--workers 1`` and ``--workers 2``;
  3. the sweep with ``--dask ADDRESS`` on a ``dask.distributed.LocalCluster`` of 2 worker
     processes x 1 thread, started beforehand (its start-up is reported separately);
and checks that the three tables are identical, row for row.

Prints a markdown table and writes every number to ``benchmarks/results/table.json``.

    python benchmarks/bench_table.py [--quick] [--out FILE]
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent

# 10 x 5 x 2 x 5 x 2 = 1000 groups x 100 alpha = 10^5 points, all feasible
# (omega * rho_ft <= rho_pt = 0.1, |lambda_PT / c_PT| < 1)
GRID = """\
c_pt          = {log = [1e-4, 10.0, 10]}
lambda_pt_rel = [-0.99, -0.5, 0.0, 0.5, 0.99]
gamma_ft      = [0.0, 0.01]
rho_pt        = 0.1
rho_ft        = [0.05, 0.1]
omega         = {lin = [0.0, 1.0, 5]}
alpha         = {lin = [0.005, 0.5, 100]}
"""
QUICK_GRID = GRID.replace("{log = [1e-4, 10.0, 10]}", "1e-3").replace("{lin = [0.0, 1.0, 5]}", "[0.0, 1.0]")


def _child_cpu() -> float:
    """CPU seconds (user + sys) of all finished child processes so far."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall, proc.stdout + proc.stderr


def _ptft(*args) -> list[str]:
    return [sys.executable, "-m", "ptft.cli", "table", *map(str, args)]


def describe(grid: Path) -> dict:
    wall, text = _run(_ptft(grid, "--describe", "--workers", "2"))
    est = re.search(r"estimate: ([\d.]+) (s|min|h) with 1 worker, ([\d.]+) (s|min|h) with 2", text)
    scale = {"s": 1, "min": 60, "h": 3600}
    probe = re.search(r"probe: (\d+) points in ([\d.]+) s", text)
    return {"wall_s": wall, "predicted_1_worker_s": float(est[1]) * scale[est[2]],
            "predicted_2_workers_s": float(est[3]) * scale[est[4]],
            "probe_points": int(probe[1]), "probe_s": float(probe[2]), "text": text.strip()}


def sweep(grid: Path, out: Path, n_points: int, *extra) -> dict:
    cpu0 = _child_cpu()
    wall, text = _run(_ptft(grid, "--out", out, "--quiet", *extra))
    cpu = _child_cpu() - cpu0                 # the sweep and its spawned workers (not Dask's)
    inner = re.search(r"computed in ([\d.]+) s", text)
    return {"args": list(map(str, extra)), "wall_s": wall, "points_per_s": n_points / wall,
            "cpu_s": cpu, "points_per_cpu_s": n_points / cpu if cpu > 0 else None,
            "sweep_s": float(inner[1]), "message": text.strip().splitlines()[-1]}


def dask_sweep(grid: Path, out: Path, n_points: int) -> dict:
    from distributed import LocalCluster

    t0, cpu0 = time.perf_counter(), _child_cpu()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        started = time.perf_counter() - t0
        res = sweep(grid, out, n_points, "--dask", cluster.scheduler_address)
    res["cluster_start_s"] = started
    # Dask's worker processes are reaped at cluster close: count them with the client
    res["cpu_s"] = _child_cpu() - cpu0
    res["points_per_cpu_s"] = n_points / res["cpu_s"] if res["cpu_s"] > 0 else None
    return res


def machine() -> dict:
    import numba
    import numpy

    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "affinity_cpus": len(os.sched_getaffinity(0)), "numpy": numpy.__version__, "numba": numba.__version__,
            "loadavg": list(os.getloadavg()), "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 10^4-point grid instead of 10^5")
    ap.add_argument("--out", default=str(HERE / "results" / "table.json"))
    args = ap.parse_args(argv)
    import pandas as pd

    from ptft.grid import load_grid

    with tempfile.TemporaryDirectory(prefix="ptft-bench-table-") as tmp:
        tmp = Path(tmp)
        grid = tmp / "grid.toml"
        grid.write_text(QUICK_GRID if args.quick else GRID)
        n = load_grid(grid).n_points
        load_before = list(os.getloadavg())
        result = {"quick": args.quick, "machine": machine(), "grid": grid.read_text(), "n_points": n}
        result["describe"] = describe(grid)
        result["workers_1"] = sweep(grid, tmp / "w1.parquet", n, "--workers", "1")
        result["workers_2"] = sweep(grid, tmp / "w2.parquet", n, "--workers", "2")
        result["dask_2"] = dask_sweep(grid, tmp / "dask.parquet", n)
        ref = pd.read_parquet(tmp / "w1.parquet")
        result["identical_tables"] = all(ref.equals(pd.read_parquet(tmp / f)) for f in ("w2.parquet", "dask.parquet"))
        result["rows_ok"] = int((ref.status == "ok").sum())
        result["loadavg_before_after"] = [load_before, list(os.getloadavg())]
    d = result["describe"]
    for key, pred in (("workers_1", d["predicted_1_worker_s"]), ("workers_2", d["predicted_2_workers_s"])):
        result[key]["describe_predicted_s"] = pred
        result[key]["actual_over_predicted"] = result[key]["wall_s"] / pred
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    _print(result)
    return 0 if result["identical_tables"] else 1


def _print(r: dict) -> None:
    print(f"grid: {r['n_points']} points; --describe took {r['describe']['wall_s']:.1f} s")
    print("| run | wall s | points/s | CPU s | points per CPU s | --describe predicted s |")
    print("|---|---|---|---|---|---|")
    for key, label in (("workers_1", "--workers 1"), ("workers_2", "--workers 2"), ("dask_2", "--dask (LocalCluster 2x1)")):
        row = r[key]
        pred = f"{row['describe_predicted_s']:.1f}" if "describe_predicted_s" in row else "-"
        print(f"| {label} | {row['wall_s']:.1f} | {row['points_per_s']:.0f} | {row['cpu_s']:.1f} | "
              f"{row['points_per_cpu_s']:.0f} | {pred} |")
    print(f"load average before/after: {r['loadavg_before_after']}")
    print(f"dask cluster start-up: {r['dask_2']['cluster_start_s']:.1f} s; identical tables: {r['identical_tables']}")


if __name__ == "__main__":
    sys.exit(main())
