"""Batched full-batch gradient descent of the diagonal network (B runs side by side).

Two protocols track gradient flow; both stop at ||X beta - y|| / ||y|| <= tol.

``gd``     plain gradient descent on ½||X beta - y||² (flow time = lr x steps); only the step
           size adapts.  One GD step moves each weight pair (w, v) of coordinate d by the
           relative amount s_d = lr (X^T r)_d, where the exact flow for the same s would rotate it
           hyperbolically; the two differ by s_d²/2, and each step multiplies the conserved c_d and
           lambda_d by exactly (1 - s_d²).  The step is therefore the largest with
           (a) max_d |s_d| <= ``path_tol`` (distance from the flow path per step), and
           (b) lr ||X diag(m) X^T|| <= ``kappa`` (m = (w+)² + (v+)² + (w-)² + (v-)², the tangent
           kernel diagonal; 2 is the stability limit; the estimate of the norm carries a 25% margin).
           Early, while the rich coordinates grow, (a) binds and the steps are small; once the
           residual is small, (b) binds and GD runs at the edge of monotone convergence, so
           mixed lazy/rich settings no longer pay the lazy scale's step for the whole run.
``mirror`` the same steps, but each one is the exact flow of the weights with the correlation
           s = X^T r frozen over the step: a hyperbolic rotation of (w, v) on each path, which
           keeps lambda+- and c exactly (up to rounding).  In beta it is mirror descent with the
           exact mirror map, so the end point is the flow minimiser at any stable step size
           (only (b) applies).
``accel``  Nesterov-accelerated mirror descent: the weights are always the exact rotation of the
           start weights by theta = X^T nu (so c and lambda+- are kept exactly), and nu takes
           Nesterov steps on the smooth dual F(nu) = sum_d q*(theta_d) - nu^T y whose gradient is
           X beta - y, restarted whenever a step goes uphill (gradient restart).  theta stays in
           the row space of X, so where X beta = y it is the minimiser of sum_d q_{c_d} among
           interpolators: the same end point as the flow (and as ``mirror``), in far fewer steps
           when the dual is ill-conditioned (rich coordinates: tiny c_d).
``paper``  the authors' protocol: torch's mean-squared error, lr 0.5, stop at train MSE <
           mse_threshold or when beta moves by < 1e-6 (relative) between two consecutive
           evaluations every ``eval_every`` steps.

Each method is an object of the :class:`empirical.methods.Method` protocol (step size, step,
stop test), looked up by name in the registry of :mod:`empirical.methods`; one divergence guard
(:mod:`empirical.guard`) stops any run whose weights are no longer finite.
Every run also stops at ``max_steps`` or after ``max_seconds`` of wall time (stop reasons
"max steps", "time budget"), and ``progress`` receives steps, the worst residual and an ETA.
Runs that finish are taken out of the batch at the next evaluation, so a sweep costs what its
slowest runs cost, not B times that.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import guard
from .methods import get_method
from .network import conserved, predictor

STOP_REASONS = ("converged", "threshold", "fixed point", "max steps", "time budget", "diverged")


@dataclass(frozen=True)
class GDConfig:
    """Settings of :func:`train`; defaults are those used in the tests and ``ptft simulate``."""

    method: str = "gd"
    kappa: float = 1.5             # gd/mirror: lr x ||X diag(m) X^T|| <= kappa (2 = stability limit); accel: 1/L
    path_tol: float = 3e-3         # gd: max_d |lr (X^T r)_d| per step (relative departure from flow)
    tol: float = 1e-7              # gd/mirror: relative train residual at which to stop
    lr: float = 0.5                # paper: learning rate on the mean-squared error
    mse_threshold: float = 1e-4    # paper: train MSE stop
    fixed_point_rtol: float = 1e-6  # paper: relative beta change between evaluations
    max_steps: int = 2_000_000
    max_seconds: float = 0.0       # wall-time budget of one train() call; 0: none
    eval_every: int = 0            # 0: the method's own (100 for gd/mirror/accel, 5000 for paper)

    def __post_init__(self):
        get_method(self.method)                  # InputError for a name nobody registered
        for name in ("kappa", "path_tol", "tol", "lr", "mse_threshold", "fixed_point_rtol"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        if self.kappa >= 2.0:
            raise ValueError(f"kappa must be < 2 (the stability limit of gradient descent), got {self.kappa}")
        if not (math.isfinite(self.max_seconds) and self.max_seconds >= 0):
            raise ValueError(f"max_seconds must be finite and >= 0, got {self.max_seconds}")
        if self.max_steps < 1 or self.eval_every < 0:
            raise ValueError("max_steps must be >= 1 and eval_every >= 0")

    @property
    def every(self) -> int:
        return self.eval_every or get_method(self.method).every


@dataclass(frozen=True)
class TrainResult:
    """Per-run outcome (numpy arrays with leading batch axis B)."""

    beta: np.ndarray           # (B, D) end point
    params: np.ndarray         # (4, B, D) end weights w+, v+, w-, v-
    steps: np.ndarray          # (B,) GD steps taken
    train_mse: np.ndarray      # (B,) mean squared train residual at the end
    rel_residual: np.ndarray   # (B,) ||X beta - y|| / ||y||
    drift: np.ndarray          # (B,) max relative change of lambda+-, c over the run
    stop_reason: tuple         # (B,) one of STOP_REASONS
    seconds: float = 0.0       # wall time of the call

    @property
    def converged(self) -> np.ndarray:
        return np.array([r in ("converged", "threshold", "fixed point") for r in self.stop_reason])


@dataclass(frozen=True)
class Progress:
    """What :func:`train` reports at each evaluation: runs finished, steps so far, the worst
    relative residual among live runs, and an ETA (s) extrapolated from its recent decay rate."""

    finished: int
    total: int
    steps: int
    worst_residual: float
    eta_s: float               # nan until two evaluations exist or while the residual is not falling

    def describe(self) -> str:
        eta = "?" if not math.isfinite(self.eta_s) else f"{self.eta_s:.0f}s"
        return f"step {self.steps}, residual {self.worst_residual:.1e}, ETA {eta}"


def _kernel_norm(X, m, v, iters: int = 8):
    """Power iteration for ||X diag(m) X^T||_2 per run, warm-started from ``v`` (B, N)."""
    for _ in range(iters):
        u = torch.bmm(X, (m * torch.bmm(v.unsqueeze(1), X).squeeze(1)).unsqueeze(-1)).squeeze(-1)
        v = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True).clamp(min=1e-300)
    est = torch.linalg.vector_norm(torch.bmm(X, (m * torch.bmm(v.unsqueeze(1), X).squeeze(1)).unsqueeze(-1)), dim=(1, 2))
    return est, v


class _StepRule:
    """lr per run from the correlation g = X^T r (B, D).

    Stability part: kappa / ||X diag(m) X^T|| (power iteration re-estimated at every evaluation,
    25% margin, never above kappa / (||X||² max m) x 4), scaled down between evaluations if max m
    grows (rich coordinates can grow fast).  ``path_tol`` (gd) adds the path part
    path_tol / max_d |g_d|."""

    def __init__(self, kappa, X, params, path_tol=None):
        self.kappa, self.path_tol = kappa, path_tol
        self.v = torch.ones(X.shape[:2], dtype=X.dtype, device=X.device)
        # ||X||_2^2 by power iteration (an SVD of a 2500 x 5000 design costs seconds per run)
        self.x_norm2, _ = _kernel_norm(X, torch.ones_like(X[:, 0]), self.v, iters=30)
        self.refresh(X, params)

    def refresh(self, X, params):
        m = (params * params).sum(dim=0)
        est, self.v = _kernel_norm(X, m, self.v)
        self.m_ref = m.amax(dim=-1)
        self.base = self.kappa / torch.maximum(1.25 * est, self.x_norm2 * self.m_ref / 4)

    def __call__(self, params, g):
        m_max = (params * params).sum(dim=0).amax(dim=-1)
        lr = self.base * torch.clamp(self.m_ref / m_max, max=1.0)
        if self.path_tol is not None:
            lr = torch.minimum(lr, self.path_tol / g.abs().amax(dim=-1).clamp(min=1e-300))
        return lr

    def keep(self, mask):
        self.x_norm2, self.v, self.m_ref, self.base = self.x_norm2[mask], self.v[mask], self.m_ref[mask], self.base[mask]


def _correlation(params, X, y):
    """g = X^T (y - X beta), shape (B, D): minus the gradient of ½||X beta - y||² in beta."""
    r = y - torch.bmm(X, predictor(params).unsqueeze(-1)).squeeze(-1)      # (B, N)
    return torch.bmm(r.unsqueeze(1), X).squeeze(1)


def _gd_step(params, s):
    """One simultaneous GD step on ½||X beta - y||² for all runs, s = lr g (B, D)."""
    wp, vp, wm, vm = params
    return torch.stack([wp + s * vp, vp + s * wp, wm - s * vm, vm - s * wm])


def _mirror_step(params, s):
    """Exact flow of dw/dt = s v, dv/dt = s w (and -s on the minus path) for frozen s."""
    ch, sh = torch.cosh(s), torch.sinh(s)
    wp, vp, wm, vm = params
    return torch.stack([wp * ch + vp * sh, vp * ch + wp * sh, wm * ch - vm * sh, vm * ch - wm * sh])


def _residuals(params, X, y):
    r = torch.bmm(X, predictor(params).unsqueeze(-1)).squeeze(-1) - y
    return r


# -- the built-in methods (protocol: empirical.methods.Method) --------------------------------
class _State:
    """Per-batch state of a method: named tensors with a leading run axis, plus the step rule."""

    def __init__(self, cfg, **tensors):
        self.cfg, self.rule, self.names = cfg, None, tuple(tensors)
        self.__dict__.update(tensors)

    def keep(self, mask):
        for name in self.names:
            setattr(self, name, getattr(self, name)[mask])
        if self.rule is not None:
            self.rule.keep(mask)


class _Residual:
    """Stop test of gd/mirror/accel: ||X beta - y|| / ||y|| <= tol."""

    every = 100

    def stop(self, state, params, X, y, rel, r):
        done = rel <= state.cfg.tol
        return done, ["converged"] * int(done.sum())

    def refresh(self, state, X, params):
        state.rule.refresh(X, params)

    def keep(self, state, mask):
        state.keep(mask)


class GradientDescent(_Residual):
    name, help = "gd", "gradient descent kept on the flow path"

    def start(self, cfg, X, y, params):
        state = _State(cfg)
        state.rule = _StepRule(cfg.kappa, X, params, path_tol=cfg.path_tol)
        return state

    def step_size(self, state, params, g):
        return state.rule(params, g)

    def step(self, state, params, X, y):
        g = _correlation(params, X, y)
        return _gd_step(params, self.step_size(state, params, g).unsqueeze(-1) * g)


class Mirror(GradientDescent):
    name, help = "mirror", "conservation-exact steps"

    def start(self, cfg, X, y, params):
        state = _State(cfg)
        state.rule = _StepRule(cfg.kappa, X, params)
        return state

    def step(self, state, params, X, y):
        g = _correlation(params, X, y)
        return _mirror_step(params, self.step_size(state, params, g).unsqueeze(-1) * g)


class Accelerated(Mirror):
    """Nesterov steps on the dual variable nu (B, N), the weights the exact rotation of the
    start weights by theta = X^T nu (see the module docstring)."""

    name, help = "accel", "Nesterov-accelerated mirror steps with restarts"
    kappa = 1.0                    # the step 1/L of an accelerated method (L: the curvature estimate)

    def start(self, cfg, X, y, params):
        B, n = y.shape
        zeros = torch.zeros_like(y)
        state = _State(cfg, params0=params.transpose(0, 1).clone(), theta=torch.zeros_like(params[0]),
                       theta_prev=torch.zeros_like(params[0]), nu=zeros, nu_prev=zeros.clone(),
                       k=torch.zeros(B, dtype=X.dtype, device=X.device))
        state.rule = _StepRule(min(cfg.kappa, self.kappa), X, params)
        return state

    def step(self, state, params, X, y):
        p0 = state.params0.transpose(0, 1)
        mu = (state.k / (state.k + 3.0)).unsqueeze(-1)
        theta_look = state.theta + mu * (state.theta - state.theta_prev)
        look = _mirror_step(p0, theta_look)
        r = y - torch.bmm(X, predictor(look).unsqueeze(-1)).squeeze(-1)         # (B, N) = -grad F
        g = torch.bmm(r.unsqueeze(1), X).squeeze(1)                             # X^T r
        lr = self.step_size(state, look, g)
        nu_new = state.nu + mu * (state.nu - state.nu_prev) + lr.unsqueeze(-1) * r
        uphill = (r * (nu_new - state.nu)).sum(dim=-1) < 0                      # gradient restart
        theta_new = theta_look + lr.unsqueeze(-1) * g
        state.theta_prev = torch.where(uphill.unsqueeze(-1), theta_new, state.theta)
        state.nu_prev = torch.where(uphill.unsqueeze(-1), nu_new, state.nu)
        state.theta, state.nu = theta_new, nu_new
        state.k = torch.where(uphill, torch.zeros_like(state.k), state.k + 1.0)
        return _mirror_step(p0, theta_new)


class Paper:
    """The authors' protocol: lr 0.5 on the mean-squared error, stop at train MSE < threshold or
    when beta moves by < fixed_point_rtol between two consecutive evaluations."""

    name, help, every = "paper", "the authors' protocol: lr 0.5 + threshold stop", 5000

    def target(self, cfg):
        return math.sqrt(cfg.mse_threshold)

    def start(self, cfg, X, y, params):
        state = _State(cfg, prev_beta=predictor(params),
                       calm=torch.zeros(y.shape[0], dtype=torch.int64, device=X.device))
        state.n = X.shape[1]
        return state

    def step_size(self, state, params, g):
        # F.mse_loss averages over N samples: its gradient is (2/N) times the summed one
        return torch.full(g.shape[:1], state.cfg.lr * 2.0 / state.n, dtype=g.dtype, device=g.device)

    def step(self, state, params, X, y):
        g = _correlation(params, X, y)
        return _gd_step(params, self.step_size(state, params, g).unsqueeze(-1) * g)

    def stop(self, state, params, X, y, rel, r):
        cfg, beta = state.cfg, predictor(params)
        mse_ok = (r * r).mean(dim=-1) < cfg.mse_threshold
        change = torch.linalg.vector_norm(beta - state.prev_beta, dim=-1) / \
            torch.linalg.vector_norm(beta, dim=-1).clamp(min=1e-300)
        state.calm = torch.where(change < cfg.fixed_point_rtol, state.calm + 1, torch.zeros_like(state.calm))
        done = mse_ok | (state.calm >= 2)
        reasons = ["threshold" if bool(m) else "fixed point" for m in mse_ok[done]]
        return done, reasons

    def refresh(self, state, X, params):
        state.prev_beta = predictor(params)

    def keep(self, state, mask):
        state.keep(mask)


class _Eta:
    """ETA from the decay rate of log(worst residual) per second between evaluations."""

    def __init__(self, tol):
        self.tol, self.last = tol, None

    def __call__(self, t, resid) -> float:
        prev, self.last = self.last, (t, resid)
        if prev is None or not (0 < resid < prev[1]) or t <= prev[0]:
            return math.nan
        rate = (math.log(prev[1]) - math.log(resid)) / (t - prev[0])
        return max(0.0, math.log(resid / self.tol) / rate)


def train(X, y, params, cfg: GDConfig = GDConfig(), *, progress=None) -> TrainResult:
    """Train B diagonal networks by full-batch GD from ``params`` (4, B, D) on ``X`` (B, N, D), ``y`` (B, N).

    ``progress``: optional callable(:class:`Progress`) called at every evaluation.
    """
    with _threads_for(X):
        return _train(X, y, params, cfg, progress)


def _train(X, y, params, cfg, progress) -> TrainResult:
    import time

    t_start = time.perf_counter()
    X, y, params = X.to(torch.float64), y.to(torch.float64), params.to(torch.float64).clone()
    B, n, _ = X.shape
    X_full, y_full = X, y
    start = conserved(params)
    method = get_method(cfg.method)
    state = method.start(cfg, X, y, params)
    y_norm = torch.linalg.vector_norm(y, dim=-1).clamp(min=1e-300)
    out_params = params.clone()
    steps = np.zeros(B, dtype=np.int64)
    reasons = ["max steps"] * B
    idx = torch.arange(B, device=X.device)               # original index of each live run
    done_steps = 0
    eta = _Eta(getattr(method, "target", lambda c: c.tol)(cfg))     # the residual the ETA aims at
    while idx.numel() and done_steps < cfg.max_steps:
        chunk = min(cfg.every, cfg.max_steps - done_steps)
        for _ in range(chunk):
            params = method.step(state, params, X, y)
        done_steps += chunk
        finished, resid = _stop_flags(method, state, params, X, y, y_norm, reasons, idx)
        steps[idx.cpu().numpy()] = done_steps
        out_params[:, idx] = params
        keep = ~finished
        elapsed = time.perf_counter() - t_start
        if cfg.max_seconds and elapsed >= cfg.max_seconds:
            for i in idx[keep].tolist():
                reasons[i] = "time budget"
            keep = torch.zeros_like(keep)
        worst = float(resid[keep].max()) if bool(keep.any()) else 0.0
        if not bool(keep.all()):
            idx, params, X, y, y_norm = idx[keep], params[:, keep], X[keep], y[keep], y_norm[keep]
            method.keep(state, keep)
        if idx.numel():
            method.refresh(state, X, params)
        if progress is not None:
            progress(Progress(B - idx.numel(), B, done_steps, worst, eta(elapsed, worst)))
    return _finalise(out_params, X_full, y_full, steps, reasons, start, time.perf_counter() - t_start)


def _threads_for(X):
    """One torch thread for a small CPU batch (thread start-up costs more than the product), torch's
    own count otherwise; restored on exit."""
    import contextlib

    if X.device.type != "cpu" or X.numel() >= _SMALL_BATCH:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def one():
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)
    return one()


_SMALL_BATCH = 2_000_000       # elements of X (B N D) below which one thread is fastest (bench_speed)


def _stop_flags(method, state, params, X, y, y_norm, reasons, idx):
    """Evaluate the stop rules for the live runs; records reasons and returns (done (B_live,) bool,
    the relative residual (B_live,))."""
    r = _residuals(params, X, y)
    rel = torch.linalg.vector_norm(r, dim=-1) / y_norm
    bad = guard.diverged(predictor(params), per_run=True)
    done, labels = method.stop(state, params, X, y, rel, r)
    for j, label in zip(torch.nonzero(done).flatten().tolist(), labels):
        reasons[int(idx[j])] = label
    for j in torch.nonzero(bad).flatten().tolist():
        reasons[int(idx[j])] = "diverged"
    return done | bad, torch.nan_to_num(rel, nan=math.inf)


def _finalise(params, X, y, steps, reasons, start, seconds) -> TrainResult:
    r = _residuals(params, X, y)
    rel = torch.linalg.vector_norm(r, dim=-1) / torch.linalg.vector_norm(y, dim=-1).clamp(min=1e-300)
    drift = conserved(params).relative_drift(start)
    return TrainResult(beta=predictor(params).cpu().numpy(), params=params.cpu().numpy(), steps=steps,
                       train_mse=(r * r).mean(dim=-1).cpu().numpy(), rel_residual=rel.cpu().numpy(),
                       drift=drift.cpu().numpy(), stop_reason=tuple(reasons), seconds=seconds)
