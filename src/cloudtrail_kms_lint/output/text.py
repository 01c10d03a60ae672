"""The human-readable text format (the default).

Findings are grouped under a header line per file and wrapped to fit an
80-column terminal::

    templates/trail.yaml
      templates/trail.yaml:12  CTKMS004  error  LogTrail
        The key policy of LogKey does not allow cloudtrail.amazonaws.com
        kms:GenerateDataKey* for this trail.
        fix: Add a statement: Effect Allow, Principal {"Service":
             "cloudtrail.amazonaws.com"}, Action "kms:GenerateDataKey*", ...

    broken.yaml
      broken.yaml:3  error  mapping values are not allowed here

    1 error in 2 files (1 input error).

With ``verbose`` each finding also shows its trace (``via:``) and related
locations (``see:``). With ``show_fix`` a finding that has its own fix
(``Finding.fix``, written in the style of the file, see ``fixes.py``) shows it
after the catalogue's one-line ``fix:``, under ``edit:``: the prose wrapped,
the code as written, indented 12 columns; a fix the same resource's previous
finding already showed is not repeated. Scan warnings (a suppression without a reason, ...) are
listed under their file like input errors. Suppressed findings are counted in
the summary line and shown only with ``show_suppressed``, marked
``suppressed`` and followed by the kind and reason of the suppression. ANSI colours only when ``color`` is true. Tokens that
cannot be broken (a long path, an ARN) may make a line longer than 80 columns.
"""

from __future__ import annotations

import textwrap
import unicodedata
from typing import Optional

from .. import catalogue
from ..model import Finding
from ..report import InputError, ScanResult, ScanWarning
from .json_format import sorted_errors, sorted_findings, sorted_suppressed, sorted_warnings

WIDTH = 80

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
RED = "\x1b[31m"
YELLOW = "\x1b[33m"
DIM = "\x1b[2m"

_LEVEL_STYLE = {catalogue.ERROR: RED, catalogue.WARNING: YELLOW}


class _Style:
    def __init__(self, color: bool):
        self.color = color

    def __call__(self, text: str, code: Optional[str]) -> str:
        if not self.color or not code or not text:
            return text
        return f"{code}{text}{RESET}"


def _clean(text: object, *, keep_newlines: bool = False) -> str:
    """Make control characters visible so input text cannot drive the terminal."""
    out = []
    for ch in str(text):
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) == "Cc":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _where(file: str, line: Optional[int]) -> str:
    file = _clean(file)
    return f"{file}:{line}" if line else file


