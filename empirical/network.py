"""The plus/minus two-layer diagonal linear network (see docs/theory.md, "Model").

    f(x) = beta^T x,    beta_d = w_d^+ v_d^+ - w_d^- v_d^-

``w^+-`` is the first layer (kept after pretraining), ``v^+-`` the readout (re-initialised for
fine-tuning).  Under gradient flow three numbers per coordinate are conserved:

    lambda_d^+- = (w_d^+-)^2 - (v_d^+-)^2,    c_d = w_d^+ w_d^- + v_d^+ v_d^-.

Parameters are held as one float64 tensor ``(4, B, D)`` (order w+, v+, w-, v-): B runs of a
sweep side by side, so a training step is a handful of batched tensor operations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from symbolic.registry import check

W_POS, V_POS, W_NEG, V_NEG = range(4)


@dataclass(frozen=True)
class Conserved:
    """Per-coordinate conserved quantities, each ``(B, D)``: lambda^+ (λ⁺), lambda^- (λ⁻), c."""

    lambda_pos: torch.Tensor
    lambda_neg: torch.Tensor
    c: torch.Tensor

    def relative_drift(self, start: "Conserved") -> torch.Tensor:
        """max_d |q(t) - q(0)| / max(|q(0)|, tiny) over the three quantities, per run ``(B,)``."""
        def rel(a, b):
            scale = torch.clamp(b.abs(), min=1e-300)
            return ((a - b).abs() / scale).amax(dim=-1)
        return torch.stack([rel(self.lambda_pos, start.lambda_pos), rel(self.lambda_neg, start.lambda_neg),
                            rel(self.c, start.c)]).amax(dim=0)


def predictor(params: torch.Tensor) -> torch.Tensor:
    """beta = w+ v+ - w- v-, shape ``(B, D)``."""
    return params[W_POS] * params[V_POS] - params[W_NEG] * params[V_NEG]


def conserved(params: torch.Tensor) -> Conserved:
    """The conserved quantities of ``params`` (each is constant along gradient flow)."""
    wp, vp, wm, vm = params
    return Conserved(wp * wp - vp * vp, wm * wm - vm * vm, wp * wm + vp * vm)


def pt_init(c_pt: float, lambda_pt: float, shape, *, device=None) -> torch.Tensor:
    """The homogeneous PT initialisation (c_PT, λ_PT absolute, |λ_PT| <= c_PT): beta(0) = 0.

    w^+- = sqrt((c_PT + λ_PT)/2), v^+- = sqrt((c_PT - λ_PT)/2).
    """
    _check_scales(c_pt, lambda_pt)
    w = math.sqrt(max(c_pt + lambda_pt, 0.0) / 2)
    v = math.sqrt(max(c_pt - lambda_pt, 0.0) / 2)
    params = torch.empty((4, *shape), dtype=torch.float64, device=device)
    params[W_POS] = params[W_NEG] = w
    params[V_POS] = params[V_NEG] = v
    return params


def oracle_pt_state(beta_pt, c_pt, lambda_pt, *, device=None) -> torch.Tensor:
    """The PT end state for PT end point ``beta_pt`` on the conserved orbit of ``pt_init``.

    Infinite PT data ("oracle PT"): gradient flow ends exactly at beta_PT, and because c and
    λ^+- are conserved the four weights are a function of beta_PT alone,
    derived in ``symbolic.transfer``.  ``beta_pt`` is ``(B, D)`` or ``(D,)``; ``c_pt`` and
    ``lambda_pt`` are scalars or broadcast against it (e.g. ``(B, 1)``: one setting per run).
    """
    from numerics.transfer import pt_end_state

    for c, lam in np.broadcast(np.asarray(c_pt, float), np.asarray(lambda_pt, float)):
        _check_scales(float(c), float(lam))
    beta = beta_pt.detach().cpu().numpy() if isinstance(beta_pt, torch.Tensor) else np.asarray(beta_pt, float)
    wp, vp, wm, vm = pt_end_state(beta, c_pt, lambda_pt)
    return torch.from_numpy(np.stack([wp, vp, wm, vm]).astype(np.float64)).to(device)


def ft_reinit(pt_params: torch.Tensor, gamma_ft) -> torch.Tensor:
    """Fine-tuning start : first layer merged, readout reset to γ_FT/√2.

    w^+-(0) = w^+(PT) + w^-(PT),  v^+-(0) = γ_FT/√2, so beta(0) = 0, λ^+ = λ^- and
    c_FT,d = (w^+ + w^-)^2 + γ_FT^2/2.  ``gamma_ft`` is a scalar or broadcasts against (B, D).
    """
    gamma = torch.as_tensor(gamma_ft, dtype=pt_params.dtype, device=pt_params.device)
    for g in torch.unique(gamma.detach().cpu()).tolist():
        check("gamma_ft", g)
    params = torch.empty_like(pt_params)
    params[W_POS] = params[W_NEG] = pt_params[W_POS] + pt_params[W_NEG]
    params[V_POS] = params[V_NEG] = gamma / math.sqrt(2.0)
    return params


def _check_scales(c_pt: float, lambda_pt: float) -> None:
    """c_PT and lambda_PT (absolute) by the rules of the parameter registry."""
    from symbolic.registry import check, check_lambda

    check_lambda(check("c_pt", c_pt), check("lambda_pt", lambda_pt), relative=False)
