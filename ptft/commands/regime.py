"""``ptft regime`` (where an initialisation sits on the regime map) and ``ptft optimize``
(the initialisation with the lowest predicted error), plus the fig2/fig5 makers."""
from __future__ import annotations

MAX_OBJECTIVE_ALPHAS = 100     # alphas averaged by the optimize objective
MAX_SOLVES = 10**6             # replica points one optimize run may solve (~10 min at 0.5 ms)

FIGURES = {"fig2": "ptft.figures.regimes:make_fig2", "fig5": "ptft.figures.regimes:make_fig5"}


def register(subparsers) -> dict:
    from ptft.cli import add_init_options, add_output_options, add_task_options

    p = subparsers.add_parser("regime", help="regime axes (l-order, pretraining dependence) and regime I-IV")
    add_task_options(p)
    add_init_options(p)
    p.add_argument("--b", type=float, help="scale |beta_FT| at which the axes are read (default 1/sqrt(rho_FT))")
    p.add_argument("--l-rich", type=float, default=1.5, help="l-order below this is rich (default 1.5)")
    p.add_argument("--dependence", type=float, default=0.5,
                   help="PD/(1-l) at or above this is pretraining-dependent (default 0.5)")
    add_output_options(p)
    p = subparsers.add_parser("optimize", help="initialisation minimising the predicted error at alpha")
    add_task_options(p)
    p.add_argument("--alpha", required=True,
                   help="alpha_FT, or 'a,b,c' / 'start:stop:num' to minimise the mean error over them")
    p.add_argument("--c-pt-bounds", default="1e-6,10", help="c_PT search range lo,hi (log-scaled)")
    p.add_argument("--lambda-bounds", default="-1,1", help="lambda_PT/c_PT search range lo,hi (e.g. -1,1)")
    p.add_argument("--gamma-bounds", default="1e-6,100", help="gamma_FT search range lo,hi (log-scaled, lo > 0)")
    p.add_argument("--grid", default="9,9,7", help="grid sizes over (c_PT, lambda_PT/c_PT, gamma_FT)")
    p.add_argument("--starts", type=int, default=3, help="local refinements from the best grid points")
    p.add_argument("--progress", action="store_true", help="progress bar on stderr")
    add_output_options(p)
    import re
    p._negative_number_matcher = re.compile(r"^-\.?\d")    # '--lambda-bounds -1,1' is a value, not an option
    return {"regime": _cmd_regime, "optimize": _cmd_optimize}


def _pair(text: str, name: str) -> tuple[float, float]:
    from ptft.cli import InputError, parse_float_list

    values = parse_float_list(text, name)
    if len(values) != 2:
        raise InputError(f"{name} must be two numbers 'lo,hi', got '{text}'")
    return values[0], values[1]


def _render(frame, fmt: str, head: str) -> str:
    """``ptft.cli.render_frame``, with the ``head`` lines above the aligned text table."""
    from ptft.cli import render_frame

    return render_frame(frame, fmt, head=head)


def _unconverged(frame) -> int:
    """Rows whose ``converged`` column is False (0 when the frame has none): such an
    output is never exit 0."""
    if "converged" not in frame:
        return 0
    return int((~frame["converged"].astype(bool)).sum())


def _cmd_regime(args) -> int:
    from ptft.cli import init_from_args, task_from_args, write_atomic
    from replica.regimes import Thresholds, classify, regime_of

    from ptft.cli import InputError

    task, init = task_from_args(args), init_from_args(args)
    if args.b is not None and not 1e-6 <= args.b <= 1e6:
        raise InputError(f"--b: the scale b must lie in [1e-6, 1e6], got {args.b:g}")
    for option, value in (("--l-rich", args.l_rich), ("--dependence", args.dependence)):
        if not (value == value and abs(value) <= 1e6):
            raise InputError(f"{option} must be a finite number with |value| <= 1e6, got {value}")
    rep = regime_of(task, init, b=args.b, thresholds=Thresholds(args.l_rich, args.dependence))
    frame = rep.to_frame()
    frame["group_class"] = classify(frame.l_order.to_numpy(), frame.pd_norm.to_numpy(), rep.thresholds)
    frame["regime"] = rep.regime             # of the setting: read on the PT-used coordinates
    from ptft.cli import with_parameters

    frame = with_parameters(frame, task, init)
    head = (f"c_pt={init.c_pt:g}  lambda_pt={init.lambda_abs:g} (absolute; lambda_pt/c_pt={init.lambda_rel:g})  "
            f"gamma_ft={init.gamma_ft:g}  b={rep.b:g}\n"
            f"regime {rep.regime}: {rep.description}  (PT-used coordinates: l={rep.l_order:.4g}, "
            f"PD={rep.pd:.4g}, PD/(1-l)={rep.pd_norm:.4g}; rich if l < {rep.thresholds.l_rich:g}, "
            f"dependent if PD/(1-l) >= {rep.thresholds.dependence:g}; cost ratio unused/used "
            f"q = {rep.cost_ratio:.4g})\n")
    write_atomic(_render(frame, args.format, head), args.out)
    import math
    import sys

    if not all(math.isfinite(v) for v in (rep.l_order, rep.pd, rep.pd_norm, rep.cost_ratio)):
        print("ptft: warning: the regime axes are not finite here (overflow); the regime is not determined",
              file=sys.stderr)
        return 3
    bad = _unconverged(frame)
    if bad:
        print(f"ptft: warning: {bad} of {len(frame)} rows did not converge (converged = False)", file=sys.stderr)
        return 3
    return 0


