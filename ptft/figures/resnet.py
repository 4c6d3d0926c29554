"""``ptft figure fig4``: FT test accuracy vs n for each lever (paper Fig. 4: (a) c_PT, (b) kappa, (c) gamma_FT).

One lever is varied per panel, the others at 1 (the standard initialisation). Points are means over
seeds with +-2 standard errors. Without ``--data`` (or ``--data digits``) it runs on the bundled digits,
with ``--data generated`` on the generated stand-in (minutes on a laptop CPU); with ``--data`` on CIFAR-100 with the paper's protocol (GPU hours). The CSV (resumable) goes
next to the PNG, the PT checkpoints to ``$PTFT_CACHE_DIR/resnet-checkpoints``.
"""
from __future__ import annotations

import os
import sys

# lever values per panel (the authors' grids, c_PT {0.125..2},
# kappa = 1/alpha with alpha in {0.1..10}, gamma_FT {0.01..10}; here the ends and 1)
PANELS = {
    "c_pt": (r"(a) absolute scale $c_{\mathrm{PT}}$", (0.25, 1.0, 4.0)),
    "kappa": (r"(b) relative scale $\kappa$ (stem + stages 1-3)", (0.1, 1.0, 10.0)),
    "gamma_ft": (r"(c) FT readout scale $\gamma_{\mathrm{FT}}$", (0.01, 1.0, 10.0)),
}
LEVER_SYMBOL = {"c_pt": r"$c_{\mathrm{PT}}$", "kappa": r"$\kappa$", "gamma_ft": r"$\gamma_{\mathrm{FT}}$"}
MARKERS = ("o", "s", "^")
MIN_SEEDS_FOR_BARS = 5       # below this a standard error is too noisy to draw as an error bar


def lever_settings(panels: dict):
    """One-at-a-time settings around Levers() = (1, 1, 1), without duplicates."""
    from empirical.resnet import Levers

    out = []
    for name, (_, values) in panels.items():
        for v in values:
            lev = Levers(**{name: v})
            if lev not in out:
                out.append(lev)
    return out


def panel_frame(frame, name: str):
    """Rows of one panel: the varied lever free, the other two at 1."""
    others = [k for k in ("c_pt", "kappa", "gamma_ft") if k != name]
    return frame[(frame[others[0]] == 1.0) & (frame[others[1]] == 1.0)]


def plot(frame, panels: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    from ptft.cli import save_png_atomic

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), sharey=True)
    for ax, (name, (label, values)) in zip(np.atleast_1d(axes), panels.items()):
        sub = panel_frame(frame, name)
        colours = plt.cm.viridis(np.linspace(0.0, 0.9, len(values)))
        for i, (colour, v) in enumerate(zip(colours, values)):
            g = sub[sub[name] == v].groupby("n_ft")["test_acc"]
            if g.ngroups == 0:
                continue
            mean, sem, count = g.mean(), g.sem().fillna(0.0), int(g.size().min())
            dodge = 1.0 + 0.04 * (i - (len(values) - 1) / 2)          # small x shift so error bars do not overlap
            if count >= MIN_SEEDS_FOR_BARS:       # +-2 SE, clipped to the possible range [0, 1]
                lo, hi = np.minimum(2 * sem.values, mean.values), np.minimum(2 * sem.values, 1 - mean.values)
                ax.errorbar(mean.index * dodge, mean.values, yerr=[lo, hi], marker=MARKERS[i % 3], ms=4, capsize=3,
                            color=colour, label=f"{v:g}")
            else:                                 # too few seeds for an SE: show every seed and the mean
                runs = sub[sub[name] == v]
                ax.scatter(runs.n_ft * dodge, runs.test_acc, marker=MARKERS[i % 3], s=12, color=colour, alpha=0.45,
                           linewidths=0)
                ax.plot(mean.index * dodge, mean.values, marker=MARKERS[i % 3], ms=5, color=colour, label=f"{v:g}")
        ax.set_xscale("log")
        ticks = sorted(int(n) for n in sub.n_ft.unique())
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticks(ticks, [str(n) for n in ticks])
        ax.set_xlabel("number of fine-tuning samples n")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(title=LEVER_SYMBOL[name], fontsize=8, title_fontsize=9)
        ax.set_ylim(max(0.0, float(frame.test_acc.min()) - 0.02), 1.005)   # every seed visible, accuracy <= 1
    n_seeds = int(frame.groupby(["c_pt", "kappa", "gamma_ft", "n_ft"]).size().min()) if len(frame) else 0
    what = "mean $\\pm$ 2 s.e." if n_seeds >= MIN_SEEDS_FOR_BARS else "mean; faint points: single seeds"
    np.atleast_1d(axes)[0].set_ylabel(f"FT test accuracy ({what})")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png_atomic(fig, path)
    plt.close(fig)


