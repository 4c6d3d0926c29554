"""The plus/minus diagonal network under gradient flow: conserved quantities and the
predictor's metric, derived from the parameter flow (nothing typed in).

beta = w+ v+ - w- v-; with g = dL/dbeta the flow is theta' = -g * A theta (A below).
"""
from __future__ import annotations

from dataclasses import dataclass
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


# -- conserved quantities and the general metric --------------------------------------------
# Invariant symbols (the values the conserved forms take on an orbit). ``c`` is shared with
# the mirror potential (it is the scale c_d of q_c), the others live here.
lam_p_sym = sp.Symbol("lambda_+", real=True)   # lambda+ = (w+)^2 - (v+)^2
lam_m_sym = sp.Symbol("lambda_-", real=True)   # lambda- = (w-)^2 - (v-)^2
e_sym = sp.Symbol("e", real=True)              # e = w+ v- + v+ w-

_PLUS = (wp, vp)
_MINUS = (wm, vm)


def flow_matrix() -> sp.ImmutableMatrix:
    """A in theta' = -g A theta (A = Hessian of beta(theta), since beta is quadratic)."""
    flow = parameter_flow()
    A = sp.Matrix(4, 4, lambda i, j: sp.diff(-flow[i] / g, THETA[j]))
    if sp.simplify(A * THETA + flow / g) != sp.zeros(4, 1):   # theta' = -g A theta exactly
        raise AssertionError("parameter flow is not linear in theta")
    return sp.ImmutableMatrix(A)


@lru_cache(maxsize=None)
def _general_invariant_form() -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    """theta^T M theta for the general symmetric M with M A + A^T M = 0.

    d/dt theta^T M theta = -g theta^T (M A + A^T M) theta, so for all g and theta the form is
    conserved iff the symmetric matrix M A + A^T M vanishes: a linear system in the 10 entries.
    """
    A = flow_matrix()
    m = sp.symbols("m0:10")
    M = sp.zeros(4, 4)
    k = 0
    for i in range(4):
        for j in range(i, 4):
            M[i, j] = M[j, i] = m[k]
            k += 1
    (sol,) = sp.linsolve(list(M * A + A.T * M), m)
    free = tuple(sorted(set().union(*(s.free_symbols for s in sol)), key=str))
    Msol = M.subs(dict(zip(m, sol)))
    return sp.expand((THETA.T * Msol * THETA)[0]), free


def _pick(form: sp.Expr, free: tuple, support: set, normalise: sp.Expr, zero: tuple = ()) -> sp.Expr:
    """The unique member of the invariant space whose monomials lie in ``support``, with
    coefficient 1 on ``normalise`` and 0 on each of ``zero`` (a naming convention, not an answer)."""
    poly = sp.Poly(form, *THETA)
    eqs = [coef for mon, coef in zip(poly.monoms(), poly.coeffs())
           if sp.prod(t**p for t, p in zip(THETA, mon)) not in support]
    eqs.append(poly.coeff_monomial(normalise) - 1)
    eqs += [poly.coeff_monomial(mz) for mz in zero]
    sols = sp.solve(eqs, free, dict=True)
    if len(sols) != 1 or set(sols[0]) != set(free):
        raise AssertionError(f"invariant with leading monomial {normalise} is not unique")
    return sp.expand(form.subs(sols[0]))


