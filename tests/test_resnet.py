"""ResNet PT -> FT (paper Fig. 4): CIFAR-format loader, the three levers, errors, a tiny end-to-end run."""
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from empirical.cifar import (DataError, ImageSet, generated_images, load_cifar100, load_digits_images,
                             max_ft_samples, protocol_split, sample_ft, synthetic_cifar, write_cifar100)
from empirical.resnet import (DEPTHS, Levers, ResNet, ResNetConfig, ResNetConfigError, apply_pt_levers,
                              build_pretrain_model, early_parameter_names, lever_parameters, reset_readout)
from empirical.device import DeviceError, resolve_device
from empirical.resnet_train import SGDConfig, evaluate, train
from ptft.cli import main

torch.set_num_threads(1)


# --- CIFAR-100 python format --------------------------------------------------------------------

def _write_raw(directory, n_train=6, n_test=4, seed=0):
    """CIFAR-100 files written by hand (dict layout of the official pickles), not by write_cifar100."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    raw = {}
    for split, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 100, size=n))
        raw[split] = (data, labels)
        with open(os.path.join(directory, split), "wb") as fh:
            pickle.dump({b"filenames": [b"x.png"] * n, b"batch_label": b"training batch 1 of 1",
                         b"fine_labels": [int(v) for v in labels], b"coarse_labels": [0] * n, b"data": data},
                        fh, protocol=2)
    with open(os.path.join(directory, "meta"), "wb") as fh:
        pickle.dump({b"fine_label_names": [f"name{i}".encode() for i in range(100)],
                     b"coarse_label_names": [b"c"] * 20}, fh, protocol=2)
    return raw


def test_loader_reads_the_cifar_layout(tmp_path):
    raw = _write_raw(tmp_path / "cifar-100-python")
    for path in (tmp_path, tmp_path / "cifar-100-python"):          # the directory or its parent
        data = load_cifar100(str(path))
        assert data.name == "cifar100" and data.train.class_names[7] == "name7"
        for split, s in (("train", data.train), ("test", data.test)):
            flat, labels = raw[split]
            assert s.images.shape == (len(labels), 3, 32, 32) and s.images.dtype == np.uint8
            assert list(s.labels) == labels
            # pixel (channel c, row y, column x) of image r is byte c*1024 + 32*y + x of row r
            for r, c, y, x in [(0, 0, 0, 0), (1, 1, 5, 31), (len(labels) - 1, 2, 31, 3)]:
                assert s.images[r, c, y, x] == flat[r, c * 1024 + 32 * y + x]


def test_writer_round_trips(tmp_path):
    train_set, test_set = synthetic_cifar(2, 1, seed=3)
    write_cifar100(str(tmp_path), train_set, test_set)
    data = load_cifar100(str(tmp_path))
    np.testing.assert_array_equal(data.train.images, train_set.images)
    np.testing.assert_array_equal(data.test.labels, test_set.labels)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ptft_pwned",))


@pytest.mark.parametrize("damage,needle", [
    ("missing_dir", "no such directory"),
    ("missing_meta", "missing meta"),
    ("garbage", "not a CIFAR-100 python pickle"),
    ("evil", "is not allowed"),
    ("bad_shape", "shape (N, 3072)"),
    ("bad_label", "outside [0, 100)"),
    ("short_meta", "list of 100 names"),
])
def test_loader_errors(tmp_path, damage, needle):
    d = tmp_path / "cifar-100-python"
    _write_raw(d)
    if damage == "missing_dir":
        d = tmp_path / "nope"
    elif damage == "missing_meta":
        os.remove(d / "meta")
    elif damage == "garbage":
        (d / "train").write_bytes(b"this is not a pickle")
    elif damage == "evil":
        (d / "train").write_bytes(pickle.dumps({b"data": _Evil()}, protocol=2))
    elif damage in ("bad_shape", "bad_label"):
        data = np.zeros((3, 3072 if damage == "bad_label" else 1000), np.uint8)
        labels = [0, 1, 100] if damage == "bad_label" else [0, 1, 2]
        (d / "train").write_bytes(pickle.dumps({b"data": data, b"fine_labels": labels}, protocol=2))
    elif damage == "short_meta":
        (d / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"a"] * 10}, protocol=2))
    with pytest.raises(DataError, match=needle.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_cifar100(str(d))
    assert not os.path.exists("/tmp/ptft_pwned")


# --- protocol -----------------------------------------------------------------------------------

def test_protocol_split_and_ft_sample():
    train_set, test_set = synthetic_cifar(3, 2, seed=0)
    from empirical.cifar import Dataset
    data = Dataset("syn", train_set, test_set)
    a, b = protocol_split(data, 0), protocol_split(data, 1)
    assert a.ft_classes != b.ft_classes                                  # classes permuted per seed
    assert a.pt_train.n_classes == 98 and a.ft_train.n_classes == 2
    assert len(a.pt_train.labels) == 98 * 3 and len(a.ft_test.labels) == 2 * 2
    # relabelled images are the original images of the named class
    for new_label, old in enumerate(a.ft_classes):
        np.testing.assert_array_equal(a.ft_train.images[a.ft_train.labels == new_label],
                                      train_set.images[train_set.labels == old])
    assert set(a.pt_train.class_names) | set(a.ft_train.class_names) == set(train_set.class_names)
    sub = sample_ft(a.ft_train, 5, seed=2)
    assert sorted(np.bincount(sub.labels)) == [2, 3]
    np.testing.assert_array_equal(sub.images, sample_ft(a.ft_train, 5, seed=2).images)
    assert max_ft_samples(a.ft_train) == 6
    with pytest.raises(DataError, match="larger than"):
        sample_ft(a.ft_train, 7, seed=0)


def test_digits_fallback_shapes():
    data = load_digits_images(16)
    assert data.train.images.shape[1:] == (1, 16, 16) and data.train.n_classes == 10
    assert len(data.train.labels) + len(data.test.labels) == 1797
    assert (np.bincount(data.test.labels) == 50).all()
    # upsampling keeps the picture: the 8x8 block means of an upsampled image track the original
    from sklearn.datasets import load_digits
    first_test = np.flatnonzero(load_digits().target == data.test.labels[0])[0]
    orig = load_digits().images[first_test] / 16.0
    up = data.test.images[0, 0] / 255.0
    coarse = up.reshape(8, 2, 8, 2).mean(axis=(1, 3))
    assert np.corrcoef(coarse.ravel(), orig.ravel())[0, 1] > 0.95
    noisy = load_digits_images(16, noise=0.5)
    assert noisy.name == "digits16-noise0.5" and np.array_equal(noisy.train.labels, data.train.labels)
    np.testing.assert_array_equal(noisy.train.images, load_digits_images(16, noise=0.5).train.images)  # fixed draw
    resid = noisy.test.images[0, 0] / 255.0 - up                         # clipped N(0, 0.5^2) noise
    assert 0.25 < resid.std() < 0.5 and abs(resid.mean()) < 0.15


# --- generated stand-in ------------------------------------------------------------------------

def test_generated_images_are_deterministic_and_cifar_shaped(tmp_path):
    kw = dict(n_classes=100, n_train_per_class=2, n_test_per_class=1, size=32)
    a, b = generated_images(seed=3, **kw), generated_images(seed=3, **kw)
    np.testing.assert_array_equal(a.train.images, b.train.images)
    np.testing.assert_array_equal(a.test.labels, b.test.labels)
    assert not np.array_equal(a.train.images, generated_images(seed=4, **kw).train.images)
    for s, k in ((a.train, 2), (a.test, 1)):
        assert s.images.shape == (100 * k, 3, 32, 32) and s.images.dtype == np.uint8
        assert s.labels.dtype == np.int64 and (np.bincount(s.labels) == k).all()
    write_cifar100(str(tmp_path), a.train, a.test)                 # it is a valid CIFAR-100 file set
    np.testing.assert_array_equal(load_cifar100(str(tmp_path)).test.images, a.test.images)
    assert a.name.startswith("generated32-c100-s3")
    with pytest.raises(DataError, match="k_shared"):
        generated_images(n_shared=2, k_shared=3)


def test_generated_pt_and_ft_classes_share_features():
    data, feats = generated_images(n_train_per_class=1, n_test_per_class=1, return_features=True)
    uses = feats.classes.sum(axis=0)
    assert feats.classes.shape == (20, len(feats.patterns)) and feats.positions.shape == (len(feats.patterns), 2)
    assert (uses[list(feats.shared)] >= 3).all()                  # each shared feature: >= 3 classes (2 FT + a PT)
    specific = np.setdiff1d(np.arange(uses.size), feats.shared)
    assert (uses[specific] == 1).all() and (feats.classes[:, specific].sum(axis=1) == 2).all()
    assert (feats.classes[:, list(feats.shared)].sum(axis=1) == 3).all()
    for seed in range(10):
        split = protocol_split(data, seed, 2)
        ft = np.zeros(20, dtype=bool)
        ft[list(split.ft_classes)] = True
        pt_feats, ft_feats = feats.classes[~ft].any(axis=0), feats.classes[ft].any(axis=0)
        for c in split.ft_classes:                                 # every FT class: shared with PT and its own
            assert (feats.classes[c] & pt_feats).sum() == 3 and (feats.classes[c] & ~pt_feats).sum() == 2
        assert (ft_feats & ~pt_feats).sum() == 4


def test_cli_accepts_generated_stand_in(tmp_path, capsys, monkeypatch):
    import functools

    import empirical.cifar

    small = functools.partial(empirical.cifar.generated_images, n_train_per_class=10, n_test_per_class=5)
    monkeypatch.setattr(empirical.cifar, "generated_images", small)       # the CLI's data, fewer images
    out = str(tmp_path / "g.csv")
    args = ["resnet", "--data", "generated", "--n-ft", "4", "--out", out] + TINY[:4] + ["--pt-epochs", "1",
                                                                                        "--ft-epochs", "1", "--seeds", "1", "--device", "cpu"]
    assert main(args) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 1 and frame.dataset[0].startswith("generated") and frame.width[0] == 4
    capsys.readouterr()
    code = main(["resnet", "--data", "generated", "--n-ft", "100000", "--out", out])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "class-balanced training images" in err
    assert main(["figure", "fig4", "--data", "generated", "--out", "x.csv"]) == 2


# --- levers -------------------------------------------------------------------------------------

def _params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_lever_parameter_sets_and_values():
    cfg = ResNetConfig(depth=10, width=4, in_channels=3)
    base = _params(build_pretrain_model(cfg, 5, Levers(), seed=11))
    scaled_model = build_pretrain_model(cfg, 5, Levers(c_pt=0.3, kappa=2.5), seed=11)
    sets = lever_parameters(scaled_model)
    early = early_parameter_names(scaled_model)
    assert sets["kappa"] == early
    assert all(n.split(".")[0] in ("conv1", "bn1", "layer1", "layer2", "layer3") for n in early)
    assert any(n.startswith("layer3.") for n in early) and not any(n.startswith(("layer4", "fc")) for n in early)
    assert sets["gamma_ft"] == {"fc.weight", "fc.bias"} and sets["c_pt"] == set(base)
    for n, p in scaled_model.named_parameters():
        factor = 0.3 * (2.5 if n in early else 1.0)
        torch.testing.assert_close(p.detach(), factor * base[n], rtol=1e-6, atol=0)
    for n, buf in scaled_model.named_buffers():                        # running statistics untouched
        assert n.endswith(("running_mean", "running_var", "num_batches_tracked"))
        if n.endswith("running_var"):
            assert torch.all(buf == 1)


def test_stem_output_scales_with_c_kappa():
    """BatchNorm (train mode) divides the conv scale out, its affine part carries c_PT * kappa: the stem
    output relu(bn1(conv1 x)) must be exactly c_PT * kappa times the unscaled one."""
    cfg = ResNetConfig(depth=10, width=4, in_channels=3)
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(1)
        plain = ResNet(cfg, 3)
        torch.nn.init.normal_(plain.bn1.bias)          # non-zero bias, so the check is not trivial
        plain.bn1.eps = 1e-12                          # the identity is exact for eps -> 0
        scaled = apply_pt_levers(__import__("copy").deepcopy(plain), Levers(c_pt=0.7, kappa=0.2))
        stem = lambda m: torch.relu(m.bn1(m.conv1(x)))
        torch.testing.assert_close(stem(scaled), 0.7 * 0.2 * stem(plain), rtol=1e-4, atol=1e-6)


def test_reset_readout_is_fresh_times_gamma():
    model = build_pretrain_model(ResNetConfig(10, 4, 3), 7, Levers(), seed=0)
    before = _params(model)
    rng_before = torch.random.get_rng_state()
    reset_readout(model, 2, gamma_ft=3.0, seed=5)
    assert torch.equal(torch.random.get_rng_state(), rng_before)       # the global RNG is not consumed
    torch.manual_seed(5)
    fresh = torch.nn.Linear(model.n_features, 2)
    torch.testing.assert_close(model.fc.weight, 3.0 * fresh.weight.detach())
    torch.testing.assert_close(model.fc.bias, 3.0 * fresh.bias.detach())
    for n, p in model.named_parameters():
        if not n.startswith("fc."):
            assert torch.equal(p, before[n])
    reset_readout(model, 2, gamma_ft=0.0, seed=5)
    assert torch.count_nonzero(model.fc.weight) == 0


def test_depths_and_invalid_levers():
    for depth, blocks in DEPTHS.items():
        model = ResNet(ResNetConfig(depth, 2, 1), 3)
        convs = sum(1 for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and "shortcut" not in n)
        assert convs + 1 == depth == 2 + 2 * sum(blocks)                # stem + block convs + fc
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 3)
    for bad in (dict(c_pt=0), dict(kappa=-1), dict(gamma_ft=-0.1), dict(c_pt=float("nan"))):
        with pytest.raises(ResNetConfigError):
            Levers(**bad)
    with pytest.raises(ResNetConfigError):
        ResNetConfig(depth=12)


def test_training_learns_and_stops_at_threshold():
    train_set, test_set = synthetic_cifar(8, 4, seed=1)      # class-mean colours: easy to separate
    keep = lambda s: ImageSet(s.images[s.labels < 3], s.labels[s.labels < 3], s.class_names[:3])
    model = build_pretrain_model(ResNetConfig(10, 4, 3), 3, Levers(), seed=0)
    log = train(model, keep(train_set), SGDConfig(lr=0.05, batch_size=8, max_epochs=200, loss_threshold=0.05),
                torch.device("cpu"), seed=0)
    assert log.stop == "threshold" and log.train_loss < 0.05 and log.epochs < 200
    acc, _ = evaluate(model, keep(test_set), torch.device("cpu"))
    assert acc >= 0.9


def test_cuda_request_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda")


# --- command line -------------------------------------------------------------------------------

TINY = ["--depth", "10", "--width", "4", "--pt-epochs", "2", "--ft-epochs", "3", "--pt-lr", "0.05",
        "--ft-lr", "0.05", "--seeds", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_cifar100(str(root), *synthetic_cifar(3, 2, seed=0))
    return str(root)


def test_end_to_end_resume_and_reuse(cifar_dir, tmp_path, capsys):
    out = str(tmp_path / "r.csv")
    args = ["resnet", "--data", cifar_dir, "--n-ft", "2,4", "--kappa", "0.5,1", "--out", out] + TINY
    assert main(args) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 4 and set(frame.kappa) == {0.5, 1.0} and set(frame.n_ft) == {2, 4}
    assert frame.test_acc.between(0, 1).all() and (frame.dataset == "cifar100").all()
    ckpts = sorted(os.listdir(tmp_path / "r.ckpt"))
    assert len(ckpts) == 2 and all(c.endswith(".pt") for c in ckpts)           # one PT net per kappa
    mtimes = [os.path.getmtime(tmp_path / "r.ckpt" / c) for c in ckpts]
    # interrupted run: drop a row; the rerun recomputes exactly that row from the saved PT network
    frame.iloc[:-1].to_csv(out, index=False)
    assert main(args) == 0
    again = pd.read_csv(out)
    assert len(again) == 4 and again.iloc[-1].test_acc == frame.iloc[-1].test_acc
    assert again.iloc[-1].ft_train_loss == pytest.approx(frame.iloc[-1].ft_train_loss, rel=1e-6)
    # a new gamma_FT reuses both checkpoints (no PT retraining) and adds only its rows
    assert main(args + ["--gamma-ft", "1,0.1"]) == 0
    assert len(pd.read_csv(out)) == 8
    assert [os.path.getmtime(tmp_path / "r.ckpt" / c) for c in ckpts] == mtimes
    assert sorted(os.listdir(tmp_path / "r.ckpt")) == ckpts
    # a different experiment is not mixed into the same CSV
    code = main(args + ["--pt-epochs", "1"])
    assert code == 2 and "different experiment" in capsys.readouterr().err
    open(out, "w").close()                                     # an unreadable CSV is an input error too
    assert main(args) == 2 and "cannot read" in capsys.readouterr().err


def test_figure_plot_from_a_run(cifar_dir, tmp_path):
    from ptft.figures.resnet import PANELS, lever_settings, panel_frame, plot

    settings = lever_settings(PANELS)
    assert Levers() in settings and len(settings) == len(set(settings))
    assert all(sum(v != 1.0 for v in (s.c_pt, s.kappa, s.gamma_ft)) <= 1 for s in settings)
    out = str(tmp_path / "r.csv")
    assert main(["resnet", "--data", cifar_dir, "--n-ft", "2", "--gamma-ft", "0.1,1", "--out", out] + TINY) == 0
    frame = pd.read_csv(out)
    assert len(panel_frame(frame, "gamma_ft")) == 2 and len(panel_frame(frame, "kappa")) == 1
    plot(frame, PANELS, str(tmp_path / "f.png"), "test")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lever_effects_are_paired_differences():
    from ptft.figures.resnet import PANELS, lever_effects

    rows = []
    for seed in range(3):
        for n in (10, 20):
            base = 0.5 + 0.1 * seed + 0.01 * n                       # seed-to-seed spread cancels in pairs
            rows.append(dict(c_pt=1.0, kappa=1.0, gamma_ft=1.0, seed=seed, n_ft=n, test_acc=base))
            rows.append(dict(c_pt=1.0, kappa=10.0, gamma_ft=1.0, seed=seed, n_ft=n, test_acc=base - 0.02 * (seed + 1)))
    eff = lever_effects(pd.DataFrame(rows), PANELS).set_index(["lever", "value"])
    row = eff.loc[("kappa", 10.0)]
    assert row.pairs == 6 and row.losses == 6 and row.wins == 0
    assert row.acc_diff_mean == pytest.approx(-0.04)                     # -(0.02 + 0.04 + 0.06) / 3
    assert row.acc_diff_sem == pytest.approx(np.std([0.02, 0.02, 0.04, 0.04, 0.06, 0.06], ddof=1) / np.sqrt(6))
    assert eff.loc[("c_pt", 0.25)].pairs == 0


@pytest.mark.parametrize("extra,needle", [
    (["--data", "/nonexistent/cifar"], "no such directory"),
    (["--device", "cuda"], "CUDA"),
    (["--n-ft", "100000"], "class-balanced training images"),
    (["--n-ft", "1"], "at least one image per fine-tuning class"),
    (["--kappa", "0"], "kappa must be > 0"),
    (["--gamma-ft", "-1"], "gamma_ft must be >= 0"),
    (["--c-pt", "big"], "comma-separated list"),
    (["--depth", "12"], "depth must be one of"),
    (["--seeds", "0"], "--seeds"),
    (["--out", "/nonexistent/dir/x.csv"], "does not exist"),
    (["--width", "0"], "width must be a positive integer"),           # 0 is not "unset"
    (["--depth", "0"], "depth must be one of"),
    (["--workdir", __file__], "--workdir"),                            # a file, not a directory
])
def test_cli_errors_are_one_line(extra, needle, capsys, tmp_path):
    if needle == "CUDA" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(["resnet", "--out", str(tmp_path / "x.csv"), "--n-ft", "10"] + extra)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ptft: error:") and needle in err and err.count("\n") == 1


def test_figure_rejects_non_png(capsys):
    assert main(["figure", "fig4", "--out", "x.csv"]) == 2
    assert "PNG" in capsys.readouterr().err


@pytest.mark.gpu
def test_gpu_amp_channels_last(cifar_dir, tmp_path):
    out = str(tmp_path / "g.csv")
    args = ["resnet", "--data", cifar_dir, "--n-ft", "4", "--out", out] + TINY[:-2] + ["--device", "cuda"]
    assert main(args) == 0
    frame = pd.read_csv(out)
    assert frame.device.str.startswith("cuda").all() and frame.test_acc.between(0, 1).all()
