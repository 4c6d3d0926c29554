"""The derivation as readable steps (``ptft derive``), printed from the derived expressions."""
from __future__ import annotations

import sympy as sp

from . import network, penalty, potential, transfer
from .symbols import b, c


def _fmt(expr, fmt: str) -> str:
    return sp.latex(expr) if fmt == "latex" else sp.pretty(expr, use_unicode=False)


def derivation(fmt: str = "text") -> str:
    """fmt: 'text' (pretty ASCII) or 'latex'."""
    forms = network.conserved_quadratic_forms()
    metric = network.predictor_metric(balanced=True)
    q = potential.hyperbolic_entropy_expr()
    hyp = penalty.hyperbolic_entropy()
    parts = [
        "1. Network: beta = w+ v+ - w- v-; gradient flow theta' = -g dbeta/dtheta, g = dL/dbeta.",
        f"2. Conserved quadratic forms (space of dimension {network.conserved_space_dimension()}):",
        *[f"   {k} = {_fmt(v, fmt)}" for k, v in forms.items()],
        "   relation: c^2 - e^2 = lambda+ lambda-",
        "3. Predictor flow: beta' = -g m(beta), with m(beta) =", _fmt(metric, fmt),
        "4. Mirror potential (phi'' = 1/m, phi(0) = phi'(0) = 0): q_c(b) =", _fmt(q, fmt),
        "   q_c'(b) =", _fmt(sp.diff(q, b), fmt),
        "5. Theorem 4.1 (PT -> FT): c_FT =", _fmt(transfer.c_ft_expression(), fmt),
        "   assumptions:", *[f"   - {a}" for a in transfer.ASSUMPTIONS],
        "6. Prox of tau q_c: optimality condition", _fmt(hyp.prox_condition(), fmt),
        "   explicit inverse z(x) =", _fmt(hyp.prox_inverse(), fmt),
        "   derivative eta'(z) =", _fmt(hyp.prox_derivative(), fmt),
        "7. Replica saddle point: E[eta'] = alpha, alpha sigma^2 = alpha sigma_noise^2 + E[(eta - beta*)^2].",
    ]
    return "\n".join(parts)
