"""``ptft simulate``: fine-tune real diagonal networks (or run another estimator on the same
instances) and compare with its theory; ``ptft figure fig3``: the paper's Figure 3."""
from __future__ import annotations

from ptft.cli import (InputError, add_init_options, add_output_options, add_task_options, check_int,
                         check_memory, check_samples, check_out, init_from_args, parse_alphas, render_frame, task_from_args,
                         with_parameters, write_atomic)

MAX_RUNS = 100_000      # training runs (alphas x seeds) per command
MAX_WORK = 1e11         # seeds x D^2 x sum(alpha): the size of all design matrices together

FIGURES = {"fig3": "ptft.figures.fig3:make"}

# options that only the network has, and options that only an estimator has: each kind refuses
# the other's when given explicitly. Their parser defaults are None so that "given" can be told
# apart; the real defaults are these dicts (the network's read off the parser by ``register``)
NETWORK_ONLY: dict = dict.fromkeys(("c_pt", "lambda_pt", "gamma_ft", "lambda_relative", "alpha_pt", "max_seconds"))
ESTIMATOR_ONLY = {"knowledge": "pt", "iterations": 50, "damping": 1.0}
COLUMNS = ["alpha", "gen_error", "se", "ci_low", "ci_high", "n_runs", "theory", "z", "p_value", "n_converged"]


