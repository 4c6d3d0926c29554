"""CIFAR-style ResNet in plain PyTorch with the paper's three initialisation levers (Fig. 4).

The network is the usual CIFAR ResNet (He et al. 2016): a 3x3 stem (conv1 + bn1, no max-pool),
four residual stages ``layer1..layer4`` of BasicBlocks (widths w, 2w, 4w, 8w; stride 2 from stage
2 on), global average pooling and a linear readout ``fc``. ResNet-18 = blocks (2, 2, 2, 2), w = 64.

The levers (the paper's Fig. 4 protocol, docs/resnet.md), applied right after PyTorch's default init:

* ``c_pt`` (c_PT, absolute scale): every parameter (conv and linear weights, biases, BatchNorm
  weight and bias) is multiplied by c_PT. BatchNorm running statistics are buffers, not touched.
* ``kappa`` (kappa, relative scale; the analogue of lambda_PT): every parameter of the stem
  (conv1, bn1) and of stages layer1, layer2, layer3 is multiplied by kappa in addition.
  kappa < 1 = smaller early layers (lambda_PT < 0); layer4 and fc are not touched.
* ``gamma_ft`` (gamma_FT, readout at fine-tuning): ``fc`` is replaced by a freshly initialised
  ``Linear(features, n_ft_classes)`` whose weight and bias are multiplied by gamma_FT (0 allowed).

With BatchNorm, scaling a conv weight does not change the forward function (the next BatchNorm
divides it out) but does change its effective learning rate; the BatchNorm affine parameters and
``fc`` carry the scale into the function. The parameter sets are returned by ``lever_parameters``
and ``early_parameter_names`` so that tests and docs state exactly what each lever touches.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F
from symbolic.errors import InputError

# depth -> BasicBlocks per stage (4 stages); depth = 2 + 2 * sum(blocks)
DEPTHS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 26: (3, 3, 3, 3), 34: (3, 4, 6, 3)}
EARLY_MODULES = ("conv1", "bn1", "layer1", "layer2", "layer3")     # what kappa scales


class ResNetConfigError(InputError):
    """Invalid architecture or lever value."""


@dataclass(frozen=True)
class ResNetConfig:
    """Architecture: ``depth`` in DEPTHS, base ``width`` w (ResNet-18: 64), input channels."""

    depth: int = 18
    width: int = 64
    in_channels: int = 3

    def __post_init__(self):
        if self.depth not in DEPTHS:
            raise ResNetConfigError(f"depth must be one of {sorted(DEPTHS)}, got {self.depth}")
        if not (isinstance(self.width, int) and self.width >= 1):
            raise ResNetConfigError(f"width must be a positive integer, got {self.width}")
        if self.in_channels < 1:
            raise ResNetConfigError(f"in_channels must be >= 1, got {self.in_channels}")


@dataclass(frozen=True)
class Levers:
    """Initialisation levers: c_PT > 0 (all weights), kappa > 0 (stem + stages 1-3), gamma_FT >= 0 (readout at FT)."""

    c_pt: float = 1.0
    kappa: float = 1.0
    gamma_ft: float = 1.0

    def __post_init__(self):
        for name, low, strict in (("c_pt", 0.0, True), ("kappa", 0.0, True), ("gamma_ft", 0.0, False)):
            v = float(getattr(self, name))
            if not (v == v) or v in (float("inf"), float("-inf")) or v < low or (strict and v == low):
                raise ResNetConfigError(f"{name} must be {'>' if strict else '>='} 0 and finite, got {v:g}")


class BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm; 1x1 conv + BatchNorm shortcut when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR-style ResNet; ``features(x)`` is the pooled representation, ``fc`` the readout."""

    def __init__(self, config: ResNetConfig, num_classes: int):
        super().__init__()
        w = config.width
        self.config = config
        self.conv1 = nn.Conv2d(config.in_channels, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        widths, c_in, stages = (w, 2 * w, 4 * w, 8 * w), w, []
        for i, (c_out, blocks) in enumerate(zip(widths, DEPTHS[config.depth])):
            layers = []
            for b in range(blocks):
                layers.append(BasicBlock(c_in, c_out, 2 if (i > 0 and b == 0) else 1))
                c_in = c_out
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.n_features = c_in
        self.fc = nn.Linear(c_in, num_classes)

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def early_parameter_names(model: ResNet) -> set[str]:
    """Names of the parameters kappa scales: stem (conv1, bn1) and layer1..layer3."""
    return {n for n, _ in model.named_parameters() if n.split(".")[0] in EARLY_MODULES}


def lever_parameters(model: ResNet) -> dict[str, set[str]]:
    """Which parameter names each lever multiplies (c_pt: all; kappa: early; gamma_ft: fc)."""
    names = {n for n, _ in model.named_parameters()}
    return {"c_pt": names, "kappa": early_parameter_names(model),
            "gamma_ft": {n for n in names if n.startswith("fc.")}}


@torch.no_grad()
def apply_pt_levers(model: ResNet, levers: Levers) -> ResNet:
    """Multiply all parameters by c_PT and the early ones (stem + stages 1-3) by kappa, in place."""
    early = early_parameter_names(model)
    for name, p in model.named_parameters():
        p.mul_(levers.c_pt * (levers.kappa if name in early else 1.0))
    return model


def build_pretrain_model(config: ResNetConfig, num_classes: int, levers: Levers, seed: int) -> ResNet:
    """PT network: default init from ``seed``, then the c_PT and kappa levers."""
    torch.manual_seed(seed)
    return apply_pt_levers(ResNet(config, num_classes), levers)


@torch.no_grad()
def reset_readout(model: ResNet, num_classes: int, gamma_ft: float, seed: int) -> ResNet:
    """FT step: a fresh readout ``Linear(features, num_classes)`` (default init) times gamma_FT."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    fc = nn.Linear(model.n_features, num_classes)
    torch.random.set_rng_state(gen_state)
    fc.weight.mul_(gamma_ft)
    fc.bias.mul_(gamma_ft)
    model.fc = fc.to(device=next(model.parameters()).device)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
