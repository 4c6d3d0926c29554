"""``ptft simulate --method amp``: finite-D AMP on the instances the network is trained on,
summarised like every simulate method, against the state evolution of replica.bayes."""
import io

import numpy as np
import pandas as pd
import pytest

from empirical.amp import make_problem, simulate_amp, summarize_amp
from empirical.tasks import sample_ptft_task
from ptft.cli import main
from replica import Task
from replica.bayes import solve_bayes


def run(argv):
    import contextlib

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _se_reference(task, alpha, knowledge, n_iter):
    """The SE E_{t+1} = M((s^2 + E_t) / alpha) iterated with the mmse by adaptive quadrature
    (the reference of tests/test_bayes.py), independent of the solver's kernels."""
    from test_bayes import M_ref

    e = 1.0
    for _ in range(n_iter):
        e = M_ref(task, knowledge, (task.noise ** 2 + e) / alpha)
    return e


def test_cli_amp_end_to_end_against_state_evolution(tmp_path):
    """Easy setting (PT support known, noisy labels): mean over 16 seeds at D = 1000 within
    3 standard errors of the SE at the same iteration; the table has simulate's columns."""
    runs = tmp_path / "runs.csv"
    code, out, err = run(["simulate", "--method", "amp", "--omega", "0.5", "--noise", "0.2", "--alpha", "0.4",
                          "--dim", "1000", "--seeds", "16", "--iterations", "30", "--quiet", "--format", "csv",
                          "--runs", str(runs)])
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    for col in ("alpha", "gen_error", "se", "ci_low", "ci_high", "n_runs", "theory", "z", "p_value",
                "n_converged", "amp_error", "bayes_error", "knowledge", "iterations", "damping", "rho_pt", "noise"):
        assert col in frame, col
    assert "c_pt" not in frame                  # AMP has no initialisation
    row = frame.iloc[0]
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.2)
    assert row.theory == pytest.approx(_se_reference(task, 0.4, "pt", 30), rel=1e-6)
    assert abs(row.gen_error - row.theory) <= 3 * row.se
    assert row.ci_low < row.gen_error < row.ci_high and row.n_runs == 16
    per_run = pd.read_csv(runs)
    assert len(per_run) == 16 and set(per_run.method) == {"amp"}
    assert per_run.gen_error.mean() == pytest.approx(row.gen_error, rel=1e-12)


def test_amp_runs_on_the_networks_instances():
    """Seed s of --method amp is the instance simulate trains the network on for seed s."""
    task = Task(rho_pt=0.2, rho_ft=0.1, omega=0.5, noise=0.1, teacher="fixed")
    prob = make_problem(task, 0.3, 200, [3, 7], knowledge="pt")
    for b, seed in enumerate((3, 7)):
        ref = sample_ptft_task(200, 0.3, 0.2, 0.1, 0.5, teacher="fixed", noise=0.1, seed=seed)
        assert np.array_equal(prob.x[b], ref.X) and np.array_equal(prob.y[b], ref.y)
        assert np.array_equal(prob.beta[b], ref.beta_star) and np.array_equal(prob.group[b], ref.group)
        in_pt = (ref.group == 0) | (ref.group == 2)
        assert np.allclose(prob.eps[b][in_pt], 10 / 40) and np.allclose(prob.eps[b][~in_pt], 10 / 160)


def test_damped_amp_is_compared_with_the_fixed_point():
    """Damping changes the path, not the fixed point: theory is amp_error, and the mean of
    converged damped runs lies within 3 SE of it."""
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.2)
    runs = simulate_amp(task, [0.4], 1000, range(12), n_iter=80, damping=0.7)
    row = summarize_amp(runs).iloc[0]
    assert row.theory == row.amp_error == pytest.approx(solve_bayes(task, [0.4]).amp_error[0], rel=1e-12)
    assert runs.converged.all()
    assert abs(row.gen_error - row.theory) <= 3 * row.se


def test_half_runs_merge_to_the_full_run():
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.2)
    full = summarize_amp(simulate_amp(task, [0.3, 0.4], 200, range(6), n_iter=10))
    parts = pd.concat([simulate_amp(task, [0.3, 0.4], 200, range(k, k + 3), n_iter=10) for k in (0, 3)])
    merged = summarize_amp(parts)
    cols = ["gen_error", "se", "ci_low", "ci_high", "theory", "z"]
    assert np.allclose(full[cols].to_numpy(float), merged[cols].to_numpy(float), rtol=1e-12)


