"""Penalty text -> SymPy expression without ever evaluating the text.

``sympy.sympify`` runs ``eval`` on its input, so ``__import__('os').system(...)`` inside a
penalty would execute. Here the text is only *parsed* (``ast.parse``, mode 'eval'); the
tree is checked against a whitelist and the SymPy expression is built from the tree by
hand. Accepted:

- numbers (int or float literals, finite, at most :data:`MAX_NUMBER` in size);
- the names ``b`` and ``c`` (the scale), and the constants ``pi`` and ``E``;
- ``+ - * / **`` and unary ``+``/``-``;
- calls ``f(x)`` / ``Max(x, y, ...)`` of the functions in :data:`FUNCTIONS`, positional
  arguments only.

Everything else (attributes, subscripts, keywords, lambdas, comprehensions, strings, other
names, ...) is refused with a one-line :class:`PenaltyError` naming it. Size limits keep
the work bounded: :data:`MAX_LENGTH` characters, :data:`MAX_NODES` tree nodes,
:data:`MAX_DEPTH` nesting levels; a numeric power must stay below 1e300 in magnitude and
an exponent that is a number must satisfy ``|p| <= MAX_EXPONENT``.
"""
from __future__ import annotations

import ast
import math

from .errors import InputError

MAX_LENGTH = 2000
MAX_NODES = 400
MAX_DEPTH = 30
MAX_NUMBER = 1e15
MAX_EXPONENT = 64
MAX_EXP_NESTING = 2        # exp(exp(b)) is allowed, exp(exp(exp(b))) overflows any float test


class PenaltyError(InputError):
    """A penalty expression that ptft cannot use (message is one line)."""


def _functions() -> dict:
    import sympy as sp

    return {"Abs": sp.Abs, "abs": sp.Abs, "sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log,
            "cosh": sp.cosh, "sinh": sp.sinh, "tanh": sp.tanh, "asinh": sp.asinh, "acosh": sp.acosh,
            "atan": sp.atan, "atanh": sp.atanh, "Max": sp.Max, "Min": sp.Min, "sign": sp.sign}


FUNCTIONS = ("Abs", "abs", "sqrt", "exp", "log", "cosh", "sinh", "tanh", "asinh", "acosh", "atan",
             "atanh", "Max", "Min", "sign")
