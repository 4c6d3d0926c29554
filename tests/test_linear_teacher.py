"""Fine-tuning with linear teachers: closed forms vs gradient descent, Wishart moments, Monte
Carlo, the replica solver's ridge penalty, and the CLI."""
import io
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from empirical.linear_teacher.simulate import gd_finetune, monte_carlo_risk, sample_target_data
from ptft.cli import main
from replica.linear_teacher import (TeacherPair, asymptotic_risk, compare_sample_complexity, effective_ridge,
                                    ft_risk_given_x, ft_risk_isotropic, ft_solution, make_pair, make_spectrum,
                                    population_risk, sample_complexity, similarity, zero_shot_risk)
from replica.params import ParameterError


# -- exact finite-n solution -------------------------------------------------------------------
@pytest.mark.parametrize("n,d", [(12, 30), (45, 30)])
def test_closed_form_is_the_gradient_descent_end_point(n, d):
    rng = np.random.default_rng(1)
    X, y, theta_s = rng.standard_normal((n, d)), rng.standard_normal(n), rng.standard_normal(d)
    w_gd = gd_finetune(X, y, theta_s, steps=200000)
    np.testing.assert_allclose(ft_solution(X, y, theta_s), w_gd, atol=1e-8)
    if n < d:   # GD never leaves theta_S + row(X): the closest interpolator
        w = ft_solution(X, y, theta_s)
        np.testing.assert_allclose(X @ w, y, atol=1e-10)
        step = rng.standard_normal(d)
        step -= np.linalg.lstsq(X, X @ step, rcond=None)[0]      # a null-space direction
        assert np.linalg.norm(w + 0.1 * step - theta_s) > np.linalg.norm(w - theta_s)


def test_ridge_solution_is_stationary_and_centred():
    rng = np.random.default_rng(2)
    for n, d in [(10, 25), (40, 25)]:
        X, y, theta_s = rng.standard_normal((n, d)), rng.standard_normal(n), rng.standard_normal(d)
        w = ft_solution(X, y, theta_s, ridge=0.3)
        grad = X.T @ (X @ w - y) / n + 0.3 * (w - theta_s)
        assert np.linalg.norm(grad) < 1e-10
        np.testing.assert_allclose(ft_solution(X, X @ theta_s, theta_s, ridge=0.3), theta_s, atol=1e-12)


def test_risk_given_x_bias_and_noise_variance_by_simulation():
    pair = make_pair(make_spectrum("power", 40, 1.0), 0.5, "uniform", noise=0.4, seed=3)
    rng = np.random.default_rng(4)
    X, _ = sample_target_data(pair, 15, rng)
    exact = ft_risk_given_x(X, pair)
    noiseless = TeacherPair(pair.eigvals, pair.theta_t, pair.theta_s, 0.0)
    w0 = ft_solution(X, X @ pair.theta_t, pair.theta_s)
    assert population_risk(w0, pair.theta_t, pair.eigvals) == pytest.approx(exact["bias"], rel=1e-10)
    assert ft_risk_given_x(X, noiseless)["variance"] == 0.0
    draws = [population_risk(ft_solution(X, X @ pair.theta_t + 0.4 * rng.standard_normal(15), pair.theta_s),
                             pair.theta_t, pair.eigvals) for _ in range(4000)]
    sem = np.std(draws) / math.sqrt(len(draws))
    assert abs(np.mean(draws) - exact["risk"]) < 4 * sem


@pytest.mark.parametrize("n,noise", [(15, 0.0), (15, 0.5), (70, 0.5)])
def test_isotropic_expected_risk_matches_wishart_moments(n, noise):
    d = 40
    pair = make_pair(make_spectrum("iso", d), 0.8, "uniform", noise=noise, seed=5)
    mc = monte_carlo_risk(pair, n, seeds=600, seed=6)
    exact = ft_risk_isotropic(n, d, float(pair.delta @ pair.delta), noise, scale=1.0 / d)
    assert abs(mc["mean"] - exact) < 4 * mc["sem"]


# -- asymptotic deterministic equivalent -----------------------------------------------------------
def test_isotropic_limit_is_the_textbook_formula():
    d, noise = 500, 0.3
    lam = make_spectrum("iso", d)
    delta = np.random.default_rng(0).standard_normal(d)
    for n in (50, 250, 450, 800):
        r = asymptotic_risk(lam, delta, n, noise)
        a = n / d
        bias = max(1 - a, 0.0) * float(delta @ delta) / d
        var = noise**2 * (a / (1 - a) if a < 1 else 1 / (a - 1))
        assert r.bias == pytest.approx(bias, rel=1e-10) and r.variance == pytest.approx(var, rel=1e-10)


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 60), st.floats(0.2, 3.0), st.floats(0.05, 0.95), st.floats(0.0, 1e-2))
def test_effective_ridge_solves_its_equation(d, decay, frac, ridge):
    lam = make_spectrum("power", d, decay)
    n = max(1.0, frac * d)
    kappa = effective_ridge(lam, n, ridge)
    if ridge == 0 and n >= d:
        assert kappa == 0.0
        return
    assert kappa > 0
    assert kappa * (1 - np.sum(lam / (lam + kappa)) / n) == pytest.approx(ridge, abs=1e-12 * max(lam.max(), 1e-300) + 1e-14)


