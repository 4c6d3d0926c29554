"""Batched full-batch gradient descent of the diagonal network (B runs side by side).

Two protocols:

``gd``    tracks gradient flow.  Loss ½||X beta - y||² (a sum: flow time = lr x steps) and an
          adaptive step lr_b = kappa / (||X_b||_2² max_d m_bd), where m_d = |dbeta_d/dparams|²
          = (w+)² + (v+)² + (w-)² + (v-)² is the network's tangent-kernel diagonal, so
          ``lr · X diag(m) X^T`` stays below ``kappa`` (a large fixed step measurably changes the
          implicit bias; PAPER_NOTES.md 6.1).  Stops at ||r|| / ||y|| <= tol.
``mirror`` the same steps, but each one is the exact flow of the network's ODE with the
          correlation s = X^T r frozen over the step: a hyperbolic rotation of (w, v) on each
          path, which keeps lambda+- and c exactly (up to rounding).  In beta it is mirror
          descent with the exact mirror map, grad Q(beta_t+1) - grad Q(beta_t) = lr X^T r_t, so
          grad Q(beta) stays in the row space of X and the end point is the flow minimiser at
          any stable step size; only the path differs from flow.
``paper`` the authors' protocol (PAPER_NOTES.md 6.1): torch's mean-squared error, lr 0.5, stop at
          train MSE < mse_threshold or when beta moves by < 1e-6 (relative) between two
          consecutive evaluations every ``eval_every`` steps.

Runs that finish are taken out of the batch at the next evaluation, so a sweep costs what its
slowest runs cost, not B times that.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .network import conserved, predictor

METHODS = ("gd", "mirror", "paper")


@dataclass(frozen=True)
class GDConfig:
    """Settings of :func:`train`; defaults are those used in the tests and ``ptft simulate``."""

    method: str = "gd"
    kappa: float = 0.0             # gd/mirror: lr x ||X diag(m) X^T||; 0: 0.05 (gd), 0.5 (mirror)
    tol: float = 1e-7              # gd: relative train residual at which to stop
    lr: float = 0.5                # paper: learning rate on the mean-squared error
    mse_threshold: float = 1e-4    # paper: train MSE stop
    fixed_point_rtol: float = 1e-6  # paper: relative beta change between evaluations
    max_steps: int = 2_000_000
    eval_every: int = 0            # 0: 100 for gd, 5000 for paper

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.kappa == 0.0:
            object.__setattr__(self, "kappa", 0.05 if self.method == "gd" else 0.5)
        for name in ("kappa", "tol", "lr", "mse_threshold", "fixed_point_rtol"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        if self.max_steps < 1 or self.eval_every < 0:
            raise ValueError("max_steps must be >= 1 and eval_every >= 0")

    @property
    def every(self) -> int:
        return self.eval_every or (5000 if self.method == "paper" else 100)


@dataclass(frozen=True)
class TrainResult:
    """Per-run outcome (numpy arrays with leading batch axis B)."""

    beta: np.ndarray           # (B, D) end point
    params: np.ndarray         # (4, B, D) end weights w+, v+, w-, v-
    steps: np.ndarray          # (B,) GD steps taken
    train_mse: np.ndarray      # (B,) mean squared train residual at the end
    rel_residual: np.ndarray   # (B,) ||X beta - y|| / ||y||
    drift: np.ndarray          # (B,) max relative change of lambda+-, c over the run
    stop_reason: tuple         # (B,) "converged" | "threshold" | "fixed point" | "max steps" | "diverged"

    @property
    def converged(self) -> np.ndarray:
        return np.array([r in ("converged", "threshold", "fixed point") for r in self.stop_reason])


def _kernel_norm(X, m, v, iters: int = 8):
    """Power iteration for ||X diag(m) X^T||_2 per run, warm-started from ``v`` (B, N)."""
    for _ in range(iters):
        u = torch.bmm(X, (m * torch.bmm(v.unsqueeze(1), X).squeeze(1)).unsqueeze(-1)).squeeze(-1)
        v = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True).clamp(min=1e-300)
    est = torch.linalg.vector_norm(torch.bmm(X, (m * torch.bmm(v.unsqueeze(1), X).squeeze(1)).unsqueeze(-1)), dim=(1, 2))
    return est, v


class _StepRule:
    """lr per run.  gd: kappa / ||X diag(m) X^T|| (power iteration, re-estimated at every
    evaluation, 25% margin), scaled down between evaluations if max m grows (rich-regime
    coordinates can grow fast), never above kappa / (||X||² max m) x 4."""

    def __init__(self, cfg, X, params):
        self.cfg, self.n = cfg, X.shape[1]
        self.v = torch.ones(X.shape[:2], dtype=X.dtype, device=X.device)
        # ||X||_2^2 by power iteration (an SVD of a 2500 x 5000 design costs seconds per run)
        self.x_norm2, _ = _kernel_norm(X, torch.ones_like(X[:, 0]), self.v, iters=30)
        self.refresh(X, params)

    def refresh(self, X, params):
        if self.cfg.method != "paper":
            m = (params * params).sum(dim=0)
            est, self.v = _kernel_norm(X, m, self.v)
            self.m_ref = m.amax(dim=-1)
            self.base = self.cfg.kappa / torch.maximum(1.25 * est, self.x_norm2 * self.m_ref / 4)

    def __call__(self, params):
        if self.cfg.method == "paper":
            # F.mse_loss averages over N samples: its gradient is (2/N) times the summed one
            return torch.full_like(self.x_norm2, self.cfg.lr * 2.0 / self.n)
        m_max = (params * params).sum(dim=0).amax(dim=-1)
        return self.base * torch.clamp(self.m_ref / m_max, max=1.0)

    def keep(self, mask):
        self.x_norm2, self.v = self.x_norm2[mask], self.v[mask]
        if self.cfg.method != "paper":
            self.m_ref, self.base = self.m_ref[mask], self.base[mask]


def _scaled_correlation(params, X, y, lr):
    """lr * X^T (y - X beta), shape (B, D)."""
    r = y - torch.bmm(X, predictor(params).unsqueeze(-1)).squeeze(-1)      # (B, N)
    return torch.bmm(r.unsqueeze(1), X).squeeze(1) * lr.unsqueeze(-1)


def _gd_step(params, X, y, lr):
    """One simultaneous GD step on ½||X beta - y||² for all runs (lr is (B,))."""
    s = _scaled_correlation(params, X, y, lr)
    wp, vp, wm, vm = params
    return torch.stack([wp + s * vp, vp + s * wp, wm - s * vm, vm - s * wm])


def _mirror_step(params, X, y, lr):
    """Exact flow of dw/dt = s v, dv/dt = s w (and -s on the minus path) for frozen s."""
    s = _scaled_correlation(params, X, y, lr)
    ch, sh = torch.cosh(s), torch.sinh(s)
    wp, vp, wm, vm = params
    return torch.stack([wp * ch + vp * sh, vp * ch + wp * sh, wm * ch - vm * sh, vm * ch - wm * sh])


def _residuals(params, X, y):
    r = torch.bmm(X, predictor(params).unsqueeze(-1)).squeeze(-1) - y
    return r


def train(X, y, params, cfg: GDConfig = GDConfig(), *, progress=None) -> TrainResult:
    """Train B diagonal networks by full-batch GD from ``params`` (4, B, D) on ``X`` (B, N, D), ``y`` (B, N).

    ``progress``: optional callable(n_finished) called at every evaluation (for progress bars).
    """
    X, y, params = X.to(torch.float64), y.to(torch.float64), params.to(torch.float64).clone()
    B, n, _ = X.shape
    X_full, y_full = X, y
    start = conserved(params)
    rule = _StepRule(cfg, X, params)
    step = _mirror_step if cfg.method == "mirror" else _gd_step
    y_norm = torch.linalg.vector_norm(y, dim=-1).clamp(min=1e-300)
    out_params = params.clone()
    steps = np.zeros(B, dtype=np.int64)
    reasons = ["max steps"] * B
    idx = torch.arange(B, device=X.device)               # original index of each live run
    prev_beta, calm = predictor(params), torch.zeros(B, dtype=torch.int64, device=X.device)
    done_steps = 0
    while idx.numel() and done_steps < cfg.max_steps:
        chunk = min(cfg.every, cfg.max_steps - done_steps)
        for _ in range(chunk):
            params = step(params, X, y, rule(params))
        done_steps += chunk
        finished = _stop_flags(cfg, params, X, y, y_norm, n, prev_beta, calm, reasons, idx)
        steps[idx.cpu().numpy()] = done_steps
        out_params[:, idx] = params
        keep = ~finished
        if not bool(keep.all()):
            idx, params, X, y = idx[keep], params[:, keep], X[keep], y[keep]
            y_norm, calm = y_norm[keep], calm[keep]
            rule.keep(keep)
        if idx.numel():
            rule.refresh(X, params)
        prev_beta = predictor(params)
        if progress is not None:
            progress(B - idx.numel())
    return _finalise(out_params, X_full, y_full, steps, reasons, start)


def _stop_flags(cfg, params, X, y, y_norm, n, prev_beta, calm, reasons, idx):
    """Evaluate the stop rules for the live runs; records reasons and returns a (B_live,) bool."""
    r = _residuals(params, X, y)
    beta = predictor(params)
    diverged = ~torch.isfinite(beta).all(dim=-1)
    if cfg.method != "paper":
        done = torch.linalg.vector_norm(r, dim=-1) / y_norm <= cfg.tol
        labels = {True: "converged"}
    else:
        mse_ok = (r * r).mean(dim=-1) < cfg.mse_threshold
        change = torch.linalg.vector_norm(beta - prev_beta, dim=-1) / \
            torch.linalg.vector_norm(beta, dim=-1).clamp(min=1e-300)
        calm += (change < cfg.fixed_point_rtol).long()
        calm[change >= cfg.fixed_point_rtol] = 0
        fixed = calm >= 2
        done = mse_ok | fixed
        labels = None
    for j in torch.nonzero(done | diverged).flatten().tolist():
        i = int(idx[j])
        if bool(diverged[j]):
            reasons[i] = "diverged"
        elif labels:
            reasons[i] = "converged"
        else:
            reasons[i] = "threshold" if bool(mse_ok[j]) else "fixed point"
    return done | diverged


def _finalise(params, X, y, steps, reasons, start) -> TrainResult:
    r = _residuals(params, X, y)
    rel = torch.linalg.vector_norm(r, dim=-1) / torch.linalg.vector_norm(y, dim=-1).clamp(min=1e-300)
    drift = conserved(params).relative_drift(start)
    return TrainResult(beta=predictor(params).cpu().numpy(), params=params.cpu().numpy(), steps=steps,
                       train_mse=(r * r).mean(dim=-1).cpu().numpy(), rel_residual=rel.cpu().numpy(),
                       drift=drift.cpu().numpy(), stop_reason=tuple(reasons))
