"""``ptft figure fig2`` (regime maps) and ``ptft figure fig5`` (the four canonical settings on
the three fine-tuning tasks). Each writes a PNG and the CSV behind it, both atomically.

fig2: heatmaps of the l-order, the pretraining dependence PD and a combined colouring over four
parameter planes, read at |beta_FT| = b = 1 (the authors' heatmaps use beta_main = 1):
  A (|beta_PT|, lambda_PT/c_PT) at c_PT = 0.1, gamma_FT = 0;
  B (|beta_PT|, c_PT)           at lambda_PT = 0, gamma_FT = 0;
  C (|beta_PT|, gamma_FT)       at c_PT = 1e-3, lambda_PT = 0;
  D (c_PT, lambda_PT/c_PT)      at |beta_PT| = 1, gamma_FT = 0.
The combined colour blends the regime colours bilinearly in (2 - l, PD/(1-l)); the white lines
are the classifier thresholds (``replica.regimes.Thresholds``).

fig5: replica E_gen(alpha_FT) of the canonical settings I-IV (``replica.regimes.CANONICAL``,
c_PT = 1e-3) on rho_PT = 0.1 and (a) no overlap, rho_FT = 0.1; (b) same support, omega = 1,
rho_FT = 0.1; (c) FT support inside PT support, omega = 1, rho_FT = 0.01. The winner of a task
is the setting with the lowest mean E_gen over the alpha grid (the area under its curve).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ptft.cli import check_out
from replica.params import Task
from replica.regimes import CANONICAL, REGIME_COLORS, Thresholds, axes, classify
from replica.solver import solve

EXPECTED_WINNERS = {"no overlap": "I", "same support": "II", "FT inside PT": "IV"}
FIG5_TASKS = {"no overlap": Task(rho_pt=0.1, rho_ft=0.1, omega=0.0),
              "same support": Task(rho_pt=0.1, rho_ft=0.1, omega=1.0),
              "FT inside PT": Task(rho_pt=0.1, rho_ft=0.01, omega=1.0)}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, png: str, csv_text: str, tight: bool = True) -> tuple[str, str]:
    """PNG and CSV next to each other, each written atomically (temporary file + rename);
    ``tight``: crop to the drawn extent (costs a second full draw of the figure)."""
    from ptft.cli import save_png_atomic, write_atomic

    save_png_atomic(fig, png, **({"bbox_inches": "tight"} if tight else {}))
    csv = os.path.splitext(png)[0] + ".csv"
    write_atomic(csv_text, csv)
    return png, csv


# -- fig2 ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plane:
    """One parameter plane of fig2: which two of (beta_pt, lambda_rel, c_pt, gamma_ft) vary."""

    label: str
    x: str
    y: str
    x_range: tuple
    y_range: tuple
    fixed: dict


LOG_AXES = {"beta_pt", "c_pt", "gamma_ft"}
AXIS_LABELS = {"beta_pt": r"$|\beta_{\mathrm{PT}}|$", "lambda_rel": r"$\lambda_{\mathrm{PT}}/c_{\mathrm{PT}}$",
               "c_pt": r"$c_{\mathrm{PT}}$", "gamma_ft": r"$\gamma_{\mathrm{FT}}$"}
MARKERS = {"I": "o", "II": "s", "III": "^", "IV": "D"}     # one marker shape per regime, every panel
PLANES = (
    Plane("A", "beta_pt", "lambda_rel", (1e-3, 1e3), (-0.999, 1.0), {"c_pt": 0.1, "gamma_ft": 0.0}),
    Plane("B", "beta_pt", "c_pt", (1e-3, 1e3), (1e-4, 1e2), {"lambda_rel": 0.0, "gamma_ft": 0.0}),
    Plane("C", "beta_pt", "gamma_ft", (1e-3, 1e3), (1e-3, 1e2), {"c_pt": 1e-3, "lambda_rel": 0.0}),
    Plane("D", "c_pt", "lambda_rel", (1e-4, 1e2), (-0.999, 1.0), {"beta_pt": 1.0, "gamma_ft": 0.0}),
)


def _axis(name: str, rng: tuple, n: int) -> np.ndarray:
    return np.geomspace(*rng, n) if name in LOG_AXES else np.linspace(*rng, n)


def plane_axes(plane: Plane, n: int, b: float = 1.0) -> dict[str, np.ndarray]:
    """Axes of ``plane`` on an n x n grid (rows = y, columns = x)."""
    xs, ys = _axis(plane.x, plane.x_range, n), _axis(plane.y, plane.y_range, n)
    gx, gy = np.meshgrid(xs, ys)
    par = dict(plane.fixed)
    par[plane.x], par[plane.y] = gx, gy
    out = axes(b, par["beta_pt"], par["c_pt"], par["lambda_rel"], par["gamma_ft"])
    out.update(x=gx, y=gy)
    return out


def regime_rgb(l_order, pd_norm) -> np.ndarray:
    """Bilinear blend of the regime colours: corners (l, eps) = (1,0) I, (2,1) II, (2,0) III, (1,1) IV."""
    from matplotlib.colors import to_rgb

    s = np.clip(2.0 - np.asarray(l_order), 0, 1)[..., None]
    d = np.clip(np.asarray(pd_norm), 0, 1)[..., None]
    col = {k: np.array(to_rgb(v)) for k, v in REGIME_COLORS.items()}
    return (s * (1 - d) * col["I"] + (1 - s) * d * col["II"] + (1 - s) * (1 - d) * col["III"]
            + s * d * col["IV"])


_MARKS = {"C": [(1.0, 10.0, "III")], "D": [(1e-3, 0.0, "II"), (1e-3, -0.99, "IV")]}


def _draw_plane(axs, plane: Plane, ax_vals: dict, thr: Thresholds) -> None:
    plt = _pyplot()
    x, y = ax_vals["x"], ax_vals["y"]
    # viridis reversed: rich (l = 1) is yellow and lazy (l = 2) purple, the colours of regimes I and II
    # in the third panel, so a colour means the same thing in every panel
    panels = ((ax_vals["l_order"], r"$\ell$-order (1 rich, 2 lazy)", "viridis_r", (1, 2)),
              (ax_vals["pd"], "pretraining dependence PD", "magma", (-1, 0)))
    for ax, (val, title, cmap, lim) in zip(axs[:2], panels):
        mesh = ax.pcolormesh(x, y, val, cmap=cmap, vmin=lim[0], vmax=lim[1], shading="auto")
        plt.colorbar(mesh, ax=ax, fraction=0.046)
        ax.set_title(f"{plane.label}: {title}", y=1.0)     # a fixed y skips the title-vs-ticks layout pass
    axs[2].pcolormesh(x, y, regime_rgb(ax_vals["l_order"], ax_vals["pd_norm"]), shading="auto")
    axs[2].contour(x, y, ax_vals["l_order"], levels=[thr.l_rich], colors="white", linewidths=1.2)
    axs[2].contour(x, y, ax_vals["pd_norm"], levels=[thr.dependence], colors="white", linewidths=1.2,
                   linestyles="--")
    axs[2].set_title(f"{plane.label}: regime", y=1.0)
    for xm, ym, name in _MARKS.get(plane.label, []):
        axs[2].plot(xm, ym, "o", ms=7, mfc=REGIME_COLORS[name], mec="white")
        axs[2].annotate(name, (xm, ym), textcoords="offset points", xytext=(6, 4), color="white", weight="bold")
    fixed = ", ".join(f"{AXIS_LABELS[k]}={v:g}" for k, v in plane.fixed.items())
    for ax in axs:
        ax.set_xscale("log" if plane.x in LOG_AXES else "linear")
        ax.set_yscale("log" if plane.y in LOG_AXES else "linear")
        ax.minorticks_off()          # log-axis minor ticks were most of the drawing time
        ax.set_xlabel(AXIS_LABELS[plane.x])
        ax.set_ylabel(AXIS_LABELS[plane.y])
    axs[0].text(0.02, 0.02, fixed, transform=axs[0].transAxes, fontsize=8, color="black",
                bbox=dict(facecolor="white", alpha=0.75, lw=0))


FIG2_COLUMNS = ("panel", "x_name", "x", "y_name", "y", "b", "c_ft", "l_order", "pd", "pd_norm", "regime")


def _fig2_columns(n: int, b: float, thr: Thresholds, computed=None) -> dict:
    """The CSV columns of fig2 (``computed``: the planes' axes, if already evaluated)."""
    computed = computed or [plane_axes(plane, n, b) for plane in PLANES]
    cols = {name: [] for name in FIG2_COLUMNS}
    for plane, v in zip(PLANES, computed):
        size = v["x"].size
        for name, value in (("panel", plane.label), ("x_name", plane.x), ("y_name", plane.y), ("b", b)):
            cols[name].append(np.full(size, value))
        for name in ("x", "y", "c_ft", "l_order", "pd", "pd_norm"):
            cols[name].append(np.asarray(v[name], float).ravel())
        cols["regime"].append(classify(v["l_order"], v["pd_norm"], thr).ravel())
    return {k: np.concatenate(v) for k, v in cols.items()}


def fig2_frame(n: int, b: float = 1.0, thr: Thresholds = Thresholds()):
    """Long table of every grid point of every plane (the CSV of fig2)."""
    import pandas as pd

    return pd.DataFrame(_fig2_columns(n, b, thr))


def _csv_text(cols: dict) -> str:
    """CSV of ``cols`` as ``DataFrame.to_csv(index=False, float_format="%.10g")`` writes it,
    without importing pandas (its import and per-cell formatting were most of fig2's time)."""
    fmt = ",".join("%.10g" if v.dtype.kind == "f" else "%s" for v in cols.values())
    rows = zip(*(v.tolist() for v in cols.values()))
    return ",".join(cols) + "\n" + "\n".join([fmt % r for r in rows]) + "\n"


def make_fig2(args) -> int:
    """Regime maps; ``--quick`` uses a 60 x 60 grid per plane instead of 240 x 240."""
    from matplotlib.patches import Patch

    from replica.regimes import REGIME_NAMES

    png = check_out(args.out, "fig2.png")
    plt = _pyplot()
    n, thr, b = (60 if args.quick else 240), Thresholds(), 1.0
    # a fixed layout: tight_layout and a tight bounding box each cost a full extra draw
    fig, axs = plt.subplots(len(PLANES), 3, figsize=(14, 4.0 * len(PLANES) + 0.8))
    fig.subplots_adjust(left=0.06, right=0.97, bottom=0.04, top=0.93, wspace=0.38, hspace=0.32)
    computed = [plane_axes(plane, n, b) for plane in PLANES]
    for row, plane, ax_vals in zip(axs, PLANES, computed):
        _draw_plane(row, plane, ax_vals, thr)
    handles = [Patch(color=REGIME_COLORS[k], label=f"{k}: {REGIME_NAMES[k]}") for k in REGIME_COLORS]
    fig.legend(handles=handles, loc="upper center", ncol=4, bbox_to_anchor=(0.5, 0.965), frameon=False)
    fig.suptitle(fr"Fine-tuning regimes at $|\beta_{{\mathrm{{FT}}}}| = {b:g}$ (solid: $\ell = {thr.l_rich:g}$, "
                 fr"dashed: PD$/(1-\ell) = {thr.dependence:g}$)", y=0.99)
    png, csv = _save(fig, png, _csv_text(_fig2_columns(n, b, thr, computed)), tight=False)
    plt.close(fig)
    print(f"wrote {png} and {csv}")
    return 0


# -- fig5 ------------------------------------------------------------------------------------
def fig5_curves(alphas, progress: bool = False):
    """E_gen of each canonical setting on each task: (frame, {task: {regime: SolveResult}})."""
    import pandas as pd

    results, parts = {}, []
    for tname, task in FIG5_TASKS.items():
        results[tname] = {}
        for rname, init in CANONICAL.items():
            res = solve(task, init, alphas, progress=progress)
            results[tname][rname] = res
            frame = res.to_frame()
            frame.insert(0, "setting", rname)
            frame.insert(0, "task", tname)
            parts.append(frame)
    return pd.concat(parts, ignore_index=True), results


SIM_ALPHAS = (0.03, 0.05, 0.07, 0.1, 0.2, 0.3, 0.4)


def simulate_fig5(seeds: int, dim: int = 1000, alphas=SIM_ALPHAS, progress: bool = True):
    """Exact end points of FT gradient flow (the min-q interpolant, ``empirical.flow``) on
    sampled tasks: mean and standard error over ``seeds`` draws per (task, setting, alpha)."""
    import pandas as pd

    from empirical.flow import gen_error, min_q_interpolant
    from empirical.tasks import sample_ptft_task
    from numerics.transfer import c_ft

    jobs = [(t, r, a) for t in FIG5_TASKS for r in CANONICAL for a in alphas]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="fig5 simulations", unit="pt", leave=False)
    rows = []
    for tname, rname, alpha in jobs:
        task, init = FIG5_TASKS[tname], CANONICAL[rname]
        used = c_ft(abs(task.a_pt), init.c_pt, init.lambda_abs, init.gamma_ft)
        unused = c_ft(0.0, init.c_pt, init.lambda_abs, init.gamma_ft)
        errs = []
        for seed in range(seeds):
            ft = sample_ptft_task(dim, alpha, task.rho_pt, task.rho_ft, task.omega, a_pt=task.a_pt,
                                  teacher=task.teacher, seed=seed)
            sol = min_q_interpolant(ft.X, ft.y, np.where(ft.beta_pt != 0, used, unused))
            errs.append(gen_error(sol.beta, ft.beta_star))
        se = float(np.std(errs, ddof=1) / np.sqrt(seeds)) if seeds > 1 else float("nan")
        rows.append({"task": tname, "setting": rname, "alpha": alpha, "dim": dim, "seeds": seeds,
                     "sim_mean": float(np.mean(errs)), "sim_se": se})
    return pd.DataFrame(rows)