def test_vanishing_ridge_is_continuous_with_gradient_flow():
    lam = make_spectrum("power", 200, 1.0)
    delta = np.random.default_rng(1).standard_normal(200)
    for n in (30, 120):
        r0, r1 = asymptotic_risk(lam, delta, n, 0.2), asymptotic_risk(lam, delta, n, 0.2, ridge=1e-12)
        assert r1.risk == pytest.approx(r0.risk, rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("placement", ["head", "uniform", "tail"])
@pytest.mark.parametrize("spectrum,decay", [("power", 1.0), ("exp", 4.0)])
def test_asymptotic_risk_matches_monte_carlo(placement, spectrum, decay):
    pair = make_pair(make_spectrum(spectrum, 300, decay), 0.5, placement, noise=0.3, seed=2)
    for n in (40, 150):
        theory = asymptotic_risk(pair.eigvals, pair.delta, n, pair.noise).risk
        mc = monte_carlo_risk(pair, n, seeds=25, seed=7)
        # finite-d corrections are O(1/d); 4 SEM for the sampling error on top
        assert abs(mc["mean"] - theory) < 4 * mc["sem"] + 0.03 * theory, (n, mc["mean"], theory)


@pytest.mark.parametrize("reg", [0.0, 0.05, 0.5])
def test_matches_replica_ridge_penalty_noiseless(reg):
    """Independent route: the replica saddle point with Q(b) = b^2/2 centred at theta_S (iid
    design x ~ N(0, I/D), E[(theta_S - theta_T)^2] = 1 per coordinate). The solver's ``reg``
    corresponds to our ridge = reg / D (measured; see docs/linear_teacher.md)."""
    from replica import solve_single

    d, alphas = 1000, [0.1, 0.3, 0.6, 0.9, 1.5]
    lam = make_spectrum("iso", d)
    frame = solve_single("ridge", 0.1, alphas, reg=reg).to_frame()
    assert frame.converged.all()
    ours = [asymptotic_risk(lam, np.ones(d), a * d, 0.0, ridge=reg / d).risk for a in alphas]
    np.testing.assert_allclose(frame.gen_error, ours, rtol=1e-9, atol=1e-12)


def test_matches_replica_ridge_penalty_with_label_noise():
    from replica import solve_single

    d, alphas = 1000, [0.2, 0.5]
    frame = solve_single("ridge", 0.1, alphas, noise=0.5).to_frame()
    ours = [asymptotic_risk(make_spectrum("iso", d), np.ones(d), a * d, 0.5).risk for a in alphas]
    np.testing.assert_allclose(frame.gen_error, ours, rtol=1e-6)


# -- similarity and sample complexity ------------------------------------------------------------
def test_sample_complexity_equals_a_brute_force_scan():
    for placement, noise in [("head", 0.0), ("uniform", 0.1), ("tail", 0.2)]:
        pair = make_pair(make_spectrum("power", 80, 1.0), 0.7, placement, noise=noise, seed=1)
        for eps in (0.02, 0.1, 0.3):
            risks = [zero_shot_risk(pair)] + [asymptotic_risk(pair.eigvals, pair.delta, n, noise).risk
                                              for n in range(1, 8001)]
            hits = [n for n, r in enumerate(risks) if r <= eps]
            expected = float(hits[0]) if hits else math.inf
            assert sample_complexity(pair.eigvals, pair.delta, eps, noise) == expected


def test_similarity_depends_on_covariance_not_only_distance():
    lam = make_spectrum("power", 300, 1.5)
    head, tail = make_pair(lam, 0.5, "head"), make_pair(lam, 0.5, "tail")
    assert np.linalg.norm(head.delta) == pytest.approx(np.linalg.norm(tail.delta))
    # the same Euclidean distance: energy in the unresolved tail transfers well only if Sigma-small,
    # energy in the head is learned from data; at n = 60 the two orders differ
    assert similarity(tail, 60) < similarity(head, 60)
    iso = make_spectrum("iso", 300)
    assert similarity(make_pair(iso, 0.5, "head"), 60) == pytest.approx(similarity(make_pair(iso, 0.5, "tail"), 60))
    cmp_close = compare_sample_complexity(make_pair(lam, 0.1, "head", noise=0.05), 0.05)
    cmp_far = compare_sample_complexity(make_pair(lam, 1.0, "head", noise=0.05), 0.05)
    assert cmp_close["n_ft"] < cmp_far["n_ft"] < cmp_far["n_scratch"] and cmp_close["reduction"] > 5


def test_bad_parameters_raise_parameter_error():
    with pytest.raises(ParameterError, match="eigvals"):
        TeacherPair([-1.0, 1.0], [0, 0], [0, 0])
    with pytest.raises(ParameterError, match="theta_s"):
        TeacherPair([1.0, 1.0], [0, 0], [0, 0, 0])
    with pytest.raises(ParameterError, match="noise"):
        TeacherPair([1.0], [0.0], [0.0], noise=float("nan"))
    with pytest.raises(ParameterError, match="spectrum"):
        make_spectrum("flat", 10)
    with pytest.raises(ParameterError, match="n must be"):
        asymptotic_risk([1.0, 2.0], [0.0, 1.0], 0)


# -- CLI ----------------------------------------------------------------------------------------
def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_risk_table_with_monte_carlo(capsys):
    code, out, err = run(["linear-teacher", "risk", "--dim", "120", "--n", "20,60", "--monte-carlo", "30",
                          "--placement", "head", "--format", "csv"], capsys)
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.n) == [20, 60]
    np.testing.assert_allclose(frame.bias_ft + frame.variance_ft, frame.risk_ft, rtol=1e-12)
    assert (abs(frame.mc_ft_mean - frame.risk_ft) < 4 * frame.mc_ft_sem + 0.05 * frame.risk_ft).all()


