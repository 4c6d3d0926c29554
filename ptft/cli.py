"""The ``ptft`` command line.

Exit codes: 0 success; 2 refused input, data or output path (one line on stderr);
3 some points did not converge or diverged (the table is still written, with ``converged``
False, the residual and the phase); 130 interrupted (Ctrl-C); 1 an internal error (a bug:
one line, ``PTFT_DEBUG=1`` shows the traceback). Only the modules of the command that runs
are imported, so ``ptft --help`` needs neither SymPy nor NumPy.

One module of ~420 lines on purpose: the option parsers, the output helpers and the one error
handler that every subcommand plug-in shares live beside ``main``.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys

from numerics.atomic import atomic_path, resolve_target
from numerics.atomic import write_atomic as _write
from symbolic.errors import EXIT_INPUT, EXIT_INTERRUPT, EXIT_NOCONV, InputError, PtftError

__all__ = ["main", "InputError", "EXIT_INPUT", "EXIT_NOCONV", "write_atomic", "check_out"]

# Largest number of alpha points one command may ask for (the table has its own budget).
MAX_ALPHAS = 100_000
# Largest integer accepted in a list option (seeds, steps, taus): well inside int64.
MAX_INT = 10**9
# Largest array one command may allocate; a bigger request is refused up front with this
# number in the message (rather than swapping or dying with MemoryError half-way).
MEMORY_BUDGET = 8 << 30


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # accept '--lambda-pt -0.99e-3': argparse's own pattern misses exponents
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def _parse_optional(self, arg_string):
        # '-0.5,0.5', '-b**2', '-0.5:1' are values: ptft has no single-dash options but -h
        if (arg_string.startswith("-") and not arg_string.startswith("--")
                and arg_string not in self._option_string_actions and len(arg_string) > 1):
            return None
        return super()._parse_optional(arg_string)

    def error(self, message):          # one line, exit 2 (argparse prints usage otherwise)
        raise InputError(message)


def parse_alphas(text: str) -> list[float]:
    """'0.1,0.2,0.3' or 'start:stop:num' (inclusive linspace)."""
    text = text.strip()
    form = f"--alpha '{text}' is not a list 'a,b,c' or a range 'start:stop:num'"
    parts = text.split(":")
    if ":" in text and len(parts) != 3:
        raise InputError(form)
    try:
        if ":" in text:
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:                      # float()/int() of the user's text
        raise InputError(form) from None
    if ":" in text:
        if num < 1:
            raise InputError(f"--alpha {text}: num must be >= 1")
        if not (math.isfinite(start) and math.isfinite(stop)):
            raise InputError(f"--alpha {text}: start and stop must be finite")
        if num > MAX_ALPHAS:
            raise InputError(f"--alpha {text}: at most {MAX_ALPHAS} points per command, got {num}")
        values = [start + (stop - start) * k / (num - 1) for k in range(num)] if num > 1 else [start]
    if len(values) > MAX_ALPHAS:
        raise InputError(f"--alpha: at most {MAX_ALPHAS} points per command, got {len(values)}")
    if len(set(values)) != len(values):
        from collections import Counter

        dup = next(v for v, n in Counter(values).items() if n > 1)
        raise InputError(f"--alpha lists {dup:g} more than once; give each alpha once")
    for v in values:
        if math.isnan(v):
            raise InputError("--alpha contains NaN")
        if not math.isfinite(v):
            raise InputError(f"--alpha must be finite, got {v}")
        if v <= 0:
            raise InputError(f"alpha must be > 0, got {v:g}")
    from replica.params import check_range

    return [check_range("alpha", v) for v in values]


def parse_int_list(text: str, option: str, minimum: int = 0) -> list[int]:
    """'1,2,3' -> [1, 2, 3]; one-line InputError naming ``option`` otherwise."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} '{text}' is not a comma-separated list of integers") from None
    if not values or min(values) < minimum:
        raise InputError(f"{option} values must be integers >= {minimum}, got '{text}'")
    if max(values) > MAX_INT:
        raise InputError(f"{option} values must be <= {MAX_INT}, got {max(values)}")
    return values


