"""The replica (state-evolution) solution of the fine-tuning problem, per alpha_FT.

For beta_hat = argmin sum_d Q_d(beta_d) s.t. X beta = y (or, with ``reg`` > 0, the penalised
form argmin (1/2N) ||y - X beta||^2 + (reg/D) sum_d Q_d(beta_d): mean loss, mean penalty) each
coordinate class k is a scalar prox channel, and the order parameters (sigma, tau) solve

    E[eta'] = alpha (1 - reg / tau),    alpha sigma^2 = sigma_noise^2 + E[(eta - beta*)^2].

(x ~ N(0, I/D); see docs/theory.md, "Replica equations". The noise enters as sigma_noise^2,
not alpha sigma_noise^2: Monte Carlo of the noisy min-norm interpolator and the Wishart moment
alpha s^2 / (1 - alpha) agree with this form, which is also continuous with the alpha > 1
closed form s^2 / (alpha - 1).)

The expectations and both solvers run in the generated Numba kernels (``numerics``);
this module walks the alpha grid with continuation over the coordinate classes
(``replica.classes``), certifies each point (``gen_error_err``, refined to ``rtol``) and packages
the result (``replica.result.SolveResult``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from numerics import codegen

from .classes import GROUPS, KIND_FIXED, KIND_GAUSS, KIND_ZERO, Classes, ptft_classes, single_classes  # noqa: F401
from .classes import _append_teacher, _pack  # noqa: F401 (re-exported for callers of replica.solver)
from .params import Init, ParameterError, Task, _check_fields, _finite, check_alphas, check_range
from .result import SolveResult, flag_nonfinite, parameter_columns  # noqa: F401

# below this sigma the fixed point is declared exact recovery (sigma^2 stays a normal float)
_LOG_SIGMA_FLOOR = math.log(1e-120)


@dataclass(frozen=True)
class Accuracy:
    """Quadrature and solver settings.

    Every point carries an a-posteriori estimate of its gen_error error (``gen_error_err``)
    and is re-solved with the step halved (up to ``max_refine`` times) until the estimate is
    below ``rtol * gen_error`` (purely relative; gen_error below 1e-24 counts as exact
    recovery, 0); ``ksd``, ``h_max`` and ``m_min`` set the first rule.
    Measured reliability and cost: ``python benchmarks/bench_accuracy.py``."""

    ksd: float = 9.0        # integrate z over mean +- ksd standard deviations
    h_max: float = 0.1      # largest trapezoid step in the map variable s
    m_min: int = 64         # fewest trapezoid intervals per segment
    tol: float = 1e-12      # |scaled residual| at convergence
    max_newton: int = 40
    rtol: float = 1e-8      # target relative error of gen_error
    max_refine: int = 5     # step halvings allowed to meet rtol

    def refined(self, level: int) -> "Accuracy":
        return replace(self, h_max=self.h_max / 2**level, m_min=self.m_min * 2**level)


# a fixed point with gen_error below this is exact recovery (reported as 0): with a point-mass
# teacher the error balance crosses 0 in rounding noise at sigma ~ 1e-16, i.e. gen_error ~ 1e-32;
# this is the one absolute floor of the error control
_RECOVERY_E = 1e-24
_TINY = 1e-300      # the error target where gen_error underflows
_COLD_NEWTON = 12   # Newton steps from the cold guess before the bracketed solve takes over
_BAR_STRETCH = 64   # points per compiled-curve call when a progress bar is shown


def _accuracy(accuracy, rtol) -> Accuracy:
    acc = accuracy or Accuracy()
    if rtol is not None:
        rtol = float(rtol)
        if not (math.isfinite(rtol) and 0.0 < rtol < 1.0):
            raise ParameterError(f"rtol must lie in (0, 1), got {rtol:g}")
        acc = replace(acc, rtol=rtol)
    return acc


# -- one point and a curve ---------------------------------------------------------------
def _guess(classes: Classes, alpha: float, noise: float, reg: float):
    """Cold start (seeds the bracketed solve). sigma^2 from the error balance with
    E[err] ~ (1 - alpha) E[s beta*^2]; tau from the interpolation equation of the ridge
    penalty with the classes' curvature (a scale; the bracket walks from there)."""
    svar = classes.svar
    signal = float(np.sum(classes.weight * svar * np.where(classes.kind == KIND_ZERO, 0.0,
                                                          np.where(classes.kind == KIND_GAUSS, classes.par,
                                                                   classes.par ** 2))))
    sigma2 = max((max(signal, 1e-3) * max(1.0 - alpha, 0.05) + noise**2) / alpha, 1e-8)
    tau = max(2.0 * float(np.median(classes.c)) * max(1.0 - alpha, 0.05) / alpha, reg * 2.0, 1e-8)
    return 0.5 * math.log(sigma2), math.log(tau)


