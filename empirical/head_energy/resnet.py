"""Task-head energy on the ResNet pipeline (Ren, Guo, Bae & Sutherland 2023;
docs/head_energy.md section "ResNet").

Per seed, reusing the PT -> FT protocol of ``empirical/resnet_train.py``:

1. a pretrained ResNet (``pretrained``: PT classes, c_PT = kappa = 1, checkpoint cache);
2. a fresh FT head (``reset_readout`` times gamma_FT) and n stratified FT training images;
3. head probing (HP) for tau epochs: only the head is trained, the backbone is frozen and in eval
   mode (BatchNorm running statistics), so its features z_0 are computed once and HP is SGD on a
   linear softmax model; optional label smoothing s;
4. the energy at the start of full FT, from the probed head on z_0 with the one-hot FT labels:
   the average initial energy E = mean_i ||e_{y_i} - softmax(f_0(x_i))||_2 and the initial loss;
5. full FT of every parameter for a fixed number of epochs, by default with BatchNorm frozen
   (eval mode) so that the features move only through gradients (``bn='train'``: the protocol's
   ``resnet_train.train``, whose running-statistics drift alone moves the features);
6. penultimate features (global-average-pooled, eval mode) of the FT train and test images before
   (z_0) and after (z_T) FT and the four metrics of ``head_energy.feature_metrics``: Euclidean
   distance ||z_T - z_0||, cosine distance 1 - cos(z_T, z_0), dot product z_T . z_0, norm ||z_T||;
   plus the FT test accuracy.

Within a seed every (tau, s) run shares the PT network, the fresh head, the FT images and the FT
mini-batch order, so the runs differ only by the probed head.
"""
from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from empirical import guard
from empirical.cifar import ImageSet, protocol_split, sample_ft
from empirical.head_energy.model import cross_entropy, feature_metrics, initial_energy, require_positive_ints
from empirical.resnet import ResNet, reset_readout
from empirical.resnet_train import SGDConfig, _normalise, evaluate, pretrained, train
from symbolic.errors import InputError

METRICS = ("euclid", "cosine", "dot", "norm")


