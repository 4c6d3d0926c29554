"""The rows of a prediction table: one group of a grid solved and laid out as columns."""
from __future__ import annotations

import numpy as np

from ..grid import Grid, make_task_init
from replica.params import ParameterError
from replica.result import PARAMETER_COLUMNS
from replica.solver import GROUPS

FLOAT_OUT = (["gen_error", "test_error", "sigma", "tau"] + [f"err_{g}" for g in GROUPS]
             + ["active_fraction", "gen_error_err", "residual"])
INPUTS = PARAMETER_COLUMNS + ("alpha",)        # the parameter columns every output carries
# row layout: keys, every input, every output of `ptft solve`, status, provenance
COLUMNS = (("point", "group") + INPUTS + tuple(FLOAT_OUT)
           + ("converged", "phase", "n_evals", "c_ft_used", "c_ft_unused", "status", "message", "ptft_version"))
# appended when the grid sets ``bayes = true``: the limit of the same task (replica.bayes)
BAYES_COLUMNS = ("bayes_error", "bayes_error_err", "amp_error", "amp_error_err", "efficiency")


def columns(grid: Grid) -> tuple:
    """The row layout of ``grid``'s table: :data:`COLUMNS`, then the limit columns if asked."""
    return COLUMNS + (BAYES_COLUMNS if grid.bayes else ())


def ptft_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ptft")
    except PackageNotFoundError:
        return "unknown"


def compute_chunk(grid: Grid, lo: int, hi: int):
    """Rows of groups ``lo <= g < hi`` as a DataFrame with columns :data:`COLUMNS`."""
    return compute_groups(grid, range(lo, hi))


def compute_groups(grid: Grid, groups):
    """Rows of the given groups, in that order (see :func:`compute_chunk`).

    An infeasible group (``ParameterError`` from Task/Init/c_FT) gives rows with
    ``status='infeasible'``, the message and NaN outputs; any other exception propagates
    (the chunk fails as a whole and is recomputed on resume).
    """
    import pandas as pd

    from replica.solver import solve

    names = columns(grid)
    cols: dict[str, list] = {name: [] for name in names}
    alphas = np.asarray(grid.alphas, float)
    n_a = alphas.size
    version = ptft_version()
    limits: dict = {}          # one limit per task: it does not depend on the initialisation
    for g in groups:
        g = int(g)
        params = grid.group_params(g)
        try:
            task, init = make_task_init(grid, params)
            res = solve(task, init, alphas, reg=params["reg"])
            out, message = _solved_columns(res), ""
            if grid.bayes:
                out.update(_limit_columns(limits, task, alphas, out["gen_error"]))
        except ParameterError as err:
            out, message = _infeasible_columns(n_a), str(err)
            if grid.bayes:
                out.update({k: np.full(n_a, np.nan) for k in BAYES_COLUMNS})
        _append_group(cols, names, g, params, alphas, out, message, version)
    frame = pd.DataFrame({k: np.concatenate(v) if v else [] for k, v in cols.items()})
    return _typed(frame)


def _limit_columns(limits: dict, task, alphas, gen_error) -> dict:
    """bayes_error, amp_error (NaN where the limit is not certified) and efficiency =
    bayes_error / gen_error (1 where both vanish: the network then reaches the limit)."""
    from replica.bayes import solve_bayes

    if task not in limits:
        limits[task] = solve_bayes(task, alphas)
    lim = limits[task]
    ok = lim.converged
    out = {k: np.where(ok, getattr(lim, k), np.nan) for k in BAYES_COLUMNS[:4]}
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = out["bayes_error"] / gen_error
    out["efficiency"] = np.where((out["bayes_error"] == 0.0) & (gen_error == 0.0), 1.0, eff)
    return out


def _solved_columns(res) -> dict:
    from replica.solver import flag_nonfinite

    res = flag_nonfinite(res)              # inf/NaN is never 'ok' (alpha = 1 with noise: 'divergent')
    out = {"gen_error": res.gen_error, "test_error": res.test_error, "sigma": res.sigma, "tau": res.tau,
           "active_fraction": res.active_fraction, "gen_error_err": res.gen_error_err, "residual": res.residual,
           "converged": res.converged, "phase": res.phase, "n_evals": res.n_evals}
    for j, name in enumerate(res.group_names):
        out[f"err_{name}"] = res.group_error[:, j]
    n = res.alpha.size
    out["c_ft_used"] = np.full(n, res.info["c_ft_used"])
    out["c_ft_unused"] = np.full(n, res.info["c_ft_unused"])
    out["status"] = np.where(res.converged, "ok", "noconv")
    return out


def _infeasible_columns(n: int) -> dict:
    out = {k: np.full(n, np.nan) for k in FLOAT_OUT + ["c_ft_used", "c_ft_unused"]}
    out.update(converged=np.zeros(n, bool), phase=np.full(n, ""), n_evals=np.zeros(n, np.int64),
               status=np.full(n, "infeasible"))
    return out


def _append_group(cols, names, g, params, alphas, out, message, version):
    n = alphas.size
    lam = params.get("lambda_pt_rel", params.get("lambda_pt"))
    relative = "lambda_pt_rel" in params
    lam_abs, lam_rel = (lam * params["c_pt"], lam) if relative else (lam, lam / params["c_pt"])
    scalars = dict(params, lambda_pt=lam_abs, lambda_pt_rel=lam_rel, message=message, ptft_version=version)
    cols["point"].append(g * n + np.arange(n, dtype=np.int64))
    cols["group"].append(np.full(n, g, np.int64))
    cols["alpha"].append(alphas)
    for name in names:
        if name in out:
            cols[name].append(np.asarray(out[name]))
        elif name in scalars:
            cols[name].append(np.full(n, scalars[name], dtype=object if isinstance(scalars[name], str) else float))


def _typed(frame):
    ints = {"point": "int64", "group": "int64", "n_evals": "int64", "converged": "bool"}
    for name in frame.columns:
        if name in ints:
            frame[name] = frame[name].astype(ints[name])
        elif name in ("teacher", "phase", "status", "message", "ptft_version"):
            frame[name] = frame[name].astype(str)
        else:
            frame[name] = frame[name].astype("float64")
    return frame
