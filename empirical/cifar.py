"""Image data for the ResNet check: CIFAR-100 python files, or sklearn's bundled digits.

``load_cifar100(path)`` reads the standard ``cifar-100-python/{train,test,meta}`` pickles (the
directory itself or its parent); nothing is downloaded. The pickles are read with a restricted
unpickler that only builds numpy arrays, lists, dicts and strings, so a crafted file cannot run code.

``load_digits_images(size)`` is the offline stand-in: scikit-learn's 1,797 8x8 digits (10 classes,
shipped in its wheel), bilinearly upsampled to ``size`` x ``size`` and quantised to uint8, split per
class into train and test images (a fixed, seed-independent split).

``generated_images(...)`` is a generated stand-in with many classes, each image a sum of a few
localized patterns from one shared dictionary (shared and class-specific features) plus noise.

``protocol_split`` applies the paper's protocol (docs/resnet.md): the labels are permuted per seed,
the first ``n_ft_classes`` permuted labels are the fine-tuning (FT) task, all others pretraining (PT).
Images are kept as uint8 (N, C, H, W); ``normalise`` maps them to [-1, 1] (ToTensor + Normalize(0.5, 0.5)).
"""
from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass

import numpy as np
from symbolic.errors import DataError as _PtftDataError

CIFAR_FILES = ("train", "test", "meta")


class DataError(_PtftDataError):
    """Missing or malformed dataset, or a request the data cannot satisfy."""


@dataclass(frozen=True)
class ImageSet:
    """uint8 images (N, C, H, W) and int64 labels (N,) in [0, len(class_names))."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class Dataset:
    """A train/test pair with a name (recorded in every result row)."""

    name: str
    train: ImageSet
    test: ImageSet


# --- CIFAR-100 ----------------------------------------------------------------------------------

class _SafeUnpickler(pickle.Unpickler):
    """Only the globals a numpy-array pickle needs (CIFAR files were written by cPickle + numpy)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"), ("copy_reg", "_reconstructor"),
               ("copyreg", "_reconstructor"), ("__builtin__", "object"), ("builtins", "object")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        if module == "numpy.core.multiarray":           # numpy >= 2 moved it; avoid the shim warning
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def _find_cifar_dir(path: str) -> str:
    if not path or not os.path.isdir(path):
        raise DataError(f"--data {path}: no such directory")
    for cand in (path, os.path.join(path, "cifar-100-python")):
        if all(os.path.isfile(os.path.join(cand, f)) for f in CIFAR_FILES):
            return cand
    missing = [f for f in CIFAR_FILES if not os.path.isfile(os.path.join(path, f))]
    raise DataError(f"--data {path}: not a CIFAR-100 python directory (missing {', '.join(missing)}; "
                    "expected cifar-100-python/{train,test,meta})")


