"""The Bayes-optimal / AMP limit (replica.bayes) against references written here: closed forms of
the Gaussian prior, adaptive SciPy quadrature of the posterior variance, an independent mutual
information (entropy by quadrature, not I-MMSE), a direct maximisation for the AMP threshold, and
the hierarchy Bayes <= AMP <= network / convex penalties from the replica solver."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize

from replica import Init, Task, solve, solve_single
from replica.bayes import mmse, potential, prior_of, solve_bayes, state_evolution, thresholds


# -- independent references ------------------------------------------------------------------
def _logsumexp(*xs):
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def _components(eps, kind, par):
    """Prior as (weight, mean, variance) atoms/slabs."""
    if kind == "gaussian":
        return [(1 - eps, 0.0, 0.0), (eps, 0.0, par)]
    return [(1 - eps, 0.0, 0.0), (eps / 2, par, 0.0), (eps / 2, -par, 0.0)]


def _post(w, s2, comps):
    """(log p(w), posterior variance) by Bayes' rule, written from scratch; the variance of the
    mixture posterior as sum_i p_i var_i + sum_{i<j} p_i p_j (mu_i - mu_j)^2 (no cancellation)."""
    logs, means, variances = [], [], []
    for wt, mu, var in comps:
        if wt <= 0:
            continue
        tot = var + s2
        logs.append(math.log(wt) - 0.5 * math.log(2 * math.pi * tot) - (w - mu) ** 2 / (2 * tot))
        means.append((mu * s2 + w * var) / tot)
        variances.append(var * s2 / tot)
    lp = _logsumexp(*logs)
    post = [math.exp(x - lp) for x in logs]
    v = sum(p * x for p, x in zip(post, variances))
    for i in range(len(post)):
        for j in range(i + 1, len(post)):
            v += post[i] * post[j] * (means[i] - means[j]) ** 2
    return lp, v


def _switches(s2, eps, kind, par):
    """w where the posterior weight of the null component crosses 1/2, and the width there."""
    if kind == "gaussian":
        k = par / (par + s2)
        c0 = math.log(eps / (1 - eps)) - 0.5 * math.log1p(par / s2)
        t = math.sqrt(max(-2 * c0 / k, 0.0))
        return [math.sqrt(s2) * t], math.sqrt(s2) / max(t, 1.0)
    w0 = par / 2 + s2 * math.log(2 * (1 - eps) / eps) / par
    return [abs(w0), abs(par - w0)], s2 / par


def ref_mmse(s2, eps, kind, par):
    """int p(w) Var(beta | w) dw by adaptive quadrature, with breakpoints packed around the
    posterior switches (where the integrand of a near-deterministic posterior lives)."""
    comps = _components(eps, kind, par)

    def f(w):
        lp, var = _post(w, s2, comps)
        return math.exp(lp) * var

    span = 14 * math.sqrt(s2 + (par if kind == "gaussian" else par * par))
    centres, width = _switches(s2, eps, kind, par)
    pts = {0.0, abs(par), span / 3}
    for c in centres:
        pts.update(c + k * width for k in range(-40, 41, 2))
    edges = sorted(x for x in pts if 0.0 <= x < span) + [span]
    return 2 * sum(integrate.quad(f, a, b, epsabs=0, epsrel=1e-12, limit=200)[0] for a, b in zip(edges[:-1], edges[1:]))


def ref_mutual_information(snr, eps, kind, par):
    """I(beta; sqrt(snr) beta + Z) = h(w) - h(w | beta) for w = beta + Z/sqrt(snr), by quadrature."""
    s2 = 1.0 / snr
    comps = _components(eps, kind, par)

    def f(w):
        lp, _ = _post(w, s2, comps)
        return -math.exp(lp) * lp

    span = 14 * math.sqrt(s2 + (par if kind == "gaussian" else par * par))
    h_w = integrate.quad(f, -span, span, epsabs=0, epsrel=1e-12, limit=400,
                         points=[0.0, par, -par] if kind == "fixed" else [0.0])[0]
    return h_w - 0.5 * math.log(2 * math.pi * math.e * s2)


def M_ref(task, knowledge, s2):
    pr = prior_of(task, knowledge)
    kind = task.teacher
    return sum(p * ref_mmse(s2, e, kind, par) for p, e, par in zip(pr.weight, pr.eps, pr.par))


def _largest_fixed_point(M, e0=1.0):
    """The fixed point AMP reaches from e0: iterate E <- M(E) (a decreasing sequence, since M is
    increasing and M(e0) < e0) until the steps are small, then walk down from the last iterate in
    growing steps to the first E with M(E) >= E and bisect there. A fixed grid is not enough: a
    stuck fixed point and its unstable partner can both sit between two grid nodes."""
    e = e0
    for _ in range(400):
        nxt = M(e)
        if e - nxt <= 0.02 * e or nxt <= 0:
            break
        e = nxt
    F = lambda x: M(x) - x  # noqa: E731
    hi, step = e, max(e - M(e), 1e-300)
    while F(hi) < 0:
        lo = max(hi - step, 0.0)
        if F(lo) >= 0:
            return optimize.brentq(F, lo, hi, xtol=1e-15 * max(lo, 1e-300), rtol=1e-13)
        hi, step = lo, 1.5 * step
    return hi


# -- closed forms ------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(s2=st.floats(1e-12, 1e6), rho=st.floats(0.01, 1.0))
def test_gaussian_prior_mmse_closed_form(s2, rho):
    task = Task(rho_pt=0.0, rho_ft=rho, omega=0.0)
    pr = prior_of(task, "genie")     # eps = 1 on the FT support: a Gaussian prior N(0, 1/rho) there
    v = 1.0 / rho
    got = mmse(pr, s2)[0][0]
    assert got == pytest.approx(rho * v * s2 / (v + s2), rel=1e-13)


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.01, 3.0), noise=st.sampled_from([0.0, 0.05, 0.3, 1.0]))
def test_gaussian_prior_fixed_point_closed_form(alpha, noise):
    """Every coordinate N(0, 1): E = (s^2+E)/(alpha + (s^2+E)/1 ... ) solves E^2 + (alpha - 1 + s^2) E - s^2 = 0;
    noiseless E = 1 - alpha (alpha < 1), the min-norm / ridge value."""
    task = Task(rho_pt=0.0, rho_ft=1.0, omega=0.0, noise=noise)
    res = solve_bayes(task, [alpha], knowledge="none")
    s2 = noise**2
    b = alpha - 1 + s2
    exact = (-b + math.sqrt(b * b + 4 * s2)) / 2 if s2 > 0 else max(1 - alpha, 0.0)
    assert res.converged[0]
    assert res.bayes_error[0] == pytest.approx(exact, rel=1e-9, abs=1e-14)
    assert res.amp_error[0] == pytest.approx(exact, rel=1e-9, abs=1e-14)
    assert abs(res.bayes_error[0] - exact) <= 10 * res.bayes_error_err[0] + 1e-9 * exact + 1e-14


# -- the kernels against adaptive quadrature ---------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(s2=st.floats(1e-6, 1e2), eps=st.floats(0.01, 0.95), rho=st.floats(0.02, 1.0),
       teacher=st.sampled_from(["gaussian", "fixed"]))
def test_mmse_matches_adaptive_quadrature(s2, eps, rho, teacher):
    par = 1 / rho if teacher == "gaussian" else 1 / math.sqrt(rho)
    task = Task(rho_pt=0.0, rho_ft=rho, omega=0.0, teacher=teacher)
    pr = prior_of(task, "none")
    pr = type(pr)(np.array([1.0]), np.array([eps]), pr.kind, np.array([par]), ("g",))
    got, est = mmse(pr, s2)
    ref = ref_mmse(s2, eps, teacher, par)
    assert got[0] == pytest.approx(ref, rel=1e-8, abs=1e-300)
    assert abs(got[0] - ref) <= est[0] + 1e-12 * ref          # the estimate is honest
    # it can be loose at the default step (the h vs 2h difference bounds the h rule's error);
    # the solver then halves the step, where it must meet the default rtol
    fine, est_fine = mmse(pr, s2, hfac=0.5)
    assert fine[0] == pytest.approx(ref, rel=1e-8, abs=1e-300) and est_fine[0] <= 1e-8 * fine[0]


@settings(max_examples=5, deadline=None)
@given(alpha=st.floats(0.05, 0.8), noise=st.floats(0.02, 0.5), omega=st.floats(0.0, 1.0),
       teacher=st.sampled_from(["gaussian", "fixed"]), knowledge=st.sampled_from(["pt", "none"]))
def test_fixed_points_match_reference_state_evolution(alpha, noise, omega, teacher, knowledge):
    """The SE written here with quadrature mmse: iterate from E = 1 to the AMP fixed point."""
    task = Task(rho_pt=0.2, rho_ft=0.1, omega=omega, teacher=teacher, noise=noise)
    res = solve_bayes(task, [alpha], knowledge=knowledge)
    M = lambda E: M_ref(task, knowledge, (noise**2 + E) / alpha)  # noqa: E731
    e_amp = _largest_fixed_point(M)
    assert res.converged[0]
    assert res.amp_error[0] == pytest.approx(e_amp, rel=1e-8, abs=1e-15)


@pytest.mark.parametrize("alpha", [0.3, 0.6])
def test_exponentially_small_errors_match_reference(alpha):
    """Fixed teacher with label noise: the AMP error is 1e-66 .. 1e-131 here, and E = M((s^2 + E) /
    alpha) iterated with the quadrature reference (E << s^2, so it settles in a few steps) agrees
    to 1e-8 relative, inside the error estimate (propagated through d ln M / du, ~300 here)."""
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, teacher="fixed", noise=0.05)
    res = solve_bayes(task, [alpha])
    e = 1.0
    for _ in range(100):
        e, prev = M_ref(task, "pt", (task.noise ** 2 + e) / alpha), e
        if abs(e - prev) <= 1e-15 * e:
            break
    assert res.converged[0] and 0.0 < e < 1e-60
    assert res.amp_error[0] == pytest.approx(e, rel=1e-8)
    assert abs(res.amp_error[0] - e) <= res.amp_error_err[0] + 1e-12 * e


# -- the potential -----------------------------------------------------------------------------
@pytest.mark.parametrize("teacher,noise,alpha", [("gaussian", 0.05, 0.16), ("gaussian", 0.2, 0.3),
                                                   ("fixed", 0.1, 0.2)])
def test_potential_stationary_points_are_fixed_points(teacher, noise, alpha):
    """phi written here from the mutual information by quadrature (not I-MMSE):
    phi(E) = sum p I(alpha/(s^2+E)) + alpha/2 [ln(1 + E/s^2) - E/(s^2+E)]."""
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.0, teacher=teacher, noise=noise)
    pr = prior_of(task, "none")
    s2 = noise**2

    def phi(E):
        snr = alpha / (s2 + E)
        mi = sum(p * ref_mutual_information(snr, e, teacher, par) for p, e, par in zip(pr.weight, pr.eps, pr.par))
        return mi + 0.5 * alpha * (math.log1p(E / s2) - E / (s2 + E))

    es = np.geomspace(1e-4, 1.0, 41)
    vals = np.array([phi(e) for e in es])
    # phi differences agree with the library's potential
    lib = potential(task, alpha, es, knowledge="none")
    assert np.allclose(vals - vals[-1], lib, rtol=1e-7, atol=1e-9)
    # every interior local minimum of phi is a stable fixed point found by the solver
    res = solve_bayes(task, [alpha], knowledge="none")
    for i in range(1, len(es) - 1):
        if vals[i] < vals[i - 1] and vals[i] < vals[i + 1]:
            r = optimize.minimize_scalar(lambda x: phi(math.exp(x)), bounds=(math.log(es[i - 1]), math.log(es[i + 1])),
                                         method="bounded", options={"xatol": 1e-9})
            e_min = math.exp(r.x)
            assert min(abs(e_min - res.bayes_error[0]), abs(e_min - res.amp_error[0])) <= 1e-6 * e_min + 1e-9
    # the Bayes error is the global minimiser
    best = phi(res.bayes_error[0])
    assert best <= vals.min() + 1e-9 and best <= phi(res.amp_error[0]) + 1e-9


# -- thresholds --------------------------------------------------------------------------------
@settings(max_examples=10, deadline=None)
@given(rho_ft=st.floats(0.01, 0.5), omega=st.floats(0.0, 1.0), knowledge=st.sampled_from(["pt", "none", "genie"]))
def test_alpha_it_is_rho_ft_for_gaussian_teacher(rho_ft, omega, knowledge):
    task = Task(rho_pt=0.5, rho_ft=rho_ft, omega=omega)
    th = thresholds(task, knowledge)
    assert th["alpha_it"] == pytest.approx(rho_ft, rel=1e-12)
    assert th["alpha_it"] <= th["alpha_amp"] + 1e-12


@pytest.mark.parametrize("rho", [0.05, 0.1, 0.2, 0.3])
def test_alpha_amp_bernoulli_gauss_reference(rho):
    """Without PT: AMP recovers iff alpha > sup_s M(s)/s (no nonzero SE fixed point). The
    reference maximises M(s)/s with the quadrature mmse written here; the known values of the
    compressed-sensing literature (e.g. ~0.2 at rho = 0.1) lie below the l1 (Donoho-Tanner) curve."""
    task = Task(rho_pt=0.0, rho_ft=rho, omega=0.0)
    th = thresholds(task, "none")
    g = lambda u: -M_ref(task, "none", math.exp(u)) / math.exp(u)  # noqa: E731
    us = np.linspace(-12, 4, 33)
    i = int(np.argmin([g(u) for u in us]))
    r = optimize.minimize_scalar(g, bounds=(us[max(i - 1, 0)], us[min(i + 1, len(us) - 1)]), method="bounded",
                                 options={"xatol": 1e-8})
    assert th["alpha_amp"] == pytest.approx(-r.fun, abs=1e-6)
    assert rho < th["alpha_amp"] < th["alpha_l1"]
    # just above alpha_amp AMP recovers exactly; just below it is stuck (hard phase)
    res = solve_bayes(task, [th["alpha_amp"] * 0.99, th["alpha_amp"] * 1.01], knowledge="none")
    assert list(res.phase) == ["hard", "exact-recovery"]
    assert res.bayes_error[0] == 0.0 and res.amp_error[0] > 0.01


def test_fixed_teacher_noiseless_bayes_recovers():
    """A discrete FT law has information dimension 0: the Bayes error vanishes at every alpha."""
    res = solve_bayes(Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, teacher="fixed"), [0.05, 0.2, 0.5], knowledge="none")
    assert (res.bayes_error == 0).all() and res.info["alpha_it"] == 0.0


def test_state_evolution_reaches_amp_fixed_point():
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.1)
    traj = state_evolution(task, 0.3, n_iter=400)
    res = solve_bayes(task, [0.3])
    assert np.all(np.diff(traj) <= 1e-15)          # monotone from E_0 = 1
    assert traj[-1] == pytest.approx(res.amp_error[0], rel=1e-9)


def test_knowledge_orders_the_errors():
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.7, noise=0.05)
    alphas = np.linspace(0.05, 0.6, 12)
    e = {k: solve_bayes(task, alphas, knowledge=k) for k in ("genie", "pt", "none")}
    assert (e["genie"].bayes_error <= e["pt"].bayes_error * (1 + 1e-9)).all()
    assert (e["pt"].bayes_error <= e["none"].bayes_error * (1 + 1e-9)).all()


def test_bad_input_is_refused():
    from replica.params import ParameterError

    with pytest.raises(ParameterError):
        solve_bayes(Task(), [0.1], knowledge="oracle")
    with pytest.raises(ParameterError):
        solve_bayes(Task(), [-0.1])


# -- the hierarchy -----------------------------------------------------------------------------
@settings(max_examples=12, deadline=None)
@given(log_c=st.floats(-6, 1), lam=st.floats(-0.99, 0.99), log_g=st.floats(-6, 1.5),
       alpha=st.floats(0.05, 0.9), omega=st.sampled_from([0.0, 0.5, 1.0]), noise=st.sampled_from([0.0, 0.1]))
def test_bayes_below_amp_below_network(log_c, lam, log_g, alpha, omega, noise):
    """Bayes <= AMP (the SE from E_0 = 1) <= the network's replica error on the oracle-PT task,
    for every initialisation of the box, within the error estimates."""
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=omega, noise=noise)
    init = Init(c_pt=10**log_c, lambda_pt=lam, gamma_ft=10**log_g, relative=True)
    net = solve(task, init, [alpha])
    lim = solve_bayes(task, [alpha])
    assert lim.converged[0]
    assert lim.bayes_error[0] <= lim.amp_error[0] + lim.amp_error_err[0] + lim.bayes_error_err[0]
    if net.converged[0]:
        assert lim.amp_error[0] <= net.gen_error[0] + net.gen_error_err[0] + lim.amp_error_err[0] + 1e-12


@pytest.mark.parametrize("penalty", ["l1", "ridge", "hypent"])
@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_bayes_below_convex_single_task(penalty, noise):
    rho = 0.1
    alphas = [0.1, 0.2, 0.3, 0.5, 0.8]
    task = Task(rho_pt=0.0, rho_ft=rho, omega=0.0, noise=noise)
    lim = solve_bayes(task, alphas, knowledge="none")
    conv = solve_single(penalty, rho, alphas, noise=noise, c=1e-3 if penalty == "hypent" else 1.0)
    ok = conv.converged
    assert (lim.amp_error[ok] <= conv.gen_error[ok] + conv.gen_error_err[ok] + lim.amp_error_err[ok] + 1e-12).all()


@pytest.mark.parametrize("kk", [8.0, 20.0, 35.0, 50.0])
@pytest.mark.parametrize("eps", [0.02, 0.3, 0.9])
def test_fixed_mmse_tiny_errors_match_adaptive_quadrature(kk, eps):
    """The fixed teacher at small sigma (kk = A/sigma): mmse ~ exp(-kk^2/8), down to ~1e-136,
    where the posterior switches are far out in the Gaussian tail and of width 1/kk."""
    rho = 0.1
    par = 1 / math.sqrt(rho)
    s2 = (par / kk) ** 2
    task = Task(rho_pt=0.0, rho_ft=rho, omega=0.0, teacher="fixed")
    pr = prior_of(task, "none")
    pr = type(pr)(np.array([1.0]), np.array([eps]), pr.kind, np.array([par]), ("g",))
    got, est = mmse(pr, s2)
    ref = ref_mmse(s2, eps, "fixed", par)
    assert 0 < ref < 1e-3
    assert got[0] == pytest.approx(ref, rel=1e-9, abs=0)
    assert est[0] <= 1e-8 * got[0]


@pytest.mark.parametrize("kk", [1.0, 3.0, 14.0, 30.0])
def test_two_atom_prior_matches_the_binary_channel(kk):
    """eps = 1 (the genie level, fixed teacher): beta = +-A, E[beta | w] = A tanh(A w / sigma^2),
    so mmse / A^2 = E[1 - tanh(kk^2 + kk Z)] = E[2 / (1 + exp(2 (kk^2 + kk Z)))] (kk = A / sigma)."""
    par = 1 / math.sqrt(0.1)
    s2 = (par / kk) ** 2

    def f(z):
        return math.exp(-z * z / 2) / math.sqrt(2 * math.pi) * 2 / (1 + math.exp(min(2 * (kk * kk + kk * z), 700)))

    edges = sorted({-kk - 40.0, kk + 40.0, *(-kk + j / kk for j in range(-40, 41, 2))})
    ref = sum(integrate.quad(f, a, b, epsabs=0, epsrel=1e-13, limit=200)[0] for a, b in zip(edges[:-1], edges[1:]))
    task = Task(rho_pt=0.0, rho_ft=0.1, omega=0.0, teacher="fixed")
    got, est = mmse(prior_of(task, "genie"), s2)
    got, est = got[0] / (0.1 * par**2), est[0] / (0.1 * par**2)     # the FT support has weight rho_FT
    assert got == pytest.approx(ref, rel=1e-9, abs=0)
    assert est <= 1e-8 * got
