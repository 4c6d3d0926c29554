"""The two regime axes of fine-tuning (docs/theory.md, "Regimes"), derived.

For the FT penalty q_c(b) of a coordinate with c = c_FT(beta_PT) (Theorem 4.1):

    l  = d log q_c(b) / d log|b|                      ("l-order": 1 rich / l1, 2 lazy / l2)
    PD = d log q_{c_FT(|beta_PT|)}(b) / d log|beta_PT|    ("pretraining dependence", <= 0)

Derivation (every step by SymPy from ``symbolic.penalty`` and ``symbolic.transfer``):

1. l(b, c) = b q'(b) / q(b); q_c is homogeneous of degree 1 in (b, c), so l depends on
   u = |b| / c only:  l(u) = u asinh(u) / (u asinh(u) - sqrt(1 + u^2) + 1).
2. Euler's identity for that homogeneity, b dq/db + c dq/dc = q, gives
   c d log q / dc = 1 - l; the chain rule through c = c_FT(beta_PT) then gives

       PD = (1 - l) * eps,   eps = d log c_FT / d log|beta_PT|   (elasticity of Theorem 4.1's map)

   so PD lies in [1 - l, 0]: a rich penalty (l -> 1) cannot be strongly PT-dependent in
   the log-derivative sense, which is why the classifier uses eps = PD / (1 - l), the
   dependence relative to its largest possible size at that l (``replica.regimes``).
3. Stable forms for printing (checked equal to the derived ones): with
   sqrt(1 + u^2) - 1 = u^2 / (1 + sqrt(1 + u^2)),
       l = asinh(u) / (asinh(u) - u / (1 + sqrt(1 + u^2)))     (no 0/0 cancellation beyond
   a factor 2 as u -> 0; l(0) = 2 by the limit), and
       eps = r |beta| t / (r (c_PT + hypot(beta, c_PT)) + gamma_FT^2/2),  t = |beta| / hypot(beta, c_PT),
   r = 1 + lambda_PT / c_PT, which cannot overflow for any finite beta_PT.
"""
from __future__ import annotations

from functools import lru_cache

import mpmath
import sympy as sp

from .penalty import hyperbolic_entropy
from .symbols import b, beta_pt, c, c_pt, gamma_ft
from .transfer import c_ft_normalised_expression, r_pt

u = sp.Symbol("u", nonnegative=True)          # |b| / c
_BP = sp.Symbol("b_abs", positive=True)        # |b| on the positive half-line
_HB = sp.Symbol("h", positive=True)            # hypot(beta_PT, c_PT), printed as math.hypot
_T = sp.Symbol("t", nonnegative=True)          # |beta_PT| / hypot(beta_PT, c_PT)


def _q_pos() -> sp.Expr:
    return hyperbolic_entropy().expr.subs(b, _BP)


@lru_cache(maxsize=None)
def l_order_expression() -> sp.Expr:
    """l(|b|, c) = |b| q_c'(|b|) / q_c(|b|), derived from the penalty (b > 0; q is even)."""
    q = _q_pos()
    return sp.simplify(_BP * sp.diff(q, _BP) / q)


@lru_cache(maxsize=None)
def l_order_of_u() -> sp.Expr:
    """l as a function of u = |b| / c alone (homogeneity; raises if c survives)."""
    expr = sp.simplify(l_order_expression().subs(_BP, u * c))
    if c in expr.free_symbols:
        raise AssertionError("l-order depends on more than |b|/c: q_c is not homogeneous")
    return expr


def l_order_stable() -> sp.Expr:
    """The printed form of l(u) (step 3 of the module docstring); ``checks`` proves it equal."""
    return sp.asinh(u) / (sp.asinh(u) - u / (1 + sp.sqrt(1 + u**2)))


@lru_cache(maxsize=None)
def l_order_limits() -> tuple[sp.Expr, sp.Expr]:
    """(l at u -> 0+, l at u -> oo): expected (2, 1), the lazy and rich ends."""
    expr = l_order_of_u()
    return sp.limit(expr, u, 0, "+"), sp.limit(expr, u, sp.oo)


@lru_cache(maxsize=None)
def scale_sensitivity() -> sp.Expr:
    """c d log q_c(b) / dc, derived (equal to 1 - l by Euler's identity, see ``checks``)."""
    q = _q_pos()
    return sp.simplify(c * sp.diff(q, c) / q)


@lru_cache(maxsize=None)
def c_ft_elasticity() -> sp.Expr:
    """eps = d log c_FT / d log|beta_PT| from Theorem 4.1's map, in (beta_PT, c_PT, r, gamma_FT)."""
    cft = c_ft_normalised_expression()
    return sp.simplify(beta_pt * sp.diff(cft, beta_pt) / cft)


def c_ft_elasticity_stable() -> sp.Expr:
    """Printed form of eps in (|beta_PT| = beta_PT >= 0, h = hypot, t = |beta|/h, r, gamma_FT)."""
    return r_pt * beta_pt * _T / (r_pt * (c_pt + _HB) + gamma_ft**2 / 2)


