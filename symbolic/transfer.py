"""Pretraining -> fine-tuning transfer (Theorem 4.1 of the paper): the map (beta_PT, c_PT,
lambda_PT, gamma_FT) -> c_FT, derived from the conserved quantities of ``symbolic.network``.

Derivation (each step computed by SymPy; ``symbolic.verify`` re-checks them):

1. PT initialisation w+ = w- = sqrt((c_PT + lambda_PT)/2), v+ = v- = sqrt((c_PT - lambda_PT)/2)
   fixes the invariants of the orbit: c = c_PT, lambda+ = lambda- = lambda_PT,
   e = sqrt(c_PT^2 - lambda_PT^2) (e^2 from the forms; e >= 0 as a product of square roots).
2. Oracle PT: the end state is the point of that orbit with beta = beta_PT.
   Groebner elimination of theta from {invariants, beta, W = (w+ + w-)^2} gives a quadratic in W.
   Branch argument: its roots have product -(c+lambda)^2 beta^2 / c^2 <= 0 and never cross for
   c + lambda > 0; at beta = 0 the PT initialisation has W = 2 (c + lambda), which picks the
   root; the flow is continuous, so W stays on it (the unique nonnegative root for beta != 0).
3. The end state itself (``pt_end_state``): the hyperbolic parametrisation
   theta_pm = (A +- B)/2 (A = acosh(c/|lambda|), B = asinh(beta/c)), expanded with the addition theorem, is
   w+- = P cosh(B/2) +- Q sinh(B/2), v+- = Q cosh(B/2) +- P sinh(B/2); SymPy solves the invariant
   equations for P, Q >= 0 and (cosh, sinh)(B/2). The three sign cases of lambda collapse into
   this one form (P^2 = (c+lambda)/2, Q^2 = (c-lambda)/2), which is what makes it stable.
   ``symbolic.verify`` checks d theta/d beta = A theta / |theta|^2 (it is the flow's orbit).
4. FT re-initialisation w+- <- w+ + w-, v+- <- gamma_FT/sqrt(2): the FT invariants follow from
   the same forms: c_FT = W + gamma_FT^2/2, lambda_FT+ = lambda_FT-, beta_FT(0) = 0.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .network import THETA, beta_expr, conserved_quantities, vm, vp, wm, wp
from .symbols import beta_pt, c_pt, gamma_ft, lambda_pt

ASSUMPTIONS: list[str] = [
    "PT and FT are gradient flows (the small-step limit of full-batch GD) on the squared loss",
    "plus/minus diagonal network beta_d = w+_d v+_d - w-_d v-_d; every coordinate has its own orbit",
    "balanced homogeneous PT initialisation w+ = w- = sqrt((c_PT+lambda_PT)/2), "
    "v+ = v- = sqrt((c_PT-lambda_PT)/2): lambda+ = lambda- = lambda_PT, c = c_PT, beta(0) = 0",
    "c_PT > 0 and |lambda_PT| <= c_PT (real weights); lambda_PT in absolute units unless normalised",
    "oracle PT: PT ends exactly at beta_PT = beta*_PT on the conserved orbit of its initialisation",
    "FT merges the first layer, w+- <- w+ + w-, and re-initialises each readout path to "
    "gamma_FT/sqrt(2) (a readout of gamma_FT per path would give + gamma_FT^2 instead of + gamma_FT^2/2)",
    "hence lambda_FT+ = lambda_FT- (k_FT = 4 c_FT^2) and beta_FT(0) = 0 (Bregman centre at the origin)",
    "FT converges to an interpolator of its data (X beta = y); then beta_FT = argmin sum_d q_{c_FT,d}",
]

# internal symbols
W = sp.Symbol("W", nonnegative=True)            # (w+ + w-)^2 at the PT end point
S = sp.Symbol("S", real=True)                   # merged first-layer weight w+ + w-
P, Q = sp.symbols("P Q", nonnegative=True)      # r cosh(A/2), r sinh(A/2) (swapped for lambda < 0)
CB = sp.Symbol("C_B", positive=True)            # cosh(B/2), B = asinh(beta/c)
SB = sp.Symbol("S_B", real=True)                # sinh(B/2)
xr = sp.Symbol("x", real=True)                  # beta_PT / c_PT
s_plus = sp.Symbol("s_+", nonnegative=True)     # c_PT + lambda_PT, kept as one factor
s_minus = sp.Symbol("s_-", nonnegative=True)    # c_PT - lambda_PT
r_pt = sp.Symbol("r", nonnegative=True)         # (c_PT + lambda_PT)/c_PT = 1 + lambda_PT/c_PT


def on_pt_domain(expr: sp.Expr) -> sp.Expr:
    """Rewrite in s_+- = c_PT +- lambda_PT >= 0 (the domain |lambda_PT| <= c_PT), where
    sqrt(c - lambda) sqrt(c + lambda) = sqrt(c^2 - lambda^2) holds and SymPy can see it."""
    return expr.subs({lambda_pt: (s_plus - s_minus) / 2, c_pt: (s_plus + s_minus) / 2},
                     simultaneous=True)


def invariants_of(state: dict) -> dict[str, sp.Expr]:
    """Values of the conserved forms, beta and k at a parameter state {theta_i: expr}."""
    cq = conserved_quantities()
    out = {name: sp.simplify(f.subs(state, simultaneous=True)) for name, f in cq.named().items()}
    out["beta"] = sp.simplify(beta_expr().subs(state, simultaneous=True))
    syms = cq.invariant_symbols()
    out["k"] = sp.simplify(cq.k.subs({syms[n]: out[n] for n in ("lambda_plus", "lambda_minus", "c")},
                                     simultaneous=True))
    return out


# -- step 1: PT initialisation and its invariants -------------------------------------------
def pt_initial_state() -> dict[sp.Symbol, sp.Expr]:
    """theta(0) of PT: w+ = w- = sqrt((c_PT+lambda_PT)/2), v+ = v- = sqrt((c_PT-lambda_PT)/2)."""
    w0 = sp.sqrt((c_pt + lambda_pt) / 2)
    v0 = sp.sqrt((c_pt - lambda_pt) / 2)
    return {wp: w0, vp: v0, wm: w0, vm: v0}


@lru_cache(maxsize=None)
def pt_invariants() -> dict[str, sp.Expr]:
    """c, lambda+-, e, beta(0), k on the PT orbit, derived from the initial state.

    e comes out as a product of two square roots; with |lambda_PT| <= c_PT both radicands are
    nonnegative, so e = +sqrt(e^2) with e^2 computed by expansion.
    """
    inv = invariants_of(pt_initial_state())
    # radicands c +- lambda are >= 0 by assumption: nonnegative symbols let SymPy confirm e >= 0
    if not sp.simplify(on_pt_domain(inv["e"])).is_nonnegative:
        raise AssertionError("e at the PT initialisation is not manifestly nonnegative")
    inv["e"] = sp.sqrt(sp.factor(sp.expand(inv["e"] ** 2)))
    return inv


# -- step 2: Groebner elimination for W = (w+ + w-)^2 --------------------------------------
@lru_cache(maxsize=None)
def pt_eliminant() -> sp.Expr:
    """Monic polynomial p(W), coefficients in (c_PT, s_+ = c_PT + lambda_PT, beta_PT), vanishing
    at every point of the PT orbit where beta = beta_PT.

    The relation c^2 - e^2 = lambda^2 is parametrised rationally, lambda = c (1 - t^2)/(1 + t^2),
    e = 2 c t/(1 + t^2) with t = e/(c + lambda) >= 0, so the Groebner basis is computed over the
    field QQ(c, t, beta) (fast; with e as a free parameter the generic ideal would be trivial).
    lambda = -c (t = oo) follows by continuity.
    """
    cc, tt, bb, WW = sp.symbols("cc tt bb WW")            # assumption-free for the polys domain
    lam = cc * (1 - tt**2) / (1 + tt**2)
    ee = 2 * cc * tt / (1 + tt**2)
    if sp.simplify(cc**2 - ee**2 - lam**2) != 0:
        raise AssertionError("rational parametrisation violates c^2 - e^2 = lambda^2")
    cq = conserved_quantities()
    eqs = [cq.lambda_plus - lam, cq.lambda_minus - lam, cq.c - cc, cq.e - ee,
           beta_expr() - bb, (wp + wm) ** 2 - WW]
    eqs = [sp.expand(sp.numer(sp.together(q))) for q in eqs]
    G = sp.groebner(eqs, *THETA, WW, order="lex", domain=sp.QQ.frac_field(cc, tt, bb))
    elim = [q for q in G.exprs if not q.free_symbols & set(THETA)]
    if len(elim) != 1:
        raise AssertionError(f"expected one eliminant in W, found {len(elim)}")
    # back to (c, s_+, beta): t^2 = (c - lambda)/(c + lambda) = (2c - s_+)/s_+
    t_val = sp.sqrt((2 * c_pt - s_plus) / s_plus)
    p = sp.numer(sp.together(elim[0].subs({tt: t_val, cc: c_pt, bb: beta_pt}).subs(WW, W)))
    p = sp.Poly(sp.expand(p), W)
    return sp.expand(p.as_expr() / p.LC())


@lru_cache(maxsize=None)
def merged_weight_square() -> sp.Expr:
    """W = (w+ + w-)^2 at the PT end point, in (beta_PT, c_PT, s_+ = c_PT + lambda_PT).

    The root of ``pt_eliminant`` continued from the PT initialisation (W(0) = 2 s_+); the other
    root is <= 0 (Vieta: the product of the roots is <= 0), equal to 0 only at beta = 0.
    """
    poly = sp.Poly(pt_eliminant(), W)
    if poly.degree() != 2:
        raise AssertionError(f"eliminant has degree {poly.degree()}, expected 2")
    roots = sp.solve(poly.as_expr(), W)
    w_init = sp.simplify(((wp + wm) ** 2).subs(pt_initial_state()).subs(lambda_pt, s_plus - c_pt))
    at_init = [rt for rt in roots if sp.simplify(rt.subs(beta_pt, 0) - w_init) == 0]
    if len(at_init) != 1:
        raise AssertionError("no unique root continues the PT initialisation")
    if not (-sp.simplify(poly.nth(0) / poly.LC())).is_nonnegative:
        raise AssertionError("the roots do not have opposite signs")
    return sp.simplify(at_init[0])


# -- step 3: the end state itself ----------------------------------------------------------
def _hyperbolic_ansatz() -> dict[sp.Symbol, sp.Expr]:
    """w+- = P C_B +- Q S_B, v+- = Q C_B +- P S_B (addition theorem of theta_pm = (A +- B)/2)."""
    return {wp: P * CB + Q * SB, vp: Q * CB + P * SB, wm: P * CB - Q * SB, vm: Q * CB - P * SB}


@lru_cache(maxsize=None)
def pt_end_state_solution() -> dict[sp.Symbol, sp.Expr]:
    """Solve the orbit equations for the ansatz parameters {P, Q, C_B, S_B} in
    (beta_PT, c_PT, lambda_PT).

    The invariants c, lambda+-, e factor through C_B^2 - S_B^2, set to 1 (a hyperbolic pair);
    then P^2 - Q^2 = lambda, P^2 + Q^2 = c, 2 c C_B S_B = beta, and P, Q >= 0 since e = 2PQ >= 0.
    """
    inv = invariants_of(_hyperbolic_ansatz())
    hyp = CB**2 - SB**2
    reduced = {k: sp.factor(sp.cancel(inv[k] / hyp)) for k in ("lambda_plus", "lambda_minus", "c", "e")}
    if any(v.has(CB) or v.has(SB) for v in reduced.values()):
        raise AssertionError("invariants do not factor through C_B^2 - S_B^2")
    target = pt_invariants()
    pq = sp.solve([reduced["lambda_plus"] - target["lambda_plus"], reduced["c"] - target["c"]],
                  [P, Q], dict=True)
    pq = [sol for sol in pq if all(v.subs({c_pt: 2, lambda_pt: 1}).is_nonnegative for v in sol.values())]
    if len(pq) != 1:
        raise AssertionError("P, Q not determined uniquely")
    pq = pq[0]
    beta_red = sp.simplify(inv["beta"].subs(pq))                       # 2 c C_B S_B
    sb = sp.solve(beta_red.subs(beta_pt, xr * c_pt) - xr * c_pt, SB)   # linear in S_B
    if len(sb) != 1:
        raise AssertionError("S_B not determined")
    u = sp.Symbol("u", positive=True)                                   # u = C_B^2
    quad = sp.numer(sp.together((CB**2 - sb[0] ** 2 - 1).subs(CB, sp.sqrt(u))))
    cb2 = [rt for rt in sp.solve(quad, u) if rt.is_positive]
    if len(cb2) != 1:
        raise AssertionError("C_B^2 has no unique positive root")
    cb = sp.sqrt(cb2[0])
    sol = {P: pq[P], Q: pq[Q], CB: cb, SB: sb[0].subs(CB, cb)}
    return {k: v.subs(xr, beta_pt / c_pt) for k, v in sol.items()}


@lru_cache(maxsize=None)
def pt_end_state() -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """(w+, v+, w-, v-) at the oracle PT end point, in (beta_PT, c_PT, lambda_PT)."""
    sol = pt_end_state_solution()
    ans = _hyperbolic_ansatz()
    return tuple(ans[t].subs(sol, simultaneous=True) for t in THETA)


# -- step 4: FT re-initialisation ------------------------------------------------------------
def ft_initial_state() -> dict[sp.Symbol, sp.Expr]:
    """theta(0) of FT: merged first layer S = w+ + w- on both paths, readouts gamma_FT/sqrt(2)."""
    v0 = gamma_ft / sp.sqrt(2)
    return {wp: S, vp: v0, wm: S, vm: v0}


@lru_cache(maxsize=None)
def ft_invariants() -> dict[str, sp.Expr]:
    """c_FT, lambda_FT+-, e_FT, beta_FT(0), k_FT as functions of S and gamma_FT."""
    return invariants_of(ft_initial_state())


@lru_cache(maxsize=None)
def c_ft_expression() -> sp.Expr:
    """c_FT,d in (beta_PT, c_PT, lambda_PT, gamma_FT): the FT invariant c(S) with S^2 = W."""
    c_of_s = sp.expand(ft_invariants()["c"]).subs(S**2, W)
    if c_of_s.has(S):
        raise AssertionError("c_FT depends on S other than through S^2")
    expr = c_of_s.subs(W, merged_weight_square())
    return sp.simplify(expr.subs(s_plus, c_pt + lambda_pt))


@lru_cache(maxsize=None)
def orbit_checks() -> dict[str, bool]:
    """Named pass/fail of the derivation's own consistency conditions (kept for callers)."""
    inv, state = pt_invariants(), dict(zip(THETA, pt_end_state()))
    end = invariants_of(state)
    ft = ft_invariants()
    zero = lambda e: sp.simplify(on_pt_domain(e)) == 0  # noqa: E731
    return {
        "end state keeps c, lambda+-, e": all(zero(end[n] - inv[n]) for n in ("c", "lambda_plus", "lambda_minus", "e")),
        "end state has beta = beta_PT": zero(end["beta"] - beta_pt),
        "(w+ + w-)^2 = eliminant root": zero(sp.expand((state[wp] + state[wm]) ** 2)
                                             - merged_weight_square().subs(s_plus, c_pt + lambda_pt)),
        "FT: lambda+ = lambda-, beta(0) = 0": zero(ft["lambda_plus"] - ft["lambda_minus"]) and zero(ft["beta"]),
    }


