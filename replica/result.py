"""``SolveResult``: the per-alpha replica predictions a solve returns, with a short summary,
a pandas frame and a plot. Its flags are final: a point whose gen_error is inf or NaN is never
``converged`` (checked when the result is built, so the Python API and the command line agree).
``parameter_columns`` is the one row builder: the parameter columns every output carries."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from symbolic.errors import InputError


@dataclass(frozen=True)
class SolveResult:
    """Per-alpha replica predictions (arrays aligned with ``alpha``).

    gen_error : E_gen = E[(eta - beta*)^2] = ||beta_hat - beta*||^2 / D (parameter MSE,
        the noiseless test MSE); ``test_error`` adds sigma_noise^2 for a noisy test label.
    gen_error_err : a-posteriori bound on |gen_error - exact replica value| (quadrature,
        from the same rule at steps 2h and 4h, plus the residual); a point whose bound
        exceeds ``rtol * gen_error + 1e-14`` after refinement is ``converged=False``.
    active_fraction : P(|beta_hat_d| > 1e-6) under the exact law of the estimate (closed
        form through the monotone prox; ~1 for smooth penalties, the support size for l1).
    group_error : conditional per-coordinate error in each group (columns = group_names).
    phase : 'interior', 'recovery' (sigma = 0 is the fixed point: exact recovery),
        'closed-form' (alpha >= 1 without reg), 'divergent' (gen_error infinite or NaN:
        alpha = 1 with label noise, where the min-norm interpolator's error has a pole).
    param_error : parameter MSE ||beta_hat - beta*||^2 / D when the inputs are anisotropic
        (then gen_error is the test MSE on fresh inputs); None for isotropic inputs, where
        the two coincide.

    A point whose gen_error is not finite is ``converged=False`` whatever the solver said
    (set here, at construction: inf/NaN is never a success).
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
    gen_error_err: np.ndarray | None = None
    param_error: np.ndarray | None = None

    def __post_init__(self):
        conv = np.asarray(self.converged, bool)
        bad = conv & ~np.isfinite(np.asarray(self.gen_error, float))
        if bad.any():            # the one place the non-finite rule is applied
            object.__setattr__(self, "converged", conv & ~bad)
            object.__setattr__(self, "phase", np.where(bad, "divergent", np.asarray(self.phase)))

    def to_frame(self):
        import pandas as pd

        cols = {"alpha": self.alpha, "gen_error": self.gen_error, "test_error": self.test_error}
        if self.param_error is not None:
            cols["param_error"] = self.param_error
        cols.update(sigma=self.sigma, tau=self.tau)
        for j, name in enumerate(self.group_names):
            cols[f"err_{name}"] = self.group_error[:, j]
        cols["active_fraction"] = self.active_fraction
        if self.gen_error_err is not None:
            cols["gen_error_err"] = self.gen_error_err
        cols.update(residual=self.residual,
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
        cols = {"alpha": self.alpha, "gen_error": self.gen_error}
        if self.gen_error_err is not None:
            cols["gen_error_err"] = self.gen_error_err
        cols.update(residual=self.residual, converged=self.converged, phase=self.phase)
        frame = pd.DataFrame(cols)
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
            raise InputError(f"unknown column {y!r}; choose from {', '.join(frame.columns)}")
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


def flag_nonfinite(result):
    """``result`` itself: :class:`SolveResult` applies the rule (inf/NaN gen_error is never
    converged, phase 'divergent') when it is built. Kept for older callers."""
    return result


# The parameter columns of every output row, in this order (both lambda conventions).
PARAMETER_COLUMNS = ("c_pt", "lambda_pt", "lambda_pt_rel", "gamma_ft", "rho_pt", "rho_ft", "omega", "a_pt",
                     "teacher", "noise", "reg")


def parameter_columns(task, init, reg: float = 0.0, **extra) -> dict:
    """The one row builder: the parameters of a PT+FT point as output columns.

    ``lambda_pt`` is lambda_PT in absolute units and ``lambda_pt_rel`` = lambda_PT / c_PT;
    both are always present. ``init=None`` leaves out the initialisation columns (for a
    table whose rows are initialisations). ``extra`` (e.g. ``alpha_pt``) is appended.

    Returns
    -------
    dict
        {column: value} in the order of :data:`PARAMETER_COLUMNS`, then ``extra``.
    """
    cols = {} if init is None else {"c_pt": float(init.c_pt), "lambda_pt": float(init.lambda_abs),
                                    "lambda_pt_rel": float(init.lambda_rel), "gamma_ft": float(init.gamma_ft)}
    cols.update({"rho_pt": float(task.rho_pt), "rho_ft": float(task.rho_ft),
            "omega": float(task.omega), "a_pt": float(task.a_pt), "teacher": task.teacher,
            "noise": float(task.noise), "reg": float(reg)})
    cols.update(extra)
    return cols
