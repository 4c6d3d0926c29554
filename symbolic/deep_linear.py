"""Implicit bias of a deep linear network fine-tuned from a pretrained (balanced) initialisation
(docs/linear_teacher.md, derived here from the parameter flow; nothing typed in).

Model: f(x) = a_L ... a_2 (w . x), the rank-one balanced chain (a deep linear network whose
balanced pretrained layers are rank one, all aligned with theta_S). End-to-end vector
theta = (prod a_j) w (theta). Balanced: a_j^2 = ||w||^2, conserved by gradient flow.

Derivation (each step checked by :func:`checks`):
1. From the parameter flow, d theta/dt = -M(theta) g with g = dL/dtheta and
   M = ||theta||^{2 - 2/L} (I + (L - 1) theta_hat theta_hat^T)  (Arora et al. 2018's form).
2. With Phi(theta) = ||theta||^p / p, Hess(Phi) M = ||theta||^{1 - 1/L} I  iff  p = (L + 1)/L,
   so d/dt grad Phi(theta) = -||theta||^{1-1/L} g lies in row(X): grad Phi(theta_FT) - grad Phi(theta_S)
   is in row(X), i.e. theta_FT = argmin_{X theta = y} D_Phi(theta, theta_S) (Bregman divergence).
3. D_Phi(theta, theta_S) = (||theta||^p - p ||theta_S||^{p-2} theta_S . theta)/p + const; L = 1 gives
   ||theta - theta_S||^2 / 2, L -> infinity gives ||theta|| - theta_hat_S . theta = ||theta|| (1 - cos).
"""
from __future__ import annotations

import sympy as sp

L_sym = sp.Symbol("L", positive=True)
p_sym = sp.Symbol("p", positive=True)
r_sym = sp.Symbol("r", positive=True)        # ||theta||


def chain_flow(depth: int, dim: int = 2):
    """Symbolic d theta/dt for the balanced rank-one chain at a generic point, and M(theta).

    Returns (theta_dot, M_claimed, g, theta) with theta_dot computed from the parameter flow
    dw/dt = -dL/dw, da_j/dt = -dL/da_j, evaluated on the balanced orbit a_j = ||w||."""
    w = sp.Matrix(sp.symbols(f"w1:{dim + 1}", real=True))
    a = sp.symbols(f"a2:{depth + 1}", positive=True)
    g = sp.Matrix(sp.symbols(f"g1:{dim + 1}", real=True))
    prod_a = sp.Mul(*a)
    theta = prod_a * w
    # chain rule: dL/dw = (prod a) g, dL/da_j = (prod_{k != j} a_k) (w . g)
    w_dot = -prod_a * g
    a_dot = [-(prod_a / aj) * (w.dot(g)) for aj in a]
    theta_dot = prod_a * w_dot + sum(((prod_a / aj) * adj for aj, adj in zip(a, a_dot)), sp.S(0)) * w
    norm_w = sp.sqrt(w.dot(w))
    balanced = {aj: norm_w for aj in a}
    theta_dot = theta_dot.subs(balanced)
    theta_b = theta.subs(balanced)
    norm_t = sp.sqrt(theta_b.dot(theta_b))
    M = norm_t ** (2 - sp.Rational(2, depth)) * (sp.eye(dim) + (depth - 1) * theta_b * theta_b.T / norm_t**2)
    return theta_dot, M, g, theta_b


def metric_residual(depth: int, dim: int = 2) -> sp.Matrix:
    """theta_dot + M g (zero iff step 1 holds at this depth)."""
    theta_dot, M, g, _ = chain_flow(depth, dim)
    return (theta_dot + M * g).applyfunc(lambda e: sp.simplify(sp.powsimp(e, force=True)))


def potential_exponent() -> sp.Expr:
    """Solve for p: on theta_hat, Hess Phi has eigenvalue (p - 1) r^{p-2}, M has L r^{2-2/L};
    orthogonally r^{p-2} and r^{2-2/L}. Hess Phi M proportional to I  <=>  (p - 1) L = 1."""
    along = (p_sym - 1) * r_sym ** (p_sym - 2) * L_sym * r_sym ** (2 - 2 / L_sym)
    across = r_sym ** (p_sym - 2) * r_sym ** (2 - 2 / L_sym)
    (sol,) = sp.solve(sp.Eq(sp.simplify(along / across), 1), p_sym)
    return sp.simplify(sol)


def hessian_metric_residual(depth: int, dim: int = 2) -> sp.Matrix:
    """Hess Phi(theta) M(theta) - ||theta||^{1 - 1/L} I with the derived p, explicit theta."""
    p = potential_exponent().subs(L_sym, depth)
    th = sp.Matrix(sp.symbols(f"t1:{dim + 1}", real=True))
    r = sp.sqrt(th.dot(th))
    hess = sp.hessian(r**p / p, list(th))
    M = r ** (2 - sp.Rational(2, depth)) * (sp.eye(dim) + (depth - 1) * th * th.T / r**2)
    res = hess * M - r ** (1 - sp.Rational(1, depth)) * sp.eye(dim)
    return res.applyfunc(lambda e: sp.simplify(sp.powsimp(sp.expand(e), force=True)))


def bregman_penalty(depth) -> tuple:
    """(D_Phi(theta, theta_S) as an expression, theta, theta_S) for dim 2; depth may be sp.oo."""
    th = sp.Matrix(sp.symbols("t1:3", real=True))
    ts = sp.Matrix(sp.symbols("s1:3", real=True))
    r, rs = sp.sqrt(th.dot(th)), sp.sqrt(ts.dot(ts))
    if depth == sp.oo:
        return r - ts.dot(th) / rs, th, ts
    p = potential_exponent().subs(L_sym, depth)
    phi = lambda v: sp.sqrt(v.dot(v)) ** p / p  # noqa: E731
    grad_s = rs ** (p - 2) * ts
    return phi(th) - phi(ts) - grad_s.dot(th - ts), th, ts


def checks() -> dict:
    """Name -> True for every derivation step (raises nothing; the tests assert all True)."""
    out = {}
    for depth in (1, 2, 3, 4):
        out[f"metric L={depth}"] = all(sp.simplify(e) == 0 for e in metric_residual(depth))
        out[f"hess*metric L={depth}"] = all(sp.simplify(e) == 0 for e in hessian_metric_residual(depth))
    out["p = (L+1)/L"] = sp.simplify(potential_exponent() - (L_sym + 1) / L_sym) == 0
    d1, th, ts = bregman_penalty(1)
    out["L=1 is ||theta - theta_S||^2/2"] = sp.simplify(sp.expand(d1 - (th - ts).dot(th - ts) / 2)) == 0
    out["L->oo limit"] = _large_depth_limit_ok()
    return out


def _large_depth_limit_ok() -> bool:
    """p D_Phi -> ||theta|| - theta_hat_S . theta - (||theta_S|| - ||theta_S||) as L -> oo."""
    p = potential_exponent()
    r, rs, c = sp.symbols("r r_s c", positive=True)       # c = theta_hat_S . theta_hat
    # p D_Phi = r^p - rs^p - p rs^{p-2} (rs r c - rs^2) with theta . theta_S = r rs c
    pd = r**p - rs**p - p * rs ** (p - 2) * (rs * r * c - rs**2)
    lim = sp.limit(pd, L_sym, sp.oo)
    return sp.simplify(lim - (r - r * c)) == 0
