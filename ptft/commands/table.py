"""``ptft table GRID.toml --out results.parquet``: prediction tables over a parameter grid."""
from __future__ import annotations

import sys


def register(subparsers) -> dict:
    p = subparsers.add_parser(
        "table", help="prediction table over a GRID.toml (resumable; local processes or a Dask cluster)",
        description="One row per grid point: every input, every output of `ptft solve`, status, "
                    "ptft_version. See docs/tables.md for the GRID.toml format.")
    p.add_argument("grid", help="GRID.toml: each parameter a value, a list, or {lin|log = [start, stop, num]}")
    p.add_argument("--out", help="result file, .parquet or .csv (parts are kept in OUT.parts/ until done)")
    p.add_argument("--workers", type=int, help="local processes (default: all cores; 1 = this process)")
    p.add_argument("--dask", metavar="ADDRESS", help="use a running Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run into the same --out")
    p.add_argument("--chunk-rows", type=int, help="rows per part file (default 2000; fixed at the first run)")
    p.add_argument("--describe", action="store_true",
                   help="dry run: number of points and an estimated time from a short timed probe")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return {"table": _cmd_table}


def _cmd_table(args) -> int:
    from ptft.cli import EXIT_NOCONV, InputError
    from ptft.grid import load_grid

    grid = load_grid(args.grid)
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be >= 1, got {args.workers}")
    if args.chunk_rows is not None and args.chunk_rows < 1:
        raise InputError(f"--chunk-rows must be >= 1, got {args.chunk_rows}")
    if args.describe:
        return _describe(grid, args)
    if not args.out:
        raise InputError("--out FILE.parquet|FILE.csv is required (or --describe for a dry run)")
    if args.workers is not None and args.dask:
        raise InputError("give --workers or --dask, not both (a Dask cluster has its own workers)")
    return _run(grid, args, EXIT_NOCONV)


def _run(grid, args, exit_noconv: int) -> int:
    from ptft.table import ChunkFailure, run_table
    from symbolic.errors import PtftError

    try:
        summary = run_table(grid, args.out, workers=args.workers, dask=args.dask, resume=args.resume,
                            chunk_rows=args.chunk_rows, progress=not args.quiet)
    except ChunkFailure as err:                  # the computation failed: the parts so far are kept
        print(f"ptft: error: {err.one_line()}", file=sys.stderr)
        return 1
    except PtftError:                            # refused before or while writing: the CLI's one line
        raise
    except OSError as err:                       # e.g. disk full: the parts so far are kept
        print(f"ptft: error: --out {args.out}: {err.strerror or err} ({err.filename or 'output'}); "
              "finished chunks are kept, continue with --resume", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ptft: interrupted; finished chunks are kept, continue with: ptft table {args.grid} "
              f"--out {args.out} --resume", file=sys.stderr)
        return 130
    rate = summary.n_computed / summary.seconds if summary.seconds > 0 else float("nan")
    print(f"ptft: {summary.n_points} rows -> {summary.out} ({summary.n_computed} computed in "
          f"{summary.seconds:.1f} s, {rate:.0f} points/s; {summary.n_infeasible} infeasible)", file=sys.stderr)
    if summary.n_noconv:
        print(f"ptft: warning: {summary.n_noconv} points did not converge (status='noconv', see residual)",
              file=sys.stderr)
        return exit_noconv
    return 0


def _describe(grid, args) -> int:
    from ptft.table import default_workers, describe, process_age

    est = describe(grid, chunk_rows=args.chunk_rows, process_seconds=process_age())
    workers = args.workers or default_workers()
    inf = est.n_infeasible_groups
    rate = est.probe_points / est.probe_seconds if est.probe_seconds > 0 else float("nan")
    lines = [
        f"grid: {args.grid} (digest {grid.digest()})",
        "axes: " + ", ".join(f"{n}[{len(v)}]" for n, v in grid.axes),
        f"points: {est.n_points} = {est.n_groups} groups x {est.n_alpha} alpha",
        f"infeasible: {inf} groups ({inf * est.n_alpha} points), kept as rows with status='infeasible'",
        f"chunks: {est.n_chunks} part files",
        f"probe: {est.probe_points} points in {est.probe_seconds:.2f} s -> {rate:.0f} points/s per worker "
        f"(start-up {est.process_seconds:.2f} s + kernels {est.startup_seconds:.2f} s)",
        f"estimate: {_fmt(est.seconds(1))} with 1 worker, {_fmt(est.seconds(workers))} with {workers} "
        f"workers ({default_workers()} cores)",
    ]
    load = _load_average()
    if load is not None and load > default_workers():
        lines.append(f"note: load average {load:.1f} on {default_workers()} cores; other work will slow the sweep")
    print("\n".join(lines))
    return 0


def _load_average():
    import os

    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _fmt(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