@dataclass
class _Point:
    ls: float
    lt: float
    f1: float
    f2: float
    e_err: float
    status: int          # 0 interior, 1 exact recovery, 2 failed
    ok: bool             # Newton met the residual tolerance
    nev: int
    per: np.ndarray
    jac: np.ndarray
    kern: object = None      # the kernels that solved it (the error estimate is compiled there)


def _solve_point(kern, classes, alpha, noise2, reg, acc: Accuracy, start, start_jac=None) -> _Point:
    """From ``start``: chord steps with a neighbour's Jacobian ``start_jac`` (one evaluation
    each, then a fresh Jacobian at the root), else Newton; else (or if it fails) the bracketed
    nested solve from the cold guess, whose bracketing cannot fail on the monotone 1-D
    reductions, then a Newton polish."""
    args = (alpha, noise2, reg, classes.weight, classes.c, classes.kind, classes.par, classes.svar,
            acc.ksd, acc.h_max, acc.m_min)
    per = np.zeros((classes.weight.size, 7))
    jac = np.full(4, np.nan)
    nev = 0
    ok = False
    if start is not None and start_jac is not None and np.isfinite(start_jac).all():
        jac[:] = start_jac
        # the residual need not go below what moves gen_error by 1e-3 rtol (the estimate counts it)
        tol = min(max(1e-3 * acc.rtol, acc.tol), 1e-11)
        ls, lt, f1, f2, ok, k = kern.solve_chord(start[0], start[1], *args, per, tol, 8, jac)
        nev += k
        if ok:      # per and f1, f2 are current at the root; the Jacobian there, fresh
            kern.jacobian_at(ls, lt, *args, np.empty_like(per), jac)
            e_err = float((classes.weight * classes.svar) @ per[:, 1])
            return _Point(ls, lt, f1, f2, e_err, 0, True, nev + 2, per, jac, kern)
        jac[:] = np.nan
    if start is not None:
        ls, lt, f1, f2, ok, k = kern.solve_newton(start[0], start[1], *args, per, acc.tol, acc.max_newton, jac)
        nev += k
    status = 0
    if not ok:
        ls0, lt0 = _guess(classes, alpha, math.sqrt(noise2), reg)
        if start is None:     # cold: Newton (analytic Jacobian) from the guess, usually enough
            lt0, k = _settle_tau(kern, ls0, lt0, args, per)
            nev += k
            ls, lt, f1, f2, ok, k = kern.solve_newton(ls0, lt0, *args, per, acc.tol, _COLD_NEWTON, jac)
            nev += k
    if not ok:
        ls, lt, f1, f2, status, k = kern.solve_nested(ls0, lt0, *args, per, _LOG_SIGMA_FLOOR)
        nev += k
        if status == 0:   # polish the bracketed root
            ls, lt, f1, f2, ok, k = kern.solve_newton(ls, lt, *args, per, acc.tol, 8, jac)
            nev += k
    if status == 0 and not np.isfinite(jac).all():
        f1, f2, e_err = kern.jacobian(ls, lt, *args, per, jac)
        nev += 3
    elif ok:     # Newton's last evaluation was at (ls, lt): per and f1, f2 are current
        e_err = float((classes.weight * classes.svar) @ per[:, 1])
    else:
        f1, f2, e_err = kern.residuals(ls, lt, *args, per)
        nev += 1
    return _Point(ls, lt, f1, f2, e_err, status, ok, nev, per, jac, kern)


