"""The damped Newton on the smooth dual of min sum_d q_{c_d}(beta_d) s.t. X beta = y, written once
for numpy and torch (array-namespace style) and run on a batch of B problems, each stopping on
its own. The algorithm and its numerical choices are described in ``empirical.flow``; only the
Hessian and the Cholesky solve differ between the namespaces (:class:`NumpyOps`, :class:`TorchOps`).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sla
from scipy.linalg.blas import dsyrk

from symbolic.errors import ConvergenceError

ARG_MAX = 700.0          # largest |2 (X^T nu)_d| a trial step may reach
ARMIJO = 1e-4
MAX_BACKTRACK = 80
_SMALL_H = 0.5           # |h| below which the series form of the decrease is used


class FlowSolveError(ConvergenceError):
    """The dual Newton solve did not reach its tolerance (message is one line)."""


def _cholesky(H):
    """Upper Cholesky factor of H (upper triangle referenced), with growing jitter on failure."""
    try:
        return sla.cho_factor(H, lower=False, overwrite_a=False, check_finite=False), 0.0
    except np.linalg.LinAlgError:
        pass
    scale = float(np.mean(np.diag(H)))
    jitter = 1e-14 * scale
    for _ in range(12):
        Hj = H + jitter * np.eye(H.shape[0])
        try:
            return sla.cho_factor(Hj, lower=False, overwrite_a=True, check_finite=False), jitter
        except np.linalg.LinAlgError:
            jitter *= 100.0
    raise FlowSolveError("Hessian X diag(w) X^T is not positive definite even with jitter")


# -- array namespace: the few primitives whose numpy and torch spellings differ ----------------

class NumpyOps:
    """numpy/SciPy primitives (a batch of B problems; B = 1 in :func:`min_q_interpolant`)."""

    xp = np

    @staticmethod
    def host(a) -> np.ndarray:
        return np.asarray(a)

    @staticmethod
    def dev(a: np.ndarray):
        return a

    @staticmethod
    def gram(X, w):
        """X diag(w) X^T per problem, upper triangle, by BLAS ``dsyrk`` (half a matrix product)."""
        out = np.empty((X.shape[0], X.shape[1], X.shape[1]))
        for k in range(X.shape[0]):
            buf = X[k] * np.sqrt(w[k])
            # buf is C-contiguous (N, D) = Fortran (D, N) of buf^T: trans=1 gives buf buf^T, no copy
            out[k] = dsyrk(1.0, buf.T, trans=1, lower=0)
        return out

    @staticmethod
    def newton_direction(H, g):
        """(-H^{-1} g, solved) per problem, Cholesky with growing jitter (:func:`_cholesky`)."""
        d, ok = np.zeros_like(g), np.ones(g.shape[0], bool)
        for k in range(g.shape[0]):
            try:
                fac, _ = _cholesky(H[k])
            except FlowSolveError:
                ok[k] = False
                continue
            d[k] = -sla.cho_solve(fac, g[k], check_finite=False)
        return d, ok


class TorchOps:
    """torch primitives on one device (batched Cholesky with per-problem jitter)."""

    def __init__(self, torch, device):
        self.xp, self.device = torch, device

    def host(self, a) -> np.ndarray:
        return a.detach().cpu().numpy()

    def dev(self, a: np.ndarray):
        return self.xp.as_tensor(a, device=self.device)

    @staticmethod
    def gram(X, w):
        Xs = X * w.sqrt()[:, None, :]
        return Xs @ Xs.transpose(1, 2)

    def newton_direction(self, H, g):
        torch = self.xp
        L, info = torch.linalg.cholesky_ex(H)
        if bool((info != 0).any()):
            jitter = 1e-14 * torch.diagonal(H, dim1=1, dim2=2).mean(dim=1)
            eye = torch.eye(H.shape[1], dtype=H.dtype, device=H.device)
            for _ in range(12):
                bad = info != 0
                if not bool(bad.any()):
                    break
                L[bad], info[bad] = torch.linalg.cholesky_ex(H[bad] + jitter[bad, None, None] * eye)
                jitter = torch.where(bad, jitter * 100.0, jitter)
        ok = info == 0
        d = -torch.cholesky_solve(g.unsqueeze(-1), L).squeeze(-1)
        return torch.where(ok[:, None], d, torch.zeros_like(d)), self.host(ok)


# -- the damped Newton on the dual, written once for both namespaces -----------------------------

def xt_of(X, v):
    """X^T v per problem: (B, N, D), (B, N) -> (B, D)."""
    return (v[:, None, :] @ X)[:, 0, :]


def x_of(X, v):
    """X v per problem: (B, N, D), (B, D) -> (B, N)."""
    return (X @ v[:, :, None])[:, :, 0]


def _sinh_minus_x(xp, x):
    """sinh(x) - x without cancellation (series for |x| <= 1, direct otherwise)."""
    x2 = x * x
    # x^3/3! (1 + x^2/(4*5) (1 + x^2/(6*7) (1 + ...)))  Horner, 9 terms: rel. error < 1e-19
    acc = xp.ones_like(x)
    for k in range(19, 3, -2):          # k = 19, 17, ..., 5 : factor x^2 / ((k-1) k)
        acc = 1.0 + x2 / ((k - 1) * k) * acc
    series = x * x2 / 6.0 * acc
    return xp.where(xp.abs(x) <= 1.0, series, xp.sinh(x) - x)


def _decrease(xp, a, h, c, beta, w):
    """Per-coordinate F-change  c/2 [cosh(a + 2h) - cosh(a)] - h beta  (a = 2u, beta = c sinh a,
    w = 2 c cosh a), accurate for small h; the gradient part t g^T d is added by the caller."""
    small = xp.abs(h) <= _SMALL_H
    hs = xp.where(small, h, 0.0)
    sh = xp.sinh(hs)
    d_small = 0.5 * beta * _sinh_minus_x(xp, 2.0 * hs) + 0.5 * w * sh * sh
    if bool(small.all()):
        return d_small
    d_big = 0.5 * c * xp.cosh(a + 2.0 * h) - 0.25 * w - h * beta
    return xp.where(small, d_small, d_big)


class _Line:
    """phi(t) = F(nu + t d) - F(nu) along the Newton directions of K problems at once
    (s = X^T d, gd = g.d; t has shape (K,))."""

    def __init__(self, xp, a, s, c, beta, w, gd):
        self.xp, self.a, self.s, self.c, self.beta, self.w, self.gd = xp, a, s, c, beta, w, gd

    def phi(self, t):
        return _decrease(self.xp, self.a, t[:, None] * self.s, self.c, self.beta, self.w).sum(-1) + t * self.gd

    def dphi(self, t):
        """phi'(t) = s.(beta(t) - beta) + g.d and phi''(t) = sum s^2 w(t), cancellation-free."""
        xp, h = self.xp, t[:, None] * self.s
        small = xp.abs(h) <= _SMALL_H
        hs = xp.where(small, h, 0.0)
        db = xp.where(small, 2.0 * self.c * xp.cosh(self.a + hs) * xp.sinh(hs),
                      self.c * xp.sinh(self.a + 2.0 * h) - self.beta)
        d2 = (self.s * self.s * 2.0 * self.c * xp.cosh(self.a + 2.0 * h)).sum(-1)
        return (self.s * db).sum(-1) + self.gd, d2

    def armijo(self, t):
        """Inside the overflow guard (|a + 2 t s| <= ARG_MAX) and sufficient decrease."""
        inside = self.xp.amax(self.xp.abs(self.a + 2.0 * t[:, None] * self.s), -1) <= ARG_MAX
        if not bool(inside.any()):
            return inside           # phi is not evaluated outside the guard (it may overflow)
        return inside & (self.phi(t) <= ARMIJO * t * self.gd)


