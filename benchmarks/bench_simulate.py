"""Throughput of the empirical diagonal-network runs: runs per second for ``flow`` (exact
gradient-flow end point, batched dual Newton) and for network training (``gd``, ``mirror``),
at D = 1000 and 5000, batched versus a per-run loop.

    python benchmarks/bench_simulate.py [--device cpu|cuda] [--quick] [--out FILE.json]
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_simulate.py --convergence-only [--budget S] [--out FILE.json]

``--convergence-only``: seconds (CPU and wall) and steps per converged run at D = 1000 for gd and
mirror, before (previous step rule) and after (current defaults), in a lazy, a mixed and a rich
setting, with each end point's distance to the exact flow end point.

Training runs are timed over a fixed number of steps (their step count to convergence depends
on the regime, from ~10^3 in the lazy regime to ~10^5 in the rich one); runs/s for a full run
is steps/s divided by the steps the run needs, reported for the default setting at D = 1000.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from empirical.flow import min_q_interpolant, min_q_interpolant_torch
from empirical.network import conserved, ft_reinit, oracle_pt_state
from empirical.tasks import sample_ptft_task
from empirical.train import GDConfig, train
from ptft.cli import write_atomic


def _problem(dim, alpha, seeds, device, c_pt=1e-3):
    tasks = [sample_ptft_task(dim, alpha, 0.1, 0.1, 0.5, seed=s) for s in range(seeds)]
    X = torch.tensor(np.stack([t.X for t in tasks]), device=device)
    y = torch.tensor(np.stack([t.y for t in tasks]), device=device)
    params = ft_reinit(oracle_pt_state(np.stack([t.beta_pt for t in tasks]), c_pt, 0.0), 0.0).to(device)
    return tasks, X, y, params


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_flow(dim, alpha, seeds, device):
    tasks, X, y, params = _problem(dim, alpha, seeds, device)
    c = conserved(params).c
    min_q_interpolant_torch(X[:1], y[:1], c[:1], device=device)          # warm-up
    _sync(device)
    t0 = time.perf_counter()
    min_q_interpolant_torch(X, y, c, device=device)
    _sync(device)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in range(seeds):
        min_q_interpolant_torch(X[b:b + 1], y[b:b + 1], c[b:b + 1], device=device)
    _sync(device)
    loop_torch = time.perf_counter() - t0
    cn = c.cpu().numpy()
    t0 = time.perf_counter()
    for b, t in enumerate(tasks):
        min_q_interpolant(t.X, t.y, cn[b])
    loop_numpy = time.perf_counter() - t0
    return {"dim": dim, "alpha": alpha, "runs": seeds, "batched_runs_per_s": seeds / batched,
            "loop_torch_runs_per_s": seeds / loop_torch, "loop_numpy_runs_per_s": seeds / loop_numpy,
            "batching_speedup_vs_torch_loop": loop_torch / batched}


def bench_train(dim, alpha, seeds, method, steps, device):
    _, X, y, params = _problem(dim, alpha, seeds, device)
    cfg = GDConfig(method=method, max_steps=steps, eval_every=steps, tol=1e-300)
    train(X[:1], y[:1], params[:, :1], GDConfig(method=method, max_steps=10, eval_every=10))   # warm-up
    _sync(device)
    t0 = time.perf_counter()
    train(X, y, params, cfg)
    _sync(device)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in range(seeds):
        train(X[b:b + 1], y[b:b + 1], params[:, b:b + 1], cfg)
    _sync(device)
    loop = time.perf_counter() - t0
    return {"dim": dim, "alpha": alpha, "runs": seeds, "method": method, "steps": steps,
            "batched_run_steps_per_s": seeds * steps / batched, "loop_run_steps_per_s": seeds * steps / loop,
            "batching_speedup": loop / batched}


# settings of the seconds-per-converged-run table (D = 1000, rho_PT = rho_FT = 0.1, Gaussian FT teacher)
REGIMES = {"lazy (c_PT=1e-3, gamma_FT=10, omega=0.5)": (1e-3, 10.0, 0.5),
           "mixed (c_PT=1e-3, gamma_FT=0, omega=1)": (1e-3, 0.0, 1.0),
           "rich (c_PT=1e-6, gamma_FT=0, omega=0)": (1e-6, 0.0, 0.0)}
# "before": the step rule of the previous release, lr = kappa / ||X diag(m) X^T|| with no path
# bound, kappa 0.05 (gd) and 0.5 (mirror); "after": the defaults of GDConfig
PROTOCOLS = {"gd before": dict(method="gd", kappa=0.05, path_tol=1e9), "gd after": dict(method="gd"),
             "mirror before": dict(method="mirror", kappa=0.5), "mirror after": dict(method="mirror")}


def converged_run(dim, alpha, c_pt, gamma, omega, protocol, budget_s, seed=0):
    """One run to ||X beta - y|| / ||y|| <= 1e-7 (or the time budget): seconds, steps, stop reason
    and the relative distance ||beta - beta_flow|| / ||beta_flow|| to the exact flow end point."""
    t = sample_ptft_task(dim, alpha, 0.1, 0.1, omega, seed=seed)
    X, y = torch.tensor(t.X[None]), torch.tensor(t.y[None])
    params = ft_reinit(oracle_pt_state(t.beta_pt[None], c_pt, 0.0), gamma)
    flow = min_q_interpolant(t.X, t.y, conserved(params).c.numpy()[0]).beta
    cpu0 = time.process_time()          # CPU time: the 2-core machine is shared, wall time is not the cost
    res = train(X, y, params, GDConfig(**PROTOCOLS[protocol], max_seconds=budget_s))
    cpu = time.process_time() - cpu0
    dist = float(np.linalg.norm(res.beta[0] - flow) / np.linalg.norm(flow))
    return {"alpha": alpha, "protocol": protocol, "cpu_seconds": cpu, "wall_seconds": res.seconds,
            "steps": int(res.steps[0]),
            "stop": res.stop_reason[0], "rel_residual": float(res.rel_residual[0]),
            "distance_to_flow": dist, "drift": float(res.drift[0])}


def to_convergence(dim, alphas, protocols, budget_s, before_alphas=(0.3,)):
    """Every protocol at every alpha; the "before" protocols only at ``before_alphas`` (they mostly
    run out of budget, which costs the whole budget each time)."""
    out = {}
    for name, (c_pt, gamma, omega) in REGIMES.items():
        out[name] = [converged_run(dim, a, c_pt, gamma, omega, p, budget_s) for a in alphas for p in protocols
                     if "before" not in p or a in before_alphas]
        for row in out[name]:
            print(name, row, flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--convergence-only", action="store_true",
                    help="only the seconds-per-converged-run table (one core, D = 1000)")
    ap.add_argument("--budget", type=float, default=150.0, help="wall-time budget per run in s (default 150)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    if args.convergence_only:
        torch.set_num_threads(1)
        results = {"device": dev, "torch_threads": 1, "load_before": os.getloadavg()[0], "budget_wall_s": args.budget,
                   "to_convergence": to_convergence(1000, (0.3, 0.5), list(PROTOCOLS), args.budget),
                   "load_after": os.getloadavg()[0]}
        _emit(results, args.out)
        return
    seeds = 4 if args.quick else 8
    big_seeds = 2 if dev == "cpu" else 16
    results = {"device": dev if dev == "cpu" else torch.cuda.get_device_name(), "torch_threads": torch.get_num_threads(),
               "machine": platform.processor() or platform.machine(), "load_before": os.getloadavg()[0]}
    results["flow"] = [bench_flow(1000, 0.2, seeds, dev), bench_flow(1000, 0.5, seeds, dev)]
    if not args.quick:
        results["flow"].append(bench_flow(5000, 0.2, big_seeds, dev))
    steps = 500 if args.quick else 2000
    results["train"] = [bench_train(1000, 0.2, seeds, m, steps, dev) for m in ("gd", "mirror")]
    if not args.quick:
        results["train"] += [bench_train(5000, 0.2, big_seeds, m, 200, dev) for m in ("gd", "mirror")]
    if not args.quick:
        results["to_convergence"] = to_convergence(1000, (0.3,), ["gd after", "mirror after"], args.budget)
    results["load_after"] = os.getloadavg()[0]
    _emit(results, args.out)


def _emit(results, out):
    text = json.dumps(results, indent=1)
    print(text)
    if out:
        write_atomic(text + "\n", out)


if __name__ == "__main__":
    main()