def _settle_tau(kern, ls0, lt0, args, per):
    """(log tau, evaluations) for Newton's cold start. The guess's tau comes from the penalty's
    curvature at 0, far too small where c is tiny (rich coordinates: the curvature that matters is
    at the signal's scale): then E[eta'] >> alpha (F1 > 1) and the Jacobian, nearly singular there,
    sends Newton the wrong way. tau is then solved from F1 = 0 at the guessed sigma first (F1 is
    monotone in tau: a bracketed 1-D solve), which brings 150-300 evaluations down to ~25."""
    f1 = kern.residuals(ls0, lt0, *args, per)[0]
    if not f1 > 1.0:
        return lt0, 1
    lt, _, k = kern.solve_tau(ls0, lt0, *args, per)
    return (lt if math.isfinite(lt) else lt0), k + 1


def _error_estimate(classes, alpha, noise2, reg, pt: _Point, fine=None) -> tuple[float, float]:
    """Bound on |gen_error - exact| at a solved point.

    The rule at steps 2h and 4h moves the fixed point by J^-1 (F_2h - F_h) and J^-1 (F_4h - F_h),
    which shift gen_error = alpha sigma^2 - noise^2 by e1, e2. For a rule converging like
    h^p, err(h) = e1 r / (1 - 2r) with r = e1 / e2 (Richardson); for the exponentially
    convergent trapezoid r is tiny and this is conservative. If the rules have not started
    to converge (r >= 0.4) the bound is e2.

    Richardson trusts the 4h rule to be in its asymptotic regime; a narrow peak far from the
    map's centre (a point-mass teacher at |x| >> L is squeezed to a width ~ sigma / |x| in
    s = asinh(x / L)) can leave the 4h rule with < 1 node per width, and then r is not the
    convergence rate (measured: r = 3e-4 while err(h) / err(2h) = 0.03). ``fine`` = F at
    step h/2 at the same (sigma, tau), an independent rule: its shift e0 ~ err(h) is taken
    when larger. The residual adds its own shift, and rounding of the sums a floor. The formula
    is compiled (``estimate`` in the kernels), shared with the compiled curve."""
    kern = pt.kern
    f = np.zeros(2) if fine is None else np.asarray(fine, float)
    est, resid = kern.estimate(alpha, noise2, reg, classes.weight, classes.svar, pt.per, pt.ls, pt.lt, pt.f1, pt.f2,
                               pt.e_err, np.asarray(pt.jac, float), f, fine is not None)
    return float(est), float(resid)


def _polish(kern, classes, alpha, noise2, reg, acc: Accuracy, pt: _Point) -> _Point:
    """A few more Newton steps below the residual tolerance (near alpha = 1 the fixed point
    is ill-conditioned and a 1e-12 residual can move gen_error by more than rtol)."""
    args = (alpha, noise2, reg, classes.weight, classes.c, classes.kind, classes.par, classes.svar,
            acc.ksd, acc.h_max, acc.m_min)
    per, jac = pt.per.copy(), pt.jac.copy()
    ls, lt, f1, f2, _, k = kern.solve_newton(pt.ls, pt.lt, *args, per, 1e-300, 4, jac)
    f1, f2, e_err = kern.jacobian(ls, lt, *args, per, jac)
    return _Point(ls, lt, f1, f2, e_err, 0, True, k + 3, per, jac, kern)


def _certified_point(kern, classes, alpha, noise2, reg, acc: Accuracy, start, start_jac=None):
    """Solve, estimate, and refine the rule until the estimate meets acc.rtol; a point that
    meets it is cross-checked against the rule at half the step before it is accepted.
    Returns (point, estimate, met, evaluations)."""
    pt = _solve_point(kern, classes, alpha, noise2, reg, acc, start, start_jac)
    nev = pt.nev
    level = 0
    polished = False
    while True:
        if pt.status != 0:
            return pt, 0.0 if pt.status == 1 else math.nan, pt.status == 1, nev
        if abs(pt.e_err) <= _RECOVERY_E:        # exact recovery to the stated tolerance
            return pt, abs(pt.e_err), True, nev
        target = acc.rtol * abs(pt.e_err) + _TINY
        est, resid = _error_estimate(classes, alpha, noise2, reg, pt)
        if est <= target:
            fine = _fine_residuals(kern, classes, alpha, noise2, reg, acc.refined(level), pt)
            nev += 1
            est, resid = _error_estimate(classes, alpha, noise2, reg, pt, fine)
            if est <= target:
                return pt, est, True, nev
            polished = True          # the rule, not the residual, failed the cross-check
        if resid > 0.5 * est and not polished:      # residual-limited: polish, same rule
            polished = True
            pt = _polish(kern, classes, alpha, noise2, reg, acc.refined(level), pt)
        elif level < acc.max_refine:                 # quadrature-limited: halve the step
            level += 1
            polished = False
            pt = _solve_point(kern, classes, alpha, noise2, reg, acc.refined(level), (pt.ls, pt.lt))
        else:
            return pt, est, False, nev
        nev += pt.nev


