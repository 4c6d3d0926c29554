"""Plain SciPy baseline for the PT+FT replica (state-evolution) equations.

This is the reference "as a user would write it" implementation that the fast
solver is benchmarked against (speed and accuracy).  It is deliberately plain:

* every expectation is one call of ``scipy.integrate.quad`` over the Gaussian
  variable on (-inf, inf) (one quad per group and per equation);
* the proximal operator is solved at every integrand call with
  ``scipy.optimize.brentq`` on the bracket [0, z] (no caching, no vectorisation);
* the two order parameters (sigma, tau) are found with ``scipy.optimize.root``
  (MINPACK hybrid method, finite-difference Jacobian) on (log sigma, log tau),
  with a nested-``brentq`` fallback (tau solved for each sigma from the
  interpolation equation, then sigma from the error balance) if ``root`` fails.

Model (interpolation limit; docs/theory.md)
------------------------------------
Coordinate groups (probability, FT teacher, PT status):

    shared   omega*rho_ft                   nonzero   PT-used
    new      (1-omega)*rho_ft               nonzero   PT-unused
    PT-only  rho_pt - omega*rho_ft          zero      PT-used
    none     1 - rho_pt - (1-omega)*rho_ft  zero      PT-unused

Penalty scale (lambda_pt in ABSOLUTE units, |lambda_pt| <= c_pt):

    c_used   = (lambda_pt + c_pt) (1 + sqrt(1 + (a_pt/c_pt)^2)) + gamma_ft^2/2
    c_unused = 2 (lambda_pt + c_pt) + gamma_ft^2/2

Penalty q_c with q_c'(x) = asinh(x/c)/2, q_c''(x) = 1/(2 sqrt(x^2+c^2)).
Prox eta(z) = argmin_x q_c(x) + (x-z)^2/(2 tau): root of
asinh(x/c)/2 + (x-z)/tau = 0 in [0, z];  eta'(z) = 1/(1 + tau q_c''(eta)).

Equations in (sigma, tau):

    alpha sigma^2 = alpha sigma_n^2 + E[(eta(b + sigma Z) - b)^2]    (error balance)
    alpha         = E[eta'(b + sigma Z)]                             (interpolation)

gen_error = E[(eta - b)^2]  (parameter MSE, label noise NOT added).

Label noise here follows the earlier, uncorrected error balance (``alpha sigma_n^2``, ``noise`` is
the variance); ``replica.solver`` uses ``sigma_n^2`` (its docstring says why). The two are
compared only at noise = 0.

Teacher laws on the FT support
------------------------------
* ``teacher="fixed"``: b = +-1/sqrt(rho_ft).  eta is odd, so b = +A gives the
  same moments as b = -A; the expectation is one quad over Z.
* ``teacher="gaussian"``: b ~ N(0, v), v = 1/rho_ft.  CHOSEN DEFAULT
  (``gaussian_mode="posterior"``): a single quad over the observation
  y = b + sigma Z ~ N(0, v + sigma^2) with the closed-form Gaussian posterior
  b | y ~ N(m y, v sigma^2/(v+sigma^2)), m = v/(v+sigma^2), so that

      E[(eta(y) - b)^2] = E_y[(eta(y) - m y)^2] + v sigma^2/(v + sigma^2),
      E[eta'(y)]        = E_y[eta'(y)].

  The alternative ``gaussian_mode="nested"`` integrates the 2-D expectation
  literally, an outer quad over b and an inner quad over Z (much slower; kept
  as an independent cross-check of the posterior form).

Noise-free alpha >= 1 returns the exact-recovery answer (sigma = 0,
gen_error = 0) without solving; alpha >= 1 with label noise has no
interpolating solution and raises ValueError.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy import integrate, optimize

SQRT2PI = math.sqrt(2.0 * math.pi)
INF = math.inf

# quad settings of the baseline (tightened in the accuracy study of __main__)
QUAD_EPSABS = 1e-13
QUAD_EPSREL = 1e-11
QUAD_LIMIT = 200


class _Counter:
    """Counts quad calls, prox (brentq) calls and moment (residual) evaluations."""

    def __init__(self):
        self.quad = 0
        self.prox = 0
        self.moments = 0


_COUNT = _Counter()


def _phi(u):
    return math.exp(-0.5 * u * u) / SQRT2PI


# ---------------------------------------------------------------------------
# scalar channel
# ---------------------------------------------------------------------------
def prox(z, tau, c):
    """eta(z) = argmin_x q_c(x) + (x - z)^2/(2 tau), by brentq on [0, z]."""
    _COUNT.prox += 1
    if z == 0.0:
        return 0.0

    def f(x):
        return 0.5 * math.asinh(x / c) + (x - z) / tau

    lo, hi = (0.0, z) if z > 0 else (z, 0.0)
    # xtol tiny: the stopping rule becomes relative (rtol = 4 eps), which keeps
    # full precision even when eta << z (small c, large tau)
    return optimize.brentq(f, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps,
                           maxiter=500)


def prox_deriv(z, tau, c):
    """eta'(z) = 1 / (1 + tau q_c''(eta(z)))."""
    x = prox(z, tau, c)
    return 1.0 / (1.0 + tau / (2.0 * math.sqrt(x * x + c * c)))


