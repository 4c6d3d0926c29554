"""Anisotropic inputs x ~ N(0, diag(s)/D) (replica/anisotropic.py).

Independent checks: the isotropic solver (s = 1); the exact invariance under a uniform input
scale (X -> sqrt(s0) X leaves the interpolator unchanged); the min-l2-norm interpolator computed
by numpy's lstsq in the ridge limit; the Wishart mean for least squares above alpha = 1; and the
exact finite-D minimiser (empirical.flow.min_q_interpolant on X with scaled columns) at D >= 1000."""
import io
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from empirical.anisotropic_sim import assign_variances, simulate_anisotropic, summarize_runs
from empirical.tasks import sample_design, sample_teacher
from replica.anisotropic import InputVariances, solve_anisotropic
from ptft.cli import main
from replica.params import Init, ParameterError, Task
from replica.solver import GROUPS, solve

TASK = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5)
INIT = Init(c_pt=1e-3)
ALPHAS = [0.1, 0.2, 0.4]
MIX = InputVariances.mixture([(0.5, 0.5), (0.5, 2.0)])


def test_unit_variances_reproduce_the_isotropic_solver():
    ref = solve(TASK, INIT, ALPHAS)
    res = solve_anisotropic(TASK, INIT, ALPHAS, InputVariances.mixture([(1.0, 1.0)]))
    np.testing.assert_allclose(res.gen_error, ref.gen_error, rtol=1e-9)
    np.testing.assert_allclose(res.param_error, ref.gen_error, rtol=1e-9)
    np.testing.assert_allclose(res.group_error, ref.group_error, rtol=1e-8)


@pytest.mark.parametrize("s0", [0.25, 7.0])
def test_uniform_scale_is_exactly_invisible(s0):
    """X -> sqrt(s0) X, y = X beta*: the same constraint Z beta = Z beta*, so the same beta_hat;
    the test error on inputs of variance s0 is s0 times the parameter error."""
    base = solve(TASK, INIT, ALPHAS).gen_error
    res = solve_anisotropic(TASK, INIT, ALPHAS, InputVariances.by_group({g: s0 for g in GROUPS}))
    np.testing.assert_allclose(res.param_error, base, rtol=1e-9)
    np.testing.assert_allclose(res.gen_error, s0 * base, rtol=1e-9)


def test_ridge_limit_against_lstsq_min_norm():
    """c_PT = 1e3: c_FT ~ 2e3 on every coordinate, q ~ b^2/(4 c): the min-l2-norm interpolator
    (numpy lstsq, no hyperbolic penalty anywhere) at D = 2000."""
    task, init = Task(rho_pt=0.1, rho_ft=0.2, omega=0.5), Init(c_pt=1e3)
    var = InputVariances.mixture([(0.3, 0.2), (0.7, 3.0)])
    dim, alpha = 2000, 0.4
    theory = solve_anisotropic(task, init, [alpha], var)
    gen, par = [], []
    for seed in range(4):
        beta, _, group = sample_teacher(dim, task.rho_pt, task.rho_ft, task.omega, seed=seed)
        s = assign_variances(group, var.per_group, seed)
        X = sample_design(dim, int(alpha * dim), seed) * np.sqrt(s)
        sq = (np.linalg.lstsq(X, X @ beta, rcond=None)[0] - beta) ** 2
        gen.append(np.mean(s * sq))
        par.append(np.mean(sq))
    for sim, th in ((gen, theory.gen_error[0]), (par, theory.param_error[0])):
        mean, se = np.mean(sim), np.std(sim, ddof=1) / 2
        assert abs(mean - th) < 3.5 * se + 0.01 * th, (mean, se, th)


def test_least_squares_above_one_matches_the_wishart_mean():
    """alpha > 1 with label noise: E||beta_hat - beta*||^2 / D = noise^2 D/(N - D - 1) E[1/s]
    (inverse-Wishart mean), the replica's closed form as D -> infinity."""
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.3)
    res = solve_anisotropic(task, INIT, [2.0], MIX)
    dim, n = 4000, 8000
    wishart = 0.3**2 * dim / (n - dim - 1) * np.mean([1 / 0.5, 1 / 2.0])
    assert res.param_error[0] == pytest.approx(wishart, rel=2e-3)
    assert res.gen_error[0] == pytest.approx(0.3**2 * dim / (n - dim - 1), rel=2e-3)


def test_variances_are_validated():
    with pytest.raises(ParameterError):
        InputVariances.mixture([(0.5, 1.0), (0.4, 2.0)])       # fractions do not sum to 1
    with pytest.raises(ParameterError):
        InputVariances.mixture([(1.0, 0.0)])                   # variance must be > 0
    with pytest.raises(ParameterError):
        InputVariances.by_group({"shard": 2.0})                # unknown group


@pytest.mark.slow
@pytest.mark.parametrize("var,noise", [(MIX, 0.0), (InputVariances.by_group({"new": 4.0, "shared": 0.5}), 0.0),
                                       (MIX, 0.2)])
