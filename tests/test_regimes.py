"""Regime axes (l-order, PD) against finite differences of the penalty itself, the classifier on
the paper's canonical settings, fig2/fig5, and ``ptft optimize`` against independent searches."""
import io
import math

import mpmath
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from numerics.transfer import c_ft as c_ft_scalar
from replica import ParameterError, Task
from ptft.cli import main
from replica.regimes import CANONICAL, Thresholds, axes, classify, q_penalty, regime_of
from symbolic.regimes import checks


def test_symbolic_derivation_checks_pass():
    results = checks()
    assert len(results) >= 7
    for name, ok, detail in results:
        assert ok, f"{name}: {detail}"


def _log_q_mp(b, c):
    """log q_c(b) from the penalty as first written (docs/theory.md, "Model"), at 50 digits."""
    b, c = mpmath.mpf(b), mpmath.mpf(c)
    return mpmath.log((b * mpmath.asinh(b / c) - mpmath.sqrt(b * b + c * c) + c) / 2)


@pytest.mark.parametrize("u", [1e-6, 1e-3, 0.1, 1.0, 3.0, 50.0, 1e4, 1e9])
def test_l_order_equals_log_derivative_of_q(u):
    cft = c_ft_scalar(0.5, 1e-3, 0.0, 0.0)                  # c_FT of a PT-used coordinate
    with mpmath.workdps(50):
        ref = mpmath.diff(lambda t: _log_q_mp(u * cft * mpmath.exp(t), cft), 0)
    got = axes(u * cft, 0.5, 1e-3, 0.0, 0.0)
    assert float(got["u"]) == pytest.approx(u, rel=1e-14)
    assert float(got["l_order"]) == pytest.approx(float(ref), rel=1e-12, abs=1e-13)


def test_l_order_at_zero_is_the_lazy_limit():
    from replica.regimes import _kernels

    assert _kernels().l_order_u(0.0) == 2.0
    assert float(axes(1e-200, 0.0, 1.0, 0.0, 0.0)["l_order"]) == pytest.approx(2.0, abs=1e-15)


@pytest.mark.parametrize("beta_pt,c_pt,lam,gamma,b", [
    (1.0, 1e-3, 0.0, 0.0, 3.16), (1.0, 1e-3, -0.99, 0.0, 10.0), (0.3, 0.5, 0.4, 0.7, 0.2),
    (5.0, 1.0, -0.5, 10.0, 1.0), (2e-3, 1e-3, 0.9, 1e-3, 1.0), (30.0, 2.0, 0.2, 0.01, 100.0)])
def test_pd_equals_finite_difference_through_the_transfer_map(beta_pt, c_pt, lam, gamma, b):
    """PD = d log q_{c_FT(beta_PT)}(b) / d log beta_PT by central differences, with c_FT from the
    other code path (numerics.transfer, printed from symbolic.transfer) and q from the penalty."""
    h = 1e-5

    def log_q(t):
        c = c_ft_scalar(beta_pt * math.exp(t), c_pt, lam * c_pt, gamma)
        with mpmath.workdps(30):
            return float(_log_q_mp(b, c))

    fd = (log_q(h) - log_q(-h)) / (2 * h)
    got = axes(b, beta_pt, c_pt, lam, gamma)
    assert float(got["pd"]) == pytest.approx(fd, abs=1e-7)
    assert float(got["c_ft"]) == pytest.approx(c_ft_scalar(beta_pt, c_pt, lam * c_pt, gamma), rel=1e-13)


