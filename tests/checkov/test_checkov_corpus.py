"""The CloudFormation fixture corpus and its expected.json through the checkov checks.

checkov's CloudFormation runner runs in-process once over the whole corpus
directory (tests/fixtures/cloudformation), with only our checks; every case's
template.yaml and template.json is then compared with its expected.json, the same
files the CLI and the cfn-lint plugin are held to. CKV_CTKMS_n maps to the
catalogue id through ``catalogue.BY_CHECKOV_ID``; the resource is the logical id
(checkov's resource id is ``AWS::CloudTrail::Trail.<logical id>``).

Lines: see ``ckv_harness.LINE_DIFFERENCE`` (checkov reports the resource's line
range). The exact line is checked on the findings of our checkov glue
(checkov's parser + the shared analysis), which is what the checks decide on.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

pytest.importorskip("checkov.cloudformation.runner")

import ckv_harness as h  # noqa: E402
import corpus  # noqa: E402

from cloudtrail_kms_lint import catalogue, checkov_support  # noqa: E402

pytestmark = pytest.mark.checkov

CASES = corpus.load_cases()
CASE_IDS = [d.name for d, _ in CASES]
TYPES = {catalogue.TRAIL: "AWS::CloudTrail::Trail", catalogue.EVENT_DATA_STORE: "AWS::CloudTrail::EventDataStore"}


def _case_params(pending: bool = True):
    """Every case; xfail(strict=True) for a known bug and, with ``pending``, for a case whose
    frontends.checkov entry has not been added to expected.json yet."""
    out = []
    for case_dir, expected in CASES:
        reason = corpus.known_bug(case_dir.name, h.FRONTEND) or (pending and h.pending_reason(case_dir, expected))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(case_dir, expected, id=case_dir.name, marks=marks))
    return out


@pytest.fixture(scope="module")
def corpus_run() -> h.CheckovRun:
    return h.run_checkov(root=corpus.FIXTURES)


def _records_for(run: h.CheckovRun, case_dir, name: str, records=None) -> list:
    target = os.path.normpath(str(case_dir / name))
    return [r for r in run.ours(records) if run.file(r) == target]


# --------------------------------------------------------------------------- one file at a time


@pytest.mark.parametrize("file", corpus.TEMPLATE_FILES)
@pytest.mark.parametrize("case_dir,expected", _case_params())
def test_checkov_case(corpus_run, case_dir, expected, file):
    """The failed checks are exactly the expected (rule, resource) pairs, each at a line
    range that holds the expected line (LINE_DIFFERENCE)."""
    want = h.expected_for(expected, file)
    got = h.failed_by_resource(_records_for(corpus_run, case_dir, file, corpus_run.report.failed_checks))
    assert sorted(got) == sorted({(rule, res) for rule, res, _f, _line in want}), got
    assert len(want) == len({(rule, res) for rule, res, _f, _line in want}), "one line per (rule, resource)"
    for rule, res, _f, line in want:
        start, end = got[(rule, res)]
        assert start <= line <= end, f"{rule} {res}: expected line {line} outside checkov's range {start}-{end}"


@pytest.mark.parametrize("file", corpus.TEMPLATE_FILES)
@pytest.mark.parametrize("case_dir,expected", _case_params())
def test_glue_lines_are_exact(case_dir, expected, file):
    """The findings the checks decide on (checkov's parser + analyse_template) have the
    exact expected (rule, resource, line) and messages."""
    if expected.get("errors", {}).get(file):
        analysis = checkov_support.analyse_file(str(case_dir / file))
        assert analysis.failure and not analysis.findings  # checkov reports it as a parsing error
        return
    analysis = checkov_support.analyse_file(str(case_dir / file))
    assert analysis.failure is None, analysis.failure
    got = corpus.normalise(analysis.findings, case_dir)
    assert got == h.expected_for(expected, file)
    assert not corpus.message_checks(expected, file, analysis.findings, case_dir, frontend=h.FRONTEND)


@pytest.mark.parametrize("file", corpus.TEMPLATE_FILES)
@pytest.mark.parametrize("case_dir,expected", _case_params(pending=False))
def test_checkov_details_carry_the_message(corpus_run, case_dir, expected, file):
    """Each failed check says why in its details (message_contains of expected.json)."""
    failed = _records_for(corpus_run, case_dir, file, corpus_run.report.failed_checks)
    for record in failed:
        details = corpus_run.details_for(record)
        assert details, f"{record.check_id} {record.resource}: no details"
        rule = catalogue.BY_CHECKOV_ID[record.check_id].id
        assert all(d.endswith(f"[{rule}]") for d in details), details
    for e in corpus.expected_entries(expected, file, h.FRONTEND):
        if not e.get("message_contains"):
            continue
        rec = [r for r in failed if catalogue.BY_CHECKOV_ID[r.check_id].id == e["rule"] and h.logical_id(r) == e["resource"]]
        assert rec, e
        assert any(e["message_contains"] in d for d in corpus_run.details_for(rec[0])), corpus_run.details_for(rec[0])


@pytest.mark.parametrize("case_dir,expected", [pytest.param(d, e, id=d.name) for d, e in CASES
                                               if d.name in h.PENDING_FIXTURE_ENTRIES])
@pytest.mark.parametrize("file", corpus.TEMPLATE_FILES)
def test_pending_fixture_entries_hold(corpus_run, case_dir, expected, file):
    """The frontends.checkov entries proposed for expected.json describe what checkov reports
    (once the lead adds an entry, it must be the proposed one)."""
    want = h.pending_expected(case_dir, expected, file)
    if h.FRONTEND in expected.get("frontends", {}):
        assert h.expected_for(expected, file) == want, "expected.json's frontends.checkov differs from the proposal"
    got = h.failed_by_resource(_records_for(corpus_run, case_dir, file, corpus_run.report.failed_checks))
    assert sorted(got) == sorted({(rule, res) for rule, res, _f, _line in want})
    for rule, res, _f, line in want:
        start, end = got[(rule, res)]
        assert start <= line <= end
    analysis = checkov_support.analyse_file(str(case_dir / file))
    assert corpus.normalise(analysis.findings, case_dir) == want


# --------------------------------------------------------------------------- the whole corpus


def test_parsing_errors_are_the_broken_templates(corpus_run):
    """A template that does not parse is one of checkov's parsing errors, as it is an input
    error for the CLI; no check runs on it."""
    want = sorted(os.path.normpath(str(d / f)) for d, e in CASES for f in e.get("errors", {}))
    got = sorted(os.path.normpath(os.path.abspath(p)) for p in corpus_run.report.parsing_errors)
    assert got == want
    assert want, "the corpus has a broken template"


def test_every_resource_gets_every_applicable_verdict(corpus_run):
    """No verdict is dropped: each trail and event data store has one PASSED/FAILED record per
    check that applies to it (an UNKNOWN, which checkov drops silently, would be missing)."""
    by_resource: dict = defaultdict(list)
    for r in corpus_run.ours():
        by_resource[(corpus_run.file(r), r.resource)].append(r.check_id)
    assert by_resource
    for (file, resource), ids in by_resource.items():
        rtype = resource.rsplit(".", 1)[0]
        applicable = sorted(r.checkov_id for r in catalogue.RULES if any(TYPES[k] == rtype for k in r.applies_to))
        assert sorted(ids) == applicable, (file, resource)
    assert len(corpus_run.verdicts) == len(corpus_run.ours())
    assert not corpus_run.report.skipped_checks


def test_every_check_fails_somewhere_and_passes_somewhere(corpus_run):
    failed = {r.check_id for r in corpus_run.failed()}
    passed = {r.check_id for r in corpus_run.ours(corpus_run.report.passed_checks)}
    assert failed == set(h.CHECK_IDS)
    assert passed == set(h.CHECK_IDS)


def test_no_check_reported_an_internal_failure(corpus_run):
    """On the corpus, CKV_CTKMS_7 fails only for what the analysis reports (not because a file
    was not found or could not be analysed)."""
    for v in corpus_run.verdicts:
        for d in v.details:
            assert "was not found" not in d and "failed (" not in d and "could not" not in d, d


def test_records_carry_the_catalogue_metadata(corpus_run):
    for r in corpus_run.ours():
        rule = catalogue.BY_CHECKOV_ID[r.check_id]
        assert r.check_name == rule.title
        assert r.guideline == rule.help_uri
        assert str(r.severity) == rule.checkov_severity
        assert r.file_path.startswith("/") and not os.path.isabs(r.file_path[1:])


def test_whole_corpus_matches_case_by_case(corpus_run):
    """Every failed record belongs to a case and file of the corpus."""
    cases = {os.path.normpath(str(d / f)) for d, _e in CASES for f in corpus.TEMPLATE_FILES}
    assert {corpus_run.file(r) for r in corpus_run.ours()} <= cases
    assert not [r for r in corpus_run.ours() if "not_a_template" in r.file_path]
