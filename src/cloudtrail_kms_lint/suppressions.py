"""Suppressions: inline (HCL comments, CloudFormation Metadata), configuration and baseline.

Matching happens after the analysis, from each finding's file, line and
resource; the analysers know nothing about suppressions. A suppressed finding
moves from ``ScanResult.findings`` to ``ScanResult.suppressed`` with
``Finding.suppressed`` set, so it is still reported (JSON, SARIF) but never
fails the scan. Precedence when several apply: inline, then configuration,
then baseline (the first one names the kind).

Inline, Terraform: a comment ``# cloudtrail-kms-lint:ignore CTKMS005 reason``
(or ``//``) inside the resource block, or in the run of comment lines that
ends on the line just above the block's first line. Several rule ids may be
given, comma-separated; any id form the catalogue knows (CTKMS005,
CKV_CTKMS_5, W9105) is accepted. A comment above or inside another block does
not suppress the trail.

Inline, CloudFormation: on the trail or event data store resource::

    Metadata:
      cloudtrail-kms-lint:
        ignore:
          - rule: CTKMS005
            reason: the key is shared by the organisation trail

A suppression without a reason is honoured and reported as a
:class:`~cloudtrail_kms_lint.report.ScanWarning`; so are unknown rule ids and
suppressions that are not next to any trail (those suppress nothing).

Standard library only; the HCL block structure comes from
``terraform.parse`` (imported lazily), comments from a small lexer here.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from . import catalogue
from .discovery import Ignore
from .model import (
    SUPPRESSED_BASELINE,
    SUPPRESSED_CONFIG,
    SUPPRESSED_INLINE,
    Finding,
    Location,
    Suppression,
)
from .report import ScanResult, ScanWarning

TOOL_KEY = "cloudtrail-kms-lint"
MARKER = "cloudtrail-kms-lint:ignore"
MARKER_BYTES = MARKER.encode("ascii")

TF_SUBJECT_TYPES = ("aws_cloudtrail", "aws_cloudtrail_event_data_store")
CFN_SUBJECT_TYPES = ("AWS::CloudTrail::Trail", "AWS::CloudTrail::EventDataStore")

_DIRECTIVE = re.compile(r"^(?:#|//)\s*cloudtrail-kms-lint:ignore(?![\w-])(?P<rest>.*)$", re.DOTALL)
_IDS = re.compile(r"^\s*(?P<ids>[A-Za-z][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z][A-Za-z0-9_]*)*)(?P<reason>.*)$", re.DOTALL)
_REASON_LEAD = " \t-:\u2013\u2014"  # "-- reason", ": reason", "— reason"


@dataclass(frozen=True)
class Directive:
    """One inline suppression as written: the rules it names (catalogue ids) and its reason."""

    file: str
    line: Optional[int]
    rules: tuple  # canonical rule ids (CTKMS005); unknown ids are left out (and warned about)
    reason: Optional[str]  # None when no reason is given

    def suppression(self) -> Suppression:
        return Suppression(SUPPRESSED_INLINE, self.reason, Location(self.file, self.line))


# --------------------------------------------------------------------------- rule ids


def canonical_rule(rule_id: str) -> str:
    """CTKMS005 for any id form (CKV_CTKMS_5, W9105, ctkms005). Raises KeyError when unknown."""
    return catalogue.get(str(rule_id)).id


def canonical_rules(rule_ids: Iterable[str]) -> list[str]:
    """Canonical ids, in order, without duplicates. Raises KeyError naming the first unknown id."""
    out: list[str] = []
    for r in rule_ids:
        c = canonical_rule(r)
        if c not in out:
            out.append(c)
    return out


def _split_ids(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _directive(file: str, line: Optional[int], ids: list[str], reason: Optional[str], how: str,
               warnings: list) -> Optional[Directive]:
    """A Directive from raw ids and reason; problems go to ``warnings``."""
    rules: list[str] = []
    for raw in ids:
        try:
            c = canonical_rule(raw)
        except KeyError:
            warnings.append(ScanWarning(file, line, f"unknown rule id '{raw}' in a cloudtrail-kms-lint suppression; "
                                                    "see 'cloudtrail-kms-lint rules'"))
            continue
        if c not in rules:
            rules.append(c)
    if not ids:
        warnings.append(ScanWarning(file, line, "a cloudtrail-kms-lint suppression that names no rule suppresses "
                                                f"nothing: name the rule ids, {how.format(rules='RULE')}"))
        return None
    if not rules:
        return None
    reason = (reason or "").strip() or None
    if reason is None:
        warnings.append(ScanWarning(file, line, f"the suppression of {', '.join(rules)} has no reason (it is honoured): "
                                                f"say why, {how.format(rules=','.join(rules))}"))
    return Directive(file, line, tuple(rules), reason)


# --------------------------------------------------------------------------- HCL comments


@dataclass
class HclComments:
    comments: list  # (line, text) of every # and // comment, text including the marker
    comment_only_lines: set  # lines with a comment and no code (these form the runs above blocks)


def hcl_comments(text: str) -> HclComments:
    """The comments of an HCL file, skipping strings (with ``${...}`` / ``%{...}``) and heredocs.

    A small lexer, forgiving on malformed input: an unterminated string ends
    at the end of its line, an unterminated heredoc or block comment at the
    end of the file.
    """
    comments: list = []
    code_lines: set = set()
    comment_lines: set = set()
    n = len(text)
    i = 0
    line = 1
    # stack of modes: ("code", brace_depth) (the file itself and each ${...}/%{...}), ("str", 0)
    stack: list = [["code", 0]]
    heredoc = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n")
    while i < n:
        ch = text[i]
        mode = stack[-1]
        if ch == "\n":
            line += 1
            i += 1
            if mode[0] == "str":  # HCL quoted strings cannot span lines: stop a runaway string here
                stack.pop()
            continue
        if mode[0] == "str":
            code_lines.add(line)
            if ch == "\\":
                i += 2 if i + 1 < n and text[i + 1] != "\n" else 1
                continue
            if ch == '"':
                stack.pop()
                i += 1
                continue
            if text.startswith(("$${", "%%{"), i):
                i += 3
                continue
            if text.startswith(("${", "%{"), i):
                stack.append(["code", 0])
                i += 2
                continue
            i += 1
            continue
        # code
        if ch in " \t\r":
            i += 1
            continue
        if ch == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            comments.append((line, text[i:end].rstrip("\r")))
            comment_lines.add(line)
            i = end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            for k in range(line, line + text.count("\n", i, end) + 1):
                comment_lines.add(k)
            line += text.count("\n", i, end)
            i = end
            continue
        code_lines.add(line)
        if ch == '"':
            stack.append(["str", 0])
            i += 1
            continue
        if ch == "<" and text.startswith("<<", i):
            m = heredoc.match(text, i)
            if m:
                marker = m.group(1)
                j = m.end()
                line += 1
                while j < n:
                    end = text.find("\n", j)
                    end = n if end < 0 else end
                    code_lines.add(line)
                    if text[j:end].strip() == marker:
                        j = end
                        break
                    j = end + 1
                    line += 1
                i = j
                continue
        if ch == "{":
            mode[1] += 1
        elif ch == "}":
            if mode[1] == 0 and len(stack) > 1:
                stack.pop()  # the end of an interpolation: back in the string
            elif mode[1] > 0:
                mode[1] -= 1
        i += 1
    return HclComments(comments, comment_lines - code_lines)


def hcl_directives(text: str, file: str, warnings: list) -> list[Directive]:
    """Every ``cloudtrail-kms-lint:ignore`` comment of an HCL file (problems go to ``warnings``)."""
    out = []
    for line, comment in hcl_comments(text).comments:
        m = _DIRECTIVE.match(comment)
        if not m:
            continue
        rest = m.group("rest")
        if rest and not rest[0].isspace():
            warnings.append(ScanWarning(file, line, "cannot read this cloudtrail-kms-lint suppression: write "
                                                    "'# cloudtrail-kms-lint:ignore RULE[,RULE...] reason'"))
            continue
        im = _IDS.match(rest)
        ids = _split_ids(im.group("ids")) if im else []
        reason = im.group("reason").strip().lstrip(_REASON_LEAD).strip() if im else ""
        d = _directive(file, line, ids, reason, f"# {MARKER} {{rules}} <reason>", warnings)
        if d is not None:
            out.append(d)
    return out


@dataclass
class _TfBlock:
    type: str
    name: str
    start: int
    end: int
    directives: list = field(default_factory=list)


@dataclass
class _TfFile:
    blocks: list  # _TfBlock, top-level resource blocks; None when the block structure is unknown
    directives: list


def _tf_blocks(path: str, display: str, text: Optional[str] = None) -> Optional[list]:
    """Top-level ``resource`` blocks with their line ranges: from the block splitter, which needs no
    parser (terraform/blocks.py), else from the Terraform parser (None: no parser)."""
    from .cloudformation.loader import ParserMissing
    from .terraform.blocks import split

    spans = split(text) if text is not None else None
    if spans is not None and all(b.plain_labels for b in spans):
        return [_TfBlock(b.labels[0], b.labels[1], b.line, b.line + text.count("\n", b.start, b.end))
                for b in spans if b.type == "resource" and len(b.labels) == 2]
    try:
        from .terraform.parse import parse_file

        parsed = parse_file(path, display)
    except ParserMissing:
        return None
    out = []
    for b in parsed.blocks:
        if b.type != "resource" or len(b.labels) != 2 or not b.location.line:
            continue
        out.append(_TfBlock(str(b.labels[0]), str(b.labels[1]), b.location.line, b.end_line or b.location.line))
    return out


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    text = data.decode("utf-8", errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


_INDEX = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|[^\]"])*\]')


def resource_labels(address: str) -> Optional[tuple[str, str]]:
    """``module.a["x"].aws_cloudtrail.this[0]`` -> ``("aws_cloudtrail", "this")``."""
    parts = _INDEX.sub("", address).split(".")
    if len(parts) < 2 or (len(parts) >= 3 and parts[-3] == "data"):
        return None
    return parts[-2], parts[-1]


# --------------------------------------------------------------------------- CloudFormation Metadata


def _line(node: Any) -> Optional[int]:
    mark = getattr(node, "start_mark", None)
    line = getattr(mark, "line", None) if mark is not None else None
    return line + 1 if isinstance(line, int) else None


def _key_line(mapping: Any, name: str) -> Optional[int]:
    if isinstance(mapping, dict):
        for k in mapping.keys():
            if k == name:
                return _line(k)
    return None


CFN_HOW = f"Metadata: {{{{{TOOL_KEY}: {{{{ignore: [{{{{rule: {{rules}}, reason: ...}}}}]}}}}}}}}"


def cloudformation_directives(template: Any, file: str, warnings: list) -> dict[str, list[Directive]]:
    """``{logical id: [Directive]}`` from the resources' ``Metadata.cloudtrail-kms-lint.ignore``."""
    out: dict[str, list[Directive]] = {}
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        return out
    for logical, res in resources.items():
        if not isinstance(res, dict):
            continue
        md = res.get("Metadata")
        if not isinstance(md, dict) or TOOL_KEY not in md:
            continue
        ours = md.get(TOOL_KEY)
        where = _key_line(md, TOOL_KEY) or _line(md) or _key_line(resources, logical)
        rtype = res.get("Type")
        if rtype not in CFN_SUBJECT_TYPES:
            warnings.append(ScanWarning(file, where, f"the {TOOL_KEY} Metadata of {logical} ({rtype}) suppresses nothing: "
                                                     "put it on the AWS::CloudTrail::Trail or AWS::CloudTrail::EventDataStore"))
            continue
        if not isinstance(ours, dict) or not isinstance(ours.get("ignore"), list):
            warnings.append(ScanWarning(file, where, f"cannot read the {TOOL_KEY} Metadata of {logical}: write "
                                                     f"{CFN_HOW.format(rules='RULE')}"))
            continue
        for extra in sorted(str(k) for k in ours.keys() if k != "ignore"):
            warnings.append(ScanWarning(file, _key_line(ours, extra) or where,
                                        f"unknown key '{extra}' in the {TOOL_KEY} Metadata of {logical} (only 'ignore')"))
        for item in ours["ignore"]:
            line = _line(item) or where
            if isinstance(item, str):
                ids, reason = _split_ids(item), None
            elif isinstance(item, dict) and isinstance(item.get("rule"), (str, list)):
                raw = item.get("rule")
                ids = _split_ids(raw) if isinstance(raw, str) else [str(r).strip() for r in raw if str(r).strip()]
                reason = item.get("reason")
                reason = str(reason) if isinstance(reason, (str, int, float)) else None
                for extra in sorted(str(k) for k in item.keys() if k not in ("rule", "reason")):
                    warnings.append(ScanWarning(file, line, f"unknown key '{extra}' in a {TOOL_KEY} suppression of {logical} "
                                                            "(only 'rule' and 'reason')"))
            else:
                warnings.append(ScanWarning(file, line, f"cannot read this {TOOL_KEY} suppression of {logical}: "
                                                         "write {rule: RULE, reason: ...}"))
                continue
            d = _directive(file, line, ids, reason, CFN_HOW, warnings)
            if d is not None:
                out.setdefault(str(logical), []).append(d)
    return out


