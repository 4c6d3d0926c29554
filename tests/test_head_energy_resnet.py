"""Task-head energy on the ResNet pipeline: probing lowers the energy, the backbone stays frozen
while the head is probed, the metrics and the probing step against independent numpy
computations, frozen-BatchNorm FT, the CLI (one tiny run and its errors)."""
import copy
import io
import math

import numpy as np
import pandas as pd
import pytest
import torch

from empirical.cifar import ImageSet, load_digits_images
from empirical.head_energy.resnet import (HeadEnergyResNetSetup, extract_features, finetune_frozen_bn,
                                          head_energy, metrics, probe, probe_head, trend_summary)
from empirical.resnet import ResNetConfig, build_pretrain_model, Levers, reset_readout
from empirical.resnet_train import SGDConfig, train
from ptft.cli import main

torch.set_num_threads(1)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny():
    """Two digit classes (8x8, 1 channel), 40 images; a ResNet-10 of width 4 pretrained for 3 epochs on
    the other eight digits, with a fresh 2-class head."""
    data = load_digits_images(8)
    pt = data.train.labels >= 2
    pt_set = ImageSet(data.train.images[pt], data.train.labels[pt] - 2, tuple(map(str, range(8))))
    keep = np.flatnonzero(data.train.labels < 2)[:40]
    sub = ImageSet(data.train.images[keep], data.train.labels[keep], ("0", "1"))
    model = build_pretrain_model(ResNetConfig(10, 4, 1), 8, Levers(), seed=0)
    train(model, pt_set, SGDConfig(lr=0.05, batch_size=64, max_epochs=3, loss_threshold=0.0), CPU, seed=0)
    return sub, reset_readout(model, 2, 1.0, seed=1)


def test_probing_lowers_the_energy_and_smoothing_keeps_a_floor(tiny):
    sub, model = tiny
    setup = HeadEnergyResNetSetup(n_ft=40, hp_lr=0.05, hp_batch=10)
    z0 = extract_features(model, sub.images, CPU)
    rows = {(tau, s): head_energy(probe(model, sub, tau, s, setup, CPU, seed=0).fc, z0, sub.labels)
            for tau, s in [(0, 0.0), (5, 0.0), (60, 0.0), (60, 0.3)]}
    energies = [rows[(t, 0.0)]["energy"] for t in (0, 5, 60)]
    assert energies[0] > energies[1] > energies[2]
    assert rows[(60, 0.0)]["initial_loss"] < rows[(5, 0.0)]["initial_loss"] < rows[(0, 0.0)]["initial_loss"]
    # smoothing pulls the probed head's softmax towards (1 - s) e_y + s / C, away from e_y
    assert rows[(60, 0.0)]["hp_train_acc"] >= 0.95 and rows[(0, 0.0)]["hp_train_acc"] < 0.8
    assert rows[(60, 0.3)]["energy"] > 3 * rows[(60, 0.0)]["energy"]


def test_backbone_is_frozen_during_probing(tiny):
    sub, model = tiny
    before = copy.deepcopy(model.state_dict())
    probed = probe(model, sub, 10, 0.3, HeadEnergyResNetSetup(n_ft=40, hp_lr=0.05), CPU, seed=0)
    after = probed.state_dict()
    for name, value in before.items():        # parameters and BatchNorm buffers
        if name.startswith("fc."):
            assert not torch.equal(value, after[name]), name
        else:
            assert torch.equal(value, after[name]), name
    for name, value in model.state_dict().items():                 # the input model is untouched
        assert torch.equal(value, before[name]), name
    assert torch.equal(extract_features(model, sub.images, CPU), extract_features(probed, sub.images, CPU))