def _line_search(line: _Line):
    """Step lengths along the Newton directions: the full step if it passes Armijo, else a
    near-exact minimiser of the convex phi on the overflow-safe interval (safeguarded Newton
    on phi'), else plain backtracking. Returns (t, found); found is False where no step exists."""
    xp, a, s, gd = line.xp, line.a, line.s, line.gd
    t_out = xp.ones_like(gd)
    found = line.armijo(t_out)
    if bool(found.all()):
        return t_out, found
    # largest t <= 1 keeping |a + 2 t s| <= ARG_MAX
    abs_s = xp.abs(s)
    room = xp.where(abs_s > 0, (ARG_MAX - xp.sign(s) * a) / (2.0 * xp.where(abs_s > 0, abs_s, 1.0)), math.inf)
    hi = xp.minimum(xp.amin(room, -1), xp.ones_like(gd))
    todo = ~found & (hi > 0)
    lo = xp.zeros_like(hi)
    dp_hi, _ = line.dphi(hi)
    bracketed = ~xp.isfinite(dp_hi) | (dp_hi > 0)
    t = 0.5 * hi
    running = todo & bracketed
    for _ in range(60):
        if not bool(running.any()):
            break
        dp, d2 = line.dphi(t)
        fin = xp.isfinite(dp)
        move = running & ~(fin & (xp.abs(dp) <= 0.1 * xp.abs(gd)))
        hi = xp.where(move & ~(fin & (dp < 0)), t, hi)
        lo = xp.where(move & fin & (dp < 0), t, lo)
        tn = xp.where(fin & (d2 > 0), t - dp / d2, 0.5 * (lo + hi))
        t = xp.where(move, xp.where((lo < tn) & (tn < hi), tn, 0.5 * (lo + hi)), t)
        running = move & ~(hi - lo <= 1e-14 * hi)
    t_cand = xp.where(bracketed, t, hi * (1.0 - 1e-12))
    good = todo & (t_cand > 0) & line.armijo(xp.where(todo, t_cand, 1.0))
    t_out, found = xp.where(good, t_cand, t_out), found | good
    t = xp.ones_like(gd)
    for _ in range(MAX_BACKTRACK):
        pending = ~found
        if not bool(pending.any()):
            break
        good = pending & line.armijo(t)
        t_out, found = xp.where(good, t, t_out), found | good
        t = 0.5 * t
    return t_out, found


