"""Deep linear networks fine-tuned from a pretrained balanced initialisation: the implicit bias
derived in ``symbolic.deep_linear`` (docs/linear_teacher.md), evaluated numerically.

Depth L, end-to-end vector theta (theta), source theta_S. Gradient flow on the squared loss
converges (when it interpolates) to

    theta_FT = argmin_{X theta = y} D_Phi(theta, theta_S),   Phi(theta) = ||theta||^p / p,  p = (L+1)/L,

i.e. up to constants ||theta||^p - p ||theta_S||^{p-2} theta_S . theta. L = 1 is the closest
interpolator (``replica.linear_teacher.ft_solution``); L -> infinity gives ||theta|| (1 - cos(theta,
theta_S)): only the direction of theta_S matters.
"""
from __future__ import annotations

import math

import numpy as np

from ..params import ParameterError


def exponent(depth: float) -> float:
    """p = (L + 1)/L (1 for L = infinity)."""
    if not (depth >= 1):
        raise ParameterError(f"depth must be >= 1, got {depth}")
    return 1.0 if math.isinf(depth) else (depth + 1.0) / depth


def ft_potential(theta, theta_s, depth: float) -> float:
    """p D_Phi(theta, theta_S) = ||theta||^p - ||theta_S||^p - p ||theta_S||^{p-2} theta_S.(theta - theta_S)."""
    theta, theta_s = np.asarray(theta, float), np.asarray(theta_s, float)
    p = exponent(depth)
    rs = np.linalg.norm(theta_s)
    return float(np.linalg.norm(theta) ** p - rs**p - p * rs ** (p - 2) * theta_s @ (theta - theta_s))


def ft_solution(X, y, theta_s, depth: float, tol: float = 1e-11, max_iter: int = 200) -> np.ndarray:
    """theta_FT by damped Newton on the dual: theta(nu) = grad Phi*(h + X^T nu) with
    h = grad Phi(theta_S) = ||theta_S||^{p-2} theta_S and grad Phi*(g) = ||g||^{L-1} g (Phi* = ||g||^{L+1}/(L+1)).
    Finite depth only (the L = infinity potential is not strictly convex)."""
    if math.isinf(depth):
        raise ParameterError("ft_solution needs a finite depth (use a large L for the limit)")
    X, y, theta_s = np.asarray(X, float), np.asarray(y, float), np.asarray(theta_s, float)
    L = float(depth)
    h = np.linalg.norm(theta_s) ** (exponent(L) - 2.0) * theta_s
    nu = np.zeros(X.shape[0])
    theta_of = lambda v: np.linalg.norm(h + X.T @ v) ** (L - 1) * (h + X.T @ v)  # noqa: E731
    for _ in range(max_iter):
        g = h + X.T @ nu
        ng = np.linalg.norm(g)
        theta = theta_of(nu)
        resid = X @ theta - y
        r0 = np.linalg.norm(resid)
        if r0 <= tol * max(1.0, np.linalg.norm(y)):
            return theta
        hess = ng ** (L - 1) * (np.eye(g.size) + (L - 1) * np.outer(g, g) / ng**2)
        step = np.linalg.solve(X @ hess @ X.T, resid)
        t = 1.0        # damping: halve until the residual norm decreases (Newton's own merit)
        while np.linalg.norm(X @ theta_of(nu - t * step) - y) >= r0 and t > 1e-12:
            t *= 0.5
        nu = nu - t * step
    raise RuntimeError(f"deep-linear dual Newton did not converge (residual {np.linalg.norm(resid):.3g})")
