"""Imperfect pretraining (alpha_PT = N_PT / D finite): a nested replica.

Pretraining is itself a single-task interpolation problem: gradient flow from the homogeneous
initialisation reaches  beta_hat_PT = argmin sum_d q_{c_PT}(beta_d)  s.t.  X_PT beta = y_PT,
with y_PT = X_PT beta*_PT noiseless (beta*_PT,d = a_PT on a fraction rho_PT, else 0).  Its
replica fixed point (sigma_PT, tau_PT) decouples the estimate per coordinate:

    beta_hat_PT,d  ~  eta_PT(beta*_PT,d + sigma_PT Z'),   eta_PT = prox_{tau_PT q_{c_PT}},

so after PT every coordinate carries a *random* FT constant c_FT,d = c_FT(beta_hat_PT,d)
(Theorem 4.1 map, ``numerics.transfer.c_ft``).  The FT design X_FT is drawn independently
of X_PT, so conditionally on PT the FT problem is again a separable min-penalty
interpolation whose coordinates have the empirical law of (beta*_FT,d, c_FT,d); given the
coordinate group (shared / new / pt_only / none) the PT noise Z' is independent of the FT
teacher.  The FT replica is therefore the usual one with many coordinate classes:
(group g) x (quadrature node j of Z'), weight P(g) w_j, constant c_FT(eta_PT(b_g + sigma_PT z_j)).

Quadrature: the PT prox has no closed form, but its inverse has.  As in the kernels, nodes are
placed uniformly in s with x = c_PT sinh(s) (the PT estimate), z(s) = x + tau_PT asinh(x/c_PT)/2,
weight pdf(z) dz/ds ds (trapezoid; spectrally accurate for this smooth integrand, and it
resolves the rich-regime "kink" of width c_PT around x = 0 that Gauss-Hermite in z misses).
Each FT class costs a quadrature of its own, so the trapezoid law is then compressed to the
fewest Gauss nodes in s that reproduce its integrals of smooth functions of c_FT (8 to 64
nodes instead of 50 to 500; the trapezoid law is kept where none does).

Limits: sigma_PT = 0 (exact PT recovery: alpha_PT >= 1, or above the recovery threshold of
the PT penalty) reproduces the oracle-PT classes of :func:`replica.solver.ptft_classes`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from numerics import codegen
from numerics.transfer import c_ft_numeric

from .params import Init, ParameterError, Task, _finite
from .solver import (GROUPS, KIND_FIXED, KIND_GAUSS, KIND_ZERO, Accuracy, Classes, SolveResult,
                     solve_classes)

_IN_PT = {"shared": True, "new": False, "pt_only": True, "none": False}


@dataclass(frozen=True)
class PTChannel:
    """Replica fixed point of pretraining on round(alpha_PT D) samples.

    sigma, tau : sigma_PT, tau_PT (sigma = 0: exact recovery, beta_hat_PT = beta*_PT).
    pt_error : ||beta_hat_PT - beta*_PT||^2 / D predicted.  phase, residual, converged as in
    :class:`replica.solver.SolveResult`.
    """

    alpha_pt: float
    c_pt: float
    sigma: float
    tau: float
    pt_error: float
    phase: str
    residual: float
    converged: bool

    @property
    def exact(self) -> bool:
        return self.sigma == 0.0


@dataclass(frozen=True)
class Quadrature:
    """Nodes of the PT-estimate law: a trapezoid rule in s (x = c_PT sinh s), then, with
    ``gauss``, the fewest Gauss nodes (8 to 64 per law) that reproduce it (see
    :func:`gauss_compress`)."""

    h_max: float = 0.1       # largest step in s of the trapezoid rule
    m_min: int = 48          # fewest intervals per PT-teacher value
    ksd: float = 9.0         # z covers b +- ksd sigma_PT
    fold: bool = True        # b = 0: one class per node pair +-x (the law is even, c_FT(|x|))
    gauss: bool = True       # compress each law to a Gauss rule in s
    gauss_tol: float = 1e-12  # largest change of a test integral the compression may cause


GAUSS_SIZES = (8, 12, 16, 24, 32, 48, 64)


def check_alpha_pt(alpha_pt) -> float:
    alpha_pt = _finite("alpha_pt", alpha_pt)
    if alpha_pt <= 0.0:
        raise ParameterError(f"alpha_pt must be > 0, got {alpha_pt:g}")
    return alpha_pt


def pt_classes(task: Task, c_pt: float) -> Classes:
    """The PT problem as a single task: a fraction rho_PT at a_PT, the rest at 0, penalty q_{c_PT}."""
    w = np.array([task.rho_pt, 1.0 - task.rho_pt])
    return Classes(w, np.full(2, c_pt), np.array([KIND_FIXED, KIND_ZERO], np.int64),
                   np.array([task.a_pt, 0.0]), np.array([0, 1], np.int64), ("pt_support", "pt_off"))


def pt_channel(task: Task, init: Init, alpha_pt: float, accuracy: Accuracy | None = None) -> PTChannel:
    """Solve the PT replica at alpha_PT (noiseless labels, oracle when alpha_PT >= 1)."""
    alpha_pt = check_alpha_pt(alpha_pt)
    if alpha_pt >= 1.0 or task.rho_pt == 0.0 or task.a_pt == 0.0:
        return PTChannel(alpha_pt, init.c_pt, 0.0, 0.0, 0.0, "closed-form", 0.0, True)
    res = solve_classes(pt_classes(task, init.c_pt), [alpha_pt], accuracy=accuracy)
    return PTChannel(alpha_pt, init.c_pt, float(res.sigma[0]), float(res.tau[0]), float(res.gen_error[0]),
                     str(res.phase[0]), float(res.residual[0]), bool(res.converged[0]))


def pt_estimate_law(b: float, ch: PTChannel, quad: Quadrature = Quadrature(), fold: bool = False,
                    c_of=None):
    """Nodes x_j and weights w_j (sum 1) of beta_hat_PT = eta_PT(b + sigma_PT Z).

    Returns one node (x = b) when PT is exact.  ``fold``: for b = 0 return the law of
    |beta_hat_PT| (nodes x >= 0), all that c_FT needs.  ``c_of``: c_FT as a (vectorised)
    function of |x|; given, and with ``quad.gauss``, the rule is compressed for it
    (:func:`gauss_compress`).
    """
    if ch.exact:
        return np.array([b]), np.array([1.0])
    kern = codegen.builtin("hypent")
    c, tau, sd = ch.c_pt, ch.tau, ch.sigma
    L = kern.scale(c)
    s_hi = kern.invert_s(b + quad.ksd * sd, 0, L, tau, c)
    # b = 0: the law is even; a grid symmetric by construction lets the +-x nodes be folded
    s_lo = -s_hi if b == 0.0 else kern.invert_s(b - quad.ksd * sd, 0, L, tau, c)
    n = max(quad.m_min, int(math.ceil((s_hi - s_lo) / quad.h_max)))
    s = np.linspace(s_lo, s_hi, n + 1)
    x, dxds, dq, d2q = np.array([kern.point(sv, 0, L, c) for sv in s]).T   # x, dx/ds, q'(x), q''(x) dx/ds
    z = x + tau * dq
    dz = dxds + tau * d2q
    trap = np.full(n + 1, (s_hi - s_lo) / n)
    trap[[0, -1]] *= 0.5
    w = trap * dz * np.exp(-0.5 * ((z - b) / sd) ** 2) / (sd * math.sqrt(2.0 * math.pi))
    w = w / w.sum()      # mass outside b +- 9 sd is < 1e-18; normalise it away
    if fold and b == 0.0:
        s, w = _fold_even(s, w)      # x = L sinh(s) is odd: |x| is the node at |s|
    if c_of is not None and quad.gauss:
        s, w = gauss_compress(s, w, lambda sv: c_of(np.abs(L * np.sinh(sv))), quad.gauss_tol)
    return L * np.sinh(s), w


def gauss_compress(s, w, c_of_s, tol: float):
    """The smallest Gauss rule (sizes :data:`GAUSS_SIZES`) of the discrete law (s_j, w_j) whose
    integrals of c/(c + kappa), c = c_of_s(s) and kappa log-spaced over the range of c (a
    transition at every scale the FT classes can have), all lie within ``tol`` of the law's;
    the law itself when none does. The class moments are smooth in s (x = c_PT sinh s
    resolves the rich-regime kink), so a Gauss rule in s needs far fewer nodes than the
    trapezoid rule it is built from."""
    cs = c_of_s(s)
    kappa = np.geomspace(cs.min(), cs.max(), 13) if cs.max() > cs.min() else cs[:1]

    def tests(cv):
        return cv[:, None] / (cv[:, None] + kappa)

    ref = w @ tests(cs)
    for m in GAUSS_SIZES:
        if 2 * m > s.size:
            break
        sg, wg = gauss_rule(s, w, m)
        if np.all(np.isfinite(sg)) and np.max(np.abs(wg @ tests(c_of_s(sg)) - ref)) <= tol:
            return sg, wg
    return s, w


def gauss_rule(s, w, m: int):
    """m-point Gauss rule of the discrete measure sum_j w_j delta(s - s_j): the recurrence of
    its orthonormal polynomials by the Stieltjes procedure (on s mapped to [-1, 1]), then the
    eigenvalues of the Jacobi matrix (Golub-Welsch). Needs m well below the number of points."""
    from scipy.linalg import eigh_tridiagonal

    mid, half = 0.5 * (s.max() + s.min()), 0.5 * (s.max() - s.min())
    t = (s - mid) / half
    mu0 = w.sum()
    a, b = np.zeros(m), np.zeros(m)
    p_prev, p = np.zeros_like(t), np.full_like(t, 1.0 / math.sqrt(mu0))
    for k in range(m):
        a[k] = np.sum(w * t * p * p)
        q = (t - a[k]) * p - (b[k - 1] * p_prev if k else 0.0)
        b[k] = math.sqrt(np.sum(w * q * q))
        p_prev, p = p, q / b[k]
    theta, vec = eigh_tridiagonal(a, b[: m - 1])
    return mid + half * theta, mu0 * vec[0] ** 2


def _fold_even(x, w):
    """Merge the nodes +-x of an even law on a symmetric grid into one node |x| (c_FT depends
    on |beta_PT| only, so the FT classes of the pair are identical: half the classes, same sums).
    Works on s as well as on x (x = L sinh s is odd)."""
    n = x.size - 1
    half = n // 2
    xf = np.abs(x[: half + 1])      # x[j] = -x[n - j]
    wf = w[: half + 1] + w[::-1][: half + 1]
    if n % 2 == 0:
        wf[half] = w[half]          # the node at 0 pairs with itself
    return xf, wf


def imperfect_classes(task: Task, init: Init, ch: PTChannel, quad: Quadrature = Quadrature()) -> Classes:
    """FT coordinate classes (group x PT-quadrature node) with c_FT(beta_hat_PT) per node."""
    lam = init.lambda_abs
    def c_of(xabs):
        return c_ft_numeric(xabs, init.c_pt, lam, init.gamma_ft)

    laws = {v: pt_estimate_law(v, ch, quad, fold=quad.fold, c_of=c_of) for v in {task.a_pt, 0.0}}
    cols = {k: [] for k in ("w", "c", "kind", "par", "group")}
    for gi, name in enumerate(GROUPS):
        weight = task.group_weights()[name]
        if weight == 0.0:
            continue
        x, wx = laws[task.a_pt if _IN_PT[name] else 0.0]
        cvals = c_of(np.abs(x))
        if np.any(cvals <= 0.0):
            raise ParameterError("c_FT = 0 (lambda_pt = -c_pt with gamma_ft = 0): use gamma_ft > 0")
        kind, par = _teacher(task, name)
        keep = wx > 1e-300
        cols["w"].append(weight * wx[keep])
        cols["c"].append(cvals[keep])
        cols["kind"].append(np.full(keep.sum(), kind))
        cols["par"].append(np.full(keep.sum(), par))
        cols["group"].append(np.full(keep.sum(), gi))
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    return Classes(cat["w"].astype(float), cat["c"].astype(float), cat["kind"].astype(np.int64),
                   cat["par"].astype(float), cat["group"].astype(np.int64), GROUPS)


def _teacher(task: Task, name: str):
    """FT teacher of a group: none, N(0, 1/rho_FT) or the amplitude 1/sqrt(rho_FT) (even prox:
    +-A give the same error, so one sign suffices)."""
    if name not in ("shared", "new"):
        return KIND_ZERO, 0.0
    if task.teacher == "gaussian":
        return KIND_GAUSS, 1.0 / task.rho_ft
    return KIND_FIXED, 1.0 / math.sqrt(task.rho_ft)


def solve_imperfect_pt(task: Task, init: Init, alphas, alpha_pt: float, *, reg: float = 0.0,
                       accuracy: Accuracy | None = None, quadrature: Quadrature = Quadrature(),
                       progress: bool = False, rtol: float | None = None) -> SolveResult:
    """Replica prediction of fine-tuning after pretraining on alpha_PT D samples.

    ``info`` carries the PT fixed point (sigma_pt, tau_pt, pt_error, pt_phase) and the number
    of coordinate classes.  A PT fixed point that did not converge raises ConvergenceError
    (the FT prediction would rest on it).  ``replica.solver.solve(..., pretraining=alpha_pt)``.
    """
    from .solver import Pretraining, solve

    return solve(task, init, alphas, pretraining=Pretraining(alpha_pt, quadrature), accuracy=accuracy, reg=reg,
                 progress=progress, rtol=rtol)
