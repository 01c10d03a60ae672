"""The Terraform corpus (tests/fixtures/terraform/<case>/) through the CLI.

Each case directory is a root module (or holds a plan JSON named by "scan");
expected.json lists every finding as (rule, resource, file, line) with the file
relative to the case, plus input errors; the checkov checks run the same file.
"""

from pathlib import Path

import pytest

import corpus
from cloudtrail_kms_lint import catalogue

pytest.importorskip("hcl2", reason="the Terraform front end needs python-hcl2 (the main test environment has it)")

FIXTURES = corpus.TESTS / "fixtures" / "terraform"
CASES = corpus.load_cases(FIXTURES) if FIXTURES.is_dir() else []


def _argv(expected: dict) -> list[str]:
    argv = []
    for name, value in (expected.get("vars") or {}).items():
        argv += ["--var", f"{name}={value}"]
    for f in expected.get("var_files") or []:
        argv += ["--var-file", f]
    argv.append(expected.get("scan", "."))
    return argv


def _expected(expected: dict) -> list:
    out = set()
    for file, entries in (expected.get("expect") or {}).items():
        for e in entries:
            out.add((e["rule"], e["resource"], file, e["line"]))
    return sorted(out, key=corpus._sort_key)


def _exit_code(expected: dict) -> int:
    if any(expected.get("errors", {}).values()):
        return 2
    for entries in (expected.get("expect") or {}).values():
        if any(catalogue.BY_ID[e["rule"]].level == catalogue.ERROR for e in entries):
            return 1
    return 0


@pytest.mark.parametrize("case_dir, expected", CASES, ids=[c.name for c, _ in CASES])
def test_terraform_case(case_dir: Path, expected: dict):
    run = corpus.run_cli(_argv(expected), cwd=case_dir)
    assert "Traceback" not in run.stderr
    got = corpus.normalise(run.findings, case_dir, case_dir)
    assert got == _expected(expected)
    want_errors = sorted((f, e.get("line")) for f, es in (expected.get("errors") or {}).items() for e in es)
    got_errors = sorted((corpus.relative_file(e["file"], case_dir, case_dir), e["line"]) for e in run.errors)
    assert got_errors == want_errors
    problems = []
    for file in (expected.get("expect") or {}):
        problems += corpus.message_checks(expected, file, run.findings, case_dir, case_dir)
    assert not problems
    assert run.exit_code == _exit_code(expected)


def test_corpus_is_not_empty():
    assert len(CASES) >= 40
