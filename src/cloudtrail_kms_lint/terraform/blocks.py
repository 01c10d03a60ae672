"""Split a ``.tf`` file into its top-level blocks without a parser (stdlib only; no lark, no hcl2).

:func:`split` is a small HCL lexer that understands exactly what decides where
a top-level block ends: quoted strings with backslash escapes and nested
``${ ... }`` / ``%{ ... }`` templates (which may hold strings and braces),
``$${`` / ``%%{`` escapes, heredocs (``<<EOF`` / ``<<-EOF``, closed by a line
holding only the marker, optionally indented), the escaped-quote strings of
template directives (``\\"...\\"``) and comments (``#``, ``//``, ``/* */``).
It follows python-hcl2's grammar (``hcl2.lark``) where it is more permissive
than Terraform (multi-line quoted strings).

For every top-level block it gives the type, the labels, the exact span
(offsets into the text, start line and column, as python-hcl2 counts them) and
the references its text contains (``aws_kms_key.this``,
``data.aws_iam_policy_document.p``, ``module.x``: the whole text is scanned,
strings and heredocs included, so this over-approximates).

Anything it does not understand (unbalanced braces, an unterminated string,
heredoc or comment, a top-level attribute, a NUL byte, text that is not a
block, two blocks on one line) gives None: the caller parses the file in full.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HEREDOC_OPEN = re.compile(r"<<-?([A-Za-z][A-Za-z0-9._-]*)\r?\n")
_TEMPLATE_STRING = re.compile(r'\\"(?:[^"\\]|\\.)*\\"')
_BLANK = " \t\r"
# a traversal: name(.name)+, blanks allowed around the dots (over-approximation)
_CHAIN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z_][A-Za-z0-9_-]*(?:[ \t]*\.[ \t]*[A-Za-z_][A-Za-z0-9_-]*)+")
_IN_STRING = re.compile(r'["\\$%]')
_IN_EXPR = re.compile(r'["{}#/<\\]')
_DOT = re.compile(r"[ \t]*\.[ \t]*")


@dataclass(frozen=True)
class TopBlock:
    """One top-level block: ``text[start:end]`` runs from its type to its closing ``}``."""

    type: str
    labels: tuple  # label values (quoted labels without their quotes, escapes not resolved)
    start: int
    end: int
    line: int  # 1-based, of ``start``
    column: int  # 1-based, of ``start`` (characters, as python-hcl2 counts)
    refs: frozenset  # "a.b" and "data.a.b" (and "module.a") read anywhere in the block's text
    plain_labels: bool = True  # False when a quoted label has escapes or templates

    @property
    def address(self) -> Optional[str]:
        if self.type == "resource" and len(self.labels) == 2:
            return f"{self.labels[0]}.{self.labels[1]}"
        if self.type == "data" and len(self.labels) == 2:
            return f"data.{self.labels[0]}.{self.labels[1]}"
        return None


def split(text: str) -> Optional[list]:
    """The top-level blocks of ``text`` (a .tf file as python-hcl2 gets it: BOM removed), or None.

    Between blocks there is only whitespace and comments; ``"".join(gaps and block texts)``
    is the text. Never raises.
    """
    try:
        return _split(text)
    except (IndexError, ValueError, RecursionError):  # pragma: no cover - defensive: a bug here means "not understood"
        return None


def _split(text: str) -> Optional[list]:
    if "\x00" in text:
        return None
    n = len(text)
    out: list = []
    i = 0
    line = 1
    counted = 0  # text[:counted] has line - 1 newlines
    while i < n:
        c = text[i]
        if c in _BLANK or c == "\n":
            i += 1
            continue
        if c == "#" or text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                return None
            i = j + 2
            continue
        m = _NAME.match(text, i)
        if not m:
            return None
        start = i
        btype = m.group(0)
        i = m.end()
        labels: list = []
        plain = True
        # labels: names or quoted strings, on the header line
        while True:
            while i < n and text[i] in _BLANK:
                i += 1
            if i >= n:
                return None
            c = text[i]
            if c == '"':
                end = _string_end(text, i + 1)
                if end < 0:
                    return None
                raw = text[i + 1:end - 1]
                if "\\" in raw or "${" in raw or "%{" in raw or "\n" in raw:
                    plain = False
                labels.append(raw)
                i = end
                continue
            m = _NAME.match(text, i)
            if m:
                labels.append(m.group(0))
                i = m.end()
                continue
            break
        # optional newlines / comments before "{"
        while i < n:
            c = text[i]
            if c in _BLANK or c == "\n":
                i += 1
            elif c == "#" or text.startswith("//", i):
                j = text.find("\n", i)
                if j < 0:
                    return None
                i = j
            elif text.startswith("/*", i):
                j = text.find("*/", i + 2)
                if j < 0:
                    return None
                i = j + 2
            else:
                break
        if i >= n or text[i] != "{":
            return None  # a top-level attribute, or not HCL we understand
        end = _body_end(text, i + 1)
        if end < 0:
            return None
        # after the closing brace: blanks and comments, then a newline (or the end of the text)
        j = end
        while j < n and text[j] in _BLANK:
            j += 1
        if j < n and not (text[j] in "\n#" or text.startswith("//", j) or text.startswith("/*", j)):
            return None
        if text.startswith("/*", j):
            k = text.find("*/", j + 2)
            if k < 0:
                return None
            k += 2
            while k < n and text[k] in _BLANK:
                k += 1
            if k < n and not (text[k] in "\n#" or text.startswith("//", k)):
                return None
        line += text.count("\n", counted, start)
        counted = start
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        out.append(TopBlock(btype, tuple(labels), start, end, line, column, references(text[start:end]), plain))
        i = end
    return out


def _string_end(text: str, i: int) -> int:
    """Index after the ``"`` closing a quoted string whose content starts at ``i``; -1 if not understood."""
    return _scan(text, i, in_string=True)


