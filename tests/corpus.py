"""Shared helpers for the fixture corpus (tests/fixtures/cloudformation/<case>/).

Every case directory holds ``template.yaml``, its JSON twin ``template.json``
and ``expected.json``, the one expectations file that every front end (the
CLI, the cfn-lint plugin, the checkov checks) is checked against::

    {"description": "...",
     "parameters": {"Name": "Value"},                   # optional: --parameter values
     "expect": {"template.yaml": [{"rule": "CTKMS004", "resource": "Trail", "line": 31,
                                   "message_contains": "..."}],   # optional substring
                "template.json": [...]},
     "errors": {"template.yaml": [{"line": 3}]},        # optional: input errors
     "frontends": {"cfn-lint": {"differs": "why",        # optional: a front end that cannot
                                "expect": {...}}}}       # reach the verdict, and what it reports

Findings are compared as a set of ``(rule, resource, file, line)`` tuples, the
file relative to the case directory. Lines in expected.json are written by hand
from the template text (the trail's KMSKeyId / KmsKeyId key, else its logical id).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from cloudtrail_kms_lint import catalogue

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures" / "cloudformation"
TEMPLATE_FILES = ("template.yaml", "template.json")

Tuple4 = tuple[str, str, str, Optional[int]]


# --------------------------------------------------------------------------- cases


def load_cases(root: Path = FIXTURES) -> list[tuple[Path, dict]]:
    """Every case under ``root`` as (case directory, parsed expected.json), sorted by name."""
    cases = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        exp = d / "expected.json"
        if not exp.is_file():
            continue
        with open(exp, encoding="utf-8") as fh:
            cases.append((d, json.load(fh)))
    return cases


def case_files(cases: Iterable[tuple[Path, dict]]) -> list[tuple[Path, dict, str]]:
    """(case directory, expected, template file name) for every template file of every case."""
    out = []
    for case_dir, expected in cases:
        for name in TEMPLATE_FILES:
            if (case_dir / name).is_file():
                out.append((case_dir, expected, name))
    return out


def frontend_expectation(expected: dict, frontend: Optional[str] = None) -> dict:
    """The ``expect`` block a front end is held to: its recorded difference, else the shared one."""
    if frontend:
        fe = expected.get("frontends", {}).get(frontend, {})
        if "differs" in fe and "expect" in fe:
            return fe["expect"]
    return expected.get("expect", {})


def expected_entries(expected: dict, file: str, frontend: Optional[str] = None) -> list[dict]:
    return list(frontend_expectation(expected, frontend).get(file, []))


def expected_tuples(expected: dict, file: str, frontend: Optional[str] = None) -> list[Tuple4]:
    """Sorted (rule, resource, file, line) the front end must report for ``file``."""
    return sorted({(e["rule"], e["resource"], file, e["line"]) for e in expected_entries(expected, file, frontend)},
                  key=_sort_key)


def expected_error_lines(expected: dict, file: str) -> list[Optional[int]]:
    return sorted((e.get("line") for e in expected.get("errors", {}).get(file, [])), key=lambda x: x or 0)


def expected_exit_code(expected: dict, file: str) -> int:
    """0 clean, 1 error-level findings, 2 input errors (the CLI's default --fail-on error)."""
    if expected.get("errors", {}).get(file):
        return 2
    if any(catalogue.BY_ID[e["rule"]].level == catalogue.ERROR for e in expected_entries(expected, file)):
        return 1
    return 0


# --------------------------------------------------------------------------- normalising


def _get(f: Any, name: str) -> Any:
    return f.get(name) if isinstance(f, dict) else getattr(f, name, None)


def _sort_key(t: Tuple4):
    return (t[2], t[3] or 0, t[1], t[0])


def relative_file(file: str, case_dir: Path, base_dir: Optional[Path] = None) -> str:
    """``file`` (as a front end printed it, relative to ``base_dir`` or absolute) relative to ``case_dir``."""
    p = Path(file)
    if not p.is_absolute():
        p = Path(base_dir or Path.cwd()) / p
    return Path(os.path.relpath(os.path.normpath(str(p)), str(case_dir))).as_posix()


def normalise(findings: Iterable[Any], case_dir: Path, base_dir: Optional[Path] = None) -> list[Tuple4]:
    """Findings (dicts from the JSON output, or Finding objects) as sorted unique
    (rule, resource, file relative to the case, line) tuples."""
    out = {(_get(f, "rule"), _get(f, "resource"), relative_file(_get(f, "file"), case_dir, base_dir), _get(f, "line"))
           for f in findings}
    return sorted(out, key=_sort_key)


def case_of(file: str, base_dir: Path, root: Path = FIXTURES) -> tuple[str, str]:
    """(case name, file within the case) of a path printed relative to ``base_dir``."""
    rel = relative_file(file, root, base_dir)
    case, _, name = rel.partition("/")
    return case, name


def cfn_lint_findings(matches: Iterable[Any]) -> list[dict]:
    """cfn-lint matches of our rules (E91xx/W91xx) in the CLI's JSON shape: the catalogue id as
    ``rule``, the match path's second element as ``resource``. Other rules' matches are dropped."""
    out = []
    for m in matches:
        rule = catalogue.BY_CFN_LINT_ID.get(m.rule.id)
        if rule is None:
            continue
        path = list(getattr(m, "path", None) or [])
        out.append({"rule": rule.id, "resource": path[1] if len(path) >= 2 else None, "file": m.filename,
                    "line": m.linenumber, "message": m.message, "cfn_lint_id": m.rule.id, "path": path})
    return out


# --------------------------------------------------------------------------- the CLI, in-process


@dataclass
class CliRun:
    exit_code: int
    document: dict = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""

    @property
    def findings(self) -> list[dict]:
        return self.document.get("findings", [])

    @property
    def errors(self) -> list[dict]:
        return self.document.get("errors", [])


def run_cli(args: list[str], cwd: Path, parameters: Optional[dict] = None) -> CliRun:
    """``cloudtrail-kms-lint scan --format json ARGS`` in-process, in ``cwd``; the JSON document parsed."""
    from cloudtrail_kms_lint.cli import main

    argv = ["scan", "--format", "json", "--color", "never"]
    for name, value in (parameters or {}).items():
        argv += ["--parameter", f"{name}={value}"]
    argv += list(args)
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(old)
    text = out.getvalue()
    try:
        doc = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise AssertionError(f"the CLI did not print JSON ({e}):\n{text}\n{err.getvalue()}") from e
    return CliRun(exit_code=code, document=doc, stdout=text, stderr=err.getvalue())


def message_checks(expected: dict, file: str, findings: Iterable[Any], case_dir: Path, base_dir: Optional[Path] = None,
                   frontend: Optional[str] = None) -> list[str]:
    """Problems with the optional ``message_contains`` of each expected entry (empty when all hold)."""
    problems = []
    found = list(findings)
    for e in expected_entries(expected, file, frontend):
        want = e.get("message_contains")
        if not want:
            continue
        msgs = [_get(f, "message") or "" for f in found
                if (_get(f, "rule"), _get(f, "resource"), _get(f, "line")) == (e["rule"], e["resource"], e["line"])
                and relative_file(_get(f, "file"), case_dir, base_dir) == file]
        if not any(want in m for m in msgs):
            problems.append(f"{e['rule']} {e['resource']}:{e['line']}: no message contains {want!r} (got {msgs!r})")
    return problems


# --------------------------------------------------------------------------- known bugs

# Cases where a front end is known to disagree with expected.json because of a bug
# outside the fixtures. The tests mark these xfail(strict=True): once the bug is
# fixed the test passes, pytest reports XPASS as a failure, and the entry is removed.
# Key: (front end or "*" for every front end, case name) -> the bug.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def known_bug(case: str, frontend: str) -> Optional[str]:
    return KNOWN_BUGS.get((frontend, case)) or KNOWN_BUGS.get(("*", case))