def _wrap(text: str, first: str, rest: str) -> list[str]:
    """Wrap ``text`` (which may hold newlines) after the prefix ``first``."""
    lines: list[str] = []
    prefix = first
    paragraphs = [p for p in _clean(text, keep_newlines=True).splitlines() if p.strip()]
    for paragraph in paragraphs or [""]:
        wrapped = textwrap.wrap(
            paragraph,
            width=WIDTH,
            initial_indent=prefix,
            subsequent_indent=rest,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [prefix.rstrip()]
        lines.extend(wrapped)
        prefix = rest
    return lines


def _wrap_tokens(tokens: list[tuple[str, str, str]], first: str, rest: str) -> list[str]:
    """Greedy wrap of (separator, plain, styled) tokens; widths count plain text only."""
    lines: list[str] = []
    plain_len = len(first)
    current = first
    started = False
    for sep, plain, styled in tokens:
        if started and plain_len + len(sep) + len(plain) > WIDTH:
            lines.append(current)
            current, plain_len = rest + styled, len(rest) + len(plain)
        else:
            if started:
                current += sep
                plain_len += len(sep)
            current += styled
            plain_len += len(plain)
        started = True
    lines.append(current)
    return lines


FIX_PROSE = "    edit: "
FIX_CODE = " " * 12


def _fix_lines(fix: str) -> list[str]:
    """A finding's own fix (fixes.py): prose wrapped after ``edit:``, code lines as they are, indented."""
    lines: list[str] = []
    prefix = FIX_PROSE
    for raw in _clean(fix, keep_newlines=True).splitlines():
        if raw.startswith("    "):
            lines.append((FIX_CODE + raw[4:]).rstrip())
        elif raw.strip():
            lines += _wrap(raw, prefix, " " * len(FIX_PROSE))
            prefix = " " * len(FIX_PROSE)
    return lines


def _finding_lines(f: Finding, style: _Style, verbose: bool, show_fix: bool = False,
                   same_fix_as: Optional[str] = None) -> list[str]:
    level = _clean(f.level)
    header = [
        ("", _where(f.file, f.line), _where(f.file, f.line)),
        ("  ", _clean(f.rule), style(_clean(f.rule), BOLD)),
        ("  ", level, style(level, _LEVEL_STYLE.get(f.level))),
        ("  ", _clean(f.resource), _clean(f.resource)),
    ]
    if f.suppressed is not None:
        header.append(("  ", "[suppressed]", style("[suppressed]", DIM)))
    # a header that does not fit continues deeper than the message, so that the resource is not read as its first word
    lines = _wrap_tokens(header, "  ", "      ")
    lines += _wrap(f.message, "    ", "    ")
    if f.suppressed is not None:
        reason = f.suppressed.reason or "(no reason given)"
        lines += _wrap(f"{f.suppressed.kind}: {reason}", "    suppressed: ", "                ")
        return lines
    if verbose:
        for step in f.trace:
            where = f" ({_where(step.location.file, step.location.line)})" if step.location else ""
            lines += _wrap(f"{step.text}{where}", "    via: ", "         ")
        for r in f.related:
            lines += _wrap(f"{r.message} ({_where(r.location.file, r.location.line)})", "    see: ", "         ")
    rule = catalogue.BY_ID.get(f.rule)
    if rule is not None:
        lines += _wrap(rule.remediation, "    fix: ", "         ")
    if show_fix and f.fix:
        if same_fix_as:
            lines += _wrap(f"the same as for {same_fix_as} above.", FIX_PROSE, " " * len(FIX_PROSE))
        else:
            lines += _fix_lines(f.fix)
    return lines


def _error_lines(e: InputError | ScanWarning, style: _Style, label: str = "error") -> list[str]:
    tokens = [
        ("", _where(e.file, e.line), _where(e.file, e.line)),
        ("  ", label, style(label, RED if label == "error" else YELLOW)),
    ]
    first, _, rest = _clean(e.message, keep_newlines=True).partition("\n")
    sep = "  "
    for word in first.split():
        tokens.append((sep, word, word))
        sep = " "
    lines = _wrap_tokens(tokens, "  ", "    ")
    if rest.strip():
        lines += _wrap(rest, "    ", "    ")
    return lines


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(result: ScanResult, style: _Style) -> str:
    counts = result.counts()
    errors = counts.get(catalogue.ERROR, 0)
    warnings = counts.get(catalogue.WARNING, 0)
    files = _plural(result.files_scanned, "file")
    parts = []
    if errors:
        parts.append(style(_plural(errors, "error"), RED))
    if warnings:
        parts.append(style(_plural(warnings, "warning"), YELLOW))
    others = len(result.findings) - errors - warnings
    if others:
        parts.append(_plural(others, "other finding"))
    head = f"{', '.join(parts)} in {files}" if parts else f"No findings in {files}"
    extra = []
    if result.errors:
        extra.append(style(_plural(len(result.errors), "input error"), RED))
    if result.suppressed:
        extra.append(f"{len(result.suppressed)} suppressed")
    if result.warnings:
        extra.append(style(_plural(len(result.warnings), "suppression warning"), YELLOW))
    if extra:
        head += f" ({', '.join(extra)})"
    return head + "."


def render(result: ScanResult, *, color: bool = False, verbose: bool = False, show_suppressed: bool = False,
           show_fix: bool = False) -> str:
    style = _Style(color)
    findings = sorted_findings(result)
    if show_suppressed:
        findings = sorted(findings + sorted_suppressed(result), key=lambda f: f.sort_key())
    errors = sorted_errors(result)
    warnings = sorted_warnings(result)
    files = sorted({f.file for f in findings} | {e.file for e in errors} | {w.file for w in warnings})
    blocks: list[list[str]] = []
    for file in files:
        block = [style(_clean(file), BOLD)]
        for e in errors:
            if e.file == file:
                block += _error_lines(e, style)
        for w in warnings:
            if w.file == file:
                block += _error_lines(w, style, "warning")
        first = True
        shown_fixes: dict = {}  # (resource, fix) -> the rule whose finding showed it
        for f in findings:
            if f.file == file:
                if not first or len(block) > 1:
                    block.append("")
                same = shown_fixes.get((f.resource, f.fix)) if f.fix and f.suppressed is None else None
                block += _finding_lines(f, style, verbose, show_fix, same)
                if f.fix and f.suppressed is None:
                    shown_fixes.setdefault((f.resource, f.fix), f.rule)
                first = False
        blocks.append(block)
    out: list[str] = []
    for block in blocks:
        out += block
        out.append("")
    out.append(summary_line(result, style))
    return "\n".join(out) + "\n"
