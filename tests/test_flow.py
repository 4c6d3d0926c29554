"""Tests for empirical.tasks (task sampler) and empirical.flow (gradient-flow end point)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.linalg import null_space
from scipy.optimize import linprog

from empirical.flow import (FlowSolveError, gen_error, min_q_interpolant,
                            min_q_interpolant_torch, q_hyperbolic, q_objective)
from empirical.tasks import (GROUP_NAMES, FiniteTask, sample_ptft_task,
                             sample_single_task)


def _kkt_rowspace_residual(X, beta, c):
    """Relative distance of q'(beta) = asinh(beta/c)/2 from the row space of X."""
    v = 0.5 * np.arcsinh(beta / c)
    z, *_ = np.linalg.lstsq(X.T, v, rcond=None)
    return np.linalg.norm(X.T @ z - v) / np.linalg.norm(v)


# -- penalty -------------------------------------------------------------------------------

def test_q_hyperbolic_values_and_derivative():
    c = np.array([1e-13, 1e-3, 1.0, 1e3])
    for b in (-2.5, -1e-9, 1e-9, 0.7, 40.0):
        q = q_hyperbolic(b, c)
        # reference with mpmath at high precision
        import mpmath
        mpmath.mp.dps = 40
        ref = [0.5 * (mpmath.mpf(b) * mpmath.asinh(mpmath.mpf(b) / mpmath.mpf(ci))
                      - mpmath.sqrt(mpmath.mpf(b) ** 2 + mpmath.mpf(ci) ** 2) + mpmath.mpf(ci))
               for ci in c]
        np.testing.assert_allclose(q, np.array([float(r) for r in ref]), rtol=1e-13)
        # q' = asinh(b/c)/2 by a central difference (relative step)
        hstep = 1e-6 * abs(b)
        dq = (q_hyperbolic(b + hstep, c) - q_hyperbolic(b - hstep, c)) / (2 * hstep)
        np.testing.assert_allclose(dq, 0.5 * np.arcsinh(b / c), rtol=1e-6)
    assert q_objective(np.zeros(4), c) == 0.0


def test_gen_error():
    assert gen_error([1.0, 2.0, 3.0], [1.0, 0.0, 3.0]) == pytest.approx(4.0 / 3.0)
    with pytest.raises(ValueError):
        gen_error(np.zeros(3), np.zeros(4))


# -- solver: optimality --------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kkt_mixed_c_spanning_sixteen_decades(seed):
    task = sample_ptft_task(400, 0.3, 0.1, 0.1, 0.5, seed=seed)
    rng = np.random.default_rng(100 + seed)
    c = 10.0 ** rng.uniform(-13, 3, task.dim)
    c[:2] = [1e-13, 1e3]
    sol = min_q_interpolant(task.X, task.y, c)
    assert sol.converged and sol.residual <= 1e-12
    assert np.linalg.norm(task.X @ sol.beta - task.y) <= 1e-10 * np.linalg.norm(task.y)
    assert _kkt_rowspace_residual(task.X, sol.beta, c) <= 1e-8
    # the returned dual variable is the certificate itself: X^T nu = asinh(beta/c)/2
    np.testing.assert_allclose(task.X.T @ sol.nu, 0.5 * np.arcsinh(sol.beta / c),
                               rtol=1e-8, atol=1e-8)
    assert len(sol.history) == sol.iterations + 1 and sol.history[-1] <= 1e-12


@pytest.mark.parametrize("c_kind", ["1e-3", "mixed"])
def test_kkt_ptft_like_weights(c_kind):
    task = sample_ptft_task(600, 0.4, 0.1, 0.04, 0.5, teacher="fixed", seed=3)
    c = np.full(task.dim, 1e-3) if c_kind == "1e-3" else np.where(task.beta_pt != 0, 1.0, 2e-3)
    sol = min_q_interpolant(task.X, task.y, c)
    assert sol.converged and sol.iterations <= 40
    assert _kkt_rowspace_residual(task.X, sol.beta, c) <= 1e-8


def test_ridge_limit_equals_weighted_min_norm():
    task = sample_ptft_task(300, 0.4, 0.1, 0.1, 0.5, seed=5)
    rng = np.random.default_rng(7)
    for c in (np.full(task.dim, 1e6), 1e6 * (1.0 + 9.0 * rng.random(task.dim))):
        sol = min_q_interpolant(task.X, task.y, c)
        XC = task.X * c
        closed = c * (task.X.T @ np.linalg.solve(XC @ task.X.T, task.y))
        assert np.linalg.norm(sol.beta - closed) <= 1e-6 * np.linalg.norm(closed)
    # and it is NOT the unweighted min-norm interpolator when c is non-uniform
    mn = np.linalg.lstsq(task.X, task.y, rcond=None)[0]
    assert np.linalg.norm(sol.beta - mn) > 1e-2 * np.linalg.norm(mn)


