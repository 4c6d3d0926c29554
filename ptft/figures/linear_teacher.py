"""``ptft figure linear-teacher``: risk versus n for source/target pairs of varying similarity
and covariance spectra (theory lines, Monte Carlo points +- 2 SEM), and sample complexity."""
from __future__ import annotations

import os

import numpy as np

from ptft.cli import save_png_atomic, write_atomic

PLACEMENTS = (("head", "tab:blue"), ("uniform", "tab:green"), ("tail", "tab:red"))
SPECTRA = (("iso", 1.0, "isotropic $\\Sigma$ (placements coincide)"), ("power", 1.5, "power-law $\\lambda_i \\propto i^{-1.5}$"))


def figure_data(quick: bool, seeds: int | None, distance: float = 0.5, noise: float = 0.1):
    """Long table: spectrum, placement, n, theory and Monte Carlo columns."""
    import pandas as pd
    from tqdm.auto import tqdm

    from ptft.commands.linear_teacher import risk_frame
    from replica.linear_teacher import make_pair, make_spectrum

    dim = 200 if quick else 400
    seeds = seeds or (6 if quick else 20)
    n_theory = np.unique(np.round(np.geomspace(4, 2 * dim, 60)).astype(int))
    n_mc = np.unique(np.round(np.geomspace(8, 1.8 * dim, 9 if quick else 12)).astype(int))
    frames = []
    jobs = [(s, p) for s in SPECTRA for p in PLACEMENTS]
    for (kind, decay, _), (placement, _) in tqdm(jobs, desc="linear-teacher figure", leave=False):
        pair = make_pair(make_spectrum(kind, dim, decay), distance, placement, noise=noise, seed=0)
        theory = risk_frame(pair, n_theory, 0.0, 0)
        sim = risk_frame(pair, n_mc, 0.0, seeds)
        both = pd.concat([theory.assign(kind="theory"), sim.assign(kind="mc")], ignore_index=True)
        frames.append(both.assign(spectrum=kind, decay=decay, placement=placement, dim=dim, seeds=seeds,
                                  distance=distance, noise=noise))
    return pd.concat(frames, ignore_index=True)


def complexity_data(quick: bool, eps: float = 0.05, noise: float = 0.1):
    """n* (risk <= eps) versus ||Delta||/||theta_T|| under the power-law spectrum."""
    import pandas as pd

    from replica.linear_teacher import compare_sample_complexity, make_pair, make_spectrum

    dim = 200 if quick else 400
    kind, decay, _ = SPECTRA[1]
    rows = []
    for distance in np.geomspace(0.05, 2.0, 12 if quick else 25):
        for placement, _ in PLACEMENTS:
            pair = make_pair(make_spectrum(kind, dim, decay), distance, placement, noise=noise, seed=0)
            rows.append(dict(compare_sample_complexity(pair, eps), distance=distance, placement=placement))
    return pd.DataFrame(rows)


def plot(frame, comp):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    for ax, (kind, _, title) in zip(axes, SPECTRA):
        sub = frame[frame.spectrum == kind]
        for placement, color in PLACEMENTS:
            part = sub[sub.placement == placement]
            th, mc = part[part.kind == "theory"], part[part.kind == "mc"]
            ax.plot(th.n, th.risk_ft, color=color, label=f"FT, $\\Delta$ in {placement}")
            ax.errorbar(mc.n, mc.mc_ft_mean, yerr=2 * mc.mc_ft_sem, fmt="o", ms=4, color=color, capsize=2)
            ax.axhline(th.risk_zero_shot.iloc[0], color=color, ls=":", lw=1)
        th, mc = sub[(sub.kind == "theory") & (sub.placement == "head")], sub[(sub.kind == "mc") & (sub.placement == "head")]
        ax.plot(th.n, th.risk_scratch, color="k", label="scratch ($\\theta_S=0$)")
        ax.errorbar(mc.n, mc.mc_scratch_mean, yerr=2 * mc.mc_scratch_sem, fmt="s", ms=4, color="k", capsize=2)
        d = int(sub.dim.iloc[0])
        ax.axvline(d, color="0.6", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="target samples n", ylabel="population risk $R(w)$",
               title=f"{title}, d={d}, $||\\Delta||/||\\theta_T||$={sub.distance.iloc[0]:g}, $\\sigma$={sub.noise.iloc[0]:g}")
        ax.set_ylim(1e-3, 3)
    axes[0].legend(fontsize=8, title="lines: theory, points: MC $\\pm$2 SEM\ndotted: zero-shot $R(\\theta_S)$",
                   title_fontsize=7)
    ax = axes[2]
    for placement, color in PLACEMENTS:
        part = comp[comp.placement == placement]
        ax.plot(part.distance, part.n_ft, "-o", ms=3, color=color, label=f"FT, $\\Delta$ in {placement}")
    ax.axhline(comp.n_scratch.iloc[0], color="k", label="scratch")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1.0)      # n* = 0 (zero-shot suffices) stays visible
    finite = comp[["n_ft", "n_scratch"]].to_numpy()
    ax.set_ylim(0, 3 * np.nanmax(np.where(np.isfinite(finite), finite, np.nan)))
    ax.set(xlabel="$||\\theta_S-\\theta_T|| / ||\\theta_T||$", ylabel=f"n* = samples to reach risk {comp.eps.iloc[0]:g}",
           title="sample complexity, power-law $\\Sigma$ (n*=0: $\\theta_S$ suffices)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def make_figure(args) -> int:
    import pandas as pd

    from ptft.cli import check_out

    out = check_out(args.out, "linear-teacher.png")      # checked before the Monte Carlo runs
    frame = figure_data(args.quick, args.seeds)
    comp = complexity_data(args.quick)
    fig = plot(frame, comp)
    csv = pd.concat([frame.assign(table="risk"), comp.assign(table="sample_complexity")], ignore_index=True)
    write_atomic(csv.to_csv(index=False), os.path.splitext(out)[0] + ".csv")
    save_png_atomic(fig, out)
    print(f"wrote {out} and {os.path.splitext(out)[0]}.csv")
    return 0
