"""Task and initialisation parameters, validated at the boundary (one clear error each).

Besides being finite, each value must lie inside :data:`LIMITS`: ranges wide enough for
any experiment yet narrow enough that the replica equations stay in float64 range (beyond
them c_FT or the quadrature overflows and the solver would return NaN or raise). They are
listed in docs/tables.md and printed in each refusal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

TEACHERS = ("gaussian", "fixed")


from symbolic.errors import InputError


class ParameterError(InputError):
    """Invalid or infeasible parameters (message is one line)."""


# name -> (smallest, largest) accepted magnitude; values outside are refused with one line.
# Measured: c_pt = 1e100 or gamma_ft = 1e30 give NaN at alpha 0.2, a_pt or c_pt >= 1e200
# overflow in c_FT, alpha <= 1e-300 gives NaN; these bounds leave margin on both sides.
LIMITS = {"c_pt": (1e-100, 1e30), "a_pt": (0.0, 1e30), "gamma_ft": (0.0, 1e6), "noise": (0.0, 1e6),
          "alpha": (1e-12, 1e12), "reg": (0.0, 1e6), "c": (1e-100, 1e30)}


def check_range(name: str, value: float) -> float:
    """``value`` as a float, finite and with ``|value|`` inside ``LIMITS[name]``;
    one-line :class:`ParameterError` otherwise."""
    value = _finite(name, value)
    lo, hi = LIMITS[name]
    if not lo <= abs(value) <= hi:
        span = f"|{name}| <= {hi:g}" if lo == 0.0 else f"{lo:g} <= |{name}| <= {hi:g}"
        raise ParameterError(f"{name} = {value:g} is outside the supported range {span}")
    return value


def _finite(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ParameterError(f"{name} must be finite, got {value}")
    return value


def _in_unit(name: str, value: float) -> float:
    value = _finite(name, value)
    if not 0.0 <= value <= 1.0:
        raise ParameterError(f"{name} must lie in [0, 1], got {value:g}")
    return value


@dataclass(frozen=True)
class Task:
    """Data parameters of PT+FT (sparse teachers; docs/theory.md, "Model").

    rho_pt : rho_PT, fraction of coordinates used by the PT teacher (value ``a_pt``).
    rho_ft : rho_FT, fraction used by the FT teacher; split by the overlap
        omega into rho_FT^shared = omega rho_FT and rho_FT^new = (1 - omega) rho_FT.
    teacher : 'gaussian' (FT values N(0, 1/rho_FT), Fig. 3) or 'fixed'
        (amplitude 1/sqrt(rho_FT), Fig. 2).
    noise : label-noise standard deviation sigma_noise on y_FT.
    """

    rho_pt: float = 0.1
    rho_ft: float = 0.1
    omega: float = 1.0
    a_pt: float = 1.0
    teacher: str = "gaussian"
    noise: float = 0.0

    def __post_init__(self):
        for name in ("rho_pt", "omega"):
            object.__setattr__(self, name, _in_unit(name, getattr(self, name)))
        rho_ft = _in_unit("rho_ft", self.rho_ft)
        if rho_ft <= 0.0:
            raise ParameterError("rho_ft must be > 0 (the FT teacher needs a support)")
        object.__setattr__(self, "rho_ft", rho_ft)
        object.__setattr__(self, "a_pt", check_range("a_pt", self.a_pt))
        noise = check_range("noise", self.noise)
        if noise < 0.0:
            raise ParameterError(f"noise must be >= 0, got {noise:g}")
        object.__setattr__(self, "noise", noise)
        if self.teacher not in TEACHERS:
            raise ParameterError(f"teacher must be one of {', '.join(TEACHERS)}, got {self.teacher!r}")
        tol = 1e-12
        if self.rho_shared > self.rho_pt + tol:
            raise ParameterError(
                f"infeasible task: rho_FT^shared = omega*rho_ft = {self.rho_shared:g} exceeds rho_pt = {self.rho_pt:g}")
        if self.rho_pt + self.rho_new > 1.0 + tol:
            raise ParameterError(
                f"infeasible task: rho_pt + rho_FT^new = {self.rho_pt + self.rho_new:g} exceeds 1")

    @classmethod
    def from_shared_new(cls, rho_pt: float, rho_shared: float, rho_new: float, **kw) -> "Task":
        """Build from the paper's (rho_PT, rho_FT^shared, rho_FT^new)."""
        rho_shared = _finite("rho_shared", rho_shared)
        rho_new = _finite("rho_new", rho_new)
        if rho_shared < 0 or rho_new < 0 or rho_shared + rho_new <= 0:
            raise ParameterError("rho_shared and rho_new must be >= 0 with a positive sum")
        rho_ft = rho_shared + rho_new
        return cls(rho_pt=rho_pt, rho_ft=rho_ft, omega=rho_shared / rho_ft, **kw)

    @property
    def rho_shared(self) -> float:
        return self.omega * self.rho_ft

    @property
    def rho_new(self) -> float:
        return (1.0 - self.omega) * self.rho_ft

    def group_weights(self) -> dict[str, float]:
        """Probabilities of the four coordinate groups (clipped at 0 against round-off)."""
        return {
            "shared": self.rho_shared,
            "new": self.rho_new,
            "pt_only": max(self.rho_pt - self.rho_shared, 0.0),
            "none": max(1.0 - self.rho_pt - self.rho_new, 0.0),
        }


@dataclass(frozen=True)
class Init:
    """Initialisation of the diagonal network (docs/theory.md, "Conventions").

    c_pt : c_PT > 0, overall PT initialisation scale.
    lambda_pt : lambda_PT, first-layer^2 minus readout^2; absolute units unless
        ``relative=True``, in which case it is lambda_PT / c_PT in [-1, 1].
    gamma_ft : gamma_FT >= 0, FT readout re-initialisation (gamma_FT/sqrt(2) per path).
    """

    c_pt: float = 1e-3
    lambda_pt: float = 0.0
    gamma_ft: float = 0.0
    relative: bool = False

    def __post_init__(self):
        c_pt = _finite("c_pt", self.c_pt)
        if c_pt <= 0.0:
            raise ParameterError(f"c_pt must be > 0, got {c_pt:g}")
        c_pt = check_range("c_pt", c_pt)
        lam = _finite("lambda_pt", self.lambda_pt)
        bound = 1.0 if self.relative else c_pt
        if abs(lam) > bound * (1 + 1e-12):
            unit = "|lambda_pt / c_pt| <= 1" if self.relative else f"|lambda_pt| <= c_pt = {c_pt:g}"
            raise ParameterError(f"lambda_pt = {lam:g} violates {unit}")
        gamma = check_range("gamma_ft", self.gamma_ft)
        if gamma < 0.0:
            raise ParameterError(f"gamma_ft must be >= 0, got {gamma:g}")
        object.__setattr__(self, "c_pt", c_pt)
        object.__setattr__(self, "lambda_pt", lam)
        object.__setattr__(self, "gamma_ft", gamma)

    @property
    def lambda_abs(self) -> float:
        """lambda_PT in absolute units."""
        return self.lambda_pt * self.c_pt if self.relative else self.lambda_pt

    @property
    def lambda_rel(self) -> float:
        """lambda_PT / c_PT."""
        return self.lambda_pt if self.relative else self.lambda_pt / self.c_pt


def check_alphas(alphas) -> list[float]:
    out = []
    for a in alphas:
        a = _finite("alpha", a)
        if a <= 0.0:
            raise ParameterError(f"alpha must be > 0, got {a:g}")
        out.append(check_range("alpha", a))
    if not out:
        raise ParameterError("no alpha values given")
    return out
