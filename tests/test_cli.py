"""The command line: exit codes, usage errors, missing parsers, and no tracebacks."""

import json
import sys
from pathlib import Path

import pytest

from cloudtrail_kms_lint import __version__, catalogue
from cloudtrail_kms_lint.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "cloudformation"

GOOD = EXAMPLES / "compliant-trail.yaml"
WARN_ONLY = EXAMPLES / "unscoped-grant.yaml"
UNKNOWN = EXAMPLES / "shared-key-from-another-stack.yaml"
BAD = EXAMPLES / "wildcard-in-stringequals.yaml"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_template_exits_0(capsys):
    code, out, _ = run(capsys, "scan", "--format", "json", str(GOOD))
    assert code == 0
    doc = json.loads(out)
    assert doc["findings"] == [] and doc["errors"] == []
    assert doc["version"] == "1"


def test_error_findings_exit_1(capsys):
    code, out, _ = run(capsys, "scan", "--format", "json", str(BAD))
    assert code == 1
    rules = sorted(f["rule"] for f in json.loads(out)["findings"])
    assert rules == ["CTKMS004", "CTKMS006"]


def test_warnings_pass_unless_fail_on_warning(capsys):
    assert run(capsys, "scan", str(WARN_ONLY))[0] == 0
    assert run(capsys, "scan", "--fail-on", "warning", str(WARN_ONLY))[0] == 1


def test_strict_makes_not_verified_fail(capsys):
    code, out, _ = run(capsys, "scan", "--format", "json", str(UNKNOWN))
    assert code == 0
    assert [f["rule"] for f in json.loads(out)["findings"]] == ["CTKMS007"]
    assert run(capsys, "scan", "--strict", str(UNKNOWN))[0] == 1


def test_unparsable_template_exits_2_and_others_are_still_scanned(tmp_path, capsys, monkeypatch):
    broken = tmp_path / "broken.yaml"
    broken.write_text("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Trail:\n    Type: AWS::CloudTrail::Trail\n    Properties: [unclosed\n")
    (tmp_path / "bad.yaml").write_text(BAD.read_text())
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "scan", "--format", "json", ".")
    assert code == 2
    doc = json.loads(out)
    assert [e["file"] for e in doc["errors"]] == ["broken.yaml"]
    assert doc["errors"][0]["line"] is not None
    assert {f["file"] for f in doc["findings"]} == {"bad.yaml"}
    assert "Traceback" not in err


def test_output_file(tmp_path, capsys):
    target = tmp_path / "report.sarif"
    code, out, _ = run(capsys, "scan", "--format", "sarif", "--output", str(target), str(BAD))
    assert code == 1 and out == ""
    sarif = json.loads(target.read_text())
    assert sarif["version"] == "2.1.0"
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"CTKMS004", "CTKMS006"}


def test_missing_path_is_an_input_error(tmp_path, capsys):
    code, out, _ = run(capsys, "scan", "--format", "json", str(tmp_path / "nope"))
    assert code == 2
    assert json.loads(out)["errors"][0]["message"] == "no such file or directory"


@pytest.mark.parametrize("argv", [["scan", "--format", "xml"], ["scan", "--parameter", "novalue"], ["bogus"]])
def test_usage_errors_exit_2_without_traceback(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"cloudtrail-kms-lint {__version__}"


def test_explain_prints_the_rule(capsys):
    code, out, _ = run(capsys, "explain", "E9104")
    assert code == 0
    rule = catalogue.BY_ID["CTKMS004"]
    assert out.startswith(f"CTKMS004: {rule.title}")
    assert rule.help_uri in out
    code, _, err = run(capsys, "explain", "CTKMS999")
    assert code == 2 and "unknown rule" in err


def test_missing_cloudformation_parser_names_the_extra(monkeypatch, capsys):
    # Simulate an install without the [cloudformation] extra.
    for name in list(sys.modules):
        if name == "cfnlint" or name.startswith("cfnlint."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cfnlint", None)
    monkeypatch.setitem(sys.modules, "cfnlint.decode", None)
    code, out, err = run(capsys, "scan", "--no-cache", str(BAD))
    assert code == 2
    assert "pip install 'cloudtrail-kms-lint[cloudformation]'" in err
    assert "Traceback" not in err


def test_internal_error_is_reported_without_traceback(monkeypatch, capsys):
    import cloudtrail_kms_lint.scan as scan_mod

    def boom(_options):
        raise ValueError("unexpected")

    monkeypatch.setattr(scan_mod, "scan", boom)
    code, _, err = run(capsys, "scan", str(BAD))
    assert code == 2
    assert "internal error: ValueError: unexpected" in err and "Traceback" not in err
    code, _, err = run(capsys, "scan", "--debug", str(BAD))
    assert code == 2 and "Traceback" in err


def test_checks_and_plugin_dirs(capsys):
    code, out, _ = run(capsys, "plugin-dir")
    assert code == 0 and Path(out.strip(), "E9101_trail_has_kms_key.py").is_file()
    code, out, _ = run(capsys, "checks-dir")
    assert code == 0 and Path(out.strip(), "__init__.py").is_file()


def test_missing_terraform_parser_names_the_extra(tmp_path, monkeypatch, capsys):
    (tmp_path / "main.tf").write_text('resource "aws_cloudtrail" "t" {\n  name = "t"\n  s3_bucket_name = "b"\n}\n')
    for name in list(sys.modules):
        if name == "hcl2" or name.startswith("hcl2."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "hcl2", None)
    import cloudtrail_kms_lint.terraform.parse as tfparse

    if hasattr(tfparse, "_cached_tree"):
        tfparse._cached_tree.cache_clear()
    code, out, err = run(capsys, "scan", "--no-cache", str(tmp_path))
    assert code == 2
    assert "pip install 'cloudtrail-kms-lint[terraform]'" in err
    assert "Traceback" not in err


def test_terraform_vars_on_the_command_line(tmp_path, capsys):
    (tmp_path / "main.tf").write_text(
        'variable "key" {}\n'
        'resource "aws_cloudtrail" "t" {\n'
        '  name           = "t"\n'
        '  s3_bucket_name = "b"\n'
        '  kms_key_id     = var.key\n'
        '}\n')
    code, out, _ = run(capsys, "scan", "--format", "json", str(tmp_path))
    f = json.loads(out)["findings"]
    assert [(x["rule"], x["resource"], x["line"]) for x in f] == [("CTKMS007", "aws_cloudtrail.t", 5)]
    assert "var.key has no default" in f[0]["message"]
    code, out, _ = run(capsys, "scan", "--format", "json", "--var", "key=alias/aws/cloudtrail", str(tmp_path))
    assert [x["rule"] for x in json.loads(out)["findings"]] == ["CTKMS002"]


def test_limits_from_the_command_line(tmp_path, capsys):
    template = tmp_path / "t.yaml"
    template.write_text(BAD.read_text())
    # a 1-byte file limit: the template is an input error, not a crash and not a pass
    code, out, _ = run(capsys, "scan", "--format", "json", "--no-cache", "--limit", "max-file-bytes=1", str(template))
    doc = json.loads(out)
    assert code == 2 and doc["findings"] == [] and "limit" in doc["errors"][0]["message"]
    code, _, err = run(capsys, "scan", "--limit", "max-bogus=1", str(template))
    assert code == 2 and "max-bogus" in err and "Traceback" not in err
    code, _, err = run(capsys, "scan", "--limit", "max-seconds=soon", str(template))
    assert code == 2 and "not a number" in err