def _zoom(ax, per, sims) -> None:
    """Sparse task at small alpha on a log error axis: where the rich settings differ."""
    for rname, res in per.items():
        keep = (res.alpha <= 0.16) & (res.gen_error > 0)
        ax.semilogy(res.alpha[keep], res.gen_error[keep], color=REGIME_COLORS[rname], lw=2.0)
        if sims is not None:
            sub = sims[(sims.task == "FT inside PT") & (sims.setting == rname) & (sims.alpha <= 0.16)]
            ax.errorbar(sub.alpha, sub.sim_mean, yerr=2 * sub.sim_se.fillna(0), fmt=MARKERS[rname], ms=4.5,
                        color=REGIME_COLORS[rname], mec="black", mew=0.5, capsize=2)
    ax.set_xlim(0, 0.16)
    ax.set_ylim(1e-6, 3)
    ax.set_title(r"FT inside PT, small $\alpha_{\mathrm{FT}}$ (log scale)")
    ax.set_xlabel(r"$\alpha_{\mathrm{FT}} = N_{\mathrm{FT}}/D$")
    ax.grid(alpha=0.3)


def winners(results) -> dict[str, dict]:
    """Per task: mean E_gen over alpha of each setting, the winner (lowest mean) and the
    fraction of alphas at which each setting is (one of the) lowest."""
    out = {}
    for tname, per in results.items():
        means = {k: float(np.mean(r.gen_error)) for k, r in per.items()}
        errs = np.array([per[k].gen_error for k in per])
        best = errs <= errs.min(axis=0) * (1 + 1e-9) + 1e-15
        out[tname] = {"means": means, "winner": min(means, key=means.get),
                      "frac_best": {k: float(np.mean(best[i])) for i, k in enumerate(per)}}
    return out


