"""``ptft figure ext``: the two extensions against finite-D simulation.

(a) imperfect pretraining: FT error vs alpha_FT after PT on alpha_PT D samples (nested replica,
    lines) and networks really pretrained and fine-tuned (points, mean +- 2 SE), with the
    oracle-PT replica for reference;  (b) anisotropic inputs: test and parameter error vs
    alpha_FT for a two-variance mixture (replica lines, exact minimiser points) and the
    isotropic curve.
"""
from __future__ import annotations

import os

import numpy as np

from replica.params import Init, Task

ALPHA_PTS = (0.2, 0.3, 0.5)


def _imperfect_panel(ax, dim, seeds, alphas_sim, progress):
    from empirical.simulate import SimConfig, Setting, simulate, summarize

    from replica.imperfect import solve_imperfect_pt
    from replica.solver import solve

    task, init = Task(rho_pt=0.1, rho_ft=0.1, omega=1.0), Init(c_pt=1e-3)
    grid = np.linspace(0.02, 0.5, 49)
    rows = []
    ax.plot(grid, solve(task, init, grid).gen_error, "k--", lw=1.2, label="oracle PT (replica)")
    for k, apt in enumerate(ALPHA_PTS):
        colour = f"C{k}"
        ax.plot(grid, solve_imperfect_pt(task, init, grid, apt).gen_error, color=colour,
                label=fr"$\alpha_{{PT}}={apt:g}$ (nested replica)")
        cfg = SimConfig(dim=dim, seeds=tuple(range(seeds)), alpha_pt=apt, device="cpu")
        sim = summarize(simulate([Setting(task, init, str(apt))], alphas_sim, cfg, progress=progress), theory=False)
        ax.errorbar(sim.alpha, sim.gen_error, yerr=2 * sim.se, fmt="o", ms=4, color=colour, capsize=2)
        rows += [dict(panel="imperfect_pt", alpha_pt=apt, alpha=a, sim=m, se=s)
                 for a, m, s in zip(sim.alpha, sim.gen_error, sim.se)]
    ax.set(xlabel=r"$\alpha_{FT}$", ylabel=r"$E_{gen}=\|\hat\beta-\beta^*\|^2/D$", yscale="log", ylim=(1e-4, 2),
           title=fr"(a) imperfect PT ($\rho_{{PT}}=\rho_{{FT}}=0.1$, $\omega=1$, $c_{{PT}}=10^{{-3}}$)")
    ax.legend(fontsize=7)
    return rows


def _anisotropic_panel(ax, dim, seeds, alphas_sim):
    from empirical.anisotropic_sim import simulate_anisotropic, summarize_runs

    from replica.anisotropic import InputVariances, solve_anisotropic
    from replica.solver import solve

    task, init = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5), Init(c_pt=1e-3)
    var = InputVariances.mixture([(0.5, 0.5), (0.5, 2.0)])
    grid = np.linspace(0.02, 0.6, 59)
    th = solve_anisotropic(task, init, grid, var)
    ax.plot(grid, solve(task, init, grid).gen_error, "k--", lw=1.2, label="isotropic (s = 1)")
    ax.plot(grid, th.gen_error, "C3", label=r"test MSE $\sum_d s_d\,\Delta\beta_d^2/D$")
    ax.plot(grid, th.param_error, "C2", label=r"parameter MSE $\|\Delta\beta\|^2/D$")
    sim = summarize_runs(simulate_anisotropic(task, init, var, alphas_sim, dim=dim, seeds=range(seeds)))
    ax.errorbar(sim.alpha, sim.gen_error, yerr=2 * sim.gen_se, fmt="o", ms=4, color="C3", capsize=2)
    ax.errorbar(sim.alpha, sim.param_error, yerr=2 * sim.param_se, fmt="s", ms=4, color="C2", capsize=2,
                mfc="none")
    ax.set(xlabel=r"$\alpha_{FT}$", ylabel="error", yscale="log", ylim=(1e-4, 3),
           title=r"(b) inputs: half $s=0.5$, half $s=2$ ($\omega=0.5$, $c_{PT}=10^{-3}$)")
    ax.legend(fontsize=7)
    return [dict(panel="anisotropic", alpha=a, sim=m, se=s, sim_param=p, se_param=q)
            for a, m, s, p, q in zip(sim.alpha, sim.gen_error, sim.gen_se, sim.param_error, sim.param_se)]


def make(args) -> int:
    """``ptft figure ext [--quick] [--out F.png] [--dim D] [--seeds S]`` (PNG + CSV of the points)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import torch

    from ptft.cli import InputError, write_atomic
    from ptft.cli import check_out, save_png_atomic

    torch.set_num_threads(1)
    dim = args.dim or (1000 if args.quick else 2000)
    seeds = args.seeds or (4 if args.quick else 10)
    if dim < 100 or seeds < 2:
        raise InputError("figure ext needs --dim >= 100 and --seeds >= 2")
    target = check_out(args.out, "ext.png")          # checked before minutes of simulation
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    rows = _imperfect_panel(axes[0], dim, seeds, [0.1, 0.2, 0.3, 0.4], progress=True)
    rows += _anisotropic_panel(axes[1], dim, seeds, [0.1, 0.2, 0.3, 0.4, 0.5])
    fig.suptitle(f"lines: replica; points: exact flow end points, D = {dim}, {seeds} seeds, mean ± 2 SE", fontsize=9)
    fig.tight_layout()
    save_png_atomic(fig, target)
    plt.close(fig)
    csv = os.path.splitext(target)[0] + ".csv"
    write_atomic(pd.DataFrame(rows).to_csv(index=False), csv)
    print(f"wrote {target} and {csv}")
    return 0
