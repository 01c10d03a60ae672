"""A tiny HCL and YAML writer for the benchmark generator (stdlib only, deterministic output).

Values: ``Raw("var.x")`` is an HCL expression written as is; ``str`` is a quoted
template (``${...}`` interpolations are kept); ``dict``/``list``/``bool``/numbers/``None``
are HCL object/tuple/literal syntax. Blocks are ``Block(type, labels, body)`` where
``body`` is a list of ``(name, value)`` attributes, nested ``Block``s, ``Comment``s
and ``None`` (a blank line). Output follows ``terraform fmt`` closely (two-space
indentation, aligned ``=`` in runs of single-line attributes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class Raw(str):
    """An HCL expression, written without quotes."""


@dataclass
class Comment:
    text: str


@dataclass
class Block:
    type: str
    labels: tuple = ()
    body: list = field(default_factory=list)


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def value(v: Any, ind: int = 0) -> str:
    pad = "  " * ind
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, (list, tuple)):
        if not v:
            return "[]"
        items = [value(x, ind + 1) for x in v]
        one_line = "[" + ", ".join(items) + "]"
        if all("\n" not in i for i in items) and len(one_line) + len(pad) <= 100 and not any(isinstance(x, dict) for x in v):
            return one_line
        return "[\n" + ",\n".join(pad + "  " + i for i in items) + ",\n" + pad + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        keys = [k if _IDENT.match(k) else quote(k) for k in v]
        width = max(len(k) for k in keys)
        lines = []
        for k, x in zip(keys, v.values()):
            lines.append(f"{pad}  {k.ljust(width)} = {value(x, ind + 1)}")
        return "{\n" + "\n".join(lines) + "\n" + pad + "}"
    raise TypeError(f"no HCL form for {type(v).__name__}")


def render(block: Block, ind: int = 0) -> str:
    pad = "  " * ind
    header = pad + block.type + "".join(" " + quote(label) for label in block.labels)
    if not block.body:
        return header + " {}\n"
    out = [header + " {\n"]
    body = list(block.body)
    i = 0
    while i < len(body):
        item = body[i]
        if item is None:
            out.append("\n")
            i += 1
        elif isinstance(item, Comment):
            out.append(f"{pad}  # {item.text}\n")
            i += 1
        elif isinstance(item, Block):
            out.append(render(item, ind + 1))
            i += 1
        else:
            # a run of attributes: align the single-line ones, as terraform fmt does
            run = []
            while i < len(body) and isinstance(body[i], tuple):
                run.append(body[i])
                i += 1
            rendered = [(name, value(v, ind + 1)) for name, v in run]
            width = max(len(name) for name, text in rendered if "\n" not in text) if any(
                "\n" not in text for _, text in rendered) else 0
            for name, text in rendered:
                key = name.ljust(width) if "\n" not in text else name
                out.append(f"{pad}  {key} = {text}\n")
    out.append(pad + "}\n")
    return "".join(out)


def render_all(blocks: list) -> str:
    return "\n".join(render(b) if isinstance(b, Block) else b for b in blocks)


# ---------------------------------------------------------------- YAML (CloudFormation)


class Tag:
    """A CloudFormation short-form intrinsic: ``!Ref X``, ``!Sub "..."``, ``!GetAtt X.Arn``, ``!If [...]``."""

    def __init__(self, name: str, arg: Any):
        self.name = name
        self.arg = arg


_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9_./-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def yscalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _YAML_WORDS:
        return s
    return json.dumps(s)


def yaml(v: Any, ind: int = 0) -> str:
    """Block-style YAML for a mapping (the top level of a template)."""
    return "".join(_ymap(v, ind))


def _inline(v: Any) -> str | None:
    if isinstance(v, Tag):
        arg = v.arg
        if isinstance(arg, list):
            inner = [_inline(x) for x in arg]
            if any(i is None for i in inner):
                return None
            return f"!{v.name} [{', '.join(inner)}]"
        inner = _inline(arg)
        return None if inner is None else f"!{v.name} {inner}"
    if isinstance(v, (dict, list)):
        if not v:
            return "{}" if isinstance(v, dict) else "[]"
        return None
    return yscalar(v)


def _ymap(d: dict, ind: int):
    pad = "  " * ind
    for k, v in d.items():
        key = yscalar(k)
        inline = _inline(v)
        if inline is not None:
            yield f"{pad}{key}: {inline}\n"
        elif isinstance(v, dict):
            yield f"{pad}{key}:\n"
            yield from _ymap(v, ind + 1)
        elif isinstance(v, list):
            yield f"{pad}{key}:\n"
            yield from _ylist(v, ind + 1)
        elif isinstance(v, Tag):  # a tag whose argument is a block (e.g. !Sub with a mapping list)
            yield f"{pad}{key}:\n"
            yield f"{pad}  Fn::{v.name}:\n"
            if isinstance(v.arg, list):
                yield from _ylist(v.arg, ind + 2)
            else:
                yield from _ymap(v.arg, ind + 2)


def _ylist(items: list, ind: int):
    pad = "  " * ind
    for v in items:
        inline = _inline(v)
        if inline is not None:
            yield f"{pad}- {inline}\n"
        elif isinstance(v, dict):
            first = True
            for line in _ymap(v, ind + 1):
                if first:
                    yield f"{pad}- {line.lstrip()}"
                    first = False
                else:
                    yield line
        elif isinstance(v, list):
            yield f"{pad}-\n"
            yield from _ylist(v, ind + 1)
        else:
            raise TypeError(f"no YAML form for {v!r}")
