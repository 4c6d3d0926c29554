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

from .tasks import GROUP_NEW, GROUP_PT_ONLY, GROUP_SHARED, label_noise, sample_design, sample_teacher


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
    """One batch of PT+FT instances: design (K, N, D), labels (K, N), teacher (K, D), the
    per-coordinate prior fraction eps (K, D) the estimator uses for its knowledge level and the
    coordinate groups (K, D) of :mod:`empirical.tasks` (0 shared, 1 new, 2 PT-only, 3 none)."""

    x: object
    y: object
    beta: object
    eps: object
    kind: str
    par: float
    alpha: float
    group: np.ndarray | None = None


def _prior_fraction(group: np.ndarray, knowledge: str) -> np.ndarray:
    """eps per coordinate: the fraction of FT nonzeros in the coordinate's class as the estimator
    sees it ('pt': inside / outside the PT support; 'none': one class; 'genie': the FT support)."""
    in_ft = (group == GROUP_SHARED) | (group == GROUP_NEW)
    if knowledge == "genie":
        return in_ft.astype(float)
    if knowledge == "none":
        return np.full(group.shape, in_ft.mean())
    in_pt = (group == GROUP_SHARED) | (group == GROUP_PT_ONLY)
    frac_in = (in_ft & in_pt).sum() / max(in_pt.sum(), 1)
    frac_out = (in_ft & ~in_pt).sum() / max((~in_pt).sum(), 1)
    return np.where(in_pt, frac_in, frac_out)


def make_problem(task: Task, alpha: float, dim: int, seeds, *, knowledge: str = "pt",
                 backend: str = "numpy", device: str = "cpu") -> AmpProblem:
    """Draw K = len(seeds) instances, each exactly the instance ``ptft simulate`` trains the
    network on for that seed (teacher, design and label noise from :mod:`empirical.tasks`:
    round(rho_PT D) PT coordinates, round(rho_FT D) FT nonzeros, round(omega n_FT) of them
    shared; X entries N(0, 1/D); N = round(alpha D); y = X beta* + noise xi)."""
    from replica.bayes import KNOWLEDGE

    if knowledge not in KNOWLEDGE:
        raise ParameterError(f"knowledge must be one of {', '.join(KNOWLEDGE)}, got {knowledge!r}")
    n = max(1, int(round(alpha * dim)))
    xs, ys, bs, gs = [], [], [], []
    for seed in seeds:
        beta, _, group = sample_teacher(dim, task.rho_pt, task.rho_ft, task.omega, task.a_pt, task.teacher, seed)
        x = sample_design(dim, n, seed)
        y = x @ beta
        if task.noise > 0:
            y = y + task.noise * label_noise(n, seed)
        xs.append(x)
        ys.append(y)
        bs.append(beta)
        gs.append(group)
    group = np.stack(gs)
    eps = np.stack([_prior_fraction(g, knowledge) for g in gs])
    arrays = [np.stack(xs), np.stack(ys), np.stack(bs), eps]
    if backend == "torch":
        import torch

        arrays = [torch.as_tensor(a, dtype=torch.float64, device=device) for a in arrays]
    elif backend != "numpy":
        raise ParameterError(f"backend must be numpy or torch, got {backend!r}")
    gauss = task.teacher == "gaussian"
    par = 1.0 / task.rho_ft if gauss else 1.0 / math.sqrt(task.rho_ft)
    return AmpProblem(*arrays, "gaussian" if gauss else "fixed", par, n / dim, group)


@dataclass(frozen=True)
class AmpRun:
    """What :func:`iterate` returns (NumPy arrays): ``errors`` ||x^t - beta*||^2 / D per
    iteration and seed (n_iter + 1, K), ``estimate`` x at the last iteration (K, D) and
    ``last_change`` ||eta(w^{T-1}) - x^{T-1}||^2 / D per seed (K,), the residual of the last
    step (the step itself when undamped; with damping d the step is d times it, so a tiny d
    cannot pass for convergence)."""

    errors: np.ndarray
    estimate: np.ndarray
    last_change: np.ndarray


