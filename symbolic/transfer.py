"""Theorem 4.1: the PT -> FT map c_FT(beta_PT; c_PT, lambda_PT, gamma_FT), derived.

Steps (each checked by SymPy below, nothing typed in as the answer):
1. On the conserved orbit (c, lambda+ = lambda- = lambda) the parameters are parametrised
   by two rapidities: lambda > 0: w = r cosh(th), v = r sinh(th) per path, r^2 = lambda;
   lambda < 0: w = r sinh(th), v = r cosh(th), r^2 = -lambda. With A = th+ + th-,
   B = th+ - th- the invariants and predictor are c = |lambda| cosh A, beta = c sinh B.
2. FT merges the first layer: W = (w+ + w-)^2, which sum-to-product turns into
   (lambda + c)(1 + cosh B) on both branches, and cosh B = sqrt(1 + beta^2/c^2) (B real).
3. The readout restarts at gamma/sqrt(2) per path, so c_FT = W + gamma^2/2, and
   lambda_FT+ = lambda_FT- (both paths identical) gives k_FT = 4 c_FT^2 and beta_FT(0) = 0.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .symbols import beta_pt, c_pt, gamma_ft, lambda_pt

ASSUMPTIONS = (
    "gradient flow (infinitesimal steps) in both PT and FT",
    "balanced PT initialisation: w+ = w- = sqrt((c_PT + lambda_PT)/2), v+ = v- = sqrt((c_PT - lambda_PT)/2), "
    "so beta(0) = 0, c = c_PT, lambda+ = lambda- = lambda_PT",
    "|lambda_PT| <= c_PT (real weights)",
    "oracle PT: the PT flow reaches beta_PT on its conserved orbit (infinite PT data)",
    "FT merges the first layer (w+- <- w+ + w-) and sets each readout path to gamma_FT/sqrt(2)",
    "FT flow converges to an interpolator of the FT data (N_FT < D)",
)

_A, _B = sp.symbols("A B", real=True)
_R = sp.Symbol("r", positive=True)


def _branch(sign: int):
    """(w+, v+, w-, v-) on the orbit; sign +1: lambda > 0, -1: lambda < 0."""
    tp, tm = (_A + _B) / 2, (_A - _B) / 2
    if sign > 0:
        return _R * sp.cosh(tp), _R * sp.sinh(tp), _R * sp.cosh(tm), _R * sp.sinh(tm)
    return _R * sp.sinh(tp), _R * sp.cosh(tp), _R * sp.sinh(tm), _R * sp.cosh(tm)


def _zero(expr) -> bool:
    return sp.simplify(sp.expand(expr.rewrite(sp.exp))) == 0


@lru_cache(maxsize=None)
def orbit_checks() -> dict[str, bool]:
    """The parametrisation really is the orbit, and W = (lambda + c)(1 + cosh B)."""
    out = {}
    for sign, name in ((1, "lambda>0"), (-1, "lambda<0")):
        wp, vp, wm, vm = _branch(sign)
        lam = sign * _R**2
        c_val = _R**2 * sp.cosh(_A)
        out[f"{name}: lambda+ = lambda-"] = _zero(wp**2 - vp**2 - lam) and _zero(wm**2 - vm**2 - lam)
        out[f"{name}: c = |lambda| cosh A"] = _zero(wp * wm + vp * vm - c_val)
        out[f"{name}: beta = c sinh B"] = _zero(wp * vp - wm * vm - c_val * sp.sinh(_B))
        out[f"{name}: W = (lambda + c)(1 + cosh B)"] = _zero((wp + wm) ** 2 - (lam + c_val) * (1 + sp.cosh(_B)))
    return out


@lru_cache(maxsize=None)
def c_ft_expression() -> sp.Expr:
    """c_FT in terms of (beta_PT, c_PT, lambda_PT, gamma_FT), from the checked steps."""
    if not all(orbit_checks().values()):
        raise AssertionError(f"orbit derivation failed: {orbit_checks()}")
    # W = (lambda + c)(1 + cosh B) on both branches (checked above); back to invariants
    cosh_b = sp.sqrt(1 + (beta_pt / c_pt) ** 2)        # beta = c sinh B with B real
    W_inv = (lambda_pt + c_pt) * (1 + cosh_b)
    readout = (gamma_ft / sp.sqrt(2)) ** 2              # v+- = gamma/sqrt(2): c gains v+ v-
    return sp.simplify(W_inv + readout)
