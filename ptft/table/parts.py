"""Chunks on disk: the plan (grid cut into chunks), the manifest, one parquet part per
finished chunk, resume checks, and the final assembly of the parts into the table."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numerics.atomic import atomic_path, write_atomic
from symbolic.errors import InputError

from ..grid import Grid
from replica.params import ParameterError
from .rows import BAYES_COLUMNS, COLUMNS, ptft_version

MANIFEST_FORMAT = 1
DEFAULT_CHUNK_ROWS = 2000


@dataclass(frozen=True)
class Plan:
    """The grid cut into chunks of ``chunk_groups`` consecutive groups."""

    grid: Grid
    chunk_groups: int

    @classmethod
    def for_grid(cls, grid: Grid, chunk_rows: int | None = None) -> "Plan":
        rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else int(chunk_rows)
        if rows < 1:
            raise ParameterError(f"chunk_rows must be >= 1, got {rows}")
        return cls(grid, max(1, rows // len(grid.alphas)))

    @property
    def n_chunks(self) -> int:
        return -(-self.grid.n_groups // self.chunk_groups)

    def bounds(self, cid: int) -> tuple[int, int]:
        lo = cid * self.chunk_groups
        return lo, min(lo + self.chunk_groups, self.grid.n_groups)

    def rows(self, cid: int) -> int:
        lo, hi = self.bounds(cid)
        return (hi - lo) * len(self.grid.alphas)

    def manifest(self) -> dict:
        return {"format": MANIFEST_FORMAT, "grid": self.grid.canonical(), "digest": self.grid.digest(),
                "chunk_groups": self.chunk_groups, "n_chunks": self.n_chunks,
                "n_points": self.grid.n_points, "ptft_version": ptft_version()}


def _part_path(parts: Path, cid: int) -> Path:
    return parts / f"part-{cid:06d}.parquet"


def _write_json_atomic(obj: dict, target: Path) -> None:
    write_atomic(json.dumps(obj, indent=1), target, durable=True, what="table manifest")


def write_part(frame, parts: Path, cid: int) -> None:
    """One chunk's rows, atomically: temporary file, fsync, rename."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(_part_path(parts, cid), durable=True, what="table part") as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)


def _open_parts(plan: Plan, parts: Path, resume: bool) -> set[int]:
    """Create or check ``parts``; return the ids of complete chunks already there."""
    manifest = parts / "manifest.json"
    if parts.exists() and not resume:
        raise InputError(f"{parts} holds an earlier, unfinished run: pass --resume to continue it, "
                         "or delete it to start over")
    if not manifest.exists():
        parts.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(plan.manifest(), manifest)
        return set()
    old = json.loads(manifest.read_text())
    new = plan.manifest()
    for key, what in (("grid", "a different grid"), ("chunk_groups", "a different chunking"),
                      ("ptft_version", "another ptft version")):
        if old.get(key) != new[key]:
            raise InputError(f"--resume: {parts} was made from {what} ({key}: {str(old.get(key))[:60]} "
                             f"vs {str(new[key])[:60]}); delete it to start over")
    return _complete_parts(plan, parts)


def _resumed_plan(plan: Plan, parts: Path) -> Plan:
    """On resume the chunking is the earlier run's (whatever chunk_rows says now)."""
    try:
        old = json.loads((parts / "manifest.json").read_text())
        return Plan(plan.grid, int(old["chunk_groups"]))
    except (OSError, ValueError, KeyError, TypeError):
        return plan


def _complete_parts(plan: Plan, parts: Path) -> set[int]:
    import pyarrow.parquet as pq

    done = set()
    for path in parts.iterdir():
        if path.name.startswith("."):              # temporary file of a killed write
            path.unlink()
            continue
        if not (path.name.startswith("part-") and path.suffix == ".parquet"):
            continue
        cid = int(path.stem[5:])
        try:
            ok = cid < plan.n_chunks and pq.read_metadata(path).num_rows == plan.rows(cid)
        except Exception:                          # truncated by a power loss: recompute
            ok = False
        if ok:
            done.add(cid)
        else:
            path.unlink()
    return done


def _assemble(plan: Plan, parts: Path, out: Path, summary) -> None:
    """Stream the parts in chunk order into ``out`` (temporary file + rename), then drop them."""
    import pyarrow.parquet as pq

    expected = 0
    writer = None
    with atomic_path(out, durable=True) as tmp:
        try:
            for cid in range(plan.n_chunks):
                table = pq.read_table(_part_path(parts, cid))
                if table["point"][0].as_py() != expected:          # never a lost or doubled row
                    raise RuntimeError(f"part {cid} starts at point {table['point'][0]}, expected {expected}")
                expected += table.num_rows
                _count(table, summary)
                writer = _append(writer, table, tmp, out.suffix)
            if expected != plan.grid.n_points:
                raise RuntimeError(f"assembled {expected} rows, the grid has {plan.grid.n_points}")
        finally:
            if writer is not None and out.suffix == ".parquet":
                writer.close()
    trash = out.with_name(f".{out.name}.parts-done")         # rename first: rmtree is not atomic
    os.replace(parts, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _count(table, summary):
    status = table["status"].to_numpy(zero_copy_only=False)
    summary.n_infeasible += int(np.sum(status == "infeasible"))
    summary.n_noconv += int(np.sum(status == "noconv"))


def _append(writer, table, tmp, suffix):
    import pyarrow.parquet as pq

    if suffix == ".parquet":
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table)
        return writer
    frame = table.to_pandas()
    with open(tmp, "a") as fh:
        frame.to_csv(fh, header=writer is None, index=False)
    return True


def read_table(path):
    """Load a finished table (parquet or csv) as a pandas DataFrame."""
    import pandas as pd

    path = Path(path)
    if path.suffix == ".csv":            # empty fields are NaN in numbers, "" in text columns
        text = ("teacher", "phase", "status", "message", "ptft_version")
        numeric = [c for c in COLUMNS + BAYES_COLUMNS if c not in text]
        return pd.read_csv(path, keep_default_na=False, na_values={c: ["", "NaN", "nan"] for c in numeric},
                           dtype={c: str for c in text})
    return pd.read_parquet(path)