def stable_substitutions() -> dict:
    """h and t in terms of (beta_PT, c_PT), for checking the stable forms."""
    h = sp.sqrt(beta_pt**2 + c_pt**2)
    return {_HB: h, _T: beta_pt / h}


@lru_cache(maxsize=None)
def pd_expression() -> sp.Expr:
    """PD = (1 - l(u)) * eps with u = |b| / c_FT: the chain-rule form of step 2."""
    return (1 - l_order_of_u()) * c_ft_elasticity()


@lru_cache(maxsize=None)
def pd_direct() -> sp.Expr:
    """PD by differentiating log q_{c_FT(beta_PT)}(b) in log beta_PT directly (for checks)."""
    q = _q_pos().subs(c, c_ft_normalised_expression())
    return beta_pt * sp.diff(q, beta_pt) / q


def q_stable() -> sp.Expr:
    """q_c(|b|) = (c/2) [u asinh u - u^2 / (1 + sqrt(1 + u^2))], u = |b|/c (no cancellation
    for small u, where q ~ b^2 / (4c)); ``checks`` proves it equal to the penalty."""
    return c / 2 * (u * sp.asinh(u) - u**2 / (1 + sp.sqrt(1 + u**2)))


# -- checks (used by tests and by ``replica.regimes`` consumers) --------------------------------
def _zero(expr: sp.Expr) -> bool:
    expr = sp.simplify(expr)
    return expr == 0 or sp.simplify(sp.radsimp(sp.together(expr))) == 0


def _numeric_pd_points():
    """(beta_PT, c_PT, r, gamma_FT, |b|) points spanning rich/lazy and small/large scales."""
    vals = [("0.7", "1e-3", "1", "0", "3.1"), ("2", "0.5", "0.01", "0.3", "0.2"),
            ("1e-4", "1e-3", "1.99", "0", "10"), ("5", "1", "0.5", "10", "1"),
            ("1", "1e-6", "1", "1e-6", "1e-3"), ("30", "2", "1.3", "0.01", "100")]
    return [tuple(mpmath.mpf(v) for v in row) for row in vals]


def checks() -> list[tuple[str, bool, str]]:
    """(name, passed, detail) for each step of the derivation."""
    out = []
    lu = l_order_of_u()
    out.append(("l(u) closed form", _zero(lu - u * sp.asinh(u) / (u * sp.asinh(u) - sp.sqrt(1 + u**2) + 1)),
                "derived b q'/q in u = |b|/c equals u asinh u / (u asinh u - sqrt(1+u^2) + 1)"))
    out.append(("l stable form", _zero(lu - l_order_stable()), "printed form equals the derived one"))
    lo, hi = l_order_limits()
    out.append(("l limits", lo == 2 and hi == 1, f"l(0+) = {lo}, l(oo) = {hi}"))
    l_bc = l_order_expression().subs(_BP, u * c)
    out.append(("Euler: c dlog q/dc = 1 - l", _zero(scale_sensitivity().subs(_BP, u * c) - (1 - l_bc)),
                "q_c homogeneous of degree 1"))
    out.append(("q stable form", _zero(q_stable() - _q_pos().subs(_BP, u * c)), "printed q equals the penalty"))
    eps_st = c_ft_elasticity_stable().subs(stable_substitutions())
    bp_pos = sp.Symbol("beta_pos", positive=True)
    out.append(("eps stable form", _zero((c_ft_elasticity() - eps_st).subs(beta_pt, bp_pos)),
                "printed eps equals beta dc_FT/dbeta / c_FT for beta > 0"))
    out.append(_pd_chain_rule_check())
    return out


def _pd_chain_rule_check() -> tuple[str, bool, str]:
    """PD chain-rule form vs direct differentiation of log q, at 40 digits (SymPy cannot
    simplify the composite quickly, so this step is checked numerically)."""
    direct = sp.lambdify((beta_pt, c_pt, r_pt, gamma_ft, _BP), pd_direct(), "mpmath")
    cft = sp.lambdify((beta_pt, c_pt, r_pt, gamma_ft), c_ft_normalised_expression(), "mpmath")
    chain = sp.lambdify((u, beta_pt, c_pt, r_pt, gamma_ft), pd_expression(), "mpmath")
    worst = mpmath.mpf(0)
    with mpmath.workdps(40):
        for bpt, cpt, r, g, bb in _numeric_pd_points():
            ref = direct(bpt, cpt, r, g, bb)
            val = chain(bb / cft(bpt, cpt, r, g), bpt, cpt, r, g)
            worst = max(worst, abs(val - ref) / max(abs(ref), mpmath.mpf("1e-30")))
    return ("PD = (1 - l) eps", bool(worst < mpmath.mpf("1e-30")), f"max rel. error {float(worst):.1e} at 40 digits")