def register(sub) -> dict:
    p = sub.add_parser("simulate", help="train diagonal networks (batched, CPU or GPU), or run AMP, on finite-D "
                                        "instances and compare with the theory")
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
    p.add_argument("--method", choices=("flow",) + tuple(trained) + tuple(ESTIMATORS), default="flow",
                   help="flow: exact gradient-flow end point (default); "
                        + "; ".join(f"{k}: {v}" for k, v in trained.items())
                        + "; " + "; ".join(f"{k}: {v[0]}" for k, v in ESTIMATORS.items()))
    p.add_argument("--alpha-pt", type=float, help="pretrain on round(alpha_PT D) samples (default: oracle PT)")
    p.add_argument("--knowledge", choices=("pt", "none", "genie"),
                   help="amp: what the estimator knows: pt = the PT support (default), none = no pretraining, "
                        "genie = the FT support itself")
    p.add_argument("--iterations", type=int, help="amp: AMP iterations (default 50)")
    p.add_argument("--damping", type=float, help="amp: damping in (0, 1] (default 1 = none; < 1 helps small D)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda (default auto)")
    p.add_argument("--runs", help="also write the per-run table (CSV) to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_output_options(p)
    for a in p._actions:                    # None = not given; the default is applied in _defaults
        if a.dest in NETWORK_ONLY:
            NETWORK_ONLY[a.dest], a.default = a.default, None
    return {"simulate": _cmd_simulate}


def _cmd_simulate(args) -> int:
    check_int("--seeds", args.seeds, 1, 100_000)
    check_int("--dim", args.dim, 10, 100_000)
    check_int("--seed-offset", args.seed_offset, 0, 10**9)
    for path in (args.out, args.runs):       # fail before the (long) simulation, not after it
        if path:
            check_out(path)
    estimator = ESTIMATORS.get(args.method)
    _defaults(args, ESTIMATOR_ONLY if estimator else NETWORK_ONLY, refuse=NETWORK_ONLY if estimator else ESTIMATOR_ONLY)
    task, alphas = task_from_args(args), parse_alphas(args.alpha)
    if len(alphas) * args.seeds > MAX_RUNS:
        raise InputError(f"--alpha x --seeds gives {len(alphas) * args.seeds} training runs; at most {MAX_RUNS}")
    run = estimator[1] if estimator else _run_network
    runs, table, frame, unconverged = run(args, task, alphas)
    if args.runs:
        write_atomic(runs.to_csv(index=False), args.runs)
    write_atomic(render_frame(frame, args.format), args.out)
    return _report(args, table, unconverged)


def _defaults(args, own: dict, refuse: dict) -> None:
    """Refuse an option of the other kind given explicitly (one line); fill in this kind's defaults."""
    given = [k for k in refuse if getattr(args, k) is not None]
    if given:
        flag = "--" + given[0].replace("_", "-")
        kind = "an estimator (no network, no initialisation)" if own is ESTIMATOR_ONLY else "the network"
        raise InputError(f"{flag} does not apply to --method {args.method}: {args.method} is {kind}")
    for key, value in own.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def _run_network(args, task, alphas):
    """Train the network (flow or a registered training method) and compare with the replica."""
    from empirical.simulate import SimConfig, Setting, simulate, summarize
    from empirical.train import GDConfig

    if args.alpha_pt is not None and not (0 < args.alpha_pt <= 1e6):
        raise InputError(f"--alpha-pt must be finite, > 0 and <= 1e6, got {args.alpha_pt}")
    init = init_from_args(args)
    setting = Setting(task, init, "cli")
    gd = GDConfig(method=args.method, max_seconds=args.max_seconds) if args.method != "flow" else None
    cfg = SimConfig(dim=args.dim, seeds=tuple(range(args.seed_offset, args.seed_offset + args.seeds)),
                    method=args.method, device=args.device, alpha_pt=args.alpha_pt, gd=gd)
    work = args.seeds * args.dim ** 2 * sum(alphas)          # ~ N x D per run, summed over runs
    if work > MAX_WORK:
        raise InputError(f"--seeds x --dim^2 x sum(alpha) = {work:.3g}; at most {MAX_WORK:.0e} per command "
                         "(hours of CPU): use fewer seeds, alphas or a smaller --dim")
    largest = max(alphas + [args.alpha_pt or 0.0])
    check_samples([largest], args.dim)
    check_memory("one run at this --dim and largest alpha (N x D design)", 8.0 * largest * args.dim ** 2)
    runs = simulate([setting], alphas, cfg, progress=not args.quiet)
    table = summarize(runs)
    extra = {} if args.alpha_pt is None else {"alpha_pt": args.alpha_pt}
    frame = with_parameters(table[COLUMNS + ["max_drift"]], task, init, **extra)
    return runs, table, frame, (True, "see --runs for stop_reason")


def _run_amp(args, task, alphas):
    """Finite-D AMP with the Bayes denoiser on the same instances, against its state evolution."""
    from empirical.amp import simulate_amp, summarize_amp
    from empirical.device import resolve_device
    from ptft.commands.bayes import MAX_AMP_WORK

    check_int("--iterations", args.iterations, 1, 10_000)
    if not 0.0 < args.damping <= 1.0:
        raise InputError(f"--damping must lie in (0, 1], got {args.damping}")
    check_samples(alphas, args.dim)
    check_memory("one run at this --dim and largest alpha (N x D design)", 16.0 * max(alphas) * args.dim ** 2)
    work = 2.0 * args.seeds * sum(alphas) * args.dim ** 2 * args.iterations
    if work > MAX_AMP_WORK:                 # refused before it starts, not after an hour
        raise InputError(f"--method amp: 2 x seeds x N x D x iterations summed over alphas is about {work:.2g} "
                         f"multiply-adds; at most {MAX_AMP_WORK:.0e} (fewer --seeds, --iterations or alphas, "
                         "or a smaller --dim)")
    device = str(resolve_device(args.device))
    runs = simulate_amp(task, alphas, args.dim, range(args.seed_offset, args.seed_offset + args.seeds),
                        knowledge=args.knowledge, n_iter=args.iterations, damping=args.damping, device=device,
                        progress=not args.quiet)
    table = summarize_amp(runs)
    frame = with_parameters(table[COLUMNS + ["amp_error", "bayes_error"]], task, None, knowledge=args.knowledge,
                            iterations=args.iterations, damping=args.damping)
    _note_se_not_settled(table, args.iterations, args.damping)
    # undamped, theory is the SE at the same iteration: it predicts the error after that many
    # iterations whether or not a run has settled, so an unsettled run is a fact, not a failure;
    # damped, theory is the fixed point, which only a settled run can be compared with
    fatal = args.damping < 1.0
    return runs, table, frame, (fatal, "the last undamped AMP step moves the estimate by more than 0.1% of its error"
                                + ("; theory is the state evolution at the same iteration, which holds either way"
                                   if not fatal else "") + "; more --iterations, or --damping 0.8 at small --dim")


def _note_se_not_settled(table, iterations, damping) -> None:
    import sys

    import numpy as np

    far = np.abs(table["theory"] - table["amp_error"]) > 1e-2 * np.abs(table["amp_error"]) + 1e-12
    if damping == 1.0 and far.any():
        print(f"ptft: note: at {int(far.sum())} alpha values the state evolution is still moving after {iterations} "
              "iterations: theory is its value at that iteration, amp_error its fixed point", file=sys.stderr)


# estimators other than the network: name -> (--method help, runner)
ESTIMATORS = {"amp": ("approximate message passing with the Bayes denoiser on the same instances, against its "
                      "state evolution (--knowledge, --iterations, --damping; the initialisation options, "
                      "--alpha-pt and --max-seconds do not apply)", _run_amp)}


def _report(args, table, unconverged: tuple) -> int:
    """The notes and warnings every method prints after its table; the exit code.
    ``unconverged`` = (fatal, hint): whether runs that did not converge make the exit code 3."""
    import sys

    import numpy as np

    from empirical.simulate import few_seeds_warning

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
    fatal, hint = unconverged
    if bad:
        print(f"ptft: {'warning' if fatal else 'note'}: {bad} alpha values have runs that did not converge "
              f"({hint})", file=sys.stderr)
        if fatal:
            return 3
    empty = [c for c in ("gen_error", "theory") if not np.isfinite(table[c].to_numpy(float)).all()]
    if empty:                          # an empty theory column is a failure, not a result
        print(f"ptft: warning: non-finite values in {', '.join(empty)} (the theory or the "
              "simulation failed at some alpha)", file=sys.stderr)
        return 3
    return 0
