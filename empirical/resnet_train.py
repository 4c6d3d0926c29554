"""Pretraining -> fine-tuning of the CIFAR-style ResNet (paper Fig. 4).

Protocol per seed: permute the class labels; pretrain (PT) on all images of the PT classes from an
initialisation set by (c_PT, kappa); fine-tune (FT) every parameter on n stratified images of the
FT classes after replacing the readout by a fresh one times gamma_FT; report test accuracy on all
test images of the FT classes. SGD with momentum, cross-entropy, mini-batches of ``batch_size``
(min(n, batch_size) at FT), stopping when an epoch's mean train loss falls below ``loss_threshold``
or at ``max_epochs``. On CUDA: autocast (bf16 where supported, else fp16 with a grad scaler) and
channels-last memory; CPU runs in float32.

Pretrained networks are checkpointed (``torch.save`` to a temporary file + ``os.replace``) under a
key of everything that determines them, and reused for every gamma_FT and n; the result CSV is
rewritten atomically after each FT run and finished rows are skipped on a rerun (resumable).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field

import pandas as pd
import torch
import torch.nn.functional as F

from empirical import guard
from empirical.cifar import Dataset, ImageSet, protocol_split, sample_ft
from empirical.resnet import Levers, ResNetConfig, ResNet, build_pretrain_model, reset_readout
from symbolic.errors import InputError

RESULT_KEY = ["c_pt", "kappa", "gamma_ft", "n_ft", "seed"]


@dataclass(frozen=True)
class SGDConfig:
    """SGD stage: learning rate, momentum, batch size, stop at epoch-mean loss < loss_threshold or max_epochs."""

    lr: float = 1e-3
    momentum: float = 0.9
    batch_size: int = 128
    max_epochs: int = 1000
    loss_threshold: float = 1e-2


@dataclass(frozen=True)
class Protocol:
    """Everything besides the levers that fixes one experiment (the paper's defaults)."""

    arch: ResNetConfig = field(default_factory=ResNetConfig)
    pt: SGDConfig = field(default_factory=SGDConfig)
    ft: SGDConfig = field(default_factory=lambda: SGDConfig(loss_threshold=1e-4))
    n_ft_classes: int = 2


@dataclass(frozen=True)
class TrainLog:
    train_loss: float
    epochs: int
    stop: str            # "threshold" | "max_epochs" | "diverged"
    seconds: float
    images: int          # images processed (for throughput)


def _to_device(s: ImageSet, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(s.images).to(device), torch.from_numpy(s.labels).to(device)


def _normalise(x_uint8: torch.Tensor) -> torch.Tensor:
    """ToTensor + Normalize(0.5, 0.5): uint8 -> [-1, 1]; channels-last on CUDA."""
    x = x_uint8.float().mul_(2.0 / 255.0).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x


def _batches(n: int, batch_size: int, gen: torch.Generator, device: torch.device | None = None) -> list[torch.Tensor]:
    """A shuffled epoch (indices on ``device``: one copy per epoch); a trailing batch of one image is
    merged (BatchNorm needs two)."""
    chunks = list(torch.randperm(n, generator=gen).to(device).split(batch_size))
    if len(chunks) > 1 and chunks[-1].numel() < 2:
        chunks[-2] = torch.cat([chunks[-2], chunks.pop()])
    return chunks


def _autocast(device: torch.device):
    if device.type != "cuda":
        return torch.autocast("cpu", enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def train(model: ResNet, data: ImageSet, cfg: SGDConfig, device: torch.device, seed: int,
          progress: str | None = None) -> TrainLog:
    """SGD until the epoch-mean train loss < cfg.loss_threshold or cfg.max_epochs epochs.

    ``progress``: a label for an epoch progress bar on stderr (None: no bar).
    """
    from tqdm import tqdm

    x_all, y_all = _to_device(data, device)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    fp16 = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=fp16)
    gen = torch.Generator().manual_seed(seed)
    batch = min(cfg.batch_size, len(y_all))
    t0, images, loss_epoch, epoch, stop = time.perf_counter(), 0, math.inf, 0, "max_epochs"
    bar = tqdm(total=cfg.max_epochs, desc=progress, unit="epoch", leave=False, disable=progress is None)
    while epoch < cfg.max_epochs:
        epoch += 1
        total = torch.zeros((), device=device)
        for idx in _batches(len(y_all), batch, gen, device):
            with _autocast(device):
                loss = F.cross_entropy(model(_normalise(x_all[idx])), y_all[idx])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            total += loss.detach().float() * idx.numel()
            images += idx.numel()
        loss_epoch = float(total) / len(y_all)          # one device sync per epoch
        bar.update()
        bar.set_postfix(loss=f"{loss_epoch:.3g}")
        if guard.diverged(loss_epoch):
            stop = "diverged"
            break
        if loss_epoch < cfg.loss_threshold:
            stop = "threshold"
            break
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return TrainLog(loss_epoch, epoch, stop, time.perf_counter() - t0, images)


@torch.no_grad()
def evaluate(model: ResNet, data: ImageSet, device: torch.device, batch_size: int = 1000) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) in eval mode (BatchNorm running statistics)."""
    model.eval()
    x_all, y_all = _to_device(data, device)
    correct, loss = 0, 0.0
    for start in range(0, len(y_all), batch_size):
        x, y = x_all[start:start + batch_size], y_all[start:start + batch_size]
        with _autocast(device):
            out = model(_normalise(x)).float()
        correct += int((out.argmax(1) == y).sum())
        loss += float(F.cross_entropy(out, y, reduction="sum"))
    return correct / max(len(y_all), 1), loss / max(len(y_all), 1)


# --- checkpoints and the resumable grid ---------------------------------------------------------

def pt_key(dataset: Dataset, protocol: Protocol, c_pt: float, kappa: float, seed: int) -> str:
    """Hash of everything that determines a pretrained network."""
    spec = {"data": dataset.name, "n_train": int(len(dataset.train.labels)), "arch": asdict(protocol.arch),
            "pt": asdict(protocol.pt), "n_ft_classes": protocol.n_ft_classes,
            "c_pt": float(c_pt), "kappa": float(kappa), "seed": int(seed), "version": 1}
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _umask_mode(tmp: str) -> None:
    """mkstemp makes 0600 files; give results the usual permissions (0666 minus the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)


def _save_atomic(obj, path: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix="tmp-ckpt-", suffix=".pt")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        _umask_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def pretrained(dataset: Dataset, split, protocol: Protocol, c_pt: float, kappa: float, seed: int,
               device: torch.device, workdir: str, progress: bool = False) -> tuple[ResNet, dict]:
    """The PT network for (c_PT, kappa, seed): loaded from ``workdir`` if trained before, else trained and saved."""
    key = pt_key(dataset, protocol, c_pt, kappa, seed)
    path = os.path.join(workdir, f"pt-{dataset.name}-c{c_pt:g}-k{kappa:g}-s{seed}-{key}.pt")
    n_pt = split.pt_train.n_classes
    model = build_pretrain_model(protocol.arch, n_pt, Levers(c_pt=c_pt, kappa=kappa), seed)
    if os.path.isfile(path):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["state"])
        return model.to(device), ckpt["info"]
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    log = train(model, split.pt_train, protocol.pt, device, seed,
                progress=f"PT c_pt={c_pt:g} kappa={kappa:g} seed={seed}" if progress else None)
    acc, _ = evaluate(model, split.pt_test, device)
    info = {"pt_train_loss": log.train_loss, "pt_epochs": log.epochs, "pt_stop": log.stop,
            "pt_test_acc": acc, "pt_seconds": log.seconds, "pt_images_per_s": log.images / max(log.seconds, 1e-9)}
    _save_atomic({"state": {k: v.cpu() for k, v in model.state_dict().items()}, "info": info}, path)
    return model, info


