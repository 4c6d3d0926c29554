"""Generated Numba kernels: prox properties, expectations vs mpmath, cross-process cache."""
import math
import subprocess
import sys
import textwrap

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import codegen


@pytest.fixture(scope="module")
def hyp():
    return codegen.builtin("hypent")


@pytest.fixture(scope="module")
def lone():
    return codegen.builtin("l1")


log_c = st.floats(-13, 3)
log_tau = st.floats(-6, 3)
# subnormal inputs (|z| < 1e-250) are out of scope: the prox there is below any use
zval = st.floats(-1e3, 1e3, allow_nan=False).filter(lambda v: v == 0.0 or abs(v) > 1e-250)


@settings(max_examples=300, deadline=None)
@given(zval, log_tau, log_c)
def test_hypent_prox_optimality_and_bounds(hyp, z, lt, lc):
    tau, c = 10.0**lt, 10.0**lc
    x = hyp.prox(z, tau, c)
    # stationarity of q_c(x) + (x - z)^2/(2 tau), scaled by |z| (an absolute 1e-16 floor)
    res = tau * math.asinh(x / c) / 2 + x - z
    assert abs(res) <= 1e-13 * max(abs(z), abs(x), 1e-300) + 1e-300
    assert 0.0 <= x / z <= 1.0 if z != 0 else x == 0.0      # shrinks towards 0, same sign
    d = hyp.prox_deriv(z, tau, c)
    assert 0.0 <= d <= 1.0
    assert hyp.prox(-z, tau, c) == -x                       # odd


@settings(max_examples=200, deadline=None)
@given(zval, zval, log_tau, log_c)
def test_hypent_prox_monotone(hyp, z1, z2, lt, lc):
    tau, c = 10.0**lt, 10.0**lc
    lo, hi = min(z1, z2), max(z1, z2)
    assert hyp.prox(lo, tau, c) <= hyp.prox(hi, tau, c)


@settings(max_examples=200, deadline=None)
@given(zval, log_tau)
def test_l1_prox_is_soft_threshold(lone, z, lt):
    tau = 10.0**lt
    expected = math.copysign(max(abs(z) - tau, 0.0), z)
    # |z| - tau cancels: its own rounding is eps*max(|z|, tau), so that is the absolute tolerance
    assert lone.prox(z, tau, 1.0) == pytest.approx(expected, rel=1e-14, abs=4e-16 * max(abs(z), tau))


def test_prox_derivative_matches_finite_difference(hyp):
    for z, tau, c in [(0.3, 0.2, 1e-3), (2.0, 1.0, 1e-8), (-0.01, 0.05, 1e-2), (4.0, 3.0, 50.0)]:
        h = 1e-6 * max(abs(z), 1e-3)
        fd = (hyp.prox(z + h, tau, c) - hyp.prox(z - h, tau, c)) / (2 * h)
        assert hyp.prox_deriv(z, tau, c) == pytest.approx(fd, rel=1e-6)


# -- expectations against an independent mpmath quadrature in z -------------------------------
mp.mp.dps = 25


def _mp_prox(z, tau, c, x0):
    """Newton in mpmath from the kernel's value (the root is unique, so any start works)."""
    x = mp.mpf(x0)
    for _ in range(60):
        f = mp.asinh(x / c) / 2 + (x - z) / tau
        x_new = x - f / (1 / (2 * mp.sqrt(x * x + c * c)) + 1 / tau)
        if abs(x_new - x) <= mp.mpf(10) ** (-22) * (abs(x) + mp.mpf(10) ** -200):
            return x_new
        x = x_new
    return x


