"""JUnit XML, for the test report views of CI systems (GitLab
``artifacts:reports:junit``, Jenkins ``junit``, Azure DevOps
``PublishTestResults``)::

    <?xml version="1.0" encoding="UTF-8"?>
    <testsuites name="cloudtrail-kms-lint" tests="3" failures="1" errors="1" time="0">
      <testsuite name="cloudtrail-kms-lint" tests="3" failures="1" errors="1" skipped="1" time="0">
        <properties>...</properties>
        <testcase classname="broken.yaml" name="input error" time="0">
          <error message="mapping values are not allowed here" type="input error">...</error>
        </testcase>
        <testcase classname="templates/trail.yaml" name="CTKMS004 LogTrail" time="0">
          <failure message="The key policy of LogKey ..." type="CTKMS004">message, fix, file:line</failure>
        </testcase>
        <testcase classname="templates/trail.yaml" name="CTKMS005 LogTrail" time="0">
          <skipped message="The statement ...">message, fix, file:line</skipped>
          <system-out>message, fix, file:line</system-out>
        </testcase>
      </testsuite>
    </testsuites>

* One ``<testcase>`` per finding (the result does not list the resources that
  passed): ``classname`` is the file (relative, ``/``-separated, as in SARIF),
  ``name`` is ``"RULE resource"`` without the line, so CI history ("failing
  since") follows a finding when its line moves. Names repeated within a file
  (one rule failing in several scenarios) get `` (2)``, `` (3)``... in output
  order, because GitLab keeps only the first test case of a name.
* Error-level findings are ``<failure type="RULE">``. Other levels (warnings)
  are ``<skipped>``: visible, counted, and not a failure, so a report with only
  warnings does not turn a Jenkins build UNSTABLE or fail an Azure DevOps task
  while the scan exits 0. ``--fail-on``/``--strict`` change the exit code,
  not the report (as in the SARIF and GitHub formats).
* One ``<testcase name="input error">`` with ``<error>`` per input error.
* Nothing to report: a single passing ``<testcase name="cloudtrail-kms-lint">``,
  so the report is never empty.
* Deterministic: sorted like every format, ``time="0"``, no timestamp, no
  hostname. Characters that XML 1.0 forbids (and other control characters)
  are written visibly as ``\\xNN`` / ``\\uNNNN``; line breaks become ``\\n``.
* The shape is the common one (Jenkins xunit's ``junit-10.xsd``): attributes
  ``name tests failures errors time`` on ``testsuites``; ``skipped`` only on
  ``testsuite``; no ``file`` attribute on ``testcase``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Optional

from .. import catalogue
from ..model import Finding
from ..report import InputError, ScanResult
from .json_format import sorted_errors, sorted_findings
from .sarif import relative_path

TOOL_NAME = "cloudtrail-kms-lint"
SUITE_NAME = TOOL_NAME
PASSING_NAME = TOOL_NAME
INPUT_ERROR_NAME = "input error"
NO_FILE = "(no file)"
TIME = "0"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'

# Everything but tab, line feed, printable ASCII and the non-control characters
# XML 1.0 allows (so also DEL and the C1 controls, which it only discourages).
_INVISIBLE = re.compile("[^\t\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _visible(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: Any) -> str:
    """``text`` as XML 1.0 character data: line breaks normalised to ``\\n``,
    forbidden and control characters (not tab or line feed) made visible."""
    s = str(text).replace("\r\n", "\n").replace("\r", "\n")
    return _INVISIBLE.sub(_visible, s)


def clean_line(text: Any) -> str:
    """``clean`` for one-line values (names): tabs and line breaks become spaces."""
    return clean(text).replace("\n", " ").replace("\t", " ")


def _where(file: Optional[str], line: Optional[int]) -> str:
    path = relative_path(file) if file else ""
    path = path or NO_FILE
    return f"{path}:{line}" if isinstance(line, int) and line >= 1 else path


def _classname(file: str) -> str:
    return clean_line(relative_path(file) if file else "") or NO_FILE


def finding_text(f: Finding) -> str:
    """The body of a finding's ``<failure>``/``<skipped>``: message, fix, where."""
    rule = catalogue.BY_ID.get(f.rule)
    lines = [f.message, ""]
    fix = f.fix or (rule.remediation if rule else "")
    if fix:
        lines.append(f"fix: {fix}")
    lines.append(f"at: {_where(f.file, f.line)}")
    if f.key:
        lines.append(f"key: {f.key}")
    for step in f.trace:
        where = f" ({_where(step.location.file, step.location.line)})" if step.location else ""
        lines.append(f"via: {step.text}{where}")
    for r in f.related:
        lines.append(f"see: {r.message} ({_where(r.location.file, r.location.line)})")
    if rule is not None:
        lines.append(f"rule: {rule.id} ({rule.level}) {rule.title}")
        lines.append(f"help: {rule.help_uri}")
    return clean("\n".join(lines))


