"""The ``ptft`` command line.

Exit codes: 0 success; 2 invalid input (one line on stderr); 3 some points did not
converge (the table is still written, with ``converged`` False and the residual).
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile

import numpy as np

EXIT_INPUT, EXIT_NOCONV = 2, 3


class InputError(ValueError):
    """Bad command-line input."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # accept '--lambda-pt -0.99e-3': argparse's own pattern misses exponents
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message):          # one line, exit 2 (argparse prints usage otherwise)
        raise InputError(message)


def parse_alphas(text: str) -> list[float]:
    """'0.1,0.2,0.3' or 'start:stop:num' (inclusive linspace)."""
    text = text.strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--alpha '{text}' is not a list 'a,b,c' or a range 'start:stop:num'") from None
    if ":" in text:
        if num < 1:
            raise InputError(f"--alpha {text}: num must be >= 1")
        if not (math.isfinite(start) and math.isfinite(stop)):
            raise InputError(f"--alpha {text}: start and stop must be finite")
        values = list(np.linspace(start, stop, num))
    for v in values:
        if math.isnan(v):
            raise InputError("--alpha contains NaN")
        if not math.isfinite(v):
            raise InputError(f"--alpha must be finite, got {v}")
        if v <= 0:
            raise InputError(f"alpha must be > 0, got {v:g}")
    return values