def _quad(fun, **kw):
    _COUNT.quad += 1
    val, _err = integrate.quad(fun, -INF, INF, epsabs=kw.get("epsabs", QUAD_EPSABS),
                               epsrel=kw.get("epsrel", QUAD_EPSREL),
                               limit=kw.get("limit", QUAD_LIMIT))
    return val


# ---------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------
def groups(rho_pt, rho_ft, omega, c_pt, lambda_pt, gamma_ft, a_pt=1.0):
    """List of (name, probability, c, teacher_nonzero) for the four groups."""
    if c_pt <= 0:
        raise ValueError("c_pt must be > 0")
    if abs(lambda_pt) > c_pt * (1 + 1e-12):
        raise ValueError("|lambda_pt| must be <= c_pt (absolute units)")
    p = {
        "shared": omega * rho_ft,
        "new": (1.0 - omega) * rho_ft,
        "pt_only": rho_pt - omega * rho_ft,
        "none": 1.0 - rho_pt - (1.0 - omega) * rho_ft,
    }
    for k, v in p.items():
        if v < -1e-15:
            raise ValueError(f"infeasible task: P({k}) = {v} < 0")
    c_used = (lambda_pt + c_pt) * (1.0 + math.sqrt(1.0 + (a_pt / c_pt) ** 2)) + 0.5 * gamma_ft ** 2
    c_unused = 2.0 * (lambda_pt + c_pt) + 0.5 * gamma_ft ** 2
    if c_used <= 0 or c_unused <= 0:
        raise ValueError("c_FT must be > 0 (lambda_pt = -c_pt needs gamma_ft > 0)")
    return [
        ("shared", max(p["shared"], 0.0), c_used, True),
        ("new", max(p["new"], 0.0), c_unused, True),
        ("pt_only", max(p["pt_only"], 0.0), c_used, False),
        ("none", max(p["none"], 0.0), c_unused, False),
    ]


def _group_moments(sigma, tau, c, nonzero, rho_ft, teacher, gaussian_mode, qkw):
    """(E[(eta - b)^2], E[eta']) for one group."""
    if not nonzero:  # b = 0: integrate over Z
        err = _quad(lambda u: prox(sigma * u, tau, c) ** 2 * _phi(u), **qkw)
        dfd = _quad(lambda u: prox_deriv(sigma * u, tau, c) * _phi(u), **qkw)
        return err, dfd
    amp2 = 1.0 / rho_ft
    if teacher == "fixed":
        A = math.sqrt(amp2)
        err = _quad(lambda u: (prox(A + sigma * u, tau, c) - A) ** 2 * _phi(u), **qkw)
        dfd = _quad(lambda u: prox_deriv(A + sigma * u, tau, c) * _phi(u), **qkw)
        return err, dfd
    if teacher != "gaussian":
        raise ValueError("teacher must be 'gaussian' or 'fixed'")
    v = amp2
    if gaussian_mode == "posterior":
        s_y = math.sqrt(v + sigma * sigma)
        m = v / (v + sigma * sigma)
        post_var = v * sigma * sigma / (v + sigma * sigma)
        err = _quad(lambda u: (prox(s_y * u, tau, c) - m * s_y * u) ** 2 * _phi(u), **qkw) + post_var
        dfd = _quad(lambda u: prox_deriv(s_y * u, tau, c) * _phi(u), **qkw)
        return err, dfd
    if gaussian_mode == "nested":
        sb = math.sqrt(v)

        def inner_err(w):
            b = sb * w
            return _quad(lambda u: (prox(b + sigma * u, tau, c) - b) ** 2 * _phi(u), **qkw) * _phi(w)

        def inner_dfd(w):
            b = sb * w
            return _quad(lambda u: prox_deriv(b + sigma * u, tau, c) * _phi(u), **qkw) * _phi(w)

        return _quad(inner_err, **qkw), _quad(inner_dfd, **qkw)
    raise ValueError("gaussian_mode must be 'posterior' or 'nested'")