def _body_end(text: str, i: int) -> int:
    """Index after the ``}`` closing a block body that starts at ``i``; -1 if not understood."""
    return _scan(text, i, in_string=False)


def _scan(text: str, i: int, in_string: bool) -> int:
    # A stack of frames: an int is an expression frame (its open-brace depth), None a quoted string.
    stack: list = [None] if in_string else [0]
    n = len(text)
    find = text.find
    while i < n:
        top = stack[-1]
        m = (_IN_STRING if top is None else _IN_EXPR).search(text, i)
        if m is None:
            return -1
        i = m.start()
        c = text[i]
        if top is None:  # inside a quoted string
            if c == "\\":
                if i + 1 >= n or text[i + 1] == "\n":
                    return -1
                i += 2
                continue
            if c == '"':
                stack.pop()
                i += 1
                if not stack:
                    return i
                continue
            if c == "$" or c == "%":
                if text.startswith(c + c + "{", i):  # $${...} / %%{...}: literal up to the first "}"
                    j = find("}", i + 3)
                    if j < 0:
                        return -1
                    i = j + 1
                    continue
                if text.startswith(c + "{", i):
                    stack.append(0)
                    i += 2
                    continue
            i += 1
            continue
        # expression / body
        if c == '"':
            stack.append(None)
            i += 1
        elif c == "{":
            stack[-1] = top + 1
            i += 1
        elif c == "}":
            i += 1
            if top == 0:
                stack.pop()
                if not stack:
                    return i
            else:
                stack[-1] = top - 1
        elif c == "#":
            j = find("\n", i)
            i = n if j < 0 else j
        elif c == "/" and text.startswith("//", i):
            j = find("\n", i)
            i = n if j < 0 else j
        elif c == "/" and text.startswith("/*", i):
            j = find("*/", i + 2)
            if j < 0:
                return -1
            i = j + 2
        elif c == "<" and text.startswith("<<", i):
            i = _heredoc_end(text, i)
            if i < 0:
                return -1
        elif c == "\\":
            m = _TEMPLATE_STRING.match(text, i)
            if not m:
                return -1
            i = m.end()
        else:
            i += 1
    return -1


def _heredoc_end(text: str, i: int) -> int:
    """Index after the heredoc starting at ``i`` (``<<``), as python-hcl2's HEREDOC_TEMPLATE matches it."""
    m = _HEREDOC_OPEN.match(text, i)
    if not m:
        return -1
    close = re.compile(r"\s*" + re.escape(m.group(1)) + r"\r?")
    pos = m.end()
    n = len(text)
    while pos <= n:
        nl = text.find("\n", pos)
        stop = n if nl < 0 else nl
        if close.fullmatch(text, pos, stop):
            return n if nl < 0 else nl + 1
        if nl < 0:
            return -1
        pos = nl + 1
    return -1


def _prefixes(seg: str) -> list:
    """``my-logs-1`` -> ``my``, ``my-logs``, ``my-logs-1`` (a ``-`` may be a minus)."""
    out = [seg]
    k = seg.find("-")
    while k > 0:
        out.append(seg[:k])
        k = seg.find("-", k + 1)
    return out


def _suffixes(seg: str) -> list:
    out = [seg]
    k = seg.find("-")
    while k >= 0:
        rest = seg[k + 1:]
        if rest and (rest[0].isalpha() or rest[0] == "_"):
            out.append(rest)
        k = seg.find("-", k + 1)
    return out