def test_small_c_approaches_basis_pursuit():
    task = sample_single_task(200, 0.5, 0.05, seed=0)        # D=200, N=100, 10 nonzeros
    X, y, dim = task.X, task.y, task.dim
    assert task.n_samples == 100 and np.count_nonzero(task.beta_star) == 10
    lp = linprog(np.ones(2 * dim), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None),
                 method="highs")
    assert lp.status == 0
    b_l1 = lp.x[:dim] - lp.x[dim:]
    assert np.max(np.abs(b_l1 - task.beta_star)) <= 1e-6
    sol12 = min_q_interpolant(X, y, 1e-12)
    err12 = np.max(np.abs(sol12.beta - task.beta_star))
    assert err12 <= 2e-6
    assert np.max(np.abs(sol12.beta - b_l1)) <= 2e-6
    # the approach is a limit: a larger c is measurably further from the l1 solution
    sol6 = min_q_interpolant(X, y, 1e-6)
    assert np.max(np.abs(sol6.beta - b_l1)) > 100 * err12


def test_null_space_perturbations_increase_objective():
    task = sample_ptft_task(120, 0.4, 0.2, 0.1, 0.5, seed=11)
    c = np.where(task.beta_pt != 0, 1.0, 2e-3)
    sol = min_q_interpolant(task.X, task.y, c)
    Z = null_space(task.X)
    assert Z.shape[1] == task.dim - task.n_samples
    rng = np.random.default_rng(0)
    f0 = q_objective(sol.beta, c)
    scale = np.linalg.norm(sol.beta)
    for _ in range(20):
        delta = Z @ rng.standard_normal(Z.shape[1])
        delta *= scale / np.linalg.norm(delta)
        assert np.linalg.norm(task.X @ delta) <= 1e-10 * scale
        # first-order term vanishes: q'(beta) is orthogonal to the null space
        assert abs(0.5 * np.arcsinh(sol.beta / c) @ delta) <= 1e-8 * scale * np.linalg.norm(
            0.5 * np.arcsinh(sol.beta / c))
        for eps in (1e-3, 1e-2, 1e-1, 1.0):
            assert q_objective(sol.beta + eps * delta, c) > f0
    # a different interpolator (min-norm) is worse too
    mn = np.linalg.lstsq(task.X, task.y, rcond=None)[0]
    assert q_objective(mn, c) > f0


# -- solver: edge cases and failure reporting ----------------------------------------------

def test_tall_and_trivial_problems():
    task = sample_ptft_task(50, 1.5, 0.2, 0.2, 0.5, seed=1)      # N = 75 > D = 50
    sol = min_q_interpolant(task.X, task.y, 1e-3)
    assert sol.converged and sol.iterations == 0
    np.testing.assert_allclose(sol.beta, task.beta_star, atol=1e-12)
    np.testing.assert_allclose(task.X.T @ sol.nu, 0.5 * np.arcsinh(sol.beta / 1e-3), atol=1e-9)
    noisy = sample_ptft_task(50, 1.5, 0.2, 0.2, 0.5, noise=0.1, seed=1)
    with pytest.raises(ValueError, match="no interpolator"):
        min_q_interpolant(noisy.X, noisy.y, 1e-3)
    # rank-deficient tall X (duplicated rows of a wide one): row-space reduction + Newton
    X = np.vstack([task.X[:30], task.X[:30]])
    y = X @ task.beta_star
    sol = min_q_interpolant(X, y, 1e-2)
    assert sol.converged and _kkt_rowspace_residual(X, sol.beta, 1e-2) <= 1e-8
    # rank-deficient wide X (N < D, repeated rows): singular dual Hessian, same minimiser
    wide = sample_ptft_task(200, 0.3, 0.1, 0.1, 0.5, seed=0)
    Xd = np.vstack([wide.X, wide.X[:5]])
    sol_d = min_q_interpolant(Xd, Xd @ wide.beta_star, 1e-3)
    np.testing.assert_allclose(sol_d.beta, min_q_interpolant(wide.X, wide.y, 1e-3).beta,
                               atol=1e-10)
    zero = min_q_interpolant(task.X[:10], np.zeros(10), 1.0)
    assert zero.converged and not zero.beta.any()


