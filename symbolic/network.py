"""The plus/minus diagonal network under gradient flow: conserved quantities and the
predictor's metric, derived from the parameter flow (nothing typed in).

beta = w+ v+ - w- v-; with g = dL/dbeta the flow is theta' = -g * A theta (A below).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .symbols import b, c

wp, vp, wm, vm = sp.symbols("w_p v_p w_m v_m", real=True)
g = sp.Symbol("g", real=True)            # dL/dbeta, the loss gradient at the coordinate
THETA = sp.Matrix([wp, vp, wm, vm])


def beta_expr() -> sp.Expr:
    return wp * vp - wm * vm


def parameter_flow() -> sp.Matrix:
    """d theta/dt = -dL/dtheta = -g * d beta/d theta."""
    return -g * sp.Matrix([sp.diff(beta_expr(), v) for v in THETA])


@lru_cache(maxsize=None)
def predictor_metric(balanced: bool = True) -> sp.Expr:
    """m(beta) in d beta/dt = -m g, as a function of beta and the invariants.

    d beta/dt = -g T with T = |theta|^2; the polynomial identity
    T^2 = 4 beta^2 + 4 c^2 + (lambda+ - lambda-)^2 (checked here by expansion) gives
    m = sqrt(k + 4 beta^2), k = (lambda+ - lambda-)^2 + 4 c^2; balanced paths give k = 4 c^2.
    """
    flow = parameter_flow()
    beta_dot = sum(sp.diff(beta_expr(), v) * f for v, f in zip(THETA, flow))
    T = sp.simplify(-beta_dot / g)
    lam_p, lam_m = wp**2 - vp**2, wm**2 - vm**2
    c_inv = wp * wm + vp * vm
    identity = sp.expand(T**2 - 4 * beta_expr() ** 2 - 4 * c_inv**2 - (lam_p - lam_m) ** 2)
    if identity != 0:
        raise AssertionError("metric identity failed: T^2 != 4 beta^2 + k")
    k = 4 * c**2 if balanced else 4 * c**2 + sp.Symbol("Delta_lambda", real=True) ** 2
    return sp.sqrt(k + 4 * b**2)
