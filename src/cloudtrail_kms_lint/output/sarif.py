"""SARIF 2.1.0 output, as GitHub code scanning accepts it.

* ``tool.driver.rules`` lists every rule of the catalogue, in catalogue order,
  whether it fired or not, so ``ruleIndex`` is stable across runs.
* Artifact URIs are relative, ``/``-separated and resolved against
  ``%SRCROOT%``; ``originalUriBaseIds`` is deliberately not emitted.
* ``partialFingerprints["cloudtrailKmsLint/v1"]`` is a SHA-256 of rule,
  resource and file (not the line), so an alert survives edits that move it.
* Input errors are ``invocations[0].toolExecutionNotifications``;
  ``executionSuccessful`` is false when there are any. Scan warnings (e.g. a
  suppression without a reason) are notifications of level ``warning``.
* Suppressed findings are results with ``suppressions``: kind ``inSource``
  for an inline suppression, ``external`` for the baseline and the
  configuration, with the reason as ``justification``.
"""

from __future__ import annotations

import hashlib
import json
import ntpath
import os
import posixpath
import re
from typing import Any, Optional
from urllib.parse import quote

from .. import catalogue
from ..model import Finding
from ..model import SUPPRESSED_INLINE
from ..report import InputError, ScanResult, ScanWarning
from .json_format import sorted_errors, sorted_warnings, sorted_with_suppressed

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "cloudtrail-kms-lint"
INFORMATION_URI = catalogue.DOCS_URL.split("/blob/", 1)[0]
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "cloudtrailKmsLint/v1"
TAGS = ("security", "cloudtrail", "kms")

_LEVELS = {catalogue.ERROR: "error", catalogue.WARNING: "warning"}
# characters left as they are in a URI path (RFC 3986 pchar without ":", plus "/")
_URI_SAFE = "/!$&'()*+,;=@-._~"
_DRIVE = re.compile(r"^[A-Za-z]:/")


def relative_path(file: str) -> str:
    """``file`` as a relative, ``/``-separated path (for SARIF and GitHub).

    Absolute paths under the working directory are made relative to it; other
    absolute paths lose their root (drive, leading slashes), since a SARIF
    consumer can only place files relative to the checkout.
    """
    p = str(file)
    if p.startswith("file://"):
        p = p[len("file://"):]
        if _DRIVE.match(p.lstrip("/").replace("\\", "/")):
            p = p.lstrip("/")
    if os.path.isabs(p):
        cwd = os.getcwd()
        try:
            if os.path.commonpath([os.path.abspath(p), cwd]) == cwd:
                p = os.path.relpath(p, cwd)
        except ValueError:  # different drives on Windows
            pass
    p = p.replace("\\", "/")
    if _DRIVE.match(p):
        p = ntpath.splitdrive(p)[1]
    p = p.lstrip("/")
    p = posixpath.normpath(p) if p else p
    return "" if p == "." else p


def artifact_uri(file: str) -> str:
    return quote(relative_path(file), safe=_URI_SAFE)


def fingerprint(f: Finding) -> str:
    data = "\x00".join((f.rule, f.resource, relative_path(f.file)))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def camel_case(title: str) -> str:
    """``"CloudTrail's encrypt grant"`` -> ``"CloudTrailsEncryptGrant"``."""
    words = re.split(r"[^0-9A-Za-z]+", re.sub(r"['\u2019]", "", title))
    return "".join(w[0].upper() + w[1:] for w in words if w)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def rule_descriptor(rule: catalogue.Rule) -> dict:
    fails_when = _sentence(f"Fails when {rule.fails_when}")
    return {
        "id": rule.id,
        "name": camel_case(rule.title),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": fails_when},
        "help": {
            "text": f"{rule.rationale}\n\nFix: {rule.remediation}",
            "markdown": (
                f"**{_md(rule.title)}**\n\n"
                f"{_md(fails_when)}\n\n"
                f"{_md(rule.rationale)}\n\n"
                f"**Fix:** {_md(rule.remediation)}\n\n"
                f"[Documentation]({rule.help_uri})"
            ),
        },
        "helpUri": rule.help_uri,
        "defaultConfiguration": {"level": _LEVELS.get(rule.level, "warning")},
        "properties": {
            "security-severity": rule.security_severity,
            "tags": list(TAGS),
        },
    }


def physical_location(file: str, line: Optional[int]) -> dict:
    loc: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(file), "uriBaseId": SRCROOT}}
    if isinstance(line, int) and line >= 1:
        loc["region"] = {"startLine": line}
    return loc


def _where(location: Any) -> str:
    if location is None:
        return ""
    return f" ({location})"


def result_object(f: Finding, rule_index: dict[str, int]) -> dict:
    out: dict[str, Any] = {"ruleId": f.rule}
    if f.rule in rule_index:
        out["ruleIndex"] = rule_index[f.rule]
    out["level"] = _LEVELS.get(f.level, "warning")
    out["message"] = {"text": f.message}
    out["locations"] = [{"physicalLocation": physical_location(f.file, f.line)}]
    # Related locations: the key policy statements that decided, then each step of the
    # resolution trace that has a location (the chain from the trail to the verdict).
    related = [(r.location, r.message) for r in f.related]
    related += [(step.location, f"via: {step.text}") for step in f.trace if step.location is not None]
    if related:
        out["relatedLocations"] = [
            {
                "id": i,
                "physicalLocation": physical_location(loc.file, loc.line),
                "message": {"text": message},
            }
            for i, (loc, message) in enumerate(related, start=1)
        ]
    out["partialFingerprints"] = {FINGERPRINT_KEY: fingerprint(f)}
    props: dict[str, Any] = {"resource": f.resource, "resourceType": f.resource_type}
    if f.key is not None:
        props["key"] = f.key
    if f.trace:
        props["trace"] = [f"{step.text}{_where(step.location)}" for step in f.trace]
    out["properties"] = props
    if f.suppressed is not None:
        out["suppressions"] = [suppression_object(f.suppressed)]
    return out


def suppression_object(s: Any) -> dict:
    out: dict[str, Any] = {"kind": "inSource" if s.kind == SUPPRESSED_INLINE else "external"}
    if s.reason:
        out["justification"] = s.reason
    loc = getattr(s, "location", None)
    if loc is not None and getattr(loc, "file", None):
        out["location"] = {"physicalLocation": physical_location(loc.file, loc.line)}
    out["properties"] = {"kind": s.kind}
    return out


def notification(e: InputError | ScanWarning, level: str = "error") -> dict:
    return {
        "level": level,
        "message": {"text": e.message},
        "locations": [{"physicalLocation": physical_location(e.file, e.line)}],
    }


def warning_notification(w: ScanWarning) -> dict:
    return notification(w, "warning")


def document(result: ScanResult, *, tool_version: str = "0.0.0") -> dict:
    rule_index = {r.id: i for i, r in enumerate(catalogue.RULES)}
    errors = sorted_errors(result)
    return {
        "$schema": SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": tool_version,
                        "informationUri": INFORMATION_URI,
                        "rules": [rule_descriptor(r) for r in catalogue.RULES],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not errors,
                        "toolExecutionNotifications": [notification(e) for e in errors]
                        + [warning_notification(w) for w in sorted_warnings(result)],
                    }
                ],
                "results": [result_object(f, rule_index) for f in sorted_with_suppressed(result)],
            }
        ],
    }


def render(result: ScanResult, *, tool_version: str = "0.0.0") -> str:
    return json.dumps(document(result, tool_version=tool_version), indent=2, ensure_ascii=False) + "\n"
