"""The Terraform fixture corpus and its expected.json through the checkov checks.

Every case of tests/fixtures/terraform is run the way the CLI scans it: the case
directory with checkov's ``terraform`` runner (with the case's var_files; checkov
has no ``--var``), or the case's plan.json with the ``terraform_plan`` runner,
in-process, with only our checks, under both graph libraries (rustworkx, the
default, and networkx). The failed checks must be the (rule, resource) pairs of
expected.json (or its recorded ``frontends.checkov`` expectation), each at a
line range that holds the expected line (``ckv_harness.LINE_DIFFERENCE``; for a
plan ``tf_harness.PLAN_LINE_DIFFERENCE``). The exact lines and messages are
checked on the findings the checks decide on (the shared analysis of each
trail).
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

pytest.importorskip("checkov.terraform.runner")

import ckv_harness  # noqa: E402
import corpus  # noqa: E402
import tf_harness as h  # noqa: E402

from cloudtrail_kms_lint import catalogue  # noqa: E402

pytestmark = pytest.mark.checkov

CASES = h.CASES
CASE_IDS = [d.name for d, _ in CASES]
_RUNS: dict = {}


def _run(case_dir, expected, framework: str) -> h.TfRun:
    key = (framework, case_dir.name)
    if key not in _RUNS:
        _RUNS[key] = h.run_case(case_dir, expected, framework)
    return _RUNS[key]


def _params():
    out = []
    for case_dir, expected in CASES:
        reason = corpus.known_bug(case_dir.name, h.FRONTEND)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(case_dir, expected, id=case_dir.name, marks=marks))
    return out


# --------------------------------------------------------------------------- case by case


@pytest.mark.parametrize("framework", sorted(h.FRAMEWORKS))
@pytest.mark.parametrize("case_dir,expected", _params())
def test_terraform_case(case_dir, expected, framework):
    """The failed checks are exactly the expected (rule, resource) pairs, per file, each at a
    line range that holds the expected line (plans: inside the resource's plan entry)."""
    run = _run(case_dir, expected, framework)
    want = h.expected_for(expected)
    got = h.failed_by_file(run)
    assert set(got) <= set(want), f"findings in files expected.json does not list: {sorted(set(got) - set(want))}"
    for file, entries in want.items():
        ranges = got.get(file, {})
        assert sorted(ranges) == sorted({(rule, res) for rule, res, _line in entries}), (file, ranges)
        for rule, res, line in entries:
            start, end = ranges[(rule, res)]
            if line is None:  # a plan: checkov's own range, inside the resource's entry of plan.json
                first, last = h.plan_entry_lines(case_dir / file, res)
                assert first <= start <= end <= last, f"{rule} {res}: {start}-{end} is not inside {first}-{last}"
            else:
                assert start <= line <= end, f"{rule} {res}: expected line {line} outside checkov's range {start}-{end}"


@pytest.mark.parametrize("case_dir,expected", _params())
def test_glue_findings_are_exact(case_dir, expected):
    """The findings the checks decide on have the exact expected (rule, resource, file, line)
    and messages (plans: rule and resource on the plan file)."""
    run = _run(case_dir, expected, "rustworkx")
    assert all(a.failure is None for a in run.analyses), [a.failure for a in run.analyses]
    findings = run.findings()
    if h.is_plan(expected):
        got = sorted((f.rule, f.resource) for f in findings)
        want = sorted((rule, res) for entries in h.expected_for(expected).values() for rule, res, _l in entries)
        assert got == want
        assert all(corpus.relative_file(f.file, case_dir) == expected["scan"] for f in findings)
        return
    want = sorted((rule, res, file, line) for file in corpus.frontend_expectation(expected, h.FRONTEND)
                  for rule, res, file, line in corpus.expected_tuples(expected, file, h.FRONTEND))
    assert h.relative_findings(findings, case_dir) == sorted(want, key=corpus._sort_key)
    problems = []
    for file in corpus.frontend_expectation(expected, h.FRONTEND):
        problems += corpus.message_checks(expected, file, findings, case_dir, frontend=h.FRONTEND)
    assert not problems


@pytest.mark.parametrize("case_dir,expected", _params())
def test_details_carry_the_message(case_dir, expected):
    """Each failed check says why in its details, which checkov's Terraform runners copy into
    the report (console, JSON, SARIF); message_contains holds there too."""
    run = _run(case_dir, expected, "rustworkx")
    for record in run.failed():
        rule = catalogue.BY_CHECKOV_ID[record.check_id].id
        assert record.details and all(d.endswith(f"[{rule}]") for d in record.details), record.details
    for file in corpus.frontend_expectation(expected, h.FRONTEND):
        for e in corpus.expected_entries(expected, file, h.FRONTEND):
            if not e.get("message_contains"):
                continue
            rec = [r for r in run.failed()
                   if catalogue.BY_CHECKOV_ID[r.check_id].id == e["rule"] and r.resource == e["resource"]]
            assert rec and any(e["message_contains"] in d for d in rec[0].details), (e, [r.details for r in rec])


@pytest.mark.parametrize("case_dir,expected", _params())
def test_every_trail_gets_every_applicable_verdict(case_dir, expected):
    """No verdict is dropped: each trail and event data store has one PASSED/FAILED record per
    check that applies to it (an UNKNOWN, which checkov drops silently, would be missing),
    and the seven checks of a trail share one analysis."""
    run = _run(case_dir, expected, "rustworkx")
    by_resource: dict = defaultdict(list)
    for r in run.ours():
        by_resource[(r.file_path, r.resource)].append(r.check_id)
    for (_file, _resource), ids in by_resource.items():
        rtype = next(t for t in h.TYPES.values() if f"{t}." in _resource)
        kinds = [k for k, t in h.TYPES.items() if t == rtype]
        applicable = sorted(r.checkov_id for r in catalogue.RULES if any(k in r.applies_to for k in kinds))
        assert sorted(ids) == applicable, (_file, _resource)
    assert len(run.verdicts) == len(run.ours())
    assert not run.report.skipped_checks
    assert len(run.analyses) == len(by_resource)


@pytest.mark.parametrize("case_dir,expected", _params())
def test_no_check_reported_an_internal_failure(case_dir, expected):
    """On the corpus, CKV_CTKMS_7 fails only for what the analysis reports (never because the
    trail's vertex was not found or the analysis failed)."""
    run = _run(case_dir, expected, "rustworkx")
    for v in run.verdicts:
        for d in v.details:
            assert not d.startswith("CTKMS007: "), d


@pytest.mark.parametrize("case_dir,expected", _params())
def test_graph_libraries_agree(case_dir, expected):
    a = _run(case_dir, expected, "rustworkx")
    b = _run(case_dir, expected, "networkx")

    def view(run):
        return sorted((r.check_id, r.resource, r.file_path, tuple(r.file_line_range), str(r.check_result["result"]),
                       tuple(r.details)) for r in run.ours())

    assert view(a) == view(b)


# --------------------------------------------------------------------------- the whole corpus


def test_every_check_fails_somewhere_and_passes_somewhere():
    failed, passed = set(), set()
    for case_dir, expected in CASES:
        run = _run(case_dir, expected, "rustworkx")
        failed |= {r.check_id for r in run.failed()}
        passed |= {r.check_id for r in run.ours(run.report.passed_checks)}
    assert failed == set(h.CHECK_IDS)
    assert passed == set(h.CHECK_IDS)


def test_records_carry_the_catalogue_metadata():
    case_dir, expected = next((d, e) for d, e in CASES if d.name == "default_key_policy")
    run = _run(case_dir, expected, "rustworkx")
    assert run.ours()
    for r in run.ours():
        rule = catalogue.BY_CHECKOV_ID[r.check_id]
        assert r.check_name == rule.title
        assert r.guideline == rule.help_uri
        assert str(r.severity) == rule.checkov_severity


def test_recorded_differences_are_the_documented_ones():
    """Every frontends.checkov entry of the Terraform corpus is listed in docs/checkov.md
    ("Known differences"), by case name."""
    doc = (corpus.REPO / "docs" / "checkov.md").read_text(encoding="utf-8")
    section = doc.split("## Known differences", 1)[1]
    recorded = [d.name for d, e in CASES if h.FRONTEND in e.get("frontends", {})]
    assert recorded
    missing = [name for name in recorded if f"`{name}`" not in section]
    assert not missing, f"docs/checkov.md does not list these recorded differences: {missing}"
    assert ckv_harness.LINE_DIFFERENCE and h.PLAN_LINE_DIFFERENCE


@pytest.mark.parametrize("case_dir,expected", [p for p in _params() if p.values[1].get("errors")])
def test_broken_tf_files_are_parsing_errors(case_dir, expected):
    """A .tf file that does not parse is one of checkov's parsing errors (without its line), as
    it is an input error for the CLI; the rest of the configuration is still checked."""
    run = _run(case_dir, expected, "rustworkx")
    got = sorted(os.path.normpath(p) for p in run.report.parsing_errors)
    assert got == sorted(os.path.normpath(str(case_dir / f)) for f in expected["errors"])
