"""Baselines: --write-baseline, then --baseline reports only what is new."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cloudtrail_kms_lint.baseline import Baseline, fingerprint, stable_message
from cloudtrail_kms_lint.cli import main

ROOT = Path(__file__).resolve().parents[1]
CFN = ROOT / "examples" / "cloudformation"
TF_WILDCARD = ROOT / "examples" / "terraform" / "wildcard-policy" / "main.tf"

NEW_TRAIL = '''
resource "aws_cloudtrail" "second" {
  name           = "second"
  s3_bucket_name = "example-cloudtrail-logs"
}
'''


@pytest.fixture
def work(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "main.tf").write_text(TF_WILDCARD.read_text())
    (tmp_path / "cfn").mkdir()
    for name in ("wildcard-in-stringequals.yaml", "unscoped-grant.yaml"):
        (tmp_path / "cfn" / name).write_text((CFN / name).read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def scan_json(capsys, *argv):
    code, out, _ = run(capsys, "scan", "--format", "json", *argv)
    return code, json.loads(out)


def reported(doc):
    return sorted((f["rule"], f["resource"]) for f in doc["findings"] if "suppressed" not in f)


def test_round_trip(work, capsys):
    code, before = scan_json(capsys, ".")
    assert code == 1 and len(reported(before)) == 6

    code, out, err = run(capsys, "scan", "--write-baseline", "baseline.json", ".")
    assert code == 0  # writing a baseline succeeds whatever it finds
    assert "wrote 6 findings to the baseline baseline.json" in err
    written = (work / "baseline.json").read_bytes()
    doc = json.loads(written)
    assert doc["version"] == "1" and doc["tool"] == "cloudtrail-kms-lint"
    rows = doc["findings"]
    assert [list(r) for r in rows] == [["rule", "resource", "file", "fingerprint", "message"]] * 6
    keys = [(r["file"], r["resource"], r["rule"], r["fingerprint"]) for r in rows]
    assert keys == sorted(keys)
    assert {r["file"] for r in rows} == {"cfn/unscoped-grant.yaml", "cfn/wildcard-in-stringequals.yaml", "tf/main.tf"}
    assert written.endswith(b"}\n")

    # deterministic: the same scan writes the same bytes
    run(capsys, "scan", "--write-baseline", "again.json", ".")
    assert (work / "again.json").read_bytes() == written

    code, after = scan_json(capsys, "--baseline", "baseline.json", "--fail-on", "warning", ".")
    assert code == 0
    assert reported(after) == []
    assert {f["suppressed"]["kind"] for f in after["findings"]} == {"baseline"}
    assert {f["suppressed"]["reason"] for f in after["findings"]} == {"in the baseline baseline.json"}
    assert after["summary"]["suppressed"] == 6 and after["summary"]["errors"] == 0

    code, out, _ = run(capsys, "scan", "--baseline", "baseline.json", "--format", "sarif", ".")
    results = json.loads(out)["runs"][0]["results"]
    assert [r["suppressions"][0]["kind"] for r in results] == ["external"] * 6

    code, out, _ = run(capsys, "scan", "--baseline", "baseline.json", ".")
    assert out.splitlines()[-1] == "No findings in 3 files (6 suppressed)."


def test_lines_moving_do_not_resurrect_findings(work, capsys):
    run(capsys, "scan", "--write-baseline", "baseline.json", ".")
    main_tf = work / "tf" / "main.tf"
    text = main_tf.read_text()
    # unrelated edits above the key and the trail: every line number in the messages moves
    main_tf.write_text("# a new header comment\n\nlocals {\n  team = \"audit\"\n}\n\n" + text)
    yaml = work / "cfn" / "wildcard-in-stringequals.yaml"
    yaml.write_text(yaml.read_text().replace("Resources:\n", "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n", 1))
    code, doc = scan_json(capsys, ".")
    assert code == 1  # without the baseline they are all there, on other lines
    code, doc = scan_json(capsys, "--baseline", "baseline.json", ".")
    assert code == 0 and reported(doc) == []


def test_a_new_bad_trail_is_reported(work, capsys):
    run(capsys, "scan", "--write-baseline", "baseline.json", ".")
    with open(work / "tf" / "main.tf", "a") as fh:
        fh.write(NEW_TRAIL)
    code, doc = scan_json(capsys, "--baseline", "baseline.json", ".")
    assert code == 1
    assert reported(doc) == [("CTKMS001", "aws_cloudtrail.second")]


def test_another_problem_on_a_baselined_resource_is_new(work, capsys):
    run(capsys, "scan", "--write-baseline", "baseline.json", "tf")
    main_tf = work / "tf" / "main.tf"
    main_tf.write_text(main_tf.read_text().replace("aws_kms_key.trail.arn", '"alias/aws/cloudtrail"'))
    code, doc = scan_json(capsys, "--baseline", "baseline.json", "tf")
    assert code == 1 and reported(doc) == [("CTKMS002", "aws_cloudtrail.main")]


def test_baseline_works_from_another_directory(work, capsys, monkeypatch):
    run(capsys, "scan", "--write-baseline", "baseline.json", ".")
    monkeypatch.chdir(work / "tf")
    code, doc = scan_json(capsys, "--baseline", "../baseline.json", "--fail-on", "warning", "..")
    assert code == 0 and reported(doc) == []


def test_write_baseline_leaves_out_inline_and_config_suppressions(work, capsys):
    main_tf = work / "tf" / "main.tf"
    main_tf.write_text(main_tf.read_text().replace(
        'resource "aws_cloudtrail" "main" {', '# cloudtrail-kms-lint:ignore CTKMS006 readers use grants\nresource "aws_cloudtrail" "main" {'))
    (work / ".cloudtrail-kms-lint.toml").write_text('ignore = ["CTKMS005"]\n')
    run(capsys, "scan", "--write-baseline", "baseline.json", ".")
    rows = json.loads((work / "baseline.json").read_text())["findings"]
    assert sorted(r["rule"] for r in rows) == ["CTKMS003", "CTKMS004", "CTKMS004", "CTKMS006"]
    assert not any(r["rule"] == "CTKMS006" and r["file"] == "tf/main.tf" for r in rows)
    # --no-inline-suppressions: the inline-suppressed finding is not in the baseline, so it is reported
    code, doc = scan_json(capsys, "--baseline", "baseline.json", "--no-inline-suppressions", ".")
    assert reported(doc) == [("CTKMS006", "aws_cloudtrail.main")]


def test_rewriting_a_baseline_keeps_its_entries_and_drops_fixed_ones(work, capsys):
    run(capsys, "scan", "--write-baseline", "baseline.json", ".")
    (work / "cfn" / "unscoped-grant.yaml").unlink()  # its CTKMS005 is gone
    code, _, err = run(capsys, "scan", "--baseline", "baseline.json", "--write-baseline", "baseline.json", ".")
    assert code == 0 and "wrote 5 findings" in err
    rows = json.loads((work / "baseline.json").read_text())["findings"]
    assert len(rows) == 5 and "cfn/unscoped-grant.yaml" not in {r["file"] for r in rows}


def test_write_baseline_with_an_input_error_exits_2(work, capsys):
    (work / "cfn" / "broken.yaml").write_text("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  T:\n    Type: AWS::CloudTrail::Trail\n    Properties: [x\n")
    code, _, err = run(capsys, "scan", "--write-baseline", "baseline.json", ".")
    assert code == 2 and (work / "baseline.json").is_file()


@pytest.mark.parametrize("content, message", [
    (None, "cannot read the baseline"),
    ("{not json", "cannot parse the baseline"),
    ('{"findings": []}', "unsupported baseline version"),
    ('{"version": "1", "findings": [{"rule": "CTKMS001"}]}', "findings[0] needs the strings"),
    ('{"version": "1", "findings": [{"rule": "X1", "resource": "r", "file": "f", "fingerprint": "0"}]}', "unknown rule id 'X1'"),
    ("[]", "not a cloudtrail-kms-lint baseline"),
])
def test_unusable_baseline_exits_2(work, capsys, content, message):
    if content is not None:
        (work / "b.json").write_text(content)
    code, out, err = run(capsys, "scan", "--baseline", "b.json", ".")
    assert code == 2 and out == ""
    assert err.startswith("cloudtrail-kms-lint: b.json: ") and message in err


def test_baseline_accepts_any_rule_id_form(work, capsys):
    run(capsys, "scan", "--write-baseline", "baseline.json", "cfn/unscoped-grant.yaml")
    doc = json.loads((work / "baseline.json").read_text())
    doc["findings"][0]["rule"] = "W9105"
    (work / "baseline.json").write_text(json.dumps(doc))
    assert Baseline.load(str(work / "baseline.json")).entries
    code, doc = scan_json(capsys, "--baseline", "baseline.json", "--fail-on", "warning", "cfn/unscoped-grant.yaml")
    assert code == 0 and reported(doc) == []


def test_stable_message():
    a = ("The key policy of LogKey (templates/trail.yaml:30) does not allow cloudtrail.amazonaws.com "
         "kms:GenerateDataKey* for this trail: statement AllowCloudTrail (line 40) is conditioned on "
         "aws:SourceArn arn:aws:cloudtrail:us-east-1:111122223333:trail/other.")
    b = a.replace("templates/trail.yaml:30", "/abs/checkout/templates/trail.yaml:33").replace("line 40", "line 43")
    assert stable_message(a) == stable_message(b)
    assert fingerprint(a) == fingerprint(b) and len(fingerprint(a)) == 16
    assert stable_message(a) == ("The key policy of LogKey (trail.yaml) does not allow cloudtrail.amazonaws.com "
                                 "kms:GenerateDataKey* for this trail: statement AllowCloudTrail is conditioned on "
                                 "aws:SourceArn arn:aws:cloudtrail:us-east-1:111122223333:trail/other.")
    # what the finding says still matters
    assert fingerprint(a) != fingerprint(a.replace("trail/other", "trail/another"))
    # ARNs and account ids are not taken for positions
    assert "111122223333:key/1234" in stable_message("uses arn:aws:kms:eu-west-1:111122223333:key/1234 (line 7)")
    assert stable_message("a module file does not parse (modules/x/main.tf:12), so") == "a module file does not parse (main.tf), so"


def test_baseline_files_are_relative_to_the_baseline(work, capsys):
    os.makedirs(work / "ci")
    run(capsys, "scan", "--write-baseline", "ci/baseline.json", "tf")
    rows = json.loads((work / "ci" / "baseline.json").read_text())["findings"]
    assert {r["file"] for r in rows} == {"../tf/main.tf"}
    code, doc = scan_json(capsys, "--baseline", "ci/baseline.json", "tf")
    assert code == 0 and reported(doc) == []
