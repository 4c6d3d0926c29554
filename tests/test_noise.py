"""Label noise sigma^2 on the FT labels: closed forms, the interpolation peak at alpha = 1 and
the exact finite-D minimiser on noisy data.

Independent references:
* min-norm (ridge-limit) interpolation with x ~ N(0, I/D), N = alpha D: by the mean of the
  inverse Wishart, E_gen = (1 - alpha) E[beta*^2] + sigma^2 alpha / (1 - alpha) for alpha < 1
  and sigma^2 / (alpha - 1) for alpha > 1 (least squares); checked here by direct simulation too;
* a weighted ridge (q_c with huge c) has a scalar closed form with noise (module helper);
* near alpha = 1 any smooth penalty gives (1 - alpha) E_gen -> sigma^2 (Stein's lemma on the
  prox expansion eta = z - tau Q'(z)): the peak;
* the exact min-q interpolant of noisy finite-D data (empirical.flow, dual Newton) at D = 1000.

The error balance that all of these fix is alpha sigma_eff^2 = sigma_noise^2 + E_gen (X has
entries of variance 1/D); an earlier statement wrote alpha sigma_noise^2, which these checks
refute (the kernels were fixed accordingly).
"""
import math

import numpy as np
import pytest
from scipy import optimize

from empirical.flow import gen_error, min_q_interpolant
from empirical.tasks import sample_ptft_task, sample_single_task
from numerics.transfer import c_ft
from replica import Init, Task, solve, solve_single
from replica.solver import _pack, solve_classes

def _min_norm_closed_form(alpha, sigma, second_moment=1.0):
    if alpha < 1:
        return (1 - alpha) * second_moment + sigma**2 * alpha / (1 - alpha)
    return sigma**2 / (alpha - 1)


@pytest.mark.parametrize("teacher", ["gaussian", "fixed"])
def test_ridge_noisy_interpolation_closed_form_below_one(teacher):
    alphas = np.array([0.1, 0.3, 0.5, 0.8, 0.95])
    res = solve_single("ridge", 0.1, alphas, teacher=teacher, noise=0.5)
    assert res.converged.all()
    np.testing.assert_allclose(res.gen_error, [_min_norm_closed_form(a, 0.5) for a in alphas], rtol=1e-9)


def test_ridge_noisy_least_squares_above_one():
    alphas = np.array([1.2, 2.0, 5.0])
    res = solve_single("ridge", 0.1, alphas, noise=0.5)
    np.testing.assert_allclose(res.gen_error, [_min_norm_closed_form(a, 0.5) for a in alphas], rtol=1e-12)
    np.testing.assert_allclose(res.test_error, res.gen_error + 0.25, rtol=1e-12)


def _min_norm_simulation(alpha, sigma, dim=1000, seeds=6):
    errs = []
    for seed in range(seeds):
        t = sample_single_task(dim, alpha, 1.0, noise=sigma, seed=seed)     # dense N(0, 1) teacher
        beta = np.linalg.lstsq(t.X, t.y, rcond=None)[0]                        # min-norm / least squares
        errs.append(gen_error(beta, t.beta_star))
    return np.mean(errs), np.std(errs, ddof=1) / math.sqrt(seeds)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_min_norm_closed_form_against_simulation(alpha):
    """The reference itself, checked by simulation at D = 1000 (6 draws)."""
    mean, se = _min_norm_simulation(alpha, 0.5)
    assert abs(mean - _min_norm_closed_form(alpha, 0.5)) <= 3 * se + 0.02


def _weighted_ridge_noisy(p, w, second_moment, alpha, noise2):
    """Q_k = b^2/(2 w_k): eta = z w/(w + tau); E[eta'] = alpha fixes tau; then
    alpha s^2 = noise2 + sum p [(tau/(w+tau))^2 m2 + (w/(w+tau))^2 s^2]."""
    tau = optimize.brentq(lambda t: np.sum(p * w / (w + t)) - alpha, 1e-12, 1e12, xtol=1e-300, rtol=1e-15)
    shrink = (w / (w + tau)) ** 2
    s2 = (noise2 + np.sum(p * (tau / (w + tau)) ** 2 * second_moment)) / (alpha - np.sum(p * shrink))
    return alpha * s2 - noise2


@pytest.mark.parametrize("alpha", [0.2, 0.6, 0.9])
def test_huge_c_is_noisy_weighted_ridge(alpha):
    # q_c(b) = b^2/(4c) (1 + O(b^2/c^2)): a weighted ridge with w = 2c
    p = np.array([0.05, 0.1, 0.3, 0.55])
    c = np.array([3e6, 1e7, 3e6, 5e5])
    second = np.array([10.0, 10.0, 0.0, 0.0])
    classes = _pack(list(p), list(c), [1, 1, 0, 0], [10.0, 10.0, 0.0, 0.0], [0, 1, 2, 3], ("a", "b", "c", "d"))
    res = solve_classes(classes, [alpha], noise=0.4)
    assert res.converged.all()
    ref = _weighted_ridge_noisy(p, 2 * c, second, alpha, 0.16)
    assert res.gen_error[0] == pytest.approx(ref, rel=1e-8)


