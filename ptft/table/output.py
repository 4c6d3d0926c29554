"""The --out file of a table: checked (symlinks followed), locked for the whole run, and
cleaned of what a killed run left beside it."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from numerics.atomic import OutputError, resolve_target
from symbolic.errors import InputError


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
