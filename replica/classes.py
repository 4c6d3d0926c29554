"""Coordinate classes: the groups of coordinates that share a penalty scale c_FT, a teacher
law and an input variance. The replica channel is solved per class (``replica.solver``); this
module builds the classes of a PT+FT task (four groups) and of a single task."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from numerics.transfer import c_ft

from .params import Init, ParameterError, Task

GROUPS = ("shared", "new", "pt_only", "none")
KIND_ZERO, KIND_GAUSS, KIND_FIXED = 0, 1, 2


@dataclass(frozen=True)
class Classes:
    """Coordinate classes: weight, penalty scale c, teacher kind and parameter, group, and
    optionally the input variance of each class (x_d ~ N(0, s/D); None: all 1)."""

    weight: np.ndarray
    c: np.ndarray
    kind: np.ndarray
    par: np.ndarray
    group: np.ndarray
    group_names: tuple
    variance: np.ndarray | None = None

    @cached_property
    def svar(self) -> np.ndarray:
        return np.ones(self.weight.size) if self.variance is None else self.variance


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