def moments(sigma, tau, alpha, rho_pt, rho_ft, omega, c_pt, lambda_pt, gamma_ft,
            a_pt=1.0, teacher="gaussian", noise=0.0, gaussian_mode="posterior",
            quad_kw=None):
    """(E[(eta-b)^2], E[eta']) summed over the group mixture."""
    _COUNT.moments += 1
    qkw = quad_kw or {}
    E_err = 0.0
    E_dfd = 0.0
    for _name, p, c, nonzero in groups(rho_pt, rho_ft, omega, c_pt, lambda_pt, gamma_ft, a_pt):
        if p == 0.0:
            continue
        e, d = _group_moments(sigma, tau, c, nonzero, rho_ft, teacher, gaussian_mode, qkw)
        E_err += p * e
        E_dfd += p * d
    return E_err, E_dfd


def residual(sigma, tau, alpha, rho_pt, rho_ft, omega, c_pt, lambda_pt, gamma_ft,
             a_pt=1.0, teacher="gaussian", noise=0.0, gaussian_mode="posterior",
             quad_kw=None):
    """One evaluation of the two equations, returned as the array

        [ alpha sigma^2 - alpha noise - E[(eta - b)^2],   E[eta'] - alpha ].
    """
    E_err, E_dfd = moments(sigma, tau, alpha, rho_pt, rho_ft, omega, c_pt, lambda_pt,
                           gamma_ft, a_pt, teacher, noise, gaussian_mode, quad_kw)
    return np.array([alpha * sigma * sigma - alpha * noise - E_err, E_dfd - alpha])


# ---------------------------------------------------------------------------
# solver
# ---------------------------------------------------------------------------
def _teacher_power(rho_pt, rho_ft, omega, c_pt, lambda_pt, gamma_ft, a_pt):
    """E[b^2] over the mixture (= rho_ft * (1/rho_ft) = 1 for both teacher laws)."""
    return sum(p * (1.0 / rho_ft) for _n, p, _c, nz in
               groups(rho_pt, rho_ft, omega, c_pt, lambda_pt, gamma_ft, a_pt) if nz)


def _tau_for_sigma(sigma, args, kw, tau_hint=1.0):
    """Solve E[eta'](sigma, tau) = alpha for tau (decreasing in tau) by brentq."""
    alpha = args[0]

    def g(logt):
        return moments(sigma, math.exp(logt), *args, **kw)[1] - alpha

    lo = hi = math.log(tau_hint)
    glo = ghi = g(lo)
    step = 1.0
    while glo < 0:  # E[eta'] too small -> tau too large
        hi, ghi = lo, glo
        lo -= step
        step *= 2
        glo = g(lo)
    while ghi > 0:
        lo, glo = hi, ghi
        hi += step
        step *= 2
        ghi = g(hi)
    return math.exp(optimize.brentq(g, lo, hi, xtol=1e-13, rtol=1e-13))


