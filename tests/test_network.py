"""The diagonal network in PyTorch: initialisation, oracle PT, FT re-init, training protocols,
and agreement of gradient descent, the exact flow minimiser and the replica prediction."""

import numpy as np
import pytest
import torch

from empirical.flow import min_q_interpolant, q_objective
from empirical.network import conserved, ft_reinit, oracle_pt_state, predictor, pt_init
from empirical.simulate import SimConfig, Setting, simulate, summarize
from empirical.tasks import sample_ptft_task
from empirical.train import GDConfig, train
from numerics.transfer import c_ft
from replica import Init, Task


def _batch(tasks):
    X = torch.tensor(np.stack([t.X for t in tasks]))
    y = torch.tensor(np.stack([t.y for t in tasks]))
    return X, y


@pytest.mark.parametrize("c_pt,lam", [(1e-3, 0.0), (1e-3, -0.99e-3), (1.0, 0.5), (1e-6, 1e-6)])
def test_pt_init_has_the_stated_conserved_quantities(c_pt, lam):
    p = pt_init(c_pt, lam, (2, 5))
    q = conserved(p)
    assert torch.all(predictor(p) == 0)
    np.testing.assert_allclose(q.c.numpy(), c_pt, rtol=1e-14)
    np.testing.assert_allclose(q.lambda_pos.numpy(), lam, atol=1e-15 * c_pt + 1e-30)


