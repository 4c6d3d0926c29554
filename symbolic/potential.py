"""Mirror potentials from the predictor flow's metric (no formula typed in).

Gradient flow of a diagonal network moves each coordinate as
``d beta/dt = -m(beta) g`` with g = dL/dbeta and a metric m(beta) > 0 (derived in
``symbolic.network``). Then ``d/dt phi'(beta) = -g`` for ``phi'' = 1/m``, so phi is the
mirror potential: the flow from beta(0) = 0 ends at argmin phi subject to X beta = y.
We integrate twice, fixing phi(0) = phi'(0) = 0 (the Bregman centre is the origin).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .symbols import b

_U = sp.Symbol("u", real=True)


def mirror_potential(metric: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """Return (phi', phi) for the flow d beta/dt = -metric(beta) * g, with phi(0) = phi'(0) = 0."""
    hess = 1 / metric
    d1 = sp.integrate(hess.subs(b, _U), (_U, 0, b))
    d1 = sp.simplify(sp.refine(d1, sp.Q.real(b)))
    pot = sp.integrate(d1.subs(b, _U), (_U, 0, b))
    return sp.simplify(d1), sp.simplify(pot)


def _balanced_metric() -> sp.Expr:
    """m(beta) of the balanced plus/minus network (k = 4 c^2)."""
    from .network import predictor_metric

    return predictor_metric(balanced=True)


@lru_cache(maxsize=None)
def hyperbolic_entropy_expr() -> sp.Expr:
    """q_c(b) derived from the balanced network's metric (expected: the hyperbolic entropy)."""
    _, pot = mirror_potential(_balanced_metric())
    return pot
