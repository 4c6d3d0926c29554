"""Separable penalties Q(b) as SymPy data, and the proximal calculus derived from them.

A :class:`Penalty` holds Q as an expression in ``b`` (optionally in the scale ``c``).
Everything the numerics need is *derived* here, per half-line so that the printed code
never contains ``Abs``/``sign``:

- Q'(x), Q''(x) on x > 0 and on x < 0 (``dq_pos``, ``d2q_pos``, ``dq_neg``, ``d2q_neg``);
- the one-sided slopes at 0, Q'(0-) <= Q'(0+): a kink at 0 gives the prox a dead zone
  ``z in [tau Q'(0-), tau Q'(0+)] -> 0``;
- the prox optimality condition Q'(x) + (x - z)/tau = 0, its explicit inverse
  z(x) = x + tau Q'(x) and the prox derivative eta' = 1 / (1 + tau Q''(x)).

Kinks are supported at b = 0 only (l1-type penalties); a penalty that is not convex, not an
expression in b, or affine is rejected with a one-line :class:`PenaltyError`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import mpmath
import sympy as sp

from .parse import PenaltyError, parse_penalty
from .symbols import b, c, tau, x, z

_XP = sp.Symbol("xp", positive=True)   # |x| on a half-line
_NONSMOOTH = (sp.Abs, sp.sign, sp.Heaviside, sp.Piecewise, sp.Max, sp.Min,
              sp.floor, sp.ceiling, sp.DiracDelta)


def _has_nonsmooth(expr: sp.Expr) -> bool:
    return any(expr.has(f) for f in _NONSMOOTH)


@dataclass(frozen=True)
class Penalty:
    """Separable penalty Q(b) = ``expr``.

    Parameters
    ----------
    expr : sympy.Expr
        Q as an expression in ``symbolic.symbols.b`` and possibly the scale ``c``.
    name : str
        Label used in reports and generated-module names.
    scale : sympy.Expr or None
        Width of the penalty's transition region (``c`` for the hyperbolic entropy);
        when given for a smooth penalty the kernels integrate in s with x = scale*sinh(s).
    """

    expr: sp.Expr
    name: str = "custom"
    scale: sp.Expr | None = None

    # -- half-line branches ------------------------------------------------------------
    @cached_property
    def _branch_pos(self) -> sp.Expr:
        return sp.simplify(self.expr.subs(b, _XP))

    @cached_property
    def _branch_neg(self) -> sp.Expr:
        return sp.simplify(self.expr.subs(b, -_XP))

    @cached_property
    def dq_pos(self) -> sp.Expr:
        """Q'(x) for x > 0."""
        return sp.simplify(sp.diff(self._branch_pos, _XP)).subs(_XP, x)

    @cached_property
    def d2q_pos(self) -> sp.Expr:
        """Q''(x) for x > 0."""
        return sp.simplify(sp.diff(self._branch_pos, _XP, 2)).subs(_XP, x)

    @cached_property
    def dq_neg(self) -> sp.Expr:
        """Q'(x) for x < 0 (chain rule through b = -xp)."""
        return sp.simplify(-sp.diff(self._branch_neg, _XP)).subs(_XP, -x)

    @cached_property
    def d2q_neg(self) -> sp.Expr:
        """Q''(x) for x < 0."""
        return sp.simplify(sp.diff(self._branch_neg, _XP, 2)).subs(_XP, -x)

    @cached_property
    def kink(self) -> tuple[sp.Expr, sp.Expr]:
        """(Q'(0-), Q'(0+)), one-sided slopes at the origin."""
        right = sp.limit(self.dq_pos.subs(x, _XP), _XP, 0, "+")
        left = sp.limit(self.dq_neg.subs(x, -_XP), _XP, 0, "+")
        return sp.simplify(left), sp.simplify(right)

    @property
    def has_kink(self) -> bool:
        left, right = self.kink
        return sp.simplify(right - left) != 0

    @cached_property
    def split_at_zero(self) -> bool:
        """Integrate each half-line separately: a kink, or Q'' infinite or one-sided at 0
        (e.g. |b|^1.5), where a whole-line map would put a non-smooth point inside the rule."""
        if self.has_kink:
            return True
        try:
            right = sp.limit(self.d2q_pos.subs(x, _XP), _XP, 0, "+")
            left = sp.limit(self.d2q_neg.subs(x, -_XP), _XP, 0, "+")
        except (NotImplementedError, ValueError, TypeError):
            return True
        return not (right.is_finite and left.is_finite and sp.simplify(right - left) == 0)

    @cached_property
    def is_even(self) -> bool:
        return sp.simplify(self._branch_pos - self._branch_neg) == 0

    # -- proximal calculus (on a smooth branch; the dead zone is handled by ``kink``) ---
    def dq(self, branch: int = 1) -> sp.Expr:
        return self.dq_pos if branch > 0 else self.dq_neg

    def d2q(self, branch: int = 1) -> sp.Expr:
        return self.d2q_pos if branch > 0 else self.d2q_neg

    def prox_condition(self, branch: int = 1) -> sp.Expr:
        """Stationarity of Q(x) + (x - z)^2 / (2 tau): zero at x = prox_{tau Q}(z)."""
        return self.dq(branch) + (x - z) / tau

    def prox_inverse(self, branch: int = 1) -> sp.Expr:
        """z(x) = x + tau Q'(x): the observation that the prox maps to x (explicit)."""
        return x + tau * self.dq(branch)

    def prox_derivative(self, branch: int = 1) -> sp.Expr:
        """eta'(z) = dx/dz = 1 / (1 + tau Q''(x)), by the inverse-function rule."""
        return 1 / (1 + tau * self.d2q(branch))

    def key(self) -> str:
        """Stable text identity (for caches)."""
        return f"{self.name}|{sp.srepr(self.expr)}|{sp.srepr(self.scale)}"


