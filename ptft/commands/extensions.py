"""``ptft solve-ext``: the replica beyond the paper -- imperfect pretraining (``--alpha-pt``,
nested replica, :mod:`replica.imperfect`) and anisotropic inputs (``--variances`` /
``--group-variances``, :mod:`replica.anisotropic`), optionally against finite-D simulation."""
from __future__ import annotations

import math
import sys

FIGURES = {"ext": "ptft.figures.extensions:make"}


def register(sub) -> dict:
    from ptft.cli import add_init_options, add_output_options, add_task_options

    p = sub.add_parser("solve-ext",
                       help="replica with imperfect PT (--alpha-pt) and/or anisotropic inputs (--variances)")
    add_task_options(p)
    add_init_options(p)
    p.add_argument("--alpha", default="0.05:0.5:10", help="alpha_FT: 'a,b,c' or 'start:stop:num' (default 0.05:0.5:10)")
    p.add_argument("--alpha-pt", type=float,
                   help="PT on round(alpha_PT D) noiseless samples (nested replica); default: oracle PT")
    p.add_argument("--variances", help="FT input variances as 'f1:s1,f2:s2,...': a fraction f_k of the "
                                       "coordinates of every group has x_d ~ N(0, s_k/D)")
    p.add_argument("--group-variances", help="one FT input variance per group, e.g. 'shared=2,new=0.5' "
                                             "(groups shared,new,pt_only,none; missing ones 1)")
    p.add_argument("--simulate", action="store_true",
                   help="also run the exact finite-D end points (--dim, --seeds) and add mean, SE and z")
    p.add_argument("--dim", type=int, default=1000, help="D for --simulate (default 1000)")
    p.add_argument("--seeds", type=int, default=10, help="seeds for --simulate (default 10)")
    p.add_argument("--rtol", type=float, default=None,
                   help="target relative error of gen_error (default 1e-8); points missing it are flagged")
    p.add_argument("--progress", action="store_true", help="progress bar on stderr")
    add_output_options(p)
    return {"solve-ext": _cmd_solve_ext}


def parse_variances(text: str | None, by_group: str | None):
    """InputVariances from the two options (None when neither is given)."""
    from replica.anisotropic import InputVariances
    from ptft.cli import InputError

    if text and by_group:
        raise InputError("give --variances or --group-variances, not both")
    what = "--variances 'f1:s1,f2:s2'" if text else "--group-variances 'group=s,...'"
    form = InputError(f"cannot parse {what}: got '{text or by_group}'")
    try:                                          # float() of the user's text
        if text:
            pairs = [tuple(float(v) for v in item.split(":")) for item in text.split(",") if item.strip()]
        elif by_group:
            items = [item.split("=") for item in by_group.split(",") if item.strip()]
            if not items or any(len(i) != 2 for i in items):
                raise form
            groups = {k.strip(): float(v) for k, v in items}
    except ValueError as err:
        raise (err if isinstance(err, InputError) else form) from None
    if text:
        if not pairs or any(len(p) != 2 for p in pairs):
            raise form
        return InputVariances.mixture(pairs)
    if by_group:
        return InputVariances.by_group(groups)
    return None


def _solve(task, init, alphas, alpha_pt, var, progress, rtol=None):
    from replica import solve

    return solve(task, init, alphas, pretraining=alpha_pt, inputs=var, progress=progress, rtol=rtol)


def _simulated(task, init, alphas, alpha_pt, var, dim, seeds, progress):
    """Per-alpha mean and SE of the simulated gen_error (test MSE), aligned with ``alphas``."""
    import pandas as pd

    if var is not None:
        from empirical.anisotropic_sim import simulate_anisotropic, summarize_runs

        table = summarize_runs(simulate_anisotropic(task, init, var, alphas, dim=dim, seeds=range(seeds),
                                                    alpha_pt=alpha_pt))
        table = table.rename(columns={"gen_se": "se"})
    else:
        from empirical.simulate import SimConfig, Setting, simulate, summarize

        cfg = SimConfig(dim=dim, seeds=tuple(range(seeds)), alpha_pt=alpha_pt, device="cpu")
        table = summarize(simulate([Setting(task, init, "ext")], alphas, cfg, progress=progress), theory=False)
    cols = [c for c in ("alpha", "gen_error", "se", "n_runs", "param_error", "param_se") if c in table]
    return pd.DataFrame({"alpha": alphas}).merge(table[cols], on="alpha", how="left")