@dataclass(frozen=True)
class HeadEnergyResNetSetup:
    """HP and FT settings. n_ft: FT training images; gamma_ft (gamma_FT): fresh head scale;
    hp_*: head-probing SGD (per epoch ceil(n_ft / hp_batch) steps); ft_*: full FT SGD, run for
    exactly ft_epochs epochs; bn: 'frozen' (BatchNorm in eval mode during FT, PT statistics kept) or
    'train' (``resnet_train.train``: batch statistics, running statistics updated)."""

    n_ft: int = 100
    gamma_ft: float = 1.0
    hp_lr: float = 0.005
    hp_momentum: float = 0.9
    hp_batch: int = 10
    ft_lr: float = 0.01
    ft_momentum: float = 0.9
    ft_batch: int = 32
    ft_epochs: int = 20
    bn: str = "frozen"


    def __post_init__(self):
        if self.bn not in ("frozen", "train"):
            raise InputError(f"bn must be 'frozen' or 'train', got {self.bn!r}")
        require_positive_ints(self, ("n_ft", "hp_batch", "ft_batch", "ft_epochs"))
        for name, low in (("gamma_ft", 0.0), ("hp_momentum", 0.0), ("ft_momentum", 0.0)):
            value = getattr(self, name)
            if not (math.isfinite(value) and low <= value) or (name != "gamma_ft" and value >= 1):
                raise InputError(f"{name} must be finite and >= 0 (momentum < 1), got {value}")
        for name in ("hp_lr", "ft_lr"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise InputError(f"{name} must be finite and > 0, got {getattr(self, name)}")

    def ft_sgd(self) -> SGDConfig:
        # loss_threshold 0: an epoch-mean loss is never < 0, so FT runs exactly ft_epochs epochs
        return SGDConfig(lr=self.ft_lr, momentum=self.ft_momentum, batch_size=self.ft_batch,
                         max_epochs=self.ft_epochs, loss_threshold=0.0)


@torch.no_grad()
def extract_features(model: ResNet, images: np.ndarray, device: torch.device, batch: int = 500) -> torch.Tensor:
    """Penultimate (pooled) features in eval mode, float32 on the CPU, shape (N, n_features)."""
    model.eval()
    out = []
    for start in range(0, len(images), batch):
        x = _normalise(torch.from_numpy(images[start:start + batch]).to(device))
        out.append(model.features(x).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, model.n_features)


def probe_head(fc: nn.Linear, features: torch.Tensor, labels: torch.Tensor, epochs: int, smoothing: float,
               setup: HeadEnergyResNetSetup, seed: int) -> nn.Linear:
    """HP: ``epochs`` epochs of mini-batch SGD (momentum) on a copy of the head only, on frozen features,
    cross-entropy with label smoothing ``smoothing`` (targets (1 - s) e_y + s / C)."""
    if not 0.0 <= smoothing < 1.0:
        raise InputError(f"smoothing must lie in [0, 1), got {smoothing}")
    head = copy.deepcopy(fc).cpu().float()
    opt = torch.optim.SGD(head.parameters(), lr=setup.hp_lr, momentum=setup.hp_momentum)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(labels), generator=gen).split(setup.hp_batch):
            loss = F.cross_entropy(head(features[idx]), labels[idx], label_smoothing=smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return head


def probe(model: ResNet, data: ImageSet, epochs: int, smoothing: float, setup: HeadEnergyResNetSetup,
          device: torch.device, seed: int, features: torch.Tensor | None = None) -> ResNet:
    """A copy of ``model`` whose head has been probed on ``data``; backbone parameters and BatchNorm
    statistics untouched (the features are computed once in eval mode, no gradient reaches them).
    ``features``: ``extract_features(model, data.images)`` when the caller already has them."""
    z0 = extract_features(model, data.images, device) if features is None else features
    head = probe_head(model.fc, z0, torch.from_numpy(data.labels), epochs, smoothing, setup, seed)
    probed = copy.deepcopy(model)
    probed.fc = head.to(next(model.parameters()).device)
    return probed


def head_energy(head: nn.Linear, features: torch.Tensor, labels: np.ndarray) -> dict:
    """Energy at the start of FT (one-hot labels, float64): E = mean ||e_y - p||, loss, train accuracy."""
    with torch.no_grad():
        logits = head(features.to(head.weight.device)).double().cpu().numpy()
    onehot = np.eye(head.out_features)[labels]
    return {"energy": initial_energy(logits, labels), "initial_loss": cross_entropy(logits, onehot),
            "hp_train_acc": float(np.mean(logits.argmax(1) == labels)),
            "head_norm": float(torch.linalg.norm(head.weight.detach()).cpu())}


def metrics(z0: torch.Tensor, zT: torch.Tensor, prefix: str = "") -> dict:
    """The four feature-change metrics in float64, keys prefixed (e.g. 'test_')."""
    m = feature_metrics(z0.double().numpy(), zT.double().numpy())
    return {prefix + k: v for k, v in m.items()}


def finetune_frozen_bn(model: ResNet, data: ImageSet, setup: HeadEnergyResNetSetup, device: torch.device,
                       seed: int) -> tuple[float, str]:
    """Full FT of every parameter for ``setup.ft_epochs`` epochs of mini-batch SGD (momentum) with the
    BatchNorm layers in eval mode: normalisation by the PT running statistics, which stay fixed, so
    the features move only through gradient steps (train-mode BN would also drift the running
    statistics towards the FT images; see docs). Returns (last epoch-mean train loss, stop reason)."""
    model.eval()                       # BN: PT statistics; the network has no dropout
    x_all, y_all = _normalise(torch.from_numpy(data.images).to(device)), torch.from_numpy(data.labels).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=setup.ft_lr, momentum=setup.ft_momentum)
    gen = torch.Generator().manual_seed(seed)
    loss_epoch = math.nan
    for _ in range(setup.ft_epochs):
        total = torch.zeros((), device=device)
        for idx in torch.randperm(len(y_all), generator=gen).split(setup.ft_batch):
            idx = idx.to(device)
            loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * idx.numel()
        loss_epoch = float(total) / len(y_all)             # one device sync per epoch
        if guard.diverged(loss_epoch):
            return loss_epoch, "diverged"
    return loss_epoch, "epochs"


def run_one(fresh: ResNet, sub: ImageSet, test: ImageSet, z0: torch.Tensor, z0_test: torch.Tensor, tau: int,
            smoothing: float, setup: HeadEnergyResNetSetup, device: torch.device, seed: int) -> dict:
    """HP for tau epochs, energy, full FT, metrics on the FT train (``sub``) and test images.
    ``z0``, ``z0_test``: the PT backbone's features of ``sub`` and ``test`` (the same for every run of a seed)."""
    model = probe(fresh, sub, tau, smoothing, setup, device, seed=seed + 1, features=z0)
    row = {"tau": tau, "smoothing": smoothing, **head_energy(model.fc, z0, sub.labels)}
    if setup.bn == "train":
        log = train(model, sub, setup.ft_sgd(), device, seed=seed + 2)
        ft_loss, stop = log.train_loss, log.stop
    else:
        ft_loss, stop = finetune_frozen_bn(model, sub, setup, device, seed=seed + 2)
    acc, loss = evaluate(model, test, device)
    zT, zT_test = extract_features(model, sub.images, device), extract_features(model, test.images, device)
    return {**row, **metrics(z0, zT), **metrics(z0_test, zT_test, "test_"), "ft_test_acc": acc,
            "ft_test_loss": loss, "ft_train_loss": ft_loss, "ft_stop": stop}



