"""Exact end point of gradient flow on a diagonal linear network (docs/theory.md, "Model").

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

The Newton iteration and its line search are written once, array-namespace style, for a batch
of B problems (each stops on its own): :func:`min_q_interpolant` runs it with numpy/SciPy
(B = 1, BLAS ``dsyrk`` + LAPACK Cholesky) and :func:`min_q_interpolant_torch` with torch on any
device (batched Cholesky); only those primitives differ (``empirical.dual_newton``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .dual_newton import ARG_MAX, FlowSolveError, NumpyOps, TorchOps, newton, x_of, xt_of
from symbolic.errors import InputError

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
    cancellation for |b| << c (q ~ b^2 / (4c)): the form printed from the symbolic layer
    (``numerics.expressions``).

    Returns
    -------
    numpy.ndarray
        q_c(b) with the broadcast shape of ``b`` and ``c``.
    """
    from numerics.expressions import kernels

    return kernels().q_c(np.asarray(b, dtype=np.float64), np.asarray(c, dtype=np.float64))


def q_objective(beta, c) -> float:
    """The implicit-bias objective.

    Returns
    -------
    float
        sum_d q_{c_d}(beta_d).
    """
    return float(np.sum(q_hyperbolic(beta, c)))


def gen_error(beta_hat, beta_star) -> float:
    """Mean squared parameter error of an estimate.

    Returns
    -------
    float
        mean((beta_hat - beta_star)^2), the test error of a noiseless predictor when x ~ N(0, I/D).
    """
    beta_hat = np.asarray(beta_hat, dtype=np.float64)
    beta_star = np.asarray(beta_star, dtype=np.float64)
    if beta_hat.shape != beta_star.shape:
        raise InputError(f"shape mismatch: beta_hat {beta_hat.shape} vs beta_star {beta_star.shape}")
    return float(np.mean((beta_hat - beta_star) ** 2))


# -- input checks ------------------------------------------------------------------------------

def _as_problem(X, y, c):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"X must be 2-D (N, D), got shape {X.shape}")
    n, dim = X.shape
    if y.shape != (n,):
        raise InputError(f"y must have shape ({n},), got {y.shape}")
    c = np.broadcast_to(np.asarray(c, dtype=np.float64), (dim,)).copy() \
        if np.ndim(c) == 0 else np.asarray(c, dtype=np.float64)
    if c.shape != (dim,):
        raise InputError(f"c must be a scalar or have shape ({dim},), got {c.shape}")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise InputError("X and y must be finite")
    if not (np.isfinite(c).all() and (c > 0).all()):
        raise InputError("c must be finite and > 0 in every coordinate")
    return np.ascontiguousarray(X), y, c