def _fine_residuals(kern, classes, alpha, noise2, reg, acc: Accuracy, pt: _Point):
    """(F1, F2) at the point's (sigma, tau) with the rule at half the step of ``acc`` (the
    independent check): the nodes of step h plus the midpoints, in one pass."""
    per = np.zeros_like(pt.per)
    fine = np.empty(2)
    kern.residuals_x(pt.ls, pt.lt, alpha, noise2, reg, classes.weight, classes.c, classes.kind, classes.par,
                     classes.svar, acc.ksd, acc.h_max, acc.m_min, per, kern.WANT_FINE, np.empty(4), fine)
    return float(fine[0]), float(fine[1])


def solve_classes(classes: Classes, alphas, *, noise: float = 0.0, reg: float = 0.0,
                  kernels="hypent", accuracy: Accuracy | None = None, progress=False,
                  info: dict | None = None, rtol: float | None = None) -> SolveResult:
    """Solve the saddle point for each alpha (ascending continuation); see :func:`solve`."""
    return _solve_classes(classes, alphas, noise=noise, reg=reg, kernels=kernels, accuracy=accuracy,
                          progress=progress, info=info, rtol=rtol)[0]


def _solve_classes(classes: Classes, alphas, *, noise=0.0, reg=0.0, kernels="hypent", accuracy=None,
                   progress=False, info=None, rtol=None):
    """:func:`solve_classes` plus the parameter MSE E[(eta - beta*)^2] per alpha (equal to
    gen_error unless the classes carry input variances)."""
    acc = _accuracy(accuracy, rtol)
    kern = codegen.builtin(kernels) if isinstance(kernels, str) else kernels
    alphas = np.asarray(check_alphas(alphas), float)
    reg = check_range("reg", reg)
    order = np.argsort(alphas, kind="stable")
    n, ng = alphas.size, len(classes.group_names)
    out = {k: np.full(n, np.nan) for k in ("gen", "par", "err", "sigma", "tau", "act", "res")}
    gerr = np.full((n, ng), np.nan)
    conv = np.zeros(n, bool)
    phase = np.empty(n, object)
    nevs = np.zeros(n, np.int64)
    svar = classes.svar
    start = None
    prev = []        # (alpha, ls, lt) of the last converged interior points: the predictor
    prev_jac = []    # and the Jacobians at the last two (chord steps)
    bar = _progress(n, progress)
    curve = _Curve(kern, classes, alphas[order], noise**2, reg, acc)
    # with a progress bar the compiled curve runs in stretches, the bar updated after each
    stretch = n if bar is None else _BAR_STRETCH
    pos = 0
    while pos < n:
        if start is not None:
            # the warm points the compiled curve certifies on its own (no Python per point)
            end = min(n, pos + stretch)
            stop, prev, prev_jac = curve.run(pos, end, prev, prev_jac)
            curve.store(pos, stop, order, out, gerr, conv, phase, nevs, ng)
            if bar is not None:
                bar.update(stop - pos)
            pos = stop
            if pos == n:
                break
            if stop == end:
                continue            # the stretch ended, not the curve: run the next one
        i = order[pos]
        pos += 1
        if bar is not None:
            bar.update(1)
        alpha = float(alphas[i])
        if reg == 0.0 and alpha >= 1.0:
            _closed_form(i, alpha, noise, classes, out, gerr, conv, phase)
            continue
        guess, guess_jac = _warm_start(kern, prev, prev_jac, alpha) if start is not None and prev else (None, None)
        pt, est, met, nevs[i] = _certified_point(kern, classes, alpha, noise**2, reg, acc, guess, guess_jac)
        res = max(abs(pt.f1), abs(pt.f2))
        if pt.status == 1 or (pt.status == 0 and abs(pt.e_err) <= _RECOVERY_E):   # exact recovery
            for key in ("gen", "par", "err", "sigma", "tau", "res"):
                out[key][i] = 0.0
            gerr[i] = 0.0
            out["act"][i] = float(np.sum(classes.weight[classes.kind != KIND_ZERO]))
            conv[i], phase[i] = True, "recovery"
            continue
        # a penalty without a minimum (e.g. exp(-b)) can drive the solve off to infinity:
        # report that point as not converged rather than overflow
        out["gen"][i], out["sigma"][i], out["tau"][i], out["res"][i] = pt.e_err, _exp(pt.ls), _exp(pt.lt), res
        out["par"][i] = float(classes.weight @ pt.per[:, 1])
        out["err"][i] = est
        out["act"][i] = float(classes.weight @ pt.per[:, 2])
        gerr[i] = _group_errors(classes, svar * pt.per[:, 1], ng)
        conv[i] = bool(pt.status == 0 and res <= max(acc.tol * 100, 1e-10) and met and math.isfinite(pt.e_err)
                       and math.isfinite(out["sigma"][i]) and math.isfinite(out["tau"][i]))
        phase[i] = "interior"
        start = (pt.ls, pt.lt) if conv[i] else None
        prev = (prev + [(alpha, pt.ls, pt.lt)])[-3:] if conv[i] else []
        prev_jac = (prev_jac + [pt.jac.copy()])[-2:] if conv[i] else []
    if bar is not None:
        bar.close()
    result = SolveResult(alphas, out["gen"], out["gen"] + noise**2, out["sigma"], out["tau"], gerr,
                         out["act"], out["res"], conv, phase.astype(str), nevs, classes.group_names,
                         dict(info or {}), out["err"])
    return result, out["par"]


