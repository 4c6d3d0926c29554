"""Speed and accuracy benchmark of the replica solver ``replica.solve``.

Measures
  1. the cold first call in a fresh process (compile into an empty temporary
     ``PTFT_CACHE_DIR``, then a second process on the same, now populated, cache);
  2. warm time per alpha point: single points solved from a cold start (no
     continuation) and points within a 100-point curve alpha = linspace(0.01, 0.5, 100),
     for the four initialisation regimes x three tasks;
  3. accuracy of the default ``Accuracy()`` against a high-precision reference
     (``Accuracy(ksd=12, h_max=0.02, m_min=400)``) and against the independent SciPy
     baseline ``benchmarks/scipy_baseline.py`` at a few points (plus its speed).

Prints a markdown table and writes all numbers to ``benchmarks/results/solver.json``.

    python benchmarks/bench_solver.py [--quick]
    python benchmarks/bench_solver.py --compare /path/to/other/checkout [--quick]

``--compare`` times the per-point figures (warm curve point, isolated cold point, cached first
call, anisotropic + imperfect PT point) of this checkout and of another one side by side, in
alternating subprocesses in one run (each with its own kernel cache), and reports the ratios;
results in ``benchmarks/results/solver_compare.json``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

C_PT, RHO_PT = 1e-3, 0.1
REGIMES = {  # name: (lambda_pt [absolute], gamma_ft)
    "I": (-0.999e-3, 1e-6),
    "II": (0.0, 0.0),
    "III": (0.0, 10.0),
    "IV": (-0.99e-3, 0.0),
}
TASKS = {  # name: (omega, rho_ft)
    "w=0,rft=0.1": (0.0, 0.1),
    "w=1,rft=0.1": (1.0, 0.1),
    "w=1,rft=0.01": (1.0, 0.01),
}
CURVE = np.linspace(0.01, 0.5, 100)
REF_ACC = dict(ksd=12.0, h_max=0.02, m_min=400)
GEN_FLOOR = 1e-6
# SciPy baseline comparison: 2 regimes x 3 alphas on the task (omega=1, rho_ft=0.1)
BASE_REGIMES = ("II", "IV")
BASE_TASK = "w=1,rft=0.1"
BASE_ALPHAS = (0.05, 0.2, 0.4)
BASE_QUAD_KW = dict(epsabs=1e-13, epsrel=1e-12, limit=200)

TARGETS = {"cached_first_call_s": 3.0, "curve_s": 0.2, "speedup": 100.0}

COLD_SNIPPET = ("import time;t=time.time();from replica import solve, Task, Init; "
                "solve(Task(), Init(), [0.2]); print(time.time()-t)")


def _cache_files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*.nbc"))


def cold_first_call(n_cached=3):
    """Fresh processes sharing one new, empty kernel cache directory: the first compiles,
    the following ``n_cached`` load from the cache (the first of them is 'the second run';
    more are run because a single process start-up time is noisy on a shared machine).
    ``new_cache_files`` > 0 on a cached run would mean it recompiled something."""
    out = {"cached_runs": []}
    with tempfile.TemporaryDirectory(prefix="ptft-bench-cache-") as tmp:
        env = dict(os.environ, PTFT_CACHE_DIR=tmp, OPENBLAS_NUM_THREADS="1")
        for k in range(1 + n_cached):
            before = _cache_files(tmp)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", COLD_SNIPPET], env=env, capture_output=True,
                                  text=True, cwd=str(HERE.parent))
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"cold-start subprocess failed:\n{proc.stderr}")
            run = {"reported_s": float(proc.stdout.strip().splitlines()[-1]), "process_wall_s": wall,
                   "new_cache_files": len(set(_cache_files(tmp)) - set(before))}
            if k == 0:
                out["compile"] = run
            else:
                out["cached_runs"].append(run)
    out["cached"] = out["cached_runs"][0]
    out["cached_median"] = {key: statistics.median(r[key] for r in out["cached_runs"])
                            for key in ("reported_s", "process_wall_s")}
    return out


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def warm_and_accuracy(quick):
    from replica import Accuracy, Init, Task, solve

    solve(Task(), Init(), [0.2])   # load / compile the kernels outside the timings
    single_alphas = (0.05, 0.2, 0.4) if quick else (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.49)
    rep_single = 3 if quick else 7
    rep_curve = 3 if quick else 7
    ref_acc = Accuracy(**REF_ACC)
    rows = []
    for rname, (lam, gam) in REGIMES.items():
        init = Init(c_pt=C_PT, lambda_pt=lam, gamma_ft=gam)
        for tname, (omega, rho_ft) in TASKS.items():
            task = Task(rho_pt=RHO_PT, rho_ft=rho_ft, omega=omega)
            # single points, cold start (each call is a fresh one-point solve: no continuation)
            per_alpha = {}
            for a in single_alphas:
                solve(task, init, [a])
                med, _ = _median_time(lambda a=a: solve(task, init, [a]), rep_single)
                per_alpha[f"{a:g}"] = med
            single_med = statistics.median(per_alpha.values())
            # the 100-point curve (ascending continuation)
            res = solve(task, init, CURVE)
            curve_med, curve_times = _median_time(lambda: solve(task, init, CURVE), rep_curve)
            # accuracy against the high-precision reference
            ref = solve(task, init, CURVE, accuracy=ref_acc)
            mask = np.abs(ref.gen_error) > GEN_FLOOR
            rel = np.abs(res.gen_error[mask] / ref.gen_error[mask] - 1.0)
            rows.append({
                "regime": rname, "task": tname, "lambda_pt": lam, "gamma_ft": gam,
                "omega": omega, "rho_ft": rho_ft,
                "single_point_s_median": single_med, "single_point_s_by_alpha": per_alpha,
                "curve_s_median": curve_med, "curve_s_all": curve_times,
                "curve_per_point_s": curve_med / CURVE.size,
                "curve_all_converged": bool(res.converged.all()),
                "ref_all_converged": bool(ref.converged.all()),
                "max_residual": float(np.nanmax(res.residual)),
                "n_points_gen_gt_floor": int(mask.sum()),
                "max_rel_err_vs_ref": float(rel.max()) if rel.size else None,
            })
            print(f"  {rname:>3} {tname:<13} single {single_med * 1e3:7.3f} ms  curve {curve_med * 1e3:7.2f} ms"
                  f"  rel.err vs ref {rows[-1]['max_rel_err_vs_ref']:.2e}", flush=True)
    return rows


def baseline_comparison(quick, warm_rows):
    from replica import Init, Task, solve
    from scipy_baseline import solve_point

    omega, rho_ft = TASKS[BASE_TASK]
    alphas = BASE_ALPHAS   # 6 points in both modes (0.9-1.9 s each on 2 cores: scipy_s in results/solver.json)
    out = []
    for rname in BASE_REGIMES:
        lam, gam = REGIMES[rname]
        init = Init(c_pt=C_PT, lambda_pt=lam, gamma_ft=gam)
        task = Task(rho_pt=RHO_PT, rho_ft=rho_ft, omega=omega)
        for a in alphas:
            b = solve_point(a, RHO_PT, rho_ft, omega, C_PT, lam, gam, teacher="gaussian",
                            quad_kw=BASE_QUAD_KW)
            ours = solve(task, init, [a])
            ours_s, _ = _median_time(lambda a=a: solve(task, init, [a]), 5)
            g_ours, g_base = float(ours.gen_error[0]), float(b["gen_error"])
            out.append({
                "regime": rname, "task": BASE_TASK, "alpha": a,
                "gen_error_ours": g_ours, "gen_error_scipy": g_base,
                "rel_diff": abs(g_ours / g_base - 1.0) if g_base != 0 else abs(g_ours),
                "scipy_s": float(b["seconds"]), "scipy_converged": bool(b["converged"]),
                "ours_single_point_s": ours_s, "speedup_single_point": float(b["seconds"]) / ours_s,
            })
            print(f"  baseline {rname} alpha={a:g}: scipy {b['seconds']:.2f} s, ours {ours_s * 1e3:.2f} ms,"
                  f" rel diff {out[-1]['rel_diff']:.1e}", flush=True)
    # per-point time within a curve for the same regime/task, for the second ratio
    for row in out:
        w = next(r for r in warm_rows if r["regime"] == row["regime"] and r["task"] == row["task"])
        row["ours_curve_per_point_s"] = w["curve_per_point_s"]
        row["speedup_vs_curve_point"] = row["scipy_s"] / w["curve_per_point_s"]
    return out


def machine_info():
    import numba
    import scipy

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "numpy": np.__version__, "numba": numba.__version__, "scipy": scipy.__version__,
            "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}


def table(cold, rows, base):
    lines = ["### Cold first call (fresh process, `solve(Task(), Init(), [0.2])` incl. imports)", "",
             "| run | reported s | process wall s |", "|---|---:|---:|"]
    lines.append(f"| compile (empty cache) | {cold['compile']['reported_s']:.2f} | "
                 f"{cold['compile']['process_wall_s']:.2f} |")
    for j, v in enumerate(cold["cached_runs"], 1):
        extra = f" ({v['new_cache_files']} new cache files!)" if v["new_cache_files"] else ""
        lines.append(f"| cached #{j}{extra} | {v['reported_s']:.2f} | {v['process_wall_s']:.2f} |")
    m = cold["cached_median"]
    lines.append(f"| cached median | {m['reported_s']:.2f} | {m['process_wall_s']:.2f} |")
    lines += ["", "### Warm time and accuracy (c_PT=1e-3, rho_PT=0.1; curve = linspace(0.01, 0.5, 100))", "",
              "| regime | task | single pt ms (cold start) | curve ms | ms/pt in curve | converged |"
              " max rel err vs ref |", "|---|---|---:|---:|---:|---|---:|"]
    for r in rows:
        err = "n/a" if r["max_rel_err_vs_ref"] is None else f"{r['max_rel_err_vs_ref']:.1e}"
        lines.append(f"| {r['regime']} | {r['task']} | {r['single_point_s_median'] * 1e3:.2f} | "
                     f"{r['curve_s_median'] * 1e3:.1f} | {r['curve_per_point_s'] * 1e3:.3f} | "
                     f"{'yes' if r['curve_all_converged'] else 'NO'} | {err} |")
    lines += ["", "### SciPy baseline (`benchmarks/scipy_baseline.py`, quad epsabs=1e-13 epsrel=1e-12)", "",
              "| regime | task | alpha | gen_error ours | gen_error scipy | rel diff | scipy s | ours ms (single) |"
              " speedup (single) | speedup (curve pt) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for b in base:
        lines.append(f"| {b['regime']} | {b['task']} | {b['alpha']:g} | {b['gen_error_ours']:.10e} | "
                     f"{b['gen_error_scipy']:.10e} | {b['rel_diff']:.1e} | {b['scipy_s']:.2f} | "
                     f"{b['ours_single_point_s'] * 1e3:.2f} | {b['speedup_single_point']:.0f}x | "
                     f"{b['speedup_vs_curve_point']:.0f}x |")
    return "\n".join(lines)


def check_targets(cold, rows, base):
    misses = []
    for j, v in enumerate(cold["cached_runs"], 1):
        if v["reported_s"] > TARGETS["cached_first_call_s"]:
            misses.append(f"cached first call #{j} {v['reported_s']:.2f} s > {TARGETS['cached_first_call_s']} s")
    for r in rows:
        if r["curve_s_median"] > TARGETS["curve_s"]:
            misses.append(f"curve {r['regime']}/{r['task']} {r['curve_s_median']:.3f} s > {TARGETS['curve_s']} s")
        if not r["curve_all_converged"]:
            misses.append(f"curve {r['regime']}/{r['task']} has unconverged points")
    for b in base:
        if b["speedup_single_point"] < TARGETS["speedup"]:
            misses.append(f"speedup {b['regime']} alpha={b['alpha']:g} {b['speedup_single_point']:.0f}x"
                          f" < {TARGETS['speedup']:.0f}x")
    return misses


ANISO_ALPHAS = np.linspace(0.05, 0.6, 12)


def measure_points(quick):
    """Per-point times of the code on sys.path (run in a subprocess by --compare): warm curve
    point and isolated cold point per regime x task, the anisotropic + imperfect PT point."""
    from replica import Init, Task, solve
    from replica.anisotropic import InputVariances, solve_anisotropic

    solve(Task(), Init(), [0.2])
    reps = 3 if quick else 5
    out = {"warm_curve_ms": {}, "single_ms": {}, "converged": {}, "max_est_rel": {}}
    for rname, (lam, gam) in REGIMES.items():
        init = Init(c_pt=C_PT, lambda_pt=lam, gamma_ft=gam)
        for tname, (omega, rho_ft) in TASKS.items():
            task = Task(rho_pt=RHO_PT, rho_ft=rho_ft, omega=omega)
            key = f"{rname}|{tname}"
            res = solve(task, init, CURVE)
            med, _ = _median_time(lambda: solve(task, init, CURVE), reps)
            out["warm_curve_ms"][key] = 1e3 * med / CURVE.size
            out["converged"][key] = bool(res.converged.all())
            out["max_est_rel"][key] = float(np.max(res.gen_error_err / np.maximum(res.gen_error, 1e-300)))
            singles = [_median_time(lambda a=a: solve(task, init, [a]), reps)[0] for a in (0.05, 0.2, 0.4)]
            out["single_ms"][key] = 1e3 * statistics.median(singles)
    task, init = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5), Init(c_pt=1e-3)
    var = InputVariances.mixture([(0.5, 0.5), (0.5, 2.0)])
    solve_anisotropic(task, init, ANISO_ALPHAS[:2], var, alpha_pt=0.5)
    med, _ = _median_time(lambda: solve_anisotropic(task, init, ANISO_ALPHAS, var, alpha_pt=0.5), 2 if quick else 3)
    out["aniso_imperfect_ms"] = 1e3 * med / ANISO_ALPHAS.size
    return out


def _cached_first_call(code, cache, runs):
    env = dict(os.environ, PTFT_CACHE_DIR=cache, OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(code))
    times = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", COLD_SNIPPET], env=env, capture_output=True, text=True,
                              cwd=str(code))
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        times.append(float(proc.stdout.strip().splitlines()[-1]))
    return times


def compare(other, quick, rounds=2):
    """This checkout ('after') and ``other`` ('before'), alternating, each round in fresh
    subprocesses; per key the median over rounds, and before/after ratios."""
    codes = {"before": Path(other).resolve(), "after": HERE.parent}
    got = {k: [] for k in codes}
    firsts = {k: [] for k in codes}
    with tempfile.TemporaryDirectory(prefix="ptft-cmp-") as tmp:
        for r in range(rounds):
            for label, code in codes.items():
                cache = str(Path(tmp) / label)
                env = dict(os.environ, PTFT_CACHE_DIR=cache, OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(code))
                cmd = [sys.executable, str(HERE / "bench_solver.py"), "--measure-json"] + (["--quick"] if quick else [])
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(code))
                if proc.returncode != 0:
                    raise RuntimeError(proc.stderr)
                got[label].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                firsts[label] += _cached_first_call(code, cache, 2)
                print(f"  round {r + 1} {label} done", flush=True)
    med = {}
    for label, runs in got.items():
        m = {"cached_first_call_s": statistics.median(firsts[label]),
             "aniso_imperfect_ms": statistics.median(x["aniso_imperfect_ms"] for x in runs)}
        for field in ("warm_curve_ms", "single_ms"):
            m[field] = {k: statistics.median(x[field][k] for x in runs) for k in runs[0][field]}
        m["converged"] = runs[-1]["converged"]
        m["max_est_rel"] = runs[-1]["max_est_rel"]
        med[label] = m
    b, a = med["before"], med["after"]
    lines = ["| what | before | after | before/after |", "|---|---:|---:|---:|"]
    for field, unit in (("warm_curve_ms", "ms"), ("single_ms", "ms")):
        for k in a[field]:
            lines.append(f"| {field} {k} | {b[field][k]:.3f} {unit} | {a[field][k]:.3f} {unit} | "
                         f"{b[field][k] / a[field][k]:.2f} |")
        mb, ma = statistics.median(b[field].values()), statistics.median(a[field].values())
        lines.append(f"| **{field} median** | {mb:.3f} {unit} | {ma:.3f} {unit} | {mb / ma:.2f} |")
    for field, unit in (("cached_first_call_s", "s"), ("aniso_imperfect_ms", "ms")):
        lines.append(f"| {field} | {b[field]:.3f} {unit} | {a[field]:.3f} {unit} | {b[field] / a[field]:.2f} |")
    return {"codes": {k: str(v) for k, v in codes.items()}, "rounds": rounds, "median": med, "raw": got,
            "first_calls": firsts, "markdown": "\n".join(lines), "machine": machine_info()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, single points and baseline points")
    ap.add_argument("--out", default=str(HERE / "results" / "solver.json"))
    ap.add_argument("--compare", help="another checkout to time side by side with this one")
    ap.add_argument("--measure-json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure_json:
        print(json.dumps(measure_points(args.quick)))
        return
    if args.compare:
        res = compare(args.compare, args.quick)
        print(res["markdown"])
        out = HERE / "results" / "solver_compare.json"
        out.write_text(json.dumps(res, indent=1))
        print(f"wrote {out}")
        return

    t_start = time.perf_counter()
    print("cold first call ...", flush=True)
    cold = cold_first_call(2 if args.quick else 3)
    print(f"  compile {cold['compile']['reported_s']:.2f} s, cached "
          + ", ".join(f"{r['reported_s']:.2f}" for r in cold["cached_runs"]) + " s", flush=True)
    print("warm timings and accuracy ...", flush=True)
    rows = warm_and_accuracy(args.quick)
    print("SciPy baseline ...", flush=True)
    base = baseline_comparison(args.quick, rows)
    md = table(cold, rows, base)
    misses = check_targets(cold, rows, base)
    print()
    print(md)
    print()
    print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))

    result = {
        "quick": args.quick, "machine": machine_info(), "targets": TARGETS, "missed_targets": misses,
        "settings": {"c_pt": C_PT, "rho_pt": RHO_PT, "regimes": REGIMES, "tasks": TASKS,
                     "curve": [float(CURVE[0]), float(CURVE[-1]), int(CURVE.size)],
                     "reference_accuracy": REF_ACC, "gen_error_floor": GEN_FLOOR,
                     "baseline_quad_kw": BASE_QUAD_KW},
        "cold_first_call": cold, "warm": rows, "scipy_baseline": base,
        "max_rel_err_vs_ref": max((r["max_rel_err_vs_ref"] or 0.0) for r in rows),
        "max_rel_diff_vs_scipy": max(b["rel_diff"] for b in base),
        "bench_wall_s": time.perf_counter() - t_start,
        "markdown": md,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