def _read_pickle(file: str) -> dict:
    try:
        with open(file, "rb") as fh:
            obj = _SafeUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    except Exception as err:          # any unpickling failure is a malformed file, one line
        raise DataError(f"{file}: not a CIFAR-100 python pickle ({type(err).__name__}: {err})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{file}: expected a dict, found {type(obj).__name__}")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _class_names(meta_file: str) -> tuple[str, ...]:
    meta = _read_pickle(meta_file)
    names = meta.get("fine_label_names")
    if not isinstance(names, list) or len(names) != 100:
        raise DataError(f"{meta_file}: 'fine_label_names' must be a list of 100 names")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def _cifar_split(file: str, names: tuple[str, ...]) -> ImageSet:
    d = _read_pickle(file)
    if "data" not in d or "fine_labels" not in d:
        raise DataError(f"{file}: missing key 'data' or 'fine_labels'")
    data, labels = d["data"], np.asarray(d["fine_labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{file}: 'data' must be a uint8 array of shape (N, 3072), got "
                        f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{file}: 'fine_labels' must be {data.shape[0]} integers")
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise DataError(f"{file}: fine labels outside [0, {len(names)})")
    # rows are 1024 red, 1024 green, 1024 blue values, each row-major 32x32
    return ImageSet(data.reshape(-1, 3, 32, 32), labels.astype(np.int64), names)


def load_cifar100(path: str) -> Dataset:
    """CIFAR-100 (fine labels) from ``path`` = the ``cifar-100-python`` directory or its parent."""
    root = _find_cifar_dir(path)
    names = _class_names(os.path.join(root, "meta"))
    return Dataset("cifar100", _cifar_split(os.path.join(root, "train"), names),
                   _cifar_split(os.path.join(root, "test"), names))


def write_cifar100(root: str, train: ImageSet, test: ImageSet) -> str:
    """Write ``train``/``test`` (3x32x32 uint8, 100 class names) in the CIFAR-100 python format.

    Used by tests and the GPU benchmark to make CIFAR-shaped files; returns the directory written.
    """
    out = os.path.join(root, "cifar-100-python")
    os.makedirs(out, exist_ok=True)
    for split, s in (("train", train), ("test", test)):
        d = {b"data": np.ascontiguousarray(s.images.reshape(len(s.labels), -1)),
             b"fine_labels": [int(v) for v in s.labels], b"coarse_labels": [int(v) // 5 for v in s.labels],
             b"filenames": [f"{i}.png".encode() for i in range(len(s.labels))]}
        with open(os.path.join(out, split), "wb") as fh:
            pickle.dump(d, fh, protocol=2)
    with open(os.path.join(out, "meta"), "wb") as fh:
        pickle.dump({b"fine_label_names": [n.encode() for n in train.class_names],
                     b"coarse_label_names": [f"c{i}".encode() for i in range(20)]}, fh, protocol=2)
    return out


def synthetic_cifar(n_per_class_train: int, n_per_class_test: int, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """Random CIFAR-shaped uint8 images (100 classes), class-dependent mean colour; for tests/benchmarks."""
    rng = np.random.default_rng(seed)
    names = tuple(f"class{i:02d}" for i in range(100))
    means = rng.integers(40, 216, size=(100, 3, 1, 1), dtype=np.int16)

    def make(k):
        labels = np.repeat(np.arange(100), k)
        noise = rng.integers(-40, 41, size=(labels.size, 3, 32, 32), dtype=np.int16)   # int16: 50k images fit
        return ImageSet(np.clip(means[labels] + noise, 0, 255).astype(np.uint8), labels.astype(np.int64), names)
    return make(n_per_class_train), make(n_per_class_test)


# --- scikit-learn digits ------------------------------------------------------------------------

def load_digits_images(size: int = 16, n_test_per_class: int = 50, noise: float = 0.0) -> Dataset:
    """sklearn digits upsampled (bilinear) to ``size`` x ``size``, 1 channel, uint8; fixed split.

    ``noise`` > 0 adds fixed Gaussian pixel noise of that std (intensity range [0, 1], drawn once with
    seed 0, then clipped) to make the 2-class FT task hard enough that the levers can matter.
    """
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    if size < 8:
        raise DataError(f"digits size must be >= 8, got {size}")
    if not 0.0 <= noise < 10.0:
        raise DataError(f"digits noise must be in [0, 10), got {noise:g}")
    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]       # values 0..16 -> [0, 1]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False) if size != 8 else x
    x = x.numpy()
    if noise > 0:
        x = x + noise * np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    images = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    test = np.zeros(labels.size, dtype=bool)
    for c in range(10):                          # the first n_test_per_class of each class are test images
        test[np.flatnonzero(labels == c)[:n_test_per_class]] = True
    names = tuple(str(c) for c in range(10))
    name = f"digits{size}" + (f"-noise{noise:g}" if noise > 0 else "")
    return Dataset(name, ImageSet(images[~test], labels[~test], names),
                   ImageSet(images[test], labels[test], names))


# --- generated images with shared and class-specific features -----------------------------------

GENERATED_NAME = "generated"


@dataclass(frozen=True)
class GeneratedFeatures:
    """The feature dictionary behind ``generated_images``: pattern f is ``patterns[f]`` (C, P, P) placed
    with its top-left corner at ``positions[f]``; ``classes[c, f]`` is True when class c contains it.
    ``shared`` features are used by several classes, every other feature by exactly one."""

    patterns: np.ndarray
    positions: np.ndarray
    classes: np.ndarray
    shared: tuple[int, ...]


def _gabor_patch(rng: np.random.Generator, channels: int, p: int) -> np.ndarray:
    """An oriented, coloured Gabor patch (C, p, p) with peak |value| 1."""
    yy, xx = np.mgrid[0:p, 0:p] - (p - 1) / 2
    theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(0.15, 0.35), rng.uniform(0, 2 * np.pi)
    u = xx * np.cos(theta) + yy * np.sin(theta)
    g = np.exp(-(xx ** 2 + yy ** 2) / (2 * (p / 3.5) ** 2)) * np.cos(2 * np.pi * freq * u + phase)
    colour = rng.uniform(0.3, 1.0, size=channels) * rng.choice([-1.0, 1.0], size=channels)
    patch = colour[:, None, None] * g[None]
    return patch / np.abs(patch).max()


def generated_images(n_classes: int = 20, n_train_per_class: int = 100, n_test_per_class: int = 200,
                     size: int = 16, channels: int = 3, n_shared: int = 12, k_shared: int = 3,
                     k_specific: int = 2, patch: int = 5, jitter: int = 2, distractors: int = 2,
                     noise: float = 0.15, seed: int = 0, return_features: bool = False):
    """Generated uint8 images (N, C, size, size) with many classes built from one feature dictionary.

    The dictionary holds ``n_shared`` shared features and ``k_specific`` features per class, each a
    localized coloured Gabor patch (``patch`` x ``patch``) at a fixed position. Class c uses
    ``k_shared`` shared features (assigned greedily so every shared feature is used by about
    ``n_classes * k_shared / n_shared`` classes) and its own ``k_specific`` features. An image of
    class c is the sum of its class's patterns, each with amplitude U(0.6, 1.4) and shifted by up
    to ``jitter`` pixels, plus ``distractors`` randomly chosen dictionary features at amplitude
    U(0.3, 0.8), plus Gaussian pixel noise of std ``noise`` (intensity range [0, 1], background 0.5,
    contrast 0.25 per unit amplitude). So any split of the classes into PT and FT classes shares
    features, and the FT classes also carry features that PT never sees. Deterministic in ``seed``.
    Returns a ``Dataset`` (and the ``GeneratedFeatures`` when ``return_features``).
    """
    for name, v, lo in (("n_classes", n_classes, 2), ("n_train_per_class", n_train_per_class, 1),
                        ("n_test_per_class", n_test_per_class, 1), ("channels", channels, 1),
                        ("n_shared", n_shared, 1), ("k_shared", k_shared, 0), ("k_specific", k_specific, 1),
                        ("patch", patch, 1), ("jitter", jitter, 0), ("distractors", distractors, 0)):
        if int(v) != v or v < lo:
            raise DataError(f"generated images: {name} must be an integer >= {lo}, got {v}")
    if k_shared > n_shared:
        raise DataError(f"generated images: k_shared = {k_shared} exceeds n_shared = {n_shared}")
    if size < patch + 2 * jitter:
        raise DataError(f"generated images: size must be >= patch + 2 * jitter = {patch + 2 * jitter}, got {size}")
    if not 0.0 <= noise < 10.0:
        raise DataError(f"generated images: noise must be in [0, 10), got {noise:g}")
    rng = np.random.default_rng(seed)
    n_feat = n_shared + n_classes * k_specific
    patterns = np.stack([_gabor_patch(rng, channels, patch) for _ in range(n_feat)]).astype(np.float32)
    span = size - patch - 2 * jitter + 1
    positions = jitter + rng.integers(0, span, size=(n_feat, 2))
    classes = np.zeros((n_classes, n_feat), dtype=bool)
    usage = np.zeros(n_shared)
    for c in range(n_classes):        # greedy: the least used shared features, ties broken at random
        order = np.lexsort((rng.random(n_shared), usage))[:k_shared]
        classes[c, order] = True
        usage[order] += 1
        classes[c, n_shared + c * k_specific: n_shared + (c + 1) * k_specific] = True
    members = [np.flatnonzero(row) for row in classes]

    def make(k: int) -> ImageSet:
        labels = np.repeat(np.arange(n_classes), k)
        x = np.full((labels.size, channels, size + 2 * jitter, size + 2 * jitter), 0.0, dtype=np.float32)
        for i, c in enumerate(labels):
            feats = np.concatenate([members[c], rng.integers(0, n_feat, size=distractors)])
            amps = np.concatenate([rng.uniform(0.6, 1.4, members[c].size), rng.uniform(0.3, 0.8, distractors)])
            shifts = rng.integers(-jitter, jitter + 1, size=(feats.size, 2))
            for f, a, (dy, dx) in zip(feats, amps, shifts):
                y0, x0 = positions[f] + jitter + (dy, dx)
                x[i, :, y0:y0 + patch, x0:x0 + patch] += a * patterns[f]
        x = x[:, :, jitter:jitter + size, jitter:jitter + size]
        x = 0.5 + 0.25 * x + noise * rng.standard_normal(x.shape).astype(np.float32)
        images = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
        order = rng.permutation(labels.size)
        return ImageSet(images[order], labels[order].astype(np.int64), names)

    names = tuple(f"gen{c:02d}" for c in range(n_classes))
    train_set, test_set = make(n_train_per_class), make(n_test_per_class)
    data = Dataset(f"{GENERATED_NAME}{size}-c{n_classes}-s{seed}-noise{noise:g}", train_set, test_set)
    if not return_features:
        return data
    shared = tuple(int(f) for f in np.flatnonzero(classes.sum(0) > 1))
    return data, GeneratedFeatures(patterns, positions, classes, shared)


# --- protocol -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProtocolSplit:
    """PT task (relabelled 0..K-1) and FT task (relabelled 0..n_ft_classes-1) for one seed."""

    ft_classes: tuple[int, ...]
    pt_train: ImageSet
    pt_test: ImageSet
    ft_train: ImageSet
    ft_test: ImageSet


def _relabel(s: ImageSet, classes: np.ndarray) -> ImageSet:
    lookup = np.full(s.n_classes, -1, dtype=np.int64)
    lookup[classes] = np.arange(classes.size)
    keep = lookup[s.labels] >= 0
    return ImageSet(s.images[keep], lookup[s.labels[keep]], tuple(s.class_names[c] for c in classes))


def protocol_split(data: Dataset, seed: int, n_ft_classes: int = 2) -> ProtocolSplit:
    """Permute the labels with ``seed``; the first ``n_ft_classes`` are FT classes, the rest PT."""
    if not 1 <= n_ft_classes < data.train.n_classes:
        raise DataError(f"n_ft_classes must be in [1, {data.train.n_classes}), got {n_ft_classes}")
    perm = np.random.default_rng(seed).permutation(data.train.n_classes)
    ft, pt = perm[:n_ft_classes], perm[n_ft_classes:]
    return ProtocolSplit(tuple(int(c) for c in ft), _relabel(data.train, pt), _relabel(data.test, pt),
                         _relabel(data.train, ft), _relabel(data.test, ft))


def _stratified_counts(counts: np.ndarray, n: int) -> np.ndarray:
    """Per-class sizes summing to n that differ by at most one; extras go to the largest classes."""
    want = np.full(counts.size, n // counts.size)
    want[np.argsort(-counts, kind="stable")[: n % counts.size]] += 1
    return want


def max_ft_samples(s: ImageSet) -> int:
    """Largest n for which ``sample_ft`` can draw a stratified set."""
    counts = np.bincount(s.labels, minlength=s.n_classes)
    m = int(counts.min())
    return m * counts.size + min(int((counts > m).sum()), counts.size - 1)


def sample_ft(s: ImageSet, n: int, seed: int) -> ImageSet:
    """n FT training images, stratified (class sizes differ by at most one), drawn with ``seed``."""
    if n < s.n_classes:
        raise DataError(f"n_ft = {n} must be at least the number of fine-tuning classes ({s.n_classes})")
    if n > max_ft_samples(s):
        raise DataError(f"n_ft = {n} is larger than the {max_ft_samples(s)} class-balanced training images "
                        f"available in the fine-tuning classes")
    counts = np.bincount(s.labels, minlength=s.n_classes)
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(s.labels == c), k, replace=False)
                          for c, k in enumerate(_stratified_counts(counts, n))])
    idx = rng.permutation(idx)
    return ImageSet(s.images[idx], s.labels[idx], s.class_names)
