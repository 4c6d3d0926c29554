"""GRID.toml: the parameter grid of a prediction table (``ptft table``).

Each key is one parameter of a replica point and takes a value, a list, or a range::

    c_pt     = {log = [1e-4, 1.0, 9]}     # 9 log-spaced values, ends included
    lambda_pt_rel = [-0.9, 0.0, 0.9]      # lambda_PT / c_PT  (or lambda_pt, absolute units)
    gamma_ft = 0.0
    omega    = {lin = [0.0, 1.0, 5]}      # 5 evenly spaced values, ends included
    alpha    = {lin = [0.01, 0.5, 50]}    # alpha_FT = N_FT / D (required)

The grid is the Cartesian product. Points that differ only in ``alpha`` form a *group*,
solved in one call so the solver's continuation in alpha applies; groups are numbered in
C order over the axes (canonical key order, alpha last), rows within a group follow the
alpha list. Every per-value rule (c_pt > 0, rho in [0, 1], ...) comes from the registry and is
checked here with an error naming the key; combinations (omega*rho_ft > rho_pt, |lambda_pt| > c_pt) are
decided per point by :class:`Task` / :class:`Init` and recorded as infeasible rows, unless
no point of the grid is feasible, which is an error.

Sizes are bounded so a typo cannot exhaust memory: the file at most :data:`MAX_FILE_BYTES`,
each axis at most :data:`MAX_AXIS` values, the whole grid at most :data:`MAX_POINTS` rows,
at most :data:`MAX_COMBOS` distinct tasks and as many distinct initialisations;
each value is checked against its entry in :mod:`symbolic.registry` (rule and
float64-safe range), the one list of parameters.
"""
from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
try:
    import tomllib
except ModuleNotFoundError:       # Python 3.10
    import tomli as tomllib
from dataclasses import dataclass, fields

import numpy as np

from replica.params import Init, ParameterError, Task
from symbolic.registry import PARAMS, Boolean, Options

MAX_FILE_BYTES = 1 << 20       # a GRID.toml is a few lines; 1 MiB leaves room for long lists
MAX_AXIS = 100_000             # values per axis (alpha included)
MAX_POINTS = 10**7             # rows of the whole table (~3 CPU-hours at 1 ms a point; split bigger sweeps)
MAX_COMBOS = 10**5             # distinct tasks (rho_pt, rho_ft, omega) and initialisations
                               # (c_pt, lambda, gamma_ft, a_pt): each is checked one by one (~3 s)


class GridError(ParameterError):
    """Malformed GRID.toml (one line, names the key)."""


def grid_keys() -> tuple:
    """The GRID.toml keys in canonical order (alpha last: it is the continuation axis), read
    from the registry."""
    keys = [name for name, p in PARAMS.items() if p.grid and name != "alpha"]
    return (*keys, "alpha")


@dataclass(frozen=True)
class Grid:
    """A parsed grid: ``axes`` = ((name, values), ...) in canonical order, alpha last.

    The lambda axis is ``lambda_pt`` (lambda_PT, absolute) or ``lambda_pt_rel``
    (lambda_PT / c_PT), whichever the file used.
    """

    axes: tuple
    options: tuple = ()        # ((name, value), ...): switches of the whole table, not axes

    @property
    def names(self) -> tuple:
        return tuple(name for name, _ in self.axes)

    @property
    def values(self) -> dict:
        return {**dict(self.axes), **{name: (v,) for name, v in self.options}}

    @property
    def bayes(self) -> bool:
        """Whether the rows carry the Bayes-optimal / AMP limit columns."""
        return bool(dict(self.options).get("bayes", False))

    @property
    def alphas(self) -> tuple:
        return self.axes[-1][1]

    @property
    def group_shape(self) -> tuple:
        return tuple(len(v) for _, v in self.axes[:-1])

    @property
    def n_groups(self) -> int:
        return math.prod(self.group_shape)

    @property
    def n_points(self) -> int:
        return self.n_groups * len(self.alphas)

    @property
    def lambda_relative(self) -> bool:
        return "lambda_pt_rel" in self.names

    def group_params(self, g: int) -> dict:
        """Parameters of group ``g`` (everything but alpha)."""
        idx = np.unravel_index(g, self.group_shape)
        return {name: vals[i] for (name, vals), i in zip(self.axes[:-1], idx)}

    def canonical(self) -> str:
        """JSON text identifying the grid exactly (floats as repr, so round-trip exact)."""
        axes = [[n, [v if isinstance(v, str) else repr(v) for v in vals]] for n, vals in self.axes]
        # options only when set away from their default: older tables keep their digest
        axes += [[n, repr(v)] for n, v in self.options if v != PARAMS[n].default]
        return json.dumps(axes)

    def digest(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:16]