def _cmd_solve_ext(args) -> int:
    from ptft.cli import (EXIT_NOCONV, InputError, init_from_args, parse_alphas, task_from_args,
                             write_atomic)

    task, init = task_from_args(args), init_from_args(args)
    alphas = parse_alphas(args.alpha)
    if args.alpha_pt is not None and not (math.isfinite(args.alpha_pt) and args.alpha_pt > 0):
        raise InputError(f"--alpha-pt must be finite and > 0, got {args.alpha_pt}")
    var = parse_variances(args.variances, args.group_variances)
    if args.alpha_pt is not None and args.alpha_pt > 1e6:
        raise InputError(f"--alpha-pt must be <= 1e6, got {args.alpha_pt:g}")
    if args.simulate:
        from ptft.cli import check_int, check_memory, check_samples

        check_int("--dim", args.dim, 10, 100_000)
        check_int("--seeds", args.seeds, 2, 100_000)
        check_samples(alphas + [args.alpha_pt or 0.0], args.dim)
        check_memory("--simulate at this --dim and largest alpha", 8.0 * args.dim ** 2 * max(alphas + [args.alpha_pt or 0]))
    res = _solve(task, init, alphas, args.alpha_pt, var, args.progress, args.rtol)
    frame = res.to_frame()
    if args.simulate:
        sim = _simulated(task, init, alphas, args.alpha_pt, var, args.dim, args.seeds, args.progress)
        frame["sim_gen_error"] = sim["gen_error"].to_numpy()
        frame["sim_se"] = sim["se"].to_numpy()
        frame["z"] = (frame["sim_gen_error"] - frame["gen_error"]) / frame["sim_se"]
        if "param_error" in sim:
            frame["sim_param_error"] = sim["param_error"].to_numpy()
            frame["sim_param_se"] = sim["param_se"].to_numpy()
            frame["z_param"] = (frame["sim_param_error"] - frame["param_error"]) / frame["sim_param_se"]
    import numpy as np

    finite = np.isfinite(frame["gen_error"].to_numpy(float))      # (converged is already False there)
    if args.simulate:
        finite &= np.isfinite(frame["sim_gen_error"].to_numpy(float))
    write_atomic(_render(frame, args, res.info), args.out)
    bad = ~frame["converged"].to_numpy(bool) | ~finite
    if bad.any():
        print(f"ptft: warning: {int(bad.sum())} of {bad.size} points did not converge or are not finite "
              f"(largest residual {frame['residual'][bad].max():.3g})", file=sys.stderr)
        return EXIT_NOCONV
    return 0


def _render(frame, args, info) -> str:
    from ptft.cli import _rtol, render_frame

    if args.format != "table":
        return render_frame(frame, args.format)
    keys = ("c_pt", "lambda_pt", "lambda_pt_rel", "gamma_ft", "alpha_pt", "sigma_pt", "pt_error", "n_classes")
    head = "  ".join(f"{k}={info[k]!r}" if isinstance(info[k], float) else f"{k}={info[k]}"
                     for k in keys if k in info)
    head += "  (lambda_pt absolute; gen_error = test MSE on fresh inputs"
    head += ", param_error = ||beta_hat - beta*||^2/D)\n" if "param_error" in frame else ")\n"
    cols = [c for c in ("alpha", "gen_error", "param_error", "sim_gen_error", "sim_se", "z",
                        "sim_param_error", "z_param", "sigma", "tau",
                        "gen_error_err", "residual", "converged", "phase") if c in frame]
    return render_frame(frame[cols], "table", rtol=_rtol(args.rtol), head=head)