def make_fig5(args) -> int:
    """Three panels (one per task), four curves each; prints the winners. ``--seeds N`` adds
    exact gradient-flow end points at D = 1000 (N draws, alphas ``SIM_ALPHAS``). Exit 3 if any
    replica point did not converge."""
    from ptft.cli import EXIT_NOCONV

    png = check_out(args.out, "fig5.png")
    plt = _pyplot()
    alphas = np.linspace(0.01, 0.5, 15 if args.quick else 40)
    frame, results = fig5_curves(alphas)
    sims = simulate_fig5(args.seeds) if args.seeds else None
    fig, axs = plt.subplots(1, 4, figsize=(20, 4.6))
    for ax, (tname, per) in zip(axs[:3], results.items()):
        task = FIG5_TASKS[tname]
        for rname, res in per.items():
            init = CANONICAL[rname]
            ax.plot(res.alpha, res.gen_error, color=REGIME_COLORS[rname], lw=2.2, marker=MARKERS[rname], markevery=8,
                    ms=5,
                    label=fr"{rname}: $\lambda_{{\mathrm{{PT}}}}/c_{{\mathrm{{PT}}}}$={init.lambda_rel:g}, "
                          fr"$\gamma_{{\mathrm{{FT}}}}$={init.gamma_ft:g}")
            if sims is not None:
                sub = sims[(sims.task == tname) & (sims.setting == rname)]
                ax.errorbar(sub.alpha, sub.sim_mean, yerr=2 * sub.sim_se.fillna(0), fmt=MARKERS[rname], ms=4.5,
                            color=REGIME_COLORS[rname], mec="black", mew=0.5, capsize=2)
        win = min(per, key=lambda k: float(np.mean(per[k].gen_error)))
        ax.set_title(fr"{tname}: $\rho_{{\mathrm{{FT}}}}$={task.rho_ft:g}, $\omega$={task.omega:g}; "
                     fr"lowest error: {win}")
        ax.set_xlabel(r"$\alpha_{\mathrm{FT}} = N_{\mathrm{FT}}/D$")
        ax.set_xlim(0, 0.505)
        top = 1.7 if sims is None else max(1.7, 1.05 * float(np.nanmax(sims.sim_mean + 2 * sims.sim_se.fillna(0))))
        ax.set_ylim(-0.05, top)                  # never clip an error bar
        ax.grid(alpha=0.3)
    _zoom(axs[3], results["FT inside PT"], sims)
    axs[0].set_ylabel("generalisation error (replica)")
    title = r"$c_{\mathrm{PT}}=10^{-3}$, $\rho_{\mathrm{PT}}=0.1$"
    if sims is not None:
        title += f"\npoints: exact GF end point, D={int(sims.dim.iloc[0])}, {args.seeds} seeds, mean $\\pm$ 2 SE"
    handles, labels = axs[0].get_legend_handles_labels()
    fig.legend(handles, labels, title=title.replace("\n", "; "), loc="lower center", ncol=4, fontsize=9,
               title_fontsize=9, bbox_to_anchor=(0.5, -0.11), frameon=False)
    fig.tight_layout()
    if sims is not None:
        frame = frame.merge(sims, on=["task", "setting", "alpha"], how="outer")
    png, csv = _save(fig, png, frame.to_csv(index=False, float_format="%.12g"))
    plt.close(fig)
    print(f"wrote {png} and {csv}")
    print(winners_text(winners(results)))
    if sims is not None:
        print(_sim_text(sims, results))
    return 0 if bool(frame.converged.all()) else EXIT_NOCONV