# -- parsing -------------------------------------------------------------------------
def load_grid(path) -> Grid:
    """Read and validate GRID.toml; a :class:`GridError` (one line) on any problem."""
    import os
    import stat

    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):          # a FIFO or a device would block or never end
            raise GridError(f"{path}: not a regular file (a FIFO, socket or device), give a GRID.toml file")
        if info.st_size > MAX_FILE_BYTES:
            raise GridError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB, not a GRID.toml")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)          # bounded even if the file grows meanwhile
    except FileNotFoundError:
        raise GridError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GridError(f"{path}: is a directory, give a GRID.toml file") from None
    except OSError as err:
        raise GridError(f"{path}: cannot read ({err.strerror or err})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise GridError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB, not a GRID.toml")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise GridError(f"{path}: not a text file (invalid UTF-8)") from None
    except (tomllib.TOMLDecodeError, RecursionError) as err:
        raise GridError(f"{path}: invalid TOML: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    return grid_from_dict(data)


def grid_from_dict(data: dict) -> Grid:
    """Validate a mapping of the GRID.toml form (values, lists, {lin|log = [a, b, n]})."""
    if not isinstance(data, dict):
        raise GridError("a grid is a mapping of parameter names to values")
    keys = grid_keys()
    for key in data:
        if key not in keys:
            near = difflib.get_close_matches(key, keys, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else f" (known: {', '.join(keys)})"
            raise GridError(f"unknown key '{key}'{hint}")
    if "lambda_pt" in data and "lambda_pt_rel" in data:
        raise GridError("lambda_pt_rel: give lambda_pt (absolute) or lambda_pt_rel (lambda_pt / c_pt), not both")
    if "alpha" not in data:
        raise GridError("alpha: missing (every grid needs alpha values)")
    lam = "lambda_pt_rel" if "lambda_pt_rel" in data else "lambda_pt"
    axes, options = [], []
    for key in keys:
        if key in ("lambda_pt", "lambda_pt_rel") and key != lam:
            continue
        raw = data.get(key, PARAMS[key].default)
        if isinstance(PARAMS[key].constraint, Boolean):
            if not isinstance(raw, bool):
                raise GridError(f"{key}: a table option, give true or false, got {raw!r}")
            options.append((key, raw))
            continue
        axes.append((key, _axis(key, raw)))
    grid = Grid(tuple(axes), tuple(options))
    _check_sizes(grid)
    _check_feasible(grid)
    return grid


def _check_sizes(grid: Grid) -> None:
    """Point and combination budgets, from the axis lengths alone (nothing expanded)."""
    if grid.n_points > MAX_POINTS:
        raise GridError(f"the grid has {grid.n_points:.3g} points; at most {MAX_POINTS:.0e} per table")
    v = grid.values
    lam = "lambda_pt_rel" if grid.lambda_relative else "lambda_pt"
    for what, keys in (("tasks", ("rho_pt", "rho_ft", "omega")), ("initialisations", ("c_pt", lam, "gamma_ft", "a_pt"))):
        n = math.prod(len(v[k]) for k in keys)
        if n > MAX_COMBOS:
            raise GridError(f"{', '.join(keys)}: {n:.3g} distinct {what}; at most {MAX_COMBOS:.0e} per table")


def _axis(key: str, raw) -> tuple:
    if isinstance(raw, dict):
        values = _range(key, raw)
    elif isinstance(raw, list):
        values = raw
    else:
        values = [raw]
    if not values:
        raise GridError(f"{key}: empty list")
    if len(values) > MAX_AXIS:
        raise GridError(f"{key}: {len(values)} values; at most {MAX_AXIS} per axis")
    out = tuple(_value(key, v) for v in values)
    if len(set(out)) != len(out):
        from collections import Counter

        dup = next(v for v, n in Counter(out).items() if n > 1)     # linear: lists may be long
        raise GridError(f"{key}: duplicate value {dup!r} (each point must be unique)")
    return out


def _range(key: str, spec: dict) -> list:
    if len(spec) != 1 or next(iter(spec)) not in ("lin", "log"):
        raise GridError(f"{key}: a range is {{lin = [start, stop, num]}} or {{log = [start, stop, num]}}, "
                        f"got keys {sorted(spec)}")
    kind, args = next(iter(spec.items()))
    if not (isinstance(args, list) and len(args) == 3):
        raise GridError(f"{key}: {kind} range needs [start, stop, num], got {args!r}")
    start, stop = (_number(key, a) for a in args[:2])
    num = args[2]
    if isinstance(num, bool) or not isinstance(num, int):
        raise GridError(f"{key}: range num must be an integer, got {num!r}")
    if num < 1:
        raise GridError(f"{key}: empty range (num = {num}, needs >= 1)")
    if num > MAX_AXIS:
        raise GridError(f"{key}: range num = {num}; at most {MAX_AXIS} values per axis")
    if num == 1 and start != stop:
        raise GridError(f"{key}: a 1-point range needs start == stop, got {start:g} and {stop:g}")
    if kind == "lin":
        return [float(v) for v in np.linspace(start, stop, num)]
    if start <= 0 or stop <= 0:
        raise GridError(f"{key}: log range needs start, stop > 0, got {start:g}, {stop:g}")
    values = np.geomspace(start, stop, num)
    values[0], values[-1] = start, stop          # ends exactly as written
    return [float(v) for v in values]


def _number(key: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise GridError(f"{key}: expected a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise GridError(f"{key}: values must be finite, got {v}")
    return v


def _value(key: str, v):
    if isinstance(PARAMS[key].constraint, Options):
        if not isinstance(v, str):
            raise GridError(f"{key}: expected a string, got {v!r}")
    else:
        v = _number(key, v)
    rule = PARAMS[key].constraint
    if not rule.holds(v):
        raise GridError(f"{key}: value {v!r} is not {rule.describe()}")
    try:
        return PARAMS[key].check(v)
    except ParameterError as err:
        raise GridError(f"{key}: {err}") from None


# -- feasibility --------------------------------------------------------------------------
def make_task_init(grid: Grid, params: dict) -> tuple[Task, Init]:
    """Task and Init of one group (raises ParameterError if infeasible)."""
    p = dict(params)
    if grid.lambda_relative:
        p["lambda_pt"] = p.pop("lambda_pt_rel")
    init = Init(relative=grid.lambda_relative, **{f.name: p[f.name] for f in fields(Init) if f.name in p})
    task = Task(**{f.name: p[f.name] for f in fields(Task) if f.name in p})
    return task, init


def task_errors(grid: Grid):
    """For each (rho_pt, rho_ft, omega) of the grid, in product order: None if ``Task``
    accepts it, else the ParameterError message."""
    v = grid.values
    for r_pt, r_ft, om in itertools.product(v["rho_pt"], v["rho_ft"], v["omega"]):
        try:
            Task(rho_pt=r_pt, rho_ft=r_ft, omega=om)
            yield None
        except ParameterError as err:
            yield str(err)


def init_errors(grid: Grid):
    """For each (c_pt, lambda, gamma_ft, a_pt) of the grid: None if ``Init`` accepts it and
    c_FT > 0 on every coordinate, else the ParameterError message."""
    from replica.solver import ptft_classes

    v = grid.values
    lam = "lambda_pt_rel" if grid.lambda_relative else "lambda_pt"
    for c, lm, gm, a in itertools.product(v["c_pt"], v[lam], v["gamma_ft"], v["a_pt"]):
        try:
            init = Init(c_pt=c, lambda_pt=lm, gamma_ft=gm, relative=grid.lambda_relative)
            ptft_classes(Task(rho_pt=1.0, rho_ft=1.0, omega=1.0, a_pt=a), init)   # raises if c_FT = 0
            yield None
        except ParameterError as err:
            yield str(err)


def _check_feasible(grid: Grid) -> None:
    """Error if no point can be feasible: feasibility factorises into the task
    (rho_pt, rho_ft, omega) and initialisation (c_pt, lambda, gamma_ft, a_pt) sub-grids."""
    lam = "lambda_pt_rel" if grid.lambda_relative else "lambda_pt"
    for keys, errors in (("rho_pt, rho_ft, omega", task_errors(grid)),
                         (f"{lam}, c_pt, gamma_ft", init_errors(grid))):
        first = None
        for err in errors:
            if err is None:
                break
            first = first or err
        else:
            raise GridError(f"{keys}: infeasible combination, no feasible point in the grid ({first})")