def lever_effects(frame, panels: dict):
    """Paired accuracy difference of each lever value against the baseline (1, 1, 1): the same seed
    (class split, init, FT draw) and n; mean over (seed, n) pairs with its standard error."""
    import pandas as pd

    key = ["seed", "n_ft"]
    base = panel_frame(frame, "c_pt")
    base = base[base.c_pt == 1.0].set_index(key)["test_acc"]
    rows = []
    for name, (_, values) in panels.items():
        sub = panel_frame(frame, name)
        for v in values:
            if v == 1.0:
                continue
            diff = (sub[sub[name] == v].set_index(key)["test_acc"] - base).dropna()
            rows.append({"lever": name, "value": v, "pairs": len(diff), "acc_diff_mean": diff.mean(),
                         "acc_diff_sem": diff.sem(), "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum())})
    return pd.DataFrame(rows)


def checkpoint_dir() -> str:
    """Shared PT checkpoint directory (file names carry a hash of everything that fixes the network)."""
    root = os.environ.get("PTFT_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "ptft"))
    return os.path.join(root, "resnet-checkpoints")


def figure_inputs(args, default_out: str, seeds_quick: int, seeds_full: int):
    """(out, seeds, device, dataset) of a ResNet figure; bad input fails here, before any training:
    --out must be a .png in an existing directory, --seeds >= 1; digits at 16x16 with the default noise."""
    from ptft.commands.resnet import load_dataset, prepare_device
    from ptft.cli import InputError
    from ptft.cli import check_out

    out = args.out or default_out
    if not out.lower().endswith(".png"):
        raise InputError(f"--out {out}: the figure is a PNG, give a name ending in .png")
    out = check_out(out, default_out)
    seeds = args.seeds if args.seeds is not None else (seeds_quick if args.quick else seeds_full)
    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}")
    device = prepare_device(args.device, 1)
    args.digits_size, args.digits_noise = 16, None
    return out, seeds, device, load_dataset(args)


def make(args) -> int:
    """Run (or resume) the one-at-a-time lever grid and plot it."""
    from ptft.commands.resnet import run_experiment
    from empirical.resnet_train import preset

    out, seeds, device, dataset = figure_inputs(args, "fig4.png", seeds_quick=2, seeds_full=3)
    protocol, n_ft = preset(dataset)
    n_ft = list(n_ft)
    panels = PANELS                               # --quick: fewer n and seeds, same lever values
    if args.quick:
        n_ft = n_ft[::2]
    csv = os.path.splitext(out)[0] + ".csv"
    frame = run_experiment(dataset, protocol, lever_settings(panels), n_ft, list(range(seeds)), device,
                           csv, checkpoint_dir(), progress=True)
    frame = frame[(frame.seed < seeds) & frame.n_ft.isin(n_ft)]          # the CSV may hold a larger run
    a = protocol.arch
    plot(frame, panels, out, f"ResNet-{a.depth} (width {a.width}) on {dataset.name}: PT on "
         f"{dataset.train.n_classes - protocol.n_ft_classes} classes, FT on {protocol.n_ft_classes}; {seeds} seeds")
    effects = lever_effects(frame, panels)
    print("paired FT accuracy difference vs c_PT = kappa = gamma_FT = 1 (mean over seeds and n):\n"
          + effects.to_string(index=False, float_format=lambda v: f"{v:.4g}"), file=sys.stderr)
    print(f"wrote {out} and {csv}", file=sys.stderr)
    return 0
