"""The parameter registry: every parameter a user sets, written once.

Each :class:`Param` holds its name, the paper's symbol, one constraint, the default, the unit
and a help line. Everything that accepts a parameter is built from :data:`PARAMS`:
``Task``/``Init`` validation (:mod:`replica.params`), the GRID.toml keys (:mod:`ptft.grid`), the
``ptft`` options (:func:`add_options`) and the finite-D samplers (:mod:`empirical.tasks`,
:mod:`empirical.simulate`). Adding a parameter is one entry here (docs/contributing.md).

Constraints use one vocabulary (as scikit-learn's ``_param_validation``): :class:`Interval`
(real or integer, open or closed ends, plus the float64-safe magnitude range ``limit``) and
:class:`Options`. A value that breaks one is refused with one :class:`ParameterError` line that
names the parameter, the rule and the value. The two rules that tie parameters together live here
too: :func:`check_task` (the supports fit in D coordinates) and :func:`check_lambda`
(|lambda_PT| <= c_PT).

This module imports nothing heavy: ``ptft --help`` builds its options from it. It sits in the lowest layer so that
every layer (the array checks of ``numerics`` included) uses the same rules.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from .errors import InputError


class ParameterError(InputError):
    """Invalid or infeasible parameters (message is one line)."""


# -- the constraint vocabulary --------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """``lo <= value <= hi`` (``closed`` says which ends are included: 'both', 'left', 'right',
    'neither'; ``None`` = unbounded); ``integer`` for counts. ``limit`` = (smallest, largest)
    accepted magnitude |value| (0 always allowed when smallest is 0): wide enough for any
    experiment, narrow enough that the replica equations stay inside float64."""

    lo: float | None = None
    hi: float | None = None
    closed: str = "both"
    integer: bool = False
    limit: tuple | None = None

    def describe(self) -> str:
        """The rule in words, e.g. 'in [0, 1]', '> 0', 'an integer >= 10'."""
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        f = str if self.integer else (lambda v: f"{v:g}")
        if self.lo is not None and self.hi is not None:
            rule = f"in {'[' if left else '('}{f(self.lo)}, {f(self.hi)}{']' if right else ')'}"
        elif self.lo is not None:
            rule = f"{'>=' if left else '>'} {f(self.lo)}"
        elif self.hi is not None:
            rule = f"{'<=' if right else '<'} {f(self.hi)}"
        else:
            rule = "finite"
        return f"an integer {rule}" if self.integer else rule

    def holds(self, value):
        """Whether a number satisfies the rule (the magnitude range aside); elementwise for
        a NumPy array (``&`` and comparisons only, so both work)."""
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        ok = value == value                                   # False for NaN
        if self.lo is not None:
            ok = ok & ((value >= self.lo) if left else (value > self.lo))
        if self.hi is not None:
            ok = ok & ((value <= self.hi) if right else (value < self.hi))
        return ok

    def check(self, name: str, value):
        """``value`` converted (float or int), or one :class:`ParameterError` line."""
        if self.integer:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ParameterError(f"{name} must be an integer, got {value!r}")
            value = int(value)
        else:
            if isinstance(value, bool):
                raise ParameterError(f"{name} must be a number, got {value!r}")
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ParameterError(f"{name} must be a number, got {value!r}") from None
            if not math.isfinite(value):
                raise ParameterError(f"{name} must be finite, got {value}")
        if not self.holds(value):
            rule = self.describe()
            verb = "lie" if rule.startswith("in ") else "be"
            raise ParameterError(f"{name} must {verb} {rule}, got {value:g}")
        if self.limit is not None and value != 0:
            lo, hi = self.limit
            if not lo <= abs(value) <= hi:
                span = f"|{name}| <= {hi:g}" if lo == 0.0 else f"{lo:g} <= |{name}| <= {hi:g}"
                raise ParameterError(f"{name} = {value:g} is outside the supported range {span}")
        return value


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    values: tuple

    def describe(self) -> str:
        return "one of " + "|".join(self.values)

    def holds(self, value) -> bool:
        return value in self.values

    def check(self, name: str, value):
        if not isinstance(value, str) or value not in self.values:
            raise ParameterError(f"{name} must be one of {', '.join(self.values)}, got {value!r}")
        return value


@dataclass(frozen=True)
class Boolean:
    """true or false: a switch (a table option such as ``bayes``), never an axis."""

    def describe(self) -> str:
        return "true or false"

    def holds(self, value) -> bool:
        return isinstance(value, bool)

    def check(self, name: str, value):
        if not isinstance(value, bool):
            raise ParameterError(f"{name} must be true or false, got {value!r}")
        return value


# -- the parameters -------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One user parameter. ``group``: 'task', 'init', 'solve' or 'sim' (finite-D runs);
    ``grid``: a GRID.toml key; ``cli``: part of the task/initialisation option groups every
    theory command shares (others, such as ``reg``, are added by name with :func:`add_options`)."""

    name: str
    symbol: str
    constraint: Interval | Options | Boolean
    default: object
    unit: str
    help: str
    group: str
    grid: bool = True
    cli: bool = True

    def check(self, value, name: str | None = None):
        """``value`` converted and checked (``name``: the name printed, default ``self.name``)."""
        return self.constraint.check(name or self.name, value)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