def _mp_moments(hyp, sigma, tau, c, kind, par):
    sigma, tau, c = mp.mpf(sigma), mp.mpf(tau), mp.mpf(c)
    if kind == 1:
        var = par + sigma**2
        sd, mu, m, vpost = mp.sqrt(var), mp.mpf(0), par / var, par * sigma**2 / var
    else:
        sd, mu, m, vpost = sigma, mp.mpf(par if kind == 2 else 0), 0, 0

    def pieces(z):
        x = _mp_prox(z, tau, c, hyp.prox(float(z), float(tau), float(c)))
        eta_d = 1 / (1 + tau / (2 * mp.sqrt(x * x + c * c)))
        if kind == 1:
            err = (x - m * z) ** 2 + vpost
        elif kind == 2:
            err = (x - mu) ** 2
        else:
            err = x * x
        p = mp.npdf(z, mu, sd)
        return p * eta_d, p * err

    # split points cluster around the prox's kink region |z| <~ tau * few
    pts = sorted({float(mu + k * sd) for k in range(-10, 11)}
                 | {s * float(tau) * 10.0**e for s in (-1, 1) for e in range(-8, 3)} | {0.0})
    pts = [mp.mpf(p) for p in pts if abs(p - float(mu)) <= 10 * float(sd)]
    e_eta = mp.quad(lambda z: pieces(z)[0], pts)
    e_err = mp.quad(lambda z: pieces(z)[1], pts)
    return float(e_eta), float(e_err)


@pytest.mark.parametrize("sigma,tau,c,kind,par", [
    (0.3, 0.05, 1e-6, 1, 10.0),     # rich: kink of width ~c
    (0.3, 0.05, 1e-6, 0, 0.0),
    (0.05, 0.2, 2e-3, 2, 3.1622776601683795),
    (0.5, 0.8, 1.0, 1, 10.0),       # lazy
    (0.02, 0.01, 1e-3, 0, 0.0),
])
def test_component_expectations_match_mpmath(hyp, sigma, tau, c, kind, par):
    out = np.zeros(7)
    hyp.component(sigma, tau, c, kind, par, 9.0, 0.1, 64, sigma, out)
    ref_eta, ref_err = _mp_moments(hyp, sigma, tau, c, kind, par)
    assert out[0] == pytest.approx(ref_eta, rel=1e-9)
    assert out[1] == pytest.approx(ref_err, rel=1e-9)


def test_kernels_load_from_cache_in_a_fresh_process(hyp, tmp_path):
    """cache=True really caches: a second process finds compiled code (cache hits > 0)."""
    script = textwrap.dedent("""
        import numpy as np
        from numerics import codegen
        m = codegen.builtin("hypent")
        out = np.zeros(7)
        m.component(0.3, 0.05, 1e-3, 1, 10.0, 9.0, 0.1, 64, 0.3, out)
        print(sum(m.component.stats.cache_hits.values()), sum(m.component.stats.cache_misses.values()))
    """)
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
            for _ in range(2)]
    hits, misses = map(int, runs[1].stdout.split())
    assert hits >= 1 and misses == 0


def test_active_fraction_is_the_exact_soft_threshold_mass(lone):
    """l1: |eta| > 1e-6 exactly when |z| > tau + 1e-6, so P = 2 Phi(-(tau + 1e-6) / sigma)."""
    from scipy.stats import norm

    out = np.zeros(7)
    for sigma, tau in [(0.3, 0.05), (1.0, 2.0), (0.01, 0.1)]:
        lone.component(sigma, tau, 1.0, 0, 0.0, 9.0, 0.1, 64, sigma, out)
        assert out[2] == pytest.approx(2 * norm.sf((tau + 1e-6) / sigma), rel=1e-12, abs=1e-300)


def test_embedded_rules_converge_towards_the_fine_rule(hyp):
    """The 2h and 4h sums are the same trapezoid rule on every 2nd / 4th node: their distance
    to the h rule shrinks geometrically (what the a-posteriori estimate relies on)."""
    out = np.zeros(7)
    hyp.component(0.3, 0.05, 1e-3, 1, 10.0, 9.0, 0.1, 64, 0.3, out)
    ref_eta, ref_err = _mp_moments(hyp, 0.3, 0.05, 1e-3, 1, 10.0)
    e_h, e_2h, e_4h = (abs(out[i] - ref_err) for i in (1, 4, 6))
    assert e_h <= 1e-9 * ref_err and e_h < e_2h < e_4h


