"""Where an initialisation puts fine-tuning: the regime axes per coordinate group and the
I/II/III/IV classifier (docs/theory.md, "Regimes"; derivation in ``symbolic.regimes``).

Axes, evaluated at the FT teacher scale b (default 1/sqrt(rho_FT), the rms of a nonzero FT
teacher coordinate for both teachers):

* l-order  l = d log q / d log|b| in [1, 2]            (1 rich / l1-like, 2 lazy / l2-like);
* PD       = d log q / d log|beta_PT| in [1 - l, 0]    (pretraining dependence, paper's axis);
* PD_norm  eps = PD / (1 - l) = d log c_FT / d log|beta_PT| in [0, 1): PD relative to the
  largest dependence possible at that l (PD = 1 - l is the most a penalty of order l can have).

Classifier (thresholds in :class:`Thresholds`, read on the PT-used coordinates, beta_PT = a_PT,
because reuse is about how the penalty prices features that pretraining learnt):

    rich  <=>  l < l_rich (1.5, the midpoint of [1, 2]; u = b/c_FT ~ 6.5),
    dependent <=> eps >= dependence (0.5: c_FT grows at least like sqrt|beta_PT|),

    I = rich, independent    II = lazy, dependent    III = lazy, independent    IV = rich, dependent.

The functions are printed from the SymPy expressions to a cached Numba module
(``numerics.expressions``, shared with the solver's c_FT and the finite-D penalty) and broadcast over numpy grids like ufuncs (``ptft figure fig2``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from numerics.expressions import kernels

from .params import Init, ParameterError, Task
from .solver import GROUPS

REGIME_NAMES = {"I": "rich, pretraining-independent", "II": "lazy, pretraining-dependent",
                "III": "lazy, pretraining-independent", "IV": "rich, pretraining-dependent"}
# the paper's colours (figure4.py): I yellow, II purple, III grey, IV green
REGIME_COLORS = {"I": "#fde725", "II": "#3b0f70", "III": "#7f7f7f", "IV": "#22a884"}
# the four canonical settings of the paper's regime comparison (its Fig. 5 legend), c_PT = 1e-3,
# lambda_PT / c_PT (relative); regime I has c_FT = gamma^2/2 = 5e-13 on every coordinate
CANONICAL = {
    "I": Init(c_pt=1e-3, lambda_pt=-1.0, gamma_ft=1e-6, relative=True),
    "II": Init(c_pt=1e-3, lambda_pt=0.0, gamma_ft=0.0, relative=True),
    "III": Init(c_pt=1e-3, lambda_pt=0.0, gamma_ft=10.0, relative=True),
    "IV": Init(c_pt=1e-3, lambda_pt=-0.99, gamma_ft=0.0, relative=True),
}


@dataclass(frozen=True)
class Thresholds:
    """l_rich : l below it is rich; dependence : eps = PD/(1-l) at or above it is PT-dependent."""

    l_rich: float = 1.5
    dependence: float = 0.5

    def __post_init__(self):
        if not 1.0 < self.l_rich < 2.0:
            raise ParameterError(f"l_rich must lie in (1, 2), got {self.l_rich}")
        if not 0.0 < self.dependence < 1.0:
            raise ParameterError(f"dependence threshold must lie in (0, 1), got {self.dependence}")


# -- compiled axes: the one printed module of derived expressions ---------------------------------
_kernels = kernels


def _check_grid(name: str, arr: np.ndarray, lo: float, lo_open: bool) -> None:
    bad = ~np.isfinite(arr) | ((arr <= lo) if lo_open else (arr < lo))
    if np.any(bad):
        op = ">" if lo_open else ">="
        raise ParameterError(f"{name} must be finite and {op} {lo:g}, got {arr[bad].flat[0]:g}")


def axes(b, beta_pt, c_pt, lambda_rel, gamma_ft) -> dict[str, np.ndarray]:
    """Regime axes, broadcast over the inputs (numpy arrays or scalars).

    b : |beta_FT|, the scale at which the penalty is read (> 0);
    beta_pt : |beta_PT,d|; c_pt : c_PT > 0; lambda_rel : lambda_PT / c_PT in [-1, 1];
    gamma_ft : gamma_FT >= 0.

    Returns
    -------
    dict of str to numpy.ndarray
        'c_ft', 'u' = b / c_FT, 'l_order', 'pd' and 'pd_norm' (= eps), broadcast over the inputs.
    """
    arrs = [np.asarray(v, dtype=float) for v in (b, beta_pt, c_pt, lambda_rel, gamma_ft)]
    b, beta_pt, c_pt, lam, gamma = np.broadcast_arrays(*arrs)
    _check_grid("b", b, 0.0, True)
    _check_grid("c_pt", c_pt, 0.0, True)
    _check_grid("gamma_ft", gamma, 0.0, False)
    if np.any(~(np.abs(lam) <= 1.0 + 1e-12)):
        raise ParameterError("lambda_pt / c_pt must lie in [-1, 1]")
    k = _kernels()
    r = np.clip(1.0 + lam, 0.0, 2.0)
    cft = k.c_ft(np.abs(beta_pt), c_pt, r, gamma)
    if np.any(~(cft > 0)):
        raise ParameterError("c_FT = 0 (lambda_pt = -c_pt with gamma_ft = 0): the FT network cannot move")
    u = b / cft
    l_ord = np.clip(k.l_order_u(u), 1.0, 2.0)    # proven range; the clip only removes 1-ulp round-off
    eps = k.elasticity(np.abs(beta_pt), c_pt, r, gamma)
    pd = (1.0 - l_ord) * eps + 0.0                # + 0.0: no "-0" where eps = 0
    return {"c_ft": cft, "u": u, "l_order": l_ord, "pd": pd, "pd_norm": eps}


def q_penalty(b, c) -> np.ndarray:
    """q_c(|b|), the FT penalty of one coordinate (compiled from the symbolic layer).

    Returns
    -------
    numpy.ndarray
        q_c(|b|), broadcast over ``b`` and ``c``.
    """
    return _kernels().q_c(np.abs(np.asarray(b, dtype=float)), np.asarray(c, dtype=float))


def classify(l_order, pd_norm, thresholds: Thresholds = Thresholds()) -> np.ndarray:
    """The regime of each (l, eps) pair (see the module docstring).

    Returns
    -------
    numpy.ndarray of str
        'I', 'II', 'III' or 'IV', broadcast over the inputs.
    """
    rich = np.asarray(l_order) < thresholds.l_rich
    dep = np.asarray(pd_norm) >= thresholds.dependence
    return np.where(rich, np.where(dep, "IV", "I"), np.where(dep, "II", "III"))


# -- one setting on one task ------------------------------------------------------------------
@dataclass(frozen=True)
class RegimeReport:
    """Axes of one (task, init) per coordinate group, and the setting's regime.

    rows : one dict per group (group, in_pt, in_ft, beta_pt, c_ft, b, u, l_order, pd, pd_norm);
    regime : read on the PT-used coordinates (beta_PT = a_PT);
    cost_ratio : q_{c_FT(0)}(b) / q_{c_FT(a_PT)}(b) >= 1, how much dearer an unused feature of
        size b is than a PT-used one (exp of PD integrated over log|beta_PT| from 0 to a_PT).
    """

    rows: tuple
    regime: str
    l_order: float
    pd: float
    pd_norm: float
    cost_ratio: float
    b: float
    thresholds: Thresholds
    init: Init
    task: Task

    @property
    def description(self) -> str:
        return REGIME_NAMES[self.regime]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(list(self.rows))


def regime_of(task: Task, init: Init, *, b: float | None = None,
              thresholds: Thresholds = Thresholds()) -> RegimeReport:
    """Axes per coordinate group and the regime of ``init`` on ``task`` (b = teacher scale
    1/sqrt(rho_FT) unless given).

    Returns
    -------
    RegimeReport
        ``regime`` ('I' .. 'IV'), the axes read on the PT-used coordinates (``l_order``, ``pd``,
        ``pd_norm``), the penalty cost ratio unused/used and one row of axes per group.
    """
    b = 1.0 / math.sqrt(task.rho_ft) if b is None else float(b)
    if not (math.isfinite(b) and b > 0):
        raise ParameterError(f"the scale b must be a finite number > 0, got {b}")
    in_pt = [name in ("shared", "pt_only") for name in GROUPS]
    bpt = np.where(in_pt, abs(task.a_pt), 0.0)
    ax = axes(b, bpt, init.c_pt, init.lambda_rel, init.gamma_ft)         # all four groups at once
    weights = task.group_weights()
    rows = [{"group": name, "in_pt": in_pt[j], "in_ft": name in ("shared", "new"), "weight": weights[name],
             "beta_pt": float(bpt[j]), "c_ft": float(ax["c_ft"][j]), "b": b, "u": float(ax["u"][j]),
             "l_order": float(ax["l_order"][j]), "pd": float(ax["pd"][j]), "pd_norm": float(ax["pd_norm"][j])}
            for j, name in enumerate(GROUPS)]
    used = rows[0]
    cost = float(q_penalty(b, rows[3]["c_ft"]) / q_penalty(b, used["c_ft"]))
    regime = str(classify(used["l_order"], used["pd_norm"], thresholds))
    return RegimeReport(tuple(rows), regime, used["l_order"], used["pd"], used["pd_norm"], cost, b,
                        thresholds, init, task)
