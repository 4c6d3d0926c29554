"""``ptft figure limits``: on the three fine-tuning tasks of fig5, the replica error of the four
canonical initialisations, of the initialisation optimised per alpha (at a few alphas), and the
two limits: AMP with the Bayes denoiser and the Bayes-optimal error, both knowing the PT support;
the noiseless thresholds alpha_IT and alpha_AMP are marked. Writes the PNG and the CSV behind it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ptft.cli import check_out
from ptft.figures.regimes import FIG5_TASKS, MARKERS, _pyplot, _save
from replica.bayes import solve_bayes
from replica.regimes import CANONICAL, REGIME_COLORS
from replica.solver import solve


def limit_curves(alphas, opt_alphas, progress: bool = False) -> pd.DataFrame:
    """Long table: task, curve (I..IV, optimised, AMP, Bayes, Bayes (no PT)), alpha, error, converged."""
    from replica.optimize import optimize_init

    rows = []
    for tname, task in FIG5_TASKS.items():
        for rname, init in CANONICAL.items():
            res = solve(task, init, alphas)
            rows += [(tname, rname, a, e, c) for a, e, c in zip(res.alpha, res.gen_error, res.converged)]
        for a in opt_alphas:
            opt = optimize_init(task, [a], grid=(5, 5, 4), n_starts=1, progress=progress)
            rows.append((tname, "optimised", a, opt.best.value, bool(opt.best.ok)))
        for knowledge, name in (("pt", "Bayes"), ("none", "Bayes (no PT)")):
            lim = solve_bayes(task, alphas, knowledge=knowledge)
            rows += [(tname, name, a, e, c) for a, e, c in zip(lim.alpha, lim.bayes_error, lim.converged)]
            if knowledge == "pt":
                rows += [(tname, "AMP", a, e, c) for a, e, c in zip(lim.alpha, lim.amp_error, lim.converged)]
    return pd.DataFrame(rows, columns=["task", "curve", "alpha", "error", "converged"])


def make(args) -> int:
    """Three panels, one per task; prints which network curve comes closest to the limit."""
    from ptft.cli import EXIT_NOCONV
    from replica.bayes import thresholds

    png = check_out(args.out, "limits.png")
    plt = _pyplot()
    alphas = np.linspace(0.01, 0.5, 15 if args.quick else 50)
    opt_alphas = [0.1, 0.25] if args.quick else [0.05, 0.1, 0.2, 0.3, 0.4]
    frame = limit_curves(alphas, opt_alphas)
    fig, axs = plt.subplots(1, 3, figsize=(16, 4.6))
    for ax, (tname, task) in zip(axs, FIG5_TASKS.items()):
        sub = frame[frame.task == tname]
        for rname in CANONICAL:
            c = sub[sub.curve == rname]
            ax.plot(c.alpha, c.error, color=REGIME_COLORS[rname], lw=1.8, marker=MARKERS[rname], markevery=8, ms=4,
                    label=f"network, regime {rname}")
        c = sub[sub.curve == "optimised"]
        ax.plot(c.alpha, c.error, "k*", ms=10, label="network, optimised init")
        for name, style in (("AMP", dict(color="tab:red", ls="--", lw=2)), ("Bayes", dict(color="k", lw=2.5)),
                            ("Bayes (no PT)", dict(color="grey", ls=":", lw=1.5))):
            c = sub[sub.curve == name]
            ax.plot(c.alpha, c.error, label=f"{name}-optimal" if name.startswith("Bayes") else "AMP (Bayes denoiser)",
                    **style)
        th = thresholds(task, "pt")
        ax.axvline(th["alpha_it"], color="k", ls=":", lw=0.8)
        ax.axvline(th["alpha_amp"], color="tab:red", ls=":", lw=0.8)
        ax.text(th["alpha_it"], 1.02, r" $\alpha_{\mathrm{IT}}$", fontsize=8, va="bottom")
        ax.text(th["alpha_amp"], 0.93, r" $\alpha_{\mathrm{AMP}}$", fontsize=8, va="bottom", color="tab:red")
        ax.set_title(fr"{tname}: $\rho_{{\mathrm{{FT}}}}$={task.rho_ft:g}, $\omega$={task.omega:g}")
        ax.set_xlabel(r"$\alpha_{\mathrm{FT}} = N_{\mathrm{FT}}/D$")
        ax.set_ylim(-0.03, 1.15)
        ax.set_xlim(0, 0.505)
        ax.grid(alpha=0.3)
    axs[0].set_ylabel(r"error $\|\hat\beta - \beta^*\|^2 / D$")
    handles, labels = axs[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=8, fontsize=8.5, bbox_to_anchor=(0.5, -0.08), frameon=False,
               title=r"$c_{\mathrm{PT}}=10^{-3}$, $\rho_{\mathrm{PT}}=0.1$, noiseless; limits know the PT support",
               title_fontsize=9)
    fig.tight_layout()
    png, csv = _save(fig, png, frame.to_csv(index=False, float_format="%.12g"))
    plt.close(fig)
    print(f"wrote {png} and {csv}")
    print(gap_text(frame))
    return 0 if bool(frame.converged.all()) else EXIT_NOCONV


def gap_text(frame: pd.DataFrame) -> str:
    """Per task: mean error of each canonical regime over the alpha grid minus the Bayes mean."""
    lines = ["task            regime  mean error  mean gap to Bayes  largest gap (at alpha)"]
    for tname in FIG5_TASKS:
        sub = frame[frame.task == tname]
        bayes = sub[sub.curve == "Bayes"].set_index("alpha").error
        for rname in CANONICAL:
            net = sub[sub.curve == rname].set_index("alpha").error
            gap = net - bayes
            lines.append(f"{tname:15s} {rname:6s}  {net.mean():10.4g}  {gap.mean():17.4g}  "
                         f"{gap.max():.4g} ({gap.idxmax():.3g})")
    return "\n".join(lines)
