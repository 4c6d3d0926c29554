"""Anisotropic inputs: x ~ N(0, diag(s) / D) with the variances s_d given as groups.

Derivation (ours).  With u_d = sqrt(s_d) beta_d the design is isotropic, X beta = Z u with
Z_ij ~ N(0, 1/D), and the penalty becomes Q~_d(u) = q_{c_d}(u / sqrt(s_d)).  The isotropic
replica channel in u, u_hat = prox_{tau Q~}(u* + sigma Z), is in beta

    beta_hat_d = prox_{(tau / s_d) q_{c_d}}(beta*_d + (sigma / sqrt(s_d)) Z):

a coordinate of input variance s sees the effective noise sigma^2 / s and the prox step
tau / s.  d u_hat / d(u input) equals the beta-channel derivative eta', and
(u_hat - u*)^2 = s (beta_hat - beta*)^2, so the order parameters (sigma, tau) solve

    alpha         = E[ eta'_s ]                                   (interpolation)
    alpha sigma^2 = sigma_noise^2 + E[ s (eta_s - beta*)^2 ]      (error balance).

The test error on fresh x of the same law is E[s (eta - beta*)^2] (column ``gen_error``; per
group the conditional mean of s (beta_hat - beta*)^2), the parameter MSE ||beta_hat - beta*||^2 / D
is E[(eta - beta*)^2] (column ``param_error``).  For alpha >= 1 without noise beta* is
recovered exactly; with noise the least-squares limit gives test error sigma_noise^2 / (alpha - 1)
and parameter MSE sigma_noise^2 E[1/s] / (alpha - 1).

The per-class scalings (sigma/sqrt(s), tau/s) are not in the compiled mixture solver (one
sigma, one tau for every class), so the saddle point is solved here: the kernel's mixture
expectation ``moments`` once per distinct variance s at (sigma/sqrt(s), tau/s), and a bracketed
nested solve in (log sigma, log tau) (tau(sigma) from the interpolation equation, warm-started
from the nearest solved sigma, then the error balance in sigma).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.optimize import brentq

from numerics import codegen

from .params import ParameterError, _finite, check_alphas
from .solver import GROUPS, KIND_ZERO, Accuracy, Classes, SolveResult

_LOG_SIGMA_FLOOR = math.log(1e-60)


_VARIANCE_RANGE = (1e-50, 1e50)


@dataclass(frozen=True)
class InputVariances:
    """Diagonal input covariance as groups: in coordinate group g a fraction f of the
    coordinates has input variance s (x_d ~ N(0, s/D)).

    per_group : for each of ``replica.solver.GROUPS`` a tuple of (fraction, variance) pairs
    (fractions sum to 1).  Build with :meth:`mixture` (independent of the teacher supports)
    or :meth:`by_group` (one variance per group).
    """

    per_group: tuple

    def __post_init__(self):
        if len(self.per_group) != len(GROUPS):
            raise ParameterError(f"need (fraction, variance) pairs for each of {len(GROUPS)} groups")
        clean = []
        for name, pairs in zip(GROUPS, self.per_group):
            pairs = tuple((_finite("fraction", f), _finite("variance", s)) for f, s in pairs)
            if not pairs or any(f < 0 for f, _ in pairs) or any(s <= 0 for _, s in pairs):
                raise ParameterError(f"group {name}: fractions must be >= 0 and variances > 0")
            if any(not _VARIANCE_RANGE[0] <= s <= _VARIANCE_RANGE[1] for _, s in pairs):
                # sigma scales like sqrt(s): outside this range it crosses the solver's
                # recovery floor and a wrong "exact recovery" would be reported
                raise ParameterError(f"group {name}: variances must lie in [1e-50, 1e50] "
                                     "(rescale the inputs; the error is invariant under a common scale)")
            if abs(sum(f for f, _ in pairs) - 1.0) > 1e-9:
                raise ParameterError(f"group {name}: variance fractions sum to "
                                     f"{sum(f for f, _ in pairs):g}, not 1")
            clean.append(pairs)
        object.__setattr__(self, "per_group", tuple(clean))

    @classmethod
    def mixture(cls, pairs) -> "InputVariances":
        """A fraction f_k of all coordinates (in every group alike) has variance s_k."""
        pairs = tuple((_finite("fraction", f), _finite("variance", s)) for f, s in pairs)
        total = sum(f for f, _ in pairs)
        if abs(total - 1.0) > 1e-9:
            raise ParameterError(f"variance fractions sum to {total:g}, not 1")
        return cls(tuple(pairs for _ in GROUPS))

    @classmethod
    def by_group(cls, mapping: dict) -> "InputVariances":
        """One variance per coordinate group (missing groups: 1)."""
        unknown = set(mapping) - set(GROUPS)
        if unknown:
            raise ParameterError(f"unknown group(s) {', '.join(sorted(unknown))}; use {', '.join(GROUPS)}")
        return cls(tuple(((1.0, mapping.get(g, 1.0)),) for g in GROUPS))


@dataclass(frozen=True)
class ScaledClasses:
    """Coordinate classes with an input variance s per class."""

    classes: Classes
    s: np.ndarray

    @cached_property
    def by_variance(self) -> tuple:
        """((s, class indices with that s), ...) for each distinct variance."""
        return tuple((float(v), np.flatnonzero(self.s == v)) for v in np.unique(self.s))


def split_classes(classes: Classes, var: InputVariances) -> ScaledClasses:
    """Split every class of group g by the variance law of g (classes.group indexes GROUPS)."""
    if classes.group_names != GROUPS:
        raise ParameterError("variances by group need the four PT/FT coordinate groups")
    cols = {k: [] for k in ("w", "c", "kind", "par", "group", "s")}
    for k in range(classes.weight.size):
        for f, s in var.per_group[classes.group[k]]:
            for key, val in (("w", classes.weight[k] * f), ("c", classes.c[k]), ("kind", classes.kind[k]),
                             ("par", classes.par[k]), ("group", classes.group[k]), ("s", s)):
                cols[key].append(val)
    out = Classes(np.array(cols["w"], float), np.array(cols["c"], float), np.array(cols["kind"], np.int64),
                  np.array(cols["par"], float), np.array(cols["group"], np.int64), classes.group_names)
    return ScaledClasses(out, np.array(cols["s"], float))


def scaled_moments(sc: ScaledClasses, sigma: float, tau: float, acc: Accuracy, kern):
    """Per class (E[eta'], E[(eta - beta*)^2], P active) of the channel with noise sigma/sqrt(s)
    and step tau/s: one compiled ``moments`` call per distinct variance s (the class loop runs
    in the kernel)."""
    cl = sc.classes
    per = np.zeros((cl.weight.size, 3))
    for s, idx in sc.by_variance:
        sub = np.empty((idx.size, 3))
        kern.moments(sigma / math.sqrt(s), tau / s, cl.weight[idx], cl.c[idx], cl.kind[idx], cl.par[idx],
                     acc.ksd, acc.h_max, acc.m_min, sub)
        per[idx] = sub
    return per


def _residuals(sc, ls, lt, alpha, noise2, acc, kern):
    sigma, tau = math.exp(ls), math.exp(lt)
    per = scaled_moments(sc, sigma, tau, acc, kern)
    w = sc.classes.weight
    e_eta = float(np.sum(w * per[:, 0]))
    e_test = float(np.sum(w * sc.s * per[:, 1]))
    return e_eta / alpha - 1.0, (e_test + noise2) / (alpha * sigma * sigma) - 1.0, per


def _bracket_root(f, x0, step, lo_limit=-math.inf, hi_limit=math.inf):
    """Find [a, b] with f(a) > 0 > f(b) for a decreasing f by walking from x0; None if the
    walk hits a limit first (the side it stopped on is returned as the second value)."""
    a = b = x0
    fa = fb = f(x0)
    while fa <= 0.0:
        b, fb = a, fa
        a -= step
        step *= 1.6
        if a < lo_limit:
            return None, "low"
        fa = f(a)
    while fb >= 0.0:
        a, fa = b, fb
        b += step
        step *= 1.6
        if b > hi_limit:
            return None, "high"
        fb = f(b)
    return (a, b), ""


def _solve_point(sc, alpha, noise2, acc, kern, start):
    """(ls, lt, status): status 0 interior, 1 exact recovery, 2 failed."""
    ls0, lt0 = start
    solved = {}                       # ls -> lt: warm starts, and no re-solve at the root found

    def f1(ls, lt):
        return _residuals(sc, ls, lt, alpha, noise2, acc, kern)[0]

    def tau_of(ls):
        if ls not in solved:
            warm = solved[min(solved, key=lambda k: abs(k - ls))] if solved else lt0
            br, side = _bracket_root(lambda lt: f1(ls, lt), warm, 0.5, -700.0, 700.0)
            if br is None:
                raise FloatingPointError(f"tau bracket failed ({side})")
            solved[ls] = brentq(lambda lt: f1(ls, lt), *br, xtol=1e-14, rtol=1e-14)
        return solved[ls]

    def f2(ls):
        return _residuals(sc, ls, tau_of(ls), alpha, noise2, acc, kern)[1]

    try:
        br, side = _bracket_root(f2, ls0, 1.0, _LOG_SIGMA_FLOOR, 300.0)
        if br is None:
            return (ls0, lt0, 1) if side == "low" else (ls0, lt0, 2)
        ls = brentq(f2, *br, xtol=1e-13, rtol=1e-14)
        return ls, tau_of(ls), 0
    except (FloatingPointError, ValueError, OverflowError):
        return ls0, lt0, 2


def solve_anisotropic_classes(sc: ScaledClasses, alphas, *, noise: float = 0.0,
                              accuracy: Accuracy | None = None, progress: bool = False,
                              info: dict | None = None) -> "AnisotropicResult":
    """Replica saddle point with per-class input variances, for each alpha (interpolation)."""
    acc = accuracy or Accuracy()
    kern = codegen.builtin("hypent")
    alphas = np.asarray(check_alphas(alphas), float)
    cl, n, ng = sc.classes, alphas.size, len(sc.classes.group_names)
    out = {k: np.full(n, np.nan) for k in ("gen", "par", "sigma", "tau", "act", "res")}
    gerr = np.full((n, ng), np.nan)
    conv = np.zeros(n, bool)
    phase = np.empty(n, object)
    start = None
    order = np.argsort(alphas, kind="stable")
    if progress:
        from tqdm.auto import tqdm
        order = tqdm(order, desc="alpha", unit="pt", leave=False)
    for i in order:
        alpha = float(alphas[i])
        if alpha >= 1.0:
            _closed_form(i, alpha, noise, sc, out, gerr, conv, phase)
            continue
        ls, lt, status = _solve_point(sc, alpha, noise**2, acc, kern, start or _guess(sc, alpha, noise))
        if status == 1:
            out["gen"][i] = out["par"][i] = out["sigma"][i] = out["tau"][i] = out["res"][i] = 0.0
            gerr[i] = 0.0
            out["act"][i] = float(np.sum(cl.weight[cl.kind != KIND_ZERO]))
            conv[i], phase[i] = True, "recovery"
            continue
        f1, f2, per = _residuals(sc, ls, lt, alpha, noise**2, acc, kern)
        out["gen"][i] = float(np.sum(cl.weight * sc.s * per[:, 1]))
        out["par"][i] = float(np.sum(cl.weight * per[:, 1]))
        out["sigma"][i], out["tau"][i], out["res"][i] = math.exp(ls), math.exp(lt), max(abs(f1), abs(f2))
        out["act"][i] = float(np.sum(cl.weight * per[:, 2]))
        gerr[i] = _group_means(cl, sc.s * per[:, 1], ng)
        conv[i] = bool(status == 0 and out["res"][i] <= max(acc.tol * 100, 1e-10))
        phase[i] = "interior" if status == 0 else "failed"
        start = (ls, lt) if conv[i] else None
    res = SolveResult(alphas, out["gen"], out["gen"] + noise**2, out["sigma"], out["tau"], gerr, out["act"],
                      out["res"], conv, phase.astype(str), np.zeros(n, np.int64), cl.group_names, dict(info or {}))
    return AnisotropicResult(res, out["par"])


def _guess(sc, alpha, noise):
    return 0.5 * math.log(max((1.0 - alpha) / alpha + noise**2 / alpha, 1e-8)), math.log(max(1.0 - alpha, 0.05) / alpha)


def _group_means(cl, vals, ng):
    num, den = np.zeros(ng), np.zeros(ng)
    np.add.at(num, cl.group, cl.weight * vals)
    np.add.at(den, cl.group, cl.weight)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _closed_form(i, alpha, noise, sc, out, gerr, conv, phase):
    """alpha >= 1: exact recovery (noiseless) or the least-squares limit (noisy)."""
    cl = sc.classes
    if noise == 0.0:
        e, ep = 0.0, 0.0
    elif alpha == 1.0:
        e = ep = math.inf
    else:
        e = noise**2 / (alpha - 1.0)
        ep = e * float(np.sum(cl.weight / sc.s))     # u-space error is isotropic; beta = u / sqrt(s)
    out["gen"][i], out["par"][i], out["tau"][i], out["res"][i] = e, ep, 0.0, 0.0
    out["sigma"][i] = math.sqrt((e + noise**2) / alpha) if math.isfinite(e) else math.inf
    gerr[i] = e
    out["act"][i] = float(np.sum(cl.weight[cl.kind != KIND_ZERO])) if noise == 0 else 1.0
    conv[i], phase[i] = True, "closed-form"


@dataclass(frozen=True)
class AnisotropicResult:
    """:class:`SolveResult` (gen_error = test MSE under the anisotropic input law) plus the
    parameter MSE ||beta_hat - beta*||^2 / D per alpha."""

    result: SolveResult
    param_error: np.ndarray

    def to_frame(self):
        frame = self.result.to_frame()
        frame.insert(frame.columns.get_loc("test_error") + 1, "param_error", self.param_error)
        return frame

    def __getattr__(self, name):          # alpha, gen_error, converged, ... of the result
        if name.startswith("__") or name == "result":     # copy/pickle probe before init
            raise AttributeError(name)
        return getattr(self.result, name)


def solve_anisotropic(task, init, alphas, variances: InputVariances, *, alpha_pt: float | None = None,
                      accuracy: Accuracy | None = None, progress: bool = False) -> AnisotropicResult:
    """PT+FT replica with anisotropic FT inputs (``variances``), oracle PT or, with ``alpha_pt``,
    imperfect PT on isotropic PT inputs (the FT classes of :mod:`replica.imperfect`)."""
    from .solver import ptft_classes

    info = {"c_pt": init.c_pt, "lambda_pt": init.lambda_abs, "gamma_ft": init.gamma_ft, "rho_pt": task.rho_pt,
            "rho_ft": task.rho_ft, "omega": task.omega, "a_pt": task.a_pt, "teacher": task.teacher,
            "noise": task.noise}
    if alpha_pt is None:
        base = ptft_classes(task, init)
    else:
        from .imperfect import imperfect_classes, pt_channel

        ch = pt_channel(task, init, alpha_pt, accuracy)
        if not ch.converged:
            raise ParameterError(f"PT replica at alpha_pt={ch.alpha_pt:g} did not converge "
                                 f"(residual {ch.residual:.3g})")
        base = imperfect_classes(task, init, ch)
        info.update(alpha_pt=ch.alpha_pt, sigma_pt=ch.sigma, pt_error=ch.pt_error)
    return solve_anisotropic_classes(split_classes(base, variances), alphas, noise=task.noise,
                                     accuracy=accuracy, progress=progress, info=info)
