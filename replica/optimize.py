"""The initialisation (c_PT, lambda_PT, gamma_FT) that minimises the predicted fine-tuning error.

Objective: the replica generalisation error E_gen at alpha_FT, or its mean over several alphas.
Search space x = (log10 c_PT, lambda_PT / c_PT, log10 gamma_FT) inside :class:`Bounds`.

Why grid + local refinement: the landscape is flat along one direction (the error depends on the
initialisation only through c_FT on PT-used and unused coordinates, two numbers for three
parameters), has exact-recovery plateaus (E_gen = 0) and kinks where the saddle point changes
phase, so a gradient method from one start is unreliable. A log-spaced grid finds the basin;
bounded Nelder-Mead (derivative-free, tolerant of kinks) polishes the best few grid points.
A point whose saddle point did not converge scores +inf, so it can never be returned; the
winner is re-solved and must converge, else the next candidate is used.

Why it is fast: the FT problem sees the initialisation only through c_FT on PT-used and unused
coordinates, so every candidate is the same set of coordinate classes with two new scales
(computed for the whole grid in one vectorised call). Each candidate's saddle point starts
Newton from the solved candidate nearest in (log c_used, log c_unused) (a few Newton steps instead
of a cold bracketed solve), with the same error certificate as :func:`replica.solve`; the
winner is confirmed by a fresh cold :func:`replica.solve`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize as so

from numerics.transfer import c_ft

from .params import Init, ParameterError, Task, check_alphas
from .regimes import CANONICAL, regime_of
from .solver import solve
from . import solver as _solver


@dataclass(frozen=True)
class Bounds:
    """Search box: c_PT and gamma_FT log-scaled (gamma_FT > 0 keeps c_FT > 0 at lambda_PT = -c_PT)."""

    c_pt: tuple = (1e-6, 10.0)
    lambda_rel: tuple = (-1.0, 1.0)
    gamma_ft: tuple = (1e-6, 100.0)

    def __post_init__(self):
        for name in ("c_pt", "gamma_ft"):
            lo, hi = (float(v) for v in getattr(self, name))
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
                raise ParameterError(f"{name} bounds must satisfy 0 < lo <= hi, got ({lo:g}, {hi:g})")
        lo, hi = (float(v) for v in self.lambda_rel)
        if not (-1.0 <= lo <= hi <= 1.0):
            raise ParameterError(f"lambda_pt/c_pt bounds must satisfy -1 <= lo <= hi <= 1, got ({lo:g}, {hi:g})")

    def box(self) -> list[tuple[float, float]]:
        return [(math.log10(self.c_pt[0]), math.log10(self.c_pt[1])), tuple(map(float, self.lambda_rel)),
                (math.log10(self.gamma_ft[0]), math.log10(self.gamma_ft[1]))]


def init_of(x) -> Init:
    """x = (log10 c_PT, lambda_PT/c_PT, log10 gamma_FT) -> Init (relative lambda)."""
    return Init(c_pt=10.0 ** x[0], lambda_pt=float(np.clip(x[1], -1.0, 1.0)), gamma_ft=10.0 ** x[2],
                relative=True)


@dataclass(frozen=True)
class Evaluation:
    """One objective value: mean E_gen over ``alphas``; ``ok`` only if every point converged."""

    init: Init
    value: float
    ok: bool
    residual: float


def evaluate(task: Task, init: Init, alphas) -> Evaluation:
    """Mean predicted E_gen of ``init`` over ``alphas`` (+inf when any point fails)."""
    try:
        res = solve(task, init, alphas)
    except ParameterError:
        return Evaluation(init, math.inf, False, math.nan)
    ok = bool(res.converged.all() and np.all(np.isfinite(res.gen_error)))
    resid = float(np.nanmax(res.residual)) if np.isfinite(res.residual).any() else math.nan
    return Evaluation(init, float(np.mean(res.gen_error)) if ok else math.inf, ok, resid)


@dataclass(frozen=True)
class OptimumResult:
    """best : the optimal Evaluation (converged); canonical : the four paper settings evaluated on
    the same objective; grid_best : best grid point before refinement; n_evals : objective calls."""

    best: Evaluation
    alphas: tuple
    canonical: dict
    grid_best: Evaluation
    n_evals: int
    regime: str
    task: Task
    info: dict = field(default_factory=dict)

    @property
    def best_canonical(self) -> tuple[str, Evaluation]:
        name = min(self.canonical, key=lambda k: self.canonical[k].value)
        return name, self.canonical[name]

    def to_frame(self):
        import pandas as pd

        a_pt = self.task.a_pt
        rows = [_row("optimum", self.best, self.regime, a_pt)]
        rows += [_row(f"canonical {k}", ev, k, a_pt) for k, ev in self.canonical.items()]
        frame = pd.DataFrame(rows)
        frame["gain_vs_best_canonical"] = self.best_canonical[1].value - frame["objective"]
        return frame


def _row(name: str, ev: Evaluation, regime: str, a_pt: float) -> dict:
    i = ev.init
    return {"setting": name, "c_pt": i.c_pt, "lambda_pt": i.lambda_abs, "lambda_pt_rel": i.lambda_rel,
            "gamma_ft": i.gamma_ft, "c_ft_used": c_ft(abs(a_pt), i.c_pt, i.lambda_abs, i.gamma_ft),
            "c_ft_unused": c_ft(0.0, i.c_pt, i.lambda_abs, i.gamma_ft), "objective": ev.value,
            "converged": ev.ok, "max_residual": ev.residual, "regime": regime}


def at_bounds(init: Init, bounds: "Bounds", rtol: float = 1e-3) -> list[str]:
    """Names of the box walls the point sits on (the true optimum may lie beyond them)."""
    x = (math.log10(init.c_pt), init.lambda_rel, math.log10(init.gamma_ft))
    out = []
    for name, v, (lo, hi) in zip(("c_pt", "lambda_pt_rel", "gamma_ft"), x, bounds.box()):
        tol = rtol * max(hi - lo, 1e-12)
        if v <= lo + tol:
            out.append(f"{name} (lower)")
        elif v >= hi - tol:
            out.append(f"{name} (upper)")
    return out


@dataclass(frozen=True)
class BoundaryLimit:
    """What lies past the walls an optimum sits on.

    walls : the walls touched (see :func:`at_bounds`)
    beyond : the objective with every touched log-scaled lever pushed 8 decades past its wall
    limit : name of the limiting penalty there, or "" when c_FT does not go to 0 or infinity on
        every coordinate (then only ``beyond`` is reported)
    limit_value : the objective for that penalty (replica with the limit penalty itself), else nan
    """

    walls: tuple
    beyond: Evaluation
    limit: str
    limit_value: float


_PUSH_DECADES = 8.0


def _pushed(init: Init, walls) -> np.ndarray:
    x = np.array([math.log10(init.c_pt), init.lambda_rel, math.log10(init.gamma_ft)])
    for wall in walls:
        name, side = wall.split(" ")
        j = {"c_pt": 0, "gamma_ft": 2}.get(name)
        if j is not None:             # lambda_PT/c_PT = +-1 is a hard limit (|lambda_PT| <= c_PT)
            x[j] += _PUSH_DECADES if side == "(upper)" else -_PUSH_DECADES
    return x


def limit_penalty(task: Task, init: Init) -> tuple[str, float]:
    """Which penalty the FT problem tends to at ``init`` pushed further along its walls.

    q_c(b) -> (|b|/2) log(1/c) as c -> 0 (every coordinate: a common scale, so the minimiser is
    that of l1) and -> b^2/(4c) as c -> infinity (a ridge weighted by 1/c_FT, of which only the
    ratio c_used/c_unused matters).  Returns ("", nan) for a mixture of the two.
    """
    c_used = c_ft(abs(task.a_pt), init.c_pt, init.lambda_abs, init.gamma_ft)
    c_unused = c_ft(0.0, init.c_pt, init.lambda_abs, init.gamma_ft)
    if max(c_used, c_unused) <= 1e-12:
        return "l1 (c_FT -> 0 on every coordinate)", math.nan
    if min(c_used, c_unused) >= 1e12:
        return f"weighted ridge b^2/c_FT (c_FT -> infinity, c_used/c_unused = {c_used / c_unused:.4g})", c_used / c_unused
    return "", math.nan


def _limit_value(task: Task, name: str, ratio: float, alphas) -> float:
    """The replica objective of the limiting penalty itself (not of q_c at a small/large c)."""
    from .solver import ptft_classes, solve_classes, solve_single

    if name.startswith("l1"):                 # one penalty on every coordinate: the PT split is moot
        res = solve_single("l1", task.rho_ft, alphas, teacher=task.teacher, noise=task.noise)
    else:
        from dataclasses import replace

        from numerics import codegen

        base = ptft_classes(task, Init(c_pt=1.0, lambda_pt=0.0, gamma_ft=1.0, relative=True))
        used = np.array([base.group_names[g] in ("shared", "pt_only") for g in base.group])
        classes = replace(base, c=np.where(used, ratio, 1.0))        # c_used = ratio, c_unused = 1
        res = solve_classes(classes, alphas, noise=task.noise, kernels=codegen.from_expression("b**2/(4*c)"))
    ok = bool(np.all(res.converged) and np.all(np.isfinite(res.gen_error)))
    return float(np.mean(res.gen_error)) if ok else math.nan


def boundary_limit(task: Task, best: Evaluation, alphas, bounds: "Bounds", objective=None) -> BoundaryLimit | None:
    """None when ``best`` is inside the box; else the objective past the walls and its limit
    (``objective``: the search's warm-started objective, else a cold solve)."""
    walls = tuple(at_bounds(best.init, bounds))
    if not walls:
        return None
    x = _pushed(best.init, walls)
    beyond = objective(x) if objective is not None else evaluate(task, init_of(x), alphas)
    far = init_of(_pushed(init_of(x), walls))            # 16 decades out: which limit it is
    name, ratio = limit_penalty(task, far)
    value = _limit_value(task, name, ratio, alphas) if name else math.nan
    return BoundaryLimit(walls, beyond, name, value)


class _Objective:
    """Mean E_gen over ``alphas`` as a function of x, warm-started from the nearest solved
    candidate in (log c_used, log c_unused); see the module docstring."""

    def __init__(self, task: Task, alphas, acc=None):
        from numerics import codegen
        from numerics.expressions import kernels

        self.task, self.alphas = task, tuple(float(a) for a in alphas)
        self.noise2 = float(task.noise) ** 2
        self.acc = acc or _solver.Accuracy()
        self.kern = codegen.builtin("hypent")
        self.c_ft = kernels().c_ft
        base = _solver.ptft_classes(task, Init(c_pt=1.0, lambda_pt=0.0, gamma_ft=1.0, relative=True))
        self.base = base
        self.used = np.array([base.group_names[g] in ("shared", "pt_only") for g in base.group])
        self.theta = np.empty((0, 2))                # log c pairs of solved candidates
        self.starts: list[list] = []                  # their (ls, lt) per alpha (None: not usable)
        self.cache: dict[tuple, Evaluation] = {}
        self.by_pair: dict[tuple, Evaluation] = {}   # (c_used, c_unused) -> its evaluation
        self.n_solves = 0

    def c_pairs(self, xs) -> np.ndarray:
        """(c_used, c_unused) of every row of ``xs`` (n, 3), in one vectorised call."""
        xs = np.atleast_2d(np.asarray(xs, float))
        c_pt, lam_rel, gamma = 10.0 ** xs[:, 0], np.clip(xs[:, 1], -1.0, 1.0), 10.0 ** xs[:, 2]
        r = np.maximum(c_pt + lam_rel * c_pt, 0.0) / c_pt
        with np.errstate(all="ignore"):
            used = np.asarray(self.c_ft(np.full_like(c_pt, abs(self.task.a_pt)), c_pt, r, gamma), float)
            unused = np.asarray(self.c_ft(np.zeros_like(c_pt), c_pt, r, gamma), float)
        return np.stack([used, unused], axis=-1)

    def __call__(self, x, pair=None) -> Evaluation:
        key = tuple(np.round(np.asarray(x, float), 12))
        ev = self.cache.get(key)
        if ev is None:
            pair = self.c_pairs(x)[0] if pair is None else pair
            ev = self.cache[key] = self._evaluate(init_of(x), pair)
        return ev

    def value(self, x) -> float:
        return self(x).value

    def _evaluate(self, init: Init, pair) -> Evaluation:
        if not (np.all(np.isfinite(pair)) and np.all(pair > 0.0)):      # c_FT = 0: the network cannot move
            return Evaluation(init, math.inf, False, math.nan)
        same = self.by_pair.get((float(pair[0]), float(pair[1])))
        if same is not None:      # another x with the same two scales (e.g. along a wall): same FT problem
            return Evaluation(init, same.value, same.ok, same.residual)
        ev = self._solve(init, pair)
        self.by_pair[(float(pair[0]), float(pair[1]))] = ev
        return ev

    def _solve(self, init: Init, pair) -> Evaluation:
        from dataclasses import replace

        classes = replace(self.base, c=np.where(self.used, pair[0], pair[1]))
        theta = np.log(pair)
        near = self._nearest(theta)
        values, resid, starts, ok = [], 0.0, [], True
        for j, alpha in enumerate(self.alphas):
            if alpha >= 1.0:       # closed form, independent of the initialisation
                res = _solver.solve_classes(classes, [alpha], noise=self.task.noise, accuracy=self.acc)
                good = bool(res.converged[0] and np.isfinite(res.gen_error[0]))
                values.append(float(res.gen_error[0])), starts.append(None)
                ok &= good
                continue
            start = near[j] if near is not None else None
            e, r, good, st = self._point(classes, alpha, start)
            values.append(e), starts.append(st)
            resid = max(resid, r)
            ok &= good
        self._remember(theta, starts)
        value = float(np.mean(values)) if ok else math.inf
        return Evaluation(init, value, ok, resid)

    def _remember(self, theta, starts) -> None:
        n = len(self.starts)
        if n == self.theta.shape[0]:                  # grow by doubling: no O(n) copy per candidate
            self.theta = np.concatenate([self.theta, np.full((max(n, 64), 2), np.inf)])
        self.theta[n] = theta
        self.starts.append(starts)

    def _nearest(self, theta):
        if not self.starts:
            return None
        d = np.abs(self.theta[:len(self.starts)] - theta).max(axis=1)
        return self.starts[int(np.argmin(d))]

    def _point(self, classes, alpha, start):
        """(gen_error, residual, converged, warm start for neighbours) at one alpha, with the
        convergence rules of :func:`replica.solve`."""
        self.n_solves += 1
        pt, est, met, _ = _solver._certified_point(self.kern, classes, alpha, self.noise2, 0.0, self.acc, start)
        res = max(abs(pt.f1), abs(pt.f2))
        if pt.status == 1 or (pt.status == 0 and abs(pt.e_err) <= _solver._RECOVERY_E):   # exact recovery
            return 0.0, 0.0, True, None
        good = bool(pt.status == 0 and res <= max(self.acc.tol * 100, 1e-10) and met and math.isfinite(pt.e_err)
                    and -700.0 < 2.0 * pt.ls < 700.0 and -700.0 < pt.lt < 700.0)
        return float(pt.e_err), res, good, ((pt.ls, pt.lt) if good else None)


def _grid(box, shape) -> np.ndarray:
    axes = [np.linspace(lo, hi, n) if hi > lo else np.array([lo]) for (lo, hi), n in zip(box, shape)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def _distinct_starts(points, values, k, box) -> list:
    """The k best finite grid points, skipping near-duplicates (flat valleys repeat one basin)."""
    span = np.array([max(hi - lo, 1e-12) for lo, hi in box])
    starts = []
    for i in np.argsort(values, kind="stable"):
        if not math.isfinite(values[i]):
            break
        if all(np.max(np.abs(points[i] - s) / span) > 0.15 for s in starts):
            starts.append(points[i])
        if len(starts) == k:
            break
    return starts


def optimize_init(task: Task, alphas, *, bounds: Bounds = Bounds(), grid=(9, 9, 7), n_starts: int = 3,
                  progress: bool = False) -> OptimumResult:
    """Minimise the mean predicted E_gen over ``alphas`` (see the module docstring).

    Raises :class:`ParameterError` if no point of the grid converged (nothing to return)."""
    alphas = tuple(check_alphas(alphas))
    if task.noise > 0 and any(a == 1.0 for a in alphas):
        raise ParameterError("alpha = 1 with label noise: E_gen is infinite there (the interpolation peak)")
    if len(grid) != 3 or any(int(n) < 1 for n in grid):
        raise ParameterError(f"grid must be three positive sizes, got {grid}")
    box = bounds.box()
    f = _Objective(task, alphas)
    points = _grid(box, [int(n) for n in grid])
    pairs = f.c_pairs(points)
    values = np.array([f(p, pair).value for p, pair in zip(_progress(points, progress), pairs)])
    if not np.isfinite(values).any():
        raise ParameterError("no initialisation in the search box gave a converged prediction")
    grid_best = f.cache[tuple(np.round(points[int(np.argmin(values))], 12))]
    # the paper's canonical settings also seed a refinement: regime IV's basin (lambda_PT/c_PT just
    # above -1, gamma_FT ~ 0) is narrower than a grid cell and was missed from grid points alone
    canon_x = [_clip_to_box(x_of(v), box) for v in CANONICAL.values()]
    for start in _distinct_starts(points, values, n_starts, box) + canon_x:
        so.minimize(f.value, start, method="Nelder-Mead", bounds=box,
                    options={"xatol": 1e-3, "fatol": 1e-10, "maxfev": 300, "initial_simplex": _simplex(start, box)})
    cache = f.cache
    best = _confirmed_best(task, cache, alphas)
    canonical = {k: evaluate(task, v, alphas) for k, v in CANONICAL.items()}
    regime = regime_of(task, best.init).regime
    return OptimumResult(best, alphas, canonical, grid_best, len(cache), regime, task,
                         {"grid": tuple(int(n) for n in grid), "n_starts": n_starts, "bounds": box,
                          "n_solves": f.n_solves,
                          "at_bounds": at_bounds(best.init, bounds),
                          "boundary": boundary_limit(task, best, alphas, bounds, f)})


def x_of(init: Init) -> np.ndarray:
    """Init -> x = (log10 c_PT, lambda_PT/c_PT, log10 gamma_FT); gamma_FT = 0 maps to -inf."""
    with np.errstate(divide="ignore"):
        return np.array([math.log10(init.c_pt), init.lambda_rel, np.log10(init.gamma_ft)])


def _clip_to_box(x, box) -> np.ndarray:
    return np.array([min(max(v, lo), hi) for v, (lo, hi) in zip(x, box)])


def _simplex(start, box) -> np.ndarray:
    """A simplex of 1/8 of the box around ``start`` (reflected inwards at the walls)."""
    simplex = [np.array(start, float)]
    for j, (lo, hi) in enumerate(box):
        step = (hi - lo) / 8 if hi > lo else 1e-6
        p = np.array(start, float)
        p[j] = p[j] + step if p[j] + step <= hi else p[j] - step
        simplex.append(p)
    return np.array(simplex)


def _confirmed_best(task, cache, alphas) -> Evaluation:
    """Lowest cached value whose fresh re-solve converges with the same value (never a failed point)."""
    for ev in sorted(cache.values(), key=lambda e: e.value):
        if not ev.ok:
            break
        again = evaluate(task, ev.init, alphas)
        if again.ok and abs(again.value - ev.value) <= 1e-9 * max(1.0, abs(ev.value)):
            return again
    raise ParameterError("no converged optimum could be confirmed")


def _progress(points, progress):
    if not progress:
        return points
    from tqdm.auto import tqdm

    return tqdm(points, desc="grid", unit="pt", leave=False)