class _Curve:
    """The compiled warm curve (``curve`` in the kernels) over the sorted alphas, and the
    packaging of the points it certified (the same columns as the general path)."""

    def __init__(self, kern, classes, sorted_alphas, noise2, reg, acc):
        k, n = classes.weight.size, sorted_alphas.size
        self.kern, self.classes, self.alphas, self.noise2, self.reg, self.acc = (kern, classes, sorted_alphas,
                                                                                noise2, reg, acc)
        self.pt = np.full((n, 6), np.nan)
        self.per = np.zeros((n, k, 7))
        self.jac = np.full((n, 4), np.nan)
        self.nev = np.zeros(n, np.int64)

    def run(self, pos, end, prev, prev_jac):
        """Solve sorted positions ``pos`` .. ``end - 1`` until a point is left to the general
        path; returns (that position, or ``end``, and the updated histories)."""
        c, acc = self.classes, self.acc
        hist = np.zeros((3, 3))
        jhist = np.zeros((2, 4))
        hist[:len(prev)] = np.asarray(prev, float).reshape(-1, 3)
        jhist[:len(prev_jac)] = np.asarray(prev_jac, float).reshape(-1, 4)
        stop, nh, nj = self.kern.curve(self.alphas[:end], pos, self.noise2, self.reg, c.weight, c.c, c.kind, c.par,
                                       c.svar, acc.ksd, acc.h_max, acc.m_min, acc.tol, acc.rtol, hist, len(prev),
                                       jhist, len(prev_jac), self.pt, self.per, self.jac, self.nev)
        if stop == pos:
            return stop, prev, prev_jac
        return stop, [tuple(r) for r in hist[:nh]], [j.copy() for j in jhist[:nj]]

    def store(self, lo, hi, order, out, gerr, conv, phase, nevs, ng):
        if hi <= lo:
            return
        idx = order[lo:hi]
        pt, per, c = self.pt[lo:hi], self.per[lo:hi], self.classes
        out["gen"][idx], out["err"][idx] = pt[:, 4], pt[:, 5]
        out["sigma"][idx], out["tau"][idx] = np.exp(pt[:, 0]), np.exp(pt[:, 1])
        out["res"][idx] = np.maximum(np.abs(pt[:, 2]), np.abs(pt[:, 3]))
        out["par"][idx] = per[:, :, 1] @ c.weight
        out["act"][idx] = per[:, :, 2] @ c.weight
        gerr[idx] = _group_errors(c, per[:, :, 1] * c.svar, ng)
        conv[idx], phase[idx], nevs[idx] = True, "interior", self.nev[lo:hi]


