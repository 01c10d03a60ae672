"""The result of a scan, as every output format sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from . import catalogue
from .model import Finding


@dataclass
class InputError:
    """An input that could not be read or parsed. The scan of other files goes on."""

    file: str
    line: Optional[int]
    message: str

    def sort_key(self):
        return (self.file, self.line or 0, self.message)


@dataclass
class ScanWarning:
    """Something about the scan's own configuration the user should fix, e.g. a suppression
    without a reason. Reported (JSON ``warnings``, SARIF notifications), never fails the scan."""

    file: str
    line: Optional[int]
    message: str

    def sort_key(self):
        return (self.file, self.line or 0, self.message)


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)  # reported findings: these decide the exit code
    errors: list[InputError] = field(default_factory=list)
    files_scanned: int = 0
    resources_checked: int = 0
    # findings an inline suppression, the configuration or the baseline suppressed (Finding.suppressed is set)
    suppressed: list[Finding] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)

    def sort(self) -> None:
        self.findings.sort(key=lambda f: f.sort_key())
        self.errors.sort(key=lambda e: e.sort_key())
        self.suppressed.sort(key=lambda f: f.sort_key())
        self.warnings.sort(key=lambda w: w.sort_key())

    def counts(self) -> dict[str, int]:
        out = {catalogue.ERROR: 0, catalogue.WARNING: 0}
        for f in self.findings:
            out[f.level] = out.get(f.level, 0) + 1
        return out

    def summary(self) -> dict:
        c = self.counts()
        by_rule: dict[str, int] = {}
        for f in self.findings:
            by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
        return {
            "files_scanned": self.files_scanned,
            "resources_checked": self.resources_checked,
            "errors": c.get(catalogue.ERROR, 0),
            "warnings": c.get(catalogue.WARNING, 0),
            "input_errors": len(self.errors),
            "by_rule": dict(sorted(by_rule.items())),
            "suppressed": len(self.suppressed),
        }

    def failing(self, *, fail_on: str = catalogue.ERROR, strict: bool = False) -> list[Finding]:
        """Findings that make the exit code 1."""
        out = []
        for f in self.findings:
            if f.level == catalogue.ERROR:
                out.append(f)
            elif fail_on == catalogue.WARNING:
                out.append(f)
            elif strict and f.rule == "CTKMS007":
                out.append(f)
        return out
