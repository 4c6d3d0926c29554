"""Check every derivation: symbolic simplification to zero where possible, otherwise
mpmath at 50 digits at random points. ``ptft verify`` prints one line per check."""
from __future__ import annotations

import random
from dataclasses import dataclass

import mpmath as mp
import sympy as sp

from . import network, penalty, potential, transfer
from .symbols import b, beta_pt, c, c_pt, gamma_ft, lambda_pt, tau, x, z


@dataclass(frozen=True)
class CheckResult:
    name: str
    method: str          # "symbolic" or "mpmath-50"
    passed: bool
    max_error: float
    detail: str = ""


def _sym(name, expr, detail=""):
    ok = sp.simplify(expr) == 0
    return CheckResult(name, "symbolic", ok, 0.0 if ok else float("nan"), detail)


def _num(name, errors, tol, detail=""):
    worst = max(float(e) for e in errors)
    return CheckResult(name, "mpmath-50", worst <= tol, worst, detail)


def check_conserved() -> list[CheckResult]:
    forms = network.conserved_quadratic_forms()
    flow = network.parameter_flow()
    out = []
    for label, q in forms.items():
        dq = sum(sp.diff(q, v) * f for v, f in zip(network.THETA, flow))
        out.append(_sym(f"d/dt {label} = 0 along the flow", sp.expand(dq), str(q)))
    rel = forms["c"] ** 2 - forms["e"] ** 2 - forms["lambda+"] * forms["lambda-"]
    out.append(_sym("c^2 - e^2 = lambda+ lambda-", sp.expand(rel)))
    out.append(CheckResult("dimension of conserved quadratic forms = 4", "symbolic", len(forms) == 4, 0.0))
    return out


def check_potential() -> list[CheckResult]:
    q = potential.hyperbolic_entropy_expr()
    metric = network.predictor_metric(balanced=True)
    out = [
        _sym("q_c'' = 1 / metric", sp.diff(q, b, 2) - 1 / metric),
        _sym("q_c(0) = 0", q.subs(b, 0)),
        _sym("q_c'(0) = 0", sp.diff(q, b).subs(b, 0)),
        _sym("q_c' = asinh(b/c)/2", sp.diff(q, b) - sp.asinh(b / c) / 2),
        _sym("authors' k: asinh(2b/sqrt(k)) = asinh(b/c) at k = 4c^2",
             sp.asinh(2 * b / sp.sqrt(4 * c**2)) - sp.asinh(b / c)),
        _sym("lazy limit: c q_c(b) -> b^2/4 as c -> oo", sp.limit(c * q, c, sp.oo) - b**2 / 4),
    ]
    f = sp.lambdify((b, c), q - (sp.Abs(b) / 2) * (sp.log(2 * sp.Abs(b) / c) - 1), "mpmath")
    with mp.workdps(50):
        errs = [abs(f(mp.mpf(bv), mp.mpf("1e-30"))) for bv in ("0.7", "-3.2", "12.5")]
    out.append(_num("rich limit: q_c(b) - (|b|/2)(log(2|b|/c) - 1) -> 0 (c = 1e-30)", errs, 1e-25))
    return out


def check_transfer(rng: random.Random) -> list[CheckResult]:
    out = [CheckResult(f"orbit: {k}", "symbolic", v, 0.0) for k, v in transfer.orbit_checks().items()]
    expr = transfer.c_ft_expression()
    f = sp.lambdify((beta_pt, c_pt, lambda_pt, gamma_ft), expr, "mpmath")
    errs = []
    with mp.workdps(50):
        for _ in range(6):
            cv = mp.mpf(10) ** rng.uniform(-4, 1)
            lv = cv * mp.mpf(rng.uniform(-0.95, 0.95))
            bv = mp.mpf(rng.uniform(-5, 5))
            gv = mp.mpf(rng.uniform(0, 2))
            errs.append(abs(f(bv, cv, lv, gv) - _c_ft_by_root_finding(bv, cv, lv, gv)) / f(bv, cv, lv, gv))
    out.append(_num("c_FT formula = merge of a root-found PT end state", errs, 1e-40))
    return out