def _warm_start(kern, prev, prev_jac, alpha):
    """(ls, lt) and the chord Jacobian predicted at alpha from the last converged points
    (the compiled curve's own predictors: one copy)."""
    hist = np.asarray(prev, float).reshape(-1, 3)
    jac = np.full(4, np.nan)
    if prev_jac:
        kern.predict_jac(hist, len(prev), np.asarray(prev_jac, float).reshape(-1, 4), len(prev_jac), alpha, jac)
    return kern.predict(hist, len(prev), alpha), (jac if prev_jac else None)


def _exp(v: float) -> float:
    return math.exp(v) if v < 700.0 else math.inf


def _group_errors(classes, err, ng):
    """Weight-averaged per-class errors of each group: err (..., classes) -> (..., groups);
    NaN for an empty group."""
    onehot = np.zeros((classes.weight.size, ng))
    onehot[np.arange(classes.weight.size), classes.group] = classes.weight
    den = onehot.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (err @ onehot) / np.where(den > 0, den, 1.0), np.nan)


def _closed_form(i, alpha, noise, classes, out, gerr, conv, phase):
    """alpha >= 1, interpolation: beta* is the only interpolator (noiseless), else the
    lambda -> 0 limit is least squares with E = sigma_noise^2 / (alpha - 1)."""
    if noise == 0.0:
        e = 0.0
    else:
        e = math.inf if alpha == 1.0 else noise**2 / (alpha - 1.0)
    out["gen"][i], out["tau"][i], out["res"][i], out["err"][i] = e, 0.0, 0.0, 0.0
    # the u = sqrt(s) beta space is isotropic: beta's parameter MSE weighs 1/s
    out["par"][i] = e * float(classes.weight @ (1.0 / classes.svar)) if e > 0.0 else e
    out["sigma"][i] = math.sqrt((e + noise**2) / alpha) if math.isfinite(e) else math.inf
    gerr[i] = e
    out["act"][i] = float(np.sum(classes.weight[classes.kind != KIND_ZERO])) if noise == 0 else 1.0
    conv[i], phase[i] = True, "closed-form"


def _progress(n, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n, desc="alpha", unit="pt", leave=False)


# -- the one public solve: problem -> classes (one builder) -> the saddle-point loop ----------
# Every entry point (solve_single, solve_imperfect_pt, solve_anisotropic) is a thin wrapper of
# solve(); a new estimator plugs in as one more branch of build_problem (its classes, its
# kernels, its parameter columns), not as a new loop.


@dataclass(frozen=True)
class SingleTask:
    """One task, one penalty: beta_hat = argmin sum_d Q(beta_d) s.t. X beta = y.

    penalty : SymPy text in b (and the scale c), or a built-in name 'hypent' (q_c),
        'ridge', 'l1'.
    rho : fraction of coordinates carrying the teacher, in (0, 1].
    teacher : 'gaussian' (N(0, 1/rho)) or 'fixed' (amplitude 1/sqrt(rho)).
    noise : label-noise standard deviation sigma_noise.
    c : value of the scale c in the penalty (> 0).
    """

    penalty: str = "hypent"
    rho: float = 0.1
    teacher: str = "gaussian"
    noise: float = 0.0
    c: float = 1.0

    def __post_init__(self):
        _check_fields(self)     # c, rho, teacher, noise: the registry's rules, one error each


@dataclass(frozen=True)
class Pretraining:
    """Imperfect pretraining on round(alpha_pt D) noiseless samples (nested replica,
    :mod:`replica.imperfect`); ``quadrature`` sets the nodes of the PT-estimate law."""

    alpha_pt: float
    quadrature: object = None


@dataclass(frozen=True)
class Problem:
    """What the saddle-point loop needs: classes, kernels, the label noise and the
    parameter columns (``info``) of the result."""

    classes: object
    kernels: object
    noise: float
    info: dict


