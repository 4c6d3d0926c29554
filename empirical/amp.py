"""Approximate message passing (AMP) with the Bayes denoiser at finite D, batched over seeds,
in NumPy or PyTorch (CPU or CUDA): the algorithm whose large-D error the state evolution of
``replica.bayes`` predicts iteration by iteration (docs/limits.md).

With X rows N(0, I/D), N = alpha D samples and y = X beta* + s xi, rescale A = X / sqrt(alpha),
y' = y / sqrt(alpha) (entries of A have variance 1/N) and run the textbook recursion
(Donoho-Maleki-Montanari 2009; Krzakala et al. 2012):

    w^t     = x^t + A^T z^t                      (effective observation beta* + tau_t Z)
    x^{t+1} = eta(w^t; tau_t^2),   tau_t^2 = |z^t|^2 / N
    z^{t+1} = y' - A x^{t+1} + z^t <eta'(w^t)> / alpha      (the Onsager term)

eta is the posterior mean of the coordinate's prior (its group's fraction eps of nonzeros and the
teacher law), eta' = Var(beta | w) / tau^2. ``damping`` < 1 mixes the new estimate with the old
one (x <- (1 - d) x + d eta), which small D may need; 1 (default) is plain AMP.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from replica.params import ParameterError, Task


def _xp(array):
    if isinstance(array, np.ndarray):
        return np
    import torch

    return torch


def denoise(w, tau2, eps, kind: str, par: float):
    """Posterior mean eta(w) and Var(beta | w) for the prior (1-eps) delta_0 + eps P, with P =
    N(0, par) ('gaussian') or (delta_par + delta_-par)/2 ('fixed'); works on NumPy or torch arrays
    (``eps`` broadcasts against ``w``, ``tau2`` against its leading axes)."""
    xp = _xp(w)
    e = xp.clip(eps, 1e-300, 1.0)
    with np.errstate(divide="ignore"):
        l0 = xp.log(xp.clip(1.0 - eps, 0.0, 1.0))       # -inf where eps = 1: no null component
    if kind == "gaussian":
        v = par
        k = v / (v + tau2)
        logit = xp.log(e) - l0 - 0.5 * xp.log1p(v / tau2) + 0.5 * w * w * k / tau2
        pi = 1.0 / (1.0 + xp.exp(-xp.clip(logit, -700.0, 700.0)))
        m = k * w
        return pi * m, pi * k * tau2 + pi * (1.0 - pi) * m * m
    a = par
    half = xp.log(e) - math.log(2.0)
    lp = half + (a * w - 0.5 * a * a) / tau2
    lm = half + (-a * w - 0.5 * a * a) / tau2
    top = xp.maximum(xp.maximum(lp, lm), l0)
    p0, pp, pm = xp.exp(l0 - top), xp.exp(lp - top), xp.exp(lm - top)
    tot = p0 + pp + pm
    p0, pp, pm = p0 / tot, pp / tot, pm / tot
    return a * (pp - pm), a * a * (p0 * (pp + pm) + 4.0 * pp * pm)


@dataclass(frozen=True)
class AmpProblem:
    """One batch of PT+FT instances: design (K, N, D), labels (K, N), teacher (K, D) and the
    per-coordinate prior fraction eps (D,) the estimator uses for its knowledge level."""

    x: object
    y: object
    beta: object
    eps: object
    kind: str
    par: float
    alpha: float


def make_problem(task: Task, alpha: float, dim: int, seeds, *, knowledge: str = "pt",
                 backend: str = "numpy", device: str = "cpu") -> AmpProblem:
    """Draw K = len(seeds) instances: the first round(rho_PT D) coordinates are the PT support,
    round(omega rho_FT D) FT nonzeros inside it and round((1-omega) rho_FT D) outside (the
    order is immaterial to AMP); X entries N(0, 1/D); y = X beta* + noise xi."""
    from replica.bayes import KNOWLEDGE

    if knowledge not in KNOWLEDGE:
        raise ParameterError(f"knowledge must be one of {', '.join(KNOWLEDGE)}, got {knowledge!r}")
    n_pt = int(round(task.rho_pt * dim))
    n_sh = int(round(task.rho_shared * dim))
    n_new = int(round(task.rho_new * dim))
    n = int(round(alpha * dim))
    if n < 1 or n_sh > n_pt or n_pt + n_new > dim or n_sh + n_new < 1:
        raise ParameterError(f"the task does not fit D = {dim} with N = {n} samples after rounding")
    support = np.zeros(dim, bool)
    support[:n_sh] = True
    support[n_pt:n_pt + n_new] = True
    if knowledge == "none":
        eps = np.full(dim, (n_sh + n_new) / dim)
    elif knowledge == "genie":
        eps = support.astype(float)
    else:
        eps = np.where(np.arange(dim) < n_pt, n_sh / max(n_pt, 1), n_new / max(dim - n_pt, 1))
    gauss = task.teacher == "gaussian"
    par = 1.0 / task.rho_ft if gauss else 1.0 / math.sqrt(task.rho_ft)
    xs, ys, bs = [], [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        vals = rng.standard_normal(dim) * math.sqrt(par) if gauss else par * rng.choice([-1.0, 1.0], dim)
        beta = np.where(support, vals, 0.0)
        x = rng.standard_normal((n, dim)) / math.sqrt(dim)
        xs.append(x)
        ys.append(x @ beta + task.noise * rng.standard_normal(n))
        bs.append(beta)
    arrays = [np.stack(xs), np.stack(ys), np.stack(bs), eps]
    if backend == "torch":
        import torch

        arrays = [torch.as_tensor(a, dtype=torch.float64, device=device) for a in arrays]
    elif backend != "numpy":
        raise ParameterError(f"backend must be numpy or torch, got {backend!r}")
    return AmpProblem(*arrays, "gaussian" if gauss else "fixed", par, n / dim)


def run_amp(prob: AmpProblem, n_iter: int = 30, damping: float = 1.0):
    """AMP from x = 0 for ``n_iter`` iterations. Returns the error ||x^t - beta*||^2 / D per
    iteration and seed, shape (n_iter + 1, K), as a NumPy array (t = 0 is x = 0)."""
    if not 0.0 < damping <= 1.0:
        raise ParameterError(f"damping must lie in (0, 1], got {damping}")
    xp = _xp(prob.x)
    alpha = prob.alpha
    a = prob.x / math.sqrt(alpha)
    y = prob.y / math.sqrt(alpha)
    k, n, d = a.shape
    x = xp.zeros_like(prob.beta)
    z = y.clone() if xp is not np else y.copy()
    errors = [xp.mean((x - prob.beta) ** 2, -1)]
    at = a.swapaxes(-1, -2)
    for _ in range(n_iter):
        tau2 = xp.sum(z * z, -1) / n                      # (K,)
        w = x + (at @ z[..., None])[..., 0]
        eta, var = denoise(w, xp.clip(tau2, 1e-300, None)[:, None], prob.eps, prob.kind, prob.par)
        x_new = eta if damping == 1.0 else (1.0 - damping) * x + damping * eta
        onsager = xp.mean(var, -1) / xp.clip(tau2, 1e-300, None) / alpha    # <eta'> / alpha
        z = y - (a @ x_new[..., None])[..., 0] + z * onsager[:, None]
        x = x_new
        errors.append(xp.mean((x - prob.beta) ** 2, -1))
    out = xp.stack(errors)
    return out.cpu().numpy() if xp is not np else out


def compare_with_se(task: Task, alphas, dim: int, seeds, *, knowledge: str = "pt", n_iter: int = 30,
                    damping: float = 1.0, backend: str = "numpy", device: str = "cpu", at_iter: int | None = None):
    """Finite-D AMP against the state evolution: per alpha the mean error over seeds at iteration
    ``at_iter`` (default the last), its standard error and 95% t-interval, and the SE value at
    the same iteration (``se_theory``) and at convergence (``amp_error``). A pandas frame."""
    import pandas as pd
    from scipy import stats

    from replica.bayes import solve_bayes, state_evolution

    seeds = list(seeds)
    t_at = n_iter if at_iter is None else at_iter
    rows = []
    lim = solve_bayes(task, alphas, knowledge=knowledge)
    for i, alpha in enumerate(alphas):
        prob = make_problem(task, alpha, dim, seeds, knowledge=knowledge, backend=backend, device=device)
        err = run_amp(prob, n_iter, damping)[t_at]
        kk = err.size
        mean = float(np.mean(err))
        se = float(np.std(err, ddof=1) / math.sqrt(kk)) if kk > 1 else math.nan
        half = float(stats.t.ppf(0.975, kk - 1) * se) if kk > 1 else math.nan
        theory = float(state_evolution(task, prob.alpha, knowledge=knowledge, n_iter=t_at)[t_at])
        rows.append({"alpha": alpha, "dim": dim, "n_seeds": kk, "iteration": t_at, "amp_finite_d": mean, "se": se,
                     "ci_low": mean - half, "ci_high": mean + half, "se_theory": theory,
                     "z": (mean - theory) / se if se and se > 0 else math.nan,
                     "amp_error": float(lim.amp_error[i]), "bayes_error": float(lim.bayes_error[i])})
    return pd.DataFrame(rows)
