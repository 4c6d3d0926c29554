"""``ptft head-energy``: head probing (tau steps, optional label smoothing) then fine-tuning in the
over-parameterised two-layer linear model; prints the initial energy and the four feature-change
metrics per run (docs/head_energy.md).

    ptft head-energy --tau 0,4,16,64,512 --smoothing 0,0.3
    ptft figure head-energy [--quick]
"""
from __future__ import annotations

import math

from ptft.cli import (InputError, add_output_options, check_memory, check_out, check_seed,
                         finish_frame, parse_float_list, parse_int_list)

FIGURES = {"head-energy": "ptft.figures.head_energy:make_figure"}


def register(subparsers) -> dict:
    p = subparsers.add_parser("head-energy", help="task-head energy vs feature change (Ren et al. 2023)")
    p.add_argument("--tau", default="0,1,2,4,8,16,32,64,128,256,512,1024",
                   help="head-probing steps, comma-separated (default 0,1,...,1024)")
    p.add_argument("--smoothing", default="0", help="label smoothing during probing, comma-separated in [0, 1)")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--n-samples", type=int, default=50)
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--overlap", type=float, default=0.5,
                   help="fraction of the target teacher inside the pretrained feature space (default 0.5)")
    p.add_argument("--head-scale", type=float, default=2.0, help="random head ~ N(0, scale^2/k) (default 2)")
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--ft-time", type=float, default=50.0, help="fine-tuning length in gradient-flow time")
    p.add_argument("--seed", type=int, default=0)
    add_output_options(p)
    return {"head-energy": _cmd}


def smoothings_arg(text: str, name: str) -> list[float]:
    values = parse_float_list(text, name)
    if any(not 0.0 <= v < 1.0 for v in values):
        raise InputError(f"{name} values must lie in [0, 1) (label smoothing), got '{text}'")
    return values


def setup_from_args(args):
    from empirical.head_energy import HeadEnergySetup

    check_seed("--seed", args.seed)
    # lower bounds: HeadEnergySetup; upper bounds keep one run within seconds to minutes
    for option, high in (("dim", 1000), ("n_samples", 5000), ("features", 1000), ("classes", 100)):
        if getattr(args, option) > high:
            raise InputError(f"--{option.replace('_', '-')} must be <= {high}, got {getattr(args, option)}")
    if not (math.isfinite(args.head_scale) and abs(args.head_scale) <= 1e3):
        raise InputError(f"--head-scale must be a finite number with |value| <= 1000, got {args.head_scale}")
    check_memory("--dim x --n-samples", 8.0 * args.dim * max(args.n_samples, args.features))
    return HeadEnergySetup(dim=args.dim, n_samples=args.n_samples, features=args.features,
                           classes=args.classes, overlap=args.overlap, head_scale=args.head_scale,
                           lr=args.lr, ft_time=args.ft_time, seed=args.seed)


def _cmd(args) -> int:
    from empirical.head_energy import energy_sweep

    from empirical.head_energy.model import MAX_STEPS

    taus, smoothings = parse_int_list(args.tau, "--tau"), smoothings_arg(args.smoothing, "--smoothing")
    if max(taus) > MAX_STEPS:
        raise InputError(f"--tau values must be <= {MAX_STEPS} probing steps, got {max(taus)}")
    if len(taus) * len(smoothings) > 10_000:
        raise InputError(f"--tau x --smoothing gives {len(taus) * len(smoothings)} runs; at most 10000")
    if args.out:                 # fail before the computation, not after it
        check_out(args.out)
    frame = energy_sweep(setup_from_args(args), taus, smoothings, progress=True)
    return finish_frame(frame, args)