_UNIT = Interval(0.0, 1.0)
PARAMS: dict[str, Param] = {p.name: p for p in (
    # order = GRID.toml canonical order (alpha last: the continuation axis)
    Param("c_pt", "c_PT", Interval(0.0, None, "neither", limit=(1e-100, 1e30)), 1e-3, "",
          "overall scale of the PT initialisation", "init"),
    Param("lambda_pt", "lambda_PT", Interval(), 0.0, "absolute (same units as c_PT)",
          "first-layer^2 minus readout^2 of the PT initialisation, |lambda_PT| <= c_PT", "init"),
    Param("lambda_pt_rel", "lambda_PT/c_PT", Interval(-1.0, 1.0), None, "relative to c_PT",
          "lambda_PT / c_PT (GRID.toml; on the command line --lambda-relative)", "init", cli=False),
    Param("gamma_ft", "gamma_FT", Interval(0.0, None, limit=(0.0, 1e6)), 0.0, "",
          "FT readout re-initialisation (gamma_FT/sqrt(2) per path)", "init"),
    Param("rho_pt", "rho_PT", _UNIT, 0.1, "fraction of coordinates",
          "support fraction of the PT teacher", "task"),
    Param("rho_ft", "rho_FT", Interval(0.0, 1.0, "right"), 0.1, "fraction of coordinates",
          "support fraction of the FT teacher", "task"),
    Param("omega", "omega", _UNIT, 1.0, "", "overlap rho_FT^shared / rho_FT", "task"),
    Param("a_pt", "a_PT", Interval(limit=(0.0, 1e30)), 1.0, "", "PT teacher amplitude", "task"),
    Param("teacher", "", Options(("gaussian", "fixed")), "gaussian", "",
          "FT teacher values: gaussian N(0, 1/rho_FT) (Fig. 3) or fixed amplitude 1/sqrt(rho_FT) (Fig. 2)",
          "task"),
    Param("noise", "sigma_noise", Interval(0.0, None, limit=(0.0, 1e6)), 0.0, "label units",
          "label-noise standard deviation", "task"),
    Param("reg", "mu", Interval(0.0, None, limit=(0.0, 1e6)), 0.0, "",
          "explicit penalty strength of the penalised form (0 = the interpolation limit)", "solve", cli=False),
    Param("bayes", "", Boolean(), False, "",
          "add the Bayes-optimal and AMP limit columns (bayes_error, amp_error, efficiency)", "table",
          cli=False),
    Param("alpha", "alpha_FT", Interval(0.0, None, "neither", limit=(1e-12, 1e12)), None, "N_FT / D",
          "FT samples per dimension", "solve", cli=False),
    Param("c", "c", Interval(0.0, None, "neither", limit=(1e-100, 1e30)), 1.0, "",
          "scale c of a penalty Q(b; c)", "solve", grid=False, cli=False),
    Param("rho", "rho", Interval(0.0, 1.0, "right"), 0.1, "fraction of coordinates",
          "support fraction of a single-task teacher", "solve", grid=False, cli=False),
    Param("alpha_pt", "alpha_PT", Interval(0.0, None, "neither", limit=(1e-12, 1e12)), None, "N_PT / D",
          "PT samples per dimension (finite pretraining)", "sim", grid=False, cli=False),
    Param("dim", "D", Interval(1, None, integer=True), 1000, "coordinates", "input dimension", "sim",
          grid=False, cli=False),
    Param("seed", "", Interval(0, 2**32 - 1, integer=True), 0, "", "random seed", "sim", grid=False, cli=False),
)}

