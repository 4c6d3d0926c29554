"""``ptft bayes``: the Bayes-optimal and AMP errors of fine-tuning (the fundamental limit), with
``--simulate`` finite-D AMP beside the state evolution; ``ptft figure limits``."""
from __future__ import annotations

FIGURES = {"limits": "ptft.figures.limits:make"}
COLUMNS = ["alpha", "bayes_error", "bayes_error_err", "amp_error", "amp_error_err", "phase", "converged"]


def register(sub) -> dict:
    from ptft.cli import add_output_options, add_task_options

    p = sub.add_parser("bayes", help="Bayes-optimal and AMP error of fine-tuning (the limit any estimator obeys)")
    add_task_options(p)
    p.add_argument("--alpha", default="0.01:0.5:50", help="'a,b,c' or 'start:stop:num' (default 0.01:0.5:50)")
    p.add_argument("--knowledge", choices=("pt", "none", "genie"), default="pt",
                   help="what the estimator knows: pt = the PT support (default), none = no pretraining, "
                        "genie = the FT support itself")
    p.add_argument("--rtol", type=float, default=1e-8, help="target relative error (default 1e-8)")
    p.add_argument("--simulate", action="store_true",
                   help="also run AMP at finite --dim over --seeds and compare with the state evolution")
    p.add_argument("--dim", type=int, default=2000, help="--simulate: input dimension D (default 2000)")
    p.add_argument("--seeds", type=int, default=10, help="--simulate: number of seeds (default 10)")
    p.add_argument("--iterations", type=int, default=30, help="--simulate: AMP iterations (default 30)")
    p.add_argument("--damping", type=float, default=1.0, help="--simulate: damping in (0, 1] (default 1 = none)")
    p.add_argument("--device", default="cpu", help="--simulate: cpu (NumPy) or cuda (torch)")
    add_output_options(p)
    return {"bayes": _cmd_bayes}


# finite-D AMP: two N x D matrix products per iteration and seed; 1e11 multiply-adds is about a
# minute of CPU (a GPU does it in seconds)
MAX_AMP_WORK = 1e11


def _cmd_bayes(args) -> int:
    from ptft.cli import (EXIT_NOCONV, InputError, check_int, check_memory, check_out, check_samples, finish_frame,
                          parse_alphas, task_from_args, with_parameters)
    from replica.bayes import solve_bayes

    task = task_from_args(args)
    alphas = parse_alphas(args.alpha)
    if args.out:
        check_out(args.out)
    if not args.simulate:
        res = solve_bayes(task, alphas, knowledge=args.knowledge, rtol=args.rtol)
        frame = res.to_frame()[COLUMNS]
        for key in ("alpha_it", "alpha_amp", "alpha_l1", "knowledge"):
            frame[key] = res.info[key]
        code = finish_frame(with_parameters(frame, task), args, required=COLUMNS[:5])
        return code or (0 if res.converged.all() else _warn_unconverged(res, EXIT_NOCONV))
    check_int("--dim", args.dim, 10, 100_000)
    check_int("--seeds", args.seeds, 2, 10_000)
    check_int("--iterations", args.iterations, 1, 10_000)
    if not 0.0 < args.damping <= 1.0:
        raise InputError(f"--damping must lie in (0, 1], got {args.damping}")
    if args.device not in ("cpu", "cuda"):
        raise InputError(f"--device must be cpu or cuda, got {args.device!r}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available here (use --device cpu)")
    check_samples(alphas, args.dim)
    check_memory("the batched design (seeds x N x D)", 8.0 * args.seeds * max(alphas) * args.dim ** 2)
    work = 2.0 * args.seeds * max(alphas) * args.dim ** 2 * args.iterations * len(alphas)
    if work > MAX_AMP_WORK:                 # refused before it starts, not after an hour
        raise InputError(f"--simulate: seeds x N x D x iterations x alphas is about {work:.2g} multiply-adds; "
                         f"at most {MAX_AMP_WORK:.0e} (fewer --seeds, --iterations or alphas, or a smaller --dim)")
    from empirical.amp import compare_with_se

    frame = compare_with_se(task, alphas, args.dim, range(args.seeds), knowledge=args.knowledge,
                            n_iter=args.iterations, damping=args.damping,
                            backend="numpy" if args.device == "cpu" else "torch", device=args.device)
    frame = with_parameters(frame, task, knowledge=args.knowledge, damping=args.damping)
    return finish_frame(frame, args, required=["amp_finite_d", "se_theory"])


def _warn_unconverged(res, code) -> int:
    import sys

    bad = ~res.converged
    print(f"ptft: warning: {int(bad.sum())} of {bad.size} points are not certified to --rtol "
          "(see *_err and phase)", file=sys.stderr)
    return code


def bayes_columns(frame, task) -> None:
    """Add bayes_error, amp_error (oracle-PT knowledge) and efficiency = bayes_error / gen_error
    to a ``ptft solve`` frame, in place (``ptft solve --bayes``)."""
    import numpy as np

    from replica.bayes import solve_bayes

    lim = solve_bayes(task, frame["alpha"].to_numpy(float))
    frame["bayes_error"] = lim.bayes_error
    frame["amp_error"] = lim.amp_error
    gen = frame["gen_error"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["efficiency"] = np.where(gen > 0, lim.bayes_error / np.where(gen > 0, gen, 1.0),
                                       np.where(lim.bayes_error == 0, 1.0, np.nan))
    frame["limit_converged"] = lim.converged
