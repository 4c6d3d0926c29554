"""``ptft figure head-energy-resnet``: the ResNet head-energy sweep drawn as six panels."""
from __future__ import annotations

import os

import numpy as np

from empirical.head_energy.resnet import LABELS, MARKERS, METRICS, default_protocol, energy_sweep_resnet, trend_summary


def plot(frame, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(2, 3, figsize=(14, 8), constrained_layout=True)
    taus = frame.tau.to_numpy()
    norm = LogNorm(vmin=1, vmax=max(taus.max(), 1) + 1)
    cmap = plt.get_cmap("viridis")
    for ax, col in zip(axes.flat, METRICS + ("ft_test_acc",)):
        for s, part in frame.groupby("smoothing"):
            grouped = part.groupby("tau")
            mean, sem = grouped.mean(numeric_only=True), grouped.sem(numeric_only=True).fillna(0.0)
            mean, sem = mean.sort_values("energy"), sem.loc[mean.sort_values("energy").index]
            ax.plot(mean.energy, mean[col], "-", color="0.6", lw=0.8, zorder=1)
            ax.errorbar(mean.energy, mean[col], xerr=2 * sem.energy, yerr=2 * sem[col], fmt="none",
                        ecolor="0.5", elinewidth=0.7, capsize=2, zorder=2)
            ax.scatter(mean.energy, mean[col], c=cmap(norm(mean.index.to_numpy() + 1)), s=40, zorder=3,
                       marker=MARKERS.get(float(s), "D"), edgecolors="k", linewidths=0.5,
                       label=f"label smoothing {s:g}")
        ax.set(xlabel="initial energy  mean $||e_y - p_0||_2$", ylabel=LABELS[col])
    axes[0, 0].legend(fontsize=8)
    ax = axes[1, 2]
    for s, part in frame.groupby("smoothing"):
        mean = part.groupby("tau").mean(numeric_only=True)
        ax.semilogx(mean.index + 1, mean.energy, "-" + MARKERS.get(float(s), "D"), color="k", ms=4,
                    label=f"label smoothing {s:g}")
    ax.set(xlabel="head-probing epochs $\\tau$ + 1", ylabel="initial energy", title="energy vs probing")
    ax.legend(fontsize=8)
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes[:, 2], label="HP epochs $\\tau$",
                       shrink=0.6)
    ticks = np.unique(taus)
    bar.set_ticks(ticks + 1, labels=[str(t) for t in ticks])        # colour is log(tau + 1)
    bar.minorticks_off()
    fig.suptitle(title)
    return fig


def make_figure(args) -> int:
    """``ptft figure head-energy-resnet``: the sweep, its CSV, the PNG and the trend summary (stderr)."""
    import sys

    from ptft.figures.resnet import checkpoint_dir, figure_inputs
    from ptft.cli import write_atomic
    from ptft.cli import save_png_atomic

    out, seeds, device, dataset = figure_inputs(args, "head-energy-resnet.png", seeds_quick=2, seeds_full=4)
    protocol, setup = default_protocol(dataset)
    taus = (0, 1, 2, 5, 20) if args.quick else (0, 1, 2, 3, 5, 10, 20, 50)
    frame = energy_sweep_resnet(dataset, protocol, setup, taus, (0.0, 0.3), range(seeds), device,
                                checkpoint_dir(), progress=True)
    a = protocol.arch
    fig = plot(frame, f"ResNet-{a.depth} (width {a.width}) on {dataset.name}, FT on {protocol.n_ft_classes} "
                      f"classes, n = {setup.n_ft}, {setup.ft_epochs} FT epochs; mean $\\pm$ 2 SEM over {seeds} seeds")
    write_atomic(frame.to_csv(index=False), os.path.splitext(out)[0] + ".csv")
    save_png_atomic(fig, out)
    print(trend_summary(frame).to_string(index=False, float_format=lambda v: f"{v:.3f}"), file=sys.stderr)
    print(f"wrote {out} and {os.path.splitext(out)[0]}.csv", file=sys.stderr)
    return 0