def build_problem(task, init=None, *, pretraining=None, inputs=None, accuracy=None, reg: float = 0.0) -> Problem:
    """The one class builder.

    task, init : :class:`Task` and :class:`Init` (PT+FT), or a :class:`SingleTask` and None.
    pretraining : None (oracle PT: beta_hat_PT = beta*_PT), alpha_PT (a number) or a
        :class:`Pretraining`.
    inputs : None (isotropic) or a :class:`replica.anisotropic.InputVariances`.

    Raises
    ------
    ConvergenceError
        The PT replica (imperfect pretraining) did not converge: the FT prediction would rest
        on it (exit 3 on the command line, not a refused input).
    """

    if isinstance(task, SingleTask):
        if init is not None or pretraining is not None or inputs is not None:
            raise ParameterError("a SingleTask takes no init, pretraining or inputs")
        name = task.penalty
        from symbolic.penalties import BUILTIN      # the one penalty registry

        kern = codegen.builtin(name) if name in BUILTIN else _penalty_kernels(name)
        classes = single_classes(task.rho, task.teacher, task.c, even=bool(kern.IS_EVEN))
        info = {"penalty": name, "rho": task.rho, "teacher": task.teacher, "noise": task.noise, "c": task.c,
                "reg": float(reg)}
        return Problem(classes, kern, task.noise, info)
    if not isinstance(task, Task) or not isinstance(init, Init):
        raise ParameterError("solve needs a Task and an Init (or a SingleTask)")
    extra = {}
    if pretraining is None:
        classes = ptft_classes(task, init)
        extra = {"c_ft_used": float(classes.c[0]) if classes.c.size else math.nan,
                 "c_ft_unused": float(classes.c[-1]) if classes.c.size else math.nan}
    else:
        classes, extra = _imperfect(task, init, pretraining, accuracy)
    if inputs is not None:
        from .anisotropic import split_classes

        classes = split_classes(classes, inputs).classes
    return Problem(classes, "hypent", task.noise, parameter_columns(task, init, reg, **extra))


def _penalty_kernels(text: str):
    """Compiled kernels of a penalty given as text, with the refusals that must come before
    any symbolic work: growth beyond float64 (a double exponential such as exp(exp(b**2))
    or cosh(cosh(b)) overflows at |b| of a few units, and checking it in arbitrary precision
    does not finish), and what the symbolic checks or the compiler cannot decide, as one
    line (exit 2) rather than an internal error."""
    from symbolic.parse import PenaltyError, parse_penalty
    from symbolic.errors import PtftError

    shown = " ".join(str(text).split())[:60]
    _check_growth(parse_penalty(text), shown)
    try:
        return codegen.from_expression(text)
    except PtftError:
        raise
    except NotImplementedError as err:       # SymPy cannot decide a sign (e.g. b**c)
        raise PenaltyError(f"penalty '{shown}' cannot be analysed symbolically ({err}); "
                           "give numbers instead of the scale c where it sets an exponent") from None
    except Exception as err:                 # noqa: BLE001 - numba refusing the printed code
        if type(err).__module__.startswith("numba"):
            raise PenaltyError(f"penalty '{shown}' cannot be compiled to float64 code "
                               f"({type(err).__name__}; e.g. an integer beyond 2**63: write it as a float)") from None
        raise


def _check_growth(expr, shown: str) -> None:
    """Refuse an exponential of an exponential of b (exp, cosh, sinh, or a power with b in the
    exponent): such a penalty leaves float64 range at |b| ~ 7 or below; and integers beyond
    64 bits, which the compiled kernels cannot type."""
    import sympy as sp

    from symbolic.parse import PenaltyError
    from symbolic.symbols import b

    def exponential(node) -> bool:
        if node.func in (sp.exp, sp.cosh, sp.sinh):
            return b in node.free_symbols
        return isinstance(node, sp.Pow) and b in node.exp.free_symbols

    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Integer) and abs(int(node)) >= 2**63:      # numba types it as int64
            raise PenaltyError(f"penalty '{shown}': the integer {float(node):.6e} is beyond 64-bit range; "
                               "write it as a float (e.g. 1.8446744073709552e19 for 2**64)")
        if exponential(node) and any(exponential(inner) for arg in node.args
                                     for inner in sp.preorder_traversal(arg)):
            raise PenaltyError(f"penalty '{shown}' grows like an exponential of an exponential of b "
                               "(it leaves float64 range for |b| of a few units); not supported")


