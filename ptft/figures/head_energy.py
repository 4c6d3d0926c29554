"""``ptft figure head-energy``: the four feature-change metrics (and the FT test accuracy) versus
the initial energy, two-layer linear model; energy varied by the probing length tau (lines, one
per random-head scale) and by label smoothing after long probing (squares)."""
from __future__ import annotations

import os

from ptft.cli import write_atomic

METRICS = (("euclid", "Euclidean distance $||z_T-z_0||$"), ("cosine", "cosine distance $1-\\cos(z_T,z_0)$"),
           ("dot", "dot product $z_T\\cdot z_0$"), ("norm", "feature norm $||z_T||$"),
           ("ft_test_acc", "test accuracy after FT"))
SCALES = ((1.0, "tab:blue"), (2.0, "tab:green"), (4.0, "tab:red"))


def figure_data(quick: bool, seeds: int | None):
    import pandas as pd
    from tqdm.auto import tqdm

    from empirical.head_energy import HeadEnergySetup, energy_sweep

    seeds = seeds or (2 if quick else 6)
    taus = (0, 2, 8, 32, 128, 512) if quick else (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
    smoothings = (0.0, 0.2, 0.4, 0.6, 0.8)
    frames = []
    jobs = [(s, seed) for s, _ in SCALES for seed in range(seeds)]
    for scale, seed in tqdm(jobs, desc="head-energy figure", leave=False):
        setup = HeadEnergySetup(head_scale=scale, seed=seed)
        frames.append(energy_sweep(setup, taus).assign(series="tau"))
        if scale == 2.0:
            frames.append(energy_sweep(setup, (2000,), smoothings).assign(series="smoothing"))
    return pd.concat(frames, ignore_index=True)


def _summary(frame, key):
    grouped = frame.groupby(key)
    mean, sem = grouped.mean(numeric_only=True), grouped.sem(numeric_only=True).fillna(0.0)
    return mean, sem


def plot(frame):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(14, 8), constrained_layout=True)
    seeds = frame.seed.nunique()
    for ax, (col, label) in zip(axes.flat, METRICS):
        for scale, color in SCALES:
            part = frame[(frame.series == "tau") & (frame.head_scale == scale)]
            mean, sem = _summary(part, "tau")
            ax.errorbar(mean.energy, mean[col], xerr=2 * sem.energy, yerr=2 * sem[col], fmt="-o", ms=3,
                        color=color, capsize=2, label=f"probe $\\tau$ steps, head scale {scale:g}")
        part = frame[frame.series == "smoothing"]
        mean, sem = _summary(part, "smoothing")
        ax.errorbar(mean.energy, mean[col], xerr=2 * sem.energy, yerr=2 * sem[col], fmt="s--", ms=4,
                    color="k", capsize=2, label="probe to convergence + label smoothing 0..0.8")
        ax.set(xlabel="initial energy  mean $||e_y - p_0||_2$", ylabel=label)
    axes[0, 0].legend(fontsize=8)
    ax = axes[1, 2]
    mean, _ = _summary(frame[(frame.series == "tau") & (frame.head_scale == 2.0)], "tau")
    ax.semilogx(mean.index + 1, mean.energy, "-o", color="tab:green", ms=3)
    ax.set(xlabel="probing steps $\\tau$ + 1", ylabel="initial energy", title="energy vs probing (head scale 2)")
    fig.suptitle(f"two-layer linear model d=100, n=50, k=20, C=4; mean $\\pm$ 2 SEM over {seeds} seeds")
    return fig


def make_figure(args) -> int:
    from ptft.cli import save_png_atomic

    from ptft.cli import InputError
    from ptft.cli import check_out

    out = args.out or "head-energy.png"
    if not out.lower().endswith(".png"):           # the CSV goes to OUT.csv: a non-PNG name would be overwritten
        raise InputError(f"--out {out}: the figure is a PNG, give a name ending in .png")
    out = check_out(out, out)
    if args.seeds is not None and args.seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {args.seeds}")
    frame = figure_data(args.quick, args.seeds)
    fig = plot(frame)
    write_atomic(frame.to_csv(index=False), os.path.splitext(out)[0] + ".csv")
    save_png_atomic(fig, out)
    print(f"wrote {out} and {os.path.splitext(out)[0]}.csv")
    return 0
