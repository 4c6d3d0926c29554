"""The kernel cache repairs itself and refuses unusable locations with one line.

Each test builds its own cache directory from the ridge penalty (cheap to generate), then
damages it and checks that the next load gives kernels that compute the closed-form
ridge prox x = z / (1 + tau) again."""
import os
import sys

import pytest

from numerics import codegen
from symbolic.errors import CacheError


def _fresh(monkeypatch, root):
    monkeypatch.setenv("PTFT_CACHE_DIR", str(root))
    codegen._LOADED.clear()
    for name in [m for m in sys.modules if m.startswith("ptft_kernels_")]:
        del sys.modules[name]


def _ridge_ok(module) -> bool:
    # Q = b^2/2: Q'(x) = x, Q'' = 1 (derivatives printed from SymPy, checked against calculus)
    return module.dq_pos(0.7, 1.0) == pytest.approx(0.7) and module.d2q_neg(-0.3, 1.0) == pytest.approx(1.0)


def _source(root):
    (path,) = (root / "kernels").glob("ptft_kernels_*.py")
    return path


@pytest.mark.parametrize("damage", ["truncate", "edit", "garbage"])
def test_damaged_source_is_rebuilt(damage, tmp_path, monkeypatch):
    _fresh(monkeypatch, tmp_path)
    assert _ridge_ok(codegen.builtin("ridge"))
    path = _source(tmp_path)
    text = path.read_text()
    path.write_text({"truncate": text[: len(text) // 3], "edit": text.replace("return float(", "return -float(", 1),
                     "garbage": "\x00\x01 not python"}[damage])
    _fresh(monkeypatch, tmp_path)
    assert _ridge_ok(codegen.builtin("ridge"))
    assert codegen._intact(_source(tmp_path))


def test_corrupt_numba_index_and_data_are_dropped(tmp_path, monkeypatch):
    _fresh(monkeypatch, tmp_path)
    codegen.builtin("ridge").dq_pos(0.5, 1.0)          # compiles and writes .nbi/.nbc
    pycache = tmp_path / "kernels" / "__pycache__"
    index = sorted(pycache.glob("*.nbi"))
    data = sorted(pycache.glob("*.nbc"))
    assert index and data
    index[0].write_bytes(b"garbage\n")
    data[0].write_bytes(data[0].read_bytes()[:20])
    _fresh(monkeypatch, tmp_path)
    module = codegen.builtin("ridge")
    assert not index[0].exists() or codegen._pickle_ok(index[0], 2)
    assert _ridge_ok(module)


def test_pickle_check_is_structural(tmp_path):
    import pickle

    good = tmp_path / "a.nbi"
    good.write_bytes(pickle.dumps(1) + pickle.dumps((2, 3)))
    assert codegen._pickle_ok(good, 2)
    good.write_bytes(good.read_bytes()[:-3])
    assert not codegen._pickle_ok(good, 2)


@pytest.mark.parametrize("value, needle", [("", "empty"), ("   ", "empty"), ("FILE", "not a directory")])
def test_bad_cache_dir_refused(value, needle, tmp_path, monkeypatch):
    target = tmp_path / "file"
    target.write_text("x")
    monkeypatch.setenv("PTFT_CACHE_DIR", str(target) if value == "FILE" else value)
    with pytest.raises(CacheError, match=needle):
        codegen.cache_dir()


def test_cli_bad_cache_dir_one_line(tmp_path, monkeypatch, capsys):
    from ptft.cli import main

    monkeypatch.setenv("PTFT_CACHE_DIR", "")
    codegen._LOADED.clear()
    monkeypatch.chdir(tmp_path)
    assert main(["solve", "--alpha", "0.2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PTFT_CACHE_DIR" in err[0]
    assert not (tmp_path / "kernels").exists()           # never ./kernels in the working directory


def test_unwritable_cache_falls_back(tmp_path, monkeypatch, capsys):
    ro = tmp_path / "ro"
    (ro / "kernels").mkdir(parents=True)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p).startswith(str(ro)) else real_access(p, mode))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(codegen, "_FALLBACK_NOTED", [])
    _fresh(monkeypatch, ro)
    path = codegen.cache_dir()
    assert path.is_dir() and str(path).startswith(str(tmp_path / "tmp"))
    assert "not writable" in capsys.readouterr().err
    assert _ridge_ok(codegen.builtin("ridge"))