def _imperfect(task, init, pretraining, accuracy):
    from symbolic.errors import ConvergenceError

    from .imperfect import Quadrature, imperfect_classes, pt_channel

    if not isinstance(pretraining, Pretraining):
        pretraining = Pretraining(pretraining)
    quad = pretraining.quadrature or Quadrature()
    ch = pt_channel(task, init, pretraining.alpha_pt, accuracy)
    if not ch.converged:
        raise ConvergenceError(f"the PT replica at alpha_pt={ch.alpha_pt:g} did not converge "
                               f"(residual {ch.residual:.3g}); the fine-tuning prediction would rest on it")
    classes = imperfect_classes(task, init, ch, quad)
    extra = {"alpha_pt": ch.alpha_pt, "sigma_pt": ch.sigma, "tau_pt": ch.tau, "pt_error": ch.pt_error,
             "pt_phase": ch.phase, "n_classes": int(classes.weight.size)}
    return classes, extra


def solve(task, init=None, alphas=(), *, pretraining=None, inputs=None, accuracy=None, reg: float = 0.0,
          progress: bool = False, rtol: float | None = None) -> SolveResult:
    """Replica prediction at each ``alpha`` (alpha_FT = N_FT / D).

    Parameters
    ----------
    task, init : :class:`Task`, :class:`Init` (PT+FT), or a :class:`SingleTask` (one task,
        any convex penalty) with ``init=None``.
    alphas : iterable of float > 0
    pretraining : None (oracle PT), alpha_PT = N_PT / D (a number > 0: imperfect PT, nested
        replica) or a :class:`Pretraining`.
    inputs : None (isotropic inputs) or :class:`replica.anisotropic.InputVariances` (then
        the result also carries ``param_error``).
    accuracy : :class:`replica.solver.Accuracy` (quadrature and solver settings).
    reg : explicit penalty strength >= 0 of the penalised form
        (1/2N)||y - X beta||^2 + (reg/D) sum_d q(beta_d); 0 (default) is the exact
        interpolation limit.
    rtol : target relative error of gen_error (default ``Accuracy.rtol`` = 1e-8); each
        point is refined until its estimate ``gen_error_err`` is below ``rtol * gen_error``,
        else flagged (converged=False). Purely relative, honoured from 1e-4 to 1e-12; the
        one absolute floor is exact recovery: gen_error below 1e-24 is reported as 0.

    Returns
    -------
    SolveResult
        Per-alpha predictions (gen_error and its error estimate gen_error_err, order parameters,
        per-group errors, convergence flags, final: inf/NaN is never converged); ``info`` holds
        the parameter columns (both lambda conventions), c_FT or the PT fixed point.

    Raises
    ------
    InputError
        Bad or infeasible parameters (one line).
    ConvergenceError
        The PT replica of imperfect pretraining did not converge.
    """
    if inputs is not None and reg != 0.0:
        raise ParameterError("anisotropic inputs are solved in the interpolation limit: reg must be 0")
    prob = build_problem(task, init, pretraining=pretraining, inputs=inputs, accuracy=accuracy, reg=reg)
    res, par = _solve_classes(prob.classes, alphas, noise=prob.noise, reg=reg, kernels=prob.kernels,
                              accuracy=accuracy, progress=progress, info=prob.info, rtol=rtol)
    if inputs is None:
        return res
    import dataclasses

    return dataclasses.replace(res, param_error=par)


def solve_single(penalty: str, rho: float, alphas, *, teacher: str = "gaussian", noise: float = 0.0,
                 c: float = 1.0, reg: float = 0.0, accuracy: Accuracy | None = None,
                 rtol: float | None = None) -> SolveResult:
    """Single-task replica prediction for any convex penalty given as SymPy text in b
    (and optionally the scale c), or a built-in name: 'hypent' (q_c), 'ridge', 'l1'
    (``solve(SingleTask(penalty, rho, teacher, noise, c), None, alphas)``).

    Returns
    -------
    SolveResult
        Per-alpha predictions; ``info`` holds the penalty and the task parameters.
    """
    return solve(SingleTask(penalty, rho, teacher, noise, c), None, alphas, accuracy=accuracy, reg=reg,
                  rtol=rtol)
