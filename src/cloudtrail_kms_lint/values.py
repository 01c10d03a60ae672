"""Values the code does not fix, and strings built from them.

Front ends hand the core plain JSON-like data (dict, list, str, bool, numbers)
in which any scalar may instead be:

* a :class:`Symbol`: a value the code does not determine (``AWS::AccountId``,
  ``data.aws_caller_identity.current.account_id``, a variable without default);
* a :class:`SymStr`: a string concatenated from literal text and symbols
  (``!Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"``).

Symbols carry a *kind*. ``account``, ``partition`` and ``region`` symbols are
"environment" values: when unresolved they are taken to be the trail's own
(see ``policy.py``). Everything else is ``opaque``: a decision that depends on
an opaque symbol is "unknown", never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

ENV_KINDS = ("partition", "region", "account")


@dataclass(frozen=True)
class Symbol:
    """A value the code does not determine.

    ``name`` is what the user wrote (``AWS::AccountId``, ``var.kms_key_arn``);
    ``reason`` says why it is unknown (``var.kms_key_arn has no default``).
    """

    name: str
    kind: str = "opaque"
    reason: str = ""

    def __str__(self) -> str:  # pragma: no cover - convenience
        return "${" + self.name + "}"

    def describe(self) -> str:
        return self.reason or f"{self.name} is not known until deployment"


Part = Union[str, Symbol]


@dataclass(frozen=True)
class SymStr:
    """A string made of literal text and symbols, in order."""

    parts: tuple[Part, ...]

    @staticmethod
    def of(*parts: Part) -> "SymStr | str | Symbol":
        return make_text(parts)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return render(self)


Text = Union[str, Symbol, SymStr]


def make_text(parts) -> Text:
    """Normalise a sequence of parts: merge adjacent literals, collapse trivial cases."""
    out: list[Part] = []
    for p in parts:
        if isinstance(p, SymStr):
            seq = p.parts
        else:
            seq = (p,)
        for q in seq:
            if isinstance(q, str):
                if not q:
                    continue
                if out and isinstance(out[-1], str):
                    out[-1] = out[-1] + q
                    continue
            out.append(q)
    if not out:
        return ""
    if len(out) == 1:
        return out[0]
    return SymStr(tuple(out))


def parts_of(value: Text) -> tuple[Part, ...]:
    if isinstance(value, SymStr):
        return value.parts
    if isinstance(value, (str, Symbol)):
        return (value,) if value != "" else ()
    return (str(value),)


def is_text(value: Any) -> bool:
    return isinstance(value, (str, Symbol, SymStr))


def symbols_in(value: Any) -> list[Symbol]:
    """Every symbol inside a (possibly nested) value, in order of appearance."""
    found: list[Symbol] = []

    def walk(v: Any) -> None:
        if isinstance(v, Symbol):
            found.append(v)
        elif isinstance(v, SymStr):
            found.extend(p for p in v.parts if isinstance(p, Symbol))
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(k)
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    walk(value)
    return found


def render(value: Any) -> str:
    """Human-readable text of a value: symbols appear as ``${name}``."""
    if isinstance(value, Symbol):
        name = value.name
        if name.startswith(("ref:", "getatt:")):  # resource references: show what the user wrote
            name = name.split(":", 1)[1]
        return "${" + name + "}"
    if isinstance(value, SymStr):
        return "".join(render(p) for p in value.parts)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def split_text(value: Text, sep: str) -> list[Text]:
    """Split on a literal separator; symbols never contain it."""
    fields: list[list[Part]] = [[]]
    for p in parts_of(value):
        if isinstance(p, Symbol):
            fields[-1].append(p)
            continue
        pieces = p.split(sep)
        fields[-1].append(pieces[0])
        for piece in pieces[1:]:
            fields.append([piece])
    return [make_text(f) for f in fields]


def join_text(values: list[Text], sep: str) -> Text:
    parts: list[Part] = []
    for i, v in enumerate(values):
        if i:
            parts.append(sep)
        parts.extend(parts_of(v))
    return make_text(parts)
