"""The analysis cache: warm runs reuse results only while every file they depend on is unchanged."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("hcl2", reason="the Terraform front end needs python-hcl2 (the main test environment has it)")

import cloudtrail_kms_lint.terraform.analysis as tf_analysis  # noqa: E402
from cloudtrail_kms_lint.cli import main  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "terraform"


@pytest.fixture
def case(tmp_path):
    src = FIXTURES / "module_local_kms_bad"
    dst = tmp_path / "case"
    shutil.copytree(src, dst)
    return dst


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = tf_analysis.analyse_root

    def wrapper(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    import cloudtrail_kms_lint.scan  # noqa: F401  (scan imports analyse_root lazily from the module)

    monkeypatch.setattr(tf_analysis, "analyse_root", wrapper)
    return calls


def run(capsys, case, cache_dir, *extra):
    code = main(["scan", "--format", "json", "--no-config", "--cache-dir", str(cache_dir), *extra, str(case)])
    return code, capsys.readouterr().out


def test_warm_run_reuses_the_result(case, tmp_path, capsys, counted):
    cache_dir = tmp_path / "cache"
    cold = run(capsys, case, cache_dir)
    assert len(counted) == 1
    warm = run(capsys, case, cache_dir)
    assert len(counted) == 1, "the warm run analysed again"
    assert warm == cold
    assert json.loads(cold[1])["findings"], "the case has findings"


def test_a_change_in_a_called_module_invalidates(case, tmp_path, capsys, counted):
    cache_dir = tmp_path / "cache"
    first = run(capsys, case, cache_dir)
    module = case / "modules" / "kms" / "main.tf"
    text = module.read_text()
    assert '"kms:Decrypt"' in text
    module.write_text(text.replace('"kms:Decrypt"', '"kms:ListKeys"'))  # no reader grant any more
    second = run(capsys, case, cache_dir)
    assert len(counted) == 2
    assert second != first


UNRELATED = '''
# a comment, and a resource no trail or key refers to
resource "aws_sns_topic" "alerts" {
  name = "alerts"
}
'''


@pytest.mark.parametrize("where", ["root", "module"])
def test_an_edit_no_verdict_can_depend_on_reuses_the_result(case, tmp_path, capsys, counted, where):
    """Entries digest .tf files by the blocks the analysis can see and their positions (what a
    pre-commit run after an ordinary edit needs): appending a comment or an unrelated resource
    keeps the result, and the report stays the same as a fresh run's."""
    cache_dir = tmp_path / "cache"
    first = run(capsys, case, cache_dir)
    target = case / "main.tf" if where == "root" else case / "modules" / "kms" / "main.tf"
    target.write_text(target.read_text() + UNRELATED)
    second = run(capsys, case, cache_dir)
    assert len(counted) == 1, "the unrelated edit caused a new analysis"
    assert second == first == run(capsys, case, cache_dir, "--no-cache")


def test_an_unrelated_block_that_moves_findings_invalidates(case, tmp_path, capsys, counted):
    cache_dir = tmp_path / "cache"
    first = json.loads(run(capsys, case, cache_dir)[1])
    root = case / "main.tf"
    root.write_text(UNRELATED + root.read_text())  # every block below moves down
    second = json.loads(run(capsys, case, cache_dir)[1])
    assert len(counted) == 2
    moved = UNRELATED.count("\n")
    before = [(f["rule"], f["line"]) for f in first["findings"]]
    assert before, "the case has findings"
    assert [(f["rule"], f["line"]) for f in second["findings"]] == [(r, n + moved) for r, n in before]


def test_a_result_with_errors_depends_on_whole_files(tmp_path, capsys, counted):
    """An error message may quote any block: with errors, any change to a file re-analyses."""
    case = tmp_path / "case"
    shutil.copytree(FIXTURES / "syntax_error_key_file", case, ignore=shutil.ignore_patterns("expected.json"))
    cache_dir = tmp_path / "cache"
    first = json.loads(run(capsys, case, cache_dir)[1])
    assert first["errors"]
    tf = sorted(case.glob("*.tf"))[0]
    tf.write_text(tf.read_text() + "\n# a comment\n")
    run(capsys, case, cache_dir)
    assert len(counted) == 2


def test_no_cache_writes_nothing(case, tmp_path, capsys, counted):
    cache_dir = tmp_path / "cache"
    run(capsys, case, cache_dir, "--no-cache")
    run(capsys, case, cache_dir, "--no-cache")
    assert len(counted) == 2
    assert not cache_dir.exists()


def test_a_damaged_entry_is_a_miss(case, tmp_path, capsys, counted):
    cache_dir = tmp_path / "cache"
    cold = run(capsys, case, cache_dir)
    for p in cache_dir.rglob("*.json"):
        p.write_text("{not json")
    again = run(capsys, case, cache_dir)
    assert again == cold and len(counted) == 2


def test_a_policy_file_read_with_file_invalidates(tmp_path, capsys, counted):
    src = FIXTURES / "policy_file_json"
    case = tmp_path / "case"
    shutil.copytree(src, case)
    cache_dir = tmp_path / "cache"
    first = run(capsys, case, cache_dir)
    policies = [p for p in case.rglob("*.json") if p.name != "expected.json"]
    assert policies
    for p in policies:
        p.write_text(p.read_text().replace("kms:DescribeKey", "kms:ListKeys"))
    second = run(capsys, case, cache_dir)
    assert len(counted) == 2
    assert second != first


def test_concurrent_runs_share_the_cache_safely(case, tmp_path):
    cache_dir = tmp_path / "cache"
    cmd = [sys.executable, "-m", "cloudtrail_kms_lint", "scan", "--format", "json", "--no-config", "--cache-dir",
           str(cache_dir), str(case)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 1 for p in procs), [o[1] for o in outs]
    assert len({o[0] for o in outs}) == 1
    assert not [p for p in cache_dir.rglob(".tmp-*")], "temporary files left behind"


def test_a_new_file_in_a_called_module_invalidates(tmp_path, capsys, counted):
    """The entry lists each module directory's .tf files: a file added to a called module is read."""
    case = tmp_path / "case"
    shutil.copytree(FIXTURES / "module_local_kms_good", case)
    module = case / "modules" / "kms" / "main.tf"
    text = module.read_text()
    start = text.index("  policy = jsonencode({")
    end = text.index("  })\n", start) + len("  })\n")
    module.write_text(text[:start] + text[end:])  # the key without a policy: AWS's default key policy
    cache_dir = tmp_path / "cache"
    first = json.loads(run(capsys, case, cache_dir)[1])
    assert first["findings"], "the default key policy does not let CloudTrail use the key"
    # the module's good policy, as an aws_kms_key_policy in a new file
    (case / "modules" / "kms" / "policy.tf").write_text(
        'resource "aws_kms_key_policy" "this" {\n  key_id = aws_kms_key.this.id\n' + text[start:end] + "}\n")
    second = json.loads(run(capsys, case, cache_dir)[1])
    assert len(counted) == 2, "the warm run reused a result that did not know the new file"
    assert second["findings"] == []
    assert second == json.loads(run(capsys, case, cache_dir, "--no-cache")[1])
