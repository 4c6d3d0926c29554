"""Replica solutions against closed forms, limits and an independent SciPy implementation."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from replica import Accuracy, Init, ParameterError, Task, solve, solve_single
from replica.solver import solve_classes, _pack


@pytest.mark.parametrize("teacher", ["gaussian", "fixed"])
def test_ridge_gives_one_minus_alpha(teacher):
    alphas = np.array([0.05, 0.2, 0.5, 0.8, 0.97])
    res = solve_single("ridge", 0.1, alphas, teacher=teacher)
    assert res.converged.all()
    np.testing.assert_allclose(res.gen_error, 1 - alphas, rtol=1e-10)


def _dt_curve(eps):
    """Donoho-Tanner: alpha_c(eps) = min_t eps(1+t^2) + 2(1-eps)[(1+t^2)Phi(-t) - t phi(t)]."""
    f = lambda t: eps * (1 + t * t) + 2 * (1 - eps) * ((1 + t * t) * stats.norm.cdf(-t) - t * stats.norm.pdf(t))
    return optimize.minimize_scalar(f, bounds=(0, 10), method="bounded", options={"xatol": 1e-12}).fun


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.25])
def test_l1_recovery_threshold_is_donoho_tanner(eps):
    def recovered(alpha):
        res = solve_single("l1", eps, [alpha])
        assert res.converged.all()
        return res.phase[0] == "recovery"

    lo, hi = 0.01, 0.99
    assert not recovered(lo) and recovered(hi)
    while hi - lo > 2e-4:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if recovered(mid) else (mid, hi)
    assert 0.5 * (lo + hi) == pytest.approx(_dt_curve(eps), abs=1e-3)


def _weighted_ridge(p, w, second_moment, alpha):
    """Closed form for Q_k = b^2 / (2 w_k): prox = z w/(w + tau); E[eta'] = alpha fixes tau,
    then sigma^2 = sum p (tau/(w+tau))^2 E[b*^2] / (alpha - sum p (w/(w+tau))^2)."""
    g = lambda t: np.sum(p * w / (w + t)) - alpha
    tau = optimize.brentq(g, 1e-12, 1e12, xtol=1e-300, rtol=1e-15)
    sig2 = np.sum(p * (tau / (w + tau)) ** 2 * second_moment) / (alpha - np.sum(p * (w / (w + tau)) ** 2))
    return alpha * sig2


def test_hyperbolic_entropy_with_huge_c_is_weighted_ridge():
    # q_c(b) = b^2/(4c) + O(b^4/c^3): a weighted ridge with w = 2c
    p = np.array([0.05, 0.1, 0.3, 0.55])
    c = np.array([3e6, 1e7, 3e6, 5e5])
    second = np.array([10.0, 10.0, 0.0, 0.0])
    classes = _pack(list(p), list(c), [1, 1, 0, 0], [10.0, 10.0, 0.0, 0.0], [0, 1, 2, 3],
                    ("a", "b", "c", "d"))
    for alpha in (0.1, 0.4, 0.7):
        res = solve_classes(classes, [alpha])
        assert res.gen_error[0] == pytest.approx(_weighted_ridge(p, 2 * c, second, alpha), rel=1e-8)


def _baseline():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "scipy_baseline.py"
    spec = importlib.util.spec_from_file_location("scipy_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("omega,alpha,teacher,lam", [(1.0, 0.2, "gaussian", 0.0), (0.0, 0.3, "fixed", -0.99e-3)])
def test_ptft_agrees_with_independent_scipy_implementation(omega, alpha, teacher, lam):
    ref = _baseline().solve_point(alpha, 0.1, 0.1, omega, 1e-3, lam, 0.0, teacher=teacher)
    res = solve(Task(rho_pt=0.1, rho_ft=0.1, omega=omega, teacher=teacher), Init(c_pt=1e-3, lambda_pt=lam), [alpha])
    assert res.converged.all()
    assert res.gen_error[0] == pytest.approx(ref["gen_error"], rel=1e-8)
    assert res.sigma[0] == pytest.approx(ref["sigma"], rel=1e-8)
    assert res.tau[0] == pytest.approx(ref["tau"], rel=1e-8)


def test_penalised_form_tends_to_interpolation():
    task, init = Task(omega=0.5), Init(c_pt=1e-3)
    exact = solve(task, init, [0.25]).gen_error[0]
    errs = [solve(task, init, [0.25], reg=r).gen_error[0] for r in (1e-4, 1e-6, 1e-8)]
    gaps = [abs(e - exact) for e in errs]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-5 * exact


def test_group_errors_average_to_gen_error():
    task = Task(rho_pt=0.1, rho_ft=0.2, omega=0.25)
    res = solve(task, Init(c_pt=1e-2, lambda_pt=-0.5, relative=True, gamma_ft=0.1), [0.1, 0.3])
    w = np.array(list(task.group_weights().values()))
    np.testing.assert_allclose(res.group_error @ w, res.gen_error, rtol=1e-12)


def test_accuracy_is_stable_under_refinement():
    """Halving the step and widening the range changes gen_error by < 1e-10 relative."""
    task, init = Task(omega=0.0), Init(c_pt=1e-6, lambda_pt=-0.999e-6, gamma_ft=1e-6)   # very rich
    alphas = [0.05, 0.2, 0.4]
    base = solve(task, init, alphas)
    fine = solve(task, init, alphas, accuracy=Accuracy(ksd=11.0, h_max=0.04, m_min=200))
    big = base.gen_error > 1e-6
    np.testing.assert_allclose(base.gen_error[big], fine.gen_error[big], rtol=1e-10)


box = st.fixed_dictionaries({
    "c_pt": st.floats(-7, 1).map(lambda e: 10.0**e),
    "lam": st.floats(-0.999, 0.999),
    "gamma": st.one_of(st.just(0.0), st.floats(-4, 1.3).map(lambda e: 10.0**e)),
    "rho_pt": st.floats(0.01, 0.9),
    "rho_ft": st.floats(0.01, 0.9),
    "omega": st.floats(0.0, 1.0),
    "alpha": st.floats(0.01, 0.99),
    "teacher": st.sampled_from(["gaussian", "fixed"]),
})


@settings(max_examples=40, deadline=None)
@given(box)
def test_whole_box_converges_never_nan(p):
    try:
        task = Task(rho_pt=p["rho_pt"], rho_ft=p["rho_ft"], omega=p["omega"], teacher=p["teacher"])
    except ParameterError:
        return                                 # infeasible combination: rejected, fine
    init = Init(c_pt=p["c_pt"], lambda_pt=p["lam"], relative=True, gamma_ft=p["gamma"])
    res = solve(task, init, [p["alpha"]])
    # every feasible point of the box must converge, with a finite, non-negative error
    assert res.converged[0], (p, res.residual[0])
    assert res.residual[0] <= 1e-10
    assert np.isfinite(res.gen_error[0]) and res.gen_error[0] >= 0


@pytest.mark.parametrize("kwargs", [
    dict(rho_pt=0.1, rho_ft=0.5, omega=0.5),      # shared 0.25 > rho_pt
    dict(rho_pt=0.9, rho_ft=0.5, omega=0.0),      # rho_pt + new > 1
    dict(rho_pt=float("nan")),
    dict(rho_ft=0.0),
    dict(noise=-1.0),
])
def test_infeasible_tasks_are_rejected(kwargs):
    with pytest.raises(ParameterError):
        Task(**kwargs)


@pytest.mark.parametrize("kwargs", [dict(c_pt=0.0), dict(c_pt=1e-3, lambda_pt=2e-3), dict(gamma_ft=-1.0),
                                    dict(lambda_pt=1.5, relative=True), dict(c_pt=float("inf"))])
def test_bad_init_is_rejected(kwargs):
    with pytest.raises(ParameterError):
        Init(**kwargs)


def test_alpha_at_least_one_is_exact():
    res = solve(Task(), Init(), [1.0, 1.5])
    assert (res.gen_error == 0).all() and (res.phase == "closed-form").all()
    noisy = solve(Task(noise=0.1), Init(), [2.0])
    assert noisy.gen_error[0] == pytest.approx(0.01 / 1.0)
