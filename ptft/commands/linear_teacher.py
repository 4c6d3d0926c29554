"""``ptft linear-teacher``: fine-tuning with linear teachers (docs/linear_teacher.md).

    ptft linear-teacher risk --dim 400 --spectrum power --distance 0.3 --placement tail --n 20:800:40
    ptft linear-teacher sample-complexity --eps 0.05,0.1 --placement head
    ptft linear-teacher deep --depth 1,2,3,4          (deep linear networks: theory vs PyTorch GD)
    ptft linear-teacher ntk --distance 0,0.3,1        (wide ReLU nets vs NTK prediction and bound)
    ptft figure linear-teacher [--quick]

Nothing heavy is imported at start-up (numpy and the rest lazily; torch only by ``deep``/``ntk``).
"""
from __future__ import annotations

import math

from ptft.cli import (InputError, add_output_options, check_int, check_memory, check_seed, finish_frame,
                         parse_float_list, render_frame, write_atomic)

MAX_DIM = 100_000         # dimensions d of the linear-teacher problems
MAX_STEPS = 10**6         # GD steps per training stage (ntk)
MAX_DISTANCE = 1e6        # ||theta_S - theta_T|| / ||theta_T||
MAX_N = 10**9             # sample sizes n of the risk curves (int64 arithmetic stays exact)
MAX_NTK_SAMPLES = 4000    # ntk --n-source / --n-target (kernel solves ~ n^3: seconds at 4000)
MIN_DEEP_LR = 1e-3        # deep: GD needs ~1/lr steps; below this it would run for hours

FIGURES = {"linear-teacher": "ptft.figures.linear_teacher:make_figure"}


def parse_counts(text: str, name: str) -> list[int]:
    """'10,20,40' or 'start:stop:num' (inclusive, rounded to integers) -> sorted unique ints >= 1."""
    import numpy as np

    try:
        if ":" in text:
            start, stop, num = text.split(":")
            values = np.linspace(float(start), float(stop), int(num))
        else:
            values = np.array([float(v) for v in text.split(",") if v.strip()])
    except ValueError:
        raise InputError(f"{name} '{text}' is not a list 'a,b,c' or a range 'start:stop:num'") from None
    if values.size == 0 or not np.isfinite(values).all() or (values < 1).any():
        raise InputError(f"{name} values must be finite numbers >= 1, got '{text}'")
    if values.max() > MAX_N:
        raise InputError(f"{name} values must be <= {MAX_N:.0e}, got {values.max():.3g}")
    return sorted({int(round(v)) for v in values})


def parse_floats(text: str, name: str, positive: bool = True) -> list[float]:
    """:func:`ptft.cli.parse_float_list`, optionally requiring every value > 0."""
    values = parse_float_list(text, name)
    if positive and min(values) <= 0:
        raise InputError(f"{name} values must be finite and > 0, got '{text}'")
    return values


def _add_pair_options(p):
    g = p.add_argument_group("source/target pair (eigenbasis of the target covariance Sigma)")
    g.add_argument("--dim", type=int, default=400, help="dimension d (default 400)")
    g.add_argument("--spectrum", choices=("iso", "power", "exp"), default="power",
                   help="eigenvalues of Sigma, trace 1 (default power)")
    g.add_argument("--decay", type=float, default=1.0, help="power i^-decay or exp(-decay i/d) (default 1)")
    g.add_argument("--distance", type=float, default=0.3, help="||theta_S - theta_T|| / ||theta_T|| (default 0.3)")
    g.add_argument("--placement", choices=("head", "tail", "uniform"), default="uniform",
                   help="where theta_S - theta_T lives: top/bottom eigendirections or all (default uniform)")
    g.add_argument("--fraction", type=float, default=0.1, help="fraction of directions for head/tail (default 0.1)")
    g.add_argument("--noise", type=float, default=0.1, help="label-noise std sigma (default 0.1)")
    g.add_argument("--ridge", type=float, default=0.0,
                   help="explicit ridge (1/2n)||y-Xw||^2 + (ridge/2)||w-theta_S||^2 (default 0: gradient flow)")
    g.add_argument("--seed", type=int, default=0, help="seed of theta_T and of the signs of Delta")


def pair_from_args(args):
    from replica.linear_teacher import make_pair, make_spectrum

    check_int("--dim", args.dim, 1, MAX_DIM)
    check_seed("--seed", args.seed)
    if args.ridge < 0 or not math.isfinite(args.ridge):
        raise InputError(f"--ridge must be a finite number >= 0, got {args.ridge}")
    for option, value, high in (("--distance", args.distance, MAX_DISTANCE), ("--noise", args.noise, 1e6),
                                ("--decay", args.decay, 1e3), ("--ridge", args.ridge, 1e12)):
        if not (math.isfinite(value) and abs(value) <= high):
            raise InputError(f"{option} must be a finite number with |value| <= {high:g}, got {value}")
    lam = make_spectrum(args.spectrum, args.dim, args.decay)
    return make_pair(lam, args.distance, args.placement, fraction=args.fraction, noise=args.noise,
                     seed=args.seed)