def test_cli_sample_complexity(capsys, tmp_path):
    target = tmp_path / "sc.json"
    code, out, _ = run(["linear-teacher", "sample-complexity", "--eps", "0.05,0.5", "--distance", "2",
                        "--format", "json", "--out", str(target)], capsys)
    frame = pd.read_json(target)
    assert code == 0 and out == "" and list(frame.eps) == [0.05, 0.5]
    assert (frame.n_ft.diff().dropna() <= 0).all()


@pytest.mark.parametrize("args,needle", [
    (["linear-teacher", "risk", "--n", "0,5"], "--n"),
    (["linear-teacher", "risk", "--n", "a:b:c"], "--n"),
    (["linear-teacher", "risk", "--dim", "0"], "--dim"),
    (["linear-teacher", "risk", "--distance", "-1"], "distance"),
    (["linear-teacher", "risk", "--ridge", "-1"], "--ridge"),
    (["linear-teacher", "risk", "--monte-carlo", "-2"], "--monte-carlo"),
    (["linear-teacher", "sample-complexity", "--eps", "0"], "--eps"),
    (["linear-teacher", "risk", "--noise", "nan"], "noise"),
    (["linear-teacher", "risk", "--fraction", "2", "--placement", "head"], "fraction"),
    (["linear-teacher"], "required"),
    (["linear-teacher", "deep", "--cosine", "1"], "--cosine"),
    (["linear-teacher", "deep", "--n", "30"], "--n"),
    (["linear-teacher", "deep", "--depth", "0"], "--depth"),
    (["linear-teacher", "ntk", "--distance", "x"], "--distance"),
    (["linear-teacher", "ntk", "--distance", "-1"], "--distance"),
    (["linear-teacher", "ntk", "--width", "1"], "--width"),
    (["linear-teacher", "risk", "--out", "/nonexistent-dir/r.csv"], "does not exist"),
])
def test_cli_bad_input_one_line_exit_2(args, needle, capsys):
    code, out, err = run(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("ptft: error:") and needle in lines[0], err


# -- deep linear networks --------------------------------------------------------------------------
def test_symbolic_deep_linear_derivation():
    from symbolic.deep_linear import L_sym, checks, metric_residual, potential_exponent

    results = checks()
    assert all(results.values()), results
    assert potential_exponent().subs(L_sym, 2) == __import__("sympy").Rational(3, 2)
    # the check can fail: a chain of depth 3 does not follow the depth-2 metric
    from symbolic.deep_linear import chain_flow
    import sympy as sp
    theta_dot, _, g, _ = chain_flow(3)
    _, M2, _, _ = chain_flow(2)
    assert any(sp.simplify(e) != 0 for e in (theta_dot + M2 * g))
    assert all(sp.simplify(e) == 0 for e in metric_residual(3))


def test_deep_solution_satisfies_its_optimality_conditions():
    from empirical.linear_teacher.simulate import deep_linear_problem
    from replica.linear_teacher.deep import ft_potential
    from replica.linear_teacher.deep import ft_solution as deep_solution

    X, y, _, theta_s = deep_linear_problem(20, 8, 0.6, 1.5, seed=1)
    np.testing.assert_allclose(deep_solution(X, y, theta_s, 1), ft_solution(X, y, theta_s), atol=1e-9)
    rng = np.random.default_rng(0)
    null = np.linalg.svd(X)[2][8:]                 # basis of null(X)
    for depth in (2, 3, 4):
        theta = deep_solution(X, y, theta_s, depth)
        np.testing.assert_allclose(X @ theta, y, atol=1e-9)
        base = ft_potential(theta, theta_s, depth)
        for _ in range(20):                        # every feasible perturbation costs more
            step = 0.05 * rng.standard_normal(12) @ null
            assert ft_potential(theta + step, theta_s, depth) > base


@pytest.mark.slow
def test_deep_linear_gradient_descent_converges_to_the_derived_bias():
    """PyTorch GD (float64) from a balanced init at theta_S, depths 1..4: |GD - theory| is
    O(lr) (quartering lr divides it by ~4) and far below the distance to the L = 1 answer."""
    import torch

    from empirical.linear_teacher.simulate import deep_linear_table

    torch.set_num_threads(1)
    coarse = deep_linear_table([1, 2, 3, 4], 20, 8, 0.6, 1.5, lr=0.02)
    fine = deep_linear_table([2], 20, 8, 0.6, 1.5, lr=0.005)
    assert coarse.gd_vs_theory.iloc[0] < 1e-5                       # L = 1: closest interpolator
    assert (coarse.gd_vs_theory.iloc[1:] < 0.1 * coarse.theory_vs_L1.iloc[1:]).all()
    ratio = coarse.set_index("depth").gd_vs_theory.loc[[2]].to_numpy() / fine.gd_vs_theory.to_numpy()
    assert ((ratio > 3.0) & (ratio < 5.0)).all(), ratio


def test_large_depth_only_the_direction_of_theta_s_matters():
    from empirical.linear_teacher.simulate import deep_linear_problem
    from replica.linear_teacher.deep import ft_solution as deep_solution

    X, y, _, theta_s = deep_linear_problem(20, 8, 0.6, 1.5, seed=0)
    gap = {L: np.linalg.norm(deep_solution(X, y, theta_s, L) - deep_solution(X, y, 3 * theta_s, L))
           for L in (1, 4, 16, 64)}
    assert gap[1] > gap[4] > gap[16] > gap[64] and gap[64] < 0.02 * gap[1]


def test_freezing_early_layers_keeps_theta_on_the_source_line():
    import torch

    from empirical.linear_teacher.simulate import deep_linear_problem, train_deep_linear

    torch.set_num_threads(1)
    X, y, theta_t, theta_s = deep_linear_problem(20, 8, 0.6, 1.5, seed=0)
    theta = train_deep_linear(X, y, theta_s, 3, freeze_first=2, max_steps=3000)
    cos = theta @ theta_s / (np.linalg.norm(theta) * np.linalg.norm(theta_s))
    assert abs(cos) > 1 - 1e-12                                   # still parallel to theta_S
    assert np.linalg.norm(X @ theta - y) > 0.5 * np.linalg.norm(y)  # cannot fit the target


# -- shallow ReLU networks, NTK regime ----------------------------------------------------------------
def test_relu_ntk_matches_monte_carlo_over_random_first_layers():
    from empirical.linear_teacher.simulate import sphere
    from replica.linear_teacher.ntk import relu_ntk

    rng = np.random.default_rng(0)
    X = sphere(6, 4, rng)
    W = rng.standard_normal((400000, 4))
    act = (X @ W.T > 0).astype(float)                       # 1{w . x > 0}
    empirical = (X @ X.T) * (act @ act.T) / W.shape[0]
    np.testing.assert_allclose(relu_ntk(X, X), empirical, atol=4e-3)
    with pytest.raises(ParameterError, match="unit sphere"):
        relu_ntk(2 * X, X)


@pytest.mark.slow
def test_wide_relu_finetuning_follows_the_ntk_and_the_bound_orders_tasks():
    import torch

    from empirical.linear_teacher.simulate import ntk_finetune_table

    torch.set_num_threads(1)
    t = ntk_finetune_table([0.1, 0.5], dim=5, n_source=50, n_target=20, width=2048, steps=1000)
    assert (t.ft_train_loss < 1e-6).all()
    # the trained wide network is the kernel regressor of the residual (infinite-width prediction)
    np.testing.assert_allclose(t.test_mse, t.kernel_test_mse, rtol=0.2)
    assert (t.net_vs_kernel_rms < 0.1 * np.sqrt(t.zero_shot_mse.max() + t.test_mse)).all()
    # closer source -> smaller residual bound and smaller measured error; FT beats scratch
    assert t.bound.is_monotonic_increasing and t.test_mse.is_monotonic_increasing
    assert (t.bound >= t.test_mae).all() and (t.bound < t.bound_scratch).all()
    assert (t.test_mse < t.scratch_kernel_mse).all()
