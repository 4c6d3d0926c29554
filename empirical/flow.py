"""Exact end point of gradient flow on a diagonal linear network (THEORY.md sections 1-2).

Gradient flow from ``beta(0) = 0`` with per-coordinate conserved constants ``c_d > 0`` converges
to the interpolator

    beta_hat = argmin_beta  sum_d q_{c_d}(beta_d)   s.t.   X beta = y,
    q_c(b)   = (1/2) [ b asinh(b/c) - sqrt(b^2 + c^2) + c ],      q_c'(b) = asinh(b/c) / 2.

It is computed here through the smooth dual (``q_c^*(u) = c (cosh 2u - 1) / 2``)

    nu_hat = argmin_nu  F(nu) = sum_d c_d cosh(2 (X^T nu)_d) / 2 - nu^T y,
    beta_d = c_d sinh(2 (X^T nu)_d),      grad F = X beta - y,
    hess F = X diag(w) X^T,   w_d = 2 c_d cosh(2 (X^T nu)_d),

by damped Newton (Cholesky of the N x N Hessian each step) with an Armijo backtracking line
search, in float64.  Numerical choices:

* The decrease ``F(nu + t d) - F(nu)`` is evaluated per coordinate in a cancellation-free form
  (``sinh(x) - x`` by its series for small steps), so the Armijo test stays meaningful down to
  relative residuals far below 1e-12, where the objective values themselves no longer differ.
* A trial step with any ``|2 (X^T nu)_d| > 700`` is rejected (cosh overflow guard); the line
  search works on the dual argument ``X^T nu`` directly, so trials cost O(D), not O(ND).
* The Hessian is formed with a symmetric rank-k update (BLAS ``dsyrk``, half the flops of a
  matrix product); if Cholesky fails, a growing diagonal jitter is added (still a descent step).
* ``N >= D`` (or a rank-deficient X with N >= D) is reduced by an SVD to the row space first;
  labels outside the range of X (no interpolator) raise ``ValueError``.
* Iterations: about 10-15 for c ~ 1e-3 .. 1, about 25 for c ~ 1e-13 (a plateau while coordinates
  switch on one by one, like the saddle-to-saddle phase of the flow itself); the plateau grows
  with log(1/min c) (about 100 iterations at c = 1e-290), hence the default max_iter = 200.
* Convergence: ``||X beta - y|| / ||y|| <= tol`` (default 1e-12).  A solve that does not get
  there raises :class:`FlowSolveError` (``on_fail="raise"``, default) or returns
  ``converged=False`` with a warning (``on_fail="warn"``); it never fails silently.

:func:`min_q_interpolant_torch` runs the same algorithm on a batch of equal-shape problems
``(B, N, D)`` on any torch device.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

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


@dataclass(frozen=True)
class FlowSolution:
    """Result of :func:`min_q_interpolant`.

    beta : (D,) minimiser;  nu : (N,) dual variable (``asinh(beta/c)/2 = X^T nu``);
    iterations : Newton steps taken;  residual : ``||X beta - y|| / ||y||`` (original X, y);
    converged : ``residual <= tol``;  message : one line;  history : residual before each step.
    """

    beta: np.ndarray
    nu: np.ndarray
    iterations: int
    residual: float
    converged: bool
    message: str
    history: tuple = ()


# -- penalty -------------------------------------------------------------------------------

def q_hyperbolic(b, c):
    """Elementwise q_c(b) = (1/2)[b asinh(b/c) - sqrt(b^2+c^2) + c], evaluated without
    cancellation for |b| << c (q ~ b^2 / (4c))."""
    b = np.asarray(b, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    r = b / c
    return 0.5 * c * (r * np.arcsinh(r) - r * r / (np.hypot(1.0, r) + 1.0))


def q_objective(beta, c) -> float:
    """sum_d q_{c_d}(beta_d)."""
    return float(np.sum(q_hyperbolic(beta, c)))


def gen_error(beta_hat, beta_star) -> float:
    """Mean squared parameter error mean((beta_hat - beta_star)^2) (= test error of a
    noiseless predictor when x ~ N(0, I/D))."""
    beta_hat = np.asarray(beta_hat, dtype=np.float64)
    beta_star = np.asarray(beta_star, dtype=np.float64)
    if beta_hat.shape != beta_star.shape:
        raise ValueError(f"shape mismatch: beta_hat {beta_hat.shape} vs beta_star {beta_star.shape}")
    return float(np.mean((beta_hat - beta_star) ** 2))


# -- numerics helpers ----------------------------------------------------------------------

def _sinh_minus_x(x):
    """sinh(x) - x without cancellation (series for |x| <= 1, direct otherwise)."""
    x = np.asarray(x, dtype=np.float64)
    x2 = x * x
    # x^3/3! (1 + x^2/(4*5) (1 + x^2/(6*7) (1 + ...)))  Horner, 9 terms: rel. error < 1e-19
    acc = np.ones_like(x)
    for k in range(19, 3, -2):          # k = 19, 17, ..., 5 : factor x^2 / ((k-1) k)
        acc = 1.0 + x2 / ((k - 1) * k) * acc
    series = x * x2 / 6.0 * acc
    return np.where(np.abs(x) <= 1.0, series, np.sinh(x) - x)


def _decrease(a, h, c, beta, w):
    """Per-coordinate F-change  c/2 [cosh(a + 2h) - cosh(a)] - h beta  (a = 2u, beta = c sinh a,
    w = 2 c cosh a), accurate for small h; the gradient part t g^T d is added by the caller."""
    small = np.abs(h) <= _SMALL_H
    hs = np.where(small, h, 0.0)
    sh = np.sinh(hs)
    d_small = 0.5 * beta * _sinh_minus_x(2.0 * hs) + 0.5 * w * sh * sh
    if small.all():
        return d_small
    with np.errstate(over="ignore", invalid="ignore"):
        d_big = 0.5 * c * np.cosh(a + 2.0 * h) - 0.25 * w - h * beta
    return np.where(small, d_small, d_big)


def _as_problem(X, y, c):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (N, D), got shape {X.shape}")
    n, dim = X.shape
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    c = np.broadcast_to(np.asarray(c, dtype=np.float64), (dim,)).copy() \
        if np.ndim(c) == 0 else np.asarray(c, dtype=np.float64)
    if c.shape != (dim,):
        raise ValueError(f"c must be a scalar or have shape ({dim},), got {c.shape}")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X and y must be finite")
    if not (np.isfinite(c).all() and (c > 0).all()):
        raise ValueError("c must be finite and > 0 in every coordinate")
    return np.ascontiguousarray(X), y, c


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


def _phi(t, a, s, c, beta, w, gd):
    """phi(t) = F(nu + t d) - F(nu) along the Newton direction (s = X^T d, gd = g.d)."""
    return float(np.sum(_decrease(a, t * s, c, beta, w))) + t * gd


def _dphi(t, a, s, c, beta, w, gd):
    """phi'(t) = s.(beta(t) - beta) + g.d and phi''(t) = sum s^2 w(t), cancellation-free."""
    h = t * s
    small = np.abs(h) <= _SMALL_H
    hs = np.where(small, h, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        db = np.where(small, 2.0 * c * np.cosh(a + hs) * np.sinh(hs),
                      c * np.sinh(a + 2.0 * h) - beta)
        d2 = float(np.sum(s * s * 2.0 * c * np.cosh(a + 2.0 * h)))
    return float(s @ db) + gd, d2


def _line_search(a, s, c, beta, w, gd):
    """Step length along the Newton direction: the full step if it passes Armijo, else a
    near-exact minimiser of the convex phi on the overflow-safe interval (safeguarded Newton
    on phi'), else plain backtracking. Returns None if no acceptable step exists."""
    guard_ok = lambda t: float(np.max(np.abs(a + 2.0 * t * s))) <= ARG_MAX  # noqa: E731
    if guard_ok(1.0) and _phi(1.0, a, s, c, beta, w, gd) <= ARMIJO * gd:
        return 1.0
    # largest t <= 1 keeping |a + 2 t s| <= ARG_MAX
    abs_s = np.abs(s)
    nz = abs_s > 0
    if nz.any():
        room = (ARG_MAX - np.sign(s[nz]) * a[nz]) / (2.0 * abs_s[nz])
        t_hi = min(1.0, float(np.min(room)))
    else:
        t_hi = 1.0
    t_cand = None
    if t_hi > 0:
        lo, hi = 0.0, t_hi
        dp_hi, _ = _dphi(hi, a, s, c, beta, w, gd)
        if not np.isfinite(dp_hi) or dp_hi > 0:
            t = 0.5 * hi
            for _ in range(60):
                dp, d2 = _dphi(t, a, s, c, beta, w, gd)
                if not np.isfinite(dp):
                    hi = t
                elif abs(dp) <= 0.1 * abs(gd):
                    break
                elif dp < 0:
                    lo = t
                else:
                    hi = t
                tn = t - dp / d2 if (np.isfinite(dp) and d2 > 0) else 0.5 * (lo + hi)
                t = tn if lo < tn < hi else 0.5 * (lo + hi)
                if hi - lo <= 1e-14 * hi:
                    break
            t_cand = t
        else:
            t_cand = hi * (1.0 - 1e-12)
        if t_cand > 0 and guard_ok(t_cand) and \
                _phi(t_cand, a, s, c, beta, w, gd) <= ARMIJO * t_cand * gd:
            return t_cand
    t = 1.0
    for _ in range(MAX_BACKTRACK):
        if guard_ok(t) and _phi(t, a, s, c, beta, w, gd) <= ARMIJO * t * gd:
            return t
        t *= 0.5
    return None


def _newton(X, y, c, tol, max_iter, nu0, ynorm):
    """Damped Newton on the dual of (X, y, c). Returns (nu, u, iterations, history, message)."""
    n, dim = X.shape
    nu = np.zeros(n) if nu0 is None else np.array(nu0, dtype=np.float64)
    if nu.shape != (n,) or not np.isfinite(nu).all():
        raise ValueError(f"nu0 must be a finite array of shape ({n},), got shape {nu.shape}")
    u = X.T @ nu
    if np.max(np.abs(2.0 * u), initial=0.0) > ARG_MAX:
        raise ValueError("nu0 gives |2 X^T nu0| > 700 (cosh overflow); use a smaller start")
    history = []
    message = ""
    buf = np.empty_like(X)
    for it in range(max_iter + 1):
        a = 2.0 * u
        beta = c * np.sinh(a)
        g = X @ beta - y
        res = float(np.linalg.norm(g)) / ynorm
        history.append(res)
        if res <= tol:
            return nu, u, it, history, f"converged: residual {res:.2e} <= tol {tol:.1e}"
        if it == max_iter:
            message = f"not converged: residual {res:.2e} > tol {tol:.1e} after {it} iterations"
            break
        w = 2.0 * c * np.cosh(a)
        np.multiply(X, np.sqrt(w), out=buf)
        # buf is C-contiguous (N, D) = Fortran (D, N) of buf^T: trans=1 gives buf buf^T, no copy
        H = dsyrk(1.0, buf.T, trans=1, lower=0)
        try:
            fac, _ = _cholesky(H)
        except FlowSolveError as err:
            message = f"not converged: {err} at residual {res:.2e}"
            break
        d = -sla.cho_solve(fac, g, check_finite=False)
        s = X.T @ d
        gd = float(g @ d)
        if not gd < 0.0:
            message = f"not converged: no descent direction (g.d = {gd:.2e}) at residual {res:.2e}"
            break
        t = _line_search(a, s, c, beta, w, gd)
        if t is None:
            message = (f"not converged: line search failed at residual {res:.2e} "
                       f"(|X^T d|max = {float(np.max(np.abs(s))):.2e})")
            break
        nu = nu + t * d
        u = X.T @ nu
    return nu, u, it, history, message


def min_q_interpolant(X, y, c, *, tol: float = 1e-12, max_iter: int = 200, nu0=None,
                      on_fail: str = "raise") -> FlowSolution:
    """Minimise sum_d q_{c_d}(beta_d) subject to X beta = y (gradient-flow end point).

    Parameters
    ----------
    X : (N, D) array;  y : (N,) array;  c : scalar or (D,) array, every entry finite and > 0
        (1e-13 .. 1e3 tested).
    tol : stop when ||X beta - y|| / ||y|| <= tol.
    max_iter : Newton steps allowed.
    nu0 : optional (N,) warm start for the dual variable, e.g. the ``nu`` of a solve on the
        same X with nearby c (ignored when N >= D).
    on_fail : "raise" (FlowSolveError) or "warn" (RuntimeWarning, ``converged=False``).
    """
    if on_fail not in ("raise", "warn"):
        raise ValueError(f"on_fail must be 'raise' or 'warn', got {on_fail!r}")
    if not (tol > 0 and math.isfinite(tol)):
        raise ValueError(f"tol must be finite and > 0, got {tol!r}")
    X, y, c = _as_problem(X, y, c)
    n, dim = X.shape
    ynorm = float(np.linalg.norm(y))
    if ynorm == 0.0:
        return FlowSolution(np.zeros(dim), np.zeros(n), 0, 0.0, True, "y = 0: beta = 0", (0.0,))

    if n < dim:
        nu, u, it, hist, msg = _newton(X, y, c, tol, max_iter, nu0, ynorm)
    else:
        nu, u, it, hist, msg = _solve_tall(X, y, c, tol, max_iter, ynorm)

    beta = c * np.sinh(2.0 * u)
    res = float(np.linalg.norm(X @ beta - y)) / ynorm
    converged = res <= tol
    if not converged:
        msg = msg if msg.startswith("not converged") else \
            f"not converged: residual {res:.2e} > tol {tol:.1e}"
        if on_fail == "raise":
            raise FlowSolveError(f"min_q_interpolant (N={n}, D={dim}): {msg}")
        warnings.warn(f"min_q_interpolant (N={n}, D={dim}): {msg}", RuntimeWarning, stacklevel=2)
    return FlowSolution(beta=beta, nu=nu, iterations=it, residual=res, converged=converged,
                        message=msg, history=tuple(hist))


def _solve_tall(X, y, c, tol, max_iter, ynorm):
    """N >= D: restrict to the row space of X with an SVD (the dual Hessian is singular)."""
    U, S, Vt = np.linalg.svd(X, full_matrices=False)
    n, dim = X.shape
    r = int(np.sum(S > S[0] * max(n, dim) * np.finfo(float).eps)) if S.size and S[0] > 0 else 0
    if r == 0:
        raise ValueError("X is zero but y is not: no interpolator exists")
    Ur, Sr, Vr = U[:, :r], S[:r], Vt[:r]
    yr = Ur.T @ y
    out = float(np.linalg.norm(y - Ur @ yr)) / ynorm
    if out > max(tol, 1e-10):
        raise ValueError(f"no interpolator: y is not in the range of X (relative distance "
                         f"{out:.2e}; noisy labels with N >= D?)")
    if r == dim:
        beta = Vr.T @ (yr / Sr)                       # the unique interpolator
        u = 0.5 * np.arcsinh(beta / c)
        nu = Ur @ ((Vr @ u) / Sr)
        # report the u that generated beta (X^T nu = u exactly in exact arithmetic)
        return nu, u, 0, [], "unique interpolator (rank X = D)"
    Xr = np.ascontiguousarray(Sr[:, None] * Vr)
    z, u, it, hist, msg = _newton(Xr, yr, c, tol, max_iter, None, float(np.linalg.norm(yr)))
    return Ur @ z, u, it, hist, msg


# -- batched torch version -----------------------------------------------------------------

@dataclass(frozen=True)
class FlowBatchSolution:
    """Result of :func:`min_q_interpolant_torch` (numpy arrays, leading batch axis)."""

    beta: np.ndarray          # (B, D)
    nu: np.ndarray            # (B, N)
    iterations: np.ndarray    # (B,)
    residual: np.ndarray      # (B,)
    converged: np.ndarray     # (B,) bool
    message: tuple            # (B,) one line each

    def item(self, i: int) -> FlowSolution:
        return FlowSolution(beta=self.beta[i], nu=self.nu[i], iterations=int(self.iterations[i]),
                            residual=float(self.residual[i]), converged=bool(self.converged[i]),
                            message=self.message[i])


def _torch_sinh_minus_x(x):
    import torch
    x2 = x * x
    acc = torch.ones_like(x)
    for k in range(19, 3, -2):
        acc = 1.0 + x2 / ((k - 1) * k) * acc
    series = x * x2 / 6.0 * acc
    return torch.where(x.abs() <= 1.0, series, torch.sinh(x) - x)


def min_q_interpolant_torch(X, y, c, *, tol: float = 1e-12, max_iter: int = 200, device=None,
                            on_fail: str = "raise") -> FlowBatchSolution:
    """Batched :func:`min_q_interpolant` for B problems of equal shape, in float64 on ``device``.

    X : (B, N, D), y : (B, N), c : scalar, (D,) or (B, D); numpy arrays or torch tensors.
    Requires N < D (use the numpy version otherwise). Each problem has its own step sizes and
    stops on its own; ``on_fail`` as in :func:`min_q_interpolant` (raises if any problem fails).
    """
    import torch

    if on_fail not in ("raise", "warn"):
        raise ValueError(f"on_fail must be 'raise' or 'warn', got {on_fail!r}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    f64 = torch.float64

    def _t(a):
        if isinstance(a, torch.Tensor):
            return a.to(device=dev, dtype=f64)
        return torch.from_numpy(np.array(a, dtype=np.float64)).to(dev)   # copy: input may be read-only

    X, y = _t(X), _t(y)
    if X.ndim != 3:
        raise ValueError(f"X must be 3-D (B, N, D), got shape {tuple(X.shape)}")
    B, n, dim = X.shape
    if tuple(y.shape) != (B, n):
        raise ValueError(f"y must have shape ({B}, {n}), got {tuple(y.shape)}")
    if n >= dim:
        raise ValueError(f"torch version needs N < D, got N={n}, D={dim}")
    c = _t(c)
    c = torch.broadcast_to(c, (B, dim)).clone() if c.ndim < 2 else c
    if tuple(c.shape) != (B, dim):
        raise ValueError(f"c must be a scalar, ({dim},) or ({B}, {dim}), got {tuple(c.shape)}")
    if not (torch.isfinite(X).all() and torch.isfinite(y).all()):
        raise ValueError("X and y must be finite")
    if not (torch.isfinite(c).all() and (c > 0).all()):
        raise ValueError("c must be finite and > 0 in every coordinate")

    ynorm = torch.linalg.vector_norm(y, dim=1)
    nu = torch.zeros(B, n, dtype=f64, device=dev)
    iters = np.zeros(B, dtype=np.int64)
    done = ynorm == 0                     # trivially solved
    failed = torch.zeros(B, dtype=torch.bool, device=dev)
    msgs = ["y = 0: beta = 0" if bool(z) else "" for z in done.cpu()]
    safe_ynorm = torch.where(done, torch.ones_like(ynorm), ynorm)

    for it in range(max_iter + 1):
        act = torch.nonzero(~done & ~failed).flatten()
        if act.numel() == 0:
            break
        Xa, ya, ca, nua = X[act], y[act], c[act], nu[act]
        a = 2.0 * torch.einsum("bnd,bn->bd", Xa, nua)
        beta = ca * torch.sinh(a)
        g = torch.einsum("bnd,bd->bn", Xa, beta) - ya
        res = torch.linalg.vector_norm(g, dim=1) / safe_ynorm[act]
        ok = res <= tol
        if ok.any():
            done[act[ok]] = True
            for i, r in zip(act[ok].tolist(), res[ok].tolist()):
                iters[i] = it
                msgs[i] = f"converged: residual {r:.2e} <= tol {tol:.1e}"
        if it == max_iter:
            for i, r in zip(act[~ok].tolist(), res[~ok].tolist()):
                iters[i] = it
                msgs[i] = f"not converged: residual {r:.2e} > tol {tol:.1e} after {it} iterations"
            failed[act[~ok]] = True
            break
        keep = ~ok
        if not keep.any():
            continue
        act, Xa, ya, ca, a, beta, g = (t[keep] for t in (act, Xa, ya, ca, a, beta, g))
        w = 2.0 * ca * torch.cosh(a)
        Xs = Xa * torch.sqrt(w)[:, None, :]
        H = Xs @ Xs.transpose(1, 2)
        del Xs
        L, info = torch.linalg.cholesky_ex(H)
        if (info != 0).any():
            scale = torch.diagonal(H, dim1=1, dim2=2).mean(dim=1)
            jitter = 1e-14 * scale
            eye = torch.eye(n, dtype=f64, device=dev)
            for _ in range(12):
                bad = info != 0
                if not bad.any():
                    break
                Lb, ib = torch.linalg.cholesky_ex(H[bad] + jitter[bad, None, None] * eye)
                L[bad], info[bad] = Lb, ib
                jitter = torch.where(bad, jitter * 100.0, jitter)
            if (info != 0).any():
                for i in act[info != 0].tolist():
                    msgs[i] = "not converged: Hessian not positive definite even with jitter"
                    iters[i] = it
                failed[act[info != 0]] = True
        d = -torch.cholesky_solve(g.unsqueeze(-1), L).squeeze(-1)
        s = torch.einsum("bnd,bn->bd", Xa, d)
        gd = (g * d).sum(dim=1)
        t = torch.ones_like(gd)
        accepted = torch.zeros_like(gd, dtype=torch.bool)
        usable = (info == 0) & (gd < 0)
        for _ in range(MAX_BACKTRACK):
            h = t[:, None] * s
            small = h.abs() <= _SMALL_H
            hs = torch.where(small, h, torch.zeros_like(h))
            sh = torch.sinh(hs)
            d_small = 0.5 * beta * _torch_sinh_minus_x(2.0 * hs) + 0.5 * w * sh * sh
            d_big = 0.5 * ca * torch.cosh(a + 2.0 * h) - 0.25 * w - h * beta
            df = torch.where(small, d_small, d_big).sum(dim=1) + t * gd
            inside = (a + 2.0 * h).abs().amax(dim=1) <= ARG_MAX
            good = inside & (df <= ARMIJO * t * gd) & usable & ~accepted
            accepted |= good
            if bool((accepted | ~usable).all()):
                break
            t = torch.where(accepted, t, 0.5 * t)
        step = torch.where(accepted, t, torch.zeros_like(t))
        nu[act] = nu[act] + step[:, None] * d
        bad_ls = ~accepted & (info == 0)
        if bad_ls.any():
            for i, r in zip(act[bad_ls].tolist(),
                            (torch.linalg.vector_norm(g[bad_ls], dim=1)
                             / safe_ynorm[act[bad_ls]]).tolist()):
                msgs[i] = f"not converged: line search failed at residual {r:.2e}"
                iters[i] = it
            failed[act[bad_ls]] = True

    u = torch.einsum("bnd,bn->bd", X, nu)
    beta = c * torch.sinh(2.0 * u)
    res = torch.linalg.vector_norm(torch.einsum("bnd,bd->bn", X, beta) - y, dim=1) / safe_ynorm
    res = torch.where(ynorm == 0, torch.zeros_like(res), res)
    conv = (res <= tol).cpu().numpy()
    out = FlowBatchSolution(beta=beta.cpu().numpy(), nu=nu.cpu().numpy(), iterations=iters,
                            residual=res.cpu().numpy(), converged=conv, message=tuple(msgs))
    if not conv.all():
        bad = [i for i in range(B) if not conv[i]]
        text = (f"min_q_interpolant_torch: {len(bad)}/{B} problems not converged "
                f"(first: #{bad[0]}: {msgs[bad[0]] or 'residual %.2e' % out.residual[bad[0]]})")
        if on_fail == "raise":
            raise FlowSolveError(text)
        warnings.warn(text, RuntimeWarning, stacklevel=2)
    return out
