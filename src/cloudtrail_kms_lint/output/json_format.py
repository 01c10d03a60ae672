"""The JSON output format, and the ordering every format shares.

The JSON document is a public contract (``"version": "1"``); later versions
may add keys but must keep these::

    {"version": "1",
     "findings": [{"rule", "level", "resource", "resource_type", "file", "line",
                   "key", "message",
                   "related": [{"file", "line", "message"}],
                   "trace": [{"text", "file", "line"}],
                   "fix",
                   "suppressed": {"reason", "kind"}}],   # only on a suppressed finding
     "errors": [{"file", "line", "message"}],
     "warnings": [{"file", "line", "message"}],           # only when there are any
     "summary": ScanResult.summary()}

Suppressed findings (``ScanResult.suppressed``) are listed in ``findings``
with their ``suppressed`` object (``kind``: ``inline``, ``baseline`` or
``config``; ``reason``: null for an inline suppression without one); the
summary's ``errors``, ``warnings`` and ``by_rule`` count only the others, and
``suppressed`` counts these.
"""

from __future__ import annotations

import json
from typing import Any

from ..model import Finding
from ..report import InputError, ScanResult, ScanWarning

SCHEMA_VERSION = "1"


def location_dict(location: Any) -> tuple[Any, Any]:
    """(file, line) of an optional Location."""
    if location is None:
        return None, None
    return location.file, location.line


def finding_dict(f: Finding) -> dict:
    related = []
    for r in f.related:
        file, line = location_dict(r.location)
        related.append({"file": file, "line": line, "message": r.message})
    trace = []
    for step in f.trace:
        file, line = location_dict(step.location)
        trace.append({"text": step.text, "file": file, "line": line})
    return {
        "rule": f.rule,
        "level": f.level,
        "resource": f.resource,
        "resource_type": f.resource_type,
        "file": f.file,
        "line": f.line,
        "key": f.key,
        "message": f.message,
        "related": related,
        "trace": trace,
        "fix": f.fix or None,
        **({"suppressed": {"reason": f.suppressed.reason, "kind": f.suppressed.kind}} if f.suppressed else {}),
    }


def error_dict(e: InputError) -> dict:
    return {"file": e.file, "line": e.line, "message": e.message}


def warning_dict(w: ScanWarning) -> dict:
    return {"file": w.file, "line": w.line, "message": w.message}


def _tiebreak(d: dict) -> str:
    return json.dumps(d, sort_keys=True, ensure_ascii=True, default=repr)


def sorted_findings(result: ScanResult) -> list[Finding]:
    """The findings in output order, as a new list (the input is not touched).

    Ordered by ``Finding.sort_key()``; findings whose sort keys tie are
    ordered by everything else they carry, so the order never depends on the
    order of the input list.
    """
    return sorted(result.findings, key=lambda f: (f.sort_key(), _tiebreak(finding_dict(f)), repr(f.column)))


def sorted_with_suppressed(result: ScanResult) -> list[Finding]:
    """Reported and suppressed findings together, in output order (as :func:`sorted_findings`)."""
    everything = list(result.findings) + list(result.suppressed)
    return sorted(everything, key=lambda f: (f.sort_key(), _tiebreak(finding_dict(f)), repr(f.column)))


def sorted_suppressed(result: ScanResult) -> list[Finding]:
    suppressed = list(result.suppressed)
    return sorted(suppressed, key=lambda f: (f.sort_key(), _tiebreak(finding_dict(f)), repr(f.column)))


def sorted_errors(result: ScanResult) -> list[InputError]:
    return sorted(result.errors, key=lambda e: (e.sort_key(), _tiebreak(error_dict(e))))


def sorted_warnings(result: ScanResult) -> list[ScanWarning]:
    return sorted(result.warnings, key=lambda w: (w.sort_key(), _tiebreak(warning_dict(w))))


def document(result: ScanResult) -> dict:
    doc: dict = {
        "version": SCHEMA_VERSION,
        "findings": [finding_dict(f) for f in sorted_with_suppressed(result)],
        "errors": [error_dict(e) for e in sorted_errors(result)],
    }
    warnings = sorted_warnings(result)
    if warnings:
        doc["warnings"] = [warning_dict(w) for w in warnings]
    doc["summary"] = result.summary()
    return doc


def render(result: ScanResult) -> str:
    return json.dumps(document(result), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
