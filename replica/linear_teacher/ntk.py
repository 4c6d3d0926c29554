"""Shallow ReLU networks in the NTK regime, fine-tuned from a pretrained network
(docs/linear_teacher.md; the form of the bound is recalled, not read: treat it as unverified).

Network f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x), a_r = +-1 fixed, first layer trained,
inputs on the unit sphere. In the infinite-width (NTK) limit the first-layer kernel is

    H(x, x') = x . x' (pi - arccos(x . x')) / (2 pi)        (Du et al. 2019; Arora et al. 2019)

and gradient flow on the target data from the pretrained network f_S is kernel regression of the
residual r = y - f_S(X):  f_FT(x) = f_S(x) + H(x, X) H(X, X)^{-1} r  (exact as m -> infinity, derived
from the linearised dynamics). The Arora et al. (2019)-type complexity of fine-tuning is

    bound = sqrt(2 r^T H^{-1} r / n)

(the generalisation bound on E|f - y| up to a log/confidence term): it depends on the source only
through the residual of the pretrained network on the target data.
"""
from __future__ import annotations

import math

import numpy as np

from ..params import ParameterError


def _unit_rows(X) -> np.ndarray:
    X = np.asarray(X, float)
    norms = np.linalg.norm(X, axis=1)
    if not np.allclose(norms, 1.0, atol=1e-8):
        raise ParameterError("NTK formulas need inputs on the unit sphere (||x|| = 1)")
    return X


def relu_ntk(X1, X2) -> np.ndarray:
    """H(x, x') = x.x' (pi - arccos(x.x')) / (2 pi) for unit-norm rows."""
    G = np.clip(_unit_rows(X1) @ _unit_rows(X2).T, -1.0, 1.0)
    return G * (math.pi - np.arccos(G)) / (2 * math.pi)


def ntk_ft_prediction(X_train, residual, X_test, f_s_test) -> np.ndarray:
    """Infinite-width fine-tuned outputs: f_S(x) + H(x, X) H^{-1} r."""
    H = relu_ntk(X_train, X_train)
    return np.asarray(f_s_test, float) + relu_ntk(X_test, X_train) @ np.linalg.solve(H, np.asarray(residual, float))


def ntk_ft_bound(X_train, residual) -> float:
    """sqrt(2 r^T H^{-1} r / n) with r the pretrained network's residual on the target data."""
    r = np.asarray(residual, float)
    H = relu_ntk(X_train, X_train)
    return float(math.sqrt(2.0 * r @ np.linalg.solve(H, r) / r.size))