def test_one_probing_step_is_gradient_descent_on_smoothed_cross_entropy():
    """Full batch, no momentum, one epoch = one step W <- W - lr (P - T)^T Z / n, computed in numpy."""
    rng = np.random.default_rng(0)
    n, k, C, s, lr = 12, 5, 3, 0.2, 0.3
    Z, labels = rng.standard_normal((n, k)), rng.integers(0, C, n)
    fc = torch.nn.Linear(k, C)
    W, b = fc.weight.detach().double().numpy().copy(), fc.bias.detach().double().numpy().copy()
    setup = HeadEnergyResNetSetup(hp_lr=lr, hp_momentum=0.0, hp_batch=n)
    new = probe_head(fc, torch.tensor(Z, dtype=torch.float32), torch.from_numpy(labels), 1, s, setup, seed=0)
    logits = Z @ W.T + b
    P = np.exp(logits - logits.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    T = (1 - s) * np.eye(C)[labels] + s / C
    np.testing.assert_allclose(new.weight.detach().numpy(), W - lr * (P - T).T @ Z / n, atol=2e-6)
    np.testing.assert_allclose(new.bias.detach().numpy(), b - lr * (P - T).mean(0), atol=2e-6)


def test_energy_of_a_zero_head_is_the_uniform_closed_form():
    C = 4
    head = torch.nn.Linear(3, C)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    e = head_energy(head, torch.randn(9, 3), np.arange(9) % C)
    assert e["energy"] == pytest.approx(math.sqrt((C - 1) / C), rel=1e-12)
    assert e["initial_loss"] == pytest.approx(math.log(C), rel=1e-12) and e["head_norm"] == 0.0


def test_metrics_against_a_row_by_row_computation():
    rng = np.random.default_rng(1)
    z0, zT = rng.standard_normal((7, 6)), rng.standard_normal((7, 6))
    euclid, cosine, dot, norm = [], [], [], []
    for a, b in zip(z0, zT):
        d = float(sum(x * y for x, y in zip(a, b)))
        na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
        euclid.append(math.sqrt(sum((y - x) ** 2 for x, y in zip(a, b))))
        cosine.append(1 - d / (na * nb))
        dot.append(d)
        norm.append(nb)
    m = metrics(torch.from_numpy(z0), torch.from_numpy(zT), "test_")
    for key, values in (("euclid", euclid), ("cosine", cosine), ("dot", dot), ("norm", norm)):
        assert m["test_" + key] == pytest.approx(sum(values) / len(values), rel=1e-12)


def test_frozen_batchnorm_ft_moves_features_only_through_gradients(tiny):
    """With a vanishing learning rate frozen-BN FT leaves the features as they were; train-mode FT
    (resnet_train.train) moves them anyway, through the BatchNorm running statistics."""
    sub, model = tiny
    z0 = extract_features(model, sub.images, CPU)
    frozen = copy.deepcopy(model)
    finetune_frozen_bn(frozen, sub, HeadEnergyResNetSetup(ft_lr=1e-12, ft_epochs=2), CPU, seed=0)
    assert torch.allclose(extract_features(frozen, sub.images, CPU), z0, atol=1e-6)
    trained = copy.deepcopy(model)
    train(trained, sub, SGDConfig(lr=1e-12, batch_size=20, max_epochs=2, loss_threshold=0.0), CPU, seed=0)
    assert metrics(z0, extract_features(trained, sub.images, CPU))["euclid"] > 1e-3
    learned = copy.deepcopy(model)
    loss, stop = finetune_frozen_bn(learned, sub, HeadEnergyResNetSetup(ft_lr=0.05, ft_epochs=5, ft_batch=10),
                                    CPU, seed=0)
    assert stop == "epochs" and math.isfinite(loss)
    assert metrics(z0, extract_features(learned, sub.images, CPU))["euclid"] > 1e-3


def test_trend_summary_on_known_curves():
    energy = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    frame = pd.DataFrame({"seed": 0, "smoothing": 0.0, "tau": [50, 20, 10, 5, 2, 0], "energy": energy,
                          "euclid": energy ** 2, "cosine": -energy, "dot": -(energy - 0.35) ** 2,
                          "norm": energy, "ft_test_acc": 1.0})
    s = trend_summary(frame).set_index("metric")
    assert s.loc["euclid", "spearman_all"] == pytest.approx(1.0) and s.loc["cosine", "spearman_all"] == pytest.approx(-1.0)
    assert s.loc["dot", "interior_max"] and not s.loc["norm", "interior_max"]


def test_cli_tiny_run(tmp_path, capsys):
    args = ["head-energy-resnet", "--tau", "0,8", "--smoothing", "0", "--seeds", "1", "--width", "4",
            "--n-ft", "20", "--ft-epochs", "2", "--hp-lr", "0.05", "--workdir", str(tmp_path), "--format", "csv"]
    assert main(args) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(frame.tau) == [0, 8] and frame.width.iloc[0] == 4
    for col in ("energy", "initial_loss", "euclid", "cosine", "dot", "norm", "test_euclid", "ft_test_acc"):
        assert frame[col].notna().all(), col
    assert frame.energy.iloc[1] < frame.energy.iloc[0]


@pytest.mark.parametrize("extra,needle", [
    (["--tau", "-1"], "--tau"),
    (["--tau", "a"], "--tau"),
    (["--smoothing", "1"], "smoothing"),
    (["--seeds", "0"], "--seeds"),
    (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "tpu"], "--device"),
    (["--depth", "7"], "depth"),
    (["--ft-lr", "-1"], "ft_lr"),
    (["--n-ft", "100000"], "--n-ft"),
    (["--out", "/nonexistent-dir/x.csv"], "--out"),
    (["--data", "/nonexistent-dir"], "--data"),
    (["--width", "0"], "width"),
])
def test_cli_errors_are_one_line(extra, needle, capsys):
    code = main(["head-energy-resnet", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("ptft: error:") and needle in err, err
