"""The penalty parser never evaluates its text: code-execution attempts are refused, and what
it accepts equals the expression SymPy builds from the same formula written in Python."""
import os

import pytest
import sympy as sp

from symbolic.errors import InputError, PtftError
from symbolic.parse import MAX_LENGTH, PenaltyError, parse_penalty
from symbolic.symbols import b, c

ATTACKS = [
    "b**2 + 0*__import__('os').system('touch {f}')",
    "eval(\"open('{f}', 'w')\")*b**2",
    "exec(\"open('{f}', 'w')\")",
    "open('{f}', 'w')",
    "(lambda: open('{f}', 'w'))()",
    "getattr(b, '__class__')",
    "b.__class__.__init__.__globals__",
    "b.func",
    "__builtins__",
    "[open('{f}', 'w') for _ in range(1)]",
    "(x for x in [b])",
    "{{b: 1}}[b]",
    "b[0]",
    "exp(b=1)",
    "(b := 2)",
    "b if 1 else open('{f}', 'w')",
    "b**2; open('{f}', 'w')",
    "'{f}'",
    "Symbol('b')**2",
    "sympify('b')",
    "S(2)*b",
    "Function('f')(b)",
    "I*b**2",
    "oo*b",
    "b == 1",
    "b and c",
    "~b",
    "b @ b",
    "b // 2",
    "b % 2",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_code_execution_is_refused_and_runs_nothing(attack, tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(PenaltyError) as info:
        parse_penalty(attack.format(f=target))
    assert "\n" not in str(info.value)
    assert not target.exists()


def test_error_family():
    assert issubclass(PenaltyError, InputError) and issubclass(PenaltyError, PtftError)
    assert issubclass(PenaltyError, ValueError)          # older callers catch ValueError
    from symbolic.penalty import PenaltyError as old_name
    assert old_name is PenaltyError


@pytest.mark.parametrize("text, expected", [
    ("b**2/2", b**2 / 2),
    ("-b**2 + 3*b**4", -b**2 + 3 * b**4),
    ("Abs(b) + abs(b)/2", sp.Rational(3, 2) * sp.Abs(b)),
    ("c*log(cosh(b/c))", c * sp.log(sp.cosh(b / c))),
    ("sqrt(b**2 + c**2) - c", sp.sqrt(b**2 + c**2) - c),
    ("Max(b, 0)**2 + Min(b, 0)**2/3", sp.Max(b, 0)**2 + sp.Min(b, 0)**2 / 3),
    ("b*asinh(b/c) - sqrt(b**2 + c**2)", b * sp.asinh(b / c) - sp.sqrt(b**2 + c**2)),
    ("pi*b**2 + E", sp.pi * b**2 + sp.E),
    ("+b**2", b**2),
    ("2**-1*b**2", b**2 / 2),
])
def test_accepted_expressions_match_sympy(text, expected):
    assert sp.simplify(parse_penalty(text) - expected) == 0


def test_floats_keep_their_value():
    assert float(parse_penalty("0.1*b").coeff(b)) == 0.1


@pytest.mark.parametrize("text", [
    "9**9**9**9*b**2",          # exponent explosion
    "10**400*b",                # number beyond float range
    "2**(10**3)*b",
    "b**100",
    "exp(exp(exp(exp(b**2))))",  # nested growth
    "1e400*b",
    "1e16*b",
    "1/0*b",
    "log(0)*b",
    "sqrt(-1)*b**2",
    "b**2 +",                   # syntax
    "",
    "b\x00",
    "exp",                      # function not called
    "exp(b, 2)",
    "Max(b)",
    "Abs(" * 40 + "b" + ")" * 40,   # depth
    "-" * 500 + "b",
])
def test_bounded_or_malformed_input_refused(text):
    with pytest.raises(PenaltyError) as info:
        parse_penalty(text)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_size_limits():
    long = "+".join(["b**2"] * 10000)          # ~50k characters
    with pytest.raises(PenaltyError, match="characters"):
        parse_penalty(long)
    wide = "+".join([f"{k}*b**2" for k in range(150)])   # under the length limit, over the node limit
    assert len(wide) <= MAX_LENGTH
    with pytest.raises(PenaltyError, match="nodes"):
        parse_penalty(wide)


def test_make_penalty_uses_the_parser(tmp_path):
    from symbolic.penalty import make_penalty

    target = tmp_path / "f"
    with pytest.raises(PenaltyError):
        make_penalty(f"b**2 + 0*__import__('os').system('touch {target}')")
    assert not target.exists()
    assert make_penalty("b**2/2").expr == b**2 / 2


def test_kernel_lookup_parses_before_the_cache(tmp_path):
    from numerics import codegen

    target = tmp_path / "f"
    with pytest.raises(PenaltyError):
        codegen.from_expression(f"__import__('os').system('touch {target}')")
    assert not target.exists()
    assert not os.path.exists("f")


@pytest.mark.parametrize("text,region", [
    ("Max(0, Abs(b) - 1)", "-1 < b < 1"),                       # flat on two pieces around 0
    ("Max(0, Abs(b) - 1) + Max(0, Abs(b) - 2)", "-1 < b < 1"),
    ("Max(0, b - 1)", "b < 1"),
    ("Max(0, -b - 2)", "b > -2"),
])
def test_flat_region_reported_whole(text, region):
    """A flat convex penalty has no unique interpolator; the refusal names the whole flat interval
    (written here from the penalty's definition), not one of its pieces."""
    from symbolic.penalty import make_penalty

    with pytest.raises(PenaltyError) as info:
        make_penalty(text)
    assert f"constant on {region}:" in str(info.value)