# --------------------------------------------------------------------------- the index


class InlineSuppressions:
    """Inline suppressions of the scanned files, and the warnings about them."""

    def __init__(self) -> None:
        self._cfn: dict[str, dict[str, list[Directive]]] = {}
        self._tf: dict[str, _TfFile] = {}
        self.warnings: list[ScanWarning] = []

    def add_cloudformation(self, display: str, template: Any) -> None:
        self._cfn[display] = cloudformation_directives(template, display, self.warnings)

    def add_terraform(self, path: str, display: str) -> None:
        """Read one .tf file's suppressions (and warn about misplaced ones). Idempotent."""
        if display in self._tf:
            return
        text = _read_text(path)
        if text is None or MARKER not in text:
            self._tf[display] = _TfFile([], [])
            return
        directives = hcl_directives(text, display, self.warnings)
        if not directives:
            self._tf[display] = _TfFile([], [])
            return
        blocks = _tf_blocks(path, display, text)
        tf = _TfFile(blocks, directives)
        self._tf[display] = tf
        if blocks is None:
            return
        comment_only = hcl_comments(text).comment_only_lines
        owner: dict[int, _TfBlock] = {}
        for b in blocks:
            for k in range(b.start, b.end + 1):
                owner[k] = b
            k = b.start - 1
            while k in comment_only and k not in owner:
                owner[k] = b
                k -= 1
        for d in directives:
            b = owner.get(d.line or 0)
            if b is None or b.type not in TF_SUBJECT_TYPES:
                self.warnings.append(ScanWarning(
                    d.file, d.line, f"this suppression of {', '.join(d.rules)} suppresses nothing: it must be inside, "
                                    "or in the comment lines directly above, an aws_cloudtrail or "
                                    "aws_cloudtrail_event_data_store resource block"))
                continue
            b.directives.append(d)

    def lookup(self, f: Finding) -> Optional[Suppression]:
        """The inline suppression of ``f``, if any."""
        if f.file in self._cfn:
            for d in self._cfn[f.file].get(f.resource, []):
                if f.rule in d.rules:
                    return d.suppression()
            return None
        if not f.file.endswith(".tf"):
            return None
        self.add_terraform(f.file, f.file)
        tf = self._tf[f.file]
        if not tf.directives or not tf.blocks:
            return None
        labels = resource_labels(f.resource)
        candidates = [b for b in tf.blocks if labels and (b.type, b.name) == labels]
        if len(candidates) > 1 and f.line:
            candidates = [b for b in candidates if b.start <= f.line <= b.end] or candidates
        if not candidates and f.line:
            candidates = [b for b in tf.blocks if b.start <= f.line <= b.end]
        for b in candidates[:1]:
            for d in b.directives:
                if f.rule in d.rules:
                    return d.suppression()
        return None


