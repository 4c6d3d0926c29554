"""The one way ptft writes a file: temporary file beside the target, then rename.

A reader (or a crash) never sees a half-written result, a symlink is written *through*
(its target is replaced, the link stays), and a device or pipe such as ``/dev/stdout`` is
written directly (renaming over it would replace the device node). Failures raise
:class:`symbolic.errors.OutputError` with one line naming the path.
"""
from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile

from symbolic.errors import OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def resolve_target(out: str | os.PathLike, what: str = "--out") -> str:
    """Absolute path that will be replaced: symlinks followed; the directory must exist and
    the path must not be a directory (one-line :class:`OutputError`)."""
    target = os.path.realpath(os.fspath(out))
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise OutputError(f"{what}: directory {directory} does not exist")
    if os.path.isdir(target):
        raise OutputError(f"{what}: {target} is a directory, give a file name")
    return target


def _is_special(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable (power loss); best effort."""
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


@contextlib.contextmanager
def atomic_path(out: str | os.PathLike, *, suffix: str = "", durable: bool = False, what: str = "--out"):
    """Yield a temporary path beside ``out``; on normal exit it replaces ``out`` (mode
    0666 & ~umask), on any exception it is removed. ``durable``: fsync file and directory."""
    target = resolve_target(out, what)
    directory = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.tmp-", suffix=suffix)
    except OSError as err:
        raise OutputError(f"{what}: cannot write in {directory} ({err.strerror})") from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())          # mkstemp makes 0600; results are normal files
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
        if durable:
            fsync_dir(directory)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)                        # no half-written or stray file on any failure
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            raise OutputError(f"{what}: cannot write {target} ({err.strerror or err})") from None
        raise


def write_atomic(data: str | bytes, out: str | os.PathLike | None, *, durable: bool = False,
                 what: str = "--out") -> None:
    """Write ``data`` to ``out`` atomically (to stdout when ``out`` is None)."""
    if out is None or out == "":
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return
    mode = "wb" if isinstance(data, bytes) else "w"
    if _is_special(os.fspath(out)):
        try:
            with open(out, mode) as fh:
                fh.write(data)
        except OSError as err:
            raise OutputError(f"{what}: cannot write {out} ({err.strerror})") from None
        return
    with atomic_path(out, durable=durable, what=what) as tmp:
        with open(tmp, mode) as fh:
            fh.write(data)
