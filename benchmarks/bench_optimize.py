"""Time ``ptft optimize`` (grid + Nelder-Mead) on the three fig5 tasks and print the optimum
against the four canonical settings.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_optimize.py [--alpha 0.1] [--grid 9,9,7]

One process, kernels already cached (run any ``ptft solve`` once first); wall-clock per task.
"""
from __future__ import annotations

import argparse
import time

from ptft.figures.regimes import FIG5_TASKS
from replica.optimize import optimize_init


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alpha", default="0.1", help="alpha or comma list (mean over them)")
    ap.add_argument("--grid", default="9,9,7")
    ap.add_argument("--starts", type=int, default=3)
    args = ap.parse_args()
    alphas = [float(a) for a in args.alpha.split(",")]
    grid = tuple(int(n) for n in args.grid.split(","))
    print("| task | optimum (c_PT, 1 + lambda_PT/c_PT, gamma_FT) | c_FT used / unused | E_opt | best canonical "
          "| E_canon | evals | s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, task in FIG5_TASKS.items():
        t0 = time.perf_counter()
        res = optimize_init(task, alphas, grid=grid, n_starts=args.starts)
        dt = time.perf_counter() - t0
        b = res.best.init
        cname, canon = res.best_canonical
        row = res.to_frame().iloc[0]
        print(f"| {name} | ({b.c_pt:.3g}, {1 + b.lambda_rel:.3g}, {b.gamma_ft:.3g}) | "
              f"{row.c_ft_used:.3g} / {row.c_ft_unused:.3g} | {res.best.value:.4g} | "
              f"{cname} | {canon.value:.4g} | {res.n_evals} | {dt:.1f} |")


if __name__ == "__main__":
    main()