def newton(ops, X, y, c, nu, ynorm, active, tol, max_iter):
    """Damped Newton on the duals of B problems, one algorithm for numpy and torch (X (B, N, D), y (B, N), c (B, D), start nu (B, N);
    ynorm and active are host arrays, inactive problems are left alone). Each problem stops on
    its own. Returns (nu, iterations, histories, messages)."""
    xp, B = ops.xp, X.shape[0]
    iters, msgs, hist = np.zeros(B, np.int64), [""] * B, [[] for _ in range(B)]
    active = active.copy()
    for it in range(max_iter + 1):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        idx = slice(None) if rows.size == B else ops.dev(rows)      # no copy of X while all run
        Xa, ca = X[idx], c[idx]
        a = 2.0 * xt_of(Xa, nu[idx])
        beta = ca * xp.sinh(a)
        g = x_of(Xa, beta) - y[idx]
        res = np.sqrt(ops.host((g * g).sum(-1))) / ynorm[rows]
        for k, r in zip(rows, res):
            hist[k].append(float(r))
        iters[rows] = it
        stop = res <= tol
        for k, r in zip(rows[stop], res[stop]):
            msgs[k] = f"converged: residual {r:.2e} <= tol {tol:.1e}"
        if it == max_iter:
            for k, r in zip(rows[~stop], res[~stop]):
                msgs[k] = f"not converged: residual {r:.2e} > tol {tol:.1e} after {it} iterations"
            break
        active[rows[stop]] = False
        keep = ~stop
        if not keep.any():
            continue
        if not keep.all():
            rows, res, kidx = rows[keep], res[keep], ops.dev(np.flatnonzero(keep))
            Xa, ca, a, beta, g = Xa[kidx], ca[kidx], a[kidx], beta[kidx], g[kidx]
        w = 2.0 * ca * xp.cosh(a)
        d, solved = ops.newton_direction(ops.gram(Xa, w), g)
        s = xt_of(Xa, d)
        gd = (g * d).sum(-1)
        descent = solved & (ops.host(gd) < 0.0)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            t, found = _line_search(_Line(xp, a, s, ca, beta, w, xp.where(ops.dev(descent), gd, -1.0)))
        ok = descent & ops.host(found)
        step = xp.where(ops.dev(ok), t, 0.0)
        upd = slice(None) if rows.size == B else ops.dev(rows)
        nu[upd] = nu[upd] + step[:, None] * d
        gd_h, smax = ops.host(gd), ops.host(xp.amax(xp.abs(s), -1))
        for j in np.flatnonzero(~ok):
            k = rows[j]
            if not solved[j]:
                why = "Hessian X diag(w) X^T is not positive definite even with jitter"
            elif not descent[j]:
                why = f"no descent direction (g.d = {gd_h[j]:.2e})"
            else:
                why = f"line search failed (|X^T d|max = {smax[j]:.2e})"
            msgs[k] = f"not converged: {why} at residual {res[j]:.2e}"
            active[k] = False
    return nu, iters, hist, msgs
