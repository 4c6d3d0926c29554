"""The fundamental limit of fine-tuning: the Bayes-optimal error and the error of approximate
message passing (AMP) with the Bayes denoiser, for the same data as the network (docs/limits.md).

Scalar channel w = beta + sigma Z per coordinate group g (weight p_g, teacher law P_g with a
fraction eps_g of nonzeros); mmse_g(sigma^2) from ``numerics.bayes_kernels``. With
M(sigma^2) = sum_g p_g mmse_g(sigma^2) the state evolution (SE) of AMP is

    E_{t+1} = F(E_t) = M((s^2 + E_t) / alpha),     E_0 = E[beta*^2] = 1,

(s = label-noise std). Why the variable u = ln sigma^2: a fixed point E = F(E) is a solution of

    h(u) = alpha,      h(u) = (s^2 + M(e^u)) / e^u,      E = alpha e^u - s^2,

and h does not depend on alpha, so one scan of h per task serves every alpha of a curve, and the
potential whose stationary points are the fixed points is phi_alpha(u) = (alpha u - int h du)/2
(up to a constant; d phi / dE = alpha (E - F(E)) / (2 (s^2 + E)^2)). From E_0 = 1 AMP stops at the
largest fixed point (``amp_error``); the Bayes-optimal error (``bayes_error``) is the fixed point
of lowest phi (Barbier-Dia-Macris-Krzakala 2020, Reeves-Pfister 2016). Noiseless, phi ~
(alpha - d)/2 ln E as E -> 0 with d the information dimension, so E = 0 wins iff alpha > d.

Every fixed point is bracketed: the scan's grid plus every local extremum of h (refined by a
bounded search) splits u into pieces where h is monotone, so each crossing of alpha lies in one
bracket and brentq finds it; a branch is never chosen silently.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize as so

from numerics.bayes_kernels import KIND_FIXED, KIND_GAUSS, mmse_groups, mmse_one, total_mmse

from .params import ParameterError, Task, check_alphas

KNOWLEDGE = ("pt", "none", "genie")
E_FLOOR = 1e-30        # noiseless: an error below this (relative to E[beta*^2] = 1) is exact recovery
_DU = 0.25             # scan step in u = ln sigma^2 (h varies on a scale of ~1 in u)
_ATOL = 1e-14


# -- the prior: coordinate groups --------------------------------------------------------------
@dataclass(frozen=True)
class Prior:
    """Coordinate groups of the Bayes channel: weight p_g, fraction eps_g of teacher nonzeros,
    teacher law (``KIND_GAUSS``: par = v = 1/rho_FT; ``KIND_FIXED``: par = A = 1/sqrt(rho_FT))."""

    weight: np.ndarray
    eps: np.ndarray
    kind: np.ndarray
    par: np.ndarray
    names: tuple

    @property
    def info_dimension(self) -> float:
        """Renyi information dimension d = sum_g p_g eps_g (Gaussian slab), 0 for the atoms."""
        return float(np.sum(self.weight * self.eps * (self.kind == KIND_GAUSS)))


def prior_of(task: Task, knowledge: str = "pt") -> Prior:
    """Groups for ``knowledge``: 'pt' (the estimator knows the PT support: inside it a fraction
    omega rho_FT / rho_PT of coordinates are FT nonzeros, outside (1-omega) rho_FT / (1-rho_PT)),
    'none' (one group, eps = rho_FT) or 'genie' (the FT support itself: eps = 1 on it)."""
    if knowledge not in KNOWLEDGE:
        raise ParameterError(f"knowledge must be one of {', '.join(KNOWLEDGE)}, got {knowledge!r}")
    rho, rho_pt = task.rho_ft, task.rho_pt
    if knowledge == "none":
        groups = [("all", 1.0, rho)]
    elif knowledge == "genie":
        groups = [("ft_support", rho, 1.0)]
    else:
        groups = [("in_pt", rho_pt, task.rho_shared / rho_pt if rho_pt > 0 else 0.0),
                  ("out_pt", 1.0 - rho_pt, task.rho_new / (1.0 - rho_pt) if rho_pt < 1 else 0.0)]
    groups = [(n, p, min(max(e, 0.0), 1.0)) for n, p, e in groups if p > 0.0 and e > 0.0]
    gauss = task.teacher == "gaussian"
    par = 1.0 / rho if gauss else 1.0 / math.sqrt(rho)
    return Prior(np.array([g[1] for g in groups]), np.array([g[2] for g in groups]),
                 np.full(len(groups), KIND_GAUSS if gauss else KIND_FIXED, np.int64),
                 np.full(len(groups), par), tuple(g[0] for g in groups))


def mmse(prior: Prior, sigma2, hfac: float = 1.0):
    """M(sigma^2) = sum_g p_g mmse_g(sigma^2) at each value of ``sigma2`` and its quadrature
    error estimate (rules h and 2h). Returns (values, estimates) as arrays."""
    s2 = np.atleast_1d(np.asarray(sigma2, float))
    m1, m2 = total_mmse(s2, prior.weight, prior.eps, prior.kind, prior.par, hfac)
    return m1, np.abs(m1 - m2)


def group_mmse(prior: Prior, sigma2: float) -> np.ndarray:
    out, out2 = np.empty(prior.eps.size), np.empty(prior.eps.size)
    mmse_groups(float(sigma2), prior.eps, prior.kind, prior.par, 1.0, out, out2)
    return out


# -- the function h(u) and its scan ------------------------------------------------------------
class _H:
    """h(u) = (s^2 + M(e^u)) / e^u on a scan grid with its local extrema refined."""

    def __init__(self, prior: Prior, noise2: float, u_lo: float, u_hi: float, hfac: float = 1.0):
        self.prior, self.noise2, self.hfac = prior, noise2, hfac
        self.nev = 0
        n = max(int(math.ceil((u_hi - u_lo) / _DU)), 8)
        u = np.linspace(u_lo, u_hi, n + 1)
        h = self(u)
        ext_u, ext_h = [], []
        for i in range(1, n):          # interior extrema of the grid values: refine each
            if (h[i] - h[i - 1]) * (h[i + 1] - h[i]) < 0.0:
                sgn = 1.0 if h[i] < h[i - 1] else -1.0    # minimum: +h, maximum: -h
                r = so.minimize_scalar(lambda x: sgn * self.one(x),
                                       bounds=(u[i - 1], u[i + 1]), method="bounded",
                                       options={"xatol": 1e-10})
                ext_u.append(float(r.x))
                ext_h.append(float(sgn * r.fun))
        order = np.argsort(np.concatenate([u, ext_u]), kind="stable")
        self.u = np.concatenate([u, ext_u])[order]
        self.h = np.concatenate([h, ext_h])[order]
        self.extrema = np.array(ext_h)

    def __call__(self, u, hfac=None):
        s2 = np.exp(np.asarray(u, float))
        m, _ = mmse(self.prior, s2, self.hfac if hfac is None else hfac)
        self.nev += s2.size
        return (self.noise2 + m) / s2

    def m_one(self, s2: float):
        """M(s2) and its estimate |M_h - M_2h| (scalar path: the solver's many single calls)."""
        p = self.prior
        m1, m2 = mmse_one(s2, p.weight, p.eps, p.kind, p.par, self.hfac)
        self.nev += 1
        return m1, abs(m1 - m2)

    def one(self, u: float) -> float:
        s2 = math.exp(u)
        return (self.noise2 + self.m_one(s2)[0]) / s2

    def with_error(self, u: float):
        """h(u), |h_h - h_2h| (the quadrature error estimate of h) and M(e^u)."""
        s2 = math.exp(u)
        m, dm = self.m_one(s2)
        return (self.noise2 + m) / s2, dm / s2, m


@dataclass
class _FixedPoint:
    E: float
    err: float
    u: float
    stable: bool


def _crossings(hh: _H, alpha: float) -> list[_FixedPoint]:
    """Every root of h(u) = alpha on the scan range (ascending E), each certified by brentq in a
    bracket where h is monotone; with the error estimate of E from the quadrature and the slope."""
    d = hh.h - alpha
    out = []
    for i in np.nonzero(d[:-1] * d[1:] <= 0.0)[0]:
        a, b = hh.u[i], hh.u[i + 1]
        if d[i] == 0.0 and i > 0 and d[i - 1] * d[i + 1] > 0:
            continue                      # touches alpha at an extremum: counted once below
        if d[i + 1] == 0.0 and i + 1 < d.size - 1:
            continue                      # the root sits on the next node: next bracket has it
        if hh.noise2 > 0.0 and d[i] < 0.0 < d[i + 1]:
            # h rises through alpha: an unstable fixed point. It is counted but never reported
            # nor compared (AMP stops at a stable one, Bayes is a stable one), so it is not refined
            u = a + (b - a) * d[i] / (d[i] - d[i + 1])
            out.append(_FixedPoint(max(alpha * math.exp(u) - hh.noise2, 0.0), math.nan, u, False))
            continue
        da, db = d[i], d[i + 1]     # brentq starts at the bracket ends: the scan has them
        seen = {}                   # u -> (h, estimate of h, M): brentq's evaluations, reused below

        def f(x, a=a, b=b, da=da, db=db, seen=seen):
            if x == a or x == b:
                return da if x == a else db
            seen[x] = hh.with_error(x)
            return seen[x][0] - alpha
        u = b if d[i + 1] == 0.0 else (a if d[i] == 0.0 else so.brentq(f, a, b, xtol=1e-13, rtol=1e-14))
        hv, dh, m = seen[u] if u in seen else hh.with_error(u)
        slope, dm_du = _slopes(hh, u, hv, m, seen)
        err_u = (dh + abs(hv - alpha)) / abs(slope) if slope != 0.0 else math.inf
        err_u += 1e-13 + 4e-16 * abs(u)
        # E = M(sigma^2) at the root (not alpha sigma^2 - s^2, which cancels when E << s^2)
        s2 = math.exp(u)
        E = m
        if err_u < 1e-3 and abs(dm_du) * err_u <= 1e-2 * E:      # first order in err_u holds
            err = abs(dm_du) * err_u + dh * s2
        elif err_u < 1.0:
            m_lo, m_hi = hh.m_one(s2 * math.exp(-err_u))[0], hh.m_one(s2 * math.exp(err_u))[0]
            err = 0.5 * abs(m_hi - m_lo) + dh * s2
        else:
            err = math.inf
        out.append(_FixedPoint(max(E, 0.0), err, u, bool(d[i] > 0.0 > d[i + 1] or slope < 0.0)))
    return out


def _slopes(hh: _H, u: float, hv: float, m: float, seen: dict) -> tuple[float, float]:
    """dh/du and dM/du at the root u, for its error propagation: a secant to the nearest point
    brentq evaluated between 1e-10 and 1e-4 away (no new evaluation), else a forward step of
    1e-6. dM/du is taken as M d(ln M)/du: M can fall by e^-1000 per unit of u, where a plain
    secant of M is far off and one of ln M is not."""
    near = [x for x in seen if 1e-10 <= abs(x - u) <= 1e-4]
    if near:
        x = min(near, key=lambda x: abs(x - u))
        hx, mx = seen[x][0], seen[x][2]
    else:
        x = u + 1e-6
        hx, _, mx = hh.with_error(x)
    du = x - u
    slope = (hx - hv) / du
    if m > 0.0 and mx > 0.0:
        return slope, m * math.log(mx / m) / du
    return slope, (mx - m) / du


@functools.lru_cache(maxsize=None)
def _leggauss(k: int):
    return np.polynomial.legendre.leggauss(k)


def _delta_phi(hh: _H, alpha: float, u1: float, u2: float, orders=(10, 20), width: float = 2.0
               ) -> tuple[float, float]:
    """phi(u2) - phi(u1) = (alpha (u2 - u1) - int_{u1}^{u2} h du) / 2, Gauss-Legendre on panels
    of width <= ``width`` with two orders (the difference is the estimate). The label-noise part
    of h, s^2 e^-u, is integrated in closed form."""
    n_pan = max(int(math.ceil(abs(u2 - u1) / width)), 1)
    edges = np.linspace(u1, u2, n_pan + 1)
    mid, half = 0.5 * (edges[1:] + edges[:-1]), 0.5 * (edges[1:] - edges[:-1])
    vals = []
    for k in orders:
        x, w = _leggauss(k)
        nodes = (mid[:, None] + half[:, None] * x[None, :]).ravel()
        vals.append(float(np.sum((hh(nodes) - hh.noise2 * np.exp(-nodes)).reshape(n_pan, k)
                                 * (half[:, None] * w[None, :]))))
    noise = hh.noise2 * (math.exp(-u1) - math.exp(-u2))
    return (0.5 * (alpha * (u2 - u1) - vals[1] - noise),
            0.5 * abs(vals[1] - vals[0]) + 1e-13 * (abs(vals[1]) + abs(noise)))


# rules that rank fixed points by potential, cheapest first: (Gauss-Legendre orders, panel width)
_PHI_RULES = (((4, 8), 6.0), ((10, 20), 2.0))


# -- one alpha ----------------------------------------------------------------------------------
@dataclass
class _Point:
    bayes: float
    bayes_err: float
    amp: float
    amp_err: float
    phase: str
    ok: bool
    n_fixed: int
    note: str = ""


def _solve_alpha(hh: _H, alpha: float, rtol: float) -> _Point:
    noiseless = hh.noise2 == 0.0
    fps = _crossings(hh, alpha)
    if noiseless:          # roots at the recovery floor are the exact-recovery fixed point E = 0
        # (also a root that rounding makes where h is flat at alpha = d: at alpha = d
        # exactly the SE creeps to 0 like 1/t, and its 'root' has no finite error bound)
        fps = [fp for fp in fps if fp.E > 2.0 * E_FLOOR and not (fp.E < 1e-10 and not math.isfinite(fp.err))]
    # noiseless and h(u_lo) < alpha: E = 0 is a stable fixed point with phi -> -inf (alpha > d)
    zero_wins = noiseless and hh.h[0] <= alpha
    if noiseless and not zero_wins and not fps:
        return _Point(math.nan, math.nan, math.nan, math.nan, "unresolved", False, 0,
                      "no fixed point above the recovery floor")
    if not fps:        # noiseless, only E = 0: AMP recovers exactly
        return _Point(0.0, 0.0, 0.0, 0.0, "exact-recovery", True, 1)
    amp = fps[-1]       # from E_0 = 1 the SE decreases to the largest fixed point
    note, ok = "", True
    if zero_wins:
        bayes, berr = 0.0, 0.0
    else:
        # a low-order rule first: it only has to rank the stable fixed points; the high-order
        # one is paid only where the low-order estimates cannot separate the two lowest
        for orders, width in _PHI_RULES:
            cands = [(0.0, 0.0, amp)] + [(*_delta_phi(hh, alpha, amp.u, fp.u, orders, width), fp)
                                          for fp in fps[:-1] if fp.stable]
            cands.sort(key=lambda c: c[0])
            if len(cands) == 1 or cands[1][0] - cands[0][0] > cands[0][1] + cands[1][1]:
                break
        best = cands[0][2]
        if len(cands) > 1 and cands[1][0] - cands[0][0] <= cands[0][1] + cands[1][1]:
            ok, note = False, "two fixed points have equal potential within the estimate (transition point)"
        bayes, berr = best.E, best.err
    ok &= bool(amp.err <= rtol * amp.E + _ATOL and berr <= rtol * bayes + _ATOL)
    if bayes == amp.E and not zero_wins:
        phase = "amp=bayes"
    else:
        phase = "hard"
    return _Point(bayes, berr, amp.E, amp.err, phase, ok, len(fps) + int(noiseless), note)


# -- thresholds ---------------------------------------------------------------------------------
def _dt_l1(eps: float) -> float:
    """Donoho-Tanner l1 (basis pursuit) recovery threshold for a fraction eps of nonzeros:
    min_t eps (1 + t^2) + 2 (1 - eps) [(1 + t^2) Phi(-t) - t phi(t)]."""
    from scipy.special import ndtr

    def f(t):
        return eps * (1 + t * t) + 2 * (1 - eps) * ((1 + t * t) * ndtr(-t) - t * math.exp(-t * t / 2) / math.sqrt(2 * math.pi))

    r = so.minimize_scalar(f, bounds=(0.0, 40.0), method="bounded", options={"xatol": 1e-12})
    return float(r.fun)


def thresholds(task: Task, knowledge: str = "pt") -> dict:
    """Noiseless recovery thresholds of the task (label noise ignored).

    alpha_it : information-theoretic threshold d (the Renyi information dimension): exact
        recovery is possible iff alpha > d (d = rho_FT for the Gaussian teacher, 0 for the fixed one).
    alpha_amp : AMP recovers exactly iff alpha > alpha_amp = sup_{sigma^2} M(sigma^2) / sigma^2
        (no fixed point E > 0 of the noiseless SE); alpha_amp >= alpha_it.
    alpha_l1 : the l1 (basis-pursuit) threshold of Donoho-Tanner for a fraction rho_FT of
        nonzeros, which ignores pretraining (a convex reference; the network's own threshold is
        not available in closed form).
    """
    prior = prior_of(task, knowledge)
    hh = _H(prior, 0.0, math.log(E_FLOOR), math.log(1e4))
    i = int(np.argmax(hh.h))
    d = prior.info_dimension
    a_amp = float(hh.h[i])
    if i == 0:              # the supremum is the small-sigma limit: no gap
        a_amp = max(a_amp, d)
    return {"alpha_it": d, "alpha_amp": a_amp, "alpha_l1": _dt_l1(task.rho_ft), "alpha_amp_err": 1e-10 * a_amp}


# -- the public call ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BayesResult:
    """Per-alpha Bayes-optimal and AMP errors (arrays aligned with ``alpha``).

    bayes_error : the minimum mean-square error E[(E[beta*|data] - beta*)^2] = ||beta_hat - beta*||^2/D
        of the Bayes-optimal estimator (the information-theoretic limit); ``bayes_error_err``
        bounds its numerical error.
    amp_error : the error AMP with the Bayes denoiser reaches from the uninformed start.
    phase : 'exact-recovery' (AMP, hence Bayes, recovers beta* exactly), 'amp=bayes',
        'hard' (AMP is stuck above the Bayes error: a first-order transition),
        'unresolved' (not certified; converged is False).
    n_fixed_points : number of fixed points of the state evolution (E = 0 included when noiseless).
    info : task, knowledge level and thresholds alpha_it, alpha_amp (noiseless), alpha_l1.
    """

    alpha: np.ndarray
    bayes_error: np.ndarray
    bayes_error_err: np.ndarray
    amp_error: np.ndarray
    amp_error_err: np.ndarray
    phase: np.ndarray
    converged: np.ndarray
    n_fixed_points: np.ndarray
    info: dict = field(default_factory=dict)

    def to_frame(self):
        import pandas as pd

        frame = pd.DataFrame({"alpha": self.alpha, "bayes_error": self.bayes_error,
                              "bayes_error_err": self.bayes_error_err, "amp_error": self.amp_error,
                              "amp_error_err": self.amp_error_err, "phase": self.phase,
                              "converged": self.converged, "n_fixed_points": self.n_fixed_points})
        for key, value in self.info.items():
            frame[key] = value
        return frame

    def __repr__(self) -> str:
        bad = int(np.sum(~self.converged))
        conv = "all converged" if bad == 0 else f"{bad} NOT converged"
        return (f"<BayesResult: {self.alpha.size} points, knowledge={self.info.get('knowledge')}, {conv}; "
                "use .summary(), .to_frame(), .plot()>")

    def summary(self, max_rows: int = 10) -> str:
        """Parameters and thresholds, then alpha, bayes_error, amp_error, phase, converged."""
        params = "  ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.info.items())
        frame = self.to_frame()[["alpha", "bayes_error", "bayes_error_err", "amp_error", "amp_error_err",
                                 "phase", "converged"]]
        if len(frame) > max_rows:
            frame = frame.iloc[np.unique(np.linspace(0, len(frame) - 1, max_rows).round().astype(int))]
        bad = int(np.sum(~self.converged))
        tail = f"{self.alpha.size} points, " + ("all converged" if bad == 0 else f"{bad} NOT converged (flagged)")
        return f"{params}\n{frame.to_string(index=False)}\n{tail}"

    __str__ = summary

    def plot(self, ax=None, **kwargs):
        """Bayes (solid) and AMP (dashed) errors against alpha, thresholds as vertical lines."""
        import matplotlib.pyplot as plt

        ax = plt.subplots()[1] if ax is None else ax
        line = ax.plot(self.alpha, self.bayes_error, label="Bayes-optimal", **kwargs)[0]
        ax.plot(self.alpha, self.amp_error, "--", color=line.get_color(), label="AMP")
        for key, style in (("alpha_it", ":"), ("alpha_amp", "-.")):
            if self.info.get("noise", 1.0) == 0.0 and key in self.info:
                ax.axvline(self.info[key], color="grey", ls=style, lw=0.8, label=key)
        bad = ~self.converged
        if bad.any():
            ax.plot(self.alpha[bad], self.bayes_error[bad], "rx", label="not converged")
        ax.set_xlabel("alpha_FT = N_FT / D")
        ax.set_ylabel("error ||beta_hat - beta*||^2 / D")
        ax.legend()
        return ax


def solve_bayes(task: Task, alphas, *, knowledge: str = "pt", rtol: float = 1e-8,
                progress: bool = False) -> BayesResult:
    """Bayes-optimal and AMP errors of fine-tuning at each alpha (alpha_FT = N_FT / D).

    Parameters
    ----------
    task : :class:`Task` (rho_PT, rho_FT, omega, teacher, label noise)
    alphas : iterable of float > 0
    knowledge : 'pt' (the estimator knows the PT support; default), 'none' (no pretraining) or
        'genie' (it knows the FT support itself).
    rtol : target relative error of both errors; a point whose estimate misses it (after one
        refinement of the quadrature) is ``converged=False``.

    Returns
    -------
    BayesResult
        Per-alpha errors with estimates, phase and flags; ``info`` holds the task and the
        noiseless thresholds alpha_it, alpha_amp and alpha_l1 (:func:`thresholds`).
    """
    rtol = float(rtol)
    if not (math.isfinite(rtol) and 0.0 < rtol < 1.0):
        raise ParameterError(f"rtol must lie in (0, 1), got {rtol:g}")
    prior = prior_of(task, knowledge)
    alphas = np.asarray(check_alphas(alphas), float)
    noise2 = task.noise ** 2
    lo = max(noise2, E_FLOOR) / alphas.max()
    hh = _H(prior, noise2, math.log(lo) - 1.0, math.log((noise2 + 1.0) / alphas.min()) + 1.0)
    pts = []
    it = alphas
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(alphas, desc="alpha", unit="pt", leave=False)
    fine = None
    for a in it:
        pt = _solve_alpha(hh, float(a), rtol)
        if not pt.ok and not pt.note:      # quadrature-limited: once more with the step halved
            if fine is None:
                fine = _H(prior, noise2, hh.u[0], hh.u[-1] if hh.u.size else 0.0, hfac=0.5)
            pt = _solve_alpha(fine, float(a), rtol)
        pts.append(pt)
    th = thresholds(task, knowledge)
    info = {"rho_pt": task.rho_pt, "rho_ft": task.rho_ft, "omega": task.omega, "teacher": task.teacher,
            "noise": task.noise, "knowledge": knowledge, **{k: th[k] for k in ("alpha_it", "alpha_amp", "alpha_l1")}}
    arr = lambda key, dt=float: np.array([getattr(p, key) for p in pts], dt)  # noqa: E731
    return BayesResult(alphas, arr("bayes"), arr("bayes_err"), arr("amp"), arr("amp_err"),
                       arr("phase", object).astype(str), arr("ok", bool), arr("n_fixed", np.int64), info)


def state_evolution(task: Task, alpha: float, *, knowledge: str = "pt", n_iter: int = 50,
                    e0: float = 1.0) -> np.ndarray:
    """The SE trajectory E_0 = e0, E_{t+1} = M((s^2 + E_t)/alpha), t = 0..n_iter (what finite-D
    AMP tracks iteration by iteration)."""
    prior = prior_of(task, knowledge)
    alpha = check_alphas([alpha])[0]
    out = np.empty(n_iter + 1)
    out[0] = e0
    for t in range(n_iter):
        out[t + 1] = mmse(prior, (task.noise ** 2 + out[t]) / alpha)[0][0]
    return out


def potential(task: Task, alpha: float, errors, *, knowledge: str = "pt") -> np.ndarray:
    """phi(E) - phi(1) for each E in ``errors`` (0 < E <= 1): the replica potential of the
    Bayes-optimal estimator, whose stationary points are the SE fixed points and whose global
    minimiser is the Bayes error (d phi / dE = alpha (E - F(E)) / (2 (s^2 + E)^2))."""
    prior = prior_of(task, knowledge)
    alpha = check_alphas([alpha])[0]
    noise2 = task.noise ** 2
    hh = _H.__new__(_H)
    hh.prior, hh.noise2, hh.hfac, hh.nev = prior, noise2, 1.0, 0
    u1 = math.log((noise2 + 1.0) / alpha)
    return np.array([_delta_phi(hh, alpha, u1, math.log((noise2 + float(e)) / alpha))[0]
                     for e in np.atleast_1d(errors)])