def error_text(e: InputError) -> str:
    return clean(f"{e.message}\n\nat: {_where(e.file, e.line)}")


class _Names:
    """Unique test case names per classname, in output order."""

    def __init__(self) -> None:
        self.used: set[tuple[str, str]] = set()

    def __call__(self, classname: str, name: str) -> str:
        candidate, n = name, 1
        while (classname, candidate) in self.used:
            n += 1
            candidate = f"{name} ({n})"
        self.used.add((classname, candidate))
        return candidate


def _testcase(suite: ET.Element, names: _Names, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", {"classname": classname, "name": names(classname, name), "time": TIME})


def _summary(result: ScanResult) -> str:
    files = "1 file" if result.files_scanned == 1 else f"{result.files_scanned} files"
    resources = "1 resource" if result.resources_checked == 1 else f"{result.resources_checked} resources"
    return f"No findings: {files} scanned, {resources} checked."


def document(result: ScanResult, *, tool_version: str = "0.0.0") -> ET.Element:
    """The ``<testsuites>`` element (not indented)."""
    findings = sorted_findings(result)
    errors = sorted_errors(result)
    failures = sum(1 for f in findings if f.level == catalogue.ERROR)
    skipped = len(findings) - failures
    tests = len(findings) + len(errors) or 1
    counts = {"tests": str(tests), "failures": str(failures), "errors": str(len(errors))}

    root = ET.Element("testsuites", {"name": SUITE_NAME, **counts, "time": TIME})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE_NAME, **counts, "skipped": str(skipped), "time": TIME})
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        (f"{TOOL_NAME}.version", tool_version),
        ("files_scanned", result.files_scanned),
        ("resources_checked", result.resources_checked),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": clean_line(value)})

    names = _Names()
    for e in errors:
        case = _testcase(suite, names, _classname(e.file), INPUT_ERROR_NAME)
        error = ET.SubElement(case, "error", {"message": clean(e.message), "type": INPUT_ERROR_NAME})
        error.text = error_text(e)
    for f in findings:
        case = _testcase(suite, names, _classname(f.file), clean_line(f"{f.rule} {f.resource}"))
        body = finding_text(f)
        if f.level == catalogue.ERROR:
            failure = ET.SubElement(case, "failure", {"message": clean(f.message), "type": clean_line(f.rule)})
            failure.text = body
        else:
            # Jenkins shows a skipped test's message attribute and its standard
            # output; GitLab shows the <skipped> element's text.
            ET.SubElement(case, "skipped", {"message": clean(f.message)}).text = body
            ET.SubElement(case, "system-out").text = body
    if not findings and not errors:
        case = _testcase(suite, names, TOOL_NAME, PASSING_NAME)
        ET.SubElement(case, "system-out").text = _summary(result)
    return root


def render(result: ScanResult, *, tool_version: str = "0.0.0") -> str:
    root = document(result, tool_version=tool_version)
    ET.indent(root, space="  ")
    return XML_DECLARATION + "\n" + ET.tostring(root, encoding="unicode") + "\n"
