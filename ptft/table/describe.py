"""``ptft table --describe``: sizes, infeasible points and a time estimate from a probe."""
from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..grid import Grid
from .executors import FORK, default_workers
from .parts import Plan, write_part
from .rows import compute_chunk, compute_groups
from .sweep import _as_grid


@dataclass(frozen=True)
class Estimate:
    """What ``--describe`` measured: sizes, a timed probe of random groups, start-up costs."""

    n_points: int
    n_groups: int
    n_alpha: int
    n_chunks: int
    n_infeasible_groups: int
    probe_points: int
    probe_seconds: float
    startup_seconds: float
    write_seconds_per_row: float
    process_seconds: float = 0.0

    def seconds(self, workers: int) -> float:
        """Predicted wall time with ``workers`` local processes (capped at the cores and the
        chunks): start-up, the probe's rate per worker, writing the parts and the table."""
        eff = max(1, min(workers, default_workers(), self.n_chunks))
        per_point = self.probe_seconds / max(self.probe_points, 1)
        # forked workers (Linux) start with the parent's loaded kernels; spawned ones start an
        # interpreter and load them again
        spawn = eff > 1 and not FORK
        start = self.process_seconds * (2 if spawn else 1) + self.startup_seconds
        return start + self.n_points * (per_point / eff + 2 * self.write_seconds_per_row)


def describe(grid, *, chunk_rows: int | None = None, probe_seconds: float = 1.0, seed: int = 0,
             process_seconds: float = 0.0) -> Estimate:
    """Count points, groups, chunks and infeasible groups; time random groups to estimate.

    process_seconds : interpreter start-up and imports to add to each process (the CLI
        passes its own age, see :func:`process_age`; 0 for a sweep run from this process).
    """
    grid = _as_grid(grid)
    plan = Plan.for_grid(grid, chunk_rows)
    full = grid
    grid = _thinned(grid, PROBE_ALPHAS)    # the probe times points, never a whole long alpha axis
    t0 = time.perf_counter()
    compute_chunk(grid, 0, 1)              # imports and loads the kernels, as every worker must
    startup = time.perf_counter() - t0
    # random groups, in batches of the real chunk size so per-chunk costs are counted too
    rng = np.random.default_rng(seed)
    sample = rng.permutation(grid.n_groups)[:4096] if grid.n_groups <= 10**6 else \
        rng.integers(0, grid.n_groups, 4096)
    points, spent, frame = 0, 0.0, None
    batch = max(1, min(plan.chunk_groups * len(full.alphas), DEFAULT_BATCH_ROWS) // len(grid.alphas))
    for start in range(0, sample.size, batch):
        t1 = time.perf_counter()
        frame = compute_groups(grid, sample[start:start + batch])
        spent += time.perf_counter() - t1
        points += len(frame)
        if spent >= probe_seconds:
            break
    write = _time_write(frame)
    return Estimate(full.n_points, full.n_groups, len(full.alphas), plan.n_chunks,
                    count_infeasible_groups(full), points, spent, startup, write / max(len(frame), 1),
                    process_seconds)


PROBE_ALPHAS = 64          # alphas per probed group (evenly spaced over the axis)
DEFAULT_BATCH_ROWS = 2000  # points per timed probe batch


def _thinned(grid: Grid, n: int) -> Grid:
    """``grid`` with at most ``n`` alphas, evenly spaced, ends kept (same groups)."""
    alphas = grid.alphas
    if len(alphas) <= n:
        return grid
    keep = sorted({round(i * (len(alphas) - 1) / (n - 1)) for i in range(n)})
    return Grid(grid.axes[:-1] + (("alpha", tuple(alphas[i] for i in keep)),), grid.options)


def process_age() -> float:
    """Seconds since this process started (Linux /proc; 0 where unknown)."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])     # field 22, starttime
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return 0.0


def _time_write(frame) -> float:
    """Seconds to write ``frame`` as a part (second of two writes: the first pays imports)."""
    with tempfile.TemporaryDirectory() as tmp:
        write_part(frame, Path(tmp), 0)
        t0 = time.perf_counter()
        write_part(frame, Path(tmp), 1)
        return time.perf_counter() - t0


def count_infeasible_groups(grid: Grid) -> int:
    """Exact count: feasibility factorises into task (rho_pt, rho_ft, omega) and
    initialisation (c_pt, lambda, gamma_ft, a_pt) parts; both are checked by the same
    constructors the sweep uses (Task, Init, c_FT > 0)."""
    from ..grid import init_errors, task_errors

    ok_task = sum(err is None for err in task_errors(grid))
    ok_init = sum(err is None for err in init_errors(grid))
    rest = math.prod(len(grid.values[k]) for k in ("teacher", "noise", "reg"))
    return grid.n_groups - ok_task * ok_init * rest
