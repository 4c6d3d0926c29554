"""Separable penalties Q(b) as SymPy data, and the proximal calculus derived from them.

A :class:`Penalty` holds Q as an expression in ``b`` (optionally in the scale ``c``).
Everything the numerics need is *derived* here, per half-line so that the printed code
never contains ``Abs``/``sign``:

- Q'(x), Q''(x) on x > 0 and on x < 0 (``dq_pos``, ``d2q_pos``, ``dq_neg``, ``d2q_neg``);
- the one-sided slopes at 0, Q'(0-) <= Q'(0+): a kink at 0 gives the prox a dead zone
  ``z in [tau Q'(0-), tau Q'(0+)] -> 0``;
- the prox optimality condition Q'(x) + (x - z)/tau = 0, its explicit inverse
  z(x) = x + tau Q'(x) and the prox derivative eta' = 1 / (1 + tau Q''(x)).

Kinks may sit anywhere (shifted l1, piecewise linear, ``Max``/``Min`` of convex pieces): the
``breaks`` are the points where ``Abs``/``Max``/``Min``/``sign`` switch branch (plus 0 when
Q'' is singular there), and ``pieces`` are the smooth branches between them. A kink at k with
one-sided slopes Q'(k-) < Q'(k+) gives the prox the dead zone z in k + tau [Q'(k-), Q'(k+)]
-> k. A penalty that is not convex, not an expression in b, constant on an interval (the
minimum-penalty interpolator is then not unique) or affine is rejected with a one-line
:class:`PenaltyError`.
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


_SWITCHING = (sp.Abs, sp.sign, sp.Max, sp.Min, sp.Heaviside)
_MAX_BREAKS = 64


def _has_nonsmooth(expr: sp.Expr) -> bool:
    return any(expr.has(f) for f in _NONSMOOTH)


def _switch_arguments(atom):
    """Expressions whose sign decides the branch of a switching function."""
    if isinstance(atom, (sp.Max, sp.Min)):
        args = atom.args
        return [args[i] - args[j] for i in range(len(args)) for j in range(i + 1, len(args))]
    return [atom.args[0]]


def _real_roots(arg, whole) -> set:
    """Real roots of ``arg`` in b (a finite set of numbers, else PenaltyError)."""
    if c in arg.free_symbols:
        raise PenaltyError(f"penalty '{whole}': a kink whose position depends on c is not supported")
    if b not in arg.free_symbols:
        return set()
    inner = {a: sp.Dummy() for a in arg.atoms(*_SWITCHING)}
    if not arg.xreplace(inner).is_polynomial(b, *inner.values()):   # keeps solveset fast and exact
        raise PenaltyError(f"penalty '{whole}': kinks are located only where the argument of "
                           "Abs/Max/Min/sign is polynomial in b")
    roots = sp.solveset(sp.Eq(arg, 0), b, domain=sp.S.Reals)
    if not isinstance(roots, sp.FiniteSet) or len(roots) > _MAX_BREAKS:
        raise PenaltyError(f"penalty '{whole}': cannot locate its kinks (not a finite set of points)")
    out = set()
    for r in roots:
        if not (r.is_real and r.is_number and r.is_finite):
            raise PenaltyError(f"penalty '{whole}': cannot locate its kinks")
        out.add(sp.nsimplify(r) if r.is_Float else r)
    return out


def _sample(breaks, i, n):
    """A point inside piece i of n (the pieces lie between consecutive breaks)."""
    if not breaks:
        return sp.Integer(0)
    if i == 0:
        return breaks[0] - 1
    if i == n - 1:
        return breaks[-1] + 1
    return (breaks[i - 1] + breaks[i]) / 2


def _branch(expr, t):
    """``expr`` with every switching function replaced by its branch at b = t (bottom-up)."""
    def pick(e):
        val = lambda a: sp.N(a.subs(b, t).subs(c, 1), 30)  # noqa: E731 (branch choice is c-free)
        if isinstance(e, sp.Abs):
            return e.args[0] if val(e.args[0]) >= 0 else -e.args[0]
        if isinstance(e, sp.sign):
            return sp.Integer(1 if val(e.args[0]) > 0 else -1)
        if isinstance(e, sp.Heaviside):
            return sp.Integer(1 if val(e.args[0]) > 0 else 0)
        vals = [val(a) for a in e.args]
        k = vals.index(max(vals)) if isinstance(e, sp.Max) else vals.index(min(vals))
        return e.args[k]
    return expr.replace(lambda e: isinstance(e, _SWITCHING), pick)


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

    # -- pieces between the break points (kinks anywhere) ----------------------------
    @cached_property
    def breaks(self) -> tuple:
        """Sorted real points where a non-smooth function of b switches branch (numbers)."""
        pts = set()
        for atom in self.expr.atoms(*_SWITCHING):
            for arg in _switch_arguments(atom):
                pts |= _real_roots(arg, self.expr)
        pts = sorted(pts, key=float)
        if not any(p == 0 for p in pts) and self._singular_at_zero(pts):
            pts = sorted(pts + [sp.Integer(0)], key=float)
        return tuple(pts)

    def _singular_at_zero(self, pts) -> bool:
        """Q'' infinite, one-sided or different on the two sides of 0 (e.g. |b|^1.5 written
        as (b**2)**0.75): the integration must split there too."""
        piece = _branch(self.expr, _sample(pts, sum(1 for p in pts if p < 0), len(pts) + 1)) if pts else self.expr
        d2 = sp.diff(piece, b, 2)
        try:
            right = sp.limit(d2, b, 0, "+")
            left = sp.limit(d2, b, 0, "-")
        except (NotImplementedError, ValueError, TypeError):
            return True
        return not (right.is_finite and left.is_finite and sp.simplify(right - left) == 0)

    @cached_property
    def pieces(self) -> tuple:
        """Q on each interval between consecutive breaks (len(breaks) + 1 smooth expressions)."""
        n = len(self.breaks) + 1
        return tuple(sp.simplify(_branch(self.expr, _sample(self.breaks, i, n))) for i in range(n))

    def piece_dq(self, i: int, order: int = 1) -> sp.Expr:
        """d^order Q / dx^order on piece i, as an expression in x."""
        return sp.simplify(sp.diff(self.pieces[i], b, order)).subs(b, x)

    @cached_property
    def subgradients(self) -> tuple:
        """(Q'(k-), Q'(k+)) at each break k."""
        out = []
        for j, k in enumerate(self.breaks):
            left = sp.limit(sp.diff(self.pieces[j], b), b, k, "-")
            right = sp.limit(sp.diff(self.pieces[j + 1], b), b, k, "+")
            out.append((sp.simplify(left), sp.simplify(right)))
        return tuple(out)

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


def _piece_points(breaks, i):
    """Sample points inside piece i (between breaks i-1 and i)."""
    lo = float(breaks[i - 1]) if i > 0 else None
    hi = float(breaks[i]) if i < len(breaks) else None
    if lo is not None and hi is not None:
        return [mpmath.mpf(lo) + (mpmath.mpf(hi) - lo) * mpmath.mpf(f) for f in
                ("1e-6", "0.01", "0.1", "0.37", "0.5", "0.77", "0.9", "0.99", "0.999999")]
    if lo is None and hi is None:
        return [sg * p for p in _sample_points() for sg in (1, -1)]
    return [lo + p if lo is not None else hi - p for p in _sample_points()]


def _where(breaks, i, last=None) -> str:
    """The open interval of pieces i..last (default i alone) as text."""
    last = i if last is None else last
    lo = f"{float(breaks[i - 1]):g}" if i > 0 else None
    hi = f"{float(breaks[last]):g}" if last < len(breaks) else None
    if lo is None and hi is None:
        return "everywhere"
    if lo is None:
        return f"b < {hi}"
    return f"b > {lo}" if hi is None else f"{lo} < b < {hi}"


def _check_convex(pen: Penalty, text: str) -> None:
    breaks = pen.breaks
    for j, (left, right) in enumerate(pen.subgradients):
        if not (left.is_finite and right.is_finite):
            raise PenaltyError(f"penalty '{text}' has an infinite slope at b = {float(breaks[j]):g}")
        if sp.simplify(right - left).is_negative:
            raise PenaltyError(f"penalty '{text}' is not convex at b = {float(breaks[j]):g} "
                               f"(Q'({float(breaks[j]):g}-) > Q'({float(breaks[j]):g}+))")
    for i in range(len(pen.pieces)):
        d2 = pen.piece_dq(i, 2)
        if _has_nonsmooth(d2):
            raise PenaltyError(f"penalty '{text}': cannot resolve its branches on {_where(breaks, i)}")
        f = sp.lambdify((x, c), d2, "mpmath")
        for cv in (mpmath.mpf("1e-4"), mpmath.mpf(1), mpmath.mpf(100)):
            for p in _piece_points(breaks, i):
                val = f(p, cv)
                if not mpmath.isfinite(val) or val < -mpmath.mpf("1e-12") * (1 + abs(val)):
                    raise PenaltyError(f"penalty '{text}' is not convex (Q'' < 0 at b = {float(p):g})")
    kinked = any(sp.simplify(r - l) != 0 for l, r in pen.subgradients)
    if not kinked and all(sp.simplify(pen.piece_dq(i, 2)) == 0 for i in range(len(pen.pieces))):
        raise PenaltyError(f"penalty '{text}' is affine: the minimum-penalty interpolator is not unique")
    flat = [sp.simplify(pen.piece_dq(i)) == 0 for i in range(len(pen.pieces))]
    if any(flat):
        # a convex, continuous Q is flat on one interval: report all of it (adjacent flat pieces)
        i = flat.index(True)
        last = i
        while last + 1 < len(flat) and flat[last + 1]:
            last += 1
        raise PenaltyError(f"penalty '{text}' is constant on {_where(breaks, i, last)}: the minimum-penalty "
                           "interpolator is not unique there")


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