# -- the pieces the numerics print ----------------------------------------------------------
@lru_cache(maxsize=None)
def small_component_products() -> tuple[sp.Expr, sp.Expr]:
    """w+ w- and v+ v- on the ansatz, reduced with C_B^2 = 1 + S_B^2 and P^2 - Q^2 = lambda.

    Returns expressions in (P, S_B, lambda_PT) and (Q, S_B, lambda_PT):
    w+ w- = P^2 + lambda S_B^2, v+ v- = Q^2 - lambda S_B^2. Why: for large |beta|/c one path of
    each layer is a difference of two nearly equal numbers (w- = P C_B - Q S_B for beta > 0);
    dividing these products by the other (cancellation-free) path recovers it to full relative
    precision, except at a genuine zero crossing of that weight.
    """
    ans = _hyperbolic_ansatz()
    lam_ab = sp.factor(invariants_of(ans)["lambda_plus"] / (CB**2 - SB**2))   # = P^2 - Q^2
    out = []
    for a, b_ in ((wp, wm), (vp, vm)):
        prod = sp.expand(sp.expand(ans[a] * ans[b_]).subs(CB**2, 1 + SB**2))
        parts = sp.collect(prod, SB**2, evaluate=False)
        if set(parts) != {SB**2, sp.S.One}:
            raise AssertionError(f"unexpected structure of {a} {b_}: {prod}")
        sign = sp.simplify(parts[SB**2] / lam_ab)           # +1 for w, -1 for v
        if sign not in (1, -1):
            raise AssertionError(f"S_B^2 coefficient of {a} {b_} is not +-lambda")
        out.append(parts[sp.S.One] + sign * lambda_pt * SB**2)
    return out[0], out[1]


