"""Task and initialisation parameters, validated at the boundary (one clear error each).

Every value is checked against its entry in :mod:`symbolic.registry` (the one list of
parameters: symbol, constraint, default, float64-safe range :data:`LIMITS`); the rules that tie
parameters together (task feasibility, |lambda_PT| <= c_PT) live there too. Refusals are one
:class:`ParameterError` line each, printed in full in docs/errors.md.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from symbolic import registry
from symbolic.registry import LIMITS, TEACHERS, Interval, ParameterError, check, check_lambda, check_task, defaults

__all__ = ["Task", "Init", "ParameterError", "LIMITS", "TEACHERS", "check_range", "check_alphas"]
_TASK, _INIT = defaults("task"), defaults("init")


def check_range(name: str, value: float) -> float:
    """``value`` checked against the registry entry ``name`` (finite, its rule, its range)."""
    return check(name, value)


def _finite(name: str, value: float) -> float:
    """``value`` as a finite float (for quantities not in the registry)."""
    return Interval().check(name, value)


def _check_fields(obj) -> None:
    """Every field named in the registry checked against its entry (a field added to a
    subclass is checked too)."""
    for f in fields(obj):
        if f.name in registry.PARAMS:
            object.__setattr__(obj, f.name, check(f.name, getattr(obj, f.name)))


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

    rho_pt: float = _TASK["rho_pt"]
    rho_ft: float = _TASK["rho_ft"]
    omega: float = _TASK["omega"]
    a_pt: float = _TASK["a_pt"]
    teacher: str = _TASK["teacher"]
    noise: float = _TASK["noise"]

    def __post_init__(self):
        _check_fields(self)
        check_task(self.rho_pt, self.rho_ft, self.omega)

    @classmethod
    def from_shared_new(cls, rho_pt: float, rho_shared: float, rho_new: float, **kw) -> "Task":
        """Build from the paper's (rho_PT, rho_FT^shared, rho_FT^new)."""
        rho_shared = check("rho_pt", rho_shared, "rho_shared")
        rho_new = check("rho_pt", rho_new, "rho_new")
        if rho_shared + rho_new <= 0:
            raise ParameterError("rho_shared and rho_new must have a positive sum")
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

    c_pt: float = _INIT["c_pt"]
    lambda_pt: float = _INIT["lambda_pt"]
    gamma_ft: float = _INIT["gamma_ft"]
    relative: bool = False

    def __post_init__(self):
        _check_fields(self)
        check_lambda(self.c_pt, self.lambda_pt, self.relative)

    @property
    def lambda_abs(self) -> float:
        """lambda_PT in absolute units."""
        return self.lambda_pt * self.c_pt if self.relative else self.lambda_pt

    @property
    def lambda_rel(self) -> float:
        """lambda_PT / c_PT."""
        return self.lambda_pt if self.relative else self.lambda_pt / self.c_pt


def check_alphas(alphas) -> list[float]:
    """The alpha_FT values (a list, or one number), each checked against the registry."""
    if isinstance(alphas, (str, bytes)) or not hasattr(alphas, "__iter__"):
        alphas = [alphas]
    out = [check("alpha", a) for a in alphas]
    if not out:
        raise ParameterError("no alpha values given")
    return out
