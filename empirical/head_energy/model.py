"""How the task head prepared before fine-tuning sets the "energy" that moves the features
(Ren, Guo, Bae & Sutherland 2023; docs/head_energy.md).

Over-parameterised two-layer linear model (Kumar et al. 2022 form): features z = B x
(B: k x d backbone, pretrained B_0), logits f = V z (V: C x k head), softmax cross-entropy.
Pipeline: head probing (HP) trains V alone for tau steps (optionally with label smoothing),
then fine-tuning (FT) trains V and B together; both full-batch gradient descent.

Energy (the paper's "average initial energy"): E = mean_i ||e_{y_i} - p_0(x_i)||_2 at the start of
FT. Feature-change metrics on the training inputs (z_0 = B_0 x, z_T = B_T x, averaged over x):
Euclidean distance ||z_T - z_0||, cosine distance 1 - cos(z_T, z_0), dot product z_T . z_0 and
norm ||z_T||.

First-order prediction (derived here from dB/dt = (1/n) V^T (E - P)^T X, the linear case of the
paper's NTK decomposition of the feature change): one FT step of size eta moves the features by

    dz(x) = (eta / n) V_0^T sum_i delta_i <x_i, x>,    delta_i = e_{y_i} - p_0(x_i)  (energy)

so z_0 . dz = (eta/n) sum_i <x_i, x> f_0(x)^T delta_i: the dot product grows only when the probed
head's logits f_0 align with the residuals, which is small both without probing (random head,
f_0^T delta <= 0 on average) and after full probing (delta -> 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from symbolic.errors import InputError

from empirical import guard


# most gradient steps one probing or fine-tuning run may take (about a minute of CPU time at
# the default sizes); larger requests are refused up front, not left to run for hours
MAX_STEPS = 10**6


def require_positive_ints(obj, names) -> None:
    """ValueError (one line) unless every attribute in ``names`` of ``obj`` is an integer >= 1."""
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class HeadEnergySetup:
    """Sizes and training settings of the two-layer linear model.

    dim d, n_samples n (< d: over-parameterised), features k, classes C; overlap: fraction of
    the target teacher's energy inside the pretrained feature space row(B_0); head_scale: the
    random head is N(0, head_scale^2 / k); lr eta for HP (and the largest FT step); ft_time: FT length in gradient-flow time.
    """

    dim: int = 100
    n_samples: int = 50
    features: int = 20
    classes: int = 4
    overlap: float = 0.5
    head_scale: float = 2.0
    lr: float = 0.5
    ft_time: float = 50.0
    seed: int = 0

    def __post_init__(self):
        require_positive_ints(self, ("dim", "n_samples", "features", "classes"))
        if self.classes < 2 or self.features > self.dim:
            raise InputError("need classes >= 2 and features <= dim")
        if not 0.0 <= self.overlap <= 1.0:
            raise InputError(f"overlap must lie in [0, 1], got {self.overlap}")
        for name, low in (("head_scale", 0.0), ("lr", 1e-300), ("ft_time", 0.0)):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= low):
                raise InputError(f"{name} must be finite and >= {low:g}, got {value}")
        if self.ft_time / self.lr > MAX_STEPS:          # fine-tuning takes at least ft_time/lr steps
            raise InputError(f"ft_time / lr = {self.ft_time / self.lr:.3g} steps exceeds the budget of "
                             f"{MAX_STEPS:.0e} steps; use a shorter ft_time or a larger lr")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or not 0 <= self.seed < 2**32:
            raise InputError(f"seed must be an integer in [0, 2^32), got {self.seed!r}")


@dataclass(frozen=True)
class Problem:
    """A sampled problem: training data, pretrained backbone B_0 and random head V_init."""

    X: np.ndarray
    labels: np.ndarray
    B0: np.ndarray
    V_init: np.ndarray
    X_test: np.ndarray
    labels_test: np.ndarray


def sample_problem(setup: HeadEnergySetup) -> Problem:
    """B_0 with orthonormal rows; teacher W* = sqrt(overlap) (part in row B_0) + sqrt(1 - overlap)
    (orthogonal part), labels argmax W* x, x ~ N(0, I_d)."""
    rng = np.random.default_rng(setup.seed)
    d, k, C = setup.dim, setup.features, setup.classes
    B0 = np.linalg.qr(rng.standard_normal((d, k)))[0].T
    inside = rng.standard_normal((C, k)) @ B0
    outside = rng.standard_normal((C, d))
    outside -= outside @ B0.T @ B0
    w_star = (math.sqrt(setup.overlap) * inside / np.linalg.norm(inside)
              + math.sqrt(1 - setup.overlap) * outside / max(np.linalg.norm(outside), 1e-300))
    X = rng.standard_normal((setup.n_samples, d))
    X_test = rng.standard_normal((2000, d))
    V_init = setup.head_scale * rng.standard_normal((C, k)) / math.sqrt(k)
    return Problem(X, np.argmax(X @ w_star.T, 1), B0, V_init, X_test, np.argmax(X_test @ w_star.T, 1))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, C) logits, shifted by the row maximum so it cannot overflow."""
    shifted = logits - logits.max(axis=1, keepdims=True)     # no overflow
    p = np.exp(shifted)
    return p / p.sum(axis=1, keepdims=True)


def smoothed_targets(labels: np.ndarray, classes: int, smoothing: float = 0.0) -> np.ndarray:
    """(1 - s) e_y + s / C (label smoothing s in [0, 1))."""
    if not 0.0 <= smoothing < 1.0:
        raise InputError(f"smoothing must lie in [0, 1), got {smoothing}")
    return (1.0 - smoothing) * np.eye(classes)[labels] + smoothing / classes


