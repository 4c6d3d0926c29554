"""Sweeps of real fine-tuning runs against the replica prediction.

A sweep is settings (Task, Init) x alphas x seeds.  For each alpha (one sample size N) all
(setting, seed) runs are stacked into batches of shape (B, N, D) that fit ``batch_bytes`` and
fine-tuned together by one of

``flow``    the gradient-flow end point: the exact minimiser of the implicit-bias program with
            the per-coordinate constants c_d read off the network after the FT re-init
            (``empirical.flow``, batched dual Newton);
``mirror``  network training with conservation-exact steps (same end point as flow);
``gd``      plain full-batch gradient descent, each step the largest that stays within a path
            tolerance of the flow and the stability bound (``empirical.train``);
``paper``   the authors' protocol (lr 0.5 on the mean-squared error, threshold stop).

Pretraining is the oracle (beta_PT = PT teacher, weights on the conserved orbit) unless
``alpha_pt`` is given: then the network is really pretrained on round(alpha_pt D) samples of
the PT teacher: with ``flow`` to the flow end point (min sum q_{c_PT} s.t. X_PT beta = y_PT,
weights on the orbit), with a training method by training the network itself from the PT
initialisation.  The theory column is then the nested replica of ``replica.imperfect``.

The design X depends only on (seed, N), so one draw serves every setting of a batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from replica.params import Init, Task, check_alphas
from replica.solver import ptft_classes

from .flow import min_q_interpolant, min_q_interpolant_torch
from .network import conserved, ft_reinit, oracle_pt_state, pt_init
from .tasks import GROUP_NAMES, label_noise, sample_design, sample_teacher
from .train import GDConfig, train
from symbolic.registry import ParameterError, check
from symbolic.errors import InputError

def methods() -> tuple[str, ...]:
    """'flow' (the exact end point) and every registered training method (``empirical.methods``)."""
    from .methods import method_names

    return ("flow",) + method_names()


_PT_STREAM = 7_000_003          # seed offset of the PT design (never equal to an FT stream)


@dataclass(frozen=True)
class Setting:
    """One (task, initialisation) pair of a sweep, with a label for tables and legends."""

    task: Task
    init: Init
    label: str = ""


@dataclass(frozen=True)
class SimConfig:
    """How to simulate: dimension D, seeds, FT method, device, PT mode, batch memory."""

    dim: int = 1000
    seeds: tuple = tuple(range(10))
    method: str = "flow"
    device: str = "auto"
    alpha_pt: float | None = None
    gd: GDConfig | None = None
    batch_bytes: int = 0          # 0: 16 MiB on CPU (cache-sized; bigger batches were slower), 2 GiB on CUDA
    flow_tol: float = 1e-10

    def __post_init__(self):
        if check("dim", self.dim) < 10:
            raise ParameterError(f"dim must be >= 10 for a simulation sweep, got {self.dim}")
        seeds = tuple(check("seed", s) for s in self.seeds)
        if not seeds or len(set(seeds)) != len(seeds):
            raise ParameterError("seeds must be distinct integers >= 0 (at least one)")
        object.__setattr__(self, "seeds", seeds)
        if self.method not in methods():
            raise InputError(f"method must be one of {', '.join(methods())}, got {self.method!r}")
        if self.alpha_pt is not None:
            object.__setattr__(self, "alpha_pt", check("alpha_pt", self.alpha_pt))
        object.__setattr__(self, "device", resolve_device(self.device))
        if self.batch_bytes <= 0:
            object.__setattr__(self, "batch_bytes", (2 << 30) if self.device.startswith("cuda") else (16 << 20))

    @property
    def gd_config(self) -> GDConfig:
        if self.gd is not None:
            return self.gd
        return GDConfig(method=self.method if self.method != "flow" else "gd")


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when available else 'cpu'; a CUDA request without a GPU is an error."""
    from .device import resolve_device as _resolve

    return str(_resolve(device))


@dataclass(frozen=True)
class _Run:
    setting: int
    seed: int


# -- one batch ------------------------------------------------------------------------------

def _teachers(settings, runs, dim):
    out = [sample_teacher(dim, settings[r.setting].task.rho_pt, settings[r.setting].task.rho_ft,
                          settings[r.setting].task.omega, settings[r.setting].task.a_pt,
                          settings[r.setting].task.teacher, r.seed) for r in runs]
    return [np.stack(a) for a in zip(*out)]          # beta_star, beta_pt, group: (B, D) each