def parse_float_list(text: str, option: str) -> list[float]:
    """'0.1,1e-3' -> [0.1, 0.001] (finite numbers); one-line InputError otherwise."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} '{text}' is not a comma-separated list of numbers") from None
    if not values or any(not math.isfinite(v) for v in values):
        raise InputError(f"{option} '{text}' must be finite numbers")
    return values


def check_int(option: str, value: int, low: int, high: int) -> int:
    """``low <= value <= high`` or a one-line InputError naming ``option``."""
    if not low <= value <= high:
        raise InputError(f"{option} must be an integer in [{low}, {high}], got {value}")
    return value


def check_seed(option: str, value: int) -> int:
    """A seed NumPy and PyTorch both accept: 0 <= seed < 2^32."""
    return check_int(option, value, 0, 2**32 - 1)


MAX_SAMPLES = 10**6        # training samples N = alpha D of one simulated run


def check_samples(alphas, dim: int) -> None:
    """Every simulated run has N = round(alpha D) <= :data:`MAX_SAMPLES` samples."""
    largest = max(alphas) * dim
    if largest > MAX_SAMPLES:
        raise InputError(f"alpha x --dim = {largest:.3g} training samples per run; at most {MAX_SAMPLES:.0e} "
                         "(use a smaller alpha or --dim)")


def check_memory(what: str, n_bytes: float) -> None:
    """Refuse a request whose largest array exceeds :data:`MEMORY_BUDGET` (one line)."""
    if n_bytes > MEMORY_BUDGET:
        raise InputError(f"{what} needs {n_bytes / 2**30:.3g} GiB for one array, above the "
                         f"{MEMORY_BUDGET >> 30} GiB budget; use smaller sizes")


def finish_frame(frame, args, required=None, empty_reason: str | None = None) -> int:
    """Write ``frame`` (``--format``/``--out``); exit 3 with one warning line when a column
    of ``required`` (default: every numeric column) holds NaN or inf -- an empty or infinite
    prediction is a failure, never a success. Empty (NaN) cells of the other columns are
    allowed (printed blank) and named in one note line with ``empty_reason``."""
    import numpy as np

    write_atomic(render_frame(frame, args.format), args.out)
    numeric = list(frame.select_dtypes("number").columns)
    cols = list(required) if required is not None else numeric
    bad = [c for c in cols if c in frame and not np.isfinite(frame[c].to_numpy(float)).all()]
    if bad:
        print(f"ptft: warning: non-finite values (NaN/inf) in {', '.join(bad)}: the computation failed "
              "for some rows", file=sys.stderr)
        return EXIT_NOCONV
    empty = [c for c in numeric if c not in cols and np.isnan(frame[c].to_numpy(float)).any()]
    if empty:
        print(f"ptft: note: empty cells in {', '.join(empty)}: {empty_reason or 'no value is defined there'}",
              file=sys.stderr)
    return 0


def add_output_options(p):
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--out", help="write the output to FILE (atomically) instead of stdout")


def add_task_options(p):
    """The task options, built from the parameter registry (symbolic/registry.py)."""
    from symbolic.registry import PARAMS, add_options

    g = p.add_argument_group("task (sparse teachers; see docs/theory.md, Model)")
    add_options(g, [n for n, q in PARAMS.items() if q.group == "task" and q.cli])
    g.add_argument("--rho-shared", type=float, help="rho_FT^shared (with --rho-new, instead of --rho-ft/--omega)")
    g.add_argument("--rho-new", type=float, help="rho_FT^new")


def add_init_options(p):
    """The initialisation options, built from the parameter registry."""
    from symbolic.registry import PARAMS, add_options

    g = p.add_argument_group("initialisation (see docs/theory.md, Conventions)")
    add_options(g, [n for n, q in PARAMS.items() if q.group == "init" and q.cli])
    g.add_argument("--lambda-relative", action="store_true",
                   help="read --lambda-pt as lambda_PT / c_PT in [-1, 1]")


def build_parser() -> argparse.ArgumentParser:
    from symbolic.penalties import names as penalty_names
    from symbolic.registry import add_options

    parser = _Parser(prog="ptft", description="Replica theory of pretraining -> fine-tuning in diagonal linear networks.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.required = True
    p = sub.add_parser("solve", help="generalisation error of fine-tuning vs alpha_FT")
    add_task_options(p)
    add_init_options(p)
    p.add_argument("--alpha", default="0.01:0.5:50", help="'a,b,c' or 'start:stop:num' (default 0.01:0.5:50)")
    add_options(p, ["reg"])
    p.add_argument("--rtol", type=float, default=None,
                   help="target relative error of gen_error (default 1e-8); a point whose error estimate "
                        "gen_error_err misses it after refinement is flagged converged=False")
    p.add_argument("--progress", action="store_true", help="progress bar on stderr")
    p.add_argument("--bayes", action="store_true",
                   help="add bayes_error, amp_error (the limit with the PT support known) and efficiency")
    add_output_options(p)
    p = sub.add_parser("single", help="single-task replica curve for any convex penalty Q(b)")
    p.add_argument("--penalty", default="hypent",
                   help=f"SymPy expression in b (and optionally c), or {'|'.join(penalty_names())} (default hypent)")
    p.add_argument("--alpha", default="0.01:0.5:50")
    add_options(p, ["rho", "c", "teacher", "noise", "reg"])
    p.add_argument("--rtol", type=float, default=None,
                   help="target relative error of gen_error (default 1e-8); a point whose error estimate "
                        "gen_error_err misses it after refinement is flagged converged=False")
    add_output_options(p)
    p = sub.add_parser("derive", help="print the symbolic derivation")
    p.add_argument("--latex", action="store_true")
    sub.add_parser("verify", help="check every derivation (exit 0 iff all pass)").add_argument(
        "--verbose", action="store_true", help="explain each check in one sentence")
    handlers = {"solve": _cmd_solve, "single": _cmd_single, "derive": _cmd_derive, "verify": _cmd_verify}
    figures: dict[str, str] = {}
    for module in _command_modules():
        handlers.update(module.register(sub))
        figures.update(getattr(module, "FIGURES", {}))
    p = sub.add_parser("figure", help="make one of the paper's figures (PNG + the CSV behind it)")
    p.add_argument("name", choices=sorted(figures), help="which figure")
    p.add_argument("--quick", action="store_true", help="a smaller version that runs on a laptop CPU in minutes")
    p.add_argument("--out", help="output PNG (default NAME.png; the data go next to it as .csv)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda for figures that train networks (default auto)")
    p.add_argument("--data", help="dataset directory for figures that need one (e.g. cifar-100-python), or fig4's "
                                       "stand-in 'generated' or 'digits'")
    p.add_argument("--seeds", type=int, help="number of seeds (default: the figure's own)")
    p.add_argument("--dim", type=int, help="input dimension D for figures that simulate (default: the figure's own)")
    handlers["figure"] = _figure_handler(figures)
    parser.set_defaults(_handlers=handlers)
    return parser


# Command plug-ins: every module in these packages that defines ``register(subparsers)``
# (returning {name: handler}) adds subcommands; an optional ``FIGURES`` dict maps figure
# names to 'module:function' strings, imported only when that figure is asked for (so
# ``ptft --help`` never imports torch).
_PLUGIN_PACKAGES = ("ptft.commands",)


def _command_modules():
    import importlib
    import pkgutil

    for package_name in _PLUGIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if not info.name.startswith("_"):
                yield importlib.import_module(f"{package_name}.{info.name}")


def _figure_handler(figures: dict[str, str]):
    def handler(args) -> int:
        import importlib

        if args.seeds is not None:
            check_int("--seeds", args.seeds, 1, 10_000)
        if args.dim is not None:
            check_int("--dim", args.dim, 1, 100_000)
        for option, value in (("--data", args.data), ("--out", args.out)):
            if value is not None and not value.strip():     # '' would silently mean the default
                raise InputError(f"{option} is empty; give a path (or leave the option out)")
        module_name, func_name = figures[args.name].split(":")
        return getattr(importlib.import_module(module_name), func_name)(args)
    return handler


def task_from_args(args):
    """The ``Task`` described by the options of ``add_task_options``."""
    from replica import Task
    from symbolic.registry import PARAMS

    kw = {n: getattr(args, n) for n, q in PARAMS.items()
          if q.group == "task" and q.cli and n not in ("rho_ft", "omega")}
    if (args.rho_shared is None) != (args.rho_new is None):
        raise InputError("give both --rho-shared and --rho-new, or neither")
    if args.rho_shared is not None:
        if args.rho_ft is not None or args.omega is not None:
            raise InputError("give --rho-shared/--rho-new or --rho-ft/--omega, not both")
        return Task.from_shared_new(kw.pop("rho_pt"), args.rho_shared, args.rho_new, **kw)
    for n in ("rho_ft", "omega"):           # None when not given (see add_options)
        kw[n] = PARAMS[n].default if getattr(args, n) is None else getattr(args, n)
    return Task(**kw)


def init_from_args(args):
    """The ``Init`` described by the options of ``add_init_options``."""
    from replica import Init
    from symbolic.registry import PARAMS

    return Init(relative=args.lambda_relative,
                **{n: getattr(args, n) for n, q in PARAMS.items() if q.group == "init" and q.cli})


def check_out(out: str | None, default: str | None = None) -> str:
    """Absolute output path (``out`` or ``default``, symlinks followed), checked before any
    work is done: its directory must exist and be writable, the name must fit the file
    system, and it must not be a directory (one line)."""
    from numerics.atomic import OutputError, _is_special

    target = resolve_target(out or default)
    if _is_special(target):            # /dev/stdout and the like are written directly
        return target
    directory = os.path.dirname(target)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"--out: directory {directory} is not writable")
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.path.basename(target)) + 16 > name_max:      # + room for the temporary file's suffix
        raise OutputError(f"--out: the file name is longer than this file system allows ({name_max})")
    return target


def save_png_atomic(fig, out: str, **savefig_kw) -> None:
    """``fig.savefig`` to a temporary file beside ``out``, then rename."""
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, **{"dpi": 130, **savefig_kw})


def write_atomic(text: str, out: str | None) -> None:
    """Write ``text`` to ``out`` via a temporary file + rename (stdout when ``out`` is None);
    see :func:`numerics.atomic.write_atomic`."""
    _write(text, out)


def render_frame(frame, fmt: str, rtol: float | None = None, head: str = "") -> str:
    """A pandas table as csv, json (records) or aligned text, every float exact in csv/json
    (:mod:`ptft.formats`); ``head`` lines go above the text table only."""
    from ptft.formats import render

    return render(frame, fmt, rtol=rtol, head=head)


def render_frame_result(result, fmt: str, rtol: float | None = None) -> str:
    """A :class:`SolveResult` via :func:`render_frame`; the text table puts the parameters
    (``result.info``) on one header line and shows the main columns only."""
    frame = result.to_frame()
    if fmt in ("csv", "json"):
        return render_frame(frame, fmt)
    cols = [k for k in ("alpha", "gen_error", "param_error", "sigma", "tau", "active_fraction", "gen_error_err",
                        "residual", "converged", "phase") if k in frame]
    head = "  ".join(f"{k}={frame[k].iloc[0]}" for k in result.info if k in frame) + "\n"
    return render_frame(frame[cols], fmt, rtol=_rtol(rtol), head=head)


def with_parameters(frame, task, init=None, reg: float = 0.0, **extra):
    """``frame`` with the parameter columns of :func:`replica.result.parameter_columns`
    appended (those it lacks): every command's rows carry the same parameter columns."""
    from replica.result import parameter_columns

    frame = frame.copy()
    for key, value in parameter_columns(task, init, reg, **extra).items():
        if key not in frame:
            frame[key] = value
    return frame


