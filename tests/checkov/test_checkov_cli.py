"""End to end through the real ``checkov`` command line (a subprocess), offline.

Two ways of pointing checkov at the checks: from a clone (``--external-checks-dir
checks``, run in the repository) and after pip install (the directory printed by
``python -m cloudtrail_kms_lint checks-dir``, run elsewhere). The failed checks must
be the ones expected.json gives for the scanned cases, in checkov's JSON and SARIF.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ckv_harness as h
import corpus
from cloudtrail_kms_lint import catalogue

pytestmark = pytest.mark.checkov

CHECKOV = Path(sys.executable).parent / "checkov"
CASES = ("default_key_policy", "eds_bad_source_arn", "rule_001_no_key", "rule_005_bad_unscoped_grant", "seed_policy_good")
OFFLINE_ENV = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}


def _checkov(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    if not CHECKOV.exists():
        pytest.skip("the checkov command is not installed next to this Python")
    env = dict(os.environ, **OFFLINE_ENV)
    return subprocess.run([str(CHECKOV), *args, "--skip-download"], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def scan_dir(tmp_path_factory) -> Path:
    """The templates of a few cases (not their expected.json) under one directory."""
    root = tmp_path_factory.mktemp("scan")
    for case in CASES:
        (root / case).mkdir()
        for name in corpus.TEMPLATE_FILES:
            shutil.copy(corpus.FIXTURES / case / name, root / case / name)
    return root


def _expected() -> set:
    """(check id, '/case/file', logical id) of every expected finding of the scanned cases."""
    out = set()
    for case in CASES:
        expected = json.loads((corpus.FIXTURES / case / "expected.json").read_text(encoding="utf-8"))
        for name in corpus.TEMPLATE_FILES:
            for rule, resource, _f, _line in h.expected_for(expected, name):
                out.add((catalogue.BY_ID[rule].checkov_id, f"/{case}/{name}", resource))
    return out


def _args(scan_dir: Path, checks_dir: str) -> list[str]:
    return ["-d", str(scan_dir), "--framework", "cloudformation", "--external-checks-dir", checks_dir,
            "--check", ",".join(h.CHECK_IDS)]


@pytest.fixture(scope="module")
def clone_run(scan_dir, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("out")
    proc = _checkov(_args(scan_dir, "checks") + ["-o", "json", "-o", "sarif", "--output-file-path", str(out_dir)],
                    cwd=h.REPO)
    return proc, out_dir


def test_json_from_a_clone(clone_run):
    proc, out_dir = clone_run
    assert proc.returncode == 1, proc.stderr[-3000:]  # failed checks
    doc = json.loads((out_dir / "results_json.json").read_text(encoding="utf-8"))
    assert doc["check_type"] == "cloudformation"
    failed = doc["results"]["failed_checks"]
    got = {(r["check_id"], r["file_path"], r["resource"].rsplit(".", 1)[1]) for r in failed}
    assert got == _expected()
    for r in failed:
        rule = catalogue.BY_CHECKOV_ID[r["check_id"]]
        assert r["check_name"] == rule.title
        assert r["guideline"] == rule.help_uri
        assert r["severity"] == rule.checkov_severity
        assert r["resource"].split(".")[0] in ("AWS::CloudTrail::Trail", "AWS::CloudTrail::EventDataStore")
    passed = {(r["check_id"], r["file_path"]) for r in doc["results"]["passed_checks"]}
    assert ("CKV_CTKMS_7", "/seed_policy_good/template.yaml") in passed
    assert doc["summary"]["parsing_errors"] == 0


def test_sarif_from_a_clone(clone_run):
    proc, out_dir = clone_run
    doc = json.loads((out_dir / "results_sarif.sarif").read_text(encoding="utf-8"))
    assert doc["version"] == "2.1.0"
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((corpus.TESTS / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    for rid, r in rules.items():
        assert r["helpUri"] == catalogue.BY_CHECKOV_ID[rid].help_uri
    got = set()
    for res in run["results"]:
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        case, name = uri.split("/")[-2:]
        got.add((res["ruleId"], f"/{case}/{name}"))
    assert got == {(cid, f) for cid, f, _res in _expected()}
    assert set(rules) == {cid for cid, _f, _r in _expected()}


def test_pip_install_checks_dir(scan_dir, tmp_path):
    """``checkov -d . --external-checks-dir "$(python -m cloudtrail_kms_lint checks-dir)"`` from
    another directory; --soft-fail makes the exit code 0."""
    checks_dir = subprocess.run([sys.executable, "-m", "cloudtrail_kms_lint", "checks-dir"], capture_output=True,
                                text=True, check=True).stdout.strip()
    assert Path(checks_dir, "__init__.py").is_file()
    proc = _checkov(_args(scan_dir, checks_dir) + ["-o", "json", "--soft-fail", "--quiet"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    got = {(r["check_id"], r["file_path"], r["resource"].rsplit(".", 1)[1]) for r in doc["results"]["failed_checks"]}
    assert got == _expected()


def test_hard_fail_on_high_fails_like_the_cli(tmp_path):
    """The CLI fails on error-level findings only; checkov fails on every failed check unless
    told otherwise: ``--hard-fail-on HIGH`` (the error-level rules' severity) matches the CLI."""
    case = corpus.FIXTURES / "rule_005_bad_unscoped_grant"  # CTKMS005 only: a warning, the CLI exits 0
    shutil.copy(case / "template.yaml", tmp_path / "template.yaml")
    proc = _checkov(_args(tmp_path, str(h.CHECKS_DIR)) + ["-o", "json", "--hard-fail-on", "HIGH"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert [r["check_id"] for r in doc["results"]["failed_checks"]] == ["CKV_CTKMS_5"]
    assert catalogue.BY_CHECKOV_ID["CKV_CTKMS_5"].checkov_severity == "MEDIUM"
