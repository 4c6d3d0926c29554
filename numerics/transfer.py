"""The PT -> FT map c_FT(beta_PT; c_PT, lambda_PT, gamma_FT) of Theorem 4.1, evaluated through the
one printed form in ``numerics.expressions`` (derived in ``symbolic.transfer``).

Why r = (c_PT + lambda_PT)/c_PT: near lambda_PT -> -c_PT (vanishing first layer) every
PT-dependent term carries that factor; forming it once (exactly 0 at lambda_PT = -c_PT) avoids
the cancellation of evaluating c_PT and lambda_PT terms apart.
"""
from __future__ import annotations

import math

import numpy as np

from .expressions import kernels, state_kernels
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
    c_arr, s_plus, _ = pt_scales(c_pt_v, lambda_pt_v, normalized)
    beta_arr = np.abs(np.asarray(beta_pt_v, dtype=float))
    g = np.asarray(gamma_ft_v, dtype=float)
    return np.asarray(kernels().c_ft(beta_arr, c_arr, s_plus / c_arr, g), dtype=float)


def pt_scales(c_pt_v, lambda_pt_v, normalized: bool):
    """(c, s_+ = c + lambda, s_- = c - lambda) as float arrays, checked by the registry's rules
    (c_PT > 0 in range, |lambda_PT| <= c_PT); for normalised input s_+ = c (1 + lt) is one
    factor, exact at lt = -1."""
    from symbolic.registry import PARAMS, check, check_lambda, lambda_holds

    c_arr = np.asarray(c_pt_v, dtype=float)
    lam = np.asarray(lambda_pt_v, dtype=float)
    shape = np.broadcast(c_arr, lam).shape
    c_b, lam_b = np.broadcast_to(c_arr, shape), np.broadcast_to(lam, shape)
    with np.errstate(invalid="ignore"):
        bad = ~(PARAMS["c_pt"].constraint.holds(c_b) & np.isfinite(lam_b) & lambda_holds(c_b, lam_b, normalized))
    if bad.any():                            # the registry's one-line message for the first bad value
        i = np.flatnonzero(bad)[0]
        check_lambda(check("c_pt", float(c_b.flat[i])), check("lambda_pt", float(lam_b.flat[i])), normalized)
    if normalized:
        lt = np.clip(lam, -1.0, 1.0)
        return c_arr, c_arr * (1.0 + lt), c_arr * (1.0 - lt)
    return c_arr, np.maximum(c_arr + lam, 0.0), np.maximum(c_arr - lam, 0.0)


def pt_end_state(beta, c_pt_v, lambda_pt_v, *, normalized: bool = False):
    """Oracle PT end state (w+, v+, w-, v-) as float arrays, broadcast over the inputs.

    beta : beta_PT,d; c_pt_v : c_PT > 0; lambda_pt_v : lambda_PT in absolute units
    (|lambda_PT| <= c_PT), or lambda_PT/c_PT in [-1, 1] when ``normalized``.
    One formula for all signs of lambda, printed from ``symbolic.transfer.pt_end_state_pieces``.
    Stable for |beta|/c up to 1e150 (x^2 overflows beyond ~1e154) and lambda -> +-c: the
    larger path of each layer is a sum of nonnegative terms and the smaller one, where its two
    terms nearly cancel, is (derived product)/(larger path).
    """
    k = state_kernels()
    c_arr, sp_arr, sm_arr = pt_scales(c_pt_v, lambda_pt_v, normalized)
    lam_arr = (sp_arr - sm_arr) / 2 if normalized else np.asarray(lambda_pt_v, dtype=float)
    beta_arr = np.asarray(beta, dtype=float)
    beta_arr, c_arr, sp_arr, sm_arr, lam_arr = np.broadcast_arrays(beta_arr, c_arr, sp_arr, sm_arr, lam_arr)
    p_v, q_v = k.state_p(sp_arr, sm_arr), k.state_q(sp_arr, sm_arr)
    x = beta_arr / c_arr
    cb_v, sb_v = k.state_cb(x), k.state_sb(x)
    sb_abs = np.abs(sb_v)
    w_big, v_big = k.state_w_big(p_v, q_v, cb_v, sb_abs), k.state_v_big(p_v, q_v, cb_v, sb_abs)
    w_diff, v_diff = k.state_w_diff(p_v, q_v, cb_v, sb_abs), k.state_v_diff(p_v, q_v, cb_v, sb_abs)
    prod_w, prod_v = k.state_w_prod(p_v, sb_v, lam_arr), k.state_v_prod(q_v, sb_v, lam_arr)
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        # the difference is exact enough unless its two terms are within a factor 3 of each
        # other; then use product / large path (a zero large path means the small one is 0 too)
        w_small = np.where(np.abs(w_diff) >= 0.5 * w_big, w_diff, np.where(w_big > 0, prod_w / w_big, 0.0))
        v_small = np.where(np.abs(v_diff) >= 0.5 * v_big, v_diff, np.where(v_big > 0, prod_v / v_big, 0.0))
    pos = beta_arr >= 0
    return (np.where(pos, w_big, w_small), np.where(pos, v_big, v_small),
            np.where(pos, w_small, w_big), np.where(pos, v_small, v_big))
