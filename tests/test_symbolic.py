"""The symbolic layer: derivation checks, the c_FT map (Theorem 4.1) against independent
constructions, the oracle PT end state, and the derivation report."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm
from scipy.optimize import brentq

from symbolic import transfer
from symbolic.network import (conserved_quantities, e_sym, flow_matrix, lam_m_sym, lam_p_sym,
                              predictor_metric, vm, vp, wm, wp)
from symbolic.report import derivation
from symbolic.symbols import beta_pt, c, c_pt, gamma_ft, lambda_pt
from numerics.transfer import c_ft_numeric
from numerics.transfer import pt_end_state as pt_end_state_numeric
from symbolic.transfer import c_ft_expression
from symbolic.verify import CheckResult, main_verify, run_checks

EXPECTED_CHECKS = {
    "conserved_space_dimension", "conserved_lambda_plus_dt", "conserved_lambda_minus_dt",
    "conserved_c_dt", "conserved_e_dt", "invariant_relation", "metric_identity",
    "potential_q0", "potential_dq0", "potential_d2q_metric", "potential_dq_asinh",
    "authors_convention", "limit_c_infinity", "limit_c_zero", "pt_init_invariants",
    "lambda_irrelevance", "pt_state_invariants", "pt_state_on_flow_orbit", "c_ft_groebner_vs_state",
    "ft_reinit", "c_ft_closed_form", "c_ft_direct_construction", "pt_state_vs_flow",
    *(f"{kind}[{pen}]" for pen in ("ridge", "l1", "hypent")
      for kind in ("prox_optimality", "prox_inverse", "prox_derivative", "prox_derivative_range", "prox_odd")),
    "regimes[PD = (1 - l) eps]", "regimes[l(u) closed form]", "regimes[Euler: c dlog q/dc = 1 - l]",
    "deep_linear[p = (L+1)/L]", "deep_linear[hess*metric L=3]", "deep_linear[L->oo limit]",
    "transfer_orbit[end state keeps c, lambda+-, e]",
}


# -- the verification suite -------------------------------------------------------------------
@pytest.fixture(scope="module")
def checks():
    return run_checks(seed=3)


def test_every_verify_check_passes(checks):
    failed = [(r.name, r.detail) for r in checks if not r.passed]
    assert not failed, failed


def test_verify_covers_the_required_checks(checks):
    names = {r.name for r in checks}
    assert EXPECTED_CHECKS <= names, sorted(EXPECTED_CHECKS - names)
    assert all(isinstance(r, CheckResult) and r.method in ("symbolic", "mpmath-50", "mpmath-40") for r in checks)
    assert all(r.max_error < 1e-40 for r in checks if r.method == "mpmath-50")
    assert all(r.max_error < 1e-30 for r in checks if r.method == "mpmath-40")


def test_every_check_is_explained_in_one_sentence(checks):
    from symbolic.verify import explain

    for r in checks:
        text = explain(r.name)
        assert text.endswith(".") and text.count(". ") == 0 and len(text) > 20, r.name


def test_cli_verify_verbose_flag(checks, monkeypatch, capsys):
    """`ptft verify` prints the count; `--verbose` adds one sentence per check."""
    import symbolic.verify as verify
    from ptft.cli import main

    monkeypatch.setattr(verify, "run_checks", lambda seed=0: checks)
    assert main(["verify"]) == 0
    plain = capsys.readouterr().out
    assert main(["verify", "--verbose"]) == 0
    verbose = capsys.readouterr().out
    assert f"{len(checks)}/{len(checks)} checks passed" in plain
    assert len(verbose.splitlines()) == len(plain.splitlines()) + len(checks)


def test_verify_fails_when_a_module_derivation_breaks(monkeypatch):
    """The regime and deep-linear steps are really run: breaking one makes verify fail."""
    import symbolic.deep_linear as deep
    import symbolic.regimes as reg
    import symbolic.verify as verify

    monkeypatch.setattr(reg, "checks", lambda: [("l limits", False, "l(0+) = 3")])
    monkeypatch.setattr(deep, "checks", lambda: (_ for _ in ()).throw(RuntimeError("broken step")))
    regime = verify._regime_checks()
    deep_res = verify._guard("deep_linear", "symbolic", verify._deep_linear_checks)
    assert [r.passed for r in regime] == [False] and regime[0].name == "regimes[l limits]"
    assert not deep_res.passed and "broken step" in deep_res.detail


def test_main_verify_exit_code(checks, monkeypatch, capsys):
    import symbolic.verify as verify

    monkeypatch.setattr(verify, "run_checks", lambda seed=0: checks)     # reuse, keep the file fast
    assert main_verify(verbose=True) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == len(checks) and f"{len(checks)}/{len(checks)} checks passed" in out
    assert "c_FT derived from the invariants equals" in out          # --verbose explains
    assert main_verify(verbose=False) == 0
    assert "c_FT derived from the invariants" not in capsys.readouterr().out
    bad = CheckResult("fake", "symbolic", False, float("inf"), "deliberately failing")
    monkeypatch.setattr(verify, "run_checks", lambda seed=0: [*checks, bad])
    assert main_verify(verbose=False) == 1
    assert "fake" in capsys.readouterr().out


# -- derived objects ------------------------------------------------------------------------
def test_conserved_quantities_are_found():
    cq = conserved_quantities()
    assert cq.dimension == 4
    expected = {"lambda_plus": wp**2 - vp**2, "lambda_minus": wm**2 - vm**2,
                "c": wp * wm + vp * vm, "e": wp * vm + vp * wm}
    for name, form in expected.items():
        assert sp.expand(cq.named()[name] - form) == 0, name
    assert sp.expand(cq.relation - (c**2 - e_sym**2 - lam_p_sym * lam_m_sym)) == 0
    assert sp.expand(cq.k - ((lam_p_sym - lam_m_sym) ** 2 + 4 * c**2)) == 0
    assert sp.simplify(cq.metric.subs(lam_m_sym, lam_p_sym) - predictor_metric(balanced=True)) == 0


def test_c_ft_expression_is_theorem_4_1():
    expected = (lambda_pt + c_pt) * (1 + sp.sqrt(1 + beta_pt**2 / c_pt**2)) + gamma_ft**2 / 2
    assert sp.simplify(c_ft_expression() - expected) == 0
    ft = transfer.ft_invariants()
    assert sp.simplify(ft["k"] - 4 * ft["c"] ** 2) == 0 and ft["beta"] == 0
    assert sp.simplify(transfer.pt_invariants()["k"] - 4 * c_pt**2) == 0     # lambda irrelevant
    assert all(transfer.orbit_checks().values())


def test_assumptions_are_stated():
    text = " ".join(transfer.ASSUMPTIONS).lower()
    for key in ("gradient flow", "oracle", "|lambda_pt| <= c_pt", "gamma_ft/sqrt(2)", "beta_ft(0) = 0",
                "interpolator", "lambda+ = lambda-"):
        assert key in text, key


# -- numeric PT end state and c_FT ------------------------------------------------------------
def _invariant_errors(state, c_v, lam_v, beta_v):
    """Errors of the invariants of a float state, each relative to the size of its own terms
    (the invariants are differences of products; that size is what float64 can resolve)."""
    w1, v1, w2, v2 = state
    terms = {
        "c": (w1 * w2 + v1 * v2, c_v, np.abs(w1 * w2) + np.abs(v1 * v2)),
        "lambda_plus": (w1**2 - v1**2, lam_v, w1**2 + v1**2),
        "lambda_minus": (w2**2 - v2**2, lam_v, w2**2 + v2**2),
        "e": (w1 * v2 + v1 * w2, np.sqrt(np.maximum((c_v - lam_v) * (c_v + lam_v), 0)), np.abs(w1 * v2) + np.abs(v1 * w2)),
        "beta": (w1 * v1 - w2 * v2, beta_v, np.abs(w1 * v1) + np.abs(w2 * v2)),
    }
    return {k: np.max(np.abs(val - ref) / np.maximum(scale, 1e-300)) for k, (val, ref, scale) in terms.items()}


def _c_ft_by_merging(beta_v, c_v, lam_v, gamma_v):
    """Independent route to c_FT: oracle PT state -> check its orbit -> merge -> read c."""
    state = pt_end_state_numeric(beta_v, c_v, lam_v)
    errs = _invariant_errors(state, c_v, lam_v, beta_v)
    assert all(e < 1e-12 for e in errs.values()), errs
    w1, _, w2, _ = state
    merged, readout = w1 + w2, gamma_v / math.sqrt(2)
    c_direct = merged * merged + readout * readout       # c = w+ w- + v+ v- at the FT state
    scale = (np.abs(w1) + np.abs(w2)) ** 2 + readout**2   # the sum w+ + w- may cancel (lambda -> -c)
    return c_direct, scale


def test_c_ft_numeric_matches_construction_on_a_grid():
    c_v = np.array([1e-8, 1e-3, 0.5, 7.0, 100.0])[:, None]
    lt = np.array([-1.0, -0.999, -0.3, 0.0, 0.4, 0.99, 1.0])[None, :]
    for beta_v in (-1e3, -2.5, 0.0, 1e-9, 3.0, 1e3):
        for gamma_v in (0.0, 1.0):
            bb, cc, ll = np.broadcast_arrays(beta_v, c_v, lt * c_v)
            got = c_ft_numeric(bb, cc, ll, gamma_v)
            ref, scale = _c_ft_by_merging(bb, cc, ll, gamma_v)
            assert np.all(np.abs(got - ref) <= 1e-12 * scale), (beta_v, gamma_v)


@settings(max_examples=150, deadline=None)
@given(st.floats(-8, 2), st.floats(-1, 1), st.floats(-1e3, 1e3), st.floats(0, 10))
def test_c_ft_property(log_c, lt, beta_v, gamma_v):
    c_v = 10.0**log_c
    lam_v = lt * c_v
    got = float(c_ft_numeric(beta_v, c_v, lam_v, gamma_v))
    ref, scale = _c_ft_by_merging(np.array([beta_v]), np.array([c_v]), np.array([lam_v]), gamma_v)
    assert abs(got - ref[0]) <= 1e-12 * scale[0]
    assert got >= gamma_v**2 / 2 * (1 - 1e-15)
    # the normalised-lambda convention is the same map, up to the rounding of lt * c_PT in the
    # input (d c_FT / d lambda = 1 + sqrt(1 + x^2))
    rounding = 4e-16 * abs(lam_v) * (1 + math.hypot(1.0, beta_v / c_v))
    assert abs(float(c_ft_numeric(beta_v, c_v, lt, gamma_v, normalized=True)) - got) <= 1e-14 * scale[0] + rounding


def test_c_ft_limits():
    beta_v = np.array([-3.0, 0.0, 0.2, 50.0])
    for c_v, g in [(1e-3, 0.5), (2.0, 0.0), (1e-8, 3.0)]:
        assert np.all(c_ft_numeric(beta_v, c_v, -c_v, g) == pytest.approx(g**2 / 2, rel=1e-15))   # no PT memory
        assert np.all(c_ft_numeric(beta_v, c_v, 1.0 * -1, g, normalized=True) == g**2 / 2)
        for lam_v in (-0.9 * c_v, 0.0, 0.7 * c_v, c_v):
            assert float(c_ft_numeric(0.0, c_v, lam_v, g)) == pytest.approx(2 * (c_v + lam_v) + g**2 / 2, rel=1e-14)
    # the paper's figure values (c_PT = 1e-3, beta_PT = 1 on used coordinates)
    assert float(c_ft_numeric(1.0, 1e-3, 0.0, 0.0)) == pytest.approx(1.0010, abs=1e-4)
    assert float(c_ft_numeric(1.0, 1e-3, 0.99e-3, 0.0)) == pytest.approx(1.99, abs=1e-2)


def test_pt_state_is_the_flow_end_point():
    """float64: integrate the flow exactly (theta = expm(s A) theta0), root-find beta(s) = beta_PT."""
    A = np.array(flow_matrix().tolist(), dtype=float)
    rng = np.random.default_rng(5)
    for _ in range(12):
        c_v = 10.0 ** rng.uniform(-3, 1)
        lam_v = rng.uniform(-1, 1) * c_v
        beta_v = rng.choice([-1, 1]) * 10.0 ** rng.uniform(-2, 2) * c_v
        th0 = np.array([math.sqrt((c_v + lam_v) / 2), math.sqrt((c_v - lam_v) / 2)] * 2)
        th = lambda s: expm(s * A) @ th0  # noqa: E731
        s_hi = math.log(1 + 2 * abs(beta_v) / c_v) / 2 + 1
        s_star = brentq(lambda s: th(s)[0] * th(s)[1] - th(s)[2] * th(s)[3] - beta_v,
                        *((0.0, s_hi) if beta_v > 0 else (-s_hi, 0.0)), xtol=1e-15, rtol=1e-15)
        got = np.array([float(v) for v in pt_end_state_numeric(beta_v, c_v, lam_v)])
        assert np.allclose(got, th(s_star), rtol=1e-9, atol=1e-12 * np.abs(th(s_star)).sum())


@pytest.mark.parametrize("lt", [-1.0, -1 + 1e-12, -0.5, 0.0, 0.5, 1 - 1e-12, 1.0])
def test_pt_end_state_numeric_is_stable(lt):
    """|beta|/c up to 1e150 (the docstring's claim) and lambda -> +-c: finite, on the orbit,
    and equal to the derived state evaluated at 60 digits."""
    c_v = 1e-3
    beta_v = np.array([-1e147, -1e6, -1.0, -1e-12, 0.0, 1e-9, 2.5e-3, 1.0, 1e6, 1e147])  # |beta|/c <= 1e150
    lam_v = lt * c_v                 # the float input; the reference uses exactly this value
    state = pt_end_state_numeric(beta_v, c_v, lam_v)
    assert all(np.all(np.isfinite(s)) for s in state)
    errs = _invariant_errors(state, c_v, lam_v, beta_v)
    assert all(e < 1e-12 for e in errs.values()), errs
    exact = sp.lambdify((beta_pt, c_pt, lambda_pt), list(transfer.pt_end_state()), "mpmath")
    with mpmath.workdps(60):
        for i, bv in enumerate(beta_v):
            ref = exact(mpmath.mpf(bv), mpmath.mpf(c_v), mpmath.mpf(lam_v))
            size = sum(abs(r) for r in ref)
            for got, want in zip((s[i] for s in state), ref):
                assert abs(got - want) <= 1e-14 * size


def test_pt_end_state_at_beta_zero_is_the_initialisation():
    c_v, lam_v = 0.3, -0.1
    w1, v1, w2, v2 = (float(s) for s in pt_end_state_numeric(0.0, c_v, lam_v))
    assert w1 == pytest.approx(math.sqrt((c_v + lam_v) / 2)) and w2 == pytest.approx(w1)
    assert v1 == pytest.approx(math.sqrt((c_v - lam_v) / 2)) and v2 == pytest.approx(v1)


def test_input_validation():
    with pytest.raises(ValueError):
        c_ft_numeric(1.0, 1.0, 1.5, 0.0)
    with pytest.raises(ValueError):
        c_ft_numeric(1.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        pt_end_state_numeric(1.0, 1.0, 1.5, normalized=True)
    assert pt_end_state_numeric(np.zeros((2, 3)), 1.0, 0.0)[0].shape == (2, 3)


def test_printed_c_ft_matches_the_derived_expression_at_50_digits():
    """The one printed c_FT (scalar and array entry points) against the SymPy expression
    evaluated by mpmath at 50 digits: a printing or substitution slip cannot hide."""
    from numerics.transfer import c_ft

    exact = sp.lambdify((beta_pt, c_pt, lambda_pt, gamma_ft), c_ft_expression(), "mpmath")
    for args in [(1.0, 1e-3, -0.99e-3, 0.0), (-2.0, 0.5, 0.2, 1.0), (0.0, 1e-6, 0.0, 1e-3),
                 (1e8, 1e-3, 0.5e-3, 0.0), (3.0, 2.0, -2.0, 0.7)]:
        with mpmath.workdps(50):
            ref = float(exact(*(mpmath.mpf(a) for a in args)))
        assert c_ft(*args) == pytest.approx(ref, rel=1e-14)
        assert float(c_ft_numeric(*args)) == pytest.approx(ref, rel=1e-14)


# -- report -----------------------------------------------------------------------------------
def test_derivation_report():
    text = derivation("text")
    for step in ("1. Network", "2. Conserved", "3. Predictor metric", "4. Mirror potential",
                 "5. Pretraining", "6. Prox", "Assumptions"):
        assert step in text
    assert sp.pretty(sp.Eq(conserved_quantities().relation, 0), use_unicode=False).splitlines()[-1].strip() in text
    latex = derivation("latex")
    assert sp.latex(c_ft_expression()) in latex and "\\subsection*" in latex
    with pytest.raises(ValueError):
        derivation("html")
