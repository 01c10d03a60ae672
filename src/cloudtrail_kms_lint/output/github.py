"""GitHub Actions workflow commands (annotations), one per line::

    ::error file=main.tf,line=12,title=CTKMS004 aws_cloudtrail.main::message
    ::warning file=main.tf,line=3,title=CTKMS007 aws_cloudtrail.main::message
    ::error file=broken.yaml,line=7,title=input error::message
    ::warning file=main.tf,line=4,title=suppression warning::message

Suppressed findings are not annotated; scan warnings (a suppression without
a reason, ...) are ``::warning`` annotations titled ``suppression warning``.

Escaping follows GitHub's runner (``toolkit/packages/core/src/command.ts``):
in the message ``%``, ``\\r`` and ``\\n``; in property values also ``:`` and ``,``.
"""

from __future__ import annotations

from typing import Optional

from .. import catalogue
from ..report import ScanResult
from .json_format import sorted_errors, sorted_findings, sorted_warnings
from .sarif import relative_path

INPUT_ERROR_TITLE = "input error"
WARNING_TITLE = "suppression warning"


def escape_data(text: str) -> str:
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, file: str, line: Optional[int], title: str, message: str) -> str:
    props = [f"file={escape_property(relative_path(file))}"]
    if isinstance(line, int) and line >= 1:
        props.append(f"line={line}")
    props.append(f"title={escape_property(title)}")
    return f"::{kind} {','.join(props)}::{escape_data(message)}"


def render(result: ScanResult) -> str:
    lines = []
    for e in sorted_errors(result):
        lines.append(command("error", e.file, e.line, INPUT_ERROR_TITLE, e.message))
    for w in sorted_warnings(result):
        lines.append(command("warning", w.file, w.line, WARNING_TITLE, w.message))
    for f in sorted_findings(result):
        kind = "error" if f.level == catalogue.ERROR else "warning"
        lines.append(command(kind, f.file, f.line, f"{f.rule} {f.resource}", f.message))
    return "".join(line + "\n" for line in lines)