# -- numpy front end -----------------------------------------------------------------------------

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

    Returns
    -------
    FlowSolution
        The minimiser ``beta``, the dual variable ``nu``, iterations, the final relative residual
        and whether it reached ``tol``.
    """
    if on_fail not in ("raise", "warn"):
        raise InputError(f"on_fail must be 'raise' or 'warn', got {on_fail!r}")
    if not (tol > 0 and math.isfinite(tol)):
        raise InputError(f"tol must be finite and > 0, got {tol!r}")
    X, y, c = _as_problem(X, y, c)
    n, dim = X.shape
    ynorm = float(np.linalg.norm(y))
    if ynorm == 0.0:
        return FlowSolution(np.zeros(dim), np.zeros(n), 0, 0.0, True, "y = 0: beta = 0", (0.0,))

    if n < dim:
        nu, u, it, hist, msg = _newton_single(X, y, c, tol, max_iter, nu0, ynorm)
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


def _newton_single(X, y, c, tol, max_iter, nu0, ynorm):
    """One (N, D) problem, N < D, through the batched Newton (B = 1). Returns
    (nu, u = X^T nu, iterations, history, message)."""
    n, _ = X.shape
    nu = np.zeros(n) if nu0 is None else np.array(nu0, dtype=np.float64)
    if nu.shape != (n,) or not np.isfinite(nu).all():
        raise InputError(f"nu0 must be a finite array of shape ({n},), got shape {nu.shape}")
    if np.max(np.abs(2.0 * (X.T @ nu)), initial=0.0) > ARG_MAX:
        raise InputError("nu0 gives |2 X^T nu0| > 700 (cosh overflow); use a smaller start")
    nus, iters, hist, msgs = newton(NumpyOps, X[None], y[None], c[None], nu[None].copy(), np.array([ynorm]),
                                     np.ones(1, bool), tol, max_iter)
    return nus[0], X.T @ nus[0], int(iters[0]), hist[0], msgs[0]


def _solve_tall(X, y, c, tol, max_iter, ynorm):
    """N >= D: restrict to the row space of X with an SVD (the dual Hessian is singular)."""
    U, S, Vt = np.linalg.svd(X, full_matrices=False)
    n, dim = X.shape
    r = int(np.sum(S > S[0] * max(n, dim) * np.finfo(float).eps)) if S.size and S[0] > 0 else 0
    if r == 0:
        raise InputError("X is zero but y is not: no interpolator exists")
    Ur, Sr, Vr = U[:, :r], S[:r], Vt[:r]
    yr = Ur.T @ y
    out = float(np.linalg.norm(y - Ur @ yr)) / ynorm
    if out > max(tol, 1e-10):
        raise InputError(f"no interpolator: y is not in the range of X (relative distance "
                         f"{out:.2e}; noisy labels with N >= D?)")
    if r == dim:
        beta = Vr.T @ (yr / Sr)                       # the unique interpolator
        u = 0.5 * np.arcsinh(beta / c)
        nu = Ur @ ((Vr @ u) / Sr)
        # report the u that generated beta (X^T nu = u exactly in exact arithmetic)
        return nu, u, 0, [], "unique interpolator (rank X = D)"
    Xr = np.ascontiguousarray(Sr[:, None] * Vr)
    z, u, it, hist, msg = _newton_single(Xr, yr, c, tol, max_iter, None, float(np.linalg.norm(yr)))
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


def min_q_interpolant_torch(X, y, c, *, tol: float = 1e-12, max_iter: int = 200, device=None,
                            on_fail: str = "raise") -> FlowBatchSolution:
    """Batched :func:`min_q_interpolant` for B problems of equal shape, in float64 on ``device``.

    X : (B, N, D), y : (B, N), c : scalar, (D,) or (B, D); numpy arrays or torch tensors.
    Requires N < D (use the numpy version otherwise). Each problem has its own step sizes and
    stops on its own; ``on_fail`` as in :func:`min_q_interpolant` (raises if any problem fails).

    Returns
    -------
    FlowBatchSolution
        numpy arrays with a leading batch axis; ``.item(i)`` gives problem i as a FlowSolution.
    """
    import torch

    if on_fail not in ("raise", "warn"):
        raise InputError(f"on_fail must be 'raise' or 'warn', got {on_fail!r}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    f64 = torch.float64

    def _t(a):
        if isinstance(a, torch.Tensor):
            return a.to(device=dev, dtype=f64)
        return torch.from_numpy(np.array(a, dtype=np.float64)).to(dev)   # copy: input may be read-only

    X, y = _t(X), _t(y)
    if X.ndim != 3:
        raise InputError(f"X must be 3-D (B, N, D), got shape {tuple(X.shape)}")
    B, n, dim = X.shape
    if tuple(y.shape) != (B, n):
        raise InputError(f"y must have shape ({B}, {n}), got {tuple(y.shape)}")
    if n >= dim:
        raise InputError(f"torch version needs N < D, got N={n}, D={dim}")
    c = _t(c)
    c = torch.broadcast_to(c, (B, dim)).clone() if c.ndim < 2 else c
    if tuple(c.shape) != (B, dim):
        raise InputError(f"c must be a scalar, ({dim},) or ({B}, {dim}), got {tuple(c.shape)}")
    if not (torch.isfinite(X).all() and torch.isfinite(y).all()):
        raise InputError("X and y must be finite")
    if not (torch.isfinite(c).all() and (c > 0).all()):
        raise InputError("c must be finite and > 0 in every coordinate")

    ynorm = torch.linalg.vector_norm(y, dim=1).cpu().numpy()
    trivial = ynorm == 0
    nu, iters, _, msgs = newton(TorchOps(torch, dev), X, y, c, torch.zeros(B, n, dtype=f64, device=dev),
                                 np.where(trivial, 1.0, ynorm), ~trivial, tol, max_iter)
    msgs = ["y = 0: beta = 0" if z else m for z, m in zip(trivial, msgs)]
    safe_ynorm = torch.as_tensor(np.where(trivial, 1.0, ynorm), device=dev)
    beta = c * torch.sinh(2.0 * xt_of(X, nu))
    res = torch.linalg.vector_norm(x_of(X, beta) - y, dim=1) / safe_ynorm
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