def solve_point(alpha, rho_pt, rho_ft, omega, c_pt, lambda_pt, gamma_ft, a_pt=1.0,
                teacher="gaussian", noise=0.0, guess=None, gaussian_mode="posterior",
                quad_kw=None, xtol=1e-11, method="root"):
    """Solve the replica equations at one point.

    method="root": scipy.optimize.root(hybr) on (log sigma, log tau) with the
    equations scaled to relative form; falls back to "nested" on failure.
    method="nested": outer brentq over sigma of the error balance, inner brentq
    over tau of the interpolation equation.

    guess=None: sigma0 = sqrt(noise + E[b^2]/alpha) (error of the zero
    estimator) and tau0 from the interpolation equation at sigma0 (1-D brentq);
    these start-up evaluations are included in the counts and the time.

    Returns dict(sigma, tau, gen_error, seconds, n_quad_calls, n_prox_calls,
    n_residual_evals (all evaluations of the moment pair, start-up, root and the
    final check included), converged, method, residual).
    """
    t0 = time.perf_counter()
    q0, p0, m0 = _COUNT.quad, _COUNT.prox, _COUNT.moments
    args = (alpha, rho_pt, rho_ft, omega, c_pt, lambda_pt, gamma_ft)
    kw = dict(a_pt=a_pt, teacher=teacher, noise=noise, gaussian_mode=gaussian_mode,
              quad_kw=quad_kw)
    groups(rho_pt, rho_ft, omega, c_pt, lambda_pt, gamma_ft, a_pt)  # feasibility check
    if not alpha > 0:
        raise ValueError("alpha must be > 0")
    if alpha >= 1.0:
        if noise > 0:
            raise ValueError("alpha >= 1 with label noise: no interpolating solution")
        return dict(sigma=0.0, tau=0.0, gen_error=0.0, seconds=time.perf_counter() - t0,
                    n_quad_calls=0, n_prox_calls=0, n_residual_evals=0, converged=True,
                    method="exact-recovery", residual=np.zeros(2))

    def F(x):
        s, t = math.exp(x[0]), math.exp(x[1])
        E_err, E_dfd = moments(s, t, *args, **kw)
        return [1.0 - (noise + E_err / alpha) / (s * s), E_dfd / alpha - 1.0]

    if guess is None:
        # sigma of the zero estimator, tau from the interpolation equation there
        s0 = math.sqrt(noise + _teacher_power(rho_pt, rho_ft, omega, c_pt, lambda_pt,
                                              gamma_ft, a_pt) / alpha)
        t0_ = _tau_for_sigma(s0, args, kw)
    else:
        s0, t0_ = guess
    sigma = tau = float("nan")
    converged = False
    used = method
    if method == "root":
        sol = optimize.root(F, [math.log(s0), math.log(t0_)], method="hybr",
                            options=dict(xtol=xtol))
        sigma, tau = math.exp(sol.x[0]), math.exp(sol.x[1])
        converged = bool(sol.success) and max(abs(v) for v in sol.fun) < 1e-8
        if not converged:
            used = "nested(fallback)"
    if method == "nested" or not converged:
        def H(logs):
            s = math.exp(logs)
            t = _tau_for_sigma(s, args, kw, tau_hint=t0_ if not math.isfinite(tau) else tau)
            E_err = moments(s, t, *args, **kw)[0]
            return 1.0 - (noise + E_err / alpha) / (s * s)

        # H(log s) < 0 for small s, > 0 at the zero-estimator s0 (upper bound)
        hi = math.log(s0) + 1e-3
        lo = hi - 1.0
        while H(lo) > 0:
            lo -= 2.0
        ls = optimize.brentq(H, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps)
        sigma = math.exp(ls)
        tau = _tau_for_sigma(sigma, args, kw)
        converged = True
    E_err, E_dfd = moments(sigma, tau, *args, **kw)
    res = np.array([alpha * sigma ** 2 - alpha * noise - E_err, E_dfd - alpha])
    return dict(sigma=sigma, tau=tau, gen_error=E_err, seconds=time.perf_counter() - t0,
                n_quad_calls=_COUNT.quad - q0, n_prox_calls=_COUNT.prox - p0,
                n_residual_evals=_COUNT.moments - m0, converged=converged, method=used, residual=res)


# ---------------------------------------------------------------------------
def _time_residual(sigma, tau, alpha, P, repeat=3, **kw):
    """Best-of-`repeat` wall time of one residual evaluation."""
    best = INF
    for _ in range(repeat):
        q0, p0 = _COUNT.quad, _COUNT.prox
        t0 = time.perf_counter()
        r = residual(sigma, tau, alpha, *P, **kw)
        best = min(best, time.perf_counter() - t0)
    return r, best, _COUNT.quad - q0, _COUNT.prox - p0


if __name__ == "__main__":
    import sys

    nested = "--nested" in sys.argv  # also time the literal 2-D nested-quad residual (slow)
    base = dict(rho_pt=0.1, rho_ft=0.1, c_pt=1e-3, lambda_pt=0.0, gamma_ft=0.0)
    points = [dict(omega=1.0, alpha=0.2), dict(omega=0.0, alpha=0.3)]
    print("SciPy baseline (quad epsabs=%g epsrel=%g, brentq prox, root(hybr)); "
          "lambda_pt in absolute units, gaussian teacher via closed-form posterior"
          % (QUAD_EPSABS, QUAD_EPSREL))
    for pt in points:
        P = (base["rho_pt"], base["rho_ft"], pt["omega"], base["c_pt"], base["lambda_pt"],
             base["gamma_ft"])
        out = solve_point(pt["alpha"], *P)
        r, dt, nq, npx = _time_residual(out["sigma"], out["tau"], pt["alpha"], P)
        print(f"\nomega={pt['omega']}, alpha={pt['alpha']}, {base}")
        print(f"  one residual: {dt*1e3:.1f} ms  ({nq} quad calls, {npx} prox solves), "
              f"residual at solution = {r}")
        print(f"  full solve:   {out['seconds']:.2f} s  ({out['n_residual_evals']} residual evals, "
              f"{out['n_quad_calls']} quad calls, {out['n_prox_calls']} prox solves), "
              f"converged={out['converged']} via {out['method']}")
        print(f"  sigma = {out['sigma']:.12g}  tau = {out['tau']:.12g}  "
              f"gen_error = {out['gen_error']:.12g}")
        if nested:
            r2, dt2, nq2, np2 = _time_residual(out["sigma"], out["tau"], pt["alpha"], P,
                                               repeat=1, gaussian_mode="nested")
            print(f"  one residual, nested 2-D quad: {dt2:.2f} s ({nq2} quad calls, "
                  f"{np2} prox solves), residual = {r2}")
