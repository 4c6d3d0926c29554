"""Finite-D AMP (empirical.amp) against the state evolution of replica.bayes: the mean error
over seeds within 3 standard errors of the SE prediction at the same iteration, in an easy
(recovering), a hard (stuck above the Bayes error) and a noisy setting; torch equals NumPy."""
import numpy as np
import pytest

from empirical.amp import compare_with_se, make_problem, run_amp
from replica import Task

CASES = {  # name: task, knowledge, alpha, iteration compared
    "easy": (Task(rho_pt=0.1, rho_ft=0.1, omega=0.5), "pt", 0.3, 8),
    "hard": (Task(rho_pt=0.1, rho_ft=0.1, omega=0.5), "none", 0.15, 30),
    "noisy": (Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.1), "pt", 0.3, 30),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_amp_tracks_state_evolution(name):
    task, knowledge, alpha, it = CASES[name]
    row = compare_with_se(task, [alpha], 2000, range(16), knowledge=knowledge, n_iter=it, at_iter=it).iloc[0]
    assert abs(row.amp_finite_d - row.se_theory) <= 3 * row.se
    if name == "hard":                     # stuck far above the Bayes error (0 here)
        assert row.amp_finite_d > 0.3 and row.bayes_error == 0.0


def test_torch_equals_numpy():
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.05, teacher="fixed")
    a = run_amp(make_problem(task, 0.3, 400, [1, 2], knowledge="pt"), 10, damping=0.8)
    b = run_amp(make_problem(task, 0.3, 400, [1, 2], knowledge="pt", backend="torch"), 10, damping=0.8)
    assert np.allclose(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.slow
def test_amp_error_shrinks_toward_se_with_dim():
    """The gap |mean - SE| at D = 8000 is within 3 SE and no larger than at D = 1000 plus noise."""
    task, knowledge, alpha, it = CASES["noisy"]
    small = compare_with_se(task, [alpha], 1000, range(16), knowledge=knowledge, n_iter=it).iloc[0]
    large = compare_with_se(task, [alpha], 8000, range(8), knowledge=knowledge, n_iter=it).iloc[0]
    assert abs(large.amp_finite_d - large.se_theory) <= 3 * large.se
    assert large.se < small.se


@pytest.mark.gpu
def test_amp_on_cuda_matches_cpu():
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.1)
    a = run_amp(make_problem(task, 0.3, 2000, [0, 1], backend="torch", device="cpu"), 20)
    b = run_amp(make_problem(task, 0.3, 2000, [0, 1], backend="torch", device="cuda"), 20)
    assert np.allclose(a, b, rtol=1e-8)