def _pt_designs(runs, cfg):
    n_pt = max(1, int(round(cfg.alpha_pt * cfg.dim)))
    return [sample_design(cfg.dim, n_pt, r.seed + _PT_STREAM) for r in runs]


def _pt_states(settings, runs, beta_pt, cfg):
    """PT end weights (4, B, D): the oracle, or pretraining on round(alpha_pt D) samples.

    With ``method='flow'`` finite-data PT goes to its exact flow end point (dual Newton) and the
    weights are that end point's on the conserved orbit; with a training method the network
    itself is pretrained from the PT initialisation by the same method as fine-tuning.
    """
    inits = [settings[r.setting].init for r in runs]
    c_pt = np.array([[i.c_pt] for i in inits])                 # (B, 1): one setting per run
    lam = np.array([[i.lambda_abs] for i in inits])
    if cfg.alpha_pt is None:
        return oracle_pt_state(beta_pt, c_pt, lam)
    designs = _pt_designs(runs, cfg)
    if cfg.method == "flow":
        ends = np.stack([min_q_interpolant(X, X @ beta_pt[b], c_pt[b, 0], tol=cfg.flow_tol).beta
                         for b, X in enumerate(designs)])
        return oracle_pt_state(ends, c_pt, lam)
    X = torch.from_numpy(np.stack(designs)).to(cfg.device)
    y = torch.bmm(X, torch.from_numpy(beta_pt).to(cfg.device).unsqueeze(-1)).squeeze(-1)
    start = torch.cat([pt_init(i.c_pt, i.lambda_abs, (1, cfg.dim), device=cfg.device) for i in inits], dim=1)
    return torch.from_numpy(train(X, y, start, cfg.gd_config).params)


def _ft_start(settings, runs, pt_params, device):
    gamma = torch.tensor([[settings[r.setting].init.gamma_ft] for r in runs], dtype=torch.float64)
    return ft_reinit(pt_params, gamma).to(device)          # (4, B, D)


def _finetune(X, y, params, cfg, show=None):
    """End points (B, D) and per-run diagnostics for one batch (``show``: training progress)."""
    B = X.shape[0]
    if cfg.method != "flow":
        res = train(X, y, params, cfg.gd_config, progress=show)
        return res.beta, dict(steps=res.steps, drift=res.drift, train_mse=res.train_mse,
                              rel_residual=res.rel_residual, stop_reason=list(res.stop_reason),
                              converged=res.converged)
    c = conserved(params).c
    dead = c <= 0            # lambda_PT = -c_PT and gamma_FT = 0: the coordinate can never move
    Xf = X
    if bool(dead.any()):     # drop dead columns (a copy of X only when there are any)
        Xf = X.masked_fill(dead.unsqueeze(1), 0.0)
        c = torch.where(dead, torch.ones_like(c), c)
    if X.shape[1] < X.shape[2]:
        sol = min_q_interpolant_torch(Xf, y, c, tol=cfg.flow_tol, device=X.device, on_fail="warn")
        beta, iters, res, conv = sol.beta, sol.iterations, sol.residual, sol.converged
    else:
        sols = [min_q_interpolant(Xf[b].cpu().numpy(), y[b].cpu().numpy(), c[b].cpu().numpy(),
                                  tol=cfg.flow_tol, on_fail="warn") for b in range(B)]
        beta = np.stack([s.beta for s in sols])
        iters = np.array([s.iterations for s in sols])
        res = np.array([s.residual for s in sols])
        conv = np.array([s.converged for s in sols])
    beta = np.where(dead.cpu().numpy(), 0.0, beta)
    return beta, dict(steps=iters, drift=np.zeros(B), train_mse=np.full(B, np.nan), rel_residual=res,
                      stop_reason=["converged" if ok else "not converged" for ok in conv], converged=conv)