def register(subparsers) -> dict:
    p = subparsers.add_parser("linear-teacher", help="fine-tuning with linear teachers (Shachaf et al. 2021)")
    sub = p.add_subparsers(dest="lt_action")
    sub.required = True
    q = sub.add_parser("risk", help="predicted FT / scratch / zero-shot risk versus n (+ Monte Carlo)")
    _add_pair_options(q)
    q.add_argument("--n", default="10:800:40", help="sample sizes 'a,b,c' or 'start:stop:num' (default 10:800:40)")
    q.add_argument("--monte-carlo", type=int, default=0, metavar="SEEDS",
                   help="also simulate SEEDS draws per n (default 0: theory only)")
    add_output_options(q)
    q = sub.add_parser("sample-complexity", help="smallest n reaching risk eps: FT vs scratch vs zero-shot")
    _add_pair_options(q)
    q.add_argument("--eps", default="0.05,0.1,0.2", help="target risks (default 0.05,0.1,0.2)")
    add_output_options(q)
    q = sub.add_parser("deep", help="deep linear networks: derived implicit bias vs PyTorch gradient descent")
    q.add_argument("--depth", default="1,2,3,4", help="depths L (default 1,2,3,4)")
    q.add_argument("--dim", type=int, default=20, help="dimension d (default 20)")
    q.add_argument("--n", type=int, default=8, help="number of target samples, < d (default 8)")
    q.add_argument("--cosine", type=float, default=0.6, help="cos(theta_S, theta_T) in (-1, 1) (default 0.6)")
    q.add_argument("--scale", type=float, default=1.5, help="||theta_S|| / ||theta_T|| > 0 (default 1.5)")
    q.add_argument("--lr", type=float, default=0.02, help="GD step (default 0.02)")
    q.add_argument("--seed", type=int, default=0)
    add_output_options(q)
    q = sub.add_parser("ntk", help="wide ReLU nets (PyTorch) vs the NTK prediction and the residual bound")
    q.add_argument("--distance", default="0,0.1,0.3,1", help="||theta_S - theta_T||, comma-separated (default 0,0.1,0.3,1)")
    q.add_argument("--dim", type=int, default=10)
    q.add_argument("--n-source", type=int, default=100)
    q.add_argument("--n-target", type=int, default=40)
    q.add_argument("--width", type=int, default=4096, help="hidden width m (default 4096)")
    q.add_argument("--steps", type=int, default=2000, help="GD steps per training stage (default 2000)")
    q.add_argument("--seed", type=int, default=0)
    add_output_options(q)
    return {"linear-teacher": _dispatch}


def _dispatch(args) -> int:
    return {"risk": _cmd_risk, "sample-complexity": _cmd_sample_complexity, "deep": _cmd_deep,
            "ntk": _cmd_ntk}[args.lt_action](args)


render = render_frame        # the name other commands import


def risk_frame(pair, ns, ridge: float, mc_seeds: int, progress: bool = False):
    """Theory columns for each n, plus Monte Carlo mean/sem columns when mc_seeds > 0."""
    import numpy as np
    import pandas as pd

    from replica.linear_teacher import risk_curves

    curves = risk_curves(pair, ns, ridge)
    frame = pd.DataFrame({"n": np.asarray(ns, int), "risk_ft": curves["ft"], "bias_ft": curves["ft_bias"],
                          "variance_ft": curves["ft_variance"], "kappa": curves["kappa"],
                          "risk_scratch": curves["scratch"], "risk_zero_shot": curves["zero_shot"]})
    if mc_seeds > 0:
        from empirical.linear_teacher.simulate import monte_carlo_risk

        iterator = ns
        if progress:
            from tqdm.auto import tqdm
            iterator = tqdm(ns, desc="monte carlo", unit="n", leave=False)
        ft = [monte_carlo_risk(pair, n, mc_seeds, ridge=ridge) for n in iterator]
        sc = [monte_carlo_risk(pair, n, mc_seeds, ridge=ridge, scratch=True) for n in ns]
        frame["mc_ft_mean"] = [r["mean"] for r in ft]
        frame["mc_ft_sem"] = [r["sem"] for r in ft]
        frame["mc_scratch_mean"] = [r["mean"] for r in sc]
        frame["mc_scratch_sem"] = [r["sem"] for r in sc]
    return frame


