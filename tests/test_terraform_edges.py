"""Terraform edge cases that must end in "unknown", never a hang, a crash or a silent pass."""

import json

import pytest

pytest.importorskip("hcl2", reason="the Terraform front end needs python-hcl2 (the main test environment has it)")

from cloudtrail_kms_lint.cli import main  # noqa: E402

TRAIL = '''
resource "aws_cloudtrail" "t" {{
  name           = "t"
  s3_bucket_name = "b"
  kms_key_id     = {ref}
}}
'''


def scan(capsys, path, *extra):
    code = main(["scan", "--format", "json", *extra, str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)


def test_module_that_calls_itself(tmp_path, capsys):
    (tmp_path / "main.tf").write_text('module "again" {\n  source = "./"\n}\n' + TRAIL.format(ref="module.again.key_arn")
                                      + 'output "key_arn" {\n  value = module.again.key_arn\n}\n')
    code, doc = scan(capsys, tmp_path)
    assert [(f["rule"], f["resource"]) for f in doc["findings"]] == [("CTKMS007", "aws_cloudtrail.t")]


def test_modules_that_call_each_other(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "main.tf").write_text('module "b" {\n  source = "../b"\n}\noutput "key" {\n  value = module.b.key\n}\n')
    (b / "main.tf").write_text('module "a" {\n  source = "../a"\n}\noutput "key" {\n  value = module.a.key\n}\n')
    (tmp_path / "main.tf").write_text('module "a" {\n  source = "./a"\n}\n' + TRAIL.format(ref="module.a.key"))
    code, doc = scan(capsys, tmp_path)
    assert [(f["rule"], f["resource"]) for f in doc["findings"]] == [("CTKMS007", "aws_cloudtrail.t")]


def test_self_referencing_local(tmp_path, capsys):
    (tmp_path / "main.tf").write_text('locals {\n  k = local.k\n}\n' + TRAIL.format(ref="local.k"))
    code, doc = scan(capsys, tmp_path)
    [f] = doc["findings"]
    assert f["rule"] == "CTKMS007" and "local.k" in f["message"]


def test_module_source_outside_the_scanned_directory_is_not_read(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "main.tf").write_text('output "key" {\n  value = "alias/aws/cloudtrail"\n}\n')
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text('module "x" {\n  source = "../outside"\n}\n' + TRAIL.format(ref="module.x.key"))
    code, doc = scan(capsys, root)
    [f] = doc["findings"]
    assert f["rule"] == "CTKMS007" and "outside the scanned directory" in f["message"]


def test_file_outside_the_scanned_directory_is_not_read(tmp_path, capsys):
    secret = tmp_path / "policy.json"
    secret.write_text("{}")
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(
        'resource "aws_kms_key" "k" {\n  policy = file("../policy.json")\n}\n' + TRAIL.format(ref="aws_kms_key.k.arn"))
    code, doc = scan(capsys, root)
    assert [f["rule"] for f in doc["findings"]] == ["CTKMS007"]