def _batch_rows(settings, runs, alpha, cfg, show=None):
    n = max(1, int(round(alpha * cfg.dim)))
    beta_star, beta_pt, group = _teachers(settings, runs, cfg.dim)
    designs = {s: sample_design(cfg.dim, n, s) for s in {r.seed for r in runs}}
    X = np.stack([designs[r.seed] for r in runs])
    y = np.einsum("bnd,bd->bn", X, beta_star)
    noise = np.array([settings[r.setting].task.noise for r in runs])
    if noise.any():
        y = y + noise[:, None] * np.stack([label_noise(n, r.seed) for r in runs])
    params = _ft_start(settings, runs, _pt_states(settings, runs, beta_pt, cfg).cpu(), cfg.device)
    dev = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(cfg.device)   # noqa: E731
    beta, diag = _finetune(dev(X), dev(y), params, cfg, show)
    return _rows(settings, runs, alpha, n, cfg, beta, beta_star, group, diag)


def _rows(settings, runs, alpha, n, cfg, beta, beta_star, group, diag):
    sq = (beta - beta_star) ** 2
    rows = []
    for b, r in enumerate(runs):
        s = settings[r.setting]
        row = dict(setting=r.setting, label=s.label, **_setting_columns(s), alpha=alpha, n_samples=n,
                   dim=cfg.dim, seed=r.seed, method=cfg.method,
                   alpha_pt=np.nan if cfg.alpha_pt is None else cfg.alpha_pt,
                   gen_error=float(sq[b].mean()))
        for g, name in enumerate(GROUP_NAMES):
            mask = group[b] == g
            row[f"err_{name}"] = float(sq[b][mask].mean()) if mask.any() else np.nan
        row.update({k: v[b] for k, v in diag.items()})
        row["active_fraction"] = float((np.abs(beta[b]) > 1e-6).mean())
        rows.append(row)
    return rows


def _setting_columns(s: Setting) -> dict:
    t, i = s.task, s.init
    return dict(rho_pt=t.rho_pt, rho_ft=t.rho_ft, omega=t.omega, a_pt=t.a_pt, teacher=t.teacher,
                noise=t.noise, c_pt=i.c_pt, lambda_pt=i.lambda_abs, gamma_ft=i.gamma_ft)


# -- the sweep ------------------------------------------------------------------------------

