"""Figure 3 of the paper: replica lines and fine-tuning simulations in six panels.

Each panel varies one initialisation lever (colour, viridis) against a task parameter (line
style for the replica line, marker shape for the simulated points).  ``ptft figure fig3 --quick``
runs D = 1000, 5 seeds, 6 alphas (minutes on 2 CPU cores); the full version is the paper's
D = 5000, 11 alphas, 10 seeds (meant for a GPU).  ``--data FILE.csv`` re-plots the points of an
earlier run (the CSV it wrote) without simulating again.
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
MARKERS = ("^", "s", "o")       # paired with STYLES: one marker shape per task value


@dataclass(frozen=True)
class Panel:
    letter: str
    title: str
    lever: str                 # 'c_pt' | 'gamma_ft' | 'lambda_pt'
    task_key: str              # 'omega' | 'rho_ft'
    task_values: tuple
    base: dict                 # fixed task parameters
    ylim: tuple
    log: bool = False          # log error axis: the recovery tail spans many decades


PANELS = (
    Panel("A", "Exp. 1, overlap: vary $c_{\\mathrm{PT}}$", "c_pt", "omega", (0.0, 1.0), {"rho_ft": 0.1}, (-0.05, 3)),
    Panel("B", "Exp. 1, overlap: vary $\\gamma_{\\mathrm{FT}}$", "gamma_ft", "omega", (0.0, 1.0), {"rho_ft": 0.1},
          (-0.05, 2)),
    Panel("C", "Exp. 1, overlap: vary $\\lambda_{\\mathrm{PT}}$", "lambda_pt", "omega", (0.0, 0.5, 1.0),
          {"rho_ft": 0.1}, (-0.05, 2)),
    Panel("D", "Exp. 2, new features: vary $c_{\\mathrm{PT}}$", "c_pt", "rho_ft", (0.1, 0.9), {"omega": 0.0},
          (-0.05, 3)),
    Panel("E", "Exp. 2, new features: vary $\\gamma_{\\mathrm{FT}}$", "gamma_ft", "rho_ft", (0.1, 0.9),
          {"omega": 0.0}, (-0.05, 2)),
    Panel("F", "Exp. 3, FT inside PT: vary $\\lambda_{\\mathrm{PT}}$ (log scale)", "lambda_pt", "rho_ft",
          (0.01, 0.04, 0.1), {"omega": 1.0}, (1e-10, 3), log=True),
)
LEVER_VALUES = {"c_pt": C_VALUES, "gamma_ft": GAMMA_VALUES, "lambda_pt": LAMBDA_VALUES}
LEVER_LABEL = {"c_pt": "$c_{\\mathrm{PT}}$", "gamma_ft": "$\\gamma_{\\mathrm{FT}}$",
               "lambda_pt": "$\\lambda_{\\mathrm{PT}}/c_{\\mathrm{PT}}$"}


TASK_LABEL = {"omega": "$\\omega$", "rho_ft": "$\\rho_{\\mathrm{FT}}$"}


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
        return dim or 1000, np.linspace(0.05, 0.5, 6), seeds or 5
    return dim or 5000, np.linspace(0.01, 0.5, 11), seeds or 10


def _unique_settings():
    unique = {}
    for panel in PANELS:
        for _, _, task, init in panel_settings(panel):
            unique.setdefault((task, init), len(unique))
    return unique


def run(quick: bool = True, seeds: int | None = None, device: str = "auto", progress: bool = True,
        dim: int | None = None, data: str | None = None):
    """Simulate every distinct setting of the six panels (or read them from ``data``, a CSV an
    earlier run wrote); returns (summary, theory lines, settings)."""
    from empirical.simulate import SimConfig, Setting, simulate, summarize
    from replica import solve

    unique = _unique_settings()
    if data:
        summary = pd.read_csv(data)
    else:
        dim, alphas, n_seeds = sizes(quick, seeds, dim)
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

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.8), sharex=True)
    for ax, panel in zip(axes.flat, PANELS):
        values = LEVER_VALUES[panel.lever]
        colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(values)))
        top = panel.ylim[1]
        for lever, tv, task, init in panel_settings(panel):
            k = unique[(task, init)]
            colour = colours[values.index(lever)]
            j = len(STYLES) - len(panel.task_values) + panel.task_values.index(tv)
            th = lines[lines.setting == k]
            keep = th.theory > 0 if panel.log else slice(None)
            ax.plot(th.alpha[keep], th.theory[keep], color=colour, linestyle=STYLES[j], lw=1.6)
            pts = summary[summary.setting == k]
            lo = np.minimum(2 * pts.se, 0.9 * pts.gen_error) if panel.log else 2 * pts.se   # log: stay > 0
            ax.errorbar(pts.alpha, pts.gen_error, yerr=[lo, 2 * pts.se], fmt=MARKERS[j], ms=4.5, color=colour,
                        mec="black", mew=0.4, capsize=2, lw=1)
            top = max(top, float(np.nanmax(pts.gen_error + 2 * pts.se)) * 1.05 if len(pts) else top)
        _legend(ax, panel, colours, values)
        ax.set_title(f"{panel.letter}  {panel.title}", fontsize=10, loc="left")
        if panel.log:
            ax.set_yscale("log")
        ax.set_ylim(panel.ylim[0], top)          # never clip an error bar at the top
        ax.set_xlim(0, 0.5)
        ax.set_xticks([0, 0.25, 0.5])
        ax.set_ylabel("test error $\\|\\hat\\beta - \\beta^*\\|^2 / D$")
    for ax in axes[1]:
        ax.set_xlabel(r"$\alpha_{\mathrm{FT}} = N_{\mathrm{FT}}/D$")
    fig.suptitle("Fine-tuning error: replica prediction (lines) and exact gradient-flow end points of "
                 f"simulated networks (points, mean $\\pm$ 2 SE){subtitle}", fontsize=11)
    fig.tight_layout()
    from ptft.cli import save_png_atomic

    save_png_atomic(fig, path)
    plt.close(fig)


def _legend(ax, panel, colours, values):
    from matplotlib.lines import Line2D

    def fmt(v):
        return f"{v / 1e-3:g}" if panel.lever == "lambda_pt" else f"{v:g}"
    handles = [Line2D([], [], color=c, lw=2, label=f"{LEVER_LABEL[panel.lever]} = {fmt(v)}")
               for c, v in zip(colours, values)]
    first = len(STYLES) - len(panel.task_values)
    handles += [Line2D([], [], color="grey", linestyle=STYLES[first + i], marker=MARKERS[first + i], mec="black",
                       mew=0.4, label=f"{TASK_LABEL[panel.task_key]} = {tv:g}")
                for i, tv in enumerate(panel.task_values)]
    ax.legend(handles=handles, fontsize=7.5, loc="lower left" if panel.log else "upper right", frameon=False)


def agreement_text(summary) -> str:
    """How the points compare with the replica, with what |z| to expect from n seeds."""
    from scipy import stats

    z = summary.z.to_numpy(float)
    ok = np.isfinite(z)
    n = int(summary.n_runs.min())
    expect2 = 1 - 2 * stats.t.sf(2, max(n - 1, 1))
    worst = summary.loc[np.nanargmax(np.abs(np.where(ok, z, 0)))]
    return (f"{ok.sum()} points with a standard error (of {len(z)}); z = (simulation - replica) / SE: "
            f"|z| <= 2 for {np.mean(np.abs(z[ok]) <= 2):.0%}, <= 3 for {np.mean(np.abs(z[ok]) <= 3):.0%} "
            f"(with {n} seeds and no bias, t-statistics give |z| <= 2 for {expect2:.0%}); largest |z| = "
            f"{abs(worst.z):.2f} at setting {int(worst.setting)} (omega={worst.omega:g}, rho_FT={worst.rho_ft:g}, "
            f"c_PT={worst.c_pt:g}, lambda_PT={worst.lambda_pt:g}, gamma_FT={worst.gamma_ft:g}), alpha={worst.alpha:.3g}")


def make(args) -> int:
    """``ptft figure fig3``: PNG at ``--out`` (default fig3.png) and the data as CSV beside it."""
    from ptft.cli import InputError, check_out, write_atomic
    from empirical.simulate import resolve_device

    out = check_out(args.out, "fig3.png")
    if not out.endswith(".png"):
        raise InputError(f"--out must end in .png, got {out}")
    if args.seeds is not None and args.seeds < 2:
        raise InputError("--seeds must be >= 2 (the error bars need a standard error)")
    device = resolve_device(args.device)
    dim_arg = getattr(args, "dim", None)
    if dim_arg is not None and dim_arg < 200:
        raise InputError(f"--dim must be >= 200 for fig3 (rho_FT = 0.01 needs support), got {dim_arg}")
    data = getattr(args, "data", None)
    if data and not (data.endswith(".csv") and __import__("os").path.isfile(data)):
        raise InputError(f"--data for fig3 must be a CSV written by an earlier fig3 run, got {data}")
    summary, lines, unique = run(quick=args.quick, seeds=args.seeds, device=device, dim=dim_arg, data=data)
    if data:
        dim, n_seeds = int(summary.get("dim", pd.Series([dim_arg or 0])).iloc[0]), int(summary.n_runs.min())
    else:
        dim, _, n_seeds = sizes(args.quick, args.seeds, dim_arg)
    plot(summary, lines, unique, out, f"; D = {dim}, {n_seeds} seeds" if dim else f"; {n_seeds} seeds")
    stem = out[:-4]
    if not data:
        write_atomic(summary.to_csv(index=False), stem + ".csv")
    write_atomic(lines.to_csv(index=False), stem + "_theory.csv")
    print(f"fig3: {agreement_text(summary)}; wrote {out}")
    return 0
