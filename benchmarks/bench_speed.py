"""Speed of the interactive paths, old and new code timed side by side in one run.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_speed.py [--quick] [--before DIR] [--rows a,b,...]

Every row is measured twice in fresh processes: once with ``PYTHONPATH=DIR`` (the code before
the speed work, default ``/work/base``, with its own kernel cache) and once with this tree, and
printed with the ratio before/after.  Rows:

  warm      warm curve point: 100-point curve alpha = linspace(0.01, 0.5, 100), regimes I-IV x 3
            tasks (c_PT = 1e-3, rho_PT = 0.1), median per point over the 12 curves
  cold      isolated cold point: one-point solves at alpha 0.05, 0.2, 0.4, median over all
  first     cached first call: ``solve(Task(), Init(), [0.2])`` with imports, fresh process, kernels cached
  table     10^5-point table (``benchmarks/bench_table.py``'s grid) with ``--workers 2``, process wall
  optimize  ``ptft optimize --rho-pt 0.2 --rho-ft 0.05 --omega 0.5 --alpha 0.15`` (process wall) and its optimum
  fig2      ``ptft figure fig2 --quick`` (process wall)
  aniso     anisotropic inputs + imperfect PT (alpha_PT = 0.5), ms per point of a 12-point curve
  train     network training to the flow end point, D = 1000, alpha 0.5, mixed and rich settings:
            CPU seconds per run (fastest converged method the code has: ``--train-methods``, one
            torch thread) and distance to the exact flow minimiser (dual Newton, tol 1e-13)

The SciPy baseline (``scipy_baseline.solve_point``, quad + brentq prox) is timed once on a few
points (it does not depend on the code) and divided by the warm and cold point times.
Results: ``benchmarks/results/speed.json`` (``--quick``: ``speed_quick.json``).
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROWS = ("warm", "cold", "first", "table", "optimize", "fig2", "aniso", "train")
TARGETS = {"warm": 0.1e-3, "cold": 1e-3, "first": 0.4, "table": 5.0, "optimize": 1.5, "fig2": 2.0,
           "aniso": 5e-3, "train": 15.0}
LABELS = {"warm": "warm curve point, regimes I-IV x 3 tasks (median)", "cold": "isolated cold point",
          "first": "cached first call (import + solve)", "table": "10^5-point table, 2 workers",
          "optimize": "`ptft optimize` (rho_PT 0.2, rho_FT 0.05, omega 0.5, alpha 0.15)",
          "fig2": "`ptft figure fig2 --quick`", "aniso": "anisotropic + imperfect PT point",
          "train": "network training to the flow end point, D = 1000, alpha 0.5 (CPU s per run, worst of mixed/rich)"}
UNITS = {"warm": "ms", "cold": "ms", "aniso": "ms"}

C_PT, RHO_PT = 1e-3, 0.1
REGIMES = {"I": (-0.999e-3, 1e-6), "II": (0.0, 0.0), "III": (0.0, 10.0), "IV": (-0.99e-3, 0.0)}
TASKS = {"w=0,rft=0.1": (0.0, 0.1), "w=1,rft=0.1": (1.0, 0.1), "w=1,rft=0.01": (1.0, 0.01)}
TRAIN_SETTINGS = {"mixed": (1e-3, 0.0, 1.0), "rich": (1e-6, 0.0, 0.0)}     # c_PT, gamma_FT, omega
OPTIMIZE_ARGS = ["optimize", "--rho-pt", "0.2", "--rho-ft", "0.05", "--omega", "0.5", "--alpha", "0.15"]


# -- measurements run inside a child process (the code under test is on PYTHONPATH) ---------------
def _median_time(fn, repeats):
    sys.path.insert(0, str(HERE))
    from bench_solver import _median_time as timed      # one timing helper for the benchmarks

    return timed(fn, repeats)[0]


def child_points(quick):
    import numpy as np

    from replica import Init, Task, solve

    solve(Task(), Init(), [0.2])
    curve = np.linspace(0.01, 0.5, 100)
    warm, cold, ok = [], [], True
    for lam, gam in REGIMES.values():
        init = Init(c_pt=C_PT, lambda_pt=lam, gamma_ft=gam)
        for omega, rho_ft in TASKS.values():
            task = Task(rho_pt=RHO_PT, rho_ft=rho_ft, omega=omega)
            res = solve(task, init, curve)
            ok &= bool(res.converged.all()) and hasattr(res, "gen_error_err")
            warm.append(_median_time(lambda: solve(task, init, curve), 2 if quick else 5) / curve.size)
            for a in (0.05, 0.2, 0.4):
                solve(task, init, [a])
                cold.append(_median_time(lambda a=a: solve(task, init, [a]), 2 if quick else 5))
    return {"warm": statistics.median(warm), "warm_all": warm, "cold": statistics.median(cold),
            "cold_all": cold, "converged": ok}


def child_aniso(quick):
    import numpy as np

    from replica import Init, Task
    from replica.anisotropic import InputVariances, solve_anisotropic

    task, init = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5), Init(c_pt=1e-3)
    var = InputVariances.mixture([(0.5, 0.5), (0.5, 2.0)])
    alphas = np.linspace(0.05, 0.6, 12)
    solve_anisotropic(task, init, alphas[:2], var, alpha_pt=0.5)
    res = solve_anisotropic(task, init, alphas, var, alpha_pt=0.5)
    t = _median_time(lambda: solve_anisotropic(task, init, alphas, var, alpha_pt=0.5), 1 if quick else 3)
    return {"aniso": t / alphas.size, "converged": bool(res.converged.all())}


def child_train(quick):
    """One run per setting with every method the code offers; the fastest converged one counts."""
    import numpy as np
    import torch

    from empirical.flow import min_q_interpolant
    from empirical.network import conserved, ft_reinit, oracle_pt_state
    from empirical.tasks import sample_ptft_task
    from empirical import train as tr

    wanted = os.environ.get("BENCH_SPEED_TRAIN_METHODS", "")
    methods = [m for m in _methods(tr) if m != "paper" and (not wanted or m in wanted.split(","))]
    budget = float(os.environ.get("BENCH_SPEED_TRAIN_BUDGET", 30.0 if quick else 60.0))
    device = os.environ.get("BENCH_SPEED_DEVICE", "cpu")          # gpu_check.sh: cuda
    out = {}
    for name, (c_pt, gamma, omega) in TRAIN_SETTINGS.items():
        t = sample_ptft_task(1000, 0.5, 0.1, 0.1, omega, seed=0)
        X, y = torch.tensor(t.X[None], device=device), torch.tensor(t.y[None], device=device)
        params = ft_reinit(oracle_pt_state(t.beta_pt[None], c_pt, 0.0), gamma).to(device)
        flow = min_q_interpolant(t.X, t.y, conserved(params).c.cpu().numpy()[0], tol=1e-13).beta
        runs = {}
        for m in methods:
            cpu0 = time.process_time()
            res = tr.train(X, y, params, tr.GDConfig(method=m, max_seconds=budget))
            cpu = time.process_time() - cpu0
            runs[m] = {"cpu_s": cpu, "wall_s": res.seconds, "steps": int(res.steps[0]), "stop": res.stop_reason[0],
                       "distance_to_flow": float(np.linalg.norm(res.beta[0] - flow) / np.linalg.norm(flow)),
                       "rel_residual": float(res.rel_residual[0])}
        good = {m: r for m, r in runs.items() if r["stop"] == "converged"}
        best = min(good or runs, key=lambda m: runs[m]["cpu_s"])
        out[name] = {"methods": runs, "best": best, **runs[best]}
    return {"train": max(v["cpu_s"] for v in out.values()), "device": device, "settings": out,
            "converged": all(v["stop"] == "converged" for v in out.values())}


def _methods(tr):
    if hasattr(tr, "METHODS"):  # code before the registry of training methods
        return tuple(tr.METHODS)
    from empirical.methods import method_names

    return method_names()


CHILD = {"points": child_points, "aniso": child_aniso, "train": child_train}


# -- the parent: fresh processes per code version ------------------------------------------------
def _env(code: Path, cache: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(code), PTFT_CACHE_DIR=str(cache), OPENBLAS_NUM_THREADS="1",
                OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _cli(code: Path) -> list[str]:
    mod = "ptft.cli" if (code / "ptft" / "cli.py").exists() else "replica.app.cli"
    return [sys.executable, "-m", mod]


def _child_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


LAST_CPU = [0.0]      # CPU seconds (user + sys) of the last command and its children


def _run(cmd, env, cwd) -> tuple[float, str]:
    t0, c0 = time.perf_counter(), _child_cpu()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    LAST_CPU[0] = _child_cpu() - c0
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def _child(code, cache, what, quick) -> dict:
    cmd = [sys.executable, str(HERE / "bench_speed.py"), "--child", what] + (["--quick"] if quick else [])
    _, text = _run(cmd, _env(code, cache), str(code))
    return json.loads(text.strip().splitlines()[-1])


def measure(code: Path, cache: Path, rows, quick) -> dict:
    env, out = _env(code, cache), {}
    _run(_cli(code) + ["solve", "--alpha", "0.2"], env, str(code))        # compile / load the kernels
    with tempfile.TemporaryDirectory(prefix="ptft-bench-speed-") as tmp:
        tmp = Path(tmp)
        if "warm" in rows or "cold" in rows:
            out.update(_child(code, cache, "points", quick))
        if "first" in rows:
            snippet = ("import time;t=time.time();from replica import solve, Task, Init; "
                       "solve(Task(), Init(), [0.2]); print(time.time()-t)")
            runs = [float(_run([sys.executable, "-c", snippet], env, str(code))[1].split()[-1])
                    for _ in range(3 if quick else 5)]
            out["first"], out["first_all"] = statistics.median(runs), runs
        if "table" in rows:
            from bench_table import GRID, QUICK_GRID

            grid = tmp / "GRID.toml"
            grid.write_text(QUICK_GRID if quick else GRID)
            wall, _ = _run(_cli(code) + ["table", str(grid), "--out", str(tmp / "t.parquet"), "--quiet",
                                         "--workers", "2"], env, str(code))
            out["table"], out["table_points"], out["table_cpu"] = wall, (1000 if quick else 100_000), LAST_CPU[0]
        if "optimize" in rows:         # one untimed run first: every kernel it loads is compiled and cached
            _run(_cli(code) + OPTIMIZE_ARGS + ["--format", "csv"], env, str(code))
            wall, text = _run(_cli(code) + OPTIMIZE_ARGS + ["--format", "csv"], env, str(code))
            out["optimize"], out["optimize_output"], out["optimize_cpu"] = wall, text, LAST_CPU[0]
        if "fig2" in rows:
            _run(_cli(code) + ["figure", "fig2", "--quick", "--out", str(tmp / "fig2.png")], env, str(code))
            wall, _ = _run(_cli(code) + ["figure", "fig2", "--quick", "--out", str(tmp / "fig2.png")], env, str(code))
            out["fig2"], out["fig2_cpu"] = wall, LAST_CPU[0]
        if "aniso" in rows:
            out.update(_child(code, cache, "aniso", quick))
        if "train" in rows:
            out.update(_child(code, cache, "train", quick))
    return out


def scipy_baseline(quick) -> dict:
    sys.path.insert(0, str(HERE))
    from scipy_baseline import solve_point

    omega, rho_ft = TASKS["w=1,rft=0.1"]
    times = []
    for name in ("II", "IV"):
        lam, gam = REGIMES[name]
        for a in ((0.2,) if quick else (0.05, 0.2, 0.4)):
            b = solve_point(a, RHO_PT, rho_ft, omega, C_PT, lam, gam, teacher="gaussian",
                            quad_kw=dict(epsabs=1e-13, epsrel=1e-12, limit=200))
            times.append(float(b["seconds"]))
    return {"seconds_per_point_median": statistics.median(times), "all": times}


def optimum(text: str) -> str:
    """The optimum's (c_pt, lambda_pt_rel, gamma_ft, objective) from ``ptft optimize --format csv``."""
    lines = [ln for ln in text.splitlines() if ln.startswith("optimum,") or ln.startswith("setting,")]
    if len(lines) < 2:
        return "?"
    head, row = lines[0].split(","), lines[1].split(",")
    val = dict(zip(head, row))
    return (f"c_pt {float(val['c_pt']):.4g}, lambda_rel {float(val['lambda_pt_rel']):.4g}, "
            f"gamma_ft {float(val['gamma_ft']):.4g}, E {float(val['objective']):.6g}")


