"""Baselines: accept the findings a repository has today, report only new ones.

``--write-baseline FILE`` writes::

    {
      "version": "1",
      "tool": "cloudtrail-kms-lint",
      "findings": [
        {"rule": "CTKMS005", "resource": "LogTrail", "file": "templates/trail.yaml",
         "fingerprint": "3f1c...", "message": "..."}
      ]
    }

sorted by file, resource, rule and fingerprint, without duplicates, so the
same findings always give the same bytes. ``--baseline FILE`` suppresses
(kind ``baseline``) every finding that matches an entry on all four of:

* ``rule`` (any id form the catalogue knows is accepted when reading);
* ``resource``: the CloudFormation logical id or the full Terraform address
  (``module.audit.aws_cloudtrail.this["eu"]``);
* ``file``, relative to the directory of the baseline file (so the scan may
  run from another directory);
* ``fingerprint``: a SHA-256 (first 16 hex digits) of the message's stable
  part, :func:`stable_message`: the message with line and column numbers
  removed and file names reduced to their base name.

The line is not part of the match, so edits that move the resource do not
bring a baselined finding back; a different problem on the same resource
(another message) is a new finding. ``message`` is stored for the reader and
is not matched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Iterable

from . import catalogue
from .model import Finding

BASELINE_VERSION = "1"
TOOL = "cloudtrail-kms-lint"

_FILE_NAME = r"[^\s()'\"`,;]*?([^\s()'\"`,;/\\]+\.(?:ya?ml|json|template|tfvars|tf))"
_FILE_POSITION = re.compile(_FILE_NAME + r"(?::\d+){1,2}\b")
_FILE_ONLY = re.compile(r"(?<![\w.])" + _FILE_NAME + r"(?![\w.])")
_LINE_IN_PARENS = re.compile(r"\s*\((?:at )?lines? \d+(?:\s*(?:-|to|and)\s*\d+)?(?:, column \d+)?\)")
_LINE_WORDS = re.compile(r"\b(lines?|column) \d+(?:\s*(?:-|to|and)\s*\d+)?")
_SPACE = re.compile(r"\s+")


class BaselineError(Exception):
    """A baseline file that cannot be read; the message names the file."""


def stable_message(message: str) -> str:
    """The part of a message that does not change when lines move (see the module docstring)."""
    m = _FILE_POSITION.sub(r"\1", message)
    m = _FILE_ONLY.sub(r"\1", m)
    m = _LINE_IN_PARENS.sub("", m)
    m = _LINE_WORDS.sub(r"\1", m)
    return _SPACE.sub(" ", m).strip()


def fingerprint(message: str) -> str:
    return hashlib.sha256(stable_message(message).encode("utf-8")).hexdigest()[:16]


def relative_file(file: str, base_dir: str) -> str:
    """A finding's file (as reported: relative to the working directory) relative to ``base_dir``."""
    try:
        rel = os.path.relpath(os.path.abspath(file), base_dir)
    except ValueError:  # another drive on Windows
        rel = file
    return rel.replace(os.sep, "/")


@dataclass(frozen=True)
class Entry:
    rule: str
    resource: str
    file: str
    fingerprint: str


def entry(f: Finding, base_dir: str) -> Entry:
    return Entry(f.rule, f.resource, relative_file(f.file, base_dir), fingerprint(f.message))


class Baseline:
    """A loaded baseline: ``matches(finding)``."""

    def __init__(self, path: str, entries: Iterable[Entry] = ()):
        self.path = path
        self.base_dir = os.path.dirname(os.path.abspath(path))
        self.entries = frozenset(entries)

    @property
    def display(self) -> str:
        from .discovery import display_path

        return display_path(self.path)

    def matches(self, f: Finding) -> bool:
        return entry(f, self.base_dir) in self.entries

    @classmethod
    def load(cls, path: str) -> "Baseline":
        from .discovery import display_path

        shown = display_path(path)
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except OSError as e:
            raise BaselineError(f"{shown}: cannot read the baseline: {e.strerror or e}") from None
        except ValueError as e:
            raise BaselineError(f"{shown}: cannot parse the baseline: {e}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
            raise BaselineError(f"{shown}: not a cloudtrail-kms-lint baseline (no \"findings\" list)")
        if str(doc.get("version")) != BASELINE_VERSION:
            raise BaselineError(f"{shown}: unsupported baseline version {doc.get('version')!r} "
                                f"(this version reads version {BASELINE_VERSION}); write it again with --write-baseline")
        entries = []
        for i, e in enumerate(doc["findings"]):
            if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in ("rule", "resource", "file", "fingerprint")):
                raise BaselineError(f"{shown}: findings[{i}] needs the strings rule, resource, file and fingerprint")
            try:
                rule = catalogue.get(e["rule"]).id
            except KeyError:
                raise BaselineError(f"{shown}: findings[{i}]: unknown rule id '{e['rule']}'") from None
            entries.append(Entry(rule, e["resource"], e["file"].replace("\\", "/"), e["fingerprint"]))
        return cls(path, entries)


def document(findings: Iterable[Finding], path: str) -> dict:
    """The baseline document for ``findings``, to be written at ``path``."""
    base_dir = os.path.dirname(os.path.abspath(path))
    rows: dict[Entry, str] = {}
    for f in findings:
        e = entry(f, base_dir)
        msg = stable_message(f.message)
        if e not in rows or msg < rows[e]:
            rows[e] = msg
    ordered = sorted(rows.items(), key=lambda kv: (kv[0].file, kv[0].resource, kv[0].rule, kv[0].fingerprint))
    return {
        "version": BASELINE_VERSION,
        "tool": TOOL,
        "findings": [
            {"rule": e.rule, "resource": e.resource, "file": e.file, "fingerprint": e.fingerprint, "message": msg}
            for e, msg in ordered
        ],
    }


def write(findings: Iterable[Finding], path: str) -> int:
    """Write the baseline; returns the number of entries."""
    doc = document(findings, path)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return len(doc["findings"])


__all__ = ["BASELINE_VERSION", "Baseline", "BaselineError", "Entry", "document", "fingerprint", "stable_message", "write"]