def iterate(prob: AmpProblem, n_iter: int = 30, damping: float = 1.0) -> AmpRun:
    """AMP from x = 0 for ``n_iter`` iterations (module docstring for the recursion)."""
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
    change = xp.mean(prob.beta * 0.0, -1)
    at = a.swapaxes(-1, -2)
    for _ in range(n_iter):
        tau2 = xp.sum(z * z, -1) / n                      # (K,)
        w = x + (at @ z[..., None])[..., 0]
        eta, var = denoise(w, xp.clip(tau2, 1e-300, None)[:, None], prob.eps, prob.kind, prob.par)
        x_new = eta if damping == 1.0 else (1.0 - damping) * x + damping * eta
        onsager = xp.mean(var, -1) / xp.clip(tau2, 1e-300, None) / alpha    # <eta'> / alpha
        z = y - (a @ x_new[..., None])[..., 0] + z * onsager[:, None]
        change = xp.mean((eta - x) ** 2, -1)       # the map's residual: damping does not shrink it
        x = x_new
        errors.append(xp.mean((x - prob.beta) ** 2, -1))
    host = (lambda v: v) if xp is np else (lambda v: v.cpu().numpy())   # noqa: E731
    return AmpRun(host(xp.stack(errors)), host(x), host(change))


def run_amp(prob: AmpProblem, n_iter: int = 30, damping: float = 1.0):
    """AMP from x = 0 for ``n_iter`` iterations. Returns the error ||x^t - beta*||^2 / D per
    iteration and seed, shape (n_iter + 1, K), as a NumPy array (t = 0 is x = 0)."""
    return iterate(prob, n_iter, damping).errors


# a run has converged when its last (undamped) step moved the estimate by at most this fraction
# of its error (squared norms): the error is then fixed to about 2 sqrt(1e-6) = 0.2% of itself
CONVERGED = 1e-6
_TINY = 1e-24           # error floor of that test (exact recovery: the error itself tends to 0)