def _cmd_optimize(args) -> int:
    from ptft.cli import EXIT_NOCONV, InputError, parse_alphas, parse_int_list, task_from_args, write_atomic
    from replica.optimize import Bounds, optimize_init

    from ptft.cli import check_out

    task = task_from_args(args)
    alphas = parse_alphas(args.alpha)
    if args.out:
        check_out(args.out, args.out)         # a bad --out fails now, not after the search
    bounds = Bounds(_pair(args.c_pt_bounds, "--c-pt-bounds"), _pair(args.lambda_bounds, "--lambda-bounds"),
                    _pair(args.gamma_bounds, "--gamma-bounds"))
    grid = tuple(parse_int_list(args.grid, "--grid", minimum=1))
    if len(grid) != 3:
        raise InputError(f"--grid must be three integers 'n1,n2,n3', got '{args.grid}'")
    if grid[0] * grid[1] * grid[2] > 100_000:
        raise InputError(f"--grid {args.grid} has {grid[0] * grid[1] * grid[2]} points; at most 100000")
    if len(alphas) > MAX_OBJECTIVE_ALPHAS:
        raise InputError(f"--alpha: the objective is a mean over at most {MAX_OBJECTIVE_ALPHAS} alphas, "
                         f"got {len(alphas)}")
    solves = (grid[0] * grid[1] * grid[2] + 400 * args.starts) * len(alphas)   # grid + ~400 steps a start
    if solves > MAX_SOLVES:
        raise InputError(f"--grid x --starts x --alpha needs about {solves:.3g} replica points; at most "
                         f"{MAX_SOLVES:.0e} (use a coarser --grid, fewer --starts or fewer alphas)")
    if not 1 <= args.starts <= 1000:
        raise InputError(f"--starts must be in [1, 1000], got {args.starts}")
    from replica.params import check_range

    for name, pair in (("c_pt", bounds.c_pt), ("gamma_ft", bounds.gamma_ft)):
        for v in pair:
            check_range(name, v)
    if not all(-1 <= v <= 1 for v in bounds.lambda_rel):
        raise InputError(f"--lambda-bounds must lie in [-1, 1], got '{args.lambda_bounds}'")
    res = optimize_init(task, alphas, bounds=bounds, grid=grid, n_starts=args.starts, progress=args.progress)
    name, canon = res.best_canonical
    what = f"alpha={alphas[0]:g}" if len(alphas) == 1 else f"mean over {len(alphas)} alphas in [{min(alphas):g}, {max(alphas):g}]"
    head = (f"objective: predicted E_gen, {what}; lambda_pt in absolute units, lambda_pt_rel = lambda_pt/c_pt\n"
            f"optimum {res.best.value:.6g} (regime {res.regime}) vs best canonical {name} {canon.value:.6g}: "
            f"gain {canon.value - res.best.value:.6g}; {res.n_evals} evaluations\n")
    lim = res.info.get("boundary")
    if lim is not None:
        head += (f"note: the optimum lies on the search-box wall for {', '.join(lim.walls)}; "
                 f"8 decades past it the objective is {lim.beyond.value:.6g}"
                 f"{' (lower: the infimum lies outside the box)' if lim.beyond.value < res.best.value else ''}\n")
        if lim.limit:
            head += f"      limit there: {lim.limit}, objective {lim.limit_value:.6g} (replica of that penalty)\n"
    limit_line, limit_cols = _limit(task, alphas, res.best.value)
    frame = _optimize_frame(res, task, alphas).assign(**limit_cols)
    write_atomic(_render(frame, args.format, head + limit_line), args.out)
    bad = _unconverged(frame)
    if not res.best.ok or bad:
        print(f"ptft: warning: {'the optimum' if not res.best.ok else f'{bad} rows'} did not converge "
              "(converged = False); its objective is not certified", file=sys.stderr)
        return EXIT_NOCONV
    return 0


def _optimize_frame(res, task, alphas):
    """The optimizer's rows plus what the text head says, as columns (so csv/json carry it):
    the objective's alphas, the box walls the optimum touches, the objective past them and the
    limit penalty there; and the task's parameter columns."""
    import math

    from ptft.cli import with_parameters

    frame = res.to_frame()
    frame["objective_alphas"] = ",".join(repr(float(a)) for a in alphas)
    lim = res.info.get("boundary")
    optimum = frame["setting"] == "optimum"
    frame["box_walls"] = ""
    frame["beyond_walls_objective"] = math.nan
    frame["limit_penalty"] = ""
    frame["limit_objective"] = math.nan
    if lim is not None:
        frame.loc[optimum, "box_walls"] = ",".join(lim.walls)
        frame.loc[optimum, "beyond_walls_objective"] = lim.beyond.value
        frame.loc[optimum, "limit_penalty"] = lim.limit or ""
        frame.loc[optimum, "limit_objective"] = lim.limit_value
    return with_parameters(frame, task)


def _limit(task, alphas, value: float) -> tuple[str, dict]:
    """The gap of the optimum to the Bayes-optimal and AMP errors (same mean over alphas), as a
    line for the text head and as columns (so csv/json carry it too)."""
    from replica.bayes import solve_bayes

    lim = solve_bayes(task, alphas)
    bayes, amp = float(lim.bayes_error.mean()), float(lim.amp_error.mean())
    flag = "" if lim.converged.all() else " (limit not certified at some alpha)"
    cols = {"bayes_error_mean": bayes, "amp_error_mean": amp, "bayes_converged": bool(lim.converged.all())}
    return (f"limit (PT support known): Bayes-optimal {bayes:.6g}, AMP {amp:.6g}; gap of the optimum to Bayes "
            f"{value - bayes:.6g}, to AMP {value - amp:.6g}{flag}\n"), cols
