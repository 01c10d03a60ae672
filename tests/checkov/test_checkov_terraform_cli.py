"""End to end through the real ``checkov`` command line (a subprocess), offline, for Terraform:
``checkov -d <dir> --framework terraform --external-checks-dir checks -o json`` over a few
cases of the corpus, and ``checkov -f plan.json --framework terraform_plan``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import corpus
import tf_harness as h
from cloudtrail_kms_lint import catalogue

pytestmark = pytest.mark.checkov

CHECKOV = Path(sys.executable).parent / "checkov"
CASES = ("default_key_policy", "module_local_kms_bad", "rule_005_bad_unscoped_grant", "seed_policy_good",
         "eds_bad_source_arn", "rule_007_var_without_default", "ref_alias_arn")
PLAN_CASE = "plan_known_bad_policy"
OFFLINE_ENV = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}


def _checkov(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    if not CHECKOV.exists():
        pytest.skip("the checkov command is not installed next to this Python")
    env = dict(os.environ, **OFFLINE_ENV)
    return subprocess.run([str(CHECKOV), *args, "--skip-download", "--check", ",".join(h.CHECK_IDS)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)


def _expected(case: str) -> dict:
    return json.loads((h.FIXTURES / case / "expected.json").read_text(encoding="utf-8"))


def test_terraform_directory_json(tmp_path):
    """``checkov -d`` over several case directories at once, from a clone (``--external-checks-dir
    checks``): the failed checks, with their details, are expected.json's."""
    for case in CASES:
        shutil.copytree(h.FIXTURES / case, tmp_path / case, ignore=shutil.ignore_patterns("expected.json"))
    proc = _checkov(["-d", str(tmp_path), "--framework", "terraform", "--external-checks-dir", "checks", "-o", "json"],
                    cwd=corpus.REPO)
    assert proc.returncode == 1, proc.stderr[-3000:]  # failed checks
    doc = json.loads(proc.stdout)
    assert doc["check_type"] == "terraform"
    failed = doc["results"]["failed_checks"]
    got = {(r["check_id"], r["file_path"], r["resource"]) for r in failed}
    want = set()
    for case in CASES:
        for file, entries in h.expected_for(_expected(case)).items():
            for rule, resource, line in entries:
                want.add((catalogue.BY_ID[rule].checkov_id, f"/{case}/{file}", resource))
                rec = next(r for r in failed if (r["check_id"], r["file_path"], r["resource"]) ==
                           (catalogue.BY_ID[rule].checkov_id, f"/{case}/{file}", resource))
                start, end = rec["file_line_range"]
                assert start <= line <= end
    assert got == want
    for r in failed:
        rule = catalogue.BY_CHECKOV_ID[r["check_id"]]
        assert r["check_name"] == rule.title
        assert r["guideline"] == rule.help_uri
        assert r["severity"] == rule.checkov_severity
        assert r["details"] and r["details"][0].endswith(f"[{rule.id}]")
    passed = {(r["check_id"], r["file_path"]) for r in doc["results"]["passed_checks"]}
    assert ("CKV_CTKMS_7", "/seed_policy_good/main.tf") in passed
    assert doc["summary"]["parsing_errors"] == 0


def test_terraform_plan_file_json(tmp_path):
    """``checkov -f plan.json --framework terraform_plan`` with the checks directory printed by
    ``python -m cloudtrail_kms_lint checks-dir`` (after pip install), from another directory."""
    checks_dir = subprocess.run([sys.executable, "-m", "cloudtrail_kms_lint", "checks-dir"], capture_output=True,
                                text=True, check=True).stdout.strip()
    shutil.copy(h.FIXTURES / PLAN_CASE / "plan.json", tmp_path / "plan.json")
    proc = _checkov(["-f", "plan.json", "--framework", "terraform_plan", "--external-checks-dir", checks_dir,
                     "-o", "json"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc["check_type"] == "terraform_plan"
    got = {(r["check_id"], r["file_path"], r["resource"]) for r in doc["results"]["failed_checks"]}
    want = {(catalogue.BY_ID[rule].checkov_id, "/plan.json", resource)
            for _file, entries in h.expected_for(_expected(PLAN_CASE)).items() for rule, resource, _line in entries}
    assert got == want and want


def test_plan_enrichment_reports_the_tf_file_and_block(tmp_path):
    """``--repo-root-for-plan-enrichment`` (the directory the plan was made from): checkov moves
    plan findings to the .tf file and resource block, where expected.json puts them."""
    case_dir = h.FIXTURES / "plan_module"
    shutil.copytree(case_dir, tmp_path / "case", ignore=shutil.ignore_patterns("expected.json"))
    proc = _checkov(["-f", "case/plan.json", "--framework", "terraform_plan", "--repo-root-for-plan-enrichment", "case",
                     "--external-checks-dir", str(h.ckv_harness.CHECKS_DIR), "-o", "json"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    got = {(r["check_id"], r["file_path"].lstrip("/"), r["resource"], tuple(r["file_line_range"]))
           for r in doc["results"]["failed_checks"]}
    expected = _expected("plan_module")
    want = [(catalogue.BY_ID[rule].checkov_id, file, res, line) for file in expected["expect"]
            for rule, res, _f, line in corpus.expected_tuples(expected, file)]
    assert len(got) == len(want) == 1
    (cid, file, res, (start, end)), = got
    assert (cid, file, res) == want[0][:3] and start <= want[0][3] <= end