@pytest.mark.parametrize("lam,gamma", [(0.0, 0.0), (-0.99, 0.0)])
def test_interpolation_peak_at_alpha_one(lam, gamma):
    """(1 - alpha) E -> sigma^2 from below, (alpha - 1) E = sigma^2 above, E grows towards 1."""
    sigma = 0.3
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=1.0, noise=sigma)
    init = Init(c_pt=1e-3, lambda_pt=lam, gamma_ft=gamma, relative=True)
    below = np.array([0.6, 0.9, 0.99, 0.999, 0.9999])
    res = solve(task, init, below)
    assert res.converged.all()
    assert np.all(np.diff(res.gen_error[1:]) > 0)              # rising into the peak
    ratio = (1 - below) * res.gen_error / sigma**2
    assert abs(ratio[-1] - 1) < 0.02 and abs(ratio[-1] - 1) < abs(ratio[1] - 1)
    above = solve(task, init, [1.0001, 1.01, 1.5])
    np.testing.assert_allclose((above.alpha - 1) * above.gen_error, sigma**2, rtol=1e-12)
    noiseless = solve(Task(rho_pt=0.1, rho_ft=0.1, omega=1.0), init, [0.999, 1.01])
    assert noiseless.gen_error[0] < 1e-3 and noiseless.gen_error[1] == 0.0      # no peak without noise


def test_vanishing_noise_is_continuous():
    task0 = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5)
    init = Init(c_pt=1e-3)
    alphas = [0.1, 0.3]
    e0 = solve(task0, init, alphas).gen_error
    e1 = solve(Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=1e-5), init, alphas).gen_error
    np.testing.assert_allclose(e1, e0, rtol=1e-6, atol=1e-9)


def _simulate_ptft(omega, alpha, sigma, init, dim, seeds, tol=1e-12):
    """Exact min-q interpolant (alpha < 1) or least squares (alpha > 1) of noisy sampled data."""
    used = c_ft(1.0, init.c_pt, init.lambda_abs, init.gamma_ft)
    unused = c_ft(0.0, init.c_pt, init.lambda_abs, init.gamma_ft)
    errs = []
    for seed in range(seeds):
        t = sample_ptft_task(dim, alpha, 0.1, 0.1, omega, noise=sigma, seed=seed)
        if alpha > 1:                       # noisy labels: no interpolator, least squares
            beta = np.linalg.lstsq(t.X, t.y, rcond=None)[0]
        else:
            sol = min_q_interpolant(t.X, t.y, np.where(t.beta_pt != 0, used, unused), tol=tol)
            assert sol.converged
            beta = sol.beta
        errs.append(gen_error(beta, t.beta_star))
    return np.mean(errs), np.std(errs, ddof=1) / math.sqrt(seeds)


@pytest.mark.slow
@pytest.mark.parametrize("omega,alpha,lam", [(1.0, 0.3, 0.0), (0.5, 0.5, -0.99)])
def test_replica_matches_noisy_minimiser_at_d1000(omega, alpha, lam):
    """Exact min-q interpolant of noisy data (D = 1000, 5 draws) vs the replica prediction."""
    sigma = 0.5
    init = Init(c_pt=1e-3, lambda_pt=lam, relative=True)
    theory = solve(Task(rho_pt=0.1, rho_ft=0.1, omega=omega, noise=sigma), init, [alpha]).gen_error[0]
    mean, se = _simulate_ptft(omega, alpha, sigma, init, 1000, 5)
    assert abs(mean - theory) <= 3 * se + 0.05 * theory, (mean, se, theory)


if __name__ == "__main__":
    # the replica-vs-simulation tables of docs/regimes.md section 5:
    #   OPENBLAS_NUM_THREADS=1 python tests/test_noise.py
    print("D = 2000, 4 draws: omega alpha sigma lambda_rel gamma | replica | simulation")
    for omega, alpha, sigma, lam, gamma in [(1.0, 0.3, 0.5, 0.0, 0.0), (0.5, 0.5, 0.5, -0.99, 0.0),
                                            (0.0, 0.8, 0.3, -1.0, 1e-6)]:
        init = Init(c_pt=1e-3, lambda_pt=lam, gamma_ft=gamma, relative=True)
        theory = solve(Task(rho_pt=0.1, rho_ft=0.1, omega=omega, noise=sigma), init, [alpha]).gen_error[0]
        mean, se = _simulate_ptft(omega, alpha, sigma, init, 2000, 4)
        print(f"{omega:g} {alpha:g} {sigma:g} {lam:g} {gamma:g} | {theory:.4f} | {mean:.4f} +- {se:.4f}")
    print("peak, setting II, omega = 1, sigma = 0.3, D = 1000, 5 draws: alpha | replica | simulation")
    init = Init(c_pt=1e-3, relative=True)
    for alpha in (0.3, 0.6, 0.9, 0.95, 0.99, 1.05, 1.2, 2.0):
        theory = solve(Task(rho_pt=0.1, rho_ft=0.1, omega=1.0, noise=0.3), init, [alpha]).gen_error[0]
        mean, se = _simulate_ptft(1.0, alpha, 0.3, init, 1000, 5, tol=1e-10 if alpha == 0.99 else 1e-12)
        print(f"{alpha:g} | {theory:.4f} | {mean:.4f} +- {se:.4f}")