def finetune(pt_model: ResNet, split, protocol: Protocol, gamma_ft: float, n_ft: int, seed: int,
             device: torch.device) -> dict:
    """FT a copy of ``pt_model`` on n stratified FT images; the readout is fresh times gamma_FT."""
    # the FT data and readout depend on (seed, n) only: every lever setting sees the same draws
    sub = sample_ft(split.ft_train, n_ft, seed=10_000 * seed + n_ft)
    model = reset_readout(copy.deepcopy(pt_model), protocol.n_ft_classes, gamma_ft, seed=seed + 7919)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    log = train(model, sub, protocol.ft, device, seed=10_000 * seed + n_ft + 1)
    acc, loss = evaluate(model, split.ft_test, device)
    return {"test_acc": acc, "test_error": 1.0 - acc, "test_loss": loss, "ft_train_loss": log.train_loss,
            "ft_epochs": log.epochs, "ft_stop": log.stop, "ft_seconds": log.seconds,
            "ft_images_per_s": log.images / max(log.seconds, 1e-9)}


class ResumeError(InputError):
    """The result CSV to resume holds rows of a different experiment."""


def read_results(path: str | None) -> pd.DataFrame:
    """Rows already in ``path`` (empty frame when there is no file)."""
    if path and os.path.isfile(path):
        try:
            return pd.read_csv(path, dtype={"protocol_id": str, "ft_classes": str})
        except (ValueError, pd.errors.ParserError) as err:      # EmptyDataError is a ValueError
            raise ResumeError(f"cannot read the existing results ({type(err).__name__}); give another --out") from None
    return pd.DataFrame()


def write_results(frame: pd.DataFrame, path: str) -> None:
    """Atomic CSV write (``numerics.atomic.write_atomic``: temporary file + os.replace)."""
    from numerics.atomic import write_atomic

    write_atomic(frame.to_csv(index=False, float_format="%.8g"), path)


def protocol_id(dataset: Dataset, protocol: Protocol) -> str:
    """Hash of the dataset and protocol (not the levers or seed): rows with another id are not mixed in."""
    spec = {"data": dataset.name, "n_train": int(len(dataset.train.labels)), **asdict(protocol)}
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]


def _key(values) -> tuple:
    return tuple(float(f"{float(v):.8g}") for v in values)     # as written by write_results


