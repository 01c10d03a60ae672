"""Running checkov's Terraform and terraform_plan runners in-process with our checks.

The same rules as ``ckv_harness`` (the CloudFormation half): checkov's registries
are process-global and keep the first instance of each check id, so the check
files are loaded once (each file registers its CloudFormation check in
``cfn_registry`` and its Terraform check in ``resource_registry``, the registry
both Terraform runners use), and every run uses a fresh runner and
``RunnerFilter`` without ``external_checks_dir``.

The graph library: checkov's runner picks rustworkx or networkx from
``CHECKOV_GRAPH_FRAMEWORK`` when it is constructed; ``run`` sets it for that
moment only.

Lines: checkov reports the resource block's line range, and a check cannot
choose the line (``LINE_DIFFERENCE`` in ckv_harness, the same convention). For
a plan, checkov reports the plan file and its own line range of the resource
in ``planned_values`` (``PLAN_LINE_DIFFERENCE``); the CLI points at the ``.tf``
next to the plan. Those cases carry a ``frontends.checkov`` entry with
``differs`` and no ``expect``: the (rule, resource) pairs are the shared ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import ckv_harness
import corpus
from cloudtrail_kms_lint import catalogue

FIXTURES = corpus.TESTS / "fixtures" / "terraform"
CASES = corpus.load_cases(FIXTURES)
CHECK_IDS = ckv_harness.CHECK_IDS
FRONTEND = "checkov"
FRAMEWORKS = {"rustworkx": "RUSTWORKX", "networkx": "NETWORKX"}
TYPES = {catalogue.TRAIL: "aws_cloudtrail", catalogue.EVENT_DATA_STORE: "aws_cloudtrail_event_data_store"}

PLAN_LINE_DIFFERENCE = (
    "for a plan, checkov reports plan.json and the line range of the resource's entry in planned_values; "
    "the CLI reports the .tf next to the plan and the kms_key_id line: the range must lie in that entry"
)


def is_plan(expected: dict) -> bool:
    return str(expected.get("scan", "")).endswith(".json")


def load_checks() -> None:
    """Load checks/ once: the CloudFormation harness's load registers the Terraform checks too."""
    from checkov.terraform.checks.resource.registry import resource_registry

    ckv_harness.load_checks()
    if any(resource_registry.get_check_by_id(cid) is None for cid in CHECK_IDS):
        resource_registry.load_external_checks(str(ckv_harness.CHECKS_DIR))
    missing = [cid for cid in CHECK_IDS if resource_registry.get_check_by_id(cid) is None]
    assert not missing, f"Terraform checks not loaded from {ckv_harness.CHECKS_DIR}: {missing}"


def registered_checks() -> dict:
    from checkov.terraform.checks.resource.registry import resource_registry

    load_checks()
    return {cid: resource_registry.get_check_by_id(cid) for cid in CHECK_IDS}


@dataclass
class Verdict:
    check_id: str
    entity_path: str
    address: str
    result: Any
    details: list = field(default_factory=list)


@dataclass
class TfRun:
    report: Any
    verdicts: list = field(default_factory=list)  # Verdict
    analyses: list = field(default_factory=list)  # checkov_terraform.analysis.TrailAnalysis, one per trail
    plan: bool = False

    @property
    def records(self) -> list:
        r = self.report
        return list(r.failed_checks) + list(r.passed_checks) + list(r.skipped_checks)

    def ours(self, records: Optional[Iterable] = None) -> list:
        return [x for x in (self.records if records is None else records) if x.check_id in catalogue.BY_CHECKOV_ID]

    def failed(self) -> list:
        return self.ours(self.report.failed_checks)

    def findings(self) -> list:
        """The findings the checks decided on (the shared analysis of each trail)."""
        return [f for a in self.analyses for f in a.findings]


@contextlib.contextmanager
def _spies(verdicts: list, analyses: list):
    from cloudtrail_kms_lint.checkov_terraform import check as ckmod

    cls = ckmod.TerraformCheck
    original = cls.scan_resource_conf
    original_analyse = ckmod.analyse_vertex

    def spy(self, conf):
        result = original(self, conf)
        address = conf.get("__address__")
        verdicts.append(Verdict(self.id, self.entity_path, address[0] if isinstance(address, list) else address,
                                result, list(self.details)))
        return result

    def spy_analyse(index, trail, *a, **kw):
        hit = trail.id in index.analyses
        result = original_analyse(index, trail, *a, **kw)
        if not hit:
            analyses.append(result)
        return result

    cls.scan_resource_conf = spy
    ckmod.analyse_vertex = spy_analyse
    try:
        yield
    finally:
        cls.scan_resource_conf = original
        ckmod.analyse_vertex = original_analyse