NAMES = ("b", "c", "pi", "E")
_VARIADIC = ("Max", "Min")
_GROWING = ("exp", "cosh", "sinh")
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_NODE_NAMES = {ast.Attribute: "attribute access ('.')", ast.Subscript: "subscripts ('[...]')",
               ast.Lambda: "lambda", ast.ListComp: "comprehensions", ast.GeneratorExp: "comprehensions",
               ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
               ast.IfExp: "conditional expressions", ast.Compare: "comparisons", ast.BoolOp: "and/or",
               ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts", ast.Set: "sets",
               ast.JoinedStr: "strings", ast.NamedExpr: "assignments (':=')", ast.Starred: "'*' unpacking",
               ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield"}


def parse_penalty(text: str):
    """The SymPy expression written in ``text`` (a safe subset of Python syntax, see the
    module doc); :class:`PenaltyError` with one line naming what is not allowed."""
    if not isinstance(text, str):
        raise PenaltyError(f"penalty must be text, got {type(text).__name__}")
    shown = _shown(text)
    if len(text) > MAX_LENGTH:
        raise PenaltyError(f"penalty is {len(text)} characters long; at most {MAX_LENGTH} are accepted")
    if "\x00" in text:
        raise PenaltyError("penalty contains a NUL character")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise PenaltyError(f"penalty '{shown}' is not a valid expression (syntax)") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise PenaltyError(f"penalty '{shown}' has {nodes} syntax nodes; at most {MAX_NODES} are accepted")
    builder = _Builder(shown)
    return builder.build(tree.body, depth=0, growth=0)


def _shown(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= 60 else flat[:57] + "..."


class _Builder:
    def __init__(self, shown: str):
        import sympy as sp

        self.sp = sp
        self.shown = shown
        self.functions = _functions()
        from .symbols import b, c

        self.names = {"b": b, "c": c, "pi": sp.pi, "E": sp.E}

    def refuse(self, what: str):
        raise PenaltyError(f"penalty '{self.shown}': {what} not allowed (allowed: numbers, b, c, pi, E, "
                           f"+ - * / **, and {', '.join(FUNCTIONS)})")

    def build(self, node, depth: int, growth: int):
        if depth > MAX_DEPTH:
            raise PenaltyError(f"penalty '{self.shown}' is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Constant):
            return self.number(node.value)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                self.refuse(f"operator '{type(node.op).__name__}' is")
            operand = self.build(node.operand, depth + 1, growth)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return self.binop(node, depth, growth)
        if isinstance(node, ast.Call):
            return self.call(node, depth, growth)
        self.refuse(_NODE_NAMES.get(type(node), f"'{type(node).__name__}' syntax") + " is")

    def number(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "strings" if isinstance(value, (str, bytes)) else f"{type(value).__name__} constants"
            self.refuse(f"{kind} are")
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise PenaltyError(f"penalty '{self.shown}': number {value:g} is outside |x| <= {MAX_NUMBER:g}")
        return self.sp.Integer(value) if isinstance(value, int) else self.sp.Float(repr(value))

    def name(self, ident: str):
        if ident in self.names:
            return self.names[ident]
        if ident in self.functions:
            raise PenaltyError(f"penalty '{self.shown}': function {ident} must be called, e.g. {ident}(b)")
        raise PenaltyError(f"penalty '{self.shown}': the name '{ident}' is not allowed; a penalty is an "
                           "expression in b (and optionally c), with constants pi and E")

    def binop(self, node, depth, growth):
        op = _BINOPS.get(type(node.op))
        if op is None:
            self.refuse(f"operator '{type(node.op).__name__}' is")
        left = self.build(node.left, depth + 1, growth)
        right = self.build(node.right, depth + 1, growth)
        if op == "**":
            self.check_power(left, right)
        try:
            result = {"+": left.__add__, "-": left.__sub__, "*": left.__mul__, "/": left.__truediv__,
                      "**": left.__pow__}[op](right)
        except PenaltyError:
            raise
        except (ZeroDivisionError, OverflowError, ValueError, TypeError) as err:
            raise PenaltyError(f"penalty '{self.shown}': {type(err).__name__} evaluating '{op}'") from None
        return self.finite(result)

    def check_power(self, base, exponent):
        if not exponent.is_number:
            return
        p = complex(exponent.evalf(20))
        if p.imag != 0 or abs(p.real) > MAX_EXPONENT:
            raise PenaltyError(f"penalty '{self.shown}': exponent {exponent} is outside |p| <= {MAX_EXPONENT}")
        if base.is_number:
            mag = abs(complex(base.evalf(20)))
            if mag > 0 and p.real * math.log10(mag) > 300:
                raise PenaltyError(f"penalty '{self.shown}': the number {base}**{exponent} exceeds 1e300")

    def call(self, node, depth, growth):
        if not isinstance(node.func, ast.Name):
            self.refuse(_NODE_NAMES.get(type(node.func), "calling an expression") + " is")
        fname = node.func.id
        if fname not in self.functions:
            self.refuse(f"the function '{fname}' is")
        if node.keywords:
            self.refuse("keyword arguments are")
        n_args = len(node.args)
        if (fname in _VARIADIC and n_args < 2) or (fname not in _VARIADIC and n_args != 1):
            want = "at least two arguments" if fname in _VARIADIC else "one argument"
            raise PenaltyError(f"penalty '{self.shown}': {fname} takes {want}, got {n_args}")
        growth += fname in _GROWING
        if growth > MAX_EXP_NESTING:
            raise PenaltyError(f"penalty '{self.shown}': exp/cosh/sinh nested more than {MAX_EXP_NESTING} deep")
        args = [self.build(a, depth + 1, growth) for a in node.args]
        try:
            result = self.functions[fname](*args)
        except (OverflowError, ValueError, TypeError) as err:
            raise PenaltyError(f"penalty '{self.shown}': {type(err).__name__} in {fname}") from None
        return self.finite(result)

    def finite(self, expr):
        sp = self.sp
        if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
            raise PenaltyError(f"penalty '{self.shown}' contains a division by zero or an infinite value")
        if expr.has(sp.I):
            raise PenaltyError(f"penalty '{self.shown}' is complex-valued")
        return expr