def test_penalties_flat_on_a_half_line_are_refused():
    from symbolic.penalty import PenaltyError, make_penalty

    with pytest.raises(PenaltyError, match="constant on b < 0"):
        make_penalty("Max(b, 0)**2")


@pytest.mark.parametrize("teacher", ["gaussian", "fixed"])
def test_analytic_jacobian_matches_central_difference(teacher):
    """residuals_x's Jacobian (same pass as the residuals) vs a central difference of the
    residuals on a fine rule (step 1e-4 in log space: truncation ~1e-8 relative)."""
    from replica import solver as S

    kern = codegen.builtin("hypent")
    cl = S.build_problem(S.SingleTask("hypent", 0.1, teacher, c=1e-3), None).classes
    per = np.zeros((cl.weight.size, 7))
    for ls, lt, alpha in [(-1.0, -1.5, 0.3), (0.3, -3.0, 0.5), (-2.5, -6.0, 0.2)]:
        args = (alpha, 0.01, 0.0, cl.weight, cl.c, cl.kind, cl.par, cl.svar, 9.0, 0.02, 256)
        jac, fine = np.zeros(4), np.zeros(2)
        kern.residuals_x(ls, lt, *args, per, kern.WANT_JAC, jac, fine)
        e = 1e-4
        fp = [kern.residuals(ls + e, lt, *args, per)[:2], kern.residuals(ls - e, lt, *args, per)[:2],
              kern.residuals(ls, lt + e, *args, per)[:2], kern.residuals(ls, lt - e, *args, per)[:2]]
        ref = np.array([(fp[0][0] - fp[1][0]) / (2 * e), (fp[0][1] - fp[1][1]) / (2 * e),
                        (fp[2][0] - fp[3][0]) / (2 * e), (fp[2][1] - fp[3][1]) / (2 * e)])
        scale = np.abs(ref).max()
        assert np.abs(jac - ref).max() <= 1e-7 * scale
        fd = np.zeros(4)
        kern.jacobian_fd(ls, lt, *args, per, fd, 1e-7)       # what the solver used before
        assert np.abs(jac - fd).max() <= 1e-5 * scale


def test_fine_rule_is_the_half_step_rule():
    """The h/2 sums from the midpoints equal the rule with twice the intervals."""
    from replica import solver as S

    kern = codegen.builtin("hypent")
    cl = S.build_problem(S.SingleTask("hypent", 0.1, "fixed", c=1e-3), None).classes
    per = np.zeros((cl.weight.size, 7))
    args = (0.3, 0.0, 0.0, cl.weight, cl.c, cl.kind, cl.par, cl.svar, 9.0, 1.0, 64)
    fine = np.zeros(2)
    kern.residuals_x(-1.0, -1.5, *args, per, kern.WANT_FINE, np.zeros(4), fine)
    f1, f2, _ = kern.residuals(-1.0, -1.5, *args[:-2], 0.5, 128, per)
    assert fine[0] == pytest.approx(f1, rel=1e-13, abs=1e-15)
    assert fine[1] == pytest.approx(f2, rel=1e-13, abs=1e-15)


def test_progress_bar_runs_the_same_compiled_curve():
    """With a progress bar the compiled curve runs in stretches of 64 points: the same values
    (to rounding) and the same convergence as one call over the whole curve."""
    from replica import Init, Task, solve

    alphas = np.linspace(0.01, 0.6, 200)
    init = Init(c_pt=1e-3, lambda_pt=-0.999e-3, gamma_ft=1e-6)
    whole = solve(Task(), init, alphas)
    shown = solve(Task(), init, alphas, progress=True)
    assert whole.converged.all() and shown.converged.all()
    np.testing.assert_allclose(shown.gen_error, whole.gen_error, rtol=1e-10)
    assert (shown.n_evals[1:] < 12).all()          # warm points, not the one-point-at-a-time path


