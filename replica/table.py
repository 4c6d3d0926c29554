"""Prediction tables: the replica solution over a whole GRID.toml (``ptft table``).

Work unit = a *chunk*: a run of consecutive groups (points that differ only in alpha, so
:func:`replica.solve` continues in alpha within each group). Chunks are computed in this
process (1 worker), in a local process pool (spawned workers), or on a Dask cluster; this
process alone writes each finished chunk as ``OUT.parts/part-NNNNNN.parquet`` (temporary
file, fsync, rename), so a chunk is either complete on disk or absent. ``resume=True``
checks the manifest (same grid, same chunking, same ptft version), drops stray temporary
files and unreadable parts, and computes only the missing chunks; the final table is then
streamed from the parts in chunk order into OUT (again via temporary file + rename), so a
resumed run gives exactly the rows of an uninterrupted one.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from numerics.atomic import OutputError, atomic_path, resolve_target, write_atomic
from symbolic.errors import InputError, PtftError

from .grid import Grid, grid_from_dict, load_grid, make_task_init
from .params import ParameterError
from .solver import GROUPS

MANIFEST_FORMAT = 1
DEFAULT_CHUNK_ROWS = 2000
FLOAT_OUT = (["gen_error", "test_error", "sigma", "tau"] + [f"err_{g}" for g in GROUPS]
             + ["active_fraction", "residual"])
INPUTS = ("c_pt", "lambda_pt", "lambda_pt_rel", "gamma_ft", "rho_pt", "rho_ft", "omega", "a_pt",
          "teacher", "noise", "reg", "alpha")
# row layout: keys, every input, every output of `ptft solve`, status, provenance
COLUMNS = (("point", "group") + INPUTS + tuple(FLOAT_OUT)
           + ("converged", "phase", "n_evals", "c_ft_used", "c_ft_unused", "status", "message", "ptft_version"))


class ChunkFailure(PtftError, RuntimeError):
    """Some chunks raised; the rows of all other chunks are on disk (resume retries the rest).
    Exit code 1: the computation itself failed (not the input)."""

    exit_code = 1


def ptft_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ptft")
    except PackageNotFoundError:
        return "unknown"


# -- one chunk (runs in a worker) ---------------------------------------------------------
def compute_chunk(grid: Grid, lo: int, hi: int):
    """Rows of groups ``lo <= g < hi`` as a DataFrame with columns :data:`COLUMNS`."""
    return compute_groups(grid, range(lo, hi))


def compute_groups(grid: Grid, groups):
    """Rows of the given groups, in that order (see :func:`compute_chunk`).

    An infeasible group (``ParameterError`` from Task/Init/c_FT) gives rows with
    ``status='infeasible'``, the message and NaN outputs; any other exception propagates
    (the chunk fails as a whole and is recomputed on resume).
    """
    import pandas as pd

    from .solver import solve

    cols: dict[str, list] = {name: [] for name in COLUMNS}
    alphas = np.asarray(grid.alphas, float)
    n_a = alphas.size
    version = ptft_version()
    for g in groups:
        g = int(g)
        params = grid.group_params(g)
        try:
            task, init = make_task_init(grid, params)
            res = solve(task, init, alphas, reg=params["reg"])
            out, message = _solved_columns(res), ""
        except ParameterError as err:
            out, message = _infeasible_columns(n_a), str(err)
        _append_group(cols, grid, g, params, alphas, out, message, version)
    frame = pd.DataFrame({k: np.concatenate(v) if v else [] for k, v in cols.items()})
    return _typed(frame)


def _solved_columns(res) -> dict:
    from .cli import flag_nonfinite

    res = flag_nonfinite(res)              # inf/NaN is never 'ok' (alpha = 1 with noise: 'divergent')
    out = {"gen_error": res.gen_error, "test_error": res.test_error, "sigma": res.sigma, "tau": res.tau,
           "active_fraction": res.active_fraction, "residual": res.residual,
           "converged": res.converged, "phase": res.phase, "n_evals": res.n_evals}
    for j, name in enumerate(res.group_names):
        out[f"err_{name}"] = res.group_error[:, j]
    n = res.alpha.size
    out["c_ft_used"] = np.full(n, res.info["c_ft_used"])
    out["c_ft_unused"] = np.full(n, res.info["c_ft_unused"])
    out["status"] = np.where(res.converged, "ok", "noconv")
    return out


def _infeasible_columns(n: int) -> dict:
    out = {k: np.full(n, np.nan) for k in FLOAT_OUT + ["c_ft_used", "c_ft_unused"]}
    out.update(converged=np.zeros(n, bool), phase=np.full(n, ""), n_evals=np.zeros(n, np.int64),
               status=np.full(n, "infeasible"))
    return out


def _append_group(cols, grid, g, params, alphas, out, message, version):
    n = alphas.size
    lam = params.get("lambda_pt_rel", params.get("lambda_pt"))
    lam_abs, lam_rel = (lam * params["c_pt"], lam) if grid.lambda_relative else (lam, lam / params["c_pt"])
    scalars = dict(params, lambda_pt=lam_abs, lambda_pt_rel=lam_rel, message=message, ptft_version=version)
    cols["point"].append(g * n + np.arange(n, dtype=np.int64))
    cols["group"].append(np.full(n, g, np.int64))
    cols["alpha"].append(alphas)
    for name in COLUMNS:
        if name in out:
            cols[name].append(np.asarray(out[name]))
        elif name in scalars:
            cols[name].append(np.full(n, scalars[name], dtype=object if isinstance(scalars[name], str) else float))


def _typed(frame):
    ints = {"point": "int64", "group": "int64", "n_evals": "int64", "converged": "bool"}
    for name in COLUMNS:
        if name in ints:
            frame[name] = frame[name].astype(ints[name])
        elif name in ("teacher", "phase", "status", "message", "ptft_version"):
            frame[name] = frame[name].astype(str)
        else:
            frame[name] = frame[name].astype("float64")
    return frame


# -- chunking, parts directory, manifest ----------------------------------------------------
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


# -- executors: each yields (chunk id, DataFrame or the exception it raised) ----------------
def _run_serial(plan, todo, compute):
    for cid in todo:
        try:
            yield cid, compute(plan.grid, *plan.bounds(cid))
        except Exception as err:                   # noqa: BLE001 - recorded, the sweep goes on
            yield cid, err


def _worker_init(parent: int | None = None):
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle
    import warnings

    warnings.simplefilter("ignore", RuntimeWarning)  # rows carry status/residual; no stderr noise
    _die_with_parent(parent)


def _die_with_parent(parent: int | None) -> None:
    """Linux: the kernel sends SIGKILL to this worker when the parent dies (even by
    ``kill -9``), so no orphan keeps computing. Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)              # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:        # the parent died before prctl
        os._exit(1)