def _rtol(rtol):
    """The relative tolerance in force (the solver's default when none was given)."""
    if rtol is not None:
        return rtol
    from replica.solver import Accuracy

    return Accuracy().rtol


def finish_result(result, args) -> int:
    from replica.solver import flag_nonfinite

    import numpy as np

    result = flag_nonfinite(result)      # a no-op: SolveResult's flags are final
    write_atomic(render_frame_result(result, args.format, getattr(args, "rtol", None)), args.out)
    bad = ~result.converged
    if bad.any():
        diverged = int(np.sum(result.phase == "divergent"))
        res = result.residual[bad]
        worst = float(np.max(res[np.isfinite(res)])) if np.isfinite(res).any() else math.nan
        note = f"; {diverged} diverged (phase 'divergent', gen_error infinite)" if diverged else ""
        print(f"ptft: warning: {int(bad.sum())} of {bad.size} points did not converge "
              f"(largest residual {worst:.3g}){note}", file=sys.stderr)
        return EXIT_NOCONV
    return 0


def _cmd_solve(args) -> int:
    from replica import solve
    from replica.params import check_range

    result = solve(task_from_args(args), init_from_args(args), parse_alphas(args.alpha),
                   reg=check_range("reg", args.reg), progress=args.progress,
                    rtol=args.rtol)
    if getattr(args, "bayes", False):
        return _solve_with_limit(result, args)
    return finish_result(result, args)


