"""``ptft resnet``: ResNet pretraining -> fine-tuning with the levers c_PT, kappa, gamma_FT (paper Fig. 4).

Torch is imported only inside the handler, so ``ptft --help`` stays light.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace

from ptft.cli import InputError, check_int, parse_float_list, parse_int_list

FIGURES = {"fig4": "ptft.figures.resnet:make"}
STAND_INS = ("generated", "digits")      # --data keywords (a CIFAR directory so named: give ./NAME)


def register(subparsers) -> dict:
    p = subparsers.add_parser("resnet", help="ResNet PT -> FT on CIFAR-100 (--data), generated images or digits (paper Fig. 4)")
    g = p.add_argument_group("levers (all comma lists; the grid is their product)")
    g.add_argument("--c-pt", default="1", help="c_PT: all weights times c_PT at PT init (default 1)")
    g.add_argument("--kappa", default="1", help="kappa: stem + stages 1-3 times kappa at PT init (default 1)")
    g.add_argument("--gamma-ft", default="1", help="gamma_FT: fresh FT readout times gamma_FT (default 1)")
    p.add_argument("--n-ft", help="FT sample sizes (default 10,...,1000 for CIFAR-100; 10,20,50 generated; 10,20,50,100 digits)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (class permutation, init, FT draw; default 3)")
    p.add_argument("--data", help="CIFAR-100 python directory (cifar-100-python or its parent), or a stand-in: "
                                  "'generated' (shared + class-specific features) or 'digits' (default)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N (default auto)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for small nets)")
    a = p.add_argument_group("architecture and SGD (defaults: the paper's for CIFAR, a small ResNet-10 for the stand-ins)")
    a.add_argument("--depth", type=int, help="10, 18, 26 or 34")
    a.add_argument("--width", type=int, help="base width (ResNet-18: 64)")
    a.add_argument("--digits-size", type=int, default=16, help="digits upsampled to this size (default 16)")
    a.add_argument("--digits-noise", type=float, help="digits pixel-noise std in [0, 1] units (default 0.5)")
    for stage in ("pt", "ft"):
        a.add_argument(f"--{stage}-lr", type=float, help=f"{stage.upper()} learning rate")
        a.add_argument(f"--{stage}-epochs", type=int, help=f"{stage.upper()} epoch cap")
        a.add_argument(f"--{stage}-threshold", type=float, help=f"{stage.upper()} stop when epoch train loss < this")
    p.add_argument("--out", default="resnet.csv", help="result CSV (resumed if it exists; default resnet.csv)")
    p.add_argument("--workdir", help="checkpoint directory (default: OUT without .csv + '.ckpt')")
    p.add_argument("--progress", action="store_true", help="progress bar on stderr")
    return {"resnet": _cmd_resnet}


def load_dataset(args):
    """CIFAR-100 from --data DIR, the generated stand-in (--data generated), else the bundled digits
    (no --data or --data digits); data errors become one-line input errors."""
    from empirical.cifar import DataError, generated_images, load_cifar100, load_digits_images
    from empirical.resnet_train import DIGITS_NOISE

    noise = DIGITS_NOISE if getattr(args, "digits_noise", None) is None else args.digits_noise
    try:
        if args.data in STAND_INS:
            return generated_images() if args.data == "generated" else load_digits_images(args.digits_size, noise=noise)
        return load_cifar100(args.data) if args.data else load_digits_images(args.digits_size, noise=noise)
    except DataError as err:
        raise InputError(str(err)) from None


def protocol_from_args(args, dataset):
    """The preset for the dataset, with any architecture/SGD option overriding it."""
    from empirical.resnet import ResNetConfigError
    from empirical.resnet_train import preset

    base = preset(dataset)[0]
    try:
        arch = replace(base.arch, depth=base.arch.depth if args.depth is None else args.depth,
                       width=base.arch.width if args.width is None else args.width)
    except ResNetConfigError as err:
        raise InputError(str(err)) from None
    stages = {}
    for stage in ("pt", "ft"):
        cfg = getattr(base, stage)
        lr, epochs, thr = (getattr(args, f"{stage}_{k}") for k in ("lr", "epochs", "threshold"))
        if (lr is not None and not lr > 0) or (epochs is not None and epochs < 1) or (thr is not None and not thr > 0):
            raise InputError(f"--{stage}-lr, --{stage}-threshold must be > 0 and --{stage}-epochs >= 1")
        stages[stage] = replace(cfg, lr=lr or cfg.lr, max_epochs=epochs or cfg.max_epochs,
                                loss_threshold=thr or cfg.loss_threshold)
    return replace(base, arch=arch, **stages)


def settings_from_args(args):
    from itertools import product

    from empirical.resnet import Levers, ResNetConfigError

    grids = [parse_float_list(args.c_pt, "--c-pt"), parse_float_list(args.kappa, "--kappa"),
             parse_float_list(args.gamma_ft, "--gamma-ft")]
    try:
        return [Levers(c, k, g) for c, k, g in product(*grids)]
    except ResNetConfigError as err:
        raise InputError(str(err)) from None


def check_n_ft(n_ft: list[int], dataset, protocol, seeds: list[int]) -> None:
    """Every n must be drawable (stratified) from the FT classes of every seed."""
    from empirical.cifar import max_ft_samples, protocol_split

    for seed in seeds:
        available = max_ft_samples(protocol_split(dataset, seed, protocol.n_ft_classes).ft_train)
        if max(n_ft) > available:
            raise InputError(f"--n-ft {max(n_ft)}: only {available} class-balanced training images in the "
                             f"{protocol.n_ft_classes} fine-tuning classes (seed {seed})")
        if min(n_ft) < protocol.n_ft_classes:
            raise InputError(f"--n-ft {min(n_ft)}: need at least one image per fine-tuning class")


def prepare_device(name: str, threads: int):
    import torch

    from empirical.device import DeviceError, resolve_device

    if threads < 1:
        raise InputError(f"--threads must be >= 1, got {threads}")
    try:
        device = resolve_device(name)
    except DeviceError as err:
        raise InputError(str(err)) from None
    torch.set_num_threads(threads)
    return device


def run_experiment(dataset, protocol, settings, n_ft, seeds, device, out, workdir, progress):
    """``run_grid`` with output-path checks and resume errors turned into input errors."""
    from empirical.resnet_train import ResumeError, run_grid

    from ptft.cli import check_out

    out = check_out(out, out)
    workdir = workdir or os.path.splitext(out)[0] + ".ckpt"
    from ptft.commands.head_energy_resnet import check_workdir

    check_workdir(workdir)
    try:
        return run_grid(dataset, protocol, settings, n_ft, seeds, device, workdir, out, progress=progress)
    except ResumeError as err:
        raise InputError(f"--out {out}: {err}") from None


def summary(frame) -> str:
    """Mean test accuracy (and its standard error) per setting and n."""
    cols = ["c_pt", "kappa", "gamma_ft", "n_ft"]
    g = frame.groupby(cols)["test_acc"]
    table = g.mean().to_frame("acc_mean").join(g.sem().to_frame("acc_sem")).join(g.size().to_frame("seeds"))
    return table.reset_index().to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}") + "\n"


def _cmd_resnet(args) -> int:
    from empirical.resnet_train import preset

    check_int("--seeds", args.seeds, 1, 1000)
    check_int("--digits-size", args.digits_size, 8, 64)
    if args.digits_noise is not None and not 0.0 <= args.digits_noise <= 10.0:
        raise InputError(f"--digits-noise must lie in [0, 10], got {args.digits_noise}")
    for option in ("pt_epochs", "ft_epochs"):
        if getattr(args, option) is not None:
            check_int(f"--{option.replace('_', '-')}", getattr(args, option), 1, 10**5)
    settings = settings_from_args(args)
    device = prepare_device(args.device, args.threads)
    dataset = load_dataset(args)
    protocol = protocol_from_args(args, dataset)
    default_n = preset(dataset)[1]
    n_ft = sorted(set(parse_int_list(args.n_ft, "--n-ft", minimum=1))) if args.n_ft else list(default_n)
    seeds = list(range(args.seeds))
    check_n_ft(n_ft, dataset, protocol, seeds)
    frame = run_experiment(dataset, protocol, settings, n_ft, seeds, device, args.out, args.workdir, args.progress)
    sys.stdout.write(summary(frame))
    if args.seeds == 1:          # a spread that does not exist is left empty, and said so
        print("ptft: note: one seed has no spread: acc_sem is left empty", file=sys.stderr)
    bad = frame["ft_stop"].eq("diverged") | frame["pt_stop"].eq("diverged")
    if bad.any():
        print(f"ptft: warning: {int(bad.sum())} of {len(frame)} runs diverged (non-finite loss); see {args.out}",
              file=sys.stderr)
        return 3
    return 0
