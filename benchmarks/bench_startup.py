"""Start-up cost of the command line: wall time of ``ptft --help`` / ``ptft --version`` in a
fresh interpreter, and which heavy libraries that imports (``python -X importtime``).

    python benchmarks/bench_startup.py [--repeats 7] [--out FILE.json] [--root CHECKOUT]

``--root`` times another checkout of ptft (e.g. an older commit made with ``git worktree
add``) with the same method, for a before/after comparison.

Writes benchmarks/results/startup.json by default. Each timing is the wall time of a whole
``python -m ptft.cli ...`` process (interpreter start-up included), median of the repeats.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("numpy", "sympy", "scipy", "torch", "pandas", "numba")


TREE = [ROOT]      # the checkout being timed (--root)


def _env():
    return dict(os.environ, PYTHONPATH=TREE[0] + os.pathsep + os.environ.get("PYTHONPATH", ""))


def wall(args, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ptft.cli", *args], capture_output=True, check=True, env=_env(), cwd=TREE[0])
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": repeats}


def heavy_imports(args):
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "ptft.cli", *args], capture_output=True,
                         text=True, check=True, env=_env(), cwd=TREE[0])
    top = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    return sorted(top & set(HEAVY))


def _maybe(measure):
    """None where the checkout lacks the command (an older one has no --version)."""
    try:
        return measure()
    except subprocess.CalledProcessError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "startup.json"))
    ap.add_argument("--root", default=ROOT, help="checkout to time (default: this one)")
    args = ap.parse_args()
    TREE[0] = os.path.abspath(args.root)
    wall(["--help"], 1)                        # warm the file-system cache once
    python_only = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        python_only.append(time.perf_counter() - t0)
    result = {
        "python_startup_median_s": statistics.median(python_only),
        "help": wall(["--help"], args.repeats),
        "version": _maybe(lambda: wall(["--version"], args.repeats)),
        "help_heavy_imports": heavy_imports(["--help"]),
        "root": TREE[0],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    from numerics.atomic import write_atomic

    write_atomic(json.dumps(result, indent=1) + "\n", args.out)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
