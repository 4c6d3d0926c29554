"""Training methods: the registry (a method added in a temporary module is used by ``simulate`` and
offered by the CLI), the accelerated method's end point against the exact flow minimiser (dual
Newton), and the one divergence guard."""
import sys
import textwrap

import numpy as np
import pytest
import torch

from empirical import guard, methods
from empirical.flow import min_q_interpolant
from empirical.network import conserved, ft_reinit, oracle_pt_state
from empirical.simulate import SimConfig, Setting, simulate
from empirical.tasks import sample_ptft_task
from empirical.train import GDConfig, train
from replica import Init, Task


def _problem(c_pt, gamma, omega, dim=200, alpha=0.5, seed=0):
    t = sample_ptft_task(dim, alpha, 0.1, 0.1, omega, seed=seed)
    X, y = torch.tensor(t.X[None]), torch.tensor(t.y[None])
    params = ft_reinit(oracle_pt_state(t.beta_pt[None], c_pt, 0.0), gamma)
    flow = min_q_interpolant(t.X, t.y, conserved(params).c.numpy()[0], tol=1e-13).beta
    return t, X, y, params, flow


@pytest.mark.parametrize("c_pt,gamma,omega", [(1e-3, 0.0, 1.0), (1e-6, 0.0, 0.0)])   # mixed, rich
def test_accelerated_method_reaches_the_flow_minimiser(c_pt, gamma, omega):
    """The path matters for the implicit bias: the accelerated run must end where the flow ends
    (the dual-Newton minimiser of sum_d q_{c_d}), not at another interpolator.  The min-l2
    interpolator, another interpolator of the same data, is far from it here, so the test can fail."""
    t, X, y, params, flow = _problem(c_pt, gamma, omega)
    scale = np.linalg.norm(flow)
    min_l2 = np.linalg.lstsq(t.X, t.y, rcond=None)[0]
    assert np.linalg.norm(min_l2 - flow) / scale > 0.1
    dist = []
    for tol in (1e-6, 1e-10):
        res = train(X, y, params, GDConfig(method="accel", tol=tol))
        assert res.stop_reason == ("converged",) and res.rel_residual[0] <= tol
        assert res.drift[0] < 1e-8                     # the weights stay on the conserved orbit
        dist.append(np.linalg.norm(res.beta[0] - flow) / scale)
    assert dist[1] < 1e-7 and dist[1] < dist[0]      # converges to the minimiser as tol -> 0


def test_accelerated_needs_far_fewer_steps_than_mirror_when_rich():
    _, X, y, params, flow = _problem(1e-6, 0.0, 0.0)
    acc = train(X, y, params, GDConfig(method="accel", tol=1e-8))
    mir = train(X, y, params, GDConfig(method="mirror", tol=1e-8, max_steps=int(acc.steps[0])))
    assert acc.converged.all() and not mir.converged.all()


def test_a_method_registered_in_a_temporary_module_is_used_by_simulate_and_offered_by_the_cli(tmp_path,
                                                                                                monkeypatch, capsys):
    (tmp_path / "my_method_mod.py").write_text(textwrap.dedent('''
        from empirical.train import Mirror

        CALLS = []

        class Halved(Mirror):
            """Mirror steps at half the step size (same end point)."""
            name, help = "halved", "mirror steps at half the step"

            def step_size(self, state, params, g):
                CALLS.append(1)
                return 0.5 * super().step_size(state, params, g)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    methods.register("halved", "my_method_mod:Halved", help="mirror steps at half the step")
    try:
        import my_method_mod

        assert "halved" in methods.method_names()
        setting = Setting(Task(rho_pt=0.1, rho_ft=0.1, omega=1.0), Init(c_pt=0.1, gamma_ft=0.3))
        kw = dict(dim=150, seeds=(0,))
        mine = simulate([setting], [0.3], SimConfig(method="halved", gd=GDConfig(method="halved", tol=1e-10), **kw),
                        progress=False)
        assert my_method_mod.CALLS and mine.converged.all()
        flow = simulate([setting], [0.3], SimConfig(method="flow", **kw), progress=False)
        np.testing.assert_allclose(mine.gen_error, flow.gen_error, rtol=1e-4)
        from ptft.cli import main

        with pytest.raises(SystemExit):
            main(["simulate", "--help"])
        assert "halved" in capsys.readouterr().out
        code = main(["simulate", "--method", "halved", "--dim", "100", "--seeds", "1", "--alpha", "0.3",
                     "--quiet", "--format", "csv"])
        capsys.readouterr()
        assert code in (0, 3)
    finally:
        methods.unregister("halved")
        sys.modules.pop("my_method_mod", None)
    with pytest.raises(ValueError, match="method"):
        GDConfig(method="halved")


def test_the_guard_stops_every_kind_of_loop():
    assert guard.diverged(float("nan")) and guard.diverged(2e8, 1.0) and not guard.diverged(1e7, 1.0)
    assert guard.diverged(np.array([[1.0, np.inf], [1.0, 2.0]]), per_run=True).tolist() == [True, False]
    assert guard.diverged(torch.tensor([[1.0, 2.0], [float("nan"), 0.0]]), per_run=True).tolist() == [False, True]
    from symbolic.errors import ConvergenceError

    with pytest.raises(ConvergenceError, match="diverged at step 4"):
        guard.check(1e12, 1.0, what="x", step=4)
    # the network: the authors' protocol at a step far past stability diverges and is stopped
    _, X, y, params, _ = _problem(1e-3, 1.0, 1.0, dim=100)
    res = train(X, y, params, GDConfig(method="paper", lr=1e3, eval_every=50, max_steps=100_000))
    assert res.stop_reason == ("diverged",) and res.steps[0] < 100_000
