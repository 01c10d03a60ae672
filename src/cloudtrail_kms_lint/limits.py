"""Limits on the work one scan does for untrusted input, in one place.

The code under review is untrusted (a pull-request check runs on code nobody
has reviewed yet), so every input-driven loop, recursion and read has a bound.
Hitting one is reported (an ``errors`` entry or CTKMS007 naming the limit),
never a hang, a crash or a silent pass. docs/security.md lists them.

Two kinds:

* :class:`Limits`: configurable. The front ends read the active set with
  :func:`current`; a caller changes it for a block of work with
  ``with limits.use(Limits(max_seconds=10)):`` (or
  :func:`from_mapping` for a configuration table). Values are clamped to the
  hard ceilings below, so no setting can trade a limit for a crash.
* Module constants (``HARD_*``, ``MAX_VALUE_DEPTH``...): bounds that exist
  because Python's own stack is finite; they are not configurable upwards.

The work budget (:func:`budget`, :func:`tick`) bounds the evaluation of one
CloudFormation template or one Terraform root module (with the modules it
calls) by steps and by wall-clock time. Steps make the cut-off deterministic
(the same input stops at the same place on every machine); the time limit is
the backstop for work that steps do not count. Exceeding either raises
:class:`LimitExceeded`, which the analyses turn into CTKMS007
("analysis stopped ...") for every trail not yet verified.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any, Iterator, Mapping, Optional

MIB = 1024 * 1024

# ---------------------------------------------------------------- hard ceilings (not configurable upwards)

HARD_MAX_NESTING = 200  # evaluation depth: deeper would meet Python's recursion limit
MAX_VALUE_DEPTH = 100  # JSON values (jsondecode, jsonencode, equality): deeper is "unknown"
MAX_BLOCK_DEPTH = 64  # Terraform blocks inside blocks
MAX_TEMPLATE_DEPTH = 1  # templatefile() inside a template is refused (Terraform's own rule)
MAX_MATCH_CELLS = 4_000_000  # wildcard matching with unknown values: pattern x value table size
MAX_FORMAT_WIDTH = 65_536  # format() width / precision
MAX_GITIGNORE_BYTES = 1 * MIB  # a .gitignore larger than this is read up to this size
MAX_GITIGNORE_PATTERNS = 10_000


@dataclass(frozen=True)
class Limits:
    """The configurable limits, with their defaults (see docs/security.md)."""

    max_file_bytes: int = 10 * MIB  # a scanned file (template, .tf, plan); larger: an errors entry
    # a template or .tf file to parse: the parsers need ~250 bytes of memory and ~5 s per MB of input
    # (CloudFormation's own template limit is 1 MB); larger: an errors entry
    max_parse_bytes: int = 2 * MIB
    max_read_bytes: int = 1 * MIB  # a file read by Terraform file() / templatefile() (a key policy is <= 32 KB)
    max_yaml_nodes: int = 1_000_000  # a template's nodes with YAML aliases expanded; more: rejected (alias bomb)
    max_nesting: int = 64  # CloudFormation value nesting evaluated; deeper: unknown (CTKMS007)
    max_expression_depth: int = 100  # Terraform evaluation depth (expressions, locals, templates)
    max_eval_nodes: int = 200_000  # CloudFormation values evaluated per scenario
    max_conditions: int = 6  # Fn::If conditions per trail: 2**6 scenarios; more: CTKMS007
    max_scenarios: int = 32  # Terraform unknown-conditional scenarios per trail
    max_module_depth: int = 16  # Terraform module calls deep; deeper: not followed (CTKMS007)
    max_steps: int = 5_000_000  # evaluation steps per template / root module; more: CTKMS007
    max_seconds: float = 60.0  # wall-clock time per template / root module; more: CTKMS007

    def clamped(self) -> "Limits":
        """The same limits with every value inside its sane range."""
        return replace(
            self,
            max_file_bytes=max(1, int(self.max_file_bytes)),
            max_parse_bytes=max(1, int(self.max_parse_bytes)),
            max_read_bytes=max(1, int(self.max_read_bytes)),
            max_yaml_nodes=max(1, int(self.max_yaml_nodes)),
            max_nesting=min(max(1, int(self.max_nesting)), HARD_MAX_NESTING),
            max_expression_depth=min(max(1, int(self.max_expression_depth)), HARD_MAX_NESTING),
            max_eval_nodes=max(1, int(self.max_eval_nodes)),
            max_conditions=min(max(0, int(self.max_conditions)), 16),
            max_scenarios=min(max(1, int(self.max_scenarios)), 4096),
            max_module_depth=min(max(0, int(self.max_module_depth)), 64),
            max_steps=max(1, int(self.max_steps)),
            max_seconds=max(0.001, float(self.max_seconds)),
        )


DEFAULTS = Limits()
_CURRENT: ContextVar[Limits] = ContextVar("cloudtrail_kms_lint_limits", default=DEFAULTS)


def current() -> Limits:
    """The limits in force."""
    return _CURRENT.get()


@contextmanager
def use(limits: Optional[Limits]) -> Iterator[Limits]:
    """Make ``limits`` (clamped) the limits in force for the block; None keeps the current ones."""
    if limits is None:
        yield current()
        return
    token = _CURRENT.set(limits.clamped())
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off for the block: parsers build millions of acyclic objects, and a
    collection pass over them again and again makes parsing a large file several times slower."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def names() -> list[str]:
    """Configuration names of the configurable limits (``max-seconds``...)."""
    return [f.name.replace("_", "-") for f in fields(Limits)]


def from_mapping(values: Mapping[str, Any], base: Optional[Limits] = None) -> Limits:
    """Limits from a configuration table (``{"max-seconds": 30, "max-file-bytes": 1048576}``).

    Keys may use ``-`` or ``_``. Raises ValueError naming the key for an
    unknown key or a value that is not a positive number.
    """
    base = base or DEFAULTS
    known = {f.name: f for f in fields(Limits)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise ValueError(f"unknown limit {key!r} (known: {', '.join(names())})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"limit {key!r} must be a number >= 0")
        changes[name] = float(value) if name == "max_seconds" else int(value)
    return replace(base, **changes).clamped()


# ---------------------------------------------------------------- the work budget


class LimitExceeded(Exception):
    """A template or module used up its work budget. ``str(e)`` says which limit, in words."""


class _Budget:
    __slots__ = ("what", "steps", "max_steps", "deadline", "seconds", "exceeded")

    def __init__(self, what: str, max_steps: int, seconds: float):
        self.what = what
        self.steps = 0
        self.max_steps = max_steps
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.exceeded: Optional[str] = None


_BUDGET: ContextVar[Optional[_Budget]] = ContextVar("cloudtrail_kms_lint_budget", default=None)


@contextmanager
def budget(what: str) -> Iterator[None]:
    """Bound the work in the block (one template, one root module) by ``max_steps`` and ``max_seconds``.

    A budget opened inside another one shares it (the outer one is not extended).
    """
    if _BUDGET.get() is not None:
        yield
        return
    lim = current()
    token = _BUDGET.set(_Budget(what, lim.max_steps, lim.max_seconds))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _fmt_seconds(s: float) -> str:
    return f"{s:g}"


def tick(n: int = 1) -> None:
    """Count ``n`` steps of work against the open budget (no budget: nothing); raise LimitExceeded when spent."""
    b = _BUDGET.get()
    if b is None:
        return
    if b.exceeded is not None:
        raise LimitExceeded(b.exceeded)
    b.steps += n
    if b.steps > b.max_steps:
        b.exceeded = (f"the analysis of this {b.what} stopped after {b.max_steps:,} evaluation steps "
                      f"(limit max-steps)")
        raise LimitExceeded(b.exceeded)
    if time.monotonic() > b.deadline:
        b.exceeded = (f"the analysis of this {b.what} stopped after {_fmt_seconds(b.seconds)} s "
                      f"(limit max-seconds)")
        raise LimitExceeded(b.exceeded)


TIME_LIMIT_MARK = "(limit max-seconds)"  # in every message of a result cut off by the clock: not reproducible


def fingerprint() -> str:
    """The limits in force as a stable text (for a cache key: a result depends on them)."""
    lim = current()
    return ",".join(f"{f.name}={getattr(lim, f.name)!r}" for f in fields(Limits))


def exceeded() -> Optional[str]:
    """Why the open budget is spent, or None."""
    b = _BUDGET.get()
    return b.exceeded if b is not None else None


__all__ = [
    "Limits", "DEFAULTS", "current", "use", "from_mapping", "names", "LimitExceeded", "budget", "tick", "exceeded",
    "paused_gc",
    "fingerprint", "TIME_LIMIT_MARK",
    "HARD_MAX_NESTING", "MAX_VALUE_DEPTH", "MAX_BLOCK_DEPTH", "MAX_TEMPLATE_DEPTH", "MAX_MATCH_CELLS",
    "MAX_FORMAT_WIDTH", "MAX_GITIGNORE_BYTES", "MAX_GITIGNORE_PATTERNS",
]