# -- construction and validation ---------------------------------------------------------
def _check_symbols(expr: sp.Expr, text: str) -> None:
    extra = expr.free_symbols - {b, c}
    if extra:
        names = ", ".join(sorted(str(s) for s in extra))
        raise PenaltyError(f"penalty '{text}' must be an expression in b (and optionally c); found {names}")
    if b not in expr.free_symbols:
        raise PenaltyError(f"penalty '{text}' does not depend on b")


def _sample_points():
    pts = [mpmath.mpf(10) ** k for k in range(-6, 7)]
    return pts + [mpmath.mpf("0.37"), mpmath.mpf("2.9")]


def _check_convex(pen: Penalty, text: str) -> None:
    left, right = pen.kink
    if not (left.is_finite and right.is_finite):
        raise PenaltyError(f"penalty '{text}' has an infinite slope at b = 0")
    for branch in (1, -1):
        d2 = pen.d2q(branch)
        if _has_nonsmooth(d2):
            raise PenaltyError(f"penalty '{text}' has a kink away from b = 0, which is not supported")
        f = sp.lambdify((x, c), d2, "mpmath")
        for cv in (mpmath.mpf("1e-4"), mpmath.mpf(1), mpmath.mpf(100)):
            for p in _sample_points():
                val = f(branch * p, cv)
                if not mpmath.isfinite(val) or val < -mpmath.mpf("1e-12") * (1 + abs(val)):
                    raise PenaltyError(f"penalty '{text}' is not convex (Q'' < 0 at b = {float(branch * p):g})")
    if sp.simplify(right - left).is_negative:
        raise PenaltyError(f"penalty '{text}' is not convex at b = 0 (Q'(0-) > Q'(0+))")
    if not pen.has_kink and sp.simplify(pen.d2q_pos) == 0 and sp.simplify(pen.d2q_neg) == 0:
        raise PenaltyError(f"penalty '{text}' is affine: the minimum-penalty interpolator is not unique")
    for side, dq in (("b > 0", pen.dq_pos), ("b < 0", pen.dq_neg)):
        if sp.simplify(dq) == 0:
            raise PenaltyError(f"penalty '{text}' is constant on {side}: the minimum-penalty interpolator "
                               "is not unique there")


def make_penalty(expr: sp.Expr | str, name: str = "custom", scale: sp.Expr | None = None) -> Penalty:
    """Parse and validate a penalty; raise :class:`PenaltyError` with one line if unusable."""
    text = str(expr)
    if isinstance(expr, str):
        expr = parse_penalty(expr)           # never sympify: it evaluates the text as Python
        text = " ".join(text.split())[:60]
    if not isinstance(expr, sp.Expr):
        raise PenaltyError(f"penalty '{text}' is not an expression")
    _check_symbols(expr, text)
    pen = Penalty(expr=expr, name=name, scale=scale)
    try:
        if _has_nonsmooth(pen.dq_pos) or _has_nonsmooth(pen.dq_neg):
            raise PenaltyError(f"penalty '{text}' has a kink away from b = 0, which is not supported")
        _check_convex(pen, text)
    except PenaltyError:
        raise
    except (ArithmeticError, ValueError, TypeError, RecursionError) as err:   # e.g. overflow in a test point
        raise PenaltyError(f"penalty '{text}' cannot be checked for convexity ({type(err).__name__})") from None
    return pen


def ridge() -> Penalty:
    """Q(b) = b^2 / 2."""
    return make_penalty(b**2 / 2, name="ridge")


def l1() -> Penalty:
    """Q(b) = |b| (soft-threshold prox)."""
    return make_penalty(sp.Abs(b), name="l1")


def hyperbolic_entropy() -> Penalty:
    """q_c(b), the mirror potential of the diagonal network (derived in ``symbolic.potential``)."""
    from .potential import hyperbolic_entropy_expr

    return make_penalty(hyperbolic_entropy_expr(), name="hypent", scale=c)
