"""Changed files (what pre-commit passes) to what the scan must check again."""

import os
from pathlib import Path

from cloudtrail_kms_lint.changed import expand


def _tree(root: Path) -> None:
    files = {
        "envs/prod/main.tf": 'module "trail" {\n  source = "../../modules/trail"\n}\n',
        "envs/dev/main.tf": 'module "trail" {\n  source = "../../modules/trail"\n}\n',
        "modules/trail/main.tf": 'module "key" {\n  source = "../key"\n}\n',
        "modules/key/main.tf": 'resource "aws_kms_key" "k" {\n  policy = file("${path.module}/key-policy.json")\n}\n',
        "modules/key/key-policy.json": '{"Statement": []}',
        "standalone/main.tf": 'resource "aws_cloudtrail" "t" {}\n',
        "stack.json": '{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {}}',
    }
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (root / ".git").mkdir()


def rel(paths, root):
    return sorted(os.path.relpath(os.path.abspath(p), root).replace(os.sep, "/") for p in paths)


def test_changed_module_is_checked_through_every_root_that_calls_it(tmp_path, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert rel(expand(["modules/key/main.tf"]), tmp_path) == ["envs/dev", "envs/prod"]


def test_changed_policy_file_rechecks_the_modules_that_read_it(tmp_path, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert rel(expand(["modules/key/key-policy.json"]), tmp_path) == ["envs/dev", "envs/prod", "modules/key/key-policy.json"]


def test_module_nobody_calls_is_its_own_root(tmp_path, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert rel(expand(["standalone/main.tf"]), tmp_path) == ["standalone"]


def test_templates_and_directories_are_kept_as_given(tmp_path, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert rel(expand(["stack.json", "envs"]), tmp_path) == ["envs", "stack.json"]


def test_changed_files_scan_the_repository_not_only_each_module(tmp_path, monkeypatch, capsys):
    """pre-commit passes files; their roots call modules elsewhere in the repository (../../modules/kms).
    Those are inside the scanned directory (the repository), so the key policy is verified, not
    reported as outside the scan (CTKMS007, a warning that let a broken policy through)."""
    import json
    import shutil

    from cloudtrail_kms_lint.cli import main

    good = Path(__file__).resolve().parent / "fixtures" / "terraform" / "module_local_kms_good"
    (tmp_path / ".git").mkdir()
    shutil.copytree(good / "modules" / "kms", tmp_path / "modules" / "kms")
    prod = tmp_path / "envs" / "prod"
    prod.mkdir(parents=True)
    (prod / "main.tf").write_text((good / "main.tf").read_text().replace("./modules/kms", "../../modules/kms"))
    monkeypatch.chdir(tmp_path)

    def scan(*paths):
        code = main(["scan", "--format", "json", "--no-cache", "--no-config", *paths])
        return code, json.loads(capsys.readouterr().out)

    code, doc = scan("envs/prod/main.tf")
    assert (code, doc["findings"], doc["errors"]) == (0, [], [])
    assert scan(".")[1]["findings"] == []
    code, doc = scan("modules/kms/main.tf")  # the module changed: checked through its caller
    assert (code, doc["findings"]) == (0, [])
    module = tmp_path / "modules" / "kms" / "main.tf"
    module.write_text(module.read_text().replace('"kms:Decrypt"', '"kms:ListKeys"'))
    code, doc = scan("modules/kms/main.tf")
    assert code == 1
    assert [(f["rule"], f["file"]) for f in doc["findings"]] == [("CTKMS006", "envs/prod/main.tf")]