def _solve_with_limit(result, args) -> int:
    from ptft.commands.bayes import bayes_columns
    from replica.solver import flag_nonfinite

    result = flag_nonfinite(result)
    frame = result.to_frame()
    bayes_columns(frame, task_from_args(args))
    ok = bool(result.converged.all() and frame["limit_converged"].all())
    if args.format == "table":
        frame = frame[["alpha", "gen_error", "bayes_error", "amp_error", "efficiency", "converged", "phase"]]
    code = finish_frame(frame, args, required=["gen_error", "bayes_error", "amp_error"])
    return code or (0 if ok else EXIT_NOCONV)


def _cmd_single(args) -> int:
    from replica import solve_single
    from replica.params import check_range

    result = solve_single(args.penalty, check_range("rho", args.rho), parse_alphas(args.alpha), teacher=args.teacher,
                          noise=check_range("noise", args.noise), c=check_range("c", args.c),
                          reg=check_range("reg", args.reg), rtol=args.rtol)
    return finish_result(result, args)


def _cmd_derive(args) -> int:
    from symbolic.report import derivation

    print(derivation("latex" if args.latex else "text"))
    return 0


def _cmd_verify(args) -> int:
    from symbolic.verify import main_verify

    return main_verify(verbose=args.verbose)


def _version() -> str:
    from replica import __version__

    return __version__