def test_integrated_pd_is_the_log_cost_ratio():
    """log q_{c_FT(0)}(b) - log q_{c_FT(a)}(b) = -int_{-inf}^{log a} PD d log|beta_PT| (global check)."""
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=1.0)
    for init in CANONICAL.values():
        rep = regime_of(task, init)
        f = lambda t: float(axes(rep.b, math.exp(t), init.c_pt, init.lambda_rel, init.gamma_ft)["pd"])  # noqa: E731
        integral, _ = integrate.quad(f, math.log(1e-12), 0.0, limit=200, epsabs=1e-12)
        assert -integral == pytest.approx(math.log(rep.cost_ratio), abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(b=st.floats(1e-4, 1e4), beta_pt=st.floats(0, 1e3), c_pt=st.floats(1e-6, 1e2),
       lam=st.floats(-0.999, 1.0), gamma=st.floats(0, 1e2))
def test_axes_stay_in_their_ranges(b, beta_pt, c_pt, lam, gamma):
    v = axes(b, beta_pt, c_pt, lam, gamma)
    l_ord, pd_, eps = float(v["l_order"]), float(v["pd"]), float(v["pd_norm"])
    assert 1.0 <= l_ord <= 2.0
    assert 0.0 <= eps < 1.0 + 1e-15
    assert 1.0 - l_ord - 1e-12 <= pd_ <= 0.0


def test_l_order_decreases_with_u():
    v = axes(np.geomspace(1e-4, 1e8, 400), 1.0, 1e-3, 0.0, 0.0)
    assert np.all(np.diff(v["l_order"]) < 0)


def test_q_penalty_matches_direct_formula_without_cancellation():
    b = np.array([1e-9, 1e-3, 0.5, 7.0, 1e5])
    c = 0.2
    with mpmath.workdps(40):
        ref = [float(mpmath.exp(_log_q_mp(x, c))) for x in b]
    np.testing.assert_allclose(q_penalty(b, c), ref, rtol=1e-13)


@pytest.mark.parametrize("task", [Task(rho_pt=0.1, rho_ft=0.1, omega=0.0), Task(rho_pt=0.1, rho_ft=0.1, omega=1.0)])
def test_canonical_settings_land_in_their_regimes(task):
    for name, init in CANONICAL.items():
        assert regime_of(task, init).regime == name


def test_classifier_thresholds_and_validation():
    thr = Thresholds(1.5, 0.5)
    got = classify(np.array([1.2, 1.2, 1.8, 1.8, 1.5]), np.array([0.1, 0.5, 0.9, 0.49, 0.5]), thr)
    assert list(got) == ["I", "IV", "II", "III", "II"]
    with pytest.raises(ParameterError):
        Thresholds(2.5, 0.5)
    with pytest.raises(ParameterError):
        axes(1.0, 1.0, 1e-3, -1.0, 0.0)          # c_FT = 0


def test_regime_cli_table_and_csv(capsys):
    code = main(["regime", "--c-pt", "1e-3", "--lambda-pt", "-0.99", "--lambda-relative", "--format", "csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.group) == ["shared", "new", "pt_only", "none"] and set(frame.regime) == {"IV"}
    code = main(["regime", "--gamma-ft", "10"])
    out, _ = capsys.readouterr()
    assert code == 0 and "regime III" in out and "lambda_pt=0 (absolute" in out


@pytest.mark.parametrize("args,needle", [
    (["regime", "--b", "0"], "scale b"),
    (["regime", "--lambda-pt", "-1", "--lambda-relative"], "c_FT = 0"),
    (["regime", "--l-rich", "3"], "l_rich"),
    (["optimize", "--alpha", "0.1", "--gamma-bounds", "0,1"], "gamma_ft bounds"),
    (["optimize", "--alpha", "0.1", "--grid", "3,3"], "grid"),
    (["optimize", "--alpha", "0.1", "--lambda-bounds=-2,1"], "lambda_pt/c_pt bounds"),
    (["optimize", "--alpha", "0.1", "--c-pt-bounds", "x"], "--c-pt-bounds"),
    (["figure", "fig5", "--quick", "--out", "/nonexistent/dir/f.png"], "does not exist"),
    (["figure", "fig2", "--quick", "--out", "/tmp"], "is a directory"),
])
def test_bad_input_one_line_exit_2(args, needle, capsys):
    code = main(args)
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("ptft: error:") and needle in lines[0]


# -- optimize ------------------------------------------------------------------------------------
SMALL = dict(grid=(5, 5, 4), n_starts=2)


@pytest.mark.slow
@pytest.mark.parametrize("task", list(__import__("ptft.figures.regimes", fromlist=["FIG5_TASKS"]).FIG5_TASKS.values()))
def test_optimum_is_at_least_as_good_as_every_canonical_setting(task):
    from replica.optimize import optimize_init

    res = optimize_init(task, [0.1], **SMALL)
    assert res.best.ok and res.best.residual < 1e-10
    for ev in res.canonical.values():
        assert ev.ok
        assert res.best.value <= ev.value * (1 + 1e-9) + 1e-12


@pytest.mark.slow
def test_optimum_beats_an_independent_random_search():
    """Random search (seeded, 150 points in the same box) never finds a clearly lower value."""
    from replica.optimize import Bounds, evaluate, init_of, optimize_init

    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.0)
    res = optimize_init(task, [0.15], **SMALL)
    rng = np.random.default_rng(7)
    box = np.array(Bounds().box())
    pts = box[:, 0] + rng.random((150, 3)) * (box[:, 1] - box[:, 0])
    vals = [evaluate(task, init_of(p), [0.15]).value for p in pts]
    assert res.best.value <= min(vals) * (1 + 1e-3)


def test_warm_started_objective_matches_cold_solves():
    """The search's objective (Newton warm-started from the nearest solved candidate, classes
    rebuilt from the two c_FT scales) gives the value of a fresh cold ``solve`` at every point."""
    from replica.optimize import Bounds, _Objective, evaluate, init_of

    task = Task(rho_pt=0.2, rho_ft=0.05, omega=0.5)
    rng = np.random.default_rng(3)
    box = np.array(Bounds().box())
    pts = box[:, 0] + rng.random((25, 3)) * (box[:, 1] - box[:, 0])
    f = _Objective(task, [0.1, 0.3])
    for p in pts:
        fast, cold = f(p), evaluate(task, init_of(p), [0.1, 0.3])
        assert fast.ok == cold.ok
        assert fast.value == pytest.approx(cold.value, rel=3e-8, abs=1e-13)
    assert f.n_solves == 2 * len(pts)


def test_optimize_never_returns_an_unconverged_point(monkeypatch):
    """Make every c_PT < 1e-2 look excellent but unconverged: the optimum must avoid them."""
    from replica import optimize as opt

    real = opt.solve

    def fake(task, init, alphas, **kw):
        res = real(task, init, alphas, **kw)
        if init.c_pt < 1e-2:
            res.converged[:] = False
            res.gen_error[:] = 0.0
        return res

    monkeypatch.setattr(opt, "solve", fake)
    res = opt.optimize_init(Task(rho_pt=0.1, rho_ft=0.1, omega=1.0), [0.1], grid=(4, 3, 3), n_starts=1)
    assert res.best.ok and res.best.init.c_pt >= 1e-2 and res.best.value > 0


def test_optimize_cli_csv(capsys):
    code = main(["optimize", "--alpha", "0.1,0.2", "--rho-ft", "0.01", "--grid", "3,3,3", "--starts", "1",
                 "--format", "csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.setting) == ["optimum", "canonical I", "canonical II", "canonical III", "canonical IV"]
    assert frame.converged.all() and (frame.objective.iloc[0] <= frame.objective.iloc[1:] + 1e-12).all()


def test_uniform_small_c_ft_tends_to_the_l1_replica():
    """q_c -> (|b|/2) log(1/c) as c -> 0: with the same tiny c_FT on every coordinate (lambda_PT = -c_PT,
    gamma_FT -> 0) E_gen approaches the l1 replica, only logarithmically, and from above."""
    from replica import Init, solve, solve_single
    from replica.optimize import limit_penalty

    task = Task(rho_pt=0.1, rho_ft=0.05, omega=0.5)
    l1 = float(solve_single("l1", 0.05, [0.15]).gen_error[0])
    errs = [float(solve(task, Init(c_pt=1e-3, lambda_pt=-1.0, gamma_ft=g, relative=True), [0.15]).gen_error[0])
            for g in (1e-3, 1e-6, 1e-12)]
    assert errs[0] > errs[1] > errs[2] > l1
    assert errs[2] - l1 < 0.5 * (errs[0] - l1)
    name, _ = limit_penalty(task, Init(c_pt=1e-20, lambda_pt=-1.0, gamma_ft=1e-20, relative=True))
    assert name.startswith("l1")
    name, ratio = limit_penalty(task, Init(c_pt=1e20, lambda_pt=0.0, gamma_ft=1.0, relative=True))
    assert name.startswith("weighted ridge") and ratio == pytest.approx(1.0, rel=1e-12)


def test_uniform_ridge_limit_value_is_one_minus_alpha():
    """The weighted-ridge limit with c_used = c_unused is plain ridge: E_gen = 1 - alpha (unit signal)."""
    from replica.optimize import _limit_value

    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5)
    assert _limit_value(task, "weighted ridge", 1.0, (0.2,)) == pytest.approx(0.8, rel=1e-6)


def test_optimize_cli_reports_the_wall_and_parses_negative_bounds(capsys):
    """rho_FT = 0.05, omega = 0.5, alpha = 0.15: the optimum sits on walls of the box; a negative
    lower bound written as '--lambda-bounds -1,1' is a value (was read as an option)."""
    code = main(["optimize", "--alpha", "0.15", "--rho-ft", "0.05", "--omega", "0.5", "--grid", "2,2,2",
                 "--starts", "1", "--lambda-bounds", "-1,1", "--c-pt-bounds", "1e-6,1e-2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "search-box wall" in out and "past it the objective is" in out
    head = [line for line in out.splitlines() if line.startswith("optimum ")][0]
    iv = [line for line in out.splitlines() if line.strip().startswith("canonical IV")][0]
    assert float(head.split()[1]) <= float(iv.split()[8]) + 1e-12      # never worse than canonical IV


# -- figures -------------------------------------------------------------------------------------
def test_fig5_winners_match_the_paper(tmp_path, capsys):
    from ptft.figures.regimes import EXPECTED_WINNERS

    out = tmp_path / "f5.png"
    code = main(["figure", "fig5", "--quick", "--out", str(out)])
    text, err = capsys.readouterr()
    assert code == 0, err
    assert out.stat().st_size > 10_000 and (tmp_path / "f5.csv").exists()
    frame = pd.read_csv(tmp_path / "f5.csv")
    for task, expected in EXPECTED_WINNERS.items():
        sub = frame[frame.task == task]
        means = sub.groupby("setting").gen_error.mean()
        assert means.idxmin() == expected
        assert f"{task:15s} {expected}" in text
    assert not list(tmp_path.glob(".*"))            # no temp files left


def test_fig2_writes_png_and_csv(tmp_path, capsys):
    out = tmp_path / "f2.png"
    code = main(["figure", "fig2", "--quick", "--out", str(out)])
    capsys.readouterr()
    assert code == 0 and out.stat().st_size > 10_000
    frame = pd.read_csv(tmp_path / "f2.csv")
    assert set(frame.panel) == {"A", "B", "C", "D"} and len(frame) == 4 * 60 * 60
    assert frame.l_order.between(1, 2).all() and set(frame.regime) == {"I", "II", "III", "IV"}


def test_fig2_csv_writer_matches_pandas():
    """fig2 writes its CSV without pandas: byte for byte what DataFrame.to_csv writes."""
    from ptft.figures.regimes import _csv_text, _fig2_columns, fig2_frame
    from replica.regimes import Thresholds

    assert _csv_text(_fig2_columns(7, 1.0, Thresholds())) == fig2_frame(7).to_csv(index=False, float_format="%.10g")


def test_fig5_simulation_points_track_the_replica():
    """--seeds path: exact GF end points (small D, smoke + sanity: min-norm III is 1 - alpha)."""
    from ptft.figures.regimes import simulate_fig5

    sims = simulate_fig5(seeds=3, dim=400, alphas=(0.3,), progress=False)
    assert len(sims) == 12 and np.isfinite(sims.sim_mean).all()
    lazy = sims[(sims.setting == "III") & (sims.task != "FT inside PT")]
    assert (abs(lazy.sim_mean - 0.7) <= 3 * lazy.sim_se + 0.05).all()