TEACHERS = PARAMS["teacher"].constraint.values
# (smallest, largest) accepted magnitude per parameter; listed in docs/errors.md
LIMITS = {n: p.constraint.limit for n, p in PARAMS.items() if getattr(p.constraint, "limit", None)}
_FEAS_TOL = 1e-12


def check(name: str, value, label: str | None = None):
    """``value`` checked against the registry entry ``name`` (``label``: the name to print)."""
    return PARAMS[name].check(value, label)


def defaults(group: str) -> dict:
    """{name: default} of one group, in registry order."""
    return {n: p.default for n, p in PARAMS.items() if p.group == group and p.default is not None}


# -- rules between parameters ---------------------------------------------------------------
def check_task(rho_pt: float, rho_ft: float, omega: float) -> None:
    """The PT and FT supports fit: rho_FT^shared = omega rho_FT <= rho_PT and
    rho_PT + rho_FT^new <= 1 (rho_FT^new = (1 - omega) rho_FT)."""
    shared, new = omega * rho_ft, (1.0 - omega) * rho_ft
    if shared > rho_pt + _FEAS_TOL:
        raise ParameterError(
            f"infeasible task: rho_FT^shared = omega*rho_ft = {shared:g} exceeds rho_pt = {rho_pt:g}")
    if rho_pt + new > 1.0 + _FEAS_TOL:
        raise ParameterError(f"infeasible task: rho_pt + rho_FT^new = {rho_pt + new:g} exceeds 1")


def lambda_holds(c_pt, lambda_pt, relative: bool):
    """|lambda_PT| <= c_PT (elementwise for arrays); ``relative``: lambda_PT / c_PT given."""
    bound = 1.0 if relative else c_pt
    return abs(lambda_pt) <= bound * (1 + 1e-12)


def check_lambda(c_pt: float, lambda_pt: float, relative: bool) -> None:
    """|lambda_PT| <= c_PT (real weights); ``relative``: lambda_PT given as lambda_PT / c_PT."""
    if not lambda_holds(c_pt, lambda_pt, relative):
        unit = "|lambda_pt / c_pt| <= 1" if relative else f"|lambda_pt| <= c_pt = {c_pt:g}"
        raise ParameterError(f"lambda_pt = {lambda_pt:g} violates {unit}")


# -- command-line options -------------------------------------------------------------------
def add_options(group, names) -> None:
    """One ``--name`` option per registry entry (type, choices, default and help from the entry).
    Defaults of 'rho_ft' and 'omega' are left None so that --rho-shared/--rho-new can replace them."""
    for name in names:
        p = PARAMS[name]
        default = None if name in ("rho_ft", "omega") else p.default
        text = f"{p.symbol + ': ' if p.symbol else ''}{p.help}"
        if isinstance(p.constraint, Options):
            group.add_argument(p.flag, choices=p.constraint.values, default=default,
                               help=f"{text} (default {p.default})")
            continue
        rule = p.constraint.describe()
        group.add_argument(p.flag, type=int if p.constraint.integer else float, default=default,
                           help=f"{text}; {rule} (default {p.default:g})")
