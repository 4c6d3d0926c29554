"""Training methods of the diagonal network: the protocol every method follows and the registry
that ``ptft simulate --method`` and :class:`empirical.train.GDConfig` read their choices from.

A method is an object with

    name, help             what ``--method`` shows
    every                  default number of steps between two evaluations
    start(cfg, X, y, params) -> state        per-batch state (step rule, momentum, ...)
    step_size(state, params, g) -> (B,)      the step of each run (g = X^T r, the correlation)
    step(state, params, X, y) -> params      one iteration of every live run
    stop(state, params, X, y, rel, r) -> (done (B,) bool, reason per done run)   the stop test
    refresh(state, X, params)                at each evaluation (re-estimate curvature, ...)
    keep(state, mask)                        drop finished runs from the state
    target(cfg) (optional)                   the residual the progress ETA aims at (default cfg.tol)

(:class:`Method` is that protocol).  Divergence is not a method's business: the training loop
applies the one guard of :mod:`empirical.guard` to every method.

Registering a method (see docs/contributing.md):

    from empirical.methods import register
    register("mine", "my.module:MyMethod", help="what it does")     # or an instance

This module imports nothing heavy: the CLI lists the names without loading torch; a method given
as "module:attribute" is imported on first use.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Protocol, runtime_checkable

from symbolic.errors import InputError


@runtime_checkable
class Method(Protocol):
    name: str
    help: str
    every: int

    def start(self, cfg, X, y, params) -> Any: ...
    def step_size(self, state, params, g): ...
    def step(self, state, params, X, y): ...
    def stop(self, state, params, X, y, rel, r) -> tuple: ...
    def refresh(self, state, X, params) -> None: ...
    def keep(self, state, mask) -> None: ...


@dataclass
class _Entry:
    help: str
    target: Any           # a Method, or "module:attribute" naming one (a class is instantiated)


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, method, *, help: str = "") -> None:
    """Add (or replace) the training method ``name``: an object following :class:`Method`, or
    "module:attribute" naming one (imported when first used)."""
    if not (isinstance(name, str) and name.isidentifier() and name != "flow"):
        raise InputError(f"a training method name must be an identifier other than 'flow', got {name!r}")
    _REGISTRY[name] = _Entry(help or getattr(method, "help", ""), method)


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def method_names() -> tuple[str, ...]:
    """Names of the registered training methods, in registration order."""
    return tuple(_REGISTRY)


def method_help() -> dict[str, str]:
    return {name: e.help for name, e in _REGISTRY.items()}


def get_method(name: str) -> Method:
    """The method registered as ``name`` (InputError, exit 2, for an unknown name)."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise InputError(f"method must be one of {', '.join(_REGISTRY)}, got {name!r}")
    if isinstance(entry.target, str):
        module, _, attr = entry.target.partition(":")
        obj = getattr(import_module(module), attr)
        entry.target = obj() if isinstance(obj, type) else obj
    return entry.target


# the built-in methods (empirical.train); the order is the order of --method's choices
register("mirror", "empirical.train:Mirror",
         help="conservation-exact steps (exact flow of the weights with the correlation frozen)")
register("accel", "empirical.train:Accelerated",
         help="Nesterov-accelerated mirror steps with restarts: same end point as the flow, fewer steps")
register("gd", "empirical.train:GradientDescent", help="gradient descent kept on the flow path")
register("paper", "empirical.train:Paper", help="the authors' protocol: lr 0.5 + threshold stop")