def energy_sweep_resnet(dataset, protocol, setup: HeadEnergyResNetSetup, taus, smoothings, seeds,
                        device: torch.device, workdir: str, progress: bool = False):
    """One row per (seed, smoothing, tau): energy, the four metrics (train and test images), FT accuracy."""
    import pandas as pd
    from tqdm.auto import tqdm

    os.makedirs(workdir, exist_ok=True)
    jobs = [(seed, s, t) for seed in seeds for s in smoothings for t in taus]
    bar = tqdm(total=len(jobs), desc="head-energy resnet", unit="run", leave=False, disable=not progress)
    rows = []
    for seed in seeds:
        split = protocol_split(dataset, seed, protocol.n_ft_classes)
        pt_model, pt_info = pretrained(dataset, split, protocol, 1.0, 1.0, seed, device, workdir, progress)
        sub = sample_ft(split.ft_train, setup.n_ft, seed=10_000 * seed + setup.n_ft)
        fresh = reset_readout(copy.deepcopy(pt_model), protocol.n_ft_classes, setup.gamma_ft, seed=seed + 7919)
        z0, z0_test = extract_features(pt_model, sub.images, device), extract_features(pt_model, split.ft_test.images, device)
        for s in smoothings:
            for t in taus:
                row = run_one(fresh, sub, split.ft_test, z0, z0_test, int(t), float(s), setup, device, 1000 * seed)
                rows.append({"seed": seed, **row, "pt_test_acc": pt_info["pt_test_acc"]})
                bar.update()
    bar.close()
    a = protocol.arch
    return pd.DataFrame(rows).assign(dataset=dataset.name, depth=a.depth, width=a.width, n_ft=setup.n_ft,
                                     ft_epochs=setup.ft_epochs, device=str(device))


# --- figure -------------------------------------------------------------------------------------

LABELS = {"euclid": "Euclidean distance $||z_T-z_0||$", "cosine": "cosine distance $1-\\cos(z_T,z_0)$",
          "dot": "dot product $z_T\\cdot z_0$", "norm": "feature norm $||z_T||$",
          "ft_test_acc": "test accuracy after FT"}
MARKERS = {0.0: "o", 0.3: "s", 0.6: "^"}


def trend_summary(frame):
    """Per metric: Spearman correlation with the energy (over all runs, and mean within seeds) and
    whether the seed-mean curve (tau series without smoothing, sorted by energy) peaks in the interior."""
    import warnings

    import pandas as pd
    from scipy.stats import ConstantInputWarning, spearmanr

    warnings.simplefilter("ignore", ConstantInputWarning)     # a constant column: correlation NaN, said so
    rows = []
    curve = frame[frame.smoothing == 0].groupby("tau").mean(numeric_only=True).sort_values("energy")
    for col in METRICS + ("ft_test_acc",):
        within = [spearmanr(g.energy, g[col])[0] for _, g in frame.groupby("seed") if len(g) > 2]
        values = curve[col].to_numpy()
        rows.append({"metric": col, "spearman_all": spearmanr(frame.energy, frame[col])[0],
                     "spearman_within_seed_mean": float(np.mean(within)) if within else float("nan"),
                     "argmax_rank": int(values.argmax()), "points": int(values.size),
                     "interior_max": bool(0 < values.argmax() < values.size - 1)})
    return pd.DataFrame(rows)


def default_protocol(dataset, depth: int | None = None, width: int | None = None):
    """The PT protocol of resnet_train for the dataset (digits or CIFAR-100) and the HP/FT settings."""
    from empirical.resnet_train import cifar_protocol, digits_protocol

    cifar = dataset.name == "cifar100"
    protocol = cifar_protocol() if cifar else digits_protocol()
    arch = replace(protocol.arch, depth=protocol.arch.depth if depth is None else depth,
                   width=protocol.arch.width if width is None else width)
    setup = HeadEnergyResNetSetup(n_ft=500, ft_lr=1e-3, ft_batch=128) if cifar else HeadEnergyResNetSetup()
    return replace(protocol, arch=arch), setup
