"""The sweep: lock --out, open or resume the parts, compute the missing chunks, write each
as it arrives, assemble the table; :func:`table` is the Python entry point."""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from symbolic.errors import PtftError

from ..grid import Grid, grid_from_dict, load_grid
from replica.params import ParameterError
from .executors import _connect, default_workers, executor_results
from .output import OutLock, _check_out, _clean_stale_tmp
from .parts import Plan, _assemble, _open_parts, _resumed_plan, read_table, write_part
from .rows import compute_chunk


class ChunkFailure(PtftError, RuntimeError):
    """Some chunks raised; the rows of all other chunks are on disk (resume retries the rest).
    Exit code 1: the computation itself failed (not the input)."""

    exit_code = 1


@dataclass
class Summary:
    out: Path
    n_points: int
    n_computed: int = 0
    n_infeasible: int = 0
    n_noconv: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)


def run_table(grid, out, *, workers: int | None = None, dask=None, resume: bool = False,
              chunk_rows: int | None = None, progress: bool = False, compute=compute_chunk) -> Summary:
    """Compute the table of ``grid`` into ``out`` (.parquet or .csv); see the module doc.

    Raises :class:`ChunkFailure` (after saving every other chunk) if some chunks raised.
    """
    grid = _as_grid(grid)
    out = _check_out(out)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ParameterError(f"workers must be >= 1, got {workers}")
    with OutLock(out):
        return _run_locked(grid, out, workers, dask, resume, chunk_rows, progress, compute)


def _run_locked(grid, out, workers, dask, resume, chunk_rows, progress, compute) -> Summary:
    client = _connect(dask) if isinstance(dask, str) else dask     # fail before touching files
    try:
        plan = Plan.for_grid(grid, chunk_rows)
        parts = out.with_name(out.name + ".parts")
        _clean_stale_tmp(out)
        plan = _resumed_plan(plan, parts) if resume else plan
        done = _open_parts(plan, parts, resume)
        todo = [cid for cid in range(plan.n_chunks) if cid not in done]
        summary = Summary(out, grid.n_points)
        _sweep(plan, parts, done, executor_results(plan, todo, compute, workers, client), summary, progress)
    finally:
        if isinstance(dask, str):
            client.close()
    _assemble(plan, parts, out, summary)
    return summary


def _sweep(plan: Plan, parts: Path, done, results, summary: Summary, progress: bool) -> None:
    """Write each finished chunk as it arrives; collect failures, raise them at the end."""
    t0 = time.perf_counter()
    bar = _progress_bar(plan.grid.n_points, sum(plan.rows(c) for c in done), progress)
    try:
        for cid, result in results:
            if isinstance(result, BaseException):
                lo, hi = plan.bounds(cid)
                summary.failures.append((cid, f"chunk {cid} (groups {lo}..{hi - 1}): "
                                              f"{type(result).__name__}: {result}"))
                continue
            write_part(result, parts, cid)
            summary.n_computed += len(result)
            bar.update(len(result))
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - t0
    if summary.failures:
        summary.failures.sort()
        raise ChunkFailure(f"{len(summary.failures)} of {plan.n_chunks} chunks failed, first: "
                           f"{summary.failures[0][1]}; the other rows are saved in {parts}, "
                           "run again with --resume")


def _as_grid(grid) -> Grid:
    if isinstance(grid, Grid):
        return grid
    if isinstance(grid, dict):
        return grid_from_dict(grid)
    return load_grid(grid)


def _progress_bar(total, initial, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="pt", unit_scale=True, desc="ptft table",
                disable=not enabled, file=sys.stderr, smoothing=0.1, dynamic_ncols=True)


def table(grid, out=None, *, workers: int | None = None, dask=None, resume: bool = False,
          chunk_rows: int | None = None, progress: bool = False):
    """Replica predictions over a grid, as a pandas DataFrame (one row per point).

    grid : path to a GRID.toml, a dict of the same form, or a :class:`ptft.grid.Grid`.
    out : .parquet/.csv file to write (resumable with ``resume=True``); None keeps the
        table in a temporary directory and only returns it.
    workers : local processes (default: all cores; 1 = in this process).
    dask : address of a running Dask scheduler (or a ``distributed.Client``) to use instead.
    """
    if out is not None:
        run_table(grid, out, workers=workers, dask=dask, resume=resume, chunk_rows=chunk_rows, progress=progress)
        return read_table(out)
    with tempfile.TemporaryDirectory(prefix="ptft-table-") as tmp:
        target = Path(tmp) / "table.parquet"
        run_table(grid, target, workers=workers, dask=dask, chunk_rows=chunk_rows, progress=progress)
        return read_table(target)
