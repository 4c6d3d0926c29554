"""The replica (state-evolution) solution of the fine-tuning problem, per alpha_FT.

For beta_hat = argmin sum_d Q_d(beta_d) s.t. X beta = y (or, with ``reg`` > 0, the penalised
form argmin (1/2N) ||y - X beta||^2 + (reg/D) sum_d Q_d(beta_d): mean loss, mean penalty) each
coordinate class k is a scalar prox channel, and the order parameters (sigma, tau) solve

    E[eta'] = alpha (1 - reg / tau),    alpha sigma^2 = sigma_noise^2 + E[(eta - beta*)^2].

(x ~ N(0, I/D).  THEORY.md section 5 writes ``alpha sigma_noise^2`` in the second equation;
that undercounts label noise by a factor alpha when alpha < 1 -- Monte Carlo of the noisy
min-norm interpolator and the Wishart moment alpha s^2 / (1 - alpha) agree with the form
used here, which is also continuous with the alpha > 1 closed form s^2 / (alpha - 1).)

The expectations and both solvers run in the generated Numba kernels (``numerics``);
this module builds the coordinate classes, walks the alpha grid with continuation and
packages the result.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from numerics import codegen
from numerics.transfer import c_ft

from .params import Init, ParameterError, Task, _finite, check_alphas

GROUPS = ("shared", "new", "pt_only", "none")
KIND_ZERO, KIND_GAUSS, KIND_FIXED = 0, 1, 2
# below this sigma the fixed point is declared exact recovery (sigma^2 stays a normal float)
_LOG_SIGMA_FLOOR = math.log(1e-120)


@dataclass(frozen=True)
class Accuracy:
    """Quadrature and solver settings.

    The defaults agree with ``Accuracy(ksd=12, h_max=0.02, m_min=400)`` to 7.5e-12 relative
    in gen_error (max over 4 regimes x 3 tasks x 100 alphas, gen_error > 1e-6) and with the
    SciPy baseline to 2e-13 at 6 points: ``python benchmarks/bench_solver.py``
    (``max_rel_err_vs_ref``, ``max_rel_diff_vs_scipy`` in benchmarks/results/solver.json)."""

    ksd: float = 9.0        # integrate z over mean +- ksd standard deviations
    h_max: float = 0.1      # largest trapezoid step in the map variable s
    m_min: int = 64         # fewest trapezoid intervals per segment
    tol: float = 1e-12      # |scaled residual| at convergence
    max_newton: int = 40


@dataclass(frozen=True)
class Classes:
    """Coordinate classes: weight, penalty scale c, teacher kind and parameter, group."""

    weight: np.ndarray
    c: np.ndarray
    kind: np.ndarray
    par: np.ndarray
    group: np.ndarray
    group_names: tuple


@dataclass(frozen=True)
class SolveResult:
    """Per-alpha replica predictions (arrays aligned with ``alpha``).

    gen_error : E_gen = E[(eta - beta*)^2] = ||beta_hat - beta*||^2 / D (parameter MSE,
        the noiseless test MSE); ``test_error`` adds sigma_noise^2 for a noisy test label.
    group_error : conditional per-coordinate error in each group (columns = group_names).
    phase : 'interior', 'recovery' (sigma = 0 is the fixed point: exact recovery),
        'closed-form' (alpha >= 1 without reg).
    """

    alpha: np.ndarray
    gen_error: np.ndarray
    test_error: np.ndarray
    sigma: np.ndarray
    tau: np.ndarray
    group_error: np.ndarray
    active_fraction: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    phase: np.ndarray
    n_evals: np.ndarray
    group_names: tuple
    info: dict = field(default_factory=dict)

    def to_frame(self):
        import pandas as pd

        cols = {"alpha": self.alpha, "gen_error": self.gen_error, "test_error": self.test_error,
                "sigma": self.sigma, "tau": self.tau}
        for j, name in enumerate(self.group_names):
            cols[f"err_{name}"] = self.group_error[:, j]
        cols.update(active_fraction=self.active_fraction, residual=self.residual,
                    converged=self.converged, phase=self.phase, n_evals=self.n_evals)
        frame = pd.DataFrame(cols)
        for key, value in self.info.items():
            frame[key] = value
        return frame

    def __repr__(self) -> str:
        n, bad = len(self.alpha), int(np.sum(~np.asarray(self.converged, bool)))
        span = f"alpha {self.alpha.min():g}..{self.alpha.max():g}" if n else "no alpha"
        err = f", gen_error {np.nanmin(self.gen_error):.3g}..{np.nanmax(self.gen_error):.3g}" if n else ""
        conv = "all converged" if bad == 0 else f"{bad} NOT converged"
        return f"<SolveResult: {n} points, {span}{err}, {conv}; use .summary(), .to_frame(), .plot()>"

    def summary(self, max_rows: int = 10) -> str:
        """A short text report: the parameters, then alpha, gen_error, converged and phase
        (at most ``max_rows`` rows, evenly spaced, always with the first and last).

        Returns
        -------
        str
            The report (also what ``print(result)`` shows).
        """
        import pandas as pd

        params = "  ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.info.items())
        frame = pd.DataFrame({"alpha": self.alpha, "gen_error": self.gen_error, "residual": self.residual,
                              "converged": self.converged, "phase": self.phase})
        if len(frame) > max_rows:
            frame = frame.iloc[np.unique(np.linspace(0, len(frame) - 1, max_rows).round().astype(int))]
        bad = int(np.sum(~np.asarray(self.converged, bool)))
        tail = f"{len(self.alpha)} points, " + ("all converged" if bad == 0 else f"{bad} NOT converged (flagged)")
        return f"{params}\n{frame.to_string(index=False)}\n{tail}"

    __str__ = summary

    def plot(self, ax=None, y: str = "gen_error", **kwargs):
        """Plot ``y`` (a column of :meth:`to_frame`) against alpha on a log scale; points that did
        not converge are marked with a red x.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on (a new figure's if ``ax`` is None).
        """
        import matplotlib.pyplot as plt

        frame = self.to_frame()
        if y not in frame:
            raise ValueError(f"unknown column {y!r}; choose from {', '.join(frame.columns)}")
        ax = plt.subplots()[1] if ax is None else ax
        ax.plot(frame["alpha"], frame[y], **kwargs)
        bad = ~frame["converged"].astype(bool)
        if bad.any():
            ax.plot(frame["alpha"][bad], frame[y][bad], "rx", label="not converged")
        if (frame[y] > 0).all():
            ax.set_yscale("log")
        ax.set_xlabel("alpha_FT = N_FT / D")
        ax.set_ylabel(y)
        return ax


# -- coordinate classes --------------------------------------------------------------------
def ptft_classes(task: Task, init: Init) -> Classes:
    """Four groups; PT-used coordinates get c_FT(a_PT), unused ones c_FT(0)."""
    lam = init.lambda_abs
    c_used = c_ft(abs(task.a_pt), init.c_pt, lam, init.gamma_ft)
    c_unused = c_ft(0.0, init.c_pt, lam, init.gamma_ft)
    if c_used <= 0.0 or c_unused <= 0.0:
        raise ParameterError(
            "c_FT = 0 (lambda_pt = -c_pt with gamma_ft = 0): the FT network cannot move; use gamma_ft > 0")
    weights = task.group_weights()
    w, cs, kinds, pars, groups = [], [], [], [], []
    for gi, name in enumerate(GROUPS):
        has_teacher = name in ("shared", "new")
        cval = c_used if name in ("shared", "pt_only") else c_unused
        _append_teacher(w, cs, kinds, pars, groups, weights[name], cval, has_teacher, task, gi)
    return _pack(w, cs, kinds, pars, groups, GROUPS)


def _append_teacher(w, cs, kinds, pars, groups, weight, cval, has_teacher, task, gi, even=True):
    if not has_teacher:
        w.append(weight), cs.append(cval), kinds.append(KIND_ZERO), pars.append(0.0), groups.append(gi)
    elif task.teacher == "gaussian":
        w.append(weight), cs.append(cval), kinds.append(KIND_GAUSS), pars.append(1.0 / task.rho_ft), groups.append(gi)
    else:
        amp = 1.0 / math.sqrt(task.rho_ft)
        signs = (1.0,) if even else (1.0, -1.0)     # an odd prox makes +-A equivalent
        for sgn in signs:
            w.append(weight / len(signs)), cs.append(cval), kinds.append(KIND_FIXED)
            pars.append(sgn * amp), groups.append(gi)


def _pack(w, cs, kinds, pars, groups, names) -> Classes:
    return Classes(np.array(w, float), np.array(cs, float), np.array(kinds, np.int64),
                   np.array(pars, float), np.array(groups, np.int64), tuple(names))


def single_classes(rho: float, teacher: str, c: float = 1.0, even: bool = True) -> Classes:
    """Single task: a fraction rho of coordinates carries the teacher (N(0, 1/rho) or 1/sqrt(rho))."""
    task = Task(rho_pt=0.0, rho_ft=rho, omega=0.0, teacher=teacher)
    w, cs, kinds, pars, groups = [], [], [], [], []
    _append_teacher(w, cs, kinds, pars, groups, rho, c, True, task, 0, even)
    _append_teacher(w, cs, kinds, pars, groups, 1.0 - rho, c, False, task, 1, even)
    return _pack(w, cs, kinds, pars, groups, ("support", "off_support"))


# -- one point and a curve ---------------------------------------------------------------
def _guess(classes: Classes, alpha: float, noise: float, reg: float):
    """Cold start (used only to seed the bracketed solve)."""
    signal = float(np.sum(classes.weight * np.where(classes.kind == KIND_ZERO, 0.0,
                                                   np.where(classes.kind == KIND_GAUSS, classes.par,
                                                            classes.par ** 2))))
    sigma2 = max((signal * max(1.0 - alpha, 0.05) + noise**2) / alpha, 1e-8)
    tau = max(2.0 * float(np.median(classes.c)) * max(1.0 - alpha, 0.05) / alpha, reg * 2.0, 1e-8)
    return 0.5 * math.log(sigma2), math.log(tau)


def _solve_point(kern, classes, alpha, noise2, reg, acc: Accuracy, start):
    args = (alpha, noise2, reg, classes.weight, classes.c, classes.kind, classes.par,
            acc.ksd, acc.h_max, acc.m_min)
    per = np.zeros((classes.weight.size, 3))
    nev = 0
    ok = False
    if start is not None:
        ls, lt, f1, f2, ok, k = kern.solve_newton(start[0], start[1], *args, per, acc.tol, acc.max_newton)
        nev += k
    status = 0
    if not ok:
        ls0, lt0 = start if start is not None else _guess(classes, alpha, math.sqrt(noise2), reg)
        ls, lt, f1, f2, status, k = kern.solve_nested(ls0, lt0, *args, per, _LOG_SIGMA_FLOOR)
        nev += k
        if status == 0:   # polish the bracketed root
            ls, lt, f1, f2, ok, k = kern.solve_newton(ls, lt, *args, per, acc.tol, 8)
            nev += k
    if ok:       # Newton's last evaluation was at (ls, lt): per and f1, f2 are current
        e_err = float(classes.weight @ per[:, 1])
    else:
        f1, f2, e_err = kern.residuals(ls, lt, *args, per)
    return ls, lt, f1, f2, e_err, status, nev, per


def solve_classes(classes: Classes, alphas, *, noise: float = 0.0, reg: float = 0.0,
                  kernels="hypent", accuracy: Accuracy | None = None, progress=False,
                  info: dict | None = None) -> SolveResult:
    """Solve the saddle point for each alpha (ascending continuation); see :func:`solve`."""
    acc = accuracy or Accuracy()
    kern = codegen.builtin(kernels) if isinstance(kernels, str) else kernels
    alphas = np.asarray(check_alphas(alphas), float)
    reg = float(reg)
    if not (math.isfinite(reg) and reg >= 0):
        raise ParameterError(f"reg must be a finite number >= 0, got {reg}")
    order = np.argsort(alphas, kind="stable")
    n, ng = alphas.size, len(classes.group_names)
    out = {k: np.full(n, np.nan) for k in ("gen", "sigma", "tau", "act", "res")}
    gerr = np.full((n, ng), np.nan)
    conv = np.zeros(n, bool)
    phase = np.empty(n, object)
    nevs = np.zeros(n, np.int64)
    start = None
    iterator = _progress(order, progress)
    for i in iterator:
        alpha = float(alphas[i])
        if reg == 0.0 and alpha >= 1.0:
            _closed_form(i, alpha, noise, classes, out, gerr, conv, phase)
            continue
        ls, lt, f1, f2, e_err, status, nev, per = _solve_point(kern, classes, alpha, noise**2, reg, acc, start)
        nevs[i] = nev
        res = max(abs(f1), abs(f2))
        if status == 1:      # exact recovery: sigma -> 0 is the fixed point
            out["gen"][i], out["sigma"][i], out["tau"][i], out["res"][i] = 0.0, 0.0, 0.0, 0.0
            gerr[i] = 0.0
            out["act"][i] = float(np.sum(classes.weight[classes.kind != KIND_ZERO]))
            conv[i], phase[i] = True, "recovery"
            continue
        # a penalty without a minimum (e.g. exp(-b)) can drive the solve off to infinity:
        # report that point as not converged rather than overflow
        out["gen"][i], out["sigma"][i], out["tau"][i], out["res"][i] = e_err, _exp(ls), _exp(lt), res
        out["act"][i] = float(np.sum(classes.weight * per[:, 2]))
        gerr[i] = _group_errors(classes, per, ng)
        conv[i] = bool(status == 0 and res <= max(acc.tol * 100, 1e-10) and math.isfinite(e_err)
                       and math.isfinite(out["sigma"][i]) and math.isfinite(out["tau"][i]))
        phase[i] = "interior"
        start = (ls, lt) if conv[i] else None
    return SolveResult(alphas, out["gen"], out["gen"] + noise**2, out["sigma"], out["tau"], gerr,
                       out["act"], out["res"], conv, phase.astype(str), nevs, classes.group_names,
                       dict(info or {}))


def _exp(v: float) -> float:
    return math.exp(v) if v < 700.0 else math.inf


def _group_errors(classes, per, ng):
    num = np.zeros(ng)
    den = np.zeros(ng)
    np.add.at(num, classes.group, classes.weight * per[:, 1])
    np.add.at(den, classes.group, classes.weight)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _closed_form(i, alpha, noise, classes, out, gerr, conv, phase):
    """alpha >= 1, interpolation: beta* is the only interpolator (noiseless), else the
    lambda -> 0 limit is least squares with E = sigma_noise^2 / (alpha - 1)."""
    if noise == 0.0:
        e = 0.0
    else:
        e = math.inf if alpha == 1.0 else noise**2 / (alpha - 1.0)
    out["gen"][i], out["tau"][i], out["res"][i] = e, 0.0, 0.0
    out["sigma"][i] = math.sqrt((e + noise**2) / alpha) if math.isfinite(e) else math.inf
    gerr[i] = e
    out["act"][i] = float(np.sum(classes.weight[classes.kind != KIND_ZERO])) if noise == 0 else 1.0
    conv[i], phase[i] = True, "closed-form"


def _progress(order, progress):
    if not progress:
        return order
    from tqdm.auto import tqdm

    return tqdm(order, desc="alpha", unit="pt", leave=False)


def solve(task: Task, init: Init, alphas, *, reg: float = 0.0, accuracy: Accuracy | None = None,
          progress: bool = False) -> SolveResult:
    """Replica prediction for PT+FT at each ``alpha`` (alpha_FT = N_FT / D).

    Parameters
    ----------
    task, init : :class:`Task`, :class:`Init`
    alphas : iterable of float > 0
    reg : explicit penalty strength >= 0 of the penalised form
        (1/2N)||y - X beta||^2 + (reg/D) sum_d q(beta_d); 0 (default) is the exact
        interpolation limit.

    Returns
    -------
    SolveResult
        Per-alpha predictions (gen_error, order parameters, per-group errors, convergence flags);
        ``info`` holds the parameters and c_FT on PT-used and unused coordinates.
    """
    classes = ptft_classes(task, init)
    info = {"c_pt": init.c_pt, "lambda_pt": init.lambda_abs, "lambda_pt_rel": init.lambda_rel,
            "gamma_ft": init.gamma_ft, "rho_pt": task.rho_pt, "rho_ft": task.rho_ft, "omega": task.omega,
            "a_pt": task.a_pt, "teacher": task.teacher, "noise": task.noise, "reg": reg,
            "c_ft_used": float(classes.c[0]) if classes.c.size else math.nan,
            "c_ft_unused": float(classes.c[-1]) if classes.c.size else math.nan}
    return solve_classes(classes, alphas, noise=task.noise, reg=reg, accuracy=accuracy,
                         progress=progress, info=info)


def solve_single(penalty: str, rho: float, alphas, *, teacher: str = "gaussian", noise: float = 0.0,
                 c: float = 1.0, reg: float = 0.0, accuracy: Accuracy | None = None) -> SolveResult:
    """Single-task replica prediction for any convex penalty given as SymPy text in b
    (and optionally the scale c), or a built-in name: 'hypent' (q_c), 'ridge', 'l1'.

    Returns
    -------
    SolveResult
        Per-alpha predictions; ``info`` holds the penalty and the task parameters.
    """
    c = float(c)
    if not (math.isfinite(c) and c > 0):
        raise ParameterError(f"c must be a finite number > 0, got {c}")
    rho = _finite("rho", rho)
    if not 0.0 < rho <= 1.0:
        raise ParameterError(f"rho must lie in (0, 1], got {rho:g}")
    Task(rho_pt=0.0, rho_ft=rho, omega=0.0, teacher=teacher, noise=noise)   # validates teacher, noise
    kern = codegen.builtin(penalty) if penalty in ("hypent", "ridge", "l1") else codegen.from_expression(penalty)
    classes = single_classes(rho, teacher, c, even=bool(kern.IS_EVEN))
    info = {"penalty": penalty, "rho": rho, "teacher": teacher, "noise": noise, "c": c, "reg": reg}
    return solve_classes(classes, alphas, noise=noise, reg=reg, kernels=kern, accuracy=accuracy, info=info)
