"""Replica prediction vs the exact finite-D minimiser of the implicit-bias program
(D = 2000, a few draws): agreement within sampling error (3 SE) plus a 5% finite-size margin."""
import numpy as np
import pytest

from empirical.flow import gen_error, min_q_interpolant
from empirical.tasks import sample_ptft_task
from numerics.transfer import c_ft
from replica import Init, Task, solve


@pytest.mark.slow
@pytest.mark.parametrize("omega,alpha,gamma", [(1.0, 0.2, 0.0), (0.5, 0.3, 1.0)])
def test_replica_matches_exact_minimiser(omega, alpha, gamma):
    D, seeds = 2000, range(4)
    task, init = Task(rho_pt=0.1, rho_ft=0.1, omega=omega), Init(c_pt=1e-3, gamma_ft=gamma)
    theory = solve(task, init, [alpha]).gen_error[0]
    errs = []
    for seed in seeds:
        ft = sample_ptft_task(D, alpha, 0.1, 0.1, omega, seed=seed)
        used = c_ft(1.0, init.c_pt, init.lambda_abs, gamma)     # a_PT = 1 on the PT support
        unused = c_ft(0.0, init.c_pt, init.lambda_abs, gamma)
        c = np.where(ft.beta_pt != 0, used, unused)
        sol = min_q_interpolant(ft.X, ft.y, c)
        assert sol.converged
        errs.append(gen_error(sol.beta, ft.beta_star))
    mean, se = np.mean(errs), np.std(errs, ddof=1) / np.sqrt(len(errs))
    assert abs(mean - theory) <= 3 * se + 0.05 * theory, (mean, se, theory)