def _run_pool(plan, todo, compute, workers):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(compute, plan.grid, *plan.bounds(cid)): cid for cid in todo}
        for fut in as_completed(futures):
            err = fut.exception()
            yield futures[fut], (err if err is not None else fut.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_dask(plan, todo, compute, client):
    from distributed import as_completed

    futures = {}
    try:
        for cid in todo:
            fut = client.submit(compute, plan.grid, *plan.bounds(cid), pure=False)
            futures[fut] = cid
        for fut in as_completed(list(futures)):
            if fut.status == "error":
                yield futures[fut], fut.exception()
            else:
                yield futures[fut], fut.result()
            fut.release()
    finally:
        client.cancel(list(futures))


def _connect(address: str):
    from distributed import Client

    try:
        return Client(address, timeout="20s")
    except (OSError, ValueError, TimeoutError) as err:
        raise InputError(f"--dask {address}: cannot connect to a scheduler ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None


# -- the sweep ------------------------------------------------------------------------------
@dataclass
class Summary:
    out: Path
    n_points: int
    n_computed: int = 0
    n_infeasible: int = 0
    n_noconv: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


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
        _sweep(plan, parts, done, _executor(plan, todo, compute, workers, client), summary, progress)
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


def _executor(plan, todo, compute, workers, client):
    if client is not None:
        return _run_dask(plan, todo, compute, client)
    if workers == 1 or len(todo) <= 1:
        return _run_serial(plan, todo, compute)
    return _run_pool(plan, todo, compute, min(workers, len(todo)))


def _as_grid(grid) -> Grid:
    if isinstance(grid, Grid):
        return grid
    if isinstance(grid, dict):
        return grid_from_dict(grid)
    return load_grid(grid)


def _check_out(out) -> Path:
    """The file the table replaces: symlinks followed (a link is written through, like every
    ptft output), .parquet or .csv, in an existing writable directory."""
    out = Path(resolve_target(out))
    if out.suffix not in (".parquet", ".csv"):
        raise InputError(f"--out {out.name}: the table is written as .parquet or .csv")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise OutputError(f"--out: directory {out.parent} is not writable")
    return out


class OutLock:
    """Exclusive lock on ``.OUT.lock`` beside the table (``flock``: released by the kernel
    when the holder dies, so a killed run never blocks the next one). A second run on the
    same --out is refused with one line naming the holder (pid, host, start time)."""

    def __init__(self, out: Path):
        self.path = out.with_name(f".{out.name}.lock")
        self.fd = None

    def __enter__(self):
        import fcntl
        import socket

        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise OutputError(f"--out: cannot create the lock {self.path} ({err.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(fd)
                os.close(fd)
                raise InputError(f"--out {self.path.name[1:-5]} is in use by another ptft table run "
                                 f"({holder}); wait for it or stop it") from None
            try:                       # the holder before us may have removed the file: retry
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
        os.ftruncate(fd, 0)
        os.write(fd, info.encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        try:
            self.path.unlink(missing_ok=True)      # while still holding it (see the inode check)
        finally:
            os.close(self.fd)                      # releases the flock
        return False


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 200).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "holder unknown"


def _clean_stale_tmp(out: Path) -> None:
    """Remove what a killed assembly or clean-up left next to ``out`` (never the lock)."""
    for path in out.parent.glob(f".{out.name}.*"):
        if path.name == f".{out.name}.lock":
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _progress_bar(total, initial, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="pt", unit_scale=True, desc="ptft table",
                disable=not enabled, file=sys.stderr, smoothing=0.1, dynamic_ncols=True)


def _assemble(plan: Plan, parts: Path, out: Path, summary: Summary) -> None:
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
        numeric = [c for c in COLUMNS if c not in text]
        return pd.read_csv(path, keep_default_na=False, na_values={c: ["", "NaN", "nan"] for c in numeric},
                           dtype={c: str for c in text})
    return pd.read_parquet(path)


def table(grid, out=None, *, workers: int | None = None, dask=None, resume: bool = False,
          chunk_rows: int | None = None, progress: bool = False):
    """Replica predictions over a grid, as a pandas DataFrame (one row per point).

    grid : path to a GRID.toml, a dict of the same form, or a :class:`replica.grid.Grid`.
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


# -- --describe: size and a timed probe --------------------------------------------------
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
        # spawned workers start an interpreter and load the kernels; the parent only starts
        start = self.process_seconds * (2 if eff > 1 else 1) + self.startup_seconds
        return start + self.n_points * (per_point / eff + 2 * self.write_seconds_per_row)


def describe(grid, *, chunk_rows: int | None = None, probe_seconds: float = 1.0, seed: int = 0,
             process_seconds: float = 0.0) -> Estimate:
    """Count points, groups, chunks and infeasible groups; time random groups to estimate.

    process_seconds : interpreter start-up and imports to add to each process (the CLI
        passes its own age, see :func:`process_age`; 0 for a sweep run from this process).
    """
    grid = _as_grid(grid)
    plan = Plan.for_grid(grid, chunk_rows)
    t0 = time.perf_counter()
    compute_chunk(grid, 0, 1)              # imports and loads the kernels, as every worker must
    startup = time.perf_counter() - t0
    # random groups, in batches of the real chunk size so per-chunk costs are counted too
    rng = np.random.default_rng(seed)
    sample = rng.permutation(grid.n_groups)[:4096] if grid.n_groups <= 10**6 else \
        rng.integers(0, grid.n_groups, 4096)
    points, spent, frame = 0, 0.0, None
    for start in range(0, sample.size, plan.chunk_groups):
        t1 = time.perf_counter()
        frame = compute_groups(grid, sample[start:start + plan.chunk_groups])
        spent += time.perf_counter() - t1
        points += len(frame)
        if spent >= probe_seconds:
            break
    write = _time_write(frame)
    return Estimate(grid.n_points, grid.n_groups, len(grid.alphas), plan.n_chunks,
                    count_infeasible_groups(grid), points, spent, startup, write / max(len(frame), 1),
                    process_seconds)


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
    from .grid import init_errors, task_errors

    ok_task = sum(err is None for err in task_errors(grid))
    ok_init = sum(err is None for err in init_errors(grid))
    rest = math.prod(len(grid.values[k]) for k in ("teacher", "noise", "reg"))
    return grid.n_groups - ok_task * ok_init * rest


class _CallableModule(type(sys)):
    """``replica.table`` is both this module and the function :func:`table`."""

    def __call__(self, *args, **kwargs):
        return table(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
