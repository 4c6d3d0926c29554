"""The PT -> FT map c_FT(beta_PT; c_PT, lambda_PT, gamma_FT) of Theorem 4.1, evaluated through the
one printed form in ``numerics.expressions`` (derived in ``symbolic.transfer``).

Why r = (c_PT + lambda_PT)/c_PT: near lambda_PT -> -c_PT (vanishing first layer) every
PT-dependent term carries that factor; forming it once (exactly 0 at lambda_PT = -c_PT) avoids
the cancellation of evaluating c_PT and lambda_PT terms apart.
"""
from __future__ import annotations

import math

import numpy as np

from .expressions import kernels
from symbolic.errors import InputError


def c_ft(beta_pt: float, c_pt: float, lambda_pt: float, gamma_ft: float) -> float:
    """c_FT for a coordinate with PT end point beta_PT (lambda_PT in absolute units).

    Returns
    -------
    float
        c_FT >= 0. Raises ValueError if it is not finite (the inputs are outside the model).
    """
    r = max(c_pt + lambda_pt, 0.0) / c_pt
    value = float(kernels().c_ft(abs(float(beta_pt)), float(c_pt), r, float(gamma_ft)))
    if not math.isfinite(value) or value < 0:
        raise InputError(f"c_FT evaluated to {value} (beta_pt={beta_pt}, c_pt={c_pt}, lambda_pt={lambda_pt})")
    return value


def c_ft_numeric(beta_pt_v, c_pt_v, lambda_pt_v, gamma_ft_v, *, normalized: bool = False) -> np.ndarray:
    """c_FT,d, broadcast over the inputs; lambda_PT in absolute units (lambda_PT/c_PT if
    ``normalized``).

    Returns
    -------
    numpy.ndarray
        c_FT with the broadcast shape of the inputs. Raises ValueError for c_PT <= 0 or
        |lambda_PT| > c_PT.
    """
    from symbolic.transfer import pt_scales

    c_arr, s_plus, _ = pt_scales(c_pt_v, lambda_pt_v, normalized)
    beta_arr = np.abs(np.asarray(beta_pt_v, dtype=float))
    g = np.asarray(gamma_ft_v, dtype=float)
    return np.asarray(kernels().c_ft(beta_arr, c_arr, s_plus / c_arr, g), dtype=float)