def _sim_text(sims, results) -> str:
    """Replica vs simulation at the simulated alphas."""
    lines = ["task            setting  alpha  replica    simulation (mean +- SE)"]
    for row in sims.itertuples():
        res = results[row.task][row.setting]
        theory = float(res.gen_error[np.argmin(np.abs(res.alpha - row.alpha))]) \
            if np.isclose(res.alpha, row.alpha).any() else float(solve(FIG5_TASKS[row.task], CANONICAL[row.setting],
                                                                       [row.alpha]).gen_error[0])
        lines.append(f"{row.task:15s} {row.setting:8s} {row.alpha:5.2f}  {theory:9.4g}  {row.sim_mean:9.4g} +- {row.sim_se:.2g}")
    return "\n".join(lines)


def winners_text(win: dict) -> str:
    lines = ["task            winner  expected  mean E_gen over alpha (I, II, III, IV)        fraction of alphas best"]
    for tname, w in win.items():
        exp = EXPECTED_WINNERS[tname]
        means = "  ".join(f"{w['means'][k]:.4f}" for k in CANONICAL)
        frac = " ".join(f"{k}:{w['frac_best'][k]:.2f}" for k in CANONICAL)
        ok = "ok" if w["winner"] == exp else "DIFFERS"
        lines.append(f"{tname:15s} {w['winner']:6s}  {exp:3s} {ok:7s}  {means}   {frac}")
    return "\n".join(lines)


__all__ = ["make_fig2", "make_fig5", "fig2_frame", "fig5_curves", "winners", "regime_rgb"]