def main(argv=None) -> int:
    """Run one command; every refusal is one line on stderr and an exit code (module doc)."""
    import warnings

    warnings.simplefilter("ignore", RuntimeWarning)    # the one-line error (or status) says it
    try:
        if argv is None:
            argv = sys.argv[1:]
        if list(argv[:1]) in (["--version"], ["-V"]):
            print(f"ptft {_version()}")
            return 0
        args = build_parser().parse_args(argv)
        for option in ("out", "runs"):    # an unusable output fails now, not after the work
            if getattr(args, option, None) and args.command != "table":
                check_out(getattr(args, option))
        return args._handlers[args.command](args)
    except PtftError as err:
        print(f"ptft: error: {err.one_line()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("ptft: interrupted", file=sys.stderr)
        return EXIT_INTERRUPT
    except BrokenPipeError:                  # `ptft ... | head`: nothing more to say
        sys.stderr.close()
        return 0
    except MemoryError:
        print("ptft: error: out of memory (use fewer points, seeds or a smaller dimension)", file=sys.stderr)
        return EXIT_INPUT
    except Exception as err:                 # noqa: BLE001 - a bug: one line, traceback on request
        if os.environ.get("PTFT_DEBUG"):
            raise
        first = (str(err).splitlines() or [""])[0][:200]
        print(f"ptft: internal error: {type(err).__name__}: {first} (PTFT_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    # run the imported module's main so that classes defined here are the ones plug-ins use
    from ptft.cli import main as _main
    sys.exit(_main())