def test_non_convergence_is_never_silent():
    task = sample_ptft_task(200, 0.3, 0.1, 0.1, 0.5, seed=2)
    with pytest.raises(FlowSolveError, match="not converged"):
        min_q_interpolant(task.X, task.y, 1e-6, max_iter=2)
    with pytest.warns(RuntimeWarning, match="not converged"):
        sol = min_q_interpolant(task.X, task.y, 1e-6, max_iter=2, on_fail="warn")
    assert not sol.converged and sol.residual > 1e-12 and sol.message.startswith("not conv")


def test_input_validation_and_overflow_guard():
    task = sample_ptft_task(100, 0.3, 0.1, 0.1, 0.5, seed=2)
    for bad_c in (0.0, -1.0, np.nan, np.inf, np.ones(3)):
        with pytest.raises(ValueError):
            min_q_interpolant(task.X, task.y, bad_c)
    with pytest.raises(ValueError, match="overflow"):
        min_q_interpolant(task.X, task.y, 1.0, nu0=np.full(task.n_samples, 1e4))
    with pytest.raises(ValueError):
        min_q_interpolant(task.X, task.y[:-1], 1.0)
    with pytest.raises(ValueError, match="nu0"):
        min_q_interpolant(task.X, task.y, 1.0, nu0=np.zeros(3))
    # extreme scale: arguments near the guard (2u ~ 460) still converge with finite output
    sol = min_q_interpolant(task.X, task.y, 1e-200)
    assert sol.converged and np.isfinite(sol.beta).all()
    assert np.max(np.abs(task.X.T @ sol.nu)) * 2 <= 700


def test_warm_start_reaches_same_solution():
    task = sample_ptft_task(300, 0.4, 0.1, 0.1, 0.5, seed=4)
    c = np.where(task.beta_pt != 0, 1.0, 2e-3)
    cold = min_q_interpolant(task.X, task.y, c)
    warm = min_q_interpolant(task.X, task.y, c, nu0=cold.nu * (1 + 1e-3))
    assert warm.iterations < cold.iterations
    np.testing.assert_allclose(warm.beta, cold.beta, atol=1e-9)


# -- torch batch version -------------------------------------------------------------------

def _torch_batch_check(device):
    tasks = [sample_ptft_task(200, 0.4, 0.1, 0.1, 0.5, seed=s) for s in range(3)]
    X = np.stack([t.X for t in tasks])
    y = np.stack([t.y for t in tasks])
    c = np.stack([np.full(200, 1e-3), np.where(tasks[1].beta_pt != 0, 1.0, 2e-3),
                  np.full(200, 1e-12)])
    out = min_q_interpolant_torch(X, y, c, device=device)
    assert out.converged.all() and (out.residual <= 1e-12).all()
    for i in range(3):
        ref = min_q_interpolant(X[i], y[i], c[i])
        np.testing.assert_allclose(out.beta[i], ref.beta, atol=1e-9)
        assert out.item(i).converged
        assert _kkt_rowspace_residual(X[i], out.beta[i], c[i]) <= 1e-8


def test_torch_batch_matches_numpy_cpu():
    import torch
    torch.set_num_threads(1)
    _torch_batch_check("cpu")
    with pytest.raises(FlowSolveError):
        t = sample_ptft_task(100, 0.3, 0.1, 0.1, 0.5, seed=0)
        min_q_interpolant_torch(t.X[None], t.y[None], 1e-6, max_iter=2)


@pytest.mark.gpu
def test_torch_batch_matches_numpy_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    _torch_batch_check("cuda")


# -- task sampler --------------------------------------------------------------------------

def test_group_counts_and_teachers_exact():
    t = sample_ptft_task(1000, 0.3, 0.1, 0.04, 0.5, seed=9)
    assert isinstance(t, FiniteTask)
    assert t.group_counts() == {"shared": 20, "new": 20, "pt_only": 80, "none": 880}
    assert t.X.shape == (300, 1000) and t.y.shape == (300,) and t.group.dtype == np.int8
    np.testing.assert_array_equal(t.beta_pt != 0, np.isin(t.group, [0, 2]))
    assert np.all(t.beta_pt[t.beta_pt != 0] == 1.0)
    np.testing.assert_array_equal(t.beta_star != 0, np.isin(t.group, [0, 1]))
    np.testing.assert_array_equal(t.y, t.X @ t.beta_star)
    f = sample_ptft_task(1000, 0.3, 0.1, 0.04, 0.5, a_pt=2.5, teacher="fixed", seed=9)
    nz = f.beta_star[f.beta_star != 0]
    np.testing.assert_allclose(np.abs(nz), 1 / math.sqrt(0.04))
    assert 0 < np.sum(nz > 0) < nz.size                       # both signs occur
    assert set(np.unique(f.beta_pt)) == {0.0, 2.5}
    with pytest.raises(ValueError):
        t.X[0, 0] = 1.0                                        # read-only arrays
    with pytest.raises(AttributeError):
        t.alpha = 2.0                                          # frozen