# --------------------------------------------------------------------------- configuration


def _path_matches(pattern: str, rel: str) -> bool:
    """gitignore-style match of ``rel`` (a file, relative, '/'-separated) or of one of its directories."""
    ig = Ignore()
    ig.add(pattern)
    if ig.ignored(rel, False):
        return True
    parts = rel.split("/")
    return any(ig.ignored("/".join(parts[:k]), True) for k in range(1, len(parts)))


def relative_to(file: str, base: Optional[str]) -> str:
    """``file`` (as reported) relative to ``base`` (default: the working directory), '/'-separated."""
    try:
        rel = os.path.relpath(os.path.abspath(file), os.path.abspath(base or os.getcwd()))
    except ValueError:  # another drive on Windows
        rel = file
    return rel.replace(os.sep, "/")


def config_suppression(f: Finding, ignore: Iterable[str], per_path_ignores: dict, base: Optional[str],
                       source: str) -> Optional[Suppression]:
    if f.rule in ignore:
        return Suppression(SUPPRESSED_CONFIG, f"ignored in {source} (ignore)")
    if per_path_ignores:
        rel = relative_to(f.file, base)
        for pattern, rules in per_path_ignores.items():
            if f.rule in rules and _path_matches(pattern, rel):
                return Suppression(SUPPRESSED_CONFIG, f"ignored in {source} (per-path-ignores '{pattern}')")
    return None


