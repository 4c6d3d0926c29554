"""Dual Newton of ``empirical.flow`` (one algorithm for numpy and torch): iterations, final
residual, agreement between the two namespaces, and wall time on fixed PT+FT problems.

    python benchmarks/bench_flow.py [--ref OLD.json]

Writes ``benchmarks/results/flow.json``. With ``--ref`` (a JSON written by an earlier version of
this script) it also prints the largest change in beta and in the iteration counts.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from empirical.flow import min_q_interpolant, min_q_interpolant_torch
from empirical.tasks import sample_ptft_task

HERE = Path(__file__).resolve().parent
# (D, alpha, c): rich, very rich, mixed PT-like, lazy, extreme c
CASES = [(1000, 0.2, 1e-3), (1000, 0.2, 1e-12), (600, 0.3, "mixed"), (400, 0.5, 1.0), (300, 0.4, 1e-300)]


def _c(task, kind, dim):
    return np.where(task.beta_pt != 0, 1.0, 2e-3) if kind == "mixed" else np.full(dim, kind)


def run() -> dict:
    out = {"numpy": {}, "torch": {}}
    for dim, alpha, kind in CASES:
        task = sample_ptft_task(dim, alpha, 0.1, 0.1, 0.5, seed=1)
        t0 = time.perf_counter()
        sol = min_q_interpolant(task.X, task.y, _c(task, kind, dim))
        out["numpy"][f"D={dim} alpha={alpha} c={kind}"] = {
            "iterations": sol.iterations, "residual": sol.residual, "seconds": time.perf_counter() - t0,
            "beta": sol.beta.tolist()}
    tasks = [sample_ptft_task(400, 0.3, 0.1, 0.1, 0.5, seed=s) for s in range(4)]
    X, y = np.stack([t.X for t in tasks]), np.stack([t.y for t in tasks])
    c = np.full((4, 400), 1e-4)
    t0 = time.perf_counter()
    batch = min_q_interpolant_torch(X, y, c)
    seconds = time.perf_counter() - t0
    ref = np.stack([min_q_interpolant(X[i], y[i], c[i]).beta for i in range(4)])
    out["torch"] = {"B=4 D=400 alpha=0.3 c=1e-4": {
        "iterations": batch.iterations.tolist(), "residual": batch.residual.tolist(), "seconds": seconds,
        "max_abs_diff_vs_numpy": float(np.abs(batch.beta - ref).max())}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", help="earlier flow.json to compare with")
    ap.add_argument("--out", default=str(HERE / "results" / "flow.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    result = run()
    print("| problem | iterations | residual | seconds |\n|---|---|---|---|")
    for name, r in {**result["numpy"], **result["torch"]}.items():
        print(f"| {name} | {r['iterations']} | {np.max(r['residual']):.2e} | {r['seconds']:.3f} |")
    print(f"torch vs numpy: max |beta diff| = {result['torch']['B=4 D=400 alpha=0.3 c=1e-4']['max_abs_diff_vs_numpy']:.2e}")
    if args.ref:
        ref = json.loads(Path(args.ref).read_text())
        for name, r in result["numpy"].items():
            old = ref["numpy"][name]
            diff = np.max(np.abs(np.array(r["beta"]) - np.array(old["beta"])))
            print(f"vs ref {name}: max |beta diff| {diff:.2e}, iterations {old['iterations']} -> {r['iterations']}")
    tmp = Path(args.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