def test_design_and_teacher_statistics():
    t = sample_ptft_task(2000, 0.25, 0.1, 0.9, 0.0, seed=1)
    assert abs(np.mean(t.X ** 2) * t.dim - 1.0) < 0.02        # var 1/D (1e6 entries)
    assert abs(np.mean(t.X)) * math.sqrt(t.dim) < 0.01
    nz = t.beta_star[t.beta_star != 0]
    assert nz.size == 1800 and abs(np.mean(nz ** 2) * 0.9 - 1.0) < 0.1   # E beta^2 = 1
    noisy = sample_ptft_task(2000, 0.25, 0.1, 0.9, 0.0, noise=0.3, seed=1)
    np.testing.assert_array_equal(noisy.X, t.X)
    assert abs(np.std(noisy.y - t.y) - 0.3) < 0.03


def test_reproducibility_across_alpha_and_seed():
    a = sample_ptft_task(500, 0.2, 0.1, 0.1, 0.5, seed=3)
    b = sample_ptft_task(500, 0.2, 0.1, 0.1, 0.5, seed=3)
    for f in ("X", "y", "beta_star", "beta_pt", "group"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    c = sample_ptft_task(500, 0.6, 0.1, 0.1, 0.5, seed=3)    # same teacher, new design
    np.testing.assert_array_equal(c.beta_star, a.beta_star)
    np.testing.assert_array_equal(c.group, a.group)
    assert c.n_samples == 300 and c.alpha_realized == pytest.approx(0.6)
    assert not np.allclose(c.X[:100], a.X)
    d = sample_ptft_task(500, 0.2, 0.1, 0.1, 0.5, seed=4)
    assert not np.array_equal(d.beta_star, a.beta_star)
    assert not np.array_equal(d.X, a.X)
    assert sample_ptft_task(500, 1e-9, 0.1, 0.1, 0.5).n_samples == 1


def test_single_task():
    s = sample_single_task(400, 0.5, 0.05, teacher="gaussian", seed=2)
    assert s.group_counts() == {"shared": 0, "new": 20, "pt_only": 0, "none": 380}
    assert not s.beta_pt.any() and np.count_nonzero(s.beta_star) == 20
    assert s.n_samples == 200


@pytest.mark.parametrize("kwargs, match", [
    (dict(rho_pt=0.05, rho_ft=0.1, omega=1.0), "omega\\*rho_ft"),
    (dict(rho_pt=0.5, rho_ft=0.9, omega=0.0), "rho_pt \\+ rho_FT\\^new"),
    (dict(alpha=0.0), "alpha"),
    (dict(alpha=-1.0), "alpha"),
    (dict(alpha=float("nan")), "alpha must be finite"),
    (dict(rho_pt=float("nan")), "rho_pt must be finite"),
    (dict(omega=float("nan")), "omega must be finite"),
    (dict(rho_ft=0.0), "rho_ft"),
    (dict(omega=1.5), "omega"),
    (dict(dim=0), "dim"),
    (dict(dim=10.5), "dim"),
    (dict(noise=-0.1), "noise"),
    (dict(teacher="laplace"), "teacher"),
])
def test_sampler_rejects_bad_inputs(kwargs, match):
    args = dict(dim=100, alpha=0.5, rho_pt=0.1, rho_ft=0.1, omega=0.5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as info:
        sample_ptft_task(**args)
    assert "\n" not in str(info.value)


@settings(max_examples=40, deadline=None)
@given(dim=st.integers(1, 300), rho_pt=st.floats(0, 1), rho_ft=st.floats(0.001, 1),
       omega=st.floats(0, 1), seed=st.integers(0, 2**31))
def test_group_counts_property(dim, rho_pt, rho_ft, omega, seed):
    try:
        t = sample_ptft_task(dim, 0.1, rho_pt, rho_ft, omega, seed=seed)
    except ValueError as e:
        assert "infeasible" in str(e)
        feasible = (omega * rho_ft <= rho_pt + 1e-12
                    and rho_pt + (1 - omega) * rho_ft <= 1 + 1e-12)
        assert not feasible or "rounding" in str(e)
        return
    n_pt, n_ft = round(rho_pt * dim), round(rho_ft * dim)
    n_ov = round(omega * n_ft)
    counts = t.group_counts()
    assert counts["shared"] == n_ov and counts["new"] == n_ft - n_ov
    assert counts["shared"] + counts["pt_only"] == n_pt
    assert sum(counts.values()) == dim and list(counts) == list(GROUP_NAMES)
