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

The per-class scalings (sigma/sqrt(s), tau/s) are part of the compiled mixture solver: a
class carries its input variance s (``Classes.variance``), so anisotropic inputs are ordinary
coordinate classes of the same solve (continuation, error control, fallbacks) as isotropic ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from .params import ParameterError, _finite
from .solver import GROUPS, Accuracy, Classes, SolveResult, _solve_classes

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
    svar = np.array(cols["s"], float)
    out = Classes(np.array(cols["w"], float), np.array(cols["c"], float), np.array(cols["kind"], np.int64),
                  np.array(cols["par"], float), np.array(cols["group"], np.int64), classes.group_names, svar)
    return ScaledClasses(out, svar)


def scaled_moments(sc: ScaledClasses, sigma: float, tau: float, acc: Accuracy, kern):
    """Per class (E[eta'], E[(eta - beta*)^2], P active, ...) of the channel with noise
    sigma/sqrt(s) and step tau/s (the compiled ``moments`` with per-class variances)."""
    cl = sc.classes
    per = np.zeros((cl.weight.size, 7))
    kern.moments(sigma, tau, cl.weight, cl.c, cl.kind, cl.par, sc.s, acc.ksd, acc.h_max, acc.m_min, per)
    return per


def solve_anisotropic_classes(sc: ScaledClasses, alphas, *, noise: float = 0.0,
                              accuracy: Accuracy | None = None, progress: bool = False,
                              info: dict | None = None, rtol: float | None = None) -> SolveResult:
    """Replica saddle point with per-class input variances, for each alpha (interpolation);
    the result carries ``param_error``."""
    cl = sc.classes if sc.classes.variance is not None else replace(sc.classes, variance=sc.s)
    res, par = _solve_classes(cl, alphas, noise=noise, accuracy=accuracy, progress=progress, info=info,
                              rtol=rtol)
    return replace(res, param_error=par)


# the anisotropic result is the one result type (gen_error = test MSE, plus param_error)
AnisotropicResult = SolveResult


def solve_anisotropic(task, init, alphas, variances: InputVariances, *, alpha_pt: float | None = None,
                      accuracy: Accuracy | None = None, progress: bool = False,
                      rtol: float | None = None) -> SolveResult:
    """PT+FT replica with anisotropic FT inputs (``variances``), oracle PT or, with ``alpha_pt``,
    imperfect PT on isotropic PT inputs (the FT classes of :mod:`replica.imperfect`);
    ``replica.solver.solve(task, init, alphas, inputs=variances, pretraining=alpha_pt)``."""
    from .solver import solve

    return solve(task, init, alphas, inputs=variances, pretraining=alpha_pt, accuracy=accuracy,
                 progress=progress, rtol=rtol)
