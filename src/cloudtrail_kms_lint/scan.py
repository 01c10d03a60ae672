"""The standalone scan: find inputs, hand each to its front end, collect one ScanResult."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Optional

from .discovery import CFN_EXTENSIONS, display_path, iter_files
from .report import InputError, ScanResult

MAX_FILE_BYTES = 10 * 1024 * 1024

# A file is worth decoding as CloudFormation only if it mentions what a
# template must have; other YAML/JSON (CI configs, Helm charts) is skipped
# silently, even when it does not parse.
_CFN_HINT = re.compile(rb"AWSTemplateFormatVersion|[\"']?Type[\"']?\s*:\s*[\"']?AWS::")
_CLOUDTRAIL_HINT = re.compile(rb"AWS::CloudTrail::")


@dataclass
class ScanOptions:
    paths: list[str] = field(default_factory=lambda: ["."])
    excludes: list[str] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    max_file_bytes: int = MAX_FILE_BYTES


def _read(path: str, display: str, limit: int, result: ScanResult) -> Optional[bytes]:
    try:
        size = os.path.getsize(path)
        if size > limit:
            result.errors.append(InputError(display, None, f"file is larger than the {limit // (1024 * 1024)} MB limit; not scanned"))
            return None
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as e:
        result.errors.append(InputError(display, None, f"cannot read the file: {e.strerror or e}"))
        return None


def scan(options: ScanOptions) -> ScanResult:
    result = ScanResult()
    for p in options.paths:
        if not os.path.exists(p):
            result.errors.append(InputError(display_path(p), None, "no such file or directory"))
    for path in iter_files(options.paths, options.excludes, CFN_EXTENSIONS):
        display = display_path(path)
        data = _read(path, display, options.max_file_bytes, result)
        if data is None:
            continue
        if not _CFN_HINT.search(data):
            continue
        result.files_scanned += 1
        if not _CLOUDTRAIL_HINT.search(data):
            continue  # a template without CloudTrail resources has nothing to check
        _scan_cloudformation(path, display, options, result)
    result.sort()
    return result


def _scan_cloudformation(path: str, display: str, options: ScanOptions, result: ScanResult) -> None:
    from .cloudformation.analysis import analyse_template, is_template
    from .cloudformation.loader import decode

    template, errors = decode(path, display)
    if errors:
        result.errors.extend(errors)
        return
    if not is_template(template):
        return
    try:
        findings = analyse_template(template, display, parameters=options.parameters)
    except RecursionError:
        result.errors.append(InputError(display, None, "the template is nested too deeply to analyse; it was not verified"))
        return
    result.resources_checked += len({f.resource for f in findings}) if findings else 0
    result.findings.extend(findings)
