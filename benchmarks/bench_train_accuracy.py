"""How far each training protocol ends from the exact gradient-flow end point.

    python benchmarks/bench_train_accuracy.py [--out FILE.json]

For two problems (a lazy-ish one: D = 100, c_PT = 0.1, gamma_FT = 0.5; a rich one: D = 300,
c_PT = 1e-3), 2 seeds, alpha = 0.3, omega = 0.5, it trains the network with ``gd`` at two step
factors, ``mirror`` and ``paper``, and reports the relative distance ||beta - beta_flow|| /
||beta_flow|| to the dual-Newton minimiser and the largest drift of the conserved quantities.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from empirical.flow import min_q_interpolant
from empirical.network import conserved, ft_reinit, oracle_pt_state
from empirical.tasks import sample_ptft_task
from empirical.train import GDConfig, train
from ptft.cli import write_atomic

CASES = {"lazy (D=100, c_PT=0.1, gamma=0.5)": (100, 0.1, 0.5, [("gd", 0.02), ("gd", 0.005), ("mirror", 0.5),
                                                                ("paper", None)]),
         "rich (D=300, c_PT=1e-3, gamma=0)": (300, 1e-3, 0.0, [("gd", 0.05), ("mirror", 0.5), ("paper", None)])}


def run_case(dim, c_pt, gamma, methods):
    tasks = [sample_ptft_task(dim, 0.3, 0.1, 0.1, 0.5, seed=s) for s in (0, 1)]
    X = torch.tensor(np.stack([t.X for t in tasks]))
    y = torch.tensor(np.stack([t.y for t in tasks]))
    params = ft_reinit(oracle_pt_state(np.stack([t.beta_pt for t in tasks]), c_pt, 0.0), gamma)
    c = conserved(params).c.numpy()
    flow = [min_q_interpolant(t.X, t.y, c[b]).beta for b, t in enumerate(tasks)]
    rows = []
    for method, kappa in methods:
        cfg = GDConfig(method=method, tol=1e-9, max_steps=2_000_000, **({"kappa": kappa} if kappa else {}))
        res = train(X, y, params, cfg)
        dist = [float(np.linalg.norm(res.beta[b] - flow[b]) / np.linalg.norm(flow[b])) for b in range(2)]
        rows.append({"method": method, "kappa": cfg.kappa if method != "paper" else None,
                     "max_rel_distance": max(dist), "max_drift": float(res.drift.max()),
                     "steps": [int(s) for s in res.steps], "stop": list(res.stop_reason)})
        print(rows[-1], flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {name: run_case(*spec) for name, spec in CASES.items()}
    text = json.dumps(results, indent=1)
    if args.out:
        write_atomic(text + "\n", args.out)
    else:
        print(text)


if __name__ == "__main__":
    main()