def _cmd_risk(args) -> int:
    pair = pair_from_args(args)
    check_int("--monte-carlo", args.monte_carlo, 0, 100_000)
    ns = parse_counts(args.n, "--n")
    if len(ns) > 100_000:
        raise InputError(f"--n: at most 100000 sample sizes, got {len(ns)}")
    if max(ns) > MAX_N:
        raise InputError(f"--n values must be <= {MAX_N:.0e} samples, got {max(ns):.3g}")
    if args.monte_carlo:
        check_memory("--monte-carlo with this --n and --dim", 8.0 * max(ns) * args.dim)
    frame = risk_frame(pair, ns, args.ridge, args.monte_carlo, progress=True)
    return finish_frame(frame, args, required=["risk_ft", "risk_scratch", "risk_zero_shot"],
                        empty_reason="one Monte Carlo draw has no spread (a standard error needs "
                                     "--monte-carlo >= 2)" if args.monte_carlo == 1 else None)


def _cmd_sample_complexity(args) -> int:
    import sys

    import pandas as pd

    from replica.linear_teacher import compare_sample_complexity

    pair = pair_from_args(args)
    n_max = 100 * args.dim            # the search range of sample_complexity
    rows = [_complexity_row(compare_sample_complexity(pair, eps, args.ridge, n_max), n_max)
            for eps in parse_floats(args.eps, "--eps")]
    frame = pd.DataFrame(rows)
    write_atomic(render(frame, args.format), args.out)
    if frame["status"].str.contains("never").any():
        print(f"ptft: note: 'never reaches the target' means the predicted risk stays above eps for every "
              f"n <= {n_max} (100 x --dim): n is left empty, and so is the reduction where it has no value",
              file=sys.stderr)
    return 0


def _complexity_row(row: dict, n_max: int) -> dict:
    """A sample-complexity row with the cases that have no number (target never reached,
    reached with no samples) left empty and named in ``status``."""
    def state(n):
        if math.isinf(n):
            return f"never reaches the target (n <= {n_max})"
        return "met at n = 0" if n == 0 else "reached"

    n_ft, n_sc = row["n_ft"], row["n_scratch"]
    status = f"fine-tuning {state(n_ft)}; scratch {state(n_sc)}"
    ok = math.isfinite(n_ft) and math.isfinite(n_sc) and n_ft > 0
    return {**row, "n_ft": n_ft if math.isfinite(n_ft) else math.nan,
            "n_scratch": n_sc if math.isfinite(n_sc) else math.nan,
            "reduction": n_sc / n_ft if ok else math.nan, "status": status}


def _cmd_deep(args) -> int:
    depths = parse_counts(args.depth, "--depth")
    if max(depths) > 100:
        raise InputError(f"--depth values must be <= 100, got {max(depths)}")
    check_int("--dim", args.dim, 2, 10_000)
    check_seed("--seed", args.seed)
    if not 1 <= args.n < args.dim:
        raise InputError(f"need 1 <= --n < --dim, got dim={args.dim}, n={args.n}")
    if not (-1 < args.cosine < 1 and 1e-6 <= args.scale <= 1e4 and MIN_DEEP_LR <= args.lr < 1):
        # outside [1e-6, 1e4] the dual Newton solve of the implicit bias loses its tolerance
        # (NaN at 1e-320, an absolute residual of 2e-11 at 1e6)
        raise InputError(f"need -1 < --cosine < 1, 1e-6 <= --scale <= 1e4 and {MIN_DEEP_LR:g} <= --lr < 1, got "
                         f"cosine={args.cosine:g}, scale={args.scale:g}, lr={args.lr:g}")
    import torch

    from empirical.linear_teacher.simulate import deep_linear_table

    torch.set_num_threads(1)
    frame = deep_linear_table(depths, args.dim, args.n, args.cosine, args.scale, args.seed, lr=args.lr)
    return finish_frame(frame, args)


def _cmd_ntk(args) -> int:
    distances = parse_floats(args.distance, "--distance", positive=False)
    if any(not 0 <= v <= MAX_DISTANCE for v in distances):
        raise InputError(f"--distance values must be finite numbers in [0, {MAX_DISTANCE:g}], got '{args.distance}'")
    check_int("--dim", args.dim, 2, 10_000)
    # the NTK prediction solves with (n_source + n_target)-sized kernel matrices: cubic cost
    check_int("--n-source", args.n_source, 1, MAX_NTK_SAMPLES)
    check_int("--n-target", args.n_target, 1, MAX_NTK_SAMPLES)
    check_int("--width", args.width, 2, 10**6)
    check_int("--steps", args.steps, 1, MAX_STEPS)
    check_seed("--seed", args.seed)
    check_memory("--width with these sample sizes", 8.0 * args.width * max(args.n_source, args.n_target, 2000, args.dim))
    import torch

    from empirical.linear_teacher.simulate import ntk_finetune_table

    torch.set_num_threads(1)
    frame = ntk_finetune_table(distances, dim=args.dim, n_source=args.n_source, n_target=args.n_target,
                               width=args.width, seed=args.seed, steps=args.steps)
    return finish_frame(frame, args)
