"""Simulations behind the linear-teacher theory (``replica.linear_teacher``): Monte Carlo of
fine-tuning on Gaussian data and plain gradient descent from theta_S (the independent check of
the closed-form end point).

Data are drawn in the eigenbasis of Sigma: ``x = sqrt(lambda) * g`` with g ~ N(0, I), which is
the general Gaussian case up to a rotation (risks are rotation invariant).
"""
from __future__ import annotations

import math

import numpy as np

from replica.linear_teacher import TeacherPair, ft_solution, population_risk


def sample_target_data(pair: TeacherPair, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n target samples (X, y) with x ~ N(0, diag(eigvals)) and y = theta_T^T x + sigma eps."""
    X = rng.standard_normal((n, pair.dim)) * np.sqrt(pair.eigvals)
    y = X @ pair.theta_t + pair.noise * rng.standard_normal(n)
    return X, y


def monte_carlo_risk(pair: TeacherPair, n: int, seeds: int = 20, *, ridge: float = 0.0,
                     scratch: bool = False, seed: int = 0) -> dict:
    """Mean and standard error over ``seeds`` draws of the population risk after fine-tuning
    from theta_S (or from 0 with ``scratch``) on n fresh samples."""
    start = np.zeros(pair.dim) if scratch else pair.theta_s
    risks = np.empty(seeds)
    for s in range(seeds):
        rng = np.random.default_rng((seed, n, s))
        X, y = sample_target_data(pair, n, rng)
        risks[s] = population_risk(ft_solution(X, y, start, ridge), pair.theta_t, pair.eigvals)
    sem = float(risks.std(ddof=1) / math.sqrt(seeds)) if seeds > 1 else math.nan
    return {"n": n, "mean": float(risks.mean()), "sem": sem, "risks": risks}


def gd_finetune(X, y, theta_s, *, lr: float | None = None, steps: int = 20000, tol: float = 1e-13) -> np.ndarray:
    """Full-batch gradient descent on (1/2n)||y - X w||^2 from theta_S; stops when the gradient
    norm falls below ``tol`` (default step 1/L_max, the largest stable step up to a factor 2)."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    n = X.shape[0]
    if lr is None:
        lr = 1.0 / (np.linalg.norm(X, 2) ** 2 / n)
    w = np.array(theta_s, float)
    for _ in range(steps):
        grad = X.T @ (X @ w - y) / n
        w -= lr * grad
        if np.linalg.norm(grad) < tol:
            break
    return w


# -- deep linear networks (PyTorch) ---------------------------------------------------------------
def deep_linear_problem(dim: int, n: int, cosine: float, scale: float, seed: int = 0):
    """Unit theta_T, theta_S with cos(theta_S, theta_T) = cosine and ||theta_S|| = scale,
    X ~ N(0, I) (n x dim), y = X theta_T (noiseless)."""
    rng = np.random.default_rng(seed)
    theta_t = rng.standard_normal(dim)
    theta_t /= np.linalg.norm(theta_t)
    perp = rng.standard_normal(dim)
    perp -= (perp @ theta_t) * theta_t
    perp /= np.linalg.norm(perp)
    theta_s = scale * (cosine * theta_t + math.sqrt(1 - cosine**2) * perp)
    X = rng.standard_normal((n, dim))
    return X, X @ theta_t, theta_t, theta_s


def balanced_layers(theta_s, depth: int, width: int):
    """Balanced layers (W_{j+1}^T W_{j+1} = W_j W_j^T) with product theta_S^T. With a scalar output
    balance forces rank one: W_1 = s e_1 theta_hat^T, W_j = s e_1 e_1^T, W_L = s e_1^T, s = ||theta_S||^{1/L}."""
    import torch

    theta_s = torch.as_tensor(theta_s, dtype=torch.float64)
    s = float(theta_s.norm()) ** (1.0 / depth)
    if depth == 1:
        return [theta_s.reshape(1, -1).clone()]
    e1 = torch.zeros(width, dtype=torch.float64)
    e1[0] = 1.0
    layers = [s * torch.outer(e1, theta_s / theta_s.norm())]
    layers += [s * torch.outer(e1, e1) for _ in range(depth - 2)]
    layers.append(s * e1.reshape(1, -1))
    return layers


def train_deep_linear(X, y, theta_s, depth: int, *, width: int = 4, lr: float = 0.02, max_steps: int = 400000,
                      tol: float = 1e-13, freeze_first: int = 0) -> np.ndarray:
    """Full-batch GD (float64, PyTorch) on (1/2n)||X theta - y||^2 over the layers of a deep linear
    network initialised balanced at theta_S; returns the end-to-end theta. ``freeze_first`` layers
    are not trained. Stops when the training loss < tol."""
    import torch

    Xt = torch.as_tensor(X, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    layers = [w.requires_grad_(j >= freeze_first) for j, w in enumerate(balanced_layers(theta_s, depth, width))]
    trained = [w for w in layers if w.requires_grad]
    loss = lambda: 0.5 * torch.mean((Xt @ _end_to_end(layers) - yt) ** 2)   # noqa: E731
    _gd(torch.optim.SGD(trained, lr=lr), loss, max_steps, tol, f"deep linear GD (depth {depth}, lr {lr:g})")
    return _end_to_end(layers).detach().numpy().copy()


def _gd(opt, loss_fn, steps: int, tol: float, what: str) -> float:
    """Full-batch GD with ``opt`` until the loss < tol or ``steps`` steps; stops on divergence
    (:func:`_check_diverged`). Returns the last loss."""
    first = None
    for step in range(steps):
        loss = loss_fn()
        value = loss.item()
        first = value if first is None else first
        if value < tol:
            break
        _check_diverged(value, first, step, what)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return value


def _check_diverged(loss: float, first: float, step: int, what: str) -> None:
    """Stop a GD loop whose loss is not finite or has grown a lot (the one guard,
    :mod:`empirical.guard`; ConvergenceError, exit 3) instead of running every step."""
    from empirical import guard

    guard.check(loss, first, what=what, step=step)


def _end_to_end(layers):
    prod = layers[0]
    for w in layers[1:]:
        prod = w @ prod
    return prod.reshape(-1)


def deep_linear_table(depths, dim: int, n: int, cosine: float, scale: float, seed: int = 0, lr: float = 0.02):
    """Per depth: |GD - theory|, distance of theory to the L = 1 answer, risks of GD / theory."""
    import pandas as pd

    from replica.linear_teacher import ft_solution as closest_interpolator
    from replica.linear_teacher.deep import ft_solution

    X, y, theta_t, theta_s = deep_linear_problem(dim, n, cosine, scale, seed)
    w1 = closest_interpolator(X, y, theta_s)
    rows = []
    for depth in depths:
        theory = ft_solution(X, y, theta_s, depth)
        gd = train_deep_linear(X, y, theta_s, depth, lr=lr)
        rows.append({"depth": depth, "gd_vs_theory": float(np.linalg.norm(gd - theory)),
                     "theory_vs_L1": float(np.linalg.norm(theory - w1)),
                     "risk_gd": float(np.sum((gd - theta_t) ** 2)), "risk_theory": float(np.sum((theory - theta_t) ** 2)),
                     "train_residual_gd": float(np.linalg.norm(X @ gd - y)), "lr": lr})
    return pd.DataFrame(rows)


# -- wide shallow ReLU networks (PyTorch), NTK regime ------------------------------------------------
def sphere(n: int, dim: int, rng) -> np.ndarray:
    x = rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class WideReLU:
    """f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x) with a_r = +-1 fixed; the init is antisymmetric
    (neurons in pairs (w, +1), (w, -1)) so f_0 = 0 exactly, w_r ~ N(0, I)."""

    def __init__(self, dim: int, width: int, seed: int = 0):
        import torch

        gen = torch.Generator().manual_seed(seed)
        half = torch.randn(width // 2, dim, generator=gen, dtype=torch.float64)
        self.W = torch.cat([half, half.clone()]).requires_grad_(True)
        self.a = torch.cat([torch.ones(width // 2), -torch.ones(width // 2)]).to(torch.float64)
        self.width = 2 * (width // 2)

    def __call__(self, X):
        import torch

        return torch.relu(torch.as_tensor(X, dtype=torch.float64) @ self.W.T) @ self.a / math.sqrt(self.width)

    def fit(self, X, y, *, lr: float = 1.0, steps: int = 3000, tol: float = 1e-10) -> float:
        """Full-batch GD on (1/2n)||f(X) - y||^2 over the first layer; returns the final loss."""
        import torch

        yt = torch.as_tensor(y, dtype=torch.float64)
        loss = lambda: 0.5 * torch.mean((self(X) - yt) ** 2)   # noqa: E731
        return float(_gd(torch.optim.SGD([self.W], lr=lr), loss, steps, tol, f"wide ReLU GD (lr {lr:g})"))

    def predict(self, X) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self(X).numpy().copy()


def ntk_finetune_table(distances, *, dim: int = 10, n_source: int = 200, n_target: int = 40, width: int = 8192,
                       seed: int = 0, lr: float = 1.0, steps: int = 4000):
    """Pretrain a wide ReLU net on theta_S . x, fine-tune on n_target samples of theta_T . x (x on
    the sphere), for each ||theta_S - theta_T|| (theta_T unit, theta_S - theta_T random direction).
    Columns: measured test MSE / MAE of the trained net, the infinite-width kernel prediction of
    the same test outputs, and the residual-based bound sqrt(2 r^T H^-1 r / n)."""
    import copy

    import pandas as pd

    from replica.linear_teacher.ntk import ntk_ft_bound, ntk_ft_prediction

    rng = np.random.default_rng(seed)
    theta_t = rng.standard_normal(dim)
    theta_t /= np.linalg.norm(theta_t)
    direction = rng.standard_normal(dim)
    direction /= np.linalg.norm(direction)
    X_src, X_tgt, X_test = sphere(n_source, dim, rng), sphere(n_target, dim, rng), sphere(2000, dim, rng)
    y_tgt, y_test = X_tgt @ theta_t, X_test @ theta_t
    rows = []
    for dist in distances:
        theta_s = theta_t + dist * direction
        net = WideReLU(dim, width, seed)
        pt_loss = net.fit(X_src, X_src @ theta_s, lr=lr, steps=steps)
        f_s_tgt, f_s_test = net.predict(X_tgt), net.predict(X_test)
        ft = copy.deepcopy(net)
        ft_loss = ft.fit(X_tgt, y_tgt, lr=lr, steps=steps)
        out, kernel = ft.predict(X_test), ntk_ft_prediction(X_tgt, y_tgt - f_s_tgt, X_test, f_s_test)
        scratch = ntk_ft_prediction(X_tgt, y_tgt, X_test, np.zeros(len(X_test)))
        rows.append({"distance": dist, "pt_train_loss": pt_loss, "ft_train_loss": ft_loss,
                     "test_mse": float(np.mean((out - y_test) ** 2)), "test_mae": float(np.mean(np.abs(out - y_test))),
                     "kernel_test_mse": float(np.mean((kernel - y_test) ** 2)),
                     "net_vs_kernel_rms": float(np.sqrt(np.mean((out - kernel) ** 2))),
                     "zero_shot_mse": float(np.mean((f_s_test - y_test) ** 2)),
                     "scratch_kernel_mse": float(np.mean((scratch - y_test) ** 2)),
                     "bound": ntk_ft_bound(X_tgt, y_tgt - f_s_tgt),
                     "bound_scratch": ntk_ft_bound(X_tgt, y_tgt)})
    return pd.DataFrame(rows).assign(dim=dim, n_source=n_source, n_target=n_target, width=width, seed=seed)