def _done_keys(frame: pd.DataFrame, pid: str) -> set[tuple]:
    if frame.empty:
        return set()
    if "protocol_id" not in frame or (frame["protocol_id"].astype(str) != pid).any():
        raise ResumeError("the output CSV holds results of a different experiment (dataset, architecture or "
                          "SGD settings); give another --out")
    return {_key(row) for row in frame[RESULT_KEY].itertuples(index=False)}


def run_grid(dataset: Dataset, protocol: Protocol, settings: list[Levers], n_ft: list[int], seeds: list[int],
             device: torch.device, workdir: str, out_csv: str, progress: bool = False) -> pd.DataFrame:
    """All (setting, n, seed) FT runs; PT networks shared across gamma_FT and n; resumable through ``out_csv``."""
    from tqdm import tqdm

    os.makedirs(workdir, exist_ok=True)
    frame = read_results(out_csv)
    pid = protocol_id(dataset, protocol)
    done = _done_keys(frame, pid)
    rows = frame.to_dict("records")
    pt_pairs = sorted({(s.c_pt, s.kappa) for s in settings})
    todo = [(seed, c, k, s, n) for seed in seeds for (c, k) in pt_pairs for s in settings
            if (s.c_pt, s.kappa) == (c, k) for n in n_ft
            if _key((c, k, s.gamma_ft, n, seed)) not in done]
    bar = tqdm(total=len(todo), disable=not progress, desc="fine-tuning runs", unit="run")
    cache: dict[tuple, tuple] = {}
    split, split_seed = None, None
    for seed, c, k, s, n in todo:
        if split_seed != seed:
            split, split_seed = protocol_split(dataset, seed, protocol.n_ft_classes), seed
        if (seed, c, k) not in cache:
            cache.clear()                                       # one PT network in memory at a time
            cache[(seed, c, k)] = pretrained(dataset, split, protocol, c, k, seed, device, workdir, progress)
        pt_model, pt_info = cache[(seed, c, k)]
        result = finetune(pt_model, split, protocol, s.gamma_ft, n, seed, device)
        rows.append({"protocol_id": pid, "dataset": dataset.name, "depth": protocol.arch.depth,
                     "width": protocol.arch.width, "c_pt": c, "kappa": k, "gamma_ft": s.gamma_ft, "n_ft": n, "seed": seed,
                     "ft_classes": "-".join(map(str, split.ft_classes)),
                     **result, **pt_info,
                     "device": str(device)})
        write_results(pd.DataFrame(rows), out_csv)
        bar.update()
    bar.close()
    return pd.DataFrame(rows)


# --- presets ------------------------------------------------------------------------------------

CIFAR_N_FT = (10, 20, 50, 100, 200, 500, 1000)
DIGITS_N_FT = (10, 20, 50, 100)
DIGITS_NOISE = 0.5            # pixel-noise std of the digits stand-in (without it FT accuracy is ~99% at n = 10)
GENERATED_N_FT = (10, 20, 50)


def cifar_protocol(depth: int = 18, width: int = 64) -> Protocol:
    """The paper's protocol: ResNet-18, SGD lr 1e-3 momentum 0.9, batch 128, <= 1000 epochs, PT stop at
    loss 1e-2, FT stop at 1e-4."""
    return Protocol(arch=ResNetConfig(depth, width, 3), pt=SGDConfig(1e-3, 0.9, 128, 1000, 1e-2),
                    ft=SGDConfig(1e-3, 0.9, 128, 1000, 1e-4))


def digits_protocol(depth: int = 10, width: int = 16) -> Protocol:
    """Laptop-sized stand-in on 16x16 digits: a ResNet-10 of width 16, larger step sizes and looser
    stopping (PT: loss 0.05 or 15 epochs; FT: loss 1e-2 or 40 epochs) so that every run takes seconds."""
    return Protocol(arch=ResNetConfig(depth, width, 1), pt=SGDConfig(0.05, 0.9, 128, 15, 0.05),
                    ft=SGDConfig(0.01, 0.9, 128, 40, 1e-2))


def generated_protocol(depth: int = 10, width: int = 8) -> Protocol:
    """CPU stand-in on ``cifar.generated_images`` (3x16x16, 20 classes): a ResNet-10 of width 8, the
    digits step sizes and stopping (PT: loss 0.05 or 15 epochs; FT: loss 1e-2 or 40 epochs), 2 FT classes."""
    return Protocol(arch=ResNetConfig(depth, width, 3), pt=SGDConfig(0.05, 0.9, 128, 15, 0.05),
                    ft=SGDConfig(0.01, 0.9, 128, 40, 1e-2))


def preset(dataset: Dataset) -> tuple[Protocol, tuple[int, ...]]:
    """(protocol, default FT sizes) for a dataset: CIFAR-100, the generated stand-in, or digits."""
    from empirical.cifar import GENERATED_NAME

    if dataset.name == "cifar100":
        return cifar_protocol(), CIFAR_N_FT
    if dataset.name.startswith(GENERATED_NAME):
        return generated_protocol(), GENERATED_N_FT
    return digits_protocol(), DIGITS_N_FT
