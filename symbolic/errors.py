"""What ptft refuses: one exception family, so the command line catches it in one place.

Every class carries the process exit code the CLI uses for it and a one-line message:

- :class:`InputError` (2): a value, option, file or expression that ptft will not use;
- :class:`DataError` (2): a data file that is missing, unreadable or malformed;
- :class:`OutputError` (2): an output path that cannot be written;
- :class:`CacheError` (2): an unusable kernel-cache directory;
- :class:`ConvergenceError` (3): an iteration that diverged or did not converge.

This module imports nothing, so every layer (symbolic, numerics, replica, empirical) can
use it. The older names (``ParameterError``, ``PenaltyError``, ``GridError``, ...) are
subclasses and stay importable from where they were.
"""
from __future__ import annotations

EXIT_INPUT = 2
EXIT_NOCONV = 3
EXIT_INTERRUPT = 130


class PtftError(Exception):
    """Base of everything ptft refuses; ``str(err)`` is one line."""

    exit_code = EXIT_INPUT

    def one_line(self) -> str:
        """The message on a single line (a multi-line cause is joined with '; ')."""
        text = " ".join(str(self).split("\n")).strip()
        return text or type(self).__name__


class InputError(PtftError, ValueError):
    """A value, option or expression that ptft will not use."""


class DataError(PtftError, ValueError):
    """A data file that is missing, unreadable or malformed."""


class OutputError(PtftError, OSError):
    """An output path that cannot be written."""

    def __str__(self) -> str:          # OSError's str would prepend an errno
        return str(self.args[0]) if self.args else ""


class CacheError(PtftError, OSError):
    """An unusable kernel-cache directory."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConvergenceError(PtftError, RuntimeError):
    """An iteration diverged or did not converge (exit 3)."""

    exit_code = EXIT_NOCONV