# --------------------------------------------------------------------------- applying them


def apply(result: ScanResult, options: Any, inline: Optional[InlineSuppressions]) -> None:
    """Drop findings of rules not selected; move suppressed findings to ``result.suppressed``.

    ``options`` is a :class:`~cloudtrail_kms_lint.scan.ScanOptions`.
    """
    select = set(canonical_rules(options.select)) if options.select is not None else None
    ignore = set(canonical_rules(options.ignore))
    per_path = {str(p): set(canonical_rules(rs)) for p, rs in (options.per_path_ignores or {}).items()}
    source = options.config_source or "the configuration"
    baseline = options.baseline
    kept: list[Finding] = []
    for f in result.findings:
        if select is not None and f.rule not in select:
            continue
        s = inline.lookup(f) if inline is not None else None
        if s is None:
            s = config_suppression(f, ignore, per_path, options.config_dir, source)
        if s is None and baseline is not None and baseline.matches(f):
            s = Suppression(SUPPRESSED_BASELINE, f"in the baseline {baseline.display}")
        if s is None:
            kept.append(f)
        else:
            result.suppressed.append(dataclasses.replace(f, suppressed=s))
    result.findings = kept
    if inline is not None:
        seen = {(w.file, w.line, w.message) for w in result.warnings}
        for w in inline.warnings:
            if (w.file, w.line, w.message) not in seen:
                seen.add((w.file, w.line, w.message))
                result.warnings.append(w)


__all__ = [
    "MARKER",
    "Directive",
    "InlineSuppressions",
    "apply",
    "canonical_rule",
    "canonical_rules",
    "cloudformation_directives",
    "hcl_comments",
    "hcl_directives",
    "resource_labels",
]
