"""The one divergence test of every training loop (diagonal network, ResNet, head energy,
linear teacher): a value that is not finite, or a loss that has grown by :data:`FACTOR` over its
first value, has diverged (gradient descent past its stability limit only grows from there).

:func:`diverged` answers per run (floats, numpy arrays or torch tensors, reduced over every axis
but the first with ``per_run=True``); :func:`check` raises :class:`symbolic.errors.ConvergenceError`
(exit 3) for loops that cannot go on.
"""
from __future__ import annotations

import math

# a loss this many times above its starting value only grows further: GD has diverged
FACTOR = 1e8


def diverged(value, first=None, *, per_run: bool = False):
    """True where ``value`` is not finite, or (``first`` given: a loss) exceeds FACTOR x first.

    ``per_run``: ``value`` is (B, ...) and the answer is (B,), True if any entry of a run diverged.
    """
    if isinstance(value, (int, float)):
        bad = not math.isfinite(value)
        if first is not None and not bad:
            bad = value > FACTOR * max(float(first), 1e-300)
        return bad
    mod = _namespace(value)
    bad = ~mod.isfinite(value)
    if first is not None:
        floor = max(float(first), 1e-300) if isinstance(first, (int, float)) else mod.clip(first, 1e-300, None)
        bad = bad | (value > FACTOR * floor)
    if per_run and bad.ndim > 1:
        bad = bad.reshape(bad.shape[0], -1).any(**{_axis(mod): 1})
    return bad


def check(value, first=None, *, what: str, step=None, hint: str = "use a smaller learning rate") -> None:
    """Raise ConvergenceError (exit 3) if :func:`diverged` says so for any entry of ``value``."""
    bad = diverged(value, first)
    if bool(bad if isinstance(bad, bool) else bad.any()):
        from symbolic.errors import ConvergenceError

        at = f" at step {step}" if step is not None else ""
        shown = f" (loss {value:.3g}, started at {first:.3g})" if isinstance(value, float) and first is not None \
            else ""
        raise ConvergenceError(f"{what} diverged{at}{shown}; {hint}")


def _namespace(value):
    if type(value).__module__.startswith("torch"):
        import torch

        return torch
    import numpy as np

    return np


def _axis(mod) -> str:
    return "dim" if mod.__name__ == "torch" else "axis"