def _fmt(row, value) -> str:
    if value is None:
        return "-"
    return f"{value * 1e3:.3g} ms" if row in UNITS else f"{value:.3g} s"


def report(before, after, base, rows) -> str:
    lines = ["| what | before | after | before/after | target | SciPy/after |", "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        b, a = before.get(row), after.get(row)
        ratio = f"{b / a:.2f}x" if a and b else "-"
        sp = f"{base['seconds_per_point_median'] / a:.0f}x" if base and a and row in ("warm", "cold") else "-"
        fb, fa = _fmt(row, b), _fmt(row, a)
        if row == "train":          # a run stopped by its budget: its time is a lower bound
            fb, fa = (f"> {f} (not converged)" if r.get("converged") is False else f for f, r in ((fb, before), (fa, after)))
            ratio = (">" if before.get("converged") is False else "") + ratio
        lines.append(f"| {LABELS[row]} | {fb} | {fa} | {ratio} | {_fmt(row, TARGETS[row])} | {sp} |")
        if f"{row}_cpu" in after:        # process rows: the CPU time too (wall time is not the cost on a shared machine)
            bc, ac = before.get(f"{row}_cpu"), after[f"{row}_cpu"]
            lines.append(f"| ... same, CPU s (user + sys, all processes) | {_fmt(row, bc)} | {_fmt(row, ac)} | "
                         f"{bc / ac:.2f}x | | |" if bc and ac else f"| ... same, CPU s | - | {_fmt(row, ac)} | - | | |")
    if "optimize" in rows:
        lines += ["", f"optimum before: {optimum(before.get('optimize_output', ''))}",
                  f"optimum after:  {optimum(after.get('optimize_output', ''))}"]
    if "train" in rows:
        for tag, res in (("before", before), ("after", after)):
            for name, s in res.get("settings", {}).items():
                lines.append(f"train {tag} {name}: best {s['best']} {s['cpu_s']:.1f} s CPU, {s['steps']} steps, "
                             f"{s['stop']}, distance to flow minimiser {s['distance_to_flow']:.1e}; all: "
                             + "; ".join(f"{m} {r['cpu_s']:.1f} s {r['stop']} d={r['distance_to_flow']:.1e}"
                                         for m, r in s["methods"].items()))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, a 10^3-point table, shorter budgets")
    ap.add_argument("--before", default="/work/base", help="tree of the code before (default /work/base)")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma list of {ROWS}")
    ap.add_argument("--no-scipy", action="store_true", help="skip the SciPy baseline")
    ap.add_argument("--train-methods", default="", help="training methods to time (default: all but paper; "
                    "a method the code lacks is skipped)")
    ap.add_argument("--train-budget", type=float, help="wall-time budget per training run in s "
                    "(default 60, --quick 30)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", choices=tuple(CHILD), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(CHILD[args.child](args.quick)))
        return 0
    rows = [r for r in args.rows.split(",") if r]
    bad = [r for r in rows if r not in ROWS]
    if bad:
        raise SystemExit(f"bench_speed: unknown rows {bad}; choose from {ROWS}")
    if args.train_methods:
        os.environ["BENCH_SPEED_TRAIN_METHODS"] = args.train_methods
    if args.train_budget:
        os.environ["BENCH_SPEED_TRAIN_BUDGET"] = str(args.train_budget)
    before_code = Path(args.before).resolve()
    with tempfile.TemporaryDirectory(prefix="ptft-bench-before-cache-") as before_cache:
        result = {"load_before": os.getloadavg()[0], "quick": args.quick, "before_code": str(before_code)}
        result["before"] = measure(before_code, Path(before_cache), rows, args.quick)
        result["after"] = measure(ROOT, Path(os.environ.get("PTFT_CACHE_DIR", ROOT / ".ptft-cache")), rows,
                                  args.quick)
    result["scipy"] = None if args.no_scipy else scipy_baseline(args.quick)
    result["load_after"] = os.getloadavg()[0]
    text = report(result["before"], result["after"], result["scipy"], rows)
    print(text)
    result["table_md"] = text
    out = Path(args.out) if args.out else HERE / "results" / ("speed_quick.json" if args.quick else "speed.json")
    sys.path.insert(0, str(ROOT))
    from numerics.atomic import write_atomic
    write_atomic(json.dumps(result, indent=1) + "\n", out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