def simulate_amp(task: Task, alphas, dim: int, seeds, *, knowledge: str = "pt", n_iter: int = 50,
                 damping: float = 1.0, device: str = "cpu", progress: bool = False, batch_bytes: int = 0):
    """Finite-D AMP on the instances ``ptft simulate`` trains the network on: one row per
    (alpha, seed) with the columns of :func:`empirical.simulate.simulate` (the initialisation's
    are NaN: AMP has none), plus ``knowledge`` and ``damping``. ``steps`` is ``n_iter``;
    ``rel_residual`` is sqrt(||eta(w^{T-1}) - x^{T-1}||^2 / ||x^T - beta*||^2), the undamped last
    step relative to the error, and a run is ``converged`` when it is <= sqrt(CONVERGED).
    ``device`` 'cpu' runs NumPy, 'cuda[:N]' torch; seeds are batched under ``batch_bytes`` (0:
    256 MiB on the CPU, 2 GiB on CUDA)."""
    import pandas as pd
    from tqdm.auto import tqdm

    seeds = list(seeds)
    backend = "numpy" if device == "cpu" else "torch"
    budget = batch_bytes or ((256 << 20) if backend == "numpy" else (2 << 30))
    rows = []
    with tqdm(total=len(seeds) * len(alphas), disable=not progress, unit="run",
              desc=f"ptft simulate (amp, D={dim}, {device})") as bar:
        for alpha in alphas:
            n = max(1, int(round(alpha * dim)))
            size = max(1, int(budget // (16 * n * dim)))          # design + its rescaled copy
            for k in range(0, len(seeds), size):
                batch = seeds[k:k + size]
                prob = make_problem(task, alpha, dim, batch, knowledge=knowledge, backend=backend, device=device)
                rows.extend(_rows(task, alpha, n, dim, batch, prob, iterate(prob, n_iter, damping), knowledge, damping))
                bar.update(len(batch))
    return pd.DataFrame(rows)


def _rows(task, alpha, n, dim, batch, prob, run: AmpRun, knowledge, damping) -> list[dict]:
    """One row per seed of a batch, in the layout of the network's runs table."""
    from .tasks import GROUP_NAMES

    beta = prob.beta if isinstance(prob.beta, np.ndarray) else prob.beta.cpu().numpy()
    sq = (run.estimate - beta) ** 2
    err = run.errors[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.sqrt(run.last_change / np.maximum(err, _TINY))
    rows = []
    for b, seed in enumerate(batch):
        row = dict(setting=0, label="amp", rho_pt=task.rho_pt, rho_ft=task.rho_ft, omega=task.omega,
                   a_pt=task.a_pt, teacher=task.teacher, noise=task.noise, c_pt=np.nan, lambda_pt=np.nan,
                   gamma_ft=np.nan, alpha=alpha, n_samples=n, dim=dim, seed=seed, method="amp", alpha_pt=np.nan,
                   gen_error=float(err[b]))
        for g, name in enumerate(GROUP_NAMES):
            mask = prob.group[b] == g
            row[f"err_{name}"] = float(sq[b][mask].mean()) if mask.any() else np.nan
        ok = bool(rel[b] <= math.sqrt(CONVERGED))        # NaN (a run that blew up) is not
        row.update(steps=run.errors.shape[0] - 1, drift=np.nan, train_mse=np.nan, rel_residual=float(rel[b]),
                   stop_reason="converged" if ok else "not converged", converged=ok,
                   active_fraction=float((np.abs(run.estimate[b]) > 1e-6).mean()), knowledge=knowledge,
                   damping=damping)
        rows.append(row)
    return rows


def summarize_amp(runs):
    """:func:`empirical.simulate.summarize` of :func:`simulate_amp` runs, with AMP's own theory:
    ``theory`` is the state evolution at the run's last iteration (undamped AMP tracks it
    iteration by iteration; damped AMP has no scalar SE per iteration, so there it is the SE
    fixed point, which damping does not move), ``amp_error``/``bayes_error`` the SE fixed point
    and the Bayes-optimal error (:func:`replica.bayes.solve_bayes`), all at the realised
    N / D. Runs of several calls with disjoint seeds may be concatenated first."""
    from .simulate import summarize

    fixed = ["rho_pt", "rho_ft", "omega", "a_pt", "teacher", "noise", "dim", "steps", "knowledge", "damping"]
    if len(runs.drop_duplicates(fixed)) != 1:
        raise ParameterError("summarize_amp: the runs mix tasks, dimensions, iterations, knowledge or damping")
    first = runs.iloc[0]
    task = Task(rho_pt=first.rho_pt, rho_ft=first.rho_ft, omega=first.omega, a_pt=first.a_pt,
                teacher=first.teacher, noise=first.noise)
    return summarize(runs, theory=lambda out: _amp_theory(out, task, int(first.dim), first.knowledge,
                                                          int(first.steps), float(first.damping)))


def _amp_theory(out, task: Task, dim: int, knowledge: str, n_iter: int, damping: float):
    from replica.bayes import solve_bayes, state_evolution

    # two requested alphas may round to the same N: solve each realised N / D once
    real, where = np.unique([max(1, int(round(a * dim))) / dim for a in out["alpha"]], return_inverse=True)
    lim = solve_bayes(task, real, knowledge=knowledge)
    if damping == 1.0:
        theory = np.array([state_evolution(task, a, knowledge=knowledge, n_iter=n_iter)[n_iter] for a in real])
    else:
        theory = lim.amp_error
    out["theory"] = theory[where]
    out["theory_converged"] = lim.converged[where]
    out["amp_error"] = lim.amp_error[where]
    out["bayes_error"] = lim.bayes_error[where]
    return out


def compare_with_se(task: Task, alphas, dim: int, seeds, *, knowledge: str = "pt", n_iter: int = 30,
                    damping: float = 1.0, backend: str = "numpy", device: str = "cpu", at_iter: int | None = None):
    """Finite-D AMP against the state evolution (``ptft bayes --simulate``): per alpha the mean
    error over seeds at iteration ``at_iter`` (default ``n_iter``; later iterations do not change
    it, so only that many are run), its standard error and 95% t-interval, the SE value at the
    same iteration (``se_theory``; with ``damping`` < 1 the SE fixed point), z, its p-value and
    the fixed point (``amp_error``). :func:`simulate_amp` + :func:`summarize_amp` with the
    columns renamed; ``backend`` 'numpy' needs ``device`` 'cpu'. A pandas frame."""
    if backend not in ("numpy", "torch"):
        raise ParameterError(f"backend must be numpy or torch, got {backend!r}")
    if backend == "numpy" and device != "cpu":
        raise ParameterError(f"the numpy backend runs on the cpu, not {device!r}")
    t_at = n_iter if at_iter is None else at_iter
    runs = simulate_amp(task, list(alphas), dim, seeds, knowledge=knowledge, n_iter=t_at, damping=damping,
                        device=device)
    table = summarize_amp(runs)
    real = [max(1, int(round(a * dim))) / dim for a in table["alpha"]]
    return table.assign(dim=dim, alpha_realized=real, iteration=t_at).rename(
        columns={"gen_error": "amp_finite_d", "n_runs": "n_seeds", "theory": "se_theory"})[
        ["alpha", "alpha_realized", "dim", "n_seeds", "iteration", "amp_finite_d", "se", "ci_low", "ci_high",
         "se_theory", "z", "p_value", "n_converged", "amp_error", "bayes_error"]]