def _batches(runs, n, cfg):
    per_run = 8 * n * cfg.dim * 3 + 8 * n * n * 2      # X (+ masked copy, temporaries) + Hessian
    size = max(1, int(cfg.batch_bytes // per_run))
    return [runs[i:i + size] for i in range(0, len(runs), size)]


def simulate(settings, alphas, cfg: SimConfig = SimConfig(), *, progress: bool = True) -> pd.DataFrame:
    """Fine-tune every (setting, alpha, seed) and return one row per run (pandas).

    Columns: the setting's parameters, alpha, n_samples, dim, seed, method, gen_error
    (= ||beta_hat - beta*||² / D), err_<group> (mean squared error per coordinate of each
    group), steps, drift (max relative change of the conserved quantities), train_mse,
    rel_residual, stop_reason, converged, active_fraction.
    """
    from tqdm.auto import tqdm

    settings = [s if isinstance(s, Setting) else Setting(*s) for s in settings]
    alphas = check_alphas(alphas)
    for s in settings:          # the theory's own validation (e.g. c_FT = 0) before any training
        ptft_classes(s.task, s.init)
    runs = [_Run(i, seed) for i in range(len(settings)) for seed in cfg.seeds]
    rows = []
    with tqdm(total=len(runs) * len(alphas), disable=not progress, unit="run",
              desc=f"ptft simulate ({cfg.method}, D={cfg.dim}, {cfg.device})") as bar:
        def show(p):          # per-batch training progress: steps, worst residual, ETA
            bar.set_postfix_str(f"alpha {alpha:g}: {p.finished}/{p.total} done, {p.describe()}", refresh=True)
        for alpha in alphas:
            n = max(1, int(round(alpha * cfg.dim)))
            for batch in _batches(runs, n, cfg):
                rows.extend(_batch_rows(settings, batch, alpha, cfg, show))
                bar.update(len(batch))
    return pd.DataFrame(rows)


# gen_error below which a spread between seeds is float64 rounding, not statistics: the teacher's
# mean square coordinate is 1, and a trained weight is exact to ~1e-10 at best, so at exact recovery
# (theory 0) every seed lands on 1e-30..1e-20 and a z-score of that spread would read as a failure
ROUNDING_FLOOR = 1e-20
MIN_SEEDS_FOR_SE = 10     # below this the standard error is itself too noisy to read z at face value


def summarize(runs: pd.DataFrame, *, theory=True) -> pd.DataFrame:
    """Per (setting, alpha): mean gen_error, its standard error and a 95% interval from the
    t-distribution with n_runs - 1 degrees of freedom (a normal interval is too narrow for a
    few seeds: t_0.975 is 4.30 at 3 seeds, 2.26 at 10), the number of runs, and (``theory``)
    the replica prediction with z = (mean - theory) / SE and its two-sided t p-value.
    ``theory`` may instead be a function that adds the ``theory`` column to the summary frame
    (another estimator's prediction, e.g. :func:`empirical.amp.summarize_amp`).

    z and p are NaN where they mean nothing: a single run, or an SE at rounding level
    (<= 1e-12 of the error, or <= ROUNDING_FLOOR: exact recovery in every seed).  Rows from separate calls with
    disjoint seeds (``SimConfig.seeds``) can be concatenated before summarising: the result is
    that of one call with all the seeds.
    """
    from scipy import stats

    keys = ["setting", "label", "rho_pt", "rho_ft", "omega", "a_pt", "teacher", "noise", "c_pt",
            "lambda_pt", "gamma_ft", "alpha_pt", "alpha"]
    if runs.duplicated(keys + ["seed"]).any():
        raise InputError("the runs repeat a (setting, alpha, seed): merge runs with disjoint seeds")
    grouped = runs.groupby(keys, sort=False, dropna=False)
    out = grouped.agg(gen_error=("gen_error", "mean"), sd=("gen_error", "std"), n_runs=("gen_error", "size"),
                      n_converged=("converged", "sum"), max_drift=("drift", "max")).reset_index()
    out["se"] = out.pop("sd") / np.sqrt(out["n_runs"])
    dof = (out["n_runs"] - 1).to_numpy()
    t975 = np.where(dof >= 1, stats.t.ppf(0.975, np.maximum(dof, 1)), np.nan)
    out["ci_low"] = out["gen_error"] - t975 * out["se"]
    out["ci_high"] = out["gen_error"] + t975 * out["se"]
    if theory:
        out = (_with_theory if theory is True else theory)(out)
        scale = np.maximum(out["gen_error"].abs(), out["theory"].abs())
        meaningful = (dof >= 1) & (out["se"] > np.maximum(1e-12 * scale, ROUNDING_FLOOR))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (out["gen_error"] - out["theory"]) / out["se"]
        out["z"] = np.where(meaningful, z, np.nan)
        out["p_value"] = np.where(meaningful, 2 * stats.t.sf(np.abs(z), np.maximum(dof, 1)), np.nan)
    return out


def few_seeds_warning(n_seeds: int) -> str | None:
    """The caveat to print when a summary rests on fewer than MIN_SEEDS_FOR_SE seeds."""
    if n_seeds >= MIN_SEEDS_FOR_SE:
        return None
    from scipy import stats

    t = stats.t.ppf(0.975, max(n_seeds - 1, 1))
    return (f"{n_seeds} seeds: the standard error is itself uncertain below {MIN_SEEDS_FOR_SE} seeds, "
            f"so |z| > 2 is not unusual; the 95% interval uses t = {t:.2f} (not 1.96)")


def _with_theory(out: pd.DataFrame) -> pd.DataFrame:
    from replica import solve
    from replica.imperfect import solve_imperfect_pt

    pred = np.full(len(out), np.nan)
    conv = np.zeros(len(out), dtype=bool)
    for _, part in out.groupby("setting", sort=False):
        row = part.iloc[0]
        task = Task(rho_pt=row.rho_pt, rho_ft=row.rho_ft, omega=row.omega, a_pt=row.a_pt,
                    teacher=row.teacher, noise=row.noise)
        init = Init(c_pt=row.c_pt, lambda_pt=row.lambda_pt, gamma_ft=row.gamma_ft)
        if np.isnan(row.alpha_pt):            # oracle PT
            res = solve(task, init, list(part.alpha))
        else:                                  # finite PT data: the nested replica
            res = solve_imperfect_pt(task, init, list(part.alpha), float(row.alpha_pt))
        pred[part.index] = res.gen_error
        conv[part.index] = res.converged
    out["theory"] = pred
    out["theory_converged"] = conv
    return out