def test_replica_matches_exact_minimiser_at_d1000(var, noise):
    """The exact flow end point on scaled columns, D = 1000, 6 seeds, two alphas."""
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=noise)
    alphas = [0.2, 0.4]
    theory = solve_anisotropic(task, INIT, alphas, var)
    assert theory.converged.all()
    table = summarize_runs(simulate_anisotropic(task, INIT, var, alphas, dim=1000, seeds=range(6)))
    assert (table.n_converged == table.n_runs).all()
    for col, se, th in (("gen_error", "gen_se", theory.gen_error), ("param_error", "param_se", theory.param_error)):
        z = (table[col].to_numpy() - th) / table[se].to_numpy()
        assert np.all(np.abs(z) < 3.5), (col, table, th)


def test_anisotropy_changes_the_prediction_measurably():
    """Not a no-op: more input variance on the new features lowers their share of the error
    relative to the isotropic case (they are cheaper to fit: effective noise sigma^2/s)."""
    iso = solve(TASK, INIT, [0.2]).group_error[0]
    res = solve_anisotropic(TASK, INIT, [0.2], InputVariances.by_group({"new": 4.0}))
    assert res.param_error[0] < solve(TASK, INIT, [0.2]).gen_error[0]
    assert res.group_error[0, 1] / 4.0 < iso[1]       # per-coordinate parameter error of 'new'


def test_cli_solve_ext_variances(capsys):
    code = main(["solve-ext", "--omega", "0.5", "--alpha", "0.1,0.2", "--variances", "0.5:0.5,0.5:2",
                 "--format", "csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    ref = solve_anisotropic(TASK, INIT, [0.1, 0.2], MIX)
    np.testing.assert_allclose(frame.gen_error, ref.gen_error, rtol=1e-10)
    np.testing.assert_allclose(frame.param_error, ref.param_error, rtol=1e-10)


@pytest.mark.parametrize("bad", [["--variances", "0.5:1,0.4:2"], ["--variances", "1:0"], ["--variances", "x"],
                                 ["--group-variances", "foo=1"], ["--group-variances", "new:2"],
                                 ["--variances", "1:1", "--group-variances", "new=2"]])
def test_cli_bad_variances_one_line(bad, capsys):
    code = main(["solve-ext", "--alpha", "0.1", *bad])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("ptft: error:") and err.count("\n") == 1, err


def test_cli_out_file_is_written_atomically(tmp_path, capsys):
    target = tmp_path / "r.csv"
    code = main(["solve-ext", "--alpha", "0.2", "--group-variances", "new=2", "--format", "csv",
                 "--out", str(target)])
    assert code == 0 and pd.read_csv(target).converged.all()
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]
    assert math.isfinite(pd.read_csv(target).param_error.iloc[0])


@settings(max_examples=40, deadline=None)
@given(s=st.floats(0.05, 20.0), c=st.floats(1e-4, 10.0), tau=st.floats(1e-3, 10.0),
       u_in=st.floats(-5.0, 5.0))
def test_channel_rescaling_identity(s, c, tau, u_in):
    """The derivation's step: the u-space prox of Q~(u) = q_c(u / sqrt(s)) at step tau equals
    sqrt(s) * prox_{(tau/s) q_c}(u_in / sqrt(s)) -- checked by direct scalar minimisation."""
    from scipy.optimize import minimize_scalar

    from empirical.flow import q_hyperbolic
    from numerics import codegen

    kern = codegen.builtin("hypent")
    obj = lambda u: float(q_hyperbolic(u / math.sqrt(s), c)) + (u - u_in) ** 2 / (2 * tau)  # noqa: E731
    lo, hi = min(0.0, u_in) - 1e-9, max(0.0, u_in) + 1e-9        # the prox lies between 0 and its input
    direct = minimize_scalar(obj, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}).x
    formula = math.sqrt(s) * kern.prox(u_in / math.sqrt(s), tau / s, c)
    assert formula == pytest.approx(direct, abs=1e-7 * (1 + abs(u_in)))


def test_scaled_moments_match_the_per_class_kernel():
    """The grouped (one compiled ``moments`` call per variance) expectations equal the kernel's
    single-class ``component`` at (sigma/sqrt(s), tau/s), class by class."""
    from numerics import codegen
    from replica.anisotropic import split_classes, scaled_moments
    from replica.solver import Accuracy, ptft_classes

    kern, acc = codegen.builtin("hypent"), Accuracy()
    sc = split_classes(ptft_classes(TASK, INIT), InputVariances.mixture([(0.2, 0.3), (0.5, 1.0), (0.3, 5.0)]))
    sigma, tau = 0.7, 0.05
    per = scaled_moments(sc, sigma, tau, acc, kern)
    buf = np.empty(7)
    for k in range(sc.s.size):
        sk = sigma / math.sqrt(sc.s[k])
        kern.component(sk, tau / sc.s[k], sc.classes.c[k], sc.classes.kind[k], sc.classes.par[k],
                       acc.ksd, acc.h_max, acc.m_min, sk, buf)
        np.testing.assert_array_equal(per[k], buf)
    assert len({tuple(r) for r in per.round(12)}) == sc.s.size      # the variances really differ


@pytest.mark.parametrize("variance", [1e-300, 1e300])
def test_extreme_variances_are_refused_not_misreported(variance):
    """sigma scales like sqrt(s); at s = 1e-300 it fell below the recovery floor and a wrong
    'exact recovery' (error 0) was reported, so such variances are an input error."""
    from replica.anisotropic import InputVariances

    with pytest.raises(ParameterError, match=r"\[1e-50, 1e50\]"):
        InputVariances.mixture([(1.0, variance)])
