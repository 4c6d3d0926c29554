"""Fine-tuning with linear teachers (Shachaf, Brutzkus & Globerson 2021; docs/linear_teacher.md).

Target task ``y = theta_T^T x + noise``, ``x ~ N(0, Sigma)``; fine-tuning is gradient flow on
the squared loss started at the source weights theta_S (theta_S). Population risk (noiseless
test label) ``R(w) = (w - theta_T)^T Sigma (w - theta_T)``; ``Delta = theta_S - theta_T`` (Delta).

Exact, any finite n (standard): gradient flow from theta_S converges to the interpolator closest
to theta_S, ``w_FT = theta_S + X^+ (y - X theta_S)`` (least squares once n >= d); with an explicit
ridge ``(1/2n)||y - X w||^2 + (ridge/2)||w - theta_S||^2`` it is the ridge estimate centred at
theta_S. Everything below is written in the eigenbasis of Sigma: ``eigvals`` lambda_i and the
projections ``delta_i = v_i^T Delta``.

Asymptotic (derived here; the Hastie-Montanari-Rosset-Tibshirani / Bach deterministic
equivalent applied to the shifted target Delta): kappa solves
``ridge = kappa (1 - df1(kappa)/n)``, ``df1 = sum lambda_i/(lambda_i + kappa)``,
``df2 = sum lambda_i^2/(lambda_i + kappa)^2`` and

    bias     = kappa^2 sum lambda_i delta_i^2 / (lambda_i + kappa)^2 / (1 - df2/n)
    variance = sigma^2 (df2/n) / (1 - df2/n)

Bias and variance of the ridgeless limit for n >= rank(Sigma): kappa = 0, bias 0 and
variance sigma^2 r/(n - r).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ..params import ParameterError

_SPECTRA = ("iso", "power", "exp")
_PLACEMENTS = ("head", "tail", "uniform")


# -- parameters -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TeacherPair:
    """A source/target pair in the eigenbasis of the target covariance Sigma.

    eigvals : lambda_i >= 0, the spectrum of Sigma (x ~ N(0, Sigma)).
    theta_t : v_i^T theta_T, the target teacher theta_T.
    theta_s : v_i^T theta_S, the source (pretrained) weights theta_S.
    noise : label-noise standard deviation sigma on the target training labels.
    """

    eigvals: np.ndarray
    theta_t: np.ndarray
    theta_s: np.ndarray
    noise: float = 0.0

    def __post_init__(self):
        lam = _vector("eigvals", self.eigvals)
        if (lam < 0).any() or not (lam > 0).any():
            raise ParameterError("eigvals must be >= 0 with at least one > 0")
        for name in ("theta_t", "theta_s"):
            vec = _vector(name, getattr(self, name))
            if vec.shape != lam.shape:
                raise ParameterError(f"{name} has {vec.size} entries, eigvals has {lam.size}")
            object.__setattr__(self, name, vec)
        object.__setattr__(self, "eigvals", lam)
        object.__setattr__(self, "noise", _nonneg("noise", self.noise))

    @property
    def dim(self) -> int:
        return self.eigvals.size

    @property
    def delta(self) -> np.ndarray:
        """Delta = theta_S - theta_T (eigen-coordinates)."""
        return self.theta_s - self.theta_t


def _vector(name, value) -> np.ndarray:
    try:
        arr = np.array(value, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a vector of numbers") from None
    if arr.size == 0 or not np.isfinite(arr).all():
        raise ParameterError(f"{name} must be a non-empty vector of finite numbers")
    arr.setflags(write=False)
    return arr


def _nonneg(name, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ParameterError(f"{name} must be a finite number >= 0, got {value}")
    return value


def make_spectrum(kind: str, dim: int, decay: float = 1.0) -> np.ndarray:
    """Eigenvalues of Sigma normalised to trace 1 (E||x||^2 = 1, as x ~ N(0, I/D) in the replica).

    'iso': lambda_i = 1/d; 'power': lambda_i ~ i^-decay; 'exp': lambda_i ~ exp(-decay i / d).
    """
    if kind not in _SPECTRA:
        raise ParameterError(f"spectrum must be one of {', '.join(_SPECTRA)}, got {kind!r}")
    if not (isinstance(dim, (int, np.integer)) and dim >= 1):
        raise ParameterError(f"dim must be an integer >= 1, got {dim!r}")
    decay = _nonneg("decay", decay)
    i = np.arange(1, dim + 1, dtype=float)
    lam = {"iso": np.ones(dim), "power": i ** -decay, "exp": np.exp(-decay * i / dim)}[kind]
    return lam / lam.sum()


def make_pair(eigvals, distance: float, placement: str = "uniform", *, fraction: float = 0.1,
              noise: float = 0.0, seed: int = 0) -> TeacherPair:
    """theta_T with iid N(0, 1) eigen-coordinates; theta_S = theta_T + Delta where Delta has
    random signs on the chosen directions and ||Delta|| = distance * ||theta_T||.

    placement: 'head' (top ``fraction`` of eigendirections), 'tail' (bottom ``fraction``),
    'uniform' (all directions).
    """
    lam = _vector("eigvals", eigvals)
    if placement not in _PLACEMENTS:
        raise ParameterError(f"placement must be one of {', '.join(_PLACEMENTS)}, got {placement!r}")
    distance = _nonneg("distance", distance)
    if not 0 < fraction <= 1:
        raise ParameterError(f"fraction must lie in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    theta_t = rng.standard_normal(lam.size)
    order = np.argsort(-lam, kind="stable")
    k = max(1, int(round(fraction * lam.size)))
    chosen = {"head": order[:k], "tail": order[-k:], "uniform": order}[placement]
    delta = np.zeros(lam.size)
    delta[chosen] = rng.choice((-1.0, 1.0), size=chosen.size)
    delta *= distance * np.linalg.norm(theta_t) / np.linalg.norm(delta)
    return TeacherPair(lam, theta_t, theta_t + delta, noise)


# -- exact, finite n ------------------------------------------------------------------------
def ft_solution(X, y, theta_s, ridge: float = 0.0) -> np.ndarray:
    """End point of gradient flow on (1/2n)||y - X w||^2 (+ (ridge/2)||w - theta_S||^2) from theta_S.

    ridge = 0: the interpolator closest to theta_S (least squares when n >= d), via the
    pseudo-inverse (lstsq, minimum-norm); ridge > 0: the centred ridge estimate.
    """
    X = np.asarray(X, float)
    theta_s = np.asarray(theta_s, float)
    resid = np.asarray(y, float) - X @ theta_s
    if ridge == 0.0:
        return theta_s + np.linalg.lstsq(X, resid, rcond=None)[0]
    n, d = X.shape
    if n <= d:       # the n x n system (push-through identity)
        return theta_s + X.T @ np.linalg.solve(X @ X.T + n * ridge * np.eye(n), resid)
    return theta_s + np.linalg.solve(X.T @ X + n * ridge * np.eye(d), X.T @ resid)


def population_risk(w, theta_t, sigma) -> float:
    """R(w) = (w - theta_T)^T Sigma (w - theta_T); ``sigma`` a matrix or its diagonal."""
    e = np.asarray(w, float) - np.asarray(theta_t, float)
    sigma = np.asarray(sigma, float)
    return float(e @ (sigma * e if sigma.ndim == 1 else sigma @ e))


def ft_risk_given_x(X, pair: TeacherPair, ridge: float = 0.0) -> dict:
    """Risk of the fine-tuned model for a fixed design X (eigen-coordinates), averaged over the
    label noise only: bias ``Delta^T M^T Sigma M Delta`` with ``M = I - A X`` and variance
    ``sigma^2 tr(A^T Sigma A)``, A the linear map from labels to weights."""
    X = np.asarray(X, float)
    n, d = X.shape
    if ridge == 0.0:
        A = np.linalg.pinv(X)
    else:
        A = np.linalg.solve(X.T @ X + n * ridge * np.eye(d), X.T)
    resid_map = pair.delta - A @ (X @ pair.delta)
    lam = pair.eigvals
    bias = float(resid_map @ (lam * resid_map))
    variance = pair.noise**2 * float(np.sum(lam[:, None] * A * A))
    return {"bias": bias, "variance": variance, "risk": bias + variance}


def ft_risk_isotropic(n: int, dim: int, delta_norm2: float, noise: float = 0.0, scale: float = 1.0) -> float:
    """Exact E_X risk for Sigma = scale I (Gaussian design), ridgeless (Wishart moments):

        n < d - 1:  scale (1 - n/d) ||Delta||^2 + sigma^2 n / (d - n - 1)
        n > d + 1:  sigma^2 d / (n - d - 1)
    (infinite in between when sigma > 0)."""
    if n < dim:
        var = noise**2 * n / (dim - n - 1) if n < dim - 1 else (math.inf if noise > 0 else 0.0)
        return scale * (1.0 - n / dim) * delta_norm2 + var
    if noise == 0.0:
        return 0.0
    return noise**2 * dim / (n - dim - 1) if n > dim + 1 else math.inf


# -- asymptotic (deterministic equivalent) -----------------------------------------------------
@dataclass(frozen=True)
class AsymptoticRisk:
    """Deterministic-equivalent fine-tuning risk at n samples (see module docstring)."""

    n: float
    kappa: float
    df1: float
    df2: float
    bias: float
    variance: float

    @property
    def risk(self) -> float:
        return self.bias + self.variance


def effective_ridge(eigvals, n: float, ridge: float = 0.0) -> float:
    """kappa >= 0 solving ridge = kappa (1 - df1(kappa)/n); 0 when ridge = 0 and n >= rank."""
    lam = np.asarray(eigvals, float)
    if n <= 0:
        raise ParameterError(f"n must be > 0, got {n}")
    rank = int(np.count_nonzero(lam > 0))
    if ridge == 0.0 and n >= rank:
        return 0.0

    def f(kappa):
        return kappa * (1.0 - np.sum(lam / (lam + kappa)) / n) - ridge

    lo = 0.0 if ridge > 0 else _ridgeless_lower(lam, n)
    hi = max(ridge, float(lam.max())) * (1.0 + lam.size / n) + ridge + 1e-300
    while f(hi) < 0:
        hi *= 2.0
    return brentq(f, lo, hi, xtol=1e-300, rtol=1e-14, maxiter=500)


def _ridgeless_lower(lam, n):
    """A point where df1 > n (so f < 0): shrink kappa until sum lambda/(lambda+kappa) > n."""
    kappa = float(lam[lam > 0].min())
    while np.sum(lam / (lam + kappa)) <= n:
        kappa *= 0.5
    return kappa


def asymptotic_risk(eigvals, delta, n: float, noise: float = 0.0, ridge: float = 0.0) -> AsymptoticRisk:
    """Deterministic-equivalent bias/variance of fine-tuning from theta_S with n samples.

    ``delta`` holds the eigen-coordinates of theta_S - theta_T (use theta_T itself for training
    from scratch, theta_S = 0). Exact as n, d -> infinity at fixed n/d (deterministic equivalent, docs/linear_teacher.md).
    """
    lam = np.asarray(eigvals, float)
    delta = np.asarray(delta, float)
    ridge = _nonneg("ridge", ridge)
    kappa = effective_ridge(lam, n, ridge)
    if kappa == 0.0:
        r = int(np.count_nonzero(lam > 0))
        variance = noise**2 * r / (n - r) if n > r else (math.inf if noise > 0 else 0.0)
        return AsymptoticRisk(float(n), 0.0, float(r), float(r), 0.0, variance)
    w = lam / (lam + kappa)
    df1, df2 = float(w.sum()), float(np.sum(w * w))
    inflate = 1.0 / (1.0 - df2 / n)
    bias = kappa**2 * float(np.sum(lam * delta**2 / (lam + kappa) ** 2)) * inflate
    variance = noise**2 * (df2 / n) * inflate
    return AsymptoticRisk(float(n), kappa, df1, df2, bias, variance)


def zero_shot_risk(pair: TeacherPair) -> float:
    """R(theta_S) = Delta^T Sigma Delta: the source model used as is."""
    return float(np.sum(pair.eigvals * pair.delta**2))


def similarity(pair: TeacherPair, n: float) -> float:
    """Task (dis)similarity at sample size n, derived here from the bias term: the Sigma-weighted
    energy of Delta left in the directions n samples do not resolve,

        S_n = kappa_n^2 sum_i lambda_i delta_i^2 / (lambda_i + kappa_n)^2 / (1 - df2/n),

    i.e. the noiseless fine-tuning risk. S_n <= Delta^T Sigma Delta; small S_n means cheap transfer."""
    return asymptotic_risk(pair.eigvals, pair.delta, n).bias


def risk_curves(pair: TeacherPair, ns, ridge: float = 0.0) -> dict:
    """Predicted risks versus n: fine-tuning from theta_S, training from scratch (theta_S = 0)
    and zero-shot use of theta_S; arrays keyed ft, ft_bias, ft_variance, scratch, zero_shot."""
    ns = np.asarray(ns, float)
    ft = [asymptotic_risk(pair.eigvals, pair.delta, n, pair.noise, ridge) for n in ns]
    sc = [asymptotic_risk(pair.eigvals, -pair.theta_t, n, pair.noise, ridge) for n in ns]
    return {"n": ns, "ft": np.array([r.risk for r in ft]), "ft_bias": np.array([r.bias for r in ft]),
            "ft_variance": np.array([r.variance for r in ft]), "kappa": np.array([r.kappa for r in ft]),
            "scratch": np.array([r.risk for r in sc]), "zero_shot": np.full(ns.size, zero_shot_risk(pair))}


def sample_complexity(eigvals, delta, eps: float, noise: float = 0.0, ridge: float = 0.0,
                      n_max: int | None = None) -> float:
    """Smallest integer n >= 0 with predicted risk <= eps (math.inf if none up to n_max, default
    100 d); n = 0 means the starting point already suffices (risk sum lambda_i delta_i^2).

    The ridgeless risk with noise is not monotone in n (it peaks at n = d), so the first
    crossing is bracketed on a geometric grid and refined by bisection on integers.
    """
    eps = _nonneg("eps", eps)
    lam = np.asarray(eigvals, float)
    n_max = int(n_max or 100 * lam.size)
    risk = lambda n: asymptotic_risk(lam, delta, n, noise, ridge).risk  # noqa: E731
    if float(np.sum(lam * np.asarray(delta, float) ** 2)) <= eps:
        return 0.0
    grid = np.unique(np.round(np.geomspace(1, n_max, 200)).astype(int))
    prev = 0
    for n in grid:
        if risk(n) <= eps:
            lo, hi = prev, int(n)          # risk(lo) > eps (or lo = 0), risk(hi) <= eps
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if risk(mid) <= eps else (mid, hi)
            return float(hi)
        prev = int(n)
    return math.inf


def compare_sample_complexity(pair: TeacherPair, eps: float, ridge: float = 0.0, n_max: int | None = None) -> dict:
    """n* for fine-tuning from theta_S and from scratch, and whether theta_S already meets eps."""
    n_ft = sample_complexity(pair.eigvals, pair.delta, eps, pair.noise, ridge, n_max)
    n_sc = sample_complexity(pair.eigvals, pair.theta_t, eps, pair.noise, ridge, n_max)
    zs = zero_shot_risk(pair)
    return {"eps": eps, "n_ft": n_ft, "n_scratch": n_sc, "zero_shot_risk": zs, "zero_shot_ok": zs <= eps,
            "reduction": n_sc / n_ft if n_ft > 0 else math.inf}
