"""Throughput of ResNet pretraining and fine-tuning (``empirical.resnet_train.train``), images per second.

Runs the real training loop (AMP bf16/fp16 + channels-last on CUDA, float32 on CPU) on synthetic
CIFAR-shaped data (3x32x32 uint8, 100 classes; PT on 98 of them, FT on 2, as in the protocol) and
projects the time of the paper's CIFAR-100 protocol:

* PT: 49,000 images per epoch (98 classes x 500), batch 128; the paper stops at epoch train loss
  < 1e-2 or 1000 epochs, so the projection is given per epoch and for 100 and 1000 epochs;
* FT: n images, batch min(n, 128), at most 1000 epochs; per-run worst case = 1000 epochs;
* the paper's grid: 7 values of n, 30 FT seeds, about 6 lever values per panel.

    python benchmarks/bench_resnet.py                       # auto device, ResNet-18 width 64
    python benchmarks/bench_resnet.py --device cpu --pt-images 256 --ft-n 10,100 --width 16
    python benchmarks/bench_resnet.py --out /tmp/resnet.json

Writes JSON (default benchmarks/results/resnet_<device>.json) and prints a markdown table.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from empirical.cifar import ImageSet, sample_ft, synthetic_cifar  # noqa: E402
from empirical.resnet import Levers, ResNetConfig, build_pretrain_model, count_parameters, reset_readout  # noqa: E402
from empirical.device import resolve_device  # noqa: E402
from empirical.resnet_train import SGDConfig, evaluate, train  # noqa: E402
from ptft.cli import write_atomic  # noqa: E402

PT_EPOCH_IMAGES, FT_MAX_EPOCHS, PAPER_N = 49_000, 1000, (10, 20, 50, 100, 200, 500, 1000)


def _subset(s: ImageSet, classes: range, n: int) -> ImageSet:
    keep = np.flatnonzero(np.isin(s.labels, list(classes)))[:n]
    return ImageSet(s.images[keep], s.labels[keep] - classes.start, s.class_names[classes.start:classes.stop])


def _throughput(model, data: ImageSet, batch: int, epochs: int, device) -> tuple[float, float]:
    """(images/s, seconds) of ``epochs`` epochs after one warm-up epoch (cuDNN autotune, allocator)."""
    never = 0.0                                   # loss threshold 0: never stops early
    train(model, data, SGDConfig(lr=1e-3, batch_size=batch, max_epochs=1, loss_threshold=never), device, seed=0)
    log = train(model, data, SGDConfig(lr=1e-3, batch_size=batch, max_epochs=epochs, loss_threshold=never),
                device, seed=1)
    return log.images / log.seconds, log.seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--depth", type=int, default=18)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--pt-images", type=int, help="PT images per timed epoch (default 12,544 on CUDA, 256 on CPU)")
    ap.add_argument("--pt-epochs", type=int, default=2, help="timed PT epochs (default 2)")
    ap.add_argument("--ft-n", default="10,100,1000", help="FT sample sizes timed (default 10,100,1000)")
    ap.add_argument("--ft-epochs", type=int, help="timed FT epochs (default 20 on CUDA, 2 on CPU)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/resnet_<device>.json)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    pt_images = args.pt_images or (12_544 if cuda else 256)
    ft_epochs = args.ft_epochs or (20 if cuda else 2)
    ft_ns = [int(v) for v in args.ft_n.split(",")]

    per_class = max(-(-pt_images // 98), max(ft_ns) // 2 + 1)
    train_set, test_set = synthetic_cifar(per_class, 100, seed=0)
    pt_data = _subset(train_set, range(2, 100), pt_images)
    cfg = ResNetConfig(args.depth, args.width, 3)
    model = build_pretrain_model(cfg, 98, Levers(), seed=0).to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    pt_ips, pt_s = _throughput(model, pt_data, 128, args.pt_epochs, device)

    ft_rows = []
    for n in ft_ns:
        ft_model = reset_readout(build_pretrain_model(cfg, 98, Levers(), seed=0), 2, 1.0, seed=1).to(device)
        if cuda:
            ft_model = ft_model.to(memory_format=torch.channels_last)
        ft_data = sample_ft(_subset(train_set, range(0, 2), 2 * per_class), n, seed=0)    # stratified, as in FT
        ips, secs = _throughput(ft_model, ft_data, min(n, 128), ft_epochs, device)
        ft_rows.append({"n": n, "images_per_s": ips, "seconds": secs, "epochs": ft_epochs,
                        "worst_case_run_s": FT_MAX_EPOCHS * n / ips})
    t0 = time.perf_counter()
    evaluate(ft_model, _subset(test_set, range(0, 2), 200), device)
    eval_s = time.perf_counter() - t0

    epoch_s = PT_EPOCH_IMAGES / pt_ips
    ft_fit = np.polyfit(np.log([r["n"] for r in ft_rows]), np.log([r["images_per_s"] for r in ft_rows]), 1) \
        if len(ft_rows) > 1 else None
    def ft_ips(n):                                # log-log interpolation between the timed n
        return float(np.exp(np.polyval(ft_fit, np.log(n)))) if ft_fit is not None else ft_rows[0]["images_per_s"]
    ft_worst_grid = sum(FT_MAX_EPOCHS * n / ft_ips(n) for n in PAPER_N)
    result = {
        "device": torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine(),
        "torch": torch.__version__, "threads": args.threads, "load_average_1min": os.getloadavg()[0], "amp": (("bf16" if torch.cuda.is_bf16_supported()
                                                                       else "fp16") if cuda else "off"),
        "arch": {"depth": args.depth, "width": args.width, "params": count_parameters(model)},
        "pt": {"images_per_s": pt_ips, "timed_images": pt_images * args.pt_epochs, "seconds": pt_s,
               "projected_epoch_s": epoch_s, "projected_100_epochs_h": 100 * epoch_s / 3600,
               "projected_1000_epochs_h": 1000 * epoch_s / 3600},
        "ft": ft_rows, "eval_200_images_s": eval_s,
        "projection_note": "FT worst case per seed and lever value = sum over n in {10..1000} of 1000 epochs",
        "ft_worst_case_per_seed_and_setting_h": ft_worst_grid / 3600,
    }
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"resnet_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(json.dumps(result, indent=1) + "\n", str(out))
    print(f"| stage | images/s | note |\n|---|---|---|\n| PT (batch 128) | {pt_ips:.1f} | "
          f"CIFAR-100 PT epoch (49k images) ~ {epoch_s / 60:.1f} min; 100 epochs ~ {100 * epoch_s / 3600:.2f} h |")
    for r in ft_rows:
        print(f"| FT n={r['n']} (batch {min(r['n'], 128)}) | {r['images_per_s']:.1f} | "
              f"1000-epoch cap ~ {r['worst_case_run_s'] / 60:.1f} min |")
    print(f"\n{result['device']}, {result['arch']['params'] / 1e6:.2f} M parameters, AMP {result['amp']}; "
          f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
