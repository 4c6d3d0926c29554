"""Prediction tables: the replica solution over a whole GRID.toml (``ptft table``).

Work unit = a *chunk*: a run of consecutive groups (points that differ only in alpha, so
:func:`replica.solve` continues in alpha within each group). Chunks are computed in this
process (1 worker), in a local process pool (forked on Linux, else spawned), or on a Dask cluster; this
process alone writes each finished chunk as ``OUT.parts/part-NNNNNN.parquet`` (temporary
file, fsync, rename), so a chunk is either complete on disk or absent. ``resume=True``
checks the manifest (same grid, same chunking, same ptft version), drops stray temporary
files and unreadable parts, and computes only the missing chunks; the final table is then
streamed from the parts in chunk order into OUT (again via temporary file + rename), so a
resumed run gives exactly the rows of an uninterrupted one.

Modules: ``rows`` (one group -> rows), ``parts`` (plan, manifest, parts, assembly),
``executors`` (this process, or one Executor path for a local pool and Dask), ``output``
(--out checks and lock), ``sweep`` (run_table, table), ``describe`` (--describe).
``ptft.table`` itself is callable: ``ptft.table(grid, out)`` is :func:`table`.
"""
import sys

from .describe import Estimate, count_infeasible_groups, describe, process_age
from .executors import default_workers
from .output import OutLock
from .parts import DEFAULT_CHUNK_ROWS, MANIFEST_FORMAT, Plan, read_table, write_part
from .rows import BAYES_COLUMNS, COLUMNS, FLOAT_OUT, INPUTS, compute_chunk, compute_groups, ptft_version
from .sweep import ChunkFailure, Summary, run_table, table

__all__ = ["BAYES_COLUMNS", "COLUMNS", "FLOAT_OUT", "INPUTS", "DEFAULT_CHUNK_ROWS", "MANIFEST_FORMAT", "ChunkFailure", "Estimate",
           "OutLock", "Plan", "Summary", "compute_chunk", "compute_groups", "count_infeasible_groups",
           "default_workers", "describe", "process_age", "ptft_version", "read_table", "run_table", "table",
           "write_part"]


class _CallableModule(type(sys)):
    """``ptft.table`` is both this module and the function :func:`table`."""

    def __call__(self, *args, **kwargs):
        return table(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
