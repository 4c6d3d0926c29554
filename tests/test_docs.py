"""The tutorial cannot go stale: every command of docs/tutorial.md is run and what the page
shows is compared with what the command prints.

Rules of the comparison (so the page may show an excerpt): each shown line, in order, must match
a line of the real output (stdout and stderr together); ``...`` skips; numbers agree to 1e-3
relative (or 1e-12 absolute: residuals at round-off level differ between machines); timings,
rates and directories are not compared. ``python`` blocks are executed in the same directory,
in order; a ``toml`` block whose first line is ``# NAME`` is written to NAME.
"""
import contextlib
import io
import math
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def sections(text: str) -> dict:
    """{heading: [(kind, body), ...]} with kind 'bash', 'python', 'toml' or 'output'."""
    out, current = {}, None
    for match in re.finditer(r"^## ([^\n]+)$|^```(\w*)\n(.*?)^```$", text, re.M | re.S):
        if match.group(1):
            current = out.setdefault(match.group(1).strip(), [])
        elif current is not None:
            current.append((match.group(2) or "output", match.group(3)))
    return out


def _normal(line: str) -> str:
    line = re.sub(r"\d+(\.\d+)? s\b", "<t> s", line)                  # timings
    line = re.sub(r"[\d.]+ points/s", "<r> points/s", line)
    line = re.sub(r"(?<![\w.])/(?:[^\s/]+/)+", "", line)                # directories
    return " ".join(line.split())      # a table re-aligns when a column's width changes


def _same(shown: str, got: str) -> bool:
    shown, got = _normal(shown), _normal(got)
    if _NUM.split(shown) != _NUM.split(got):
        return False
    for a, b in zip(_NUM.findall(shown), _NUM.findall(got)):
        a, b = float(a), float(b)
        if not (math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-12)):
            return False
    return True


def check_output(shown: str, got: str) -> None:
    lines = got.splitlines()
    pos = 0
    for want in shown.splitlines():
        if not want.strip() or want.strip() == "...":
            continue
        for i in range(pos, len(lines)):
            if _same(want, lines[i]):
                pos = i + 1
                break
        else:
            raise AssertionError(f"docs/tutorial.md shows\n  {want}\nbut the command printed\n{got}")


def run_cli(line: str) -> str:
    from ptft.cli import main

    args = shlex.split(line, comments=True)
    assert args[0] == "ptft", line
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args[1:])
    assert code == 0, f"{line}: exit {code}\n{err.getvalue()}"
    return out.getvalue() + err.getvalue()


SECTIONS = sections(TUTORIAL.read_text())


def test_the_tutorial_has_commands_and_outputs():
    assert len(SECTIONS) >= 3
    assert sum(kind == "output" for steps in SECTIONS.values() for kind, _ in steps) >= 5


@pytest.mark.slow               # optimize (~15 s CPU) and verify (~25 s) are in sections 1 and 2
@pytest.mark.parametrize("heading", list(SECTIONS))
def test_tutorial_section(heading, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    printed = ""
    namespace: dict = {}
    for kind, body in SECTIONS[heading]:
        if kind == "bash":
            printed = "".join(run_cli(line) for line in body.splitlines() if line.strip())
        elif kind == "output":
            check_output(body, printed)
        elif kind == "python":
            exec(compile(body, f"tutorial:{heading}", "exec"), namespace)
        elif kind == "toml":
            name = body.splitlines()[0].lstrip("# ").strip()
            (tmp_path / name).write_text(body)