def test_compiled_curve_equals_point_by_point():
    """The compiled warm curve gives the points the general path gives alone (~1e-10)."""
    from replica import Init, Task, solve

    alphas = np.linspace(0.02, 0.6, 30)
    curve = solve(Task(), Init(), alphas)
    assert curve.converged.all()
    assert (curve.n_evals[1:] < 12).all()
    for i in (0, 7, 29):
        alone = solve(Task(), Init(), [alphas[i]])
        assert alone.gen_error[0] == pytest.approx(curve.gen_error[i], rel=1e-10)
        assert alone.gen_error_err[0] > 0 and curve.gen_error_err[i] > 0


@pytest.mark.parametrize("kind,par", [(0, 0.0), (1, 10.0)])
def test_even_integrand_folded_equals_the_whole_line_rule(hyp, kind, par):
    """An even penalty with a centred z law is integrated on s >= 0 only (twice, the node at 0
    once): every output, the 2h/4h sub-rules, the Jacobian and the h/2 rule included, equals
    the trapezoid over the whole line [-b, b] with twice the intervals."""
    flags = hyp.WANT_JAC | hyp.WANT_FINE
    for sigma, tau, c in [(0.3, 0.05, 1e-3), (2.0, 1.0, 2e-6), (0.02, 0.04, 1.0)]:
        folded = np.zeros(hyp.NX)
        hyp.component_x(sigma, tau, c, kind, par, 9.0, 0.1, 64, sigma, flags, folded)
        sd = math.sqrt(par + sigma**2) if kind == 1 else sigma
        q_post = sigma**2 / sd**2 if kind == 1 else 0.0
        L = max(min(sigma, hyp.feature_scale(c)), 1e-6 * sigma)
        b = hyp.invert_m(9.0 * sd, 0, L, 0.0, 0, tau, c)
        n_half = max(32, math.ceil(b / 0.1))
        n_half = 4 * ((n_half + 3) // 4)
        whole = np.zeros(hyp.NX)
        hyp._segment(-b, b, 0, L, 0.0, 0, tau, c, kind, par, 0.0, sd, q_post, par * q_post, 0.1, 2 * n_half,
                     whole, flags)
        keep = [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]      # 2 is P(active), not a quadrature
        # d E[eta'] / d log sigma cancels (terms of either sign): rounding relative to the largest sum
        assert np.allclose(folded[keep], whole[keep], rtol=1e-13, atol=1e-14 * np.abs(whole[keep]).max())


def test_rich_cold_start_settles_tau_first():
    """Rich coordinates (c_FT ~ 1e-6): the guess's tau is far too small, F1 >> 1 there. The cold
    path solves tau at the guessed sigma before Newton: a few dozen evaluations instead of the
    nested solve's hundreds, and the same point as the warm curve gives (1e-9)."""
    from replica import Init, Task, solve

    task, init = Task(rho_pt=0.1, rho_ft=0.1, omega=0.0), Init(c_pt=1e-3, lambda_pt=-0.999e-3, gamma_ft=1e-6)
    alphas = np.linspace(0.005, 0.4, 80)
    curve = solve(task, init, alphas)
    for i in (0, 19, 79):
        alone = solve(task, init, [alphas[i]])
        assert alone.converged[0] and alone.n_evals[0] <= 40, alone.n_evals
        assert alone.gen_error[0] == pytest.approx(curve.gen_error[i], rel=1e-9)


def test_solver_and_compiled_curve_share_their_thresholds(hyp):
    """The compiled curve certifies points with the same exact-recovery floor and error floor as
    replica.solver's Python path (the two are written in two files: this keeps them equal)."""
    from replica import solver as S

    assert hyp.RECOVERY_E == S._RECOVERY_E and hyp.TINY == S._TINY