@contextlib.contextmanager
def _graph_framework(name: str):
    old = os.environ.get("CHECKOV_GRAPH_FRAMEWORK")
    os.environ["CHECKOV_GRAPH_FRAMEWORK"] = FRAMEWORKS[name]
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CHECKOV_GRAPH_FRAMEWORK", None)
        else:
            os.environ["CHECKOV_GRAPH_FRAMEWORK"] = old


def run(root: Optional[Path | str] = None, files: Optional[list] = None, *, plan: bool = False,
        framework: str = "rustworkx", var_files: Optional[list] = None, checks: Iterable[str] = CHECK_IDS) -> TfRun:
    """checkov's Terraform runner over ``root`` (or ``files``), or its plan runner over plan
    ``files``; only our checks."""
    from checkov.runner_filter import RunnerFilter
    from checkov.terraform.plan_runner import Runner as PlanRunner
    from checkov.terraform.runner import Runner

    from cloudtrail_kms_lint.checkov_terraform import graph

    load_checks()
    graph.clear_cache()
    verdicts: list = []
    analyses: list = []
    fw = "terraform_plan" if plan else "terraform"
    runner_filter = RunnerFilter(framework=[fw], checks=list(checks), show_progress_bar=False,
                                 var_files=[str(v) for v in var_files] if var_files else None)
    with _graph_framework(framework):
        runner = PlanRunner() if plan else Runner()
    with _spies(verdicts, analyses):
        report = runner.run(root_folder=None if root is None else str(root), files=files, external_checks_dir=None,
                            runner_filter=runner_filter)
    if isinstance(report, list):
        report = report[0]
    return TfRun(report=report, verdicts=verdicts, analyses=analyses, plan=plan)


def run_case(case_dir: Path, expected: dict, framework: str = "rustworkx", **kw) -> TfRun:
    """A case as the CLI scans it: the case directory (with its var_files; checkov has no
    --var), or its plan with the plan runner."""
    if is_plan(expected):
        return run(files=[str(case_dir / expected["scan"])], plan=True, framework=framework, **kw)
    var_files = [case_dir / v for v in expected.get("var_files") or []]
    return run(root=case_dir, framework=framework, var_files=var_files, **kw)


# --------------------------------------------------------------------------- expectations


def expected_for(expected: dict) -> dict:
    """{file: [(rule, resource, line)]} the checkov front end must report: its recorded
    difference (frontends.checkov with an expect), else the shared expectation. A plan
    case's findings are reported on the plan file (PLAN_LINE_DIFFERENCE): line None."""
    out: dict = {}
    files = corpus.frontend_expectation(expected, FRONTEND)
    for file in files:
        tuples = corpus.expected_tuples(expected, file, FRONTEND)
        target = expected["scan"] if is_plan(expected) else file
        for rule, resource, _f, line in tuples:
            out.setdefault(target, []).append((rule, resource, None if is_plan(expected) else line))
        out.setdefault(target, [])
    return {k: sorted(set(v), key=lambda t: (t[1], t[0])) for k, v in out.items()}


def record_file(record) -> str:
    """A record's file relative to the scanned root (checkov's ``file_path`` is ``/<relative>``)."""
    return str(record.file_path).lstrip("/").replace("\\", "/")


def failed_by_file(run_: TfRun) -> dict:
    """{file: {(rule, resource): (start, end)}} of the failed records of our checks."""
    out: dict = {}
    for r in run_.failed():
        rule = catalogue.BY_CHECKOV_ID[r.check_id].id
        per = out.setdefault(record_file(r), {})
        key = (rule, r.resource)
        assert key not in per, f"two records for {key}"
        per[key] = tuple(r.file_line_range)
    return out


def plan_entry_lines(plan_file: Path, address: str) -> tuple[int, int]:
    """The lines of ``address``'s entry in the plan's ``planned_values`` (from its ``"address"``
    line to the line before the next resource's), as written in the file."""
    lines = plan_file.read_text(encoding="utf-8").splitlines()
    pat = re.compile(r'^\s*"address":\s*' + re.escape(json.dumps(address)) + r"\s*,?\s*$")
    start = next(i for i, line in enumerate(lines, 1) if pat.match(line))
    end = next((i - 1 for i, line in enumerate(lines, 1) if i > start and re.match(r'^\s*"address":', line)), len(lines))
    return start - 2, end  # the entry's "{" is a line or two above its address


def relative_findings(findings: Iterable, case_dir: Path) -> list:
    """Findings as (rule, resource, file relative to the case, line)."""
    return corpus.normalise(findings, case_dir)