def parse_int_list(text: str, option: str, minimum: int = 0) -> list[int]:
    """'1,2,3' -> [1, 2, 3]; one-line InputError naming ``option`` otherwise."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} '{text}' is not a comma-separated list of integers") from None
    if not values or min(values) < minimum:
        raise InputError(f"{option} values must be integers >= {minimum}, got '{text}'")
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


def add_output_options(p):
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--out", help="write the output to FILE (atomically) instead of stdout")


def add_task_options(p):
    g = p.add_argument_group("task (THEORY.md section 4)")
    g.add_argument("--rho-pt", type=float, default=0.1, help="rho_PT (default 0.1)")
    g.add_argument("--rho-ft", type=float, default=0.1, help="rho_FT (default 0.1)")
    g.add_argument("--omega", type=float, default=1.0, help="overlap omega = rho_FT^shared / rho_FT (default 1)")
    g.add_argument("--rho-shared", type=float, help="rho_FT^shared (with --rho-new, instead of --rho-ft/--omega)")
    g.add_argument("--rho-new", type=float, help="rho_FT^new")
    g.add_argument("--a-pt", type=float, default=1.0, help="PT teacher amplitude a_PT (default 1)")
    g.add_argument("--teacher", choices=("gaussian", "fixed"), default="gaussian")
    g.add_argument("--noise", type=float, default=0.0, help="label-noise std sigma_noise (default 0)")


def add_init_options(p):
    g = p.add_argument_group("initialisation (THEORY.md section 2)")
    g.add_argument("--c-pt", type=float, default=1e-3, help="c_PT > 0 (default 1e-3)")
    g.add_argument("--lambda-pt", type=float, default=0.0,
                   help="lambda_PT in absolute units, |lambda_PT| <= c_PT (default 0)")
    g.add_argument("--lambda-relative", action="store_true",
                   help="read --lambda-pt as lambda_PT / c_PT in [-1, 1]")
    g.add_argument("--gamma-ft", type=float, default=0.0, help="gamma_FT >= 0 (default 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ptft", description="Replica theory of pretraining -> fine-tuning in diagonal linear networks.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.required = True
    p = sub.add_parser("solve", help="generalisation error of fine-tuning vs alpha_FT")
    add_task_options(p)
    add_init_options(p)
    p.add_argument("--alpha", default="0.01:0.5:50", help="'a,b,c' or 'start:stop:num' (default 0.01:0.5:50)")
    p.add_argument("--reg", type=float, default=0.0,
                   help="explicit penalty strength of the authors' penalised form (default 0 = interpolation)")
    p.add_argument("--rtol", type=float, default=None,
                   help="target relative error of gen_error (default 1e-8); a point whose error estimate "
                        "gen_error_err misses it after refinement is flagged converged=False")
    p.add_argument("--progress", action="store_true", help="progress bar on stderr")
    add_output_options(p)
    p = sub.add_parser("single", help="single-task replica curve for any convex penalty Q(b)")
    p.add_argument("--penalty", default="hypent",
                   help="SymPy expression in b (and optionally c), or hypent|ridge|l1 (default hypent)")
    p.add_argument("--rho", type=float, default=0.1, help="fraction of nonzero teacher coordinates")
    p.add_argument("--c", type=float, default=1.0, help="value of the scale c in the penalty (default 1)")
    p.add_argument("--alpha", default="0.01:0.5:50")
    p.add_argument("--teacher", choices=("gaussian", "fixed"), default="gaussian")
    p.add_argument("--noise", type=float, default=0.0)
    p.add_argument("--reg", type=float, default=0.0)
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
    p.add_argument("--data", help="dataset directory for figures that need one (e.g. cifar-100-python)")
    p.add_argument("--seeds", type=int, help="number of seeds (default: the figure's own)")
    p.add_argument("--dim", type=int, help="input dimension D for figures that simulate (default: the figure's own)")
    handlers["figure"] = _figure_handler(figures)
    parser.set_defaults(_handlers=handlers)
    return parser


# Command plug-ins: every module in these packages that defines ``register(subparsers)``
# (returning {name: handler}) adds subcommands; an optional ``FIGURES`` dict maps figure
# names to 'module:function' strings, imported only when that figure is asked for (so
# ``ptft --help`` never imports torch).
_PLUGIN_PACKAGES = ("replica.commands", "empirical.commands")


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

        module_name, func_name = figures[args.name].split(":")
        return getattr(importlib.import_module(module_name), func_name)(args)
    return handler


def task_from_args(args):
    """The ``Task`` described by the options of ``add_task_options``."""
    from replica import Task

    kw = dict(a_pt=args.a_pt, teacher=args.teacher, noise=args.noise)
    if (args.rho_shared is None) != (args.rho_new is None):
        raise InputError("give both --rho-shared and --rho-new, or neither")
    if args.rho_shared is not None:
        return Task.from_shared_new(args.rho_pt, args.rho_shared, args.rho_new, **kw)
    return Task(rho_pt=args.rho_pt, rho_ft=args.rho_ft, omega=args.omega, **kw)


def init_from_args(args):
    """The ``Init`` described by the options of ``add_init_options``."""
    from replica import Init

    return Init(c_pt=args.c_pt, lambda_pt=args.lambda_pt, gamma_ft=args.gamma_ft, relative=args.lambda_relative)


def check_out(out: str | None, default: str | None = None) -> str:
    """Absolute output path (``out`` or ``default``), checked before any work is done:
    its directory must exist and it must not be a directory (one-line InputError)."""
    path = os.path.abspath(out or default)
    if not os.path.isdir(os.path.dirname(path)):
        raise InputError(f"--out: directory {os.path.dirname(path)} does not exist")
    if os.path.isdir(path):
        raise InputError(f"--out: {path} is a directory, give a file name")
    return path


def save_png_atomic(fig, out: str, **savefig_kw) -> None:
    """``fig.savefig`` to a temporary file beside ``out``, then rename (mode 0644)."""
    directory = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ptft-", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, **{"dpi": 130, **savefig_kw})
        os.chmod(tmp, 0o644)          # mkstemp makes 0600
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def write_atomic(text: str, out: str | None) -> None:
    """Write ``text`` to ``out`` via a temporary file + rename (stdout when ``out`` is None)."""
    if not out:
        sys.stdout.write(text)
        return
    if os.path.exists(out) and not os.path.isdir(out) and not os.path.isfile(out):
        # a device or pipe (/dev/stdout, a FIFO): write through it; renaming over it would
        # replace the device node itself
        try:
            with open(out, "w") as fh:
                fh.write(text)
        except OSError as err:
            raise InputError(f"--out: cannot write {out} ({err.strerror})") from None
        return
    target = os.path.realpath(out)          # a symlink is written through, not replaced
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise InputError(f"--out: directory {directory} does not exist")
    if os.path.isdir(target):
        raise InputError(f"--out: {target} is a directory, give a file name")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ptft-")
    except OSError as err:
        raise InputError(f"--out: cannot write in {directory} ({err.strerror})") from None
    try:
        os.fchmod(fd, 0o644)        # mkstemp makes 0600; a result file should be readable
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException as err:
        os.unlink(tmp)            # no half-written or stray file on any failure
        if isinstance(err, OSError):
            raise InputError(f"--out: cannot write {target} ({err.strerror})") from None
        raise


def render_frame(frame, fmt: str) -> str:
    """A pandas table as csv, json (records) or aligned text."""
    if fmt == "csv":
        return frame.to_csv(index=False, float_format="%.12g")
    if fmt == "json":
        return frame.to_json(orient="records", indent=1, double_precision=15) + "\n"
    return frame.to_string(index=False, float_format=lambda v: f"{v:.6g}") + "\n"


def render_frame_result(result, fmt: str) -> str:
    """A :class:`SolveResult` via :func:`render_frame`; the text table puts the parameters
    (``result.info``) on one header line and shows the main columns only."""
    frame = result.to_frame()
    if fmt in ("csv", "json"):
        return render_frame(frame, fmt)
    cols = ["alpha", "gen_error", "sigma", "tau", "active_fraction", "gen_error_err", "residual", "converged",
            "phase"]
    head = "  ".join(f"{k}={frame[k].iloc[0]}" for k in result.info if k in frame) + "\n"
    return head + render_frame(frame[cols], fmt)


def finish_result(result, args) -> int:
    write_atomic(render_frame_result(result, args.format), args.out)
    bad = ~result.converged
    if bad.any():
        worst = float(np.nanmax(np.where(bad, result.residual, np.nan))) if np.isfinite(result.residual[bad]).any() else math.nan
        print(f"ptft: warning: {int(bad.sum())} of {bad.size} points did not converge "
              f"(largest residual {worst:.3g})", file=sys.stderr)
        return EXIT_NOCONV
    return 0


def _cmd_solve(args) -> int:
    from replica import solve

    result = solve(task_from_args(args), init_from_args(args), parse_alphas(args.alpha),
                   reg=args.reg, progress=args.progress, rtol=args.rtol)
    return finish_result(result, args)


def _cmd_single(args) -> int:
    from replica import solve_single

    result = solve_single(args.penalty, args.rho, parse_alphas(args.alpha), teacher=args.teacher,
                          noise=args.noise, c=args.c, reg=args.reg, rtol=args.rtol)
    return finish_result(result, args)


def _cmd_derive(args) -> int:
    from symbolic.report import derivation

    print(derivation("latex" if args.latex else "text"))
    return 0


def _cmd_verify(args) -> int:
    from symbolic.verify import main_verify

    return main_verify(verbose=args.verbose)


def main(argv=None) -> int:
    from replica.params import ParameterError
    from symbolic.penalty import PenaltyError

    try:
        args = build_parser().parse_args(argv)
        return args._handlers[args.command](args)
    except (InputError, ParameterError, PenaltyError) as err:
        print(f"ptft: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("ptft: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # run the imported module's main: plug-ins raise replica.cli.InputError, which is not the
    # class of the same name in this __main__ copy of the module
    from replica.cli import main as _main
    sys.exit(_main())
