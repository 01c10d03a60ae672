"""Root modules analysed in worker processes give the same report as one process."""

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("hcl2", reason="the Terraform front end needs python-hcl2 (the main test environment has it)")

from cloudtrail_kms_lint import scan as scan_module  # noqa: E402
from cloudtrail_kms_lint.cli import main  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "terraform"
CASES = ["module_local_kms_bad", "module_local_kms_good", "rule_004_bad_explicit_deny", "rule_005_bad_unscoped_grant",
         "rule_006_bad_no_reader_grant", "rule_007_var_without_default", "syntax_error_key_file", "ref_var_file",
         "policy_document_override_documents"]


@pytest.fixture
def repo(tmp_path):
    for name in CASES:
        shutil.copytree(FIXTURES / name, tmp_path / "repo" / name, ignore=shutil.ignore_patterns("expected.json"))
    return tmp_path / "repo"


def _report(capsys, *args):
    code = main(["scan", "--format", "json", "--no-config", "--no-cache", *args])
    return code, json.loads(capsys.readouterr().out)


def test_parallel_report_equals_sequential(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    sequential = _report(capsys, "--jobs", "1", ".")
    parallel = _report(capsys, "--jobs", "2", ".")
    assert parallel == sequential
    code, doc = sequential
    assert code == 2  # findings, and an input that could not be parsed
    assert {f["rule"] for f in doc["findings"]} >= {"CTKMS004", "CTKMS005", "CTKMS006", "CTKMS007"}
    assert doc["errors"], "syntax_error_key_file reports its syntax error"


def test_workers_are_other_processes(repo, monkeypatch):
    monkeypatch.chdir(repo)
    roots = [str(repo / name) for name in CASES]
    jobs = [(r, str(repo), [], {}, (), None) for r in roots]
    assert len(jobs) >= scan_module.PARALLEL_MIN_ROOTS
    parallel = scan_module._analyse_roots(jobs, 2)
    assert {o.pid for o in parallel} and os.getpid() not in {o.pid for o in parallel}
    sequential = scan_module._analyse_roots(jobs, 1)
    assert {o.pid for o in sequential} == {os.getpid()}
    assert [o.findings for o in parallel] == [o.findings for o in sequential]
    assert [o.errors for o in parallel] == [o.errors for o in sequential]


def test_few_roots_stay_in_process(repo, monkeypatch):
    monkeypatch.chdir(repo)
    jobs = [(str(repo / name), str(repo), [], {}, (), None) for name in CASES[:2]]
    assert {o.pid for o in scan_module._analyse_roots(jobs, 4)} == {os.getpid()}


@pytest.mark.parametrize("value", ["0", "-1", "x", "65"])
def test_jobs_must_be_a_sensible_number(value, capsys):
    with pytest.raises(SystemExit) as e:
        main(["scan", "--jobs", value, "."])
    assert e.value.code == 2
    assert "expected a number of processes from 1 to 64" in capsys.readouterr().err
