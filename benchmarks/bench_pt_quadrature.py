"""Accuracy and cost of the imperfect-PT classes (replica.imperfect.Quadrature) against a dense rule.

For every case of c_PT x (lambda_PT / c_PT, gamma_FT) x FT teacher x alpha_PT, the FT gen_error
of the default classes (trapezoid law in s, b = 0 folded, each law compressed to a Gauss rule)
and of an independent dense trapezoid rule (step 0.025, >= 256 intervals, +-10 sigma_PT, no
fold, no compression) at alpha_FT = 0.05, 0.2, 0.4, 0.6, with anisotropic FT inputs (half the
coordinates at variance 0.5, half at 2).  Prints per case the class counts, the largest relative
difference and the FT solve's own largest relative estimate (gen_error_err / gen_error: a
difference at or below it is the FT quadrature, not the PT classes), and ms per point.

    python benchmarks/bench_pt_quadrature.py [--quick]

Writes benchmarks/results/pt_quadrature.json (``--quick``: pt_quadrature_quick.json, fewer cases).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from replica import Init, Task  # noqa: E402
from replica.anisotropic import InputVariances, solve_anisotropic  # noqa: E402
from replica.imperfect import Quadrature  # noqa: E402
from replica.solver import Pretraining, solve  # noqa: E402

DENSE = Quadrature(h_max=0.025, m_min=256, ksd=10.0, fold=False, gauss=False)
ALPHAS = [0.05, 0.2, 0.4, 0.6]
VAR = InputVariances.mixture([(0.5, 0.5), (0.5, 2.0)])


def cases(quick: bool):
    c_pts = [1e-4, 1e-2, 1.0] if quick else [1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    inits = [(0.0, 0.0), (-0.9, 0.0)] if quick else [(0.0, 0.0), (-0.9, 0.0), (0.0, 1.0)]
    for c_pt in c_pts:
        for lam_rel, gamma in inits:
            for teacher in ("gaussian", "fixed"):
                for alpha_pt in (0.2, 0.5, 0.9):
                    yield c_pt, lam_rel, gamma, teacher, alpha_pt


def run_case(c_pt, lam_rel, gamma, teacher, alpha_pt) -> dict:
    init = Init(c_pt=c_pt, lambda_pt=lam_rel * c_pt, gamma_ft=gamma)
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, teacher=teacher)
    ref = solve(task, init, ALPHAS, inputs=VAR, pretraining=Pretraining(alpha_pt, DENSE))
    solve_anisotropic(task, init, ALPHAS[:1], VAR, alpha_pt=alpha_pt)          # kernels loaded
    t = time.perf_counter()
    res = solve_anisotropic(task, init, ALPHAS, VAR, alpha_pt=alpha_pt)
    ms = (time.perf_counter() - t) / len(ALPHAS) * 1e3
    return {"c_pt": c_pt, "lambda_pt_rel": lam_rel, "gamma_ft": gamma, "teacher": teacher, "alpha_pt": alpha_pt,
            "classes": int(res.info["n_classes"]), "classes_dense": int(ref.info["n_classes"]),
            "rel_diff": float(np.max(np.abs(res.gen_error / ref.gen_error - 1))),
            "own_estimate": float(np.max(res.gen_error_err / res.gen_error)),
            "ms_per_point": ms, "converged": bool(res.converged.all() and ref.converged.all())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="18 cases instead of 108")
    args = ap.parse_args()
    rows = []
    for case in cases(args.quick):
        row = run_case(*case)
        rows.append(row)
        print("c_pt {c_pt:g} lam_rel {lambda_pt_rel:g} gamma {gamma_ft:g} {teacher:8s} alpha_pt {alpha_pt:g}: "
              "{classes} classes (dense {classes_dense}), diff {rel_diff:.1e}, own estimate {own_estimate:.1e}, "
              "{ms_per_point:.1f} ms/pt".format(**row), flush=True)
    beyond = [r for r in rows if r["rel_diff"] > max(1e-10, 2 * r["own_estimate"])]
    summary = {"cases": len(rows), "all_converged": all(r["converged"] for r in rows),
               "worst_rel_diff": max(r["rel_diff"] for r in rows),
               "worst_rel_diff_beyond_own_estimate": max([r["rel_diff"] for r in beyond], default=0.0),
               "classes_range": [min(r["classes"] for r in rows), max(r["classes"] for r in rows)],
               "dense_classes_range": [min(r["classes_dense"] for r in rows), max(r["classes_dense"] for r in rows)]}
    print(json.dumps(summary, indent=1))
    out = ROOT / "benchmarks" / "results" / ("pt_quadrature_quick.json" if args.quick else "pt_quadrature.json")
    out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
