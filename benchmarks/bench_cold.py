"""Evaluations a cold point costs (one-point solves, no continuation), this tree vs an older one.

48 cold points: regimes I-IV (c_PT = 1e-3 and 1e-5, lambda_PT scaled with c_PT) x 3 tasks x
alpha in {0.005, 0.01, 0.05, 0.2, 0.4, 0.8}.  For each tree (a fresh process with that tree on
PYTHONPATH): the total of ``n_evals``, the worst point, whether all converged; and the largest
relative gen_error difference between the two trees.

    python benchmarks/bench_cold.py [--before DIR]

Writes benchmarks/results/cold_starts.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REGIMES = {"I": (-0.999, 1e-6), "II": (0.0, 0.0), "III": (0.0, 10.0), "IV": (-0.99, 0.0)}   # lambda/c_PT, gamma
TASKS = [(0.0, 0.1), (1.0, 0.1), (1.0, 0.01)]                                            # omega, rho_FT
ALPHAS = (0.005, 0.01, 0.05, 0.2, 0.4, 0.8)


def child() -> dict:
    from replica import Init, Task, solve

    rows = []
    for name, (lam_rel, gamma) in REGIMES.items():
        for c_pt in (1e-3, 1e-5):
            init = Init(c_pt=c_pt, lambda_pt=lam_rel * c_pt, gamma_ft=gamma)
            for omega, rho_ft in TASKS:
                task = Task(rho_pt=0.1, rho_ft=rho_ft, omega=omega)
                for a in ALPHAS:
                    r = solve(task, init, [a])
                    rows.append({"regime": name, "c_pt": c_pt, "omega": omega, "rho_ft": rho_ft, "alpha": a,
                                 "n_evals": int(r.n_evals[0]), "gen_error": float(r.gen_error[0]),
                                 "converged": bool(r.converged[0])})
    return {"rows": rows, "total_evals": sum(r["n_evals"] for r in rows),
            "worst_evals": max(r["n_evals"] for r in rows), "all_converged": all(r["converged"] for r in rows)}


def run(code: Path, cache: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code), PTFT_CACHE_DIR=cache, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(HERE / "bench_cold.py"), "--child"], env=env, cwd=str(code),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="/work/base", help="tree of the older code")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child()))
        return
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        before = run(Path(args.before), cache + "/before")
    after = run(ROOT, os.environ.get("PTFT_CACHE_DIR", str(Path.home() / ".cache" / "ptft")))
    diff = max(abs(a["gen_error"] / b["gen_error"] - 1.0) for a, b in zip(after["rows"], before["rows"])
               if b["gen_error"] > 0.0)
    summary = {"points": len(after["rows"]), "total_evals_before": before["total_evals"],
               "total_evals_after": after["total_evals"], "worst_before": before["worst_evals"],
               "worst_after": after["worst_evals"], "all_converged": before["all_converged"] and after["all_converged"],
               "max_rel_gen_error_diff": diff}
    print(json.dumps(summary, indent=1))
    (HERE / "results" / "cold_starts.json").write_text(json.dumps({"summary": summary, "before": before,
                                                                   "after": after}, indent=1) + "\n")


if __name__ == "__main__":
    main()
