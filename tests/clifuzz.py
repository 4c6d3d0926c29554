"""Property-based fuzz of the ``ptft`` command line, built from the argparse parsers themselves.

Every option of every subcommand (nested ones such as ``linear-teacher risk`` included) is read
from ``ptft.cli.build_parser()``, so an option added tomorrow is fuzzed without touching this
file. Hypothesis draws a subcommand, a cheap base command line for it and 1-3 of its options
with values drawn by the option's type (hostile numbers, huge integers, malformed lists,
paths, code in a penalty, bad choices).

A case passes when it keeps the contract of docs/errors.md:

- exit code 0, 2 or 3 (never 1, an internal error, nor a crash);
- on 2 or 3, stderr is ``ptft: ...`` lines only (on 2 exactly one ``ptft: error:`` line);
- no ``Traceback`` anywhere;
- nothing created in the (fresh, empty) working directory: no code ran;
- a successful run (exit 0) prints no non-finite number (``inf``, ``nan``, ``Infinity``);
- the call returns within the per-case time limit (a hang is a failure).

Used by ``tests/test_fuzz.py`` (small, in CI) and ``benchmarks/fuzz_cli.py`` (large, reports counts).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import signal
import time
from dataclasses import dataclass, field

from hypothesis import strategies as st

FLOATS = ["1e308", "-1e308", "1e-320", "-1e-320", "nan", "inf", "-inf", "-1", "0", "abc", "", "1e400",
          "9" * 40, "0x10", "-0.5,0.5", "1e-12", "0.5", "2", "1", "0.999999", "1e6", "-0.99e-6", "3"]
INTS = ["-1", "0", "9" * 25, "9223372036854775808", "1e10", "abc", "", "2.5", "-5", "3", "1", "2", "100000"]
LISTS = ["0.1,nan", "1e308", "1e-320", "0:1:0", "0.01:0.5:99999999999", ",,,", "-0.5,0.5", "1,2,3:4", "a,b",
         "0.2", "1", "0.1,inf", "1:1e308:3", "-1", "0.3,0.3", "1e6", "0.01:0.5:99999", "0.999", "1e-12",
         "0,1", "2,2,2", "0.5:0.5:1", "0.1,0.2"]
PENALTIES = ["b**2 + 0*__import__('os').system('touch PWNED')", "eval(\"open('PWNED','w')\")",
             "exec('x=1')", "open('PWNED', 'w')", "(lambda: 1)()", "getattr(b, 'func')", "b.func",
             "[b for b in [1]]", "b[0]", "__builtins__", "I*b**2", "exp(exp(exp(exp(b**2))))",
             "9**9**9**9*b**2", "b**2+" * 9000 + "b**2", "-b**2", "b**2/0", "log(b)", "sqrt(-1)*b**2",
             "b*y", "", "hypent", "ridge", "l1", "Abs(b)**3", "1e400*b**2", "exp(exp(b**2))", "cosh(cosh(b))",
             "2**64*b**2", "b**c", "b**4+b**2", "Abs(b-0.5)", "Max(Abs(b), 2*Abs(b)-1)", "exp(b**2)"]
PATHS = ["/nonexistent/x.csv", "/proc/version", ".", "", "/dev/full", "/proc/x/y.csv", "x" * 300 + ".csv"]
TEXT = ["", "a", "-1", "0.5", "1,2", "a:b", "shared=2", "1:1", "cuda", "cpu", "generated", "digits",
        "f:s", "=", "0.5:1,0.5:2", "new=inf", "shared=0"]

# cheap base command lines: every drawn option is added to one of these, so that a valid case
# finishes in seconds (the expensive trainers get a base that is refused before any work)
BASES = {
    ("solve",): ["--alpha", "0.1,0.4", "--format", "csv"],
    ("single",): ["--alpha", "0.3", "--format", "csv"],
    ("solve-ext",): ["--alpha", "0.2", "--format", "csv"],
    ("regime",): ["--format", "csv"],
    ("optimize",): ["--alpha", "0.3", "--grid", "2,2,2", "--starts", "1", "--format", "csv"],
    ("simulate",): ["--alpha", "0.3", "--dim", "20", "--seeds", "2", "--quiet", "--device", "cpu"],
    ("linear-teacher", "risk"): ["--dim", "20", "--n", "5,30"],
    ("linear-teacher", "sample-complexity"): ["--dim", "20", "--eps", "0.2"],
    ("linear-teacher", "deep"): ["--depth", "1", "--dim", "5", "--n", "2"],
    ("linear-teacher", "ntk"): ["--distance", "0.1", "--dim", "3", "--n-source", "5", "--n-target", "4",
                                "--width", "8", "--steps", "5"],
    ("head-energy",): ["--tau", "0,2", "--dim", "12", "--n-samples", "6", "--features", "4", "--classes", "2",
                       "--ft-time", "1"],
    ("resnet",): ["--seeds", "1", "--out", "/nonexistent/x.csv"],
    ("head-energy-resnet",): ["--seeds", "1", "--out", "/nonexistent/x.csv"],
    ("table",): ["{grid}", "--describe"],
    ("derive",): [],
    ("bayes",): ["--alpha", "0.2,0.3", "--format", "csv"],
}
# options that would turn a cheap base into a long run: never drawn
SKIP = {("resnet", "--out"), ("head-energy-resnet", "--out"), ("table", "--out"), ("table", "--dask"),
        ("table", "--resume"), ("simulate", "--dim"), ("simulate", "--seeds"), ("head-energy-resnet", "--workdir"),
        ("resnet", "--workdir")}
# the heavy subcommands drawn only with their refused base (their own run takes minutes)
EXCLUDED = {("verify",), ("figure",)}


@dataclass(frozen=True)
class Option:
    flag: str
    kind: str            # 'flag', 'float', 'int', 'choice', 'path', 'penalty', 'list', 'text'
    choices: tuple = ()


def _kind(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "flag"
    if action.choices:
        return "choice"
    if action.type is float:
        return "float"
    if action.type is int:
        return "int"
    dest = action.dest
    if dest in ("out", "runs", "workdir", "data"):
        return "path"
    if dest == "penalty":
        return "penalty"
    if dest in ("alpha", "n", "eps", "depth", "distance", "tau", "smoothing", "grid", "c_pt", "kappa", "gamma_ft",
                "n_ft") or dest.endswith("_bounds"):
        return "list"
    return "text"


def subcommands(parser: argparse.ArgumentParser | None = None, prefix: tuple = ()) -> dict:
    """{(name, ...): [Option, ...]} for every leaf subcommand of the parser."""
    if parser is None:
        from ptft.cli import build_parser

        parser = build_parser()
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(subcommands(sub, prefix + (name,)))
            return out
    options = [Option(a.option_strings[-1], _kind(a), tuple(a.choices or ()))
               for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    return {prefix: options}


def _values(opt: Option):
    if opt.kind == "choice":
        return st.sampled_from([*map(str, opt.choices), "bogus", ""])
    if opt.kind == "float":
        return st.one_of(st.sampled_from(FLOATS), st.floats(allow_nan=True, allow_infinity=True).map(repr))
    if opt.kind == "int":
        return st.one_of(st.sampled_from(INTS), st.integers(-10, 10**7).map(str))
    pool = {"path": PATHS, "penalty": PENALTIES, "list": LISTS}.get(opt.kind, TEXT)
    return st.sampled_from(pool)


@st.composite
def command_lines(draw, specs: dict, grid: str = "GRID.toml"):
    """A base command line plus 1-3 options of that subcommand with drawn values."""
    names = sorted(k for k in specs if k not in EXCLUDED and k in BASES)
    cmd = draw(st.sampled_from(names))
    opts = [o for o in specs[cmd] if (cmd[0], o.flag) not in SKIP]
    chosen = draw(st.lists(st.sampled_from(opts), min_size=1, max_size=3, unique_by=lambda o: o.flag)) if opts else []
    argv = list(cmd) + [a.replace("{grid}", grid) for a in BASES[cmd]]
    for opt in chosen:
        if opt.kind == "flag":
            argv.append(opt.flag)
            continue
        value = draw(_values(opt))
        # '--opt=value' and '--opt value' must mean the same; a value starting with '-' is a value
        argv += [f"{opt.flag}={value}"] if draw(st.booleans()) else [opt.flag, value]
    return argv


# -- running one case ---------------------------------------------------------------------------
class Hang(BaseException):
    """Raised by the alarm; a BaseException so ``main`` cannot swallow it."""


def _alarm(signum, frame):
    raise Hang()


@dataclass
class Outcome:
    argv: list
    code: int | None
    stdout: str
    stderr: str
    seconds: float
    hang: bool = False
    created: list = field(default_factory=list)


def run_case(argv: list, time_limit: float, cwd: str) -> Outcome:
    """``ptft.cli.main(argv)`` in this process, in ``cwd``, with an alarm after ``time_limit``."""
    from ptft.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    here = os.getcwd()
    t0 = time.perf_counter()
    code, hang = None, False
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except Hang:
        hang = True
    except SystemExit as exc:            # --help
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(here)
    created = sorted(os.listdir(cwd))
    return Outcome(argv, code, out.getvalue(), err.getvalue(), time.perf_counter() - t0, hang, created)


_PROGRESS = re.compile(r"[^\r\n]*?\d+%\|[^\]\r\n]*\]?")     # tqdm progress-bar frames
_NONFINITE = re.compile(r"(?<![A-Za-z_])[-+]?(?:inf|infinity|nan)(?![A-Za-z_])", re.I)


def violations(o: Outcome) -> list[str]:
    """The contract points this outcome breaks (empty: it keeps the contract)."""
    bad = []
    if o.hang:
        return ["hang"]
    if o.code == 1:
        bad.append("internal error")
    elif o.code not in (0, 2, 3):
        bad.append(f"exit {o.code}")
    if "Traceback" in o.stderr or "Traceback" in o.stdout:
        bad.append("traceback")
    lines = [ln for ln in _PROGRESS.sub("", o.stderr).replace("\r", "\n").splitlines() if ln.strip()]
    if o.code == 2 and not (len(lines) == 1 and lines[0].startswith("ptft: error: ")):
        bad.append("not one error line")
    if o.code == 3 and not (lines and all(ln.startswith("ptft: ") for ln in lines)):
        bad.append("stray stderr")
    if o.created:
        bad.append("execution")
    if o.code == 0 and _NONFINITE.search(o.stdout):
        bad.append("non-finite success")
    return bad
