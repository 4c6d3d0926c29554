"""``ptft simulate``: fine-tune real diagonal networks and compare with the replica prediction;
``ptft figure fig3``: the paper's Figure 3."""
from __future__ import annotations

from ptft.cli import (InputError, add_init_options, add_output_options, add_task_options, check_int,
                         check_memory, check_samples, check_out, init_from_args, parse_alphas, render_frame, task_from_args,
                         with_parameters, write_atomic)

MAX_RUNS = 100_000      # training runs (alphas x seeds) per command
MAX_WORK = 1e11         # seeds x D^2 x sum(alpha): the size of all design matrices together

FIGURES = {"fig3": "ptft.figures.fig3:make"}


def register(sub) -> dict:
    p = sub.add_parser("simulate", help="train diagonal networks (batched, CPU or GPU) and compare with the replica")
    add_task_options(p)
    add_init_options(p)
    p.add_argument("--alpha", default="0.05:0.5:10", help="'a,b,c' or 'start:stop:num' (default 0.05:0.5:10)")
    p.add_argument("--dim", type=int, default=1000, help="input dimension D (default 1000)")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds (default 10; >= 10 for trustworthy SEs)")
    p.add_argument("--seed-offset", type=int, default=0,
                   help="first seed (default 0): seeds K..K+S-1, so runs can be extended and merged")
    p.add_argument("--max-seconds", type=float, default=0.0,
                   help="gd/mirror/paper: wall-time budget per batch of runs, 0 = none (stop reason 'time budget')")
    from empirical.methods import method_help

    trained = method_help()                  # the registry of training methods (empirical.methods)
    p.add_argument("--method", choices=("flow",) + tuple(trained), default="flow",
                   help="flow: exact gradient-flow end point (default); "
                        + "; ".join(f"{k}: {v}" for k, v in trained.items()))
    p.add_argument("--alpha-pt", type=float, help="pretrain on round(alpha_PT D) samples (default: oracle PT)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda (default auto)")
    p.add_argument("--runs", help="also write the per-run table (CSV) to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_output_options(p)
    return {"simulate": _cmd_simulate}


def _cmd_simulate(args) -> int:
    import sys

    import numpy as np

    from empirical.simulate import SimConfig, Setting, few_seeds_warning, simulate, summarize
    from empirical.train import GDConfig

    check_int("--seeds", args.seeds, 1, 100_000)
    check_int("--dim", args.dim, 10, 100_000)
    if args.alpha_pt is not None and not (0 < args.alpha_pt <= 1e6):
        raise InputError(f"--alpha-pt must be finite, > 0 and <= 1e6, got {args.alpha_pt}")
    check_int("--seed-offset", args.seed_offset, 0, 10**9)
    for path in (args.out, args.runs):       # fail before the (long) simulation, not after it
        if path:
            check_out(path)
    task, init = task_from_args(args), init_from_args(args)
    setting = Setting(task, init, "cli")
    gd = GDConfig(method=args.method, max_seconds=args.max_seconds) if args.method != "flow" else None
    cfg = SimConfig(dim=args.dim, seeds=tuple(range(args.seed_offset, args.seed_offset + args.seeds)),
                    method=args.method, device=args.device, alpha_pt=args.alpha_pt, gd=gd)
    alphas = parse_alphas(args.alpha)
    if len(alphas) * args.seeds > MAX_RUNS:
        raise InputError(f"--alpha x --seeds gives {len(alphas) * args.seeds} training runs; at most {MAX_RUNS}")
    work = args.seeds * args.dim ** 2 * sum(alphas)          # ~ N x D per run, summed over runs
    if work > MAX_WORK:
        raise InputError(f"--seeds x --dim^2 x sum(alpha) = {work:.3g}; at most {MAX_WORK:.0e} per command "
                         "(hours of CPU): use fewer seeds, alphas or a smaller --dim")
    largest = max(alphas + [args.alpha_pt or 0.0])
    check_samples([largest], args.dim)
    check_memory("one run at this --dim and largest alpha (N x D design)", 8.0 * largest * args.dim ** 2)
    runs = simulate([setting], alphas, cfg, progress=not args.quiet)
    table = summarize(runs)
    if args.runs:
        write_atomic(runs.to_csv(index=False), args.runs)
    cols = ["alpha", "gen_error", "se", "ci_low", "ci_high", "n_runs", "theory", "z", "p_value", "n_converged",
            "max_drift"]
    extra = {} if args.alpha_pt is None else {"alpha_pt": args.alpha_pt}
    frame = with_parameters(table[cols], task, init, **extra)
    write_atomic(render_frame(frame, args.format), args.out)
    caveat = few_seeds_warning(args.seeds)
    if caveat:
        print(f"ptft: warning: {caveat}", file=sys.stderr)
    if args.seeds == 1:                # a spread that does not exist is empty, and said so
        print("ptft: note: one seed has no spread: se, ci_low, ci_high, z and p_value are left empty",
              file=sys.stderr)
    elif table[["z", "p_value"]].isna().to_numpy().any() and np.isfinite(table["gen_error"]).all():
        print("ptft: note: z and p_value are left empty where the standard error is at rounding level "
              "(e.g. exact recovery: every seed's error is float64 rounding)", file=sys.stderr)
    bad = int((table.n_converged < table.n_runs).sum())
    if bad:
        print(f"ptft: warning: {bad} alpha values have runs that did not converge "
              "(see --runs for stop_reason)", file=sys.stderr)
        return 3
    empty = [c for c in ("gen_error", "theory") if not np.isfinite(table[c].to_numpy(float)).all()]
    if empty:                          # an empty theory column is a failure, not a result
        print(f"ptft: warning: non-finite values in {', '.join(empty)} (the replica prediction or the "
              "simulation failed at some alpha)", file=sys.stderr)
        return 3
    return 0