@pytest.mark.parametrize("c_pt,lam,gamma", [(1e-3, 0.0, 0.0), (1e-3, -0.99e-3, 1.0), (1.0, 0.99, 10.0)])
def test_oracle_state_on_the_orbit_and_ft_reinit_gives_c_ft(c_pt, lam, gamma):
    beta_pt = np.array([0.0, 1.0, -1.0, 3.0, 1e-4])
    state = oracle_pt_state(beta_pt, c_pt, lam)
    q = conserved(state)
    np.testing.assert_allclose(predictor(state).numpy(), beta_pt, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(q.c.numpy(), c_pt, rtol=1e-10)
    np.testing.assert_allclose(q.lambda_pos.numpy(), lam, atol=1e-10 * c_pt)
    ft = ft_reinit(state, gamma)
    assert torch.all(predictor(ft).abs() <= 1e-15)
    # the network's conserved c after the re-init equals Theorem 4.1's c_FT (symbolic derivation)
    expected = [c_ft(b, c_pt, lam, gamma) for b in beta_pt]
    np.testing.assert_allclose(conserved(ft).c.numpy(), expected, rtol=1e-10)


def _small_problem(c_pt=1e-3, gamma=0.0, dim=200, alpha=0.3, seeds=(0, 1)):
    tasks = [sample_ptft_task(dim, alpha, 0.1, 0.1, 0.5, seed=s) for s in seeds]
    X, y = _batch(tasks)
    params = ft_reinit(oracle_pt_state(np.stack([t.beta_pt for t in tasks]), c_pt, 0.0), gamma)
    return tasks, X, y, params


def test_conserved_quantities_stay_conserved_along_small_step_gd():
    _, X, y, params = _small_problem()
    res = train(X, y, params, GDConfig(method="gd", kappa=5e-7, max_steps=1000, eval_every=500))
    assert np.all(res.steps == 1000)
    assert np.all(res.drift < 1e-8), res.drift
    assert np.all(res.rel_residual < 1 - 1e-5)          # and it did move
    # one GD step multiplies c and lambda by (1 - lr^2 s^2): over a fixed flow time the drift
    # is first order in the step, so halving the step halves it
    a = train(X, y, params, GDConfig(method="gd", kappa=1e-3, max_steps=400, eval_every=400))
    b = train(X, y, params, GDConfig(method="gd", kappa=5e-4, max_steps=800, eval_every=800))
    np.testing.assert_allclose(a.drift / b.drift, 2.0, rtol=0.05)


def test_large_step_gd_drifts_but_mirror_steps_keep_the_invariants():
    _, X, y, params = _small_problem()
    gd = train(X, y, params, GDConfig(method="gd", kappa=0.5, max_steps=3000))
    mirror = train(X, y, params, GDConfig(method="mirror", kappa=0.5, max_steps=3000))
    assert np.all(gd.drift > 1e-4)                      # plain GD at a large step changes c
    assert np.all(mirror.drift < 1e-10)


@pytest.mark.parametrize("method,kappa,limit", [("gd", 0.005, 1e-3), ("mirror", 0.5, 1e-5)])
def test_network_end_point_equals_the_flow_minimiser(method, kappa, limit):
    """GD's distance to the flow end point is first order in the step (3e-4 at kappa = 0.005,
    1e-3 at 0.02); mirror steps land on it at any stable step."""
    tasks, X, y, params = _small_problem(c_pt=0.1, gamma=0.5, dim=100, alpha=0.3)
    res = train(X, y, params, GDConfig(method=method, kappa=kappa, tol=1e-9, max_steps=400_000))
    assert all(r == "converged" for r in res.stop_reason), res.stop_reason
    c = conserved(params).c.numpy()
    for b, t in enumerate(tasks):
        flow = min_q_interpolant(t.X, t.y, c[b]).beta
        dist = np.linalg.norm(res.beta[b] - flow) / np.linalg.norm(flow)
        assert dist < limit, (method, dist)


@pytest.mark.slow
def test_default_gd_tracks_the_flow_in_a_mixed_lazy_rich_setting():
    """c_FT = 1 on PT coordinates, 0.002 elsewhere (the setting that never finished with a fixed
    small step): default gd converges, its end point is within 2e-5 of the exact flow minimiser, and
    halving path_tol roughly halves that distance (the tolerance controls the accuracy)."""
    tasks = [sample_ptft_task(100, 0.3, 0.1, 0.1, 1.0, seed=1)]
    X, y = _batch(tasks)
    params = ft_reinit(oracle_pt_state(np.stack([t.beta_pt for t in tasks]), 1e-3, 0.0), 0.0)
    flow = min_q_interpolant(tasks[0].X, tasks[0].y, conserved(params).c.numpy()[0]).beta
    dist = []
    for path_tol in (1e-2, 5e-3):
        res = train(X, y, params, GDConfig(method="gd", path_tol=path_tol, tol=1e-9))
        assert res.stop_reason == ("converged",)
        dist.append(np.linalg.norm(res.beta[0] - flow) / np.linalg.norm(flow))
    assert dist[0] < 2e-5, dist
    assert 1.3 < dist[0] / dist[1] < 3.0, dist


def test_time_budget_stops_with_a_reason_and_progress_is_reported():
    _, X, y, params = _small_problem()
    seen = []
    res = train(X, y, params, GDConfig(method="gd", max_seconds=0.3, eval_every=50), progress=seen.append)
    assert res.stop_reason == ("time budget", "time budget") and not res.converged.any()
    assert seen and seen[-1].finished == 2 and all(p.steps > 0 for p in seen)
    assert "residual" in seen[0].describe() and "ETA" in seen[0].describe()
    with pytest.raises(ValueError, match="stability"):
        GDConfig(kappa=2.0)


def test_paper_protocol_stops_at_its_threshold():
    _, X, y, params = _small_problem(c_pt=1.0, dim=100)
    res = train(X, y, params, GDConfig(method="paper", eval_every=200, max_steps=200_000))
    assert all(r == "threshold" for r in res.stop_reason)
    assert np.all(res.train_mse < 1e-4)


def test_flow_end_point_minimises_the_implicit_bias_in_the_null_space():
    """Perturbations that keep X beta = y (null space of X) increase sum_d q_{c_d}(beta_d)."""
    tasks, X, y, params = _small_problem(c_pt=1e-3, dim=200, seeds=(3,))
    t = tasks[0]
    c = conserved(params).c.numpy()[0]
    beta = min_q_interpolant(t.X, t.y, c).beta
    _, _, vt = np.linalg.svd(t.X)
    null = vt[t.X.shape[0]:]                            # orthonormal basis of ker X
    rng = np.random.default_rng(0)
    base = q_objective(beta, c)
    for scale in (1e-6, 1e-3, 1e-1):
        for _ in range(20):
            d = null.T @ rng.standard_normal(null.shape[0])
            d *= scale / np.linalg.norm(d)
            assert np.linalg.norm(t.X @ (beta + d) - t.y) < 1e-8
            assert q_objective(beta + d, c) > base


def test_batched_runs_are_independent_of_batch_composition():
    """A run's end point does not depend on which other runs share its batch."""
    tasks, X, y, params = _small_problem(c_pt=0.1, gamma=0.5, dim=150, alpha=0.3, seeds=(0, 1, 2))
    cfg = GDConfig(method="mirror", max_steps=20_000, tol=1e-9)
    together = train(X, y, params, cfg)
    alone = train(X[1:2], y[1:2], params[:, 1:2], cfg)
    np.testing.assert_allclose(together.beta[1], alone.beta[0], rtol=1e-6, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("omega,c_pt,gamma,alpha", [(0.5, 1e-3, 0.0, 0.2), (0.0, 1e-3, 1.0, 0.3),
                                                    (1.0, 1.0, 0.0, 0.25)])
def test_simulation_agrees_with_replica_within_3_se(omega, c_pt, gamma, alpha):
    setting = Setting(Task(rho_pt=0.1, rho_ft=0.1, omega=omega), Init(c_pt=c_pt, gamma_ft=gamma))
    runs = simulate([setting], [alpha], SimConfig(dim=1000, seeds=tuple(range(8))), progress=False)
    row = summarize(runs).iloc[0]
    assert row.n_converged == 8 and row.theory_converged
    assert abs(row.gen_error - row.theory) <= 3 * row.se, (row.gen_error, row.se, row.theory)


def test_simulation_rows_and_bad_config():
    setting = Setting(Task(omega=0.0), Init(c_pt=1e-3), "x")
    runs = simulate([setting], [0.1], SimConfig(dim=200, seeds=(0, 1)), progress=False)
    assert len(runs) == 2 and set(runs.seed) == {0, 1} and runs.converged.all()
    # group errors average back to the total error
    for _, r in runs.iterrows():
        counts = {"shared": 0, "new": 20, "pt_only": 20, "none": 160}
        total = sum(counts[g] * r[f"err_{g}"] for g in counts if counts[g]) / 200
        assert total == pytest.approx(r.gen_error, rel=1e-12)
    with pytest.raises(ValueError, match="method"):
        SimConfig(method="adam")
    with pytest.raises(ValueError, match="seeds"):
        SimConfig(seeds=())
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            SimConfig(device="cuda")


@pytest.mark.gpu
def test_gpu_batch_matches_cpu():
    setting = Setting(Task(omega=0.5), Init(c_pt=1e-3))
    cpu = simulate([setting], [0.2], SimConfig(dim=300, seeds=(0, 1), device="cpu"), progress=False)
    gpu = simulate([setting], [0.2], SimConfig(dim=300, seeds=(0, 1), device="cuda"), progress=False)
    np.testing.assert_allclose(gpu.gen_error, cpu.gen_error, rtol=1e-8)


def test_real_pretraining_by_training_matches_the_flow_end_point_route():
    """Pretraining the network itself (mirror steps) and pretraining to the exact flow end point
    (dual Newton, weights reconstructed on the orbit) give the same fine-tuning result."""
    setting = Setting(Task(rho_pt=0.1, rho_ft=0.1, omega=1.0), Init(c_pt=0.1, gamma_ft=0.3))
    kw = dict(dim=200, seeds=(0, 1), alpha_pt=0.4)
    flow = simulate([setting], [0.3], SimConfig(method="flow", **kw), progress=False)
    trained = simulate([setting], [0.3], SimConfig(method="mirror", gd=GDConfig(method="mirror", tol=1e-10), **kw),
                       progress=False)
    assert trained.converged.all()
    np.testing.assert_allclose(trained.gen_error, flow.gen_error, rtol=1e-4)


@pytest.mark.parametrize("argv,needle", [
    (["--out", "/nonexistent-dir/x.csv"], "does not exist"),
    (["--lambda-pt", "-1e-3", "--gamma-ft", "0"], "cannot move"),
    (["--dim", "5"], "dim"),
    (["--alpha", "nan"], "NaN"),
    (["--seeds", "0"], "seeds"),
])
def test_simulate_cli_bad_input_is_one_line_exit_2(argv, needle, capsys):
    from ptft.cli import main

    code = main(["simulate", "--quiet", "--dim", "200", "--seeds", "2", "--alpha", "0.1", *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and needle in err, err


def _fake_runs(values):
    base = dict(setting=0, label="x", rho_pt=0.1, rho_ft=0.1, omega=0.5, a_pt=1.0, teacher="gaussian", noise=0.0,
                c_pt=1e-3, lambda_pt=0.0, gamma_ft=0.0, alpha_pt=np.nan, alpha=0.2, converged=True, drift=0.0)
    import pandas as pd
    return pd.DataFrame([{**base, "seed": s, "gen_error": v} for s, v in enumerate(values)])


def test_summary_interval_uses_the_t_distribution():
    """3 seeds: the 95% interval is mean +- t_{0.975, 2} SE with t = 4.3027 (tables), not 1.96."""
    row = summarize(_fake_runs([1.0, 2.0, 4.0]), theory=False).iloc[0]
    se = np.std([1.0, 2.0, 4.0], ddof=1) / np.sqrt(3)
    assert row.se == pytest.approx(se, rel=1e-14)
    assert row.ci_high - row.gen_error == pytest.approx(4.302652729911275 * se, rel=1e-9)
    assert row.gen_error - row.ci_low == pytest.approx(4.302652729911275 * se, rel=1e-9)
    with pytest.raises(ValueError, match="disjoint seeds"):
        import pandas as pd
        summarize(pd.concat([_fake_runs([1.0, 2.0]), _fake_runs([1.0, 2.0])]), theory=False)


def test_few_seeds_warning():
    from empirical.simulate import few_seeds_warning

    assert few_seeds_warning(10) is None and few_seeds_warning(40) is None
    assert "t = 2.57" in few_seeds_warning(6)          # t_{0.975, 5} = 2.5706


@pytest.mark.parametrize("method", ["flow", "gd"])
def test_two_half_runs_merge_to_the_full_run(method):
    """Seeds 0-1 and 2-3 run separately, concatenated, summarise to the run with seeds 0-3."""
    import pandas as pd

    setting = Setting(Task(rho_pt=0.1, rho_ft=0.1, omega=0.5), Init(c_pt=1.0, gamma_ft=1.0))
    kw = dict(dim=120, method=method)
    full = simulate([setting], [0.25, 0.4], SimConfig(seeds=range(4), **kw), progress=False)
    halves = pd.concat([simulate([setting], [0.25, 0.4], SimConfig(seeds=s, **kw), progress=False)
                        for s in ((0, 1), (2, 3))], ignore_index=True)
    a = full.sort_values(["alpha", "seed"]).reset_index(drop=True)
    b = halves.sort_values(["alpha", "seed"]).reset_index(drop=True)
    np.testing.assert_allclose(b.gen_error, a.gen_error, rtol=1e-10)
    sa, sb = summarize(full, theory=False), summarize(halves, theory=False)
    for col in ("gen_error", "se", "ci_low", "ci_high", "n_runs"):
        np.testing.assert_allclose(sb[col], sa[col], rtol=1e-10)


def test_simulate_cli_seed_offset_and_few_seed_warning(tmp_path, capsys):
    import pandas as pd
    from ptft.cli import main

    runs = tmp_path / "runs.csv"
    code = main(["simulate", "--quiet", "--dim", "120", "--seeds", "2", "--seed-offset", "5", "--alpha", "0.3",
                 "--c-pt", "0.1", "--runs", str(runs), "--format", "csv"])
    err = capsys.readouterr().err
    assert code == 0 and sorted(pd.read_csv(runs).seed) == [5, 6]
    assert "standard error is itself uncertain" in err


def test_exact_recovery_rounding_is_not_a_discrepancy():
    """At alpha = 1.5 > 1 the noiseless interpolator is the teacher (theory 0, by linear algebra):
    seeds that land on float64 rounding (1e-30) get no z-score, while a real error does."""
    runs = _fake_runs([1e-30, 3e-30, 2e-30]).assign(alpha=1.5)
    row = summarize(runs).iloc[0]
    assert row.theory == 0.0 and np.isnan(row.z) and np.isnan(row.p_value)
    bad = summarize(_fake_runs([1e-3, 2e-3, 1.5e-3]).assign(alpha=1.5)).iloc[0]
    assert bad.z == pytest.approx(1.5e-3 / (np.std([1e-3, 2e-3, 1.5e-3], ddof=1) / np.sqrt(3)), rel=1e-9)
