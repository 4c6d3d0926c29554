"""Figure 3 of the paper (PAPER_NOTES.md 6.2): replica lines and fine-tuning simulations.

Six panels, each varying one initialisation lever (colour, viridis) against a task parameter
(line style).  ``ptft figure fig3 --quick`` runs D = 1000, 3 seeds, 6 alphas (minutes on 2 CPU
cores); the full version is the paper's D = 5000, 11 alphas, 10 seeds (meant for a GPU).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from replica.params import Init, Task

C_VALUES = (1e-6, 1e-3, 1.0)
GAMMA_VALUES = (0.0, 1.0, 10.0)
LAMBDA_VALUES = (-0.99e-3, 0.0, 0.99e-3)
STYLES = ("dotted", "dashed", "solid")


@dataclass(frozen=True)
class Panel:
    letter: str
    title: str
    lever: str                 # 'c_pt' | 'gamma_ft' | 'lambda_pt'
    task_key: str              # 'omega' | 'rho_ft'
    task_values: tuple
    base: dict                 # fixed task parameters
    ylim: tuple


PANELS = (
    Panel("A", "Exp. 1: PT dependence, vary $c_{PT}$", "c_pt", "omega", (0.0, 1.0), {"rho_ft": 0.1}, (-0.05, 3)),
    Panel("B", "Exp. 1: vary $\\gamma_{FT}$", "gamma_ft", "omega", (0.0, 1.0), {"rho_ft": 0.1}, (-0.05, 2)),
    Panel("C", "Exp. 1: vary $\\lambda_{PT}$", "lambda_pt", "omega", (0.0, 0.5, 1.0), {"rho_ft": 0.1}, (-0.05, 2)),
    Panel("D", "Exp. 2: new features, vary $c_{PT}$", "c_pt", "rho_ft", (0.1, 0.9), {"omega": 0.0}, (-0.05, 3)),
    Panel("E", "Exp. 2: vary $\\gamma_{FT}$", "gamma_ft", "rho_ft", (0.1, 0.9), {"omega": 0.0}, (-0.05, 2)),
    Panel("F", "Exp. 3: nested features, vary $\\lambda_{PT}$", "lambda_pt", "rho_ft", (0.01, 0.04, 0.1),
          {"omega": 1.0}, (-0.05, 1.25)),
)
LEVER_VALUES = {"c_pt": C_VALUES, "gamma_ft": GAMMA_VALUES, "lambda_pt": LAMBDA_VALUES}
LEVER_LABEL = {"c_pt": "$c_{PT}$", "gamma_ft": "$\\gamma_{FT}$", "lambda_pt": "$\\lambda_{PT}/c_{PT}$"}
TASK_LABEL = {"omega": "$\\omega$", "rho_ft": "$\\rho_{FT}$"}


def panel_settings(panel: Panel):
    """[(lever value, task value, Task, Init)] of one panel; rho_PT = 0.1, defaults c_PT = 1e-3."""
    out = []
    for lever in LEVER_VALUES[panel.lever]:
        for tv in panel.task_values:
            task = Task(rho_pt=0.1, teacher="gaussian", **{**panel.base, panel.task_key: tv})
            kw = {"c_pt": 1e-3, "lambda_pt": 0.0, "gamma_ft": 0.0, panel.lever: lever}
            out.append((lever, tv, task, Init(**kw)))
    return out


def sizes(quick: bool, seeds: int | None, dim: int | None = None):
    """(D, alphas, seeds) of the quick and the full figure (``seeds``/``dim`` override)."""
    if quick:
        return dim or 1000, np.linspace(0.05, 0.5, 6), seeds or 3
    return dim or 5000, np.linspace(0.01, 0.5, 11), seeds or 10


def run(quick: bool = True, seeds: int | None = None, device: str = "auto", progress: bool = True,
        dim: int | None = None):
    """Simulate every distinct setting of the six panels; returns (summary, theory lines)."""
    from empirical.simulate import SimConfig, Setting, simulate, summarize
    from replica import solve

    dim, alphas, n_seeds = sizes(quick, seeds, dim)
    unique = {}
    for panel in PANELS:
        for _, _, task, init in panel_settings(panel):
            unique.setdefault((task, init), len(unique))
    settings = [Setting(t, i, f"s{k}") for (t, i), k in unique.items()]
    cfg = SimConfig(dim=dim, seeds=tuple(range(n_seeds)), method="flow", device=device)
    summary = summarize(simulate(settings, list(alphas), cfg, progress=progress))
    grid = np.linspace(0.005, 0.5, 100)
    lines = [pd.DataFrame({"setting": k, "alpha": grid, "theory": solve(t, i, grid).gen_error})
             for (t, i), k in unique.items()]
    return summary, pd.concat(lines, ignore_index=True), unique


def plot(summary, lines, unique, path: str, subtitle: str = "") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), sharex=True)
    for ax, panel in zip(axes.flat, PANELS):
        values = LEVER_VALUES[panel.lever]
        colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(values)))
        for lever, tv, task, init in panel_settings(panel):
            k = unique[(task, init)]
            colour = colours[values.index(lever)]
            style = STYLES[-len(panel.task_values):][panel.task_values.index(tv)]
            th = lines[lines.setting == k]
            ax.plot(th.alpha, th.theory, color=colour, linestyle=style, lw=1.6)
            pts = summary[summary.setting == k]
            ax.errorbar(pts.alpha, pts.gen_error, yerr=2 * pts.se, fmt="o", ms=3.5, color=colour,
                        capsize=2, lw=1)
        _legend(ax, panel, colours, values)
        ax.set_title(f"{panel.letter}  {panel.title}", fontsize=10, loc="left")
        ax.set_ylim(*panel.ylim)
        ax.set_xlim(0, 0.5)
        ax.set_xticks([0, 0.25, 0.5])
        ax.set_ylabel("Expected MSE")
    for ax in axes[1]:
        ax.set_xlabel(r"$\alpha_{FT} = N_{FT}/D$")
    fig.suptitle("Fine-tuning generalisation: replica (lines) vs exact gradient-flow end points "
                 f"(points, mean $\\pm$ 2 SE){subtitle}", fontsize=11)
    fig.tight_layout()
    from replica.app.cli import save_png_atomic

    save_png_atomic(fig, path)
    plt.close(fig)


def _legend(ax, panel, colours, values):
    from matplotlib.lines import Line2D

    def fmt(v):
        return f"{v / 1e-3:g}" if panel.lever == "lambda_pt" else f"{v:g}"
    handles = [Line2D([], [], color=c, lw=2, label=f"{LEVER_LABEL[panel.lever]} = {fmt(v)}")
               for c, v in zip(colours, values)]
    styles = STYLES[-len(panel.task_values):]
    handles += [Line2D([], [], color="grey", linestyle=s, label=f"{TASK_LABEL[panel.task_key]} = {tv:g}")
                for s, tv in zip(styles, panel.task_values)]
    ax.legend(handles=handles, fontsize=7.5, loc="upper right", frameon=False)


def make(args) -> int:
    """``ptft figure fig3``: PNG at ``--out`` (default fig3.png) and the data as CSV beside it."""
    from replica.app.cli import InputError, check_out, write_atomic
    from empirical.simulate import resolve_device

    out = check_out(args.out, "fig3.png")
    if not out.endswith(".png"):
        raise InputError(f"--out must end in .png, got {out}")
    if args.seeds is not None and args.seeds < 2:
        raise InputError("--seeds must be >= 2 (the error bars need a standard error)")
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        raise InputError(str(err)) from None
    dim_arg = getattr(args, "dim", None)
    if dim_arg is not None and dim_arg < 200:
        raise InputError(f"--dim must be >= 200 for fig3 (rho_FT = 0.01 needs support), got {dim_arg}")
    summary, lines, unique = run(quick=args.quick, seeds=args.seeds, device=device, dim=dim_arg)
    dim, _, n_seeds = sizes(args.quick, args.seeds, dim_arg)
    plot(summary, lines, unique, out, f"; D = {dim}, {n_seeds} seeds")
    stem = out[:-4]
    write_atomic(summary.to_csv(index=False, float_format="%.10g"), stem + ".csv")
    write_atomic(lines.to_csv(index=False, float_format="%.10g"), stem + "_theory.csv")
    z = summary.z.to_numpy()
    print(f"fig3: {len(summary)} points, |z| <= 2: {np.mean(np.abs(z) <= 2):.0%}, |z| <= 3: "
          f"{np.mean(np.abs(z) <= 3):.0%}, max |z| = {np.nanmax(np.abs(z)):.2f}; wrote {out}, {stem}.csv")
    return 0