def references(text: str) -> frozenset:
    """Every ``a.b`` and ``data.a.b`` that can be a reference in ``text`` (over-approximated)."""
    refs: set = set()
    for m in _CHAIN.finditer(text):
        segs = _DOT.split(m.group(0))
        for k in range(len(segs) - 1):
            heads = _suffixes(segs[k]) if "-" in segs[k] else (segs[k],)
            tails = _prefixes(segs[k + 1]) if "-" in segs[k + 1] else (segs[k + 1],)
            for a in heads:
                for b in tails:
                    refs.add(f"{a}.{b}")
            if "data" in heads and k + 2 < len(segs):
                for c in (_prefixes(segs[k + 2]) if "-" in segs[k + 2] else (segs[k + 2],)):
                    refs.add(f"data.{segs[k + 1]}.{c}")
    return frozenset(refs)



# ---------------------------------------------------------------------------- relevance
# Which blocks the analysis can read. module.py parses only these; scan.py digests only these.

# Top-level blocks the analysis reads whatever they hold (terraform and provider: kept, never read).
ALWAYS_PARSED = ("terraform", "provider", "variable", "locals", "output", "module")
# Resource and data types the analysis looks up by type (trails, keys, aliases, key policies, the
# environment data sources, policy documents); any type naming cloudtrail or kms is parsed too.
LOOKED_UP_TYPES = frozenset({"aws_iam_policy_document", "aws_caller_identity", "aws_partition", "aws_region",
                             "aws_organizations_organization"})


def _relevant_type(block: "TopBlock") -> bool:
    if block.type in ALWAYS_PARSED:
        return True
    if block.type not in ("resource", "data"):
        # moved, import, removed, check, ...: the analysis never reads another top-level block type
        return False
    if not block.plain_labels or len(block.labels) != 2:
        return True  # not a plain address: keep it rather than guess
    rtype = block.labels[0].lower()
    return "cloudtrail" in rtype or "kms" in rtype or rtype in LOOKED_UP_TYPES


def relevant_blocks(spans: list) -> set:
    """(file index, block index) of the blocks to parse: the block types the analysis reads or looks up,
    and every resource or data block their text refers to, transitively (``blocks.TopBlock.refs``)."""
    by_address: dict = {}
    keep: set = set()
    todo: list = []
    for k, sp in enumerate(spans):
        for j, b in enumerate(sp):
            addr = b.address if b.plain_labels else None
            if addr is not None:
                by_address.setdefault(addr, []).append((k, j))
            if _relevant_type(b):
                keep.add((k, j))
                todo.append(b)
    while todo:
        b = todo.pop()
        for ref in b.refs:
            for kj in by_address.get(ref, ()):
                if kj not in keep:
                    keep.add(kj)
                    todo.append(spans[kj[0]][kj[1]])
    return keep


def relevant_digests(texts: list) -> Optional[list]:
    """For the .tf files of one module directory (texts, BOM removed; None: the file cannot be read),
    a digest of what the analysis can see of each: its relevant blocks' text and position. None when
    a file cannot be split (the directory is then parsed in full: only whole-file digests will do).

    Two versions of a file with the same digest give the same analysis: a comment, a blank line
    or a resource no trail or key refers to, added after the last relevant block, changes nothing.
    """
    import hashlib

    spans = []
    for text in texts:
        sp = split(text) if text is not None else []
        if sp is None:
            return None
        spans.append(sp)
    keep = relevant_blocks(spans)
    out = []
    for k, text in enumerate(texts):
        h = hashlib.sha256(b"relevant-blocks-1")
        for j, b in enumerate(spans[k]):
            if (k, j) in keep:
                h.update(f"\0{b.line}:{b.column}:{b.end - b.start}\0".encode())
                h.update(text[b.start:b.end].encode("utf-8", "surrogatepass"))
        out.append(h.hexdigest())
    return out


def directory_digests(directory: str, real_root: str, max_bytes: int) -> dict:
    """name -> relevant_digests() digest for the .tf files of a module directory, read as
    terraform/module.py reads them: links out of ``real_root`` and non-regular files are left out;
    a file that cannot be read, is larger than ``max_bytes``, holds a NUL byte or is not UTF-8
    counts as empty (the analysis reports it). {} when a file cannot be split. No parser."""
    import os
    import stat

    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".tf"))
    except OSError:
        return {}
    kept: list = []
    texts: list = []
    for n in names:
        full = os.path.join(directory, n)
        real = os.path.realpath(full)
        if not (real == real_root or real.startswith(real_root + os.sep)):
            continue
        text = None
        try:
            if stat.S_ISREG(os.stat(full).st_mode):
                with open(full, "rb") as fh:
                    data = fh.read(max_bytes + 1)
                if len(data) <= max_bytes and b"\x00" not in data:
                    text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        kept.append(n)
        texts.append(text[1:] if text is not None and text.startswith("\ufeff") else text)
    found = relevant_digests(texts)
    return {} if found is None else dict(zip(kept, found))


__all__ = ["TopBlock", "split", "references", "relevant_blocks", "relevant_digests", "directory_digests"]