def cross_entropy(logits, targets) -> float:
    """Mean cross-entropy of (n, C) logits against (n, C) target distributions (log-sum-exp form)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(np.sum(targets * log_p, axis=1)))


def initial_energy(logits, labels) -> float:
    """Average initial energy E = mean_i ||e_{y_i} - softmax(f_0(x_i))||_2 (always w.r.t. the
    one-hot FT labels, also when HP used label smoothing)."""
    p = softmax(np.asarray(logits, float))
    return float(np.mean(np.linalg.norm(np.eye(p.shape[1])[labels] - p, axis=1)))


def probe_head(X, labels, B, V, steps: int, lr: float, smoothing: float = 0.0) -> np.ndarray:
    """HP: gradient descent on the cross-entropy over V only (backbone B frozen)."""
    Z = X @ B.T
    T = smoothed_targets(labels, V.shape[0], smoothing)
    n = X.shape[0]
    V = np.array(V, float)
    for _ in range(steps):
        V -= lr * (softmax(Z @ V.T) - T).T @ Z / n
    guard.check(V, what=f"head probing ({steps} steps at lr {lr:g})", hint="use a smaller lr")
    return V


def gradients(X, targets, B, V):
    """d/dV and d/dB of the mean cross-entropy of softmax(V B x)."""
    Z = X @ B.T
    R = (softmax(Z @ V.T) - targets) / X.shape[0]     # -(energy vectors) / n
    return R.T @ Z, V.T @ R.T @ X


def finetune(X, labels, B, V, time: float, lr: float):
    """FT: gradient flow on V and B together (one-hot labels) up to ``time``, by gradient
    descent with step min(lr, 1/c_t); c_t bounds the local curvature (softmax Hessian <= 1/2),
    so a long-probed head (large ||V||) does not push the steps past stability."""
    T = np.eye(V.shape[0])[labels]
    B, V = np.array(B, float), np.array(V, float)
    n = X.shape[0]
    lam_x = np.linalg.norm(X, 2) ** 2 / n
    t, k = 0.0, 0
    while t < time:
        if k % 20 == 0:        # the bound moves slowly; SVDs every step would dominate the cost
            c = 0.5 * (np.linalg.norm(V, 2) ** 2 * lam_x + np.linalg.norm(X @ B.T, 2) ** 2 / n)
        k += 1
        if guard.diverged(c) or k > MAX_STEPS:
            from symbolic.errors import ConvergenceError

            why = "diverged (curvature bound not finite)" if guard.diverged(c) else \
                f"needed more than {MAX_STEPS:.0e} steps (curvature bound {c:.3g})"
            raise ConvergenceError(f"fine-tuning {why} at time {t:.3g} of {time:g}; use a shorter ft_time")
        step = min(lr, 1.0 / c, time - t)
        gV, gB = gradients(X, T, B, V)
        V -= step * gV
        B -= step * gB
        t += step
    return B, V


def feature_metrics(z0, zT) -> dict:
    """The four feature-change metrics, averaged over inputs (rows)."""
    n0, nT = np.linalg.norm(z0, axis=1), np.linalg.norm(zT, axis=1)
    dot = np.sum(z0 * zT, axis=1)
    return {"euclid": float(np.mean(np.linalg.norm(zT - z0, axis=1))),
            "cosine": float(np.mean(1.0 - dot / (n0 * nT))),
            "dot": float(np.mean(dot)), "norm": float(np.mean(nT))}


def first_step_feature_change(X, labels, B0, V0, lr: float, X_eval=None) -> np.ndarray:
    """Predicted dz(x) after one FT step: (eta/n) V_0^T sum_i delta_i <x_i, x> (module docstring)."""
    X_eval = X if X_eval is None else X_eval
    delta = np.eye(V0.shape[0])[labels] - softmax(X @ B0.T @ V0.T)
    return lr / X.shape[0] * (X_eval @ X.T) @ delta @ V0


def run_pipeline(setup: HeadEnergySetup, problem: Problem, tau: int, smoothing: float = 0.0) -> dict:
    """HP for tau steps, then FT for setup.ft_time: energy, initial loss, accuracies, metrics."""
    V0 = probe_head(problem.X, problem.labels, problem.B0, problem.V_init, tau, setup.lr, smoothing)
    logits0 = problem.X @ problem.B0.T @ V0.T
    B, V = finetune(problem.X, problem.labels, problem.B0, V0, setup.ft_time, setup.lr)
    z0, zT = problem.X @ problem.B0.T, problem.X @ B.T
    test_pred = np.argmax(problem.X_test @ B.T @ V.T, axis=1)
    return {"tau": tau, "smoothing": smoothing, "energy": initial_energy(logits0, problem.labels),
            "initial_loss": cross_entropy(logits0, np.eye(setup.classes)[problem.labels]),
            "hp_train_acc": float(np.mean(np.argmax(logits0, 1) == problem.labels)),
            "head_norm": float(np.linalg.norm(V0)), **feature_metrics(z0, zT),
            "ft_test_acc": float(np.mean(test_pred == problem.labels_test))}


def energy_sweep(setup: HeadEnergySetup, taus=(0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
                 smoothings=(0.0,), progress: bool = False):
    """One row per (tau, smoothing): the pipeline's energy and the four metrics (pandas)."""
    import pandas as pd

    problem = sample_problem(setup)
    jobs = [(t, s) for s in smoothings for t in taus]
    if progress:
        from tqdm.auto import tqdm
        jobs = tqdm(jobs, desc="head probing", unit="run", leave=False)
    rows = [run_pipeline(setup, problem, int(t), float(s)) for t, s in jobs]
    return pd.DataFrame(rows).assign(head_scale=setup.head_scale, seed=setup.seed, ft_time=setup.ft_time)