@dataclass(frozen=True)
class ConservedQuantities:
    """Conserved quadratic forms of the plus/minus flow and what they imply.

    Fields (expressions in theta = (w+, v+, w-, v-) unless stated):
    lambda_plus, lambda_minus, c, e : the named basis of the invariant space;
    dimension : dim{M symmetric : M A + A^T M = 0} (4);
    relation : polynomial in the invariant symbols (lambda_+, lambda_-, c, e) vanishing on every
        orbit (c^2 - e^2 - lambda+ lambda-), found by Groebner elimination;
    k : T^2 - 4 beta^2 written in the invariant symbols, T = |theta|^2 (the metric constant);
    metric : sqrt(k + 4 b^2), the general predictor metric m(beta) in d beta/dt = -m g.
    """

    lambda_plus: sp.Expr
    lambda_minus: sp.Expr
    c: sp.Expr
    e: sp.Expr
    dimension: int
    relation: sp.Expr
    k: sp.Expr
    metric: sp.Expr

    def named(self) -> dict[str, sp.Expr]:
        return {"lambda_plus": self.lambda_plus, "lambda_minus": self.lambda_minus,
                "c": self.c, "e": self.e}

    def invariant_symbols(self) -> dict[str, sp.Symbol]:
        return {"lambda_plus": lam_p_sym, "lambda_minus": lam_m_sym, "c": c, "e": e_sym}


def time_derivative(expr: sp.Expr) -> sp.Expr:
    """d/dt of a function of theta along the parameter flow (chain rule)."""
    return sp.expand(sum(sp.diff(expr, t) * f for t, f in zip(THETA, parameter_flow())))


def _invariant_ideal() -> sp.GroebnerBasis:
    """Lex Groebner basis of {invariant symbol - form}: theta first, so it eliminates theta."""
    cq = _named_forms()
    gens = [lam_p_sym - cq["lambda_plus"], lam_m_sym - cq["lambda_minus"],
            c - cq["c"], e_sym - cq["e"]]
    # order theta > e > c > lambda+ > lambda-: normal forms then prefer c over e
    return sp.groebner(gens, *THETA, e_sym, c, lam_p_sym, lam_m_sym, order="lex")


@lru_cache(maxsize=None)
def _named_forms() -> dict[str, sp.Expr]:
    form, free = _general_invariant_form()
    plus_mon = {wp**2, vp**2, wp * vp}
    minus_mon = {wm**2, vm**2, wm * vm}
    cross_mon = {p * q for p in _PLUS for q in _MINUS}
    return {
        "lambda_plus": _pick(form, free, plus_mon, wp**2),
        "lambda_minus": _pick(form, free, minus_mon, wm**2),
        "c": _pick(form, free, cross_mon, wp * wm, zero=(wp * vm,)),
        "e": _pick(form, free, cross_mon, wp * vm, zero=(wp * wm,)),
    }


@lru_cache(maxsize=None)
def conserved_quantities() -> ConservedQuantities:
    """Find every conserved quadratic form theta^T M theta of theta' = -g A theta, name a basis,
    find the relation among them and the metric constant k; each step is checked."""
    form, free = _general_invariant_form()
    named = _named_forms()
    # the named forms must span the whole solution space
    coeffs = sp.Matrix([[sp.Poly(f, *THETA).coeff_monomial(mn) for mn in sp.itermonomials(THETA, 2, 2)]
                        for f in named.values()])
    if coeffs.rank() != len(free):
        raise AssertionError("named invariants do not span the invariant space")
    for name, f in named.items():
        if time_derivative(f) != 0:
            raise AssertionError(f"{name} is not conserved")
    G = _invariant_ideal()
    rel = [p for p in G.exprs if not p.free_symbols & set(THETA)]
    if len(rel) != 1:
        raise AssertionError(f"expected one relation among the invariants, found {len(rel)}")
    relation = sp.expand(rel[0] * sp.sign(sp.Poly(rel[0], c).LC()))   # sign: +c^2 first
    # k: normal form of T^2 - 4 beta^2 modulo the invariant ideal; theta-free => in the subalgebra
    T = sp.expand(sum(t**2 for t in THETA))
    _, k = G.reduce(sp.expand(T**2 - 4 * beta_expr() ** 2))
    if k.free_symbols & set(THETA):
        raise AssertionError("T^2 - 4 beta^2 is not a function of the invariants")
    k = sp.expand(k)
    return ConservedQuantities(
        lambda_plus=named["lambda_plus"], lambda_minus=named["lambda_minus"],
        c=named["c"], e=named["e"], dimension=len(free), relation=relation,
        k=k, metric=sp.sqrt(k + 4 * b**2))
