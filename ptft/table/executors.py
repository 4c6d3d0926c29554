"""Where chunks are computed: in this process, or through one ``concurrent.futures``
Executor path shared by a local process pool (workers tied to this process) and a Dask
cluster (``Client.get_executor``). Each yields (chunk id, rows or the exception).

On Linux the local workers are forked from this process after it has loaded the kernels a
group needs, so they start computing at once (a spawned worker starts an interpreter and
loads them again, ~0.7 s each); elsewhere they are spawned."""
from __future__ import annotations

import os
import sys

from symbolic.errors import InputError


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


FORK = sys.platform.startswith("linux")


def local_pool(workers: int):
    """Worker processes (forked on Linux, else spawned) that ignore Ctrl-C and die with this
    process."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork" if FORK else "spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))


def _preload(plan, todo, compute) -> None:
    """Compute one group here (rows discarded): it imports and loads exactly what the grid's
    groups need, and forked workers inherit it. A failure is left to the real computation."""
    if not FORK:
        return
    lo, _ = plan.bounds(todo[0])
    try:
        compute(plan.grid, lo, lo + 1)
    except Exception:                              # noqa: BLE001 - the chunk itself will report it
        pass


def _run_executor(plan, todo, compute, executor):
    """Submit every chunk, yield results as they finish, cancel what is left on exit."""
    from concurrent.futures import as_completed

    futures = {}
    try:
        for cid in todo:
            futures[executor.submit(compute, plan.grid, *plan.bounds(cid))] = cid
        for fut in as_completed(futures):
            err = fut.exception()
            yield futures[fut], (err if err is not None else fut.result())
    finally:
        _shutdown(executor)


def _shutdown(executor) -> None:
    from concurrent.futures import ProcessPoolExecutor

    if isinstance(executor, ProcessPoolExecutor):
        executor.shutdown(wait=False, cancel_futures=True)
    else:
        executor.shutdown(wait=False)          # distributed's ClientExecutor cancels the rest


def executor_results(plan, todo, compute, workers: int, client):
    """(chunk id, rows or exception) for every chunk in ``todo``."""
    if client is not None:
        return _run_executor(plan, todo, compute, client.get_executor(pure=False))
    if workers == 1 or len(todo) <= 1:
        return _run_serial(plan, todo, compute)
    _preload(plan, todo, compute)
    return _run_executor(plan, todo, compute, local_pool(min(workers, len(todo))))


def _connect(address: str):
    from distributed import Client

    try:
        return Client(address, timeout="20s")
    except (OSError, ValueError, TimeoutError) as err:
        raise InputError(f"--dask {address}: cannot connect to a scheduler ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