@lru_cache(maxsize=None)
def pt_end_state_pieces() -> dict[str, tuple[tuple, sp.Expr]]:
    """The oracle PT end state as printable pieces, name -> (arguments, expression):
    (P, Q) of (s_+, s_-); (C_B, S_B) of x = beta/c; the large paths (sums of nonnegative terms,
    using |S_B|); the differences that give the small paths; and the products that give them
    without cancellation (``small_component_products``). ``numerics.transfer.pt_end_state``
    assembles them (stable for |beta|/c up to ~1e150 and lambda -> +-c)."""
    sol = pt_end_state_solution()
    pq = [sp.simplify(on_pt_domain(sol[v])) for v in (P, Q)]
    if any(e.free_symbols - {s_plus, s_minus} for e in pq):
        raise AssertionError("P, Q depend on more than c +- lambda")
    hyp = [sp.simplify(sol[v].subs(beta_pt, xr * c_pt)) for v in (CB, SB)]
    if any(e.free_symbols - {xr} for e in hyp):
        raise AssertionError("C_B, S_B depend on more than beta/c")
    ans = _hyperbolic_ansatz()
    sb_abs = sp.Symbol("S_abs", nonnegative=True)
    paths = (P, Q, CB, sb_abs)
    prod_w, prod_v = small_component_products()
    return {
        "p": ((s_plus, s_minus), pq[0]), "q": ((s_plus, s_minus), pq[1]),
        "cb": ((xr,), hyp[0]), "sb": ((xr,), hyp[1]),
        "w_big": (paths, ans[wp].subs(SB, sb_abs)), "v_big": (paths, ans[vp].subs(SB, sb_abs)),
        "w_diff": (paths, ans[wm].subs(SB, sb_abs)), "v_diff": (paths, ans[vm].subs(SB, sb_abs)),
        "w_prod": ((P, SB, lambda_pt), prod_w), "v_prod": ((Q, SB, lambda_pt), prod_v),
    }


@lru_cache(maxsize=None)
def c_ft_normalised_expression() -> sp.Expr:
    """c_FT in (beta_PT, c_PT, r = (c_PT + lambda_PT)/c_PT, gamma_FT): lambda enters only as the
    factor r in [0, 2], so lambda -> -c_PT is exact and large beta/c cannot overflow."""
    expr = sp.simplify(c_ft_expression().subs(lambda_pt, r_pt * c_pt - c_pt))
    if lambda_pt in expr.free_symbols:
        raise AssertionError("lambda_PT left after substitution")
    return expr
