"""Running checkov's CloudFormation runner in-process with our external checks.

checkov's check registries are process-global: ``cfn_registry`` keeps the first
instance of every check id it is given, and each ``Runner.run(external_checks_dir=...)``
would execute the check files again. So the checks are loaded once (``load_checks``)
and every run uses a fresh ``Runner`` and ``RunnerFilter`` without
``external_checks_dir``; what our glue keeps between runs (the per-file analysis
cache) is cleared before each run.

Lines: checkov reports the line range of the resource (``file_line_range``), and
a Python check cannot choose the line. See ``LINE_DIFFERENCE``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import corpus
from cloudtrail_kms_lint import catalogue

REPO = corpus.REPO
CHECKS_DIR = REPO / "checks"
CHECK_IDS = [r.checkov_id for r in catalogue.RULES]
FRONTEND = "checkov"

# The one place where the checkov front end's line differs from expected.json
# (docs/checkov.md, "Known differences", says the same): expected.json gives the
# line of the trail's KMSKeyId (event data store: KmsKeyId), else the logical id;
# checkov reports the line range of the whole resource and a Python check cannot
# choose the line. The runner tests therefore require the expected line to lie
# inside the range checkov reports for that (rule, resource); the exact line is
# asserted on the findings our checkov glue computes (test_checkov_corpus.py,
# test_glue_lines_are_exact).
LINE_DIFFERENCE = (
    "checkov reports the resource's line range (from its logical id, or the comments just above it, "
    "to its end), not the KMSKeyId line: the expected line must fall inside that range"
)

# frontends.checkov entries that expected.json should have and does not have yet
# (the fixtures are edited by the lead). While an entry is missing the case is
# xfail(strict=True); once it is added, the recorded expectation applies and the
# mark falls away.
PENDING_FIXTURE_ENTRIES: dict[str, dict] = {
    "ref_parameter_command_line": {
        "differs": "checkov cannot take CloudFormation parameter values: the parameter has no Default, "
                   "so the key is not determined (CTKMS007)",
        "expect": {
            "template.yaml": [{"rule": "CTKMS007", "resource": "Trail", "line": 124}],
            "template.json": [{"rule": "CTKMS007", "resource": "Trail", "line": 210}],
        },
    },
}

_LOADED = False


def load_checks() -> None:
    """Load checks/ into checkov's CloudFormation registry, once per process."""
    global _LOADED
    if _LOADED:
        return
    from checkov.cloudformation.checks.resource.registry import cfn_registry

    cfn_registry.load_external_checks(str(CHECKS_DIR))
    missing = [cid for cid in CHECK_IDS if cfn_registry.get_check_by_id(cid) is None]
    assert not missing, f"checks not loaded from {CHECKS_DIR}: {missing}"
    _LOADED = True


def registered_checks() -> dict:
    from checkov.cloudformation.checks.resource.registry import cfn_registry

    load_checks()
    return {cid: cfn_registry.get_check_by_id(cid) for cid in CHECK_IDS}


@dataclass
class Verdict:
    """One check's verdict on one resource, as the check itself saw it."""

    check_id: str
    entity_path: str
    result: Any
    details: list = field(default_factory=list)


@dataclass
class CheckovRun:
    report: Any
    verdicts: list = field(default_factory=list)  # Verdict
    cwd: str = ""  # the working directory of the run: checkov's file_abs_path is relative to it when the root is

    def file(self, record) -> str:
        """The absolute, normalised file of a record."""
        return os.path.normpath(os.path.join(self.cwd, record.file_abs_path))

    @property
    def records(self) -> list:
        r = self.report
        return list(r.failed_checks) + list(r.passed_checks) + list(r.skipped_checks)

    def ours(self, records: Optional[Iterable] = None) -> list:
        return [x for x in (self.records if records is None else records) if x.check_id in catalogue.BY_CHECKOV_ID]

    def failed(self) -> list:
        return self.ours(self.report.failed_checks)

    def details_for(self, record) -> list:
        """What the check put in ``self.details`` for this record (checkov's CloudFormation
        runner does not copy it into the report)."""
        out = []
        for v in self.verdicts:
            if v.check_id == record.check_id and v.entity_path.endswith(f":{logical_id(record)}") \
                    and v.entity_path.startswith(f"{record.file_path}:"):
                out.extend(v.details)
        return out


def logical_id(record) -> str:
    """checkov's CloudFormation resource id is ``<type>.<logical id>``; logical ids have no dots."""
    return str(record.resource).rsplit(".", 1)[-1]


@contextlib.contextmanager
def _spy_verdicts(sink: list):
    from cloudtrail_kms_lint import checkov_support

    cls = checkov_support.CloudFormationCheck
    original = cls.scan_resource_conf

    def spy(self, conf):
        result = original(self, conf)
        sink.append(Verdict(self.id, self.entity_path, result, list(self.details)))
        return result

    cls.scan_resource_conf = spy
    try:
        yield
    finally:
        cls.scan_resource_conf = original


def run_checkov(root: Optional[Path | str] = None, files: Optional[list] = None, checks: Iterable[str] = CHECK_IDS,
                cwd: Optional[Path] = None) -> CheckovRun:
    """checkov's CloudFormation runner over ``root`` (or ``files``), only our checks."""
    from checkov.cloudformation.runner import Runner
    from checkov.runner_filter import RunnerFilter

    from cloudtrail_kms_lint import checkov_support

    load_checks()
    checkov_support.clear_cache()
    verdicts: list = []
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    run_cwd = os.getcwd()
    try:
        with _spy_verdicts(verdicts):
            runner_filter = RunnerFilter(framework=["cloudformation"], checks=list(checks), show_progress_bar=False)
            report = Runner().run(root_folder=None if root is None else str(root), files=files,
                                  external_checks_dir=None, runner_filter=runner_filter)
    finally:
        os.chdir(old)
    if isinstance(report, list):
        report = report[0]
    return CheckovRun(report=report, verdicts=verdicts, cwd=run_cwd)


def failed_by_resource(records: Iterable) -> dict:
    """{(catalogue rule, logical id): (start, end)} of failed records of our checks."""
    out: dict = {}
    for r in records:
        rule = catalogue.BY_CHECKOV_ID[r.check_id].id
        key = (rule, logical_id(r))
        assert key not in out, f"two records for {key}"
        out[key] = tuple(r.file_line_range)
    return out


def expected_for(expected: dict, file: str) -> list[tuple]:
    """(rule, resource, file, line) the checkov front end must report: its recorded
    difference (frontends.checkov) in expected.json, else the shared expectation."""
    return corpus.expected_tuples(expected, file, FRONTEND)


def pending_expected(case_dir: Path, expected: dict, file: str) -> list[tuple]:
    """What the pending frontends.checkov entry of a case says checkov reports."""
    with_entry = dict(expected)
    with_entry["frontends"] = {**expected.get("frontends", {}), FRONTEND: PENDING_FIXTURE_ENTRIES[case_dir.name]}
    return corpus.expected_tuples(with_entry, file, FRONTEND)


def pending_reason(case_dir: Path, expected: dict) -> Optional[str]:
    if FRONTEND in expected.get("frontends", {}):
        return None
    entry = PENDING_FIXTURE_ENTRIES.get(case_dir.name)
    if entry is None:
        return None
    return (f"expected.json lacks frontends.checkov ({entry['differs']}); "
            "the lead adds the entry listed in ckv_harness.PENDING_FIXTURE_ENTRIES")
