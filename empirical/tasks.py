"""Reproducible finite-D tasks for the PT -> FT task model (see docs/theory.md, "Model").

Inputs ``x ~ N(0, I_D / D)`` (entries of ``X`` have variance ``1/D``), noiseless labels unless
``noise > 0``: ``y = X beta* + noise * N(0, 1)``.  The coordinates fall into four groups:

====  =========  =============  ==============  =======================
code  name       in PT support  in FT support   expected fraction
====  =========  =============  ==============  =======================
0     shared     yes            yes             omega rho_FT
1     new        no             yes             (1 - omega) rho_FT
2     PT-only    yes            no              rho_PT - omega rho_FT
3     none       no             no              1 - rho_PT - (1-omega) rho_FT
====  =========  =============  ==============  =======================

Group sizes are exact, not Bernoulli: ``n_pt = round(rho_pt D)``, ``n_ft = round(rho_ft D)``,
``n_ov = round(omega n_ft)`` (Python's round, half to even).  The PT teacher is ``a_pt`` on its
support ("oracle PT": ``beta_pt`` is also the PT end point).  The FT teacher is ``N(0, 1/rho_ft)``
(``teacher="gaussian"``) or ``+-1/sqrt(rho_ft)`` with a random sign (``teacher="fixed"``).

Reproducibility: the teacher (supports, values, signs) is drawn from a generator seeded by
``(seed, 0)`` alone, so one seed gives the same teacher for every alpha; the design matrix from
``(seed, 1, N)`` and the label noise from ``(seed, 2, N)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from symbolic.registry import ParameterError, check, check_task

GROUP_SHARED = 0
GROUP_NEW = 1
GROUP_PT_ONLY = 2
GROUP_NONE = 3
GROUP_NAMES = ("shared", "new", "pt_only", "none")

_STREAM_TEACHER = 0
_STREAM_X = 1
_STREAM_NOISE = 2


@dataclass(frozen=True)
class FiniteTask:
    """One sampled finite-D fine-tuning task (arrays are read-only).

    Attributes
    ----------
    X : (N, D) float64, iid N(0, 1/D) entries.
    y : (N,) float64, ``X @ beta_star + noise * N(0, 1)``.
    beta_star : (D,) float64, the FT teacher.
    beta_pt : (D,) float64, the PT teacher = oracle PT end point (zeros for a single task).
    group : (D,) int8, 0 shared, 1 new, 2 PT-only, 3 none (see ``GROUP_NAMES``).
    dim, alpha, rho_pt, rho_ft, omega, a_pt, teacher, noise, seed : the sampling parameters
        (``alpha`` as requested; ``alpha_realized = N / D``).
    """

    X: np.ndarray
    y: np.ndarray
    beta_star: np.ndarray
    beta_pt: np.ndarray
    group: np.ndarray
    dim: int
    alpha: float
    rho_pt: float
    rho_ft: float
    omega: float
    a_pt: float
    teacher: str
    noise: float
    seed: int

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def alpha_realized(self) -> float:
        return self.n_samples / self.dim

    def group_counts(self) -> dict[str, int]:
        """Exact number of coordinates in each group, keyed by ``GROUP_NAMES``."""
        counts = np.bincount(self.group, minlength=4)
        return {name: int(counts[i]) for i, name in enumerate(GROUP_NAMES)}


# -- validation (every rule from symbolic.registry) ---------------------------------------------

def _n_samples(alpha: float, dim: int) -> int:
    return max(1, int(round(alpha * dim)))


def _design(seed: int, n: int, dim: int, noise: float, beta_star: np.ndarray):
    X = sample_design(dim, n, seed)
    y = X @ beta_star
    if noise > 0:
        y = y + noise * label_noise(n, seed)
    return X, y


def _freeze(*arrays):
    for a in arrays:
        a.setflags(write=False)


def _check_task(rho_pt, rho_ft, omega, a_pt, teacher):
    values = tuple(check(n, v) for n, v in
                   zip(("rho_pt", "rho_ft", "omega", "a_pt", "teacher"), (rho_pt, rho_ft, omega, a_pt, teacher)))
    check_task(*values[:3])
    return values


def _teacher_arrays(dim, rho_pt, rho_ft, omega, a_pt, teacher, seed):
    n_pt = int(round(rho_pt * dim))
    n_ft = int(round(rho_ft * dim))
    n_ov = int(round(omega * n_ft))
    n_new = n_ft - n_ov
    if n_ov > n_pt or n_new > dim - n_pt:
        raise ParameterError(f"infeasible after rounding at dim={dim}: n_pt={n_pt}, n_ft={n_ft}, "
                         f"n_shared={n_ov}, n_new={n_new}; use a larger dim")

    rng = np.random.default_rng([seed, _STREAM_TEACHER])
    perm = rng.permutation(dim)
    pt_idx, rest = perm[:n_pt], perm[n_pt:]
    ov_idx = rng.choice(pt_idx, size=n_ov, replace=False) if n_ov else pt_idx[:0]
    new_idx = rng.choice(rest, size=n_new, replace=False) if n_new else rest[:0]
    ft_idx = np.concatenate([ov_idx, new_idx])

    beta_pt = np.zeros(dim)
    beta_pt[pt_idx] = a_pt
    beta_star = np.zeros(dim)
    scale = 1.0 / math.sqrt(rho_ft)
    if teacher == "gaussian":
        beta_star[ft_idx] = scale * rng.standard_normal(n_ft)
    else:
        beta_star[ft_idx] = scale * rng.choice(np.array([-1.0, 1.0]), size=n_ft)

    in_pt = np.zeros(dim, dtype=bool)
    in_pt[pt_idx] = True
    in_ft = np.zeros(dim, dtype=bool)
    in_ft[ft_idx] = True
    group = np.where(in_ft, np.where(in_pt, GROUP_SHARED, GROUP_NEW),
                     np.where(in_pt, GROUP_PT_ONLY, GROUP_NONE)).astype(np.int8)

    return beta_star, beta_pt, group


def sample_teacher(dim: int, rho_pt: float, rho_ft: float, omega: float, a_pt: float = 1.0,
                   teacher: str = "gaussian", seed: int = 0):
    """(beta_star, beta_pt, group) of :func:`sample_ptft_task` without drawing X (same seed,
    same arrays): sweeps draw X once per (seed, N) and reuse it for every setting."""
    dim, seed = check("dim", dim), check("seed", seed)
    return _teacher_arrays(dim, *_check_task(rho_pt, rho_ft, omega, a_pt, teacher), seed)


def sample_design(dim: int, n_samples: int, seed: int) -> np.ndarray:
    """The (N, D) design matrix of :func:`sample_ptft_task` for this seed and N."""
    rng_x = np.random.default_rng([seed, _STREAM_X, n_samples])
    return rng_x.standard_normal((n_samples, dim)) / math.sqrt(dim)


def label_noise(n_samples: int, seed: int) -> np.ndarray:
    """The standard-normal label noise of :func:`sample_ptft_task` (multiply by ``noise``)."""
    return np.random.default_rng([seed, _STREAM_NOISE, n_samples]).standard_normal(n_samples)


# -- samplers ------------------------------------------------------------------------------

def sample_ptft_task(dim: int, alpha: float, rho_pt: float, rho_ft: float, omega: float,
                     a_pt: float = 1.0, teacher: str = "gaussian", noise: float = 0.0,
                     seed: int = 0) -> FiniteTask:
    """Sample a PT -> FT task with exact group counts (module docstring for the model).

    Raises :class:`ParameterError` (one line) for dim < 1, alpha <= 0, NaN/inf inputs, rho outside
    [0, 1] (rho_ft > 0), omega outside [0, 1], noise < 0, an unknown teacher, or infeasible
    supports (need omega*rho_ft <= rho_pt and rho_pt + (1-omega)*rho_ft <= 1).
    """
    dim, seed = check("dim", dim), check("seed", seed)
    alpha, noise = check("alpha", alpha), check("noise", noise)
    rho_pt, rho_ft, omega, a_pt, teacher = _check_task(rho_pt, rho_ft, omega, a_pt, teacher)
    beta_star, beta_pt, group = _teacher_arrays(dim, rho_pt, rho_ft, omega, a_pt, teacher, seed)
    n = _n_samples(alpha, dim)
    X, y = _design(seed, n, dim, noise, beta_star)
    _freeze(X, y, beta_star, beta_pt, group)
    return FiniteTask(X=X, y=y, beta_star=beta_star, beta_pt=beta_pt, group=group, dim=dim,
                      alpha=alpha, rho_pt=rho_pt, rho_ft=rho_ft, omega=omega, a_pt=a_pt,
                      teacher=teacher, noise=noise, seed=seed)


def sample_single_task(dim: int, alpha: float, rho: float, teacher: str = "gaussian",
                       noise: float = 0.0, seed: int = 0) -> FiniteTask:
    """Single-task baseline: teacher N(0, 1/rho) (or +-1/sqrt(rho)) on round(rho*D) coordinates.

    Same as ``sample_ptft_task(dim, alpha, rho_pt=0, rho_ft=rho, omega=0, ...)``: ``beta_pt``
    is zero and the support is group 1 ("new"), everything else group 3 ("none").
    """
    return sample_ptft_task(dim, alpha, rho_pt=0.0, rho_ft=rho, omega=0.0, a_pt=0.0,
                            teacher=teacher, noise=noise, seed=seed)