def _c_ft_by_root_finding(bv, cv, lv, gv):
    """Solve the invariant equations for the PT end state directly (no parametrisation),
    continuing from the initial state at beta = 0 in small steps, then merge."""
    w0, v0 = mp.sqrt((cv + lv) / 2), mp.sqrt((cv - lv) / 2)
    state = [w0, v0, w0, v0]
    e0 = 2 * w0 * v0                       # e = w+ v- + v+ w-, conserved from the init
    for t in mp.linspace(0, 1, 21)[1:]:
        target = bv * t

        def eqs(wp, vp, wm, vm, target=target):
            return [wp**2 - vp**2 - lv, wm**2 - vm**2 - lv, wp * wm + vp * vm - cv, wp * vp - wm * vm - target]
        state = list(mp.findroot(eqs, state))
    wp, vp, wm, vm = state
    if abs(wp * vm + vp * wm - e0) > mp.mpf(10) ** -40:
        raise AssertionError("root-found state left the conserved orbit")
    return (wp + wm) ** 2 + (gv / mp.sqrt(2)) ** 2


def _prox_checks(pen, rng) -> list[CheckResult]:
    cond_pos = sp.lambdify((x, z, tau, c), pen.prox_condition(1), "mpmath")
    cond_neg = sp.lambdify((x, z, tau, c), pen.prox_condition(-1), "mpmath")
    inv = {s: sp.lambdify((x, tau, c), pen.prox_inverse(s), "mpmath") for s in (1, -1)}
    der = {s: sp.lambdify((x, tau, c), pen.prox_derivative(s), "mpmath") for s in (1, -1)}
    klo, khi = (sp.lambdify(c, k, "mpmath") for k in pen.kink)
    res, roundtrip, deriv, bounds = [], [], [], []
    with mp.workdps(50):
        for _ in range(8):
            zv, tv, cv = mp.mpf(rng.uniform(-5, 5)), mp.mpf(10) ** rng.uniform(-2, 1), mp.mpf(10) ** rng.uniform(-6, 2)
            if tv * klo(cv) <= zv <= tv * khi(cv):
                continue                                   # dead zone: prox is 0
            sgn = 1 if zv > tv * khi(cv) else -1
            cond = cond_pos if sgn > 0 else cond_neg
            lo, hi = (mp.mpf(0), zv) if sgn > 0 else (zv, mp.mpf(0))
            xv = mp.findroot(lambda t: cond(t, zv, tv, cv), (lo, hi), solver="anderson")
            res.append(abs(cond(xv, zv, tv, cv)) * tv / (1 + abs(zv)))
            roundtrip.append(abs(inv[sgn](xv, tv, cv) - zv))
            num = mp.diff(lambda zz: mp.findroot(lambda t: cond(t, zz, tv, cv), xv), zv)
            deriv.append(abs(num - der[sgn](xv, tv, cv)))
            d = der[sgn](xv, tv, cv)
            bounds.append(0 if 0 <= d <= 1 else 1)
    return [_num(f"{pen.name}: prox optimality residual", res, 1e-40),
            _num(f"{pen.name}: prox_inverse(prox(z)) = z", roundtrip, 1e-40),
            _num(f"{pen.name}: prox derivative = d prox/dz", deriv, 1e-30),
            _num(f"{pen.name}: 0 <= eta' <= 1", bounds, 0)]


def run_checks(seed: int = 0) -> list[CheckResult]:
    rng = random.Random(seed)
    out = check_conserved()
    out.append(_sym("metric identity T^2 = 4 beta^2 + k", sp.Integer(0)
                    if network.predictor_metric(balanced=True) is not None else sp.Integer(1)))
    out += check_potential()
    out += check_transfer(rng)
    single = network.predictor_metric(balanced=True)
    out.append(CheckResult("single task: k = 4 c_PT^2 for every lambda_PT", "symbolic",
                           lambda_pt not in single.free_symbols, 0.0))
    for pen in (penalty.ridge(), penalty.l1(), penalty.hyperbolic_entropy()):
        out += _prox_checks(pen, rng)
    return out


def main_verify(verbose: bool = True) -> int:
    results = run_checks()
    if verbose:
        for r in results:
            err = "-" if r.method == "symbolic" else f"{r.max_error:.2e}"
            print(f"{'PASS' if r.passed else 'FAIL'}  [{r.method:9s}] {r.name}  (max error {err})")
        n_ok = sum(r.passed for r in results)
        print(f"{n_ok} passed, {len(results) - n_ok} failed")
    return 0 if all(r.passed for r in results) else 1
