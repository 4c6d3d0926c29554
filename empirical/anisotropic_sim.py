"""Finite-D fine-tuning with anisotropic inputs x ~ N(0, diag(s)/D): the exact flow end point.

The check of :mod:`replica.anisotropic`.  Per seed: the PT/FT teachers of
:func:`empirical.tasks.sample_teacher`; within each coordinate group the input variances are
assigned in exact counts (round(f_k n_g), shuffled); beta_PT is the oracle or the real flow end
point of PT on round(alpha_PT D) isotropic samples; the FT constants c_d are read off the
network after the FT re-initialisation (``empirical.network``, not the c_FT formula the
replica uses); FT columns are scaled by sqrt(s_d) and the exact minimiser
``min_q_interpolant`` gives beta_hat.  Errors: test MSE sum_d s_d (beta_hat - beta*)_d^2 / D
and parameter MSE ||beta_hat - beta*||^2 / D.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .flow import min_q_interpolant
from .network import conserved, ft_reinit, oracle_pt_state
from .tasks import GROUP_NAMES, label_noise, sample_design, sample_teacher

_VAR_STREAM = 9_100_001
_PT_STREAM = 7_000_003


def assign_variances(group: np.ndarray, per_group, seed: int) -> np.ndarray:
    """s_d per coordinate: in group g, round(f_k n_g) coordinates get s_k (last k takes the rest)."""
    rng = np.random.default_rng([seed, _VAR_STREAM])
    s = np.ones(group.size)
    for g, pairs in enumerate(per_group):
        idx = rng.permutation(np.flatnonzero(group == g))
        start = 0
        for k, (f, val) in enumerate(pairs):
            stop = idx.size if k == len(pairs) - 1 else start + int(round(f * idx.size))
            s[idx[start:stop]] = val
            start = stop
    return s


def _ft_constants(beta_pt_hat, init) -> np.ndarray:
    state = oracle_pt_state(beta_pt_hat, init.c_pt, init.lambda_abs)
    params = ft_reinit(state, init.gamma_ft).unsqueeze(1)          # (4, 1, D)
    return conserved(params).c[0].cpu().numpy()


def _pt_end_point(beta_pt, init, alpha_pt, dim, seed):
    if alpha_pt is None:
        return beta_pt
    n_pt = max(1, int(round(alpha_pt * dim)))
    X_pt = sample_design(dim, n_pt, seed + _PT_STREAM)
    return min_q_interpolant(X_pt, X_pt @ beta_pt, init.c_pt, tol=1e-11).beta


def simulate_anisotropic(task, init, variances, alphas, *, dim: int = 1000, seeds=range(10),
                         alpha_pt: float | None = None) -> pd.DataFrame:
    """One row per (alpha, seed): gen_error (test MSE), param_error, err_<group> (test-weighted)."""
    rows = []
    for seed in seeds:
        beta_star, beta_pt, group = sample_teacher(dim, task.rho_pt, task.rho_ft, task.omega, task.a_pt,
                                                   task.teacher, seed)
        s = assign_variances(group, variances.per_group, seed)
        c = _ft_constants(torch.from_numpy(_pt_end_point(beta_pt, init, alpha_pt, dim, seed)), init)
        for alpha in alphas:
            n = max(1, int(round(alpha * dim)))
            X = sample_design(dim, n, seed) * np.sqrt(s)[None, :]
            y = X @ beta_star + task.noise * label_noise(n, seed)
            sol = min_q_interpolant(X, y, c, tol=1e-10, on_fail="warn")
            sq = (sol.beta - beta_star) ** 2
            row = dict(alpha=alpha, seed=seed, dim=dim, gen_error=float(np.mean(s * sq)),
                       param_error=float(np.mean(sq)), converged=sol.converged)
            for g, name in enumerate(GROUP_NAMES):
                mask = group == g
                row[f"err_{name}"] = float(np.mean((s * sq)[mask])) if mask.any() else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def summarize_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error of gen_error and param_error per alpha."""
    g = runs.groupby("alpha", sort=True)
    out = g.agg(gen_error=("gen_error", "mean"), gen_sd=("gen_error", "std"), param_error=("param_error", "mean"),
                param_sd=("param_error", "std"), n_runs=("gen_error", "size"),
                n_converged=("converged", "sum")).reset_index()
    out["gen_se"] = out.pop("gen_sd") / np.sqrt(out["n_runs"])
    out["param_se"] = out.pop("param_sd") / np.sqrt(out["n_runs"])
    return out
