"""Cost and accuracy of the Bayes-optimal / AMP limit (replica.bayes) and finite-D AMP.

1. 100-point Bayes+AMP curves (warm kernels; median of 5 repeats), cost per point beside the
   network's replica.solve per point on the same task and alphas, timed in the same run;
2. accuracy of the AMP fixed point against the reference of tests/test_bayes.py (adaptive SciPy
   quadrature of the posterior variance, SE root found by brentq);
3. finite-D AMP (NumPy) against the state evolution: mean over seeds, SE, z.
Writes benchmarks/results/limits.json.   Run: python benchmarks/bench_limits.py [--quick]
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from replica import Init, Task, solve  # noqa: E402
from replica.bayes import solve_bayes  # noqa: E402

CURVES = {
    "gaussian, pt, noiseless": (Task(rho_pt=0.1, rho_ft=0.1, omega=0.5), "pt"),
    "gaussian, none, noiseless": (Task(rho_pt=0.1, rho_ft=0.1, omega=0.5), "none"),
    "gaussian, pt, noise 0.1": (Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.1), "pt"),
    "fixed, none, noiseless": (Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, teacher="fixed"), "none"),
    "fixed, pt, noise 0.05": (Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, teacher="fixed", noise=0.05), "pt"),
}


def _median_time(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def bench_curves(n=100):
    alphas = np.linspace(0.02, 0.6, n)
    rows = []
    for name, (task, knowledge) in CURVES.items():
        solve_bayes(task, alphas[:3], knowledge=knowledge)        # warm (kernel load)
        t_lim, res = _median_time(lambda: solve_bayes(task, alphas, knowledge=knowledge))
        t_net, _ = _median_time(lambda: solve(task, Init(), alphas[alphas < 1.0][:20]), repeats=2)
        rows.append({"curve": name, "points": n, "limit_ms": 1e3 * t_lim, "limit_ms_per_point": 1e3 * t_lim / n,
                     "network_ms_per_point": 1e3 * t_net / 20, "all_converged": bool(res.converged.all()),
                     "n_hard": int(np.sum(res.phase == "hard"))})
        print(f"{name:28s} {1e3 * t_lim:8.1f} ms / {n} pts  ({1e3 * t_lim / n:.3f} ms/pt; network "
              f"{1e3 * t_net / 20:.3f} ms/pt)  converged={res.converged.all()}")
    return rows


def bench_accuracy(quick=False):
    from scipy import optimize

    from test_bayes import M_ref

    cases = [(Task(rho_pt=0.2, rho_ft=0.1, omega=0.5, noise=0.1), "pt", 0.3),
             (Task(rho_pt=0.2, rho_ft=0.1, omega=0.5, noise=0.3), "none", 0.5),
             (Task(rho_pt=0.2, rho_ft=0.1, omega=0.3, teacher="fixed", noise=0.2), "pt", 0.25),
             (Task(rho_pt=0.2, rho_ft=0.1, omega=1.0, noise=0.05), "none", 0.15)]
    if quick:
        cases = cases[:2]
    rows = []
    for task, knowledge, alpha in cases:
        res = solve_bayes(task, [alpha], knowledge=knowledge)
        s2 = task.noise ** 2
        F = lambda E: M_ref(task, knowledge, (s2 + E) / alpha) - E  # noqa: E731
        grid = np.geomspace(1.0, 0.5 * M_ref(task, knowledge, s2 / alpha), 60)
        vals = [F(e) for e in grid]
        k = next(i for i in range(1, len(grid)) if vals[i] >= 0)
        ref = optimize.brentq(F, grid[k], grid[k - 1], xtol=1e-16, rtol=1e-14)
        rel = abs(res.amp_error[0] - ref) / ref
        rows.append({"task": f"{task.teacher} omega={task.omega} noise={task.noise} {knowledge}", "alpha": alpha,
                     "amp_error": float(res.amp_error[0]), "reference": ref, "rel_error": rel,
                     "estimate_rel": float(res.amp_error_err[0] / res.amp_error[0])})
        print(f"accuracy {rows[-1]['task']:40s} alpha={alpha}: rel. error {rel:.2e} (estimate {rows[-1]['estimate_rel']:.1e})")
    return rows


def bench_amp(quick=False):
    from empirical.amp import compare_with_se

    settings = [("easy", Task(rho_pt=0.1, rho_ft=0.1, omega=0.5), "pt", 0.3, 8),
                ("hard", Task(rho_pt=0.1, rho_ft=0.1, omega=0.5), "none", 0.15, 30),
                ("noisy", Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.1), "pt", 0.3, 30)]
    dims = [1000, 2000] if quick else [1000, 2000, 4000, 8000]
    rows = []
    for name, task, knowledge, alpha, it in settings:
        for dim in dims:
            seeds = 16 if dim <= 4000 else 8
            t = time.perf_counter()
            r = compare_with_se(task, [alpha], dim, range(seeds), knowledge=knowledge, n_iter=it, at_iter=it).iloc[0]
            rows.append({"setting": name, "dim": dim, "seeds": seeds, "iteration": it, "amp_mean": r.amp_finite_d,
                         "se": r.se, "state_evolution": r.se_theory, "z": r.z, "seconds": time.perf_counter() - t})
            print(f"AMP {name:6s} D={dim:5d} ({seeds} seeds, t={it}): {r.amp_finite_d:.5g} +- {r.se:.2g} "
                  f"vs SE {r.se_theory:.5g}  z={r.z:+.2f}")
    return rows


def main():
    quick = "--quick" in sys.argv
    out = {"curves": bench_curves(), "accuracy": bench_accuracy(quick), "amp_vs_se": bench_amp(quick),
           "note": "2-core machine shared with other jobs; timings are medians of 5 warm runs"}
    path = ROOT / "benchmarks" / "results" / ("limits_quick.json" if quick else "limits.json")
    from numerics.atomic import write_atomic

    write_atomic(json.dumps(out, indent=1, default=float) + "\n", str(path))
    print(f"wrote {path}")
    worst = max(r["rel_error"] for r in out["accuracy"])
    print(f"worst relative error vs reference: {worst:.2e}; "
          f"largest |z| finite-D AMP vs SE: {max(abs(r['z']) for r in out['amp_vs_se']):.2f}")
    return 0 if worst <= 1e-8 and all(math.isfinite(r["z"]) for r in out["amp_vs_se"]) else 1


if __name__ == "__main__":
    sys.exit(main())
