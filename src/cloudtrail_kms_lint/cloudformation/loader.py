"""Reading CloudFormation templates with cfn-lint's decoder (an optional dependency)."""

from __future__ import annotations

import logging
import re
from typing import Any, Optional

from .. import limits
from ..report import InputError

MISSING_EXTRA = (
    "CloudFormation support needs cfn-lint, which is not installed: "
    "pip install 'cloudtrail-kms-lint[cloudformation]' (cfn-lint's decoder reads YAML short forms "
    "such as !Ref and !Sub and records the line of every node)"
)


class ParserMissing(Exception):
    """The parser for a file type is not installed; the message says which extra to install."""


def decode(path: str, display: str) -> tuple[Optional[Any], list[InputError]]:
    """Decode one template file; return (template or None, errors with file and line).

    Templates are data: cfn-lint's decoder is built on PyYAML's SafeLoader, so
    no tag constructs a Python object (``!!python/object`` is a parse error).
    Before decoding, a file that is not UTF-8 text or contains a NUL byte is
    an error naming its line; after, a template whose YAML aliases expand to
    more than ``max_yaml_nodes`` nodes (an alias bomb) is rejected.
    """
    try:
        from cfnlint.decode import decode as cfn_decode
    except ImportError as e:  # pragma: no cover - exercised in an environment without cfn-lint
        raise ParserMissing(MISSING_EXTRA) from e
    problem = _text_problem(path, display)
    if problem is not None:
        return None, [problem]
    quiet = logging.getLogger("cfnlint")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the decoder logs what it also returns as matches: report once, ours
    try:
        with limits.paused_gc():
            template, matches = cfn_decode(path)
    except RecursionError:
        return None, [InputError(display, None, "the template is nested too deeply to parse")]
    except Exception as e:  # the decoder should report, not raise; never let it reach the user
        return None, [InputError(display, None, f"cannot parse the template: {_short(str(e))}")]
    finally:
        quiet.setLevel(level)
    errors = []
    for m in matches or []:
        line = getattr(m, "linenumber", None)
        msg = str(getattr(m, "message", m))
        if "maximum recursion depth" in msg:
            errors.append(InputError(display, None, "the template is nested too deeply to parse"))
            continue
        msg = msg.replace("{filename}", display)
        line = line if isinstance(line, int) and line > 0 else None
        where = _YAML_LINE.search(msg)
        if where and (line is None or line == 1):  # PyYAML's own "line N, column M" is the precise one
            line = int(where.group(1))
        errors.append(InputError(display, line, f"cannot parse the template: {_short(msg)}"))
    if errors:
        return None, errors
    limit = limits.current().max_yaml_nodes
    where: list = []
    if expanded_size(template, limit, where) > limit:
        mark = getattr(where[0], "start_mark", None) if where else None
        line = mark.line + 1 if mark is not None and isinstance(getattr(mark, "line", None), int) else None
        return None, [InputError(display, line, f"the template expands to more than {limit:,} values through YAML "
                                                "aliases (an alias bomb?; limit max-yaml-nodes); not analysed")]
    return template, []


_YAML_LINE = re.compile(r"\bline (\d+), column \d+")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def too_large_to_parse(limit: int) -> str:
    shown = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
    return f"file is larger than {shown}, the limit for a file to parse (limit max-parse-bytes); not scanned"


def _text_problem(path: str, display: str) -> Optional[InputError]:
    """An error for a file that cannot be a text template (not UTF-8, a NUL byte); None when it may be one."""
    limit = limits.current().max_parse_bytes
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        return InputError(display, None, f"cannot read the file: {e.strerror or e}")
    if len(data) > limit:
        return InputError(display, None, too_large_to_parse(limit))
    nul = data.find(b"\x00")
    if nul >= 0:
        return InputError(display, data.count(b"\n", 0, nul) + 1,
                          "cannot parse the template: it contains a NUL byte (a binary file?)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return InputError(display, data.count(b"\n", 0, e.start) + 1,
                          f"cannot parse the template: it is not UTF-8 text (byte 0x{data[e.start]:02x})")
    return None


def expanded_size(value: Any, cap: int, where: Optional[list] = None) -> int:
    """How many values ``value`` holds with shared (aliased) containers counted each time they appear.

    Stops counting past ``cap``; a container that contains itself (a recursive
    YAML alias) counts as more than ``cap``. Linear in the number of distinct
    containers, never recursive. ``where`` (a list) receives the smallest
    container that is over ``cap``.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, (dict, list, tuple)):
            continue
        key = id(node)
        kids = list(node.values()) if isinstance(node, dict) else list(node)
        if done:
            total = 1 + (len(node) if isinstance(node, dict) else 0)  # the container and its keys
            for k in kids:
                total += sizes.get(id(k), 1) if isinstance(k, (dict, list, tuple)) else 1
                if total > cap:
                    break
            sizes[key] = min(total, cap + 1)
            active.discard(key)
            if total > cap:
                if where is not None:
                    where.append(node)
                return cap + 1
            continue
        if key in sizes:
            continue
        if key in active:
            if where is not None:
                where.append(node)
            return cap + 1  # it contains itself: infinite
        active.add(key)
        stack.append((node, True))
        for k in kids:
            if isinstance(k, (dict, list, tuple)):
                if id(k) in active:
                    if where is not None:
                        where.append(k)
                    return cap + 1
                if id(k) not in sizes:
                    stack.append((k, False))
    return sizes.get(id(value), 1)