@pytest.mark.parametrize("argv, words", [
    (["--c-pt", "1e-4"], "--c-pt does not apply to --method amp"),
    (["--lambda-relative"], "--lambda-relative does not apply"),
    (["--alpha-pt", "0.3"], "--alpha-pt does not apply"),
    (["--max-seconds", "5"], "--max-seconds does not apply"),
    (["--damping", "0"], "--damping must lie in (0, 1]"),
    (["--iterations", "0"], "--iterations must be an integer"),
    (["--iterations", "10000", "--dim", "20000", "--alpha", "0.5"], "multiply-adds"),
    (["--method", "flow", "--knowledge", "none"], "--knowledge does not apply to --method flow"),
    (["--method", "gd", "--iterations", "5"], "--iterations does not apply to --method gd"),
])
def test_bad_combinations_exit_2_with_one_line(argv, words):
    base = ["simulate", "--method", "amp", "--alpha", "0.3", "--dim", "100", "--seeds", "2", "--quiet"]
    code, out, err = run(base + argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and words in err, err


def test_one_seed_and_exact_recovery_print_no_fake_spread():
    """Noiseless, PT support known, alpha well above the AMP threshold: every run recovers,
    the table says so (bayes_error 0, z empty) and the exit code is 0."""
    code, out, err = run(["simulate", "--method", "amp", "--omega", "0.5", "--alpha", "0.45", "--dim", "400",
                          "--seeds", "1", "--quiet", "--format", "csv"])
    row = pd.read_csv(io.StringIO(out)).iloc[0]
    assert code == 0 and row.gen_error < 1e-12 and row.bayes_error == 0.0 and np.isnan(row.se) and np.isnan(row.z)
    assert "one seed has no spread" in err


def test_small_damping_cannot_pass_for_convergence():
    """With damping 1e-3 the estimate barely moves from 0; convergence is judged on the undamped
    step, so the runs are not converged and the exit code is 3 (damped: compared with the fixed point)."""
    code, out, err = run(["simulate", "--method", "amp", "--omega", "0.5", "--alpha", "0.3", "--dim", "200",
                          "--seeds", "3", "--damping", "1e-3", "--iterations", "20", "--quiet", "--format", "csv"])
    row = pd.read_csv(io.StringIO(out)).iloc[0]
    assert code == 3 and row.n_converged == 0 and "did not converge" in err


@pytest.mark.gpu
def test_simulate_amp_on_cuda_matches_numpy():
    """The same seeds on CUDA (torch) and on the CPU (NumPy): the same per-run errors."""
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.1)
    cpu = simulate_amp(task, [0.3], 2000, range(4), n_iter=20)
    gpu = simulate_amp(task, [0.3], 2000, range(4), n_iter=20, device="cuda")
    assert np.allclose(cpu.gen_error, gpu.gen_error, rtol=1e-8)


def test_bayes_simulate_and_simulate_amp_agree():
    """``ptft bayes --simulate`` and ``ptft simulate --method amp`` run the same seeds on the same
    instances: the same mean, interval and state evolution."""
    common = ["--omega", "0.5", "--noise", "0.1", "--alpha", "0.3", "--dim", "300", "--seeds", "3",
              "--iterations", "12", "--format", "csv"]
    code_b, out_b, _ = run(["bayes", "--simulate"] + common)
    code_s, out_s, _ = run(["simulate", "--method", "amp", "--quiet"] + common)
    b, s = pd.read_csv(io.StringIO(out_b)).iloc[0], pd.read_csv(io.StringIO(out_s)).iloc[0]
    assert code_b == code_s == 0
    assert b.amp_finite_d == s.gen_error and b.ci_high == s.ci_high and b.se_theory == s.theory
    assert b.knowledge == s.knowledge == "pt"


def test_a_run_does_not_depend_on_its_batch():
    task = Task(rho_pt=0.1, rho_ft=0.1, omega=0.5, noise=0.1, teacher="fixed")
    whole = simulate_amp(task, [0.3], 200, range(4), n_iter=15)
    one_by_one = simulate_amp(task, [0.3], 200, range(4), n_iter=15, batch_bytes=1)
    assert np.allclose(whole.gen_error, one_by_one.gen_error, rtol=1e-12, atol=0)
    assert np.allclose(whole.err_new, one_by_one.err_new, rtol=1e-12, atol=0)
