"""Independent checks of every symbolic derivation (``python -m symbolic.verify``).

Every derivation check of the project runs here: the network's invariants, the mirror potential,
the PT -> FT transfer (Theorem 4.1), the prox calculus of three penalties, the regime axes
(``symbolic.regimes``) and the deep-linear implicit bias (``symbolic.deep_linear``); ``ptft verify``
prints the count. Three methods:
- "symbolic": a residual expression that SymPy simplifies to exactly 0;
- "mpmath-50": random points evaluated with 50 significant digits, passing when the largest
  (relative) error is below 1e-40 (10 digits of margin for findroot / expm round-off);
- "mpmath-40": the one regime step SymPy cannot simplify, at 40 digits (error below 1e-30).

Longer than 400 lines on purpose: this is the single list of every derivation check, with the
independent reference each one uses; the one-sentence explanations live in ``symbolic.explanations``.

Numerical checks build their references differently from the derivation they test: the PT end
state by integrating the flow exactly (matrix exponential) instead of the parametrisation, the
prox by root finding and by comparing objective values, derivatives by mpmath.diff.
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from typing import Callable, Iterable

import mpmath
import sympy as sp

from . import transfer
from .explanations import explain
from .network import (THETA, beta_expr, conserved_quantities, flow_matrix, g, lam_m_sym, lam_p_sym,
                      predictor_metric, time_derivative, e_sym)
from . import penalties
from .penalty import Penalty
from .potential import hyperbolic_entropy_expr, mirror_potential
from .symbols import b, beta_pt, c, c_pt, gamma_ft, lambda_pt, tau, x, z

DPS = 50
TOL = mpmath.mpf("1e-40")


@dataclass(frozen=True)
class CheckResult:
    """One verification: ``method`` is "symbolic", "mpmath-50" or "mpmath-40"; ``max_error`` is 0 for an
    exact symbolic identity and the largest (relative) error over the points otherwise."""

    name: str
    method: str
    passed: bool
    max_error: float
    detail: str


# -- helpers ----------------------------------------------------------------------------------
def _is_zero(expr: sp.Expr) -> bool:
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    for attempt in (sp.simplify, lambda e: sp.simplify(e.rewrite(sp.exp)), sp.nsimplify):
        try:
            if attempt(expr) == 0:
                return True
        except (TypeError, ValueError, NotImplementedError):
            continue
    return False


def _symbolic(name: str, residuals: Iterable[sp.Expr], detail: str) -> CheckResult:
    residuals = list(residuals)
    bad = [r for r in residuals if not _is_zero(r)]
    if not bad:
        return CheckResult(name, "symbolic", True, 0.0, detail)
    return CheckResult(name, "symbolic", False, float("inf"),
                       f"{detail}; nonzero residual: {sp.sstr(bad[0])[:200]}")


def _numeric(name: str, errors: list, detail: str, tol=TOL) -> CheckResult:
    worst = max(errors) if errors else mpmath.mpf(0)
    ok = bool(errors) and worst < tol
    return CheckResult(name, "mpmath-50", ok, float(worst), f"{detail}; {len(errors)} points")


def _rel(a, ref, scale=None):
    scale = abs(ref) if scale is None else scale
    return abs(a - ref) / max(scale, mpmath.mpf("1e-300"))


def _guard(name: str, method: str, fn: Callable[[], CheckResult]) -> CheckResult:
    """A check that raises is a failed check (with the reason), not a crash of the suite."""
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - any failure is reported as FAIL
        return CheckResult(name, method, False, float("inf"), f"raised {type(err).__name__}: {err}")


# -- network ----------------------------------------------------------------------------------
def _network_checks() -> list[CheckResult]:
    cq = conserved_quantities()
    out = [_symbolic("conserved_space_dimension", [sp.Integer(cq.dimension - 4)],
                     "dim{M = M^T : M A + A^T M = 0} = 4")]
    for name, form in cq.named().items():
        out.append(_symbolic(f"conserved_{name}_dt", [time_derivative(form)],
                             f"d/dt ({form}) = 0 along theta' = -g A theta"))
    syms = cq.invariant_symbols()
    on_forms = {syms[n]: f for n, f in cq.named().items()}
    out.append(_symbolic("invariant_relation",
                         [sp.expand(cq.relation.subs(on_forms, simultaneous=True)),
                          cq.relation - (c**2 - e_sym**2 - lam_p_sym * lam_m_sym)],
                         "c^2 - e^2 = lambda+ lambda- (found by Groebner elimination)"))
    T = sum(t**2 for t in THETA)
    k_forms = cq.k.subs(on_forms, simultaneous=True)
    balanced = cq.metric.subs(lam_m_sym, lam_p_sym)
    out.append(_symbolic("metric_identity", [
        sp.expand(T**2 - 4 * beta_expr() ** 2 - k_forms),            # T^2 = 4 beta^2 + k
        time_derivative(beta_expr()) + g * T,                        # beta' = -g T
        sp.expand(cq.k - ((lam_p_sym - lam_m_sym) ** 2 + 4 * c**2)),
        balanced - predictor_metric(balanced=True),                  # k = 4 c^2 when balanced
        predictor_metric(balanced=True) - 2 * sp.sqrt(b**2 + c**2),
    ], "beta' = -g |theta|^2, |theta|^4 = 4 beta^2 + k, k = (lambda+ - lambda-)^2 + 4c^2"))
    return out


# -- mirror potential -----------------------------------------------------------------------
def _potential_checks() -> list[CheckResult]:
    q = hyperbolic_entropy_expr()
    dq = sp.diff(q, b)
    bp = sp.Symbol("b_pos", positive=True)
    d1, _ = mirror_potential(predictor_metric(balanced=True))
    out = [
        _symbolic("potential_q0", [q.subs(b, 0)], "q_c(0) = 0"),
        _symbolic("potential_dq0", [dq.subs(b, 0)], "q_c'(0) = 0"),
        _symbolic("potential_d2q_metric", [sp.diff(q, b, 2) - 1 / predictor_metric(balanced=True)],
                  "q_c'' = 1/m(b), m = sqrt(4 b^2 + 4 c^2)"),
        _symbolic("potential_dq_asinh",
                  [dq - sp.asinh(b / c) / 2] + [d1.subs(b, sgn * bp) - sp.asinh(sgn * bp / c) / 2
                                                 for sgn in (1, -1)],
                  "q_c' = asinh(b/c)/2 (also the integrated phi' on b > 0 and b < 0)"),
        _symbolic("potential_closed_form",
                  [q - (b * sp.asinh(b / c) - sp.sqrt(b**2 + c**2) + c) / 2],
                  "q_c = (b asinh(b/c) - sqrt(b^2 + c^2) + c)/2 (the hyperbolic entropy)"),
    ]
    k = sp.Symbol("k", positive=True)
    lam = sp.Symbol("lam", positive=True)
    hyp = penalties.make("hypent")
    authors_prox = x - z + (lam / 2) * sp.asinh(2 * x / sp.sqrt(k))
    out.append(_symbolic("authors_convention", [
        (sp.asinh(2 * x / sp.sqrt(k)) - sp.asinh(x / c)).subs(k, 4 * c**2),
        (authors_prox.subs(k, 4 * c**2).subs(lam, tau) - tau * hyp.prox_condition(1)),
        (authors_prox.subs(k, 4 * c**2).subs(lam, tau) - tau * hyp.prox_condition(-1)),
    ], "asinh(2x/sqrt(k)) = asinh(x/c) at k = 4c^2; authors' prox root = tau * prox_condition"))
    big = sp.limit(c * q, c, sp.oo)
    out.append(_symbolic("limit_c_infinity", [big - b**2 / 4], "lim_{c->oo} c q_c(b) = b^2/4"))
    small = [sp.limit(q.subs(b, sgn * bp) - (bp / 2) * (sp.log(2 * bp / c) - 1), c, 0, "+")
             for sgn in (1, -1)]
    out.append(_symbolic("limit_c_zero", small,
                         "lim_{c->0+} [q_c(b) - (|b|/2)(log(2|b|/c) - 1)] = 0, b > 0 and b < 0"))
    return out


# -- PT -> FT transfer ----------------------------------------------------------------------
def _transfer_symbolic_checks() -> list[CheckResult]:
    inv = transfer.pt_invariants()
    out = [_symbolic("pt_init_invariants", [
        inv["c"] - c_pt, inv["lambda_plus"] - lambda_pt, inv["lambda_minus"] - lambda_pt,
        inv["e"] ** 2 - (c_pt**2 - lambda_pt**2), inv["beta"]],
        "PT init: c = c_PT, lambda+- = lambda_PT, e = sqrt(c_PT^2 - lambda_PT^2), beta(0) = 0")]
    out.append(_symbolic("lambda_irrelevance", [inv["k"] - 4 * c_pt**2],
                         "single task: k_PT = 4 c_PT^2 for every lambda_PT"))
    state = dict(zip(THETA, transfer.pt_end_state()))
    end_inv = transfer.invariants_of(state)
    out.append(_symbolic("pt_state_invariants",
                         [transfer.on_pt_domain(end_inv[n] - inv[n])
                          for n in ("c", "lambda_plus", "lambda_minus", "e")]
                         + [end_inv["beta"] - beta_pt],
                         "derived PT end state lies on the PT orbit and has beta = beta_PT"))
    init = transfer.pt_initial_state()
    out.append(_symbolic("pt_state_at_init", [state[t].subs(beta_pt, 0) - init[t] for t in THETA],
                         "end state at beta_PT = 0 is the PT initialisation"))
    vec = sp.Matrix([state[t] for t in THETA])
    T = sum(v**2 for v in vec)
    out.append(_symbolic("pt_state_on_flow_orbit", list(vec.diff(beta_pt) * T - flow_matrix() * vec),
                         "d theta/d beta = A theta / |theta|^2: the curve is the flow's orbit "
                         "(time reparametrised), so by uniqueness it is the oracle PT state"))
    w_sq = sp.expand(((state[THETA[0]] + state[THETA[2]]) ** 2))
    groeb = transfer.merged_weight_square().subs(transfer.s_plus, c_pt + lambda_pt)
    out.append(_symbolic("c_ft_groebner_vs_state", [w_sq - groeb],
                         "(w+ + w-)^2 of the parametrised state = eliminant root W"))
    ft = transfer.ft_invariants()
    out.append(_symbolic("ft_reinit", [
        ft["lambda_plus"] - ft["lambda_minus"], ft["k"] - 4 * ft["c"] ** 2, ft["beta"]],
        "FT re-init: lambda_FT+ = lambda_FT-, k_FT = 4 c_FT^2, beta_FT(0) = 0"))
    c_ft = transfer.c_ft_expression()
    expected = (lambda_pt + c_pt) * (1 + sp.sqrt(1 + beta_pt**2 / c_pt**2)) + gamma_ft**2 / 2
    out.append(_symbolic("c_ft_closed_form", [c_ft - expected],
                         "c_FT = (lambda_PT + c_PT)(1 + sqrt(1 + beta_PT^2/c_PT^2)) + gamma_FT^2/2"))
    out.append(_symbolic("c_ft_limits", [
        c_ft.subs(lambda_pt, -c_pt) - gamma_ft**2 / 2,
        c_ft.subs(beta_pt, 0) - (2 * (c_pt + lambda_pt) + gamma_ft**2 / 2)],
        "lambda_PT = -c_PT gives gamma^2/2; beta_PT = 0 gives 2(c_PT + lambda_PT) + gamma^2/2"))
    return out


def _random_pt_points(rng: random.Random, n: int):
    """(c, lambda, beta) at 50 digits: random scales plus the edges lambda = -c, 0, +c."""
    pts = []
    for i in range(n):
        cv = mpmath.mpf(10) ** mpmath.mpf(rng.uniform(-3, 1))
        lt = [mpmath.mpf(-1), mpmath.mpf(0), mpmath.mpf(1)][i] if i < 3 else mpmath.mpf(rng.uniform(-1, 1))
        bv = mpmath.mpf(rng.choice([-1, 1])) * mpmath.mpf(10) ** mpmath.mpf(rng.uniform(-3, 3)) * cv
        pts.append((cv, lt * cv, bv))
    return pts


def _flow_state(cv, lv, bv):
    """PT end state by integrating theta' = -g A theta exactly: theta = expm(s A) theta0 with
    s = -int g; beta(s) is strictly increasing (d beta/ds = |theta|^2), so the root is unique."""
    A = mpmath.matrix(flow_matrix().tolist())
    th0 = mpmath.matrix([mpmath.sqrt((cv + lv) / 2), mpmath.sqrt((cv - lv) / 2),
                         mpmath.sqrt((cv + lv) / 2), mpmath.sqrt((cv - lv) / 2)])

    def state(s):
        return mpmath.expm(s * A) * th0

    def beta_of(s):
        th = state(s)
        return th[0] * th[1] - th[2] * th[3] - bv

    if bv == 0:
        return state(mpmath.mpf(0))
    # bracket: beta(s) >= c sinh(2|s|)-ish growth; this end point overshoots |beta|
    hi = mpmath.log(1 + 2 * abs(bv) / cv) / 2 + 1
    lo, hi = (mpmath.mpf(0), hi) if bv > 0 else (-hi, mpmath.mpf(0))
    s_star = mpmath.findroot(beta_of, (lo, hi), solver="anderson")
    s_star = mpmath.findroot(beta_of, s_star)        # secant polish to full precision
    return state(s_star)


def _paper_branch_state(cv, lv, bv):
    """The per-sign branch formulas of the PT end state (lambda > 0, < 0, = 0; cosh/sinh of
    (acosh(c/|lambda|) +- asinh(beta/c))/2), evaluated as a second, independent source."""
    if lv == 0:
        a = mpmath.sqrt((bv + mpmath.sqrt(bv**2 + cv**2)) / 2)
        bb = cv / (2 * a)
        return [a, a, bb, bb]
    mu = abs(lv)
    A_ = mpmath.acosh(cv / mu)
    B_ = mpmath.asinh(bv / cv)
    r = mpmath.sqrt(mu)
    tp, tm = (A_ + B_) / 2, (A_ - B_) / 2
    if lv > 0:
        return [r * mpmath.cosh(tp), r * mpmath.sinh(tp), r * mpmath.cosh(tm), r * mpmath.sinh(tm)]
    return [r * mpmath.sinh(tp), r * mpmath.cosh(tp), r * mpmath.sinh(tm), r * mpmath.cosh(tm)]


def _transfer_numeric_checks(rng: random.Random) -> list[CheckResult]:
    cq = conserved_quantities()
    forms = {n: sp.lambdify(THETA, f, "mpmath") for n, f in cq.named().items()}
    beta_f = sp.lambdify(THETA, beta_expr(), "mpmath")
    state_f = sp.lambdify((beta_pt, c_pt, lambda_pt), list(transfer.pt_end_state()), "mpmath")
    cft_f = sp.lambdify((beta_pt, c_pt, lambda_pt, gamma_ft), transfer.c_ft_expression(), "mpmath")
    err_flow, err_state, err_cft, err_branch = [], [], [], []
    for cv, lv, bv in _random_pt_points(rng, 14):
        gv = mpmath.mpf(rng.choice([0, rng.uniform(0, 3)]))
        th = _flow_state(cv, lv, bv)
        th = [th[i] for i in range(4)]
        scale = sum(abs(t) for t in th) ** 2            # the size of the products in each form
        targets = {"c": cv, "lambda_plus": lv, "lambda_minus": lv, "e": mpmath.sqrt(cv**2 - lv**2)}
        err_flow += [_rel(forms[n](*th), targets[n], scale) for n in targets]
        err_flow.append(_rel(beta_f(*th), bv, scale))
        derived = state_f(bv, cv, lv)
        err_state += [_rel(d, t, sum(abs(u) for u in th)) for d, t in zip(derived, th)]
        # merge paths and re-initialise the readout: c_FT from the forms at the FT state
        s_merge = th[0] + th[2]
        c_direct = forms["c"](s_merge, gv / mpmath.sqrt(2), s_merge, gv / mpmath.sqrt(2))
        err_cft.append(_rel(cft_f(bv, cv, lv, gv), c_direct, (abs(th[0]) + abs(th[2])) ** 2 + gv**2))
        paper = _paper_branch_state(cv, lv, bv)
        err_branch += [_rel(d, t, sum(abs(u) for u in th)) for d, t in zip(derived, paper)]
    return [
        _numeric("pt_flow_invariants", err_flow,
                 "expm-integrated PT state keeps c, lambda+-, e and hits beta_PT (rel. to |theta|_1^2)"),
        _numeric("pt_state_vs_flow", err_state, "derived end state = expm-integrated flow state"),
        _numeric("c_ft_direct_construction", err_cft,
                 "c_FT from the merged flow state = derived c_FT expression"),
        _numeric("pt_state_paper_branches", err_branch,
                 "derived unified state = per-sign branch formulas (lambda >, <, = 0)"),
    ]


# -- penalties --------------------------------------------------------------------------------
class _ProxMP:
    """prox_{tau Q}(z) at 50 digits from a Penalty: dead zone from ``kink``, else the root of
    ``prox_condition`` on the branch sign(z), bracketed by convexity."""

    def __init__(self, pen: Penalty):
        self.pen = pen
        self.cond = {br: sp.lambdify((x, z, tau, c), pen.prox_condition(br), "mpmath") for br in (1, -1)}
        self.inv = {br: sp.lambdify((x, tau, c), pen.prox_inverse(br), "mpmath") for br in (1, -1)}
        self.deriv = {br: sp.lambdify((x, tau, c), pen.prox_derivative(br), "mpmath") for br in (1, -1)}
        self.dq = {br: sp.lambdify((x, c), pen.dq(br), "mpmath") for br in (1, -1)}
        self.kink = [sp.lambdify(c, k, "mpmath") for k in pen.kink]
        self.obj = sp.lambdify((x, z, tau, c), pen.expr.subs(b, x) + (x - z) ** 2 / (2 * tau), "mpmath")

    def zone(self, zv, tv, cv):
        return tv * self.kink[0](cv), tv * self.kink[1](cv)

    def __call__(self, zv, tv, cv):
        lo_k, hi_k = self.zone(zv, tv, cv)
        if lo_k <= zv <= hi_k:
            return mpmath.mpf(0), 0
        br = 1 if zv > hi_k else -1
        f = lambda xx: self.cond[br](xx, zv, tv, cv)  # noqa: E731
        # f(0 side) < 0 < f(far side) by convexity (f increasing, Q'(0+-) at the kink)
        far = zv - tv * (self.kink[1](cv) if br > 0 else self.kink[0](cv))
        bracket = (mpmath.mpf(0), far) if br > 0 else (far, mpmath.mpf(0))
        if f(far) == 0:
            return far, br
        root = mpmath.findroot(f, bracket, solver="anderson")
        return mpmath.findroot(f, root), br


def _penalty_points(rng: random.Random, n: int):
    pts = []
    for _ in range(n):
        zv = mpmath.mpf(rng.choice([-1, 1])) * mpmath.mpf(10) ** mpmath.mpf(rng.uniform(-2, 2))
        tv = mpmath.mpf(10) ** mpmath.mpf(rng.uniform(-2, 1))
        cv = mpmath.mpf(10) ** mpmath.mpf(rng.uniform(-3, 1))
        pts.append((zv, tv, cv))
    return pts


def _penalty_checks(pen: Penalty, rng: random.Random) -> list[CheckResult]:
    prox = _ProxMP(pen)
    res, inv, der, rng_err, odd = [], [], [], [], []
    bad_obj = 0
    n_zone = 0
    h = mpmath.mpf("1e-15")
    for zv, tv, cv in _penalty_points(rng, 16):
        xv, br = prox(zv, tv, cv)
        if br == 0:
            n_zone += 1
            lo_k, hi_k = prox.zone(zv, tv, cv)
            # 0 is optimal iff (0 - z)/tau lies in -[Q'(0-), Q'(0+)] i.e. z in the dead zone
            res.append(mpmath.mpf(0) if lo_k <= zv <= hi_k else mpmath.mpf(1))
            d_num = mpmath.diff(lambda zz: prox(zz, tv, cv)[0], zv)
            der.append(abs(d_num))                  # eta' = 0 inside the dead zone
            rng_err.append(mpmath.mpf(0))
        else:
            res.append(abs(prox.cond[br](xv, zv, tv, cv)) / (1 + abs(zv) / tv))
            inv.append(_rel(prox.inv[br](xv, tv, cv), zv))
            eta = prox.deriv[br](xv, tv, cv)
            d_num = mpmath.diff(lambda zz: prox(zz, tv, cv)[0], zv)
            der.append(abs(eta - d_num))
            rng_err.append(mpmath.mpf(0) if 0 <= eta <= 1 else abs(eta - min(max(eta, 0), 1)) + 1)
        # optimality from the objective itself (Q, not its derivative): F(x) <= F(x +- h)
        f0 = prox.obj(xv, zv, tv, cv)
        if not (f0 <= prox.obj(xv + h, zv, tv, cv) and f0 <= prox.obj(xv - h, zv, tv, cv)):
            bad_obj += 1
        if pen.is_even:
            odd.append(abs(prox(-zv, tv, cv)[0] + xv) / (1 + abs(xv)))
    res_r = _numeric(f"prox_optimality[{pen.name}]", res,
                     f"|Q'(x) + (x - z)/tau| at x = prox (dead zone: z in tau[Q'(0-), Q'(0+)]), "
                     f"objective minimal at x +- 1e-15 ({n_zone} in dead zone)")
    if bad_obj:
        res_r = CheckResult(res_r.name, res_r.method, False, res_r.max_error,
                            res_r.detail + f"; objective not minimal at {bad_obj} points")
    out = [res_r,
           _numeric(f"prox_inverse[{pen.name}]", inv, "z(prox(z)) = z, z(x) = x + tau Q'(x)"),
           _numeric(f"prox_derivative[{pen.name}]", der,
                    "eta' = 1/(1 + tau Q''(x)) vs mpmath.diff of the prox (0 in the dead zone)"),
           _numeric(f"prox_derivative_range[{pen.name}]", rng_err, "0 <= eta' <= 1")]
    if pen.is_even:
        out.append(_numeric(f"prox_odd[{pen.name}]", odd, "even Q: prox(-z) = -prox(z)"))
    return out


# -- derivations checked by their own modules ------------------------------------------------------
def _regime_checks() -> list[CheckResult]:
    """The regime-axis derivation (``symbolic.regimes.checks``): symbolic steps plus one 40-digit
    numerical step (the chain-rule form of PD against direct differentiation)."""
    from . import regimes

    out = []
    for name, ok, detail in regimes.checks():
        numeric = name == "PD = (1 - l) eps"
        method = "mpmath-40" if numeric else "symbolic"
        err = float(detail.split("error ")[1].split()[0]) if numeric and "error " in detail else 0.0
        out.append(CheckResult(f"regimes[{name}]", method, bool(ok), err if ok else float("inf"), detail))
    return out


def _deep_linear_checks() -> list[CheckResult]:
    """The deep-linear (rank-one balanced chain) implicit-bias derivation, all symbolic."""
    from . import deep_linear

    return [CheckResult(f"deep_linear[{name}]", "symbolic", bool(ok), 0.0 if ok else float("inf"),
                        "exact SymPy identity")
            for name, ok in deep_linear.checks().items()]


def _orbit_checks() -> list[CheckResult]:
    """Consistency conditions the transfer derivation asserts about itself."""
    return [CheckResult(f"transfer_orbit[{name}]", "symbolic", bool(ok), 0.0 if ok else float("inf"),
                        "exact SymPy identity on the PT domain")
            for name, ok in transfer.orbit_checks().items()]


def _immse_checks() -> list[CheckResult]:
    """I-MMSE (Guo-Shamai-Verdu): dI/dsnr = mmse/2 for the spike-and-atoms prior
    (1-e) delta_0 + (e/2)(delta_A + delta_-A) in y = sqrt(snr) beta + Z, at 40 digits: I from the
    output entropy by quadrature, differentiated by mpmath.diff; mmse by its own quadrature."""
    e, a = mpmath.mpf("0.3"), mpmath.mpf("1.7")
    atoms = ((1 - e, 0), (e / 2, a), (e / 2, -a))

    def dens(y, snr):
        return sum(p * mpmath.npdf(y, mpmath.sqrt(snr) * m, 1) for p, m in atoms)

    def mi(snr):
        return mpmath.quad(lambda y: -dens(y, snr) * mpmath.log(dens(y, snr)), [-mpmath.inf, -3, 0, 3, mpmath.inf]) \
            - mpmath.log(2 * mpmath.pi * mpmath.e) / 2

    def mmse(snr):
        def sq_mean(y):
            return sum(p * m * mpmath.npdf(y, mpmath.sqrt(snr) * m, 1) for p, m in atoms) ** 2 / dens(y, snr)
        return e * a * a - mpmath.quad(sq_mean, [-mpmath.inf, -3, 0, 3, mpmath.inf])

    with mpmath.workdps(40):
        errs = [_rel(mpmath.diff(mi, s), mmse(s) / 2) for s in (mpmath.mpf("0.4"), mpmath.mpf("2.5"))]
    worst = max(errs)
    return [CheckResult("immse_identity", "mpmath-40", bool(worst < mpmath.mpf("1e-30")), float(worst),
                        "dI/dsnr = mmse/2 at snr 0.4, 2.5 (40 digits, error below 1e-30)")]


# -- entry points -------------------------------------------------------------------------------
def run_checks(seed: int = 0) -> list[CheckResult]:
    """Run every derivation check the project has; random points are drawn from ``seed``.

    Returns
    -------
    list of CheckResult
        One per check (network, potential, transfer, 50-digit transfer, prox calculus of three
        penalties, regime axes, deep-linear bias); a check that raises is a failed result.
    """
    rng = random.Random(seed)
    out: list[CheckResult] = []
    with mpmath.workdps(DPS):
        for name, method, fn in [
            ("network", "symbolic", _network_checks),
            ("potential", "symbolic", _potential_checks),
            ("transfer", "symbolic", _transfer_symbolic_checks),
            ("transfer_orbit", "symbolic", _orbit_checks),
            ("transfer_numeric", "mpmath-50", lambda: _transfer_numeric_checks(rng)),
        ]:
            res = _guard(name, method, lambda fn=fn: fn())  # noqa: B023
            out.extend(res if isinstance(res, list) else [res])
        for name in penalties.names():
            res = _guard(f"penalty[{name}]", "mpmath-50",
                         lambda name=name: _penalty_checks(penalties.make(name), rng))
            out.extend(res if isinstance(res, list) else [res])
    res = _guard("immse_identity", "mpmath-40", _immse_checks)
    out.extend(res if isinstance(res, list) else [res])
    for name, method, fn in [("regimes", "symbolic", _regime_checks),
                             ("deep_linear", "symbolic", _deep_linear_checks)]:
        res = _guard(name, method, fn)
        out.extend(res if isinstance(res, list) else [res])
    return out


def main_verify(verbose: bool = False, quiet: bool = False) -> int:
    """Print one line per check (only failures if ``quiet``; with ``verbose`` also one sentence
    saying what it establishes) and a count.

    Returns
    -------
    int
        0 iff every check passed, else 1 (the process exit code of ``ptft verify``).
    """
    results = run_checks()
    for r in results:
        if quiet and r.passed:
            continue
        status = "PASS" if r.passed else "FAIL"
        print(f"{r.name:48s} {r.method:10s} {status}  max_error={r.max_error:.3g}")
        if verbose:
            print(f"    {explain(r.name)}")
        if not r.passed:
            print(f"    {r.detail}")
    n_bad = sum(not r.passed for r in results)
    kinds = {}
    for r in results:
        kinds[r.method] = kinds.get(r.method, 0) + 1
    split = ", ".join(f"{n} {m}" for m, n in sorted(kinds.items()))
    print(f"{len(results) - n_bad}/{len(results)} checks passed ({split})")
    return 0 if n_bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main_verify(verbose="-v" in sys.argv or "--verbose" in sys.argv, quiet="-q" in sys.argv))
