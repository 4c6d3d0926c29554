"""``ptft head-energy-resnet``: head probing for tau epochs (optional label smoothing) on a pretrained
ResNet, then full fine-tuning; one row per (seed, smoothing, tau) with the initial energy and the
four feature-change metrics (docs/head_energy.md, section "ResNet").

    ptft head-energy-resnet --tau 0,1,2,5,10,20 --smoothing 0,0.3 --seeds 2 --format csv --out F
    ptft figure head-energy-resnet [--quick] [--data PATH] [--device auto]

Torch is imported only inside the handler, so ``ptft --help`` stays light.
"""
from __future__ import annotations

from ptft.commands.head_energy import smoothings_arg
from ptft.cli import InputError, add_output_options, check_int, check_out, parse_int_list, write_atomic

FIGURES = {"head-energy-resnet": "ptft.figures.head_energy_resnet:make_figure"}


def register(subparsers) -> dict:
    p = subparsers.add_parser("head-energy-resnet",
                              help="task-head energy vs feature change on the ResNet pipeline (Ren et al. 2023)")
    p.add_argument("--tau", default="0,1,2,5,10,20", help="head-probing epochs, comma-separated (default 0,1,2,5,10,20)")
    p.add_argument("--smoothing", default="0,0.3", help="label smoothing during probing, comma-separated in [0, 1)")
    p.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1 (class split, PT network, FT draw; default 2)")
    p.add_argument("--data", help="CIFAR-100 python directory; default: sklearn digits (16x16, noise 0.5)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N (default auto)")
    p.add_argument("--depth", type=int, help="ResNet depth 10/18/26/34 (default: 10 digits, 18 CIFAR)")
    p.add_argument("--width", type=int, help="base width (default: 16 digits, 64 CIFAR)")
    p.add_argument("--n-ft", type=int, help="FT training images (default 100 digits, 500 CIFAR)")
    p.add_argument("--ft-epochs", type=int, help="full FT epochs (default 20)")
    p.add_argument("--ft-lr", type=float, help="full FT learning rate (default 0.01 digits, 1e-3 CIFAR)")
    p.add_argument("--hp-lr", type=float, help="head-probing learning rate (default 0.005)")
    p.add_argument("--bn", choices=("frozen", "train"), default="frozen",
                   help="BatchNorm during FT: frozen PT statistics (default) or train mode")
    p.add_argument("--workdir", help="PT checkpoint directory (default $PTFT_CACHE_DIR/resnet-checkpoints)")
    add_output_options(p)
    return {"head-energy-resnet": _cmd}


def experiment_from_args(args):
    """(dataset, protocol, setup) from the options; bad values become one-line input errors."""
    from dataclasses import replace

    from ptft.commands.resnet import check_n_ft, load_dataset
    from empirical.head_energy.resnet import default_protocol
    from empirical.resnet import ResNetConfigError

    args.digits_size, args.digits_noise = 16, None
    dataset = load_dataset(args)
    try:
        protocol, setup = default_protocol(dataset, args.depth, args.width)
        changes = {k: v for k, v in (("n_ft", args.n_ft), ("ft_epochs", args.ft_epochs), ("ft_lr", args.ft_lr),
                                      ("hp_lr", args.hp_lr), ("bn", args.bn)) if v is not None}
        setup = replace(setup, **changes)
    except ResNetConfigError as err:
        raise InputError(str(err)) from None
    check_n_ft([setup.n_ft], dataset, protocol, list(range(args.seeds)))
    return dataset, protocol, setup


def _check_paths(out: str | None, workdir: str | None) -> None:
    """Fail before hours of training, not after: the output directory must exist."""
    import os

    if out:
        check_out(out)
    if workdir:
        check_workdir(workdir)


def check_workdir(workdir: str) -> None:
    """The checkpoint directory exists (or can be made) and can be written: checked with a
    real file, so a read-only place, a too-long name or a missing parent is one line now."""
    import os
    import tempfile

    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise InputError(f"--workdir: {workdir} exists and is not a directory")
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".ptft-probe-"):
            pass
    except OSError as err:
        raise InputError(f"--workdir {workdir[:200]}: cannot write there ({err.strerror or err})") from None


def _cmd(args) -> int:
    import sys

    from ptft.commands.resnet import prepare_device
    from empirical.head_energy.resnet import energy_sweep_resnet
    from ptft.figures.resnet import checkpoint_dir
    from ptft.cli import render_frame

    taus, smoothings = parse_int_list(args.tau, "--tau"), smoothings_arg(args.smoothing, "--smoothing")
    check_int("--seeds", args.seeds, 1, 1000)
    if max(taus) > 10_000:
        raise InputError(f"--tau values must be <= 10000 probing epochs, got {max(taus)}")
    for option, value in (("--ft-epochs", args.ft_epochs), ("--n-ft", args.n_ft)):
        if value is not None:
            check_int(option, value, 1, 10**6)
    _check_paths(args.out, args.workdir)
    device = prepare_device(args.device, 1)
    dataset, protocol, setup = experiment_from_args(args)
    frame = energy_sweep_resnet(dataset, protocol, setup, taus, smoothings, range(args.seeds), device,
                                args.workdir or checkpoint_dir(), progress=True)
    write_atomic(render_frame(frame, args.format), args.out)
    if frame.ft_stop.eq("diverged").any():
        print(f"ptft: warning: {int(frame.ft_stop.eq('diverged').sum())} FT runs diverged (non-finite loss)",
              file=sys.stderr)
        return 3
    return 0
