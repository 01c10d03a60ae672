"""Inline suppressions (HCL comments, CloudFormation Metadata), their warnings, and how every format shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudtrail_kms_lint.cli import main
from cloudtrail_kms_lint.model import Finding, Location, Suppression
from cloudtrail_kms_lint.output import render
from cloudtrail_kms_lint.report import ScanResult, ScanWarning
from cloudtrail_kms_lint.suppressions import hcl_comments, hcl_directives, resource_labels

ROOT = Path(__file__).resolve().parents[1]
CFN = ROOT / "examples" / "cloudformation"
TF_WILDCARD = ROOT / "examples" / "terraform" / "wildcard-policy" / "main.tf"  # CTKMS003, 004, 006 on aws_cloudtrail.main
SCHEMA_PATH = Path(__file__).parent / "sarif-schema-2.1.0.json"

TRAIL_HEADER = 'resource "aws_cloudtrail" "main" {\n'
KEY_HEADER = 'resource "aws_kms_key" "trail" {\n'


@pytest.fixture
def work(tmp_path, monkeypatch):
    """An empty repository as the working directory (config discovery stops at its .git)."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys, *argv):
    code, out, err = run(capsys, "scan", "--format", "json", *argv)
    assert "Traceback" not in err
    return code, json.loads(out)


def reported(doc):
    return sorted(f["rule"] for f in doc["findings"] if "suppressed" not in f)


def suppressed(doc):
    return sorted((f["rule"], f["suppressed"]["kind"], f["suppressed"]["reason"]) for f in doc["findings"] if "suppressed" in f)


def tf(work, text_before_trail="", text_in_trail="", text_before_key="", name="main.tf"):
    src = TF_WILDCARD.read_text()
    assert src.count(TRAIL_HEADER) == 1 and src.count(KEY_HEADER) == 1
    src = src.replace(TRAIL_HEADER, text_before_trail + TRAIL_HEADER + text_in_trail)
    src = src.replace(KEY_HEADER, text_before_key + KEY_HEADER)
    d = work / "tf"
    d.mkdir(exist_ok=True)
    (d / name).write_text(src)
    return d


@pytest.fixture(scope="module")
def sarif_validator():
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


# ---------------------------------------------------------------- Terraform comments


def test_unsuppressed_baseline_of_the_fixture(work, capsys):
    tf(work)
    code, doc = scan_json(capsys, ".")
    assert code == 1
    assert reported(doc) == ["CTKMS003", "CTKMS004", "CTKMS006"]
    assert "warnings" not in doc and doc["summary"]["suppressed"] == 0


def test_hcl_comment_directly_above_the_block(work, capsys):
    tf(work, text_before_trail="# cloudtrail-kms-lint:ignore CTKMS006 readers decrypt through a grant\n")
    code, doc = scan_json(capsys, ".")
    assert code == 1
    assert reported(doc) == ["CTKMS003", "CTKMS004"]
    assert suppressed(doc) == [("CTKMS006", "inline", "readers decrypt through a grant")]
    assert doc["summary"]["suppressed"] == 1
    assert doc["summary"]["errors"] == 2 and doc["summary"]["by_rule"] == {"CTKMS003": 1, "CTKMS004": 1}
    assert "warnings" not in doc


def test_hcl_comment_inside_the_block_several_ids_and_id_forms(work, capsys):
    # "//" comment, comma-separated ids in the checkov and cfn-lint forms, reason after "--"
    tf(work, text_in_trail="  // cloudtrail-kms-lint:ignore CKV_CTKMS_3, E9104,CTKMS006 -- tracked in SEC-12\n")
    code, doc = scan_json(capsys, ".")
    assert code == 0  # suppressed findings never affect the exit code
    assert reported(doc) == []
    assert suppressed(doc) == [("CTKMS003", "inline", "tracked in SEC-12"), ("CTKMS004", "inline", "tracked in SEC-12"),
                               ("CTKMS006", "inline", "tracked in SEC-12")]


def test_hcl_comment_run_above_the_block(work, capsys):
    tf(work, text_before_trail="# cloudtrail-kms-lint:ignore CTKMS004 the key is replaced in PLAT-7\n# (owner: platform team)\n")
    _, doc = scan_json(capsys, ".")
    assert reported(doc) == ["CTKMS003", "CTKMS006"]


def test_comment_above_a_different_block_does_not_suppress(work, capsys):
    tf(work, text_before_key="# cloudtrail-kms-lint:ignore CTKMS004 this is on the key, not the trail\n")
    code, doc = scan_json(capsys, ".")
    assert code == 1
    assert reported(doc) == ["CTKMS003", "CTKMS004", "CTKMS006"]
    assert suppressed(doc) == []
    [w] = doc["warnings"]
    assert w["file"] == "tf/main.tf" and w["line"] == 9
    assert "suppresses nothing" in w["message"]


def test_comment_separated_by_a_blank_line_does_not_suppress(work, capsys):
    tf(work, text_before_trail="# cloudtrail-kms-lint:ignore CTKMS004 too far away\n\n")
    _, doc = scan_json(capsys, ".")
    assert reported(doc) == ["CTKMS003", "CTKMS004", "CTKMS006"]
    assert "suppresses nothing" in doc["warnings"][0]["message"]


def test_comment_inside_a_different_block_does_not_suppress(work, capsys):
    src = TF_WILDCARD.read_text().replace(KEY_HEADER, KEY_HEADER + "  # cloudtrail-kms-lint:ignore CTKMS004 on the key\n")
    (work / "main.tf").write_text(src)
    _, doc = scan_json(capsys, ".")
    assert reported(doc) == ["CTKMS003", "CTKMS004", "CTKMS006"]


def test_marker_in_a_string_or_heredoc_is_not_a_comment(work, capsys):
    tf(work, text_in_trail='  tags = { note = "# cloudtrail-kms-lint:ignore CTKMS004 not a comment" }\n')
    _, doc = scan_json(capsys, ".")
    assert reported(doc) == ["CTKMS003", "CTKMS004", "CTKMS006"]


def test_reasonless_suppression_is_honoured_and_reported(work, capsys):
    tf(work, text_before_trail="# cloudtrail-kms-lint:ignore CTKMS006\n")
    code, doc = scan_json(capsys, ".")
    assert suppressed(doc) == [("CTKMS006", "inline", None)]
    [w] = doc["warnings"]
    assert (w["file"], w["line"]) == ("tf/main.tf", 37)
    assert "has no reason" in w["message"] and "CTKMS006" in w["message"]
    assert list(doc) == ["version", "findings", "errors", "warnings", "summary"]
    assert code == 1  # warnings never change the exit code; CTKMS003/004 still fail


def test_unknown_rule_id_is_reported(work, capsys):
    tf(work, text_before_trail="# cloudtrail-kms-lint:ignore CTKMS999, CTKMS006 typo in the first id\n")
    _, doc = scan_json(capsys, ".")
    assert suppressed(doc) == [("CTKMS006", "inline", "typo in the first id")]
    assert ["unknown rule id 'CTKMS999'" in w["message"] for w in doc["warnings"]] == [True]


def test_no_inline_suppressions(work, capsys):
    tf(work, text_before_trail="# cloudtrail-kms-lint:ignore CTKMS003,CTKMS004,CTKMS006\n")
    code, doc = scan_json(capsys, ".")
    assert code == 0 and reported(doc) == []
    code, doc = scan_json(capsys, "--no-inline-suppressions", ".")
    assert code == 1
    assert reported(doc) == ["CTKMS003", "CTKMS004", "CTKMS006"]
    assert suppressed(doc) == [] and "warnings" not in doc and doc["summary"]["suppressed"] == 0


def test_suppression_in_a_module_applies_to_its_instances(work, capsys):
    mod = work / "modules" / "trail"
    mod.mkdir(parents=True)
    src = TF_WILDCARD.read_text().replace(TRAIL_HEADER, "# cloudtrail-kms-lint:ignore CTKMS006 readers use grants\n" + TRAIL_HEADER)
    (mod / "main.tf").write_text(src)
    (work / "main.tf").write_text('module "audit" {\n  source = "./modules/trail"\n}\n')
    _, doc = scan_json(capsys, ".")
    assert {f["resource"] for f in doc["findings"]} == {"module.audit.aws_cloudtrail.main"}
    assert reported(doc) == ["CTKMS003", "CTKMS004"]
    assert suppressed(doc) == [("CTKMS006", "inline", "readers use grants")]


def test_event_data_store_block(work, capsys):
    (work / "main.tf").write_text(
        "# cloudtrail-kms-lint:ignore CTKMS001 lake encrypted by the org account\n"
        'resource "aws_cloudtrail_event_data_store" "lake" {\n  name = "lake"\n}\n')
    code, doc = scan_json(capsys, ".")
    assert code == 0
    assert suppressed(doc) == [("CTKMS001", "inline", "lake encrypted by the org account")]


def test_resource_labels():
    assert resource_labels('module.a["x.y"].module.b.aws_cloudtrail.this[0]') == ("aws_cloudtrail", "this")
    assert resource_labels('aws_cloudtrail.regional["eu-west-1"]') == ("aws_cloudtrail", "regional")
    assert resource_labels("data.aws_kms_key.k") is None


TRICKY_HCL = '''# top
// second
locals {
  url   = "https://example.com/#anchor" // after a string
  nest  = "${var.x == "#" ? "a//b" : "}"}" # after an interpolation with braces
  esc   = "quote \\" # still a string"
  lit   = "$${not} # interpolation"
  obj   = { for k, v in var.m : k => "${v}#" }
  doc   = <<-EOT
    # a heredoc line, not a comment
    ${var.y} // neither
    EOT
  /* block # comment */ after = 1
}
/*
multi
*/
# last
'''


def test_lexer_matches_the_hcl_parser():
    hcl2 = pytest.importorskip("hcl2")
    if not hasattr(hcl2, "parses_to_tree"):
        pytest.skip("not python-hcl2")
    tree = hcl2.parses_to_tree(TRICKY_HCL)
    expected = set()
    for tok in tree.scan_values(lambda v: getattr(v, "type", "") == "NL_OR_COMMENT"):
        line = tok.line
        for part in str(tok).split("\n"):
            if part.strip().startswith(("#", "//")):
                expected.add((line, part.strip()))
            line += 1
    mine = hcl_comments(TRICKY_HCL)
    assert {(line, text.strip()) for line, text in mine.comments} == expected
    assert {line for line, _ in mine.comments} == {1, 2, 4, 5, 18}
    assert mine.comment_only_lines == {1, 2, 15, 16, 17, 18}


def test_directive_syntax():
    warnings: list = []
    text = ("# cloudtrail-kms-lint:ignore CTKMS004 reason one\n"
            "#cloudtrail-kms-lint:ignore w9105: reason two\n"
            "// cloudtrail-kms-lint:ignore\n"
            "# cloudtrail-kms-lint:ignored CTKMS004 not ours\n"
            "# see cloudtrail-kms-lint:ignore CTKMS004 (not at the start)\n"
            "# cloudtrail-kms-lint:ignore:CTKMS004 malformed\n")
    ds = hcl_directives(text, "m.tf", warnings)
    assert [(d.line, d.rules, d.reason) for d in ds] == [(1, ("CTKMS004",), "reason one"), (2, ("CTKMS005",), "reason two")]
    assert [(w.line, w.message.split(":")[0]) for w in warnings] == [
        (3, "a cloudtrail-kms-lint suppression that names no rule suppresses nothing"),
        (6, "cannot read this cloudtrail-kms-lint suppression"),
    ]


# ---------------------------------------------------------------- CloudFormation Metadata


def cfn(work, metadata: str, source: str = "unscoped-grant.yaml", resource: str = "Trail", name="t.yaml"):
    text = (CFN / source).read_text()
    header = f"  {resource}:\n    Type: AWS::"
    assert text.count(header) == 1
    text = text.replace(header, f"  {resource}:\n    Metadata:\n{metadata}    Type: AWS::")
    (work / name).write_text(text)


def test_cloudformation_metadata(work, capsys):
    cfn(work, "      cloudtrail-kms-lint:\n        ignore:\n          - rule: W9105\n            reason: the organisation shares this key\n")
    code, doc = scan_json(capsys, "--fail-on", "warning", ".")
    assert code == 0
    assert suppressed(doc) == [("CTKMS005", "inline", "the organisation shares this key")]
    assert "warnings" not in doc


def test_cloudformation_metadata_json_template(work, capsys):
    from cfnlint.decode import decode

    doc, problems = decode(str(CFN / "wildcard-in-stringequals.yaml"))
    assert not problems
    doc["Resources"]["Trail"]["Metadata"] = {"cloudtrail-kms-lint": {"ignore": [
        {"rule": "CTKMS004", "reason": "fixed in the next release"}, {"rule": ["CTKMS006"]}]}}
    (work / "t.json").write_text(json.dumps(doc, indent=2))
    code, out = scan_json(capsys, ".")
    assert code == 0
    assert suppressed(out) == [("CTKMS004", "inline", "fixed in the next release"), ("CTKMS006", "inline", None)]
    [w] = out["warnings"]
    assert w["file"] == "t.json" and isinstance(w["line"], int) and "has no reason" in w["message"]


def test_cloudformation_reasonless_and_unknown(work, capsys):
    cfn(work, "      cloudtrail-kms-lint:\n        ignore:\n          - CTKMS005\n          - rule: CTKMS123\n            reason: typo\n")
    code, doc = scan_json(capsys, ".")
    assert suppressed(doc) == [("CTKMS005", "inline", None)]
    messages = [(w["line"], w["message"]) for w in doc["warnings"]]
    assert len(messages) == 2
    assert any("has no reason" in m and line == 40 for line, m in messages), messages
    assert any("unknown rule id 'CTKMS123'" in m for _, m in messages)


def test_cloudformation_metadata_on_the_key_does_not_suppress(work, capsys):
    cfn(work, "      cloudtrail-kms-lint:\n        ignore:\n          - rule: CTKMS005\n            reason: wrong resource\n",
        resource="TrailKey")
    _, doc = scan_json(capsys, ".")
    assert reported(doc) == ["CTKMS005"] and suppressed(doc) == []
    assert "suppresses nothing" in doc["warnings"][0]["message"]


def test_cloudformation_other_rules_not_suppressed_and_cfn_lint_metadata_untouched(work, capsys):
    cfn(work, "      cfn-lint:\n        config:\n          ignore_checks: [E9104]\n"
              "      cloudtrail-kms-lint:\n        ignore:\n          - rule: CTKMS006\n            reason: readers use grants\n",
        source="wildcard-in-stringequals.yaml")
    code, doc = scan_json(capsys, ".")
    assert code == 1
    assert reported(doc) == ["CTKMS004"]  # cfn-lint's own form is cfn-lint's business
    assert suppressed(doc) == [("CTKMS006", "inline", "readers use grants")]


def test_cfn_lint_still_honours_its_own_suppression_next_to_ours(work, monkeypatch):
    pytest.importorskip("cfnlint")
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    monkeypatch.setenv("HOME", str(work))

    def lint(name):
        return sorted(m.rule.id for m in Runner(ConfigMixIn(["--append-rules", str(ROOT / "plugin"), "--", name])).run())

    cfn(work, "      cloudtrail-kms-lint:\n        ignore:\n          - rule: CTKMS005\n            reason: shared\n", name="ours.yaml")
    assert lint("ours.yaml") == ["W9105"]  # our Metadata is ours: cfn-lint neither honours nor rejects it
    cfn(work, "      cfn-lint:\n        config:\n          ignore_checks: [W9105]\n"
              "      cloudtrail-kms-lint:\n        ignore:\n          - rule: CTKMS005\n            reason: shared\n",
        name="both.yaml")
    assert lint("both.yaml") == []


# ---------------------------------------------------------------- output formats


def test_text_hides_suppressed_unless_asked(work, capsys):
    tf(work, text_before_trail="# cloudtrail-kms-lint:ignore CTKMS006 readers use grants\n",
       text_before_key="# cloudtrail-kms-lint:ignore CTKMS004\n")
    code, out, _ = run(capsys, "scan", ".")
    assert code == 1
    assert "CTKMS006" not in out
    assert "  tf/main.tf:9  warning  this suppression of CTKMS004 suppresses nothing: it" in out.splitlines()
    assert "  tf/main.tf:9  warning  the suppression of CTKMS004 has no reason (it is" in out.splitlines()
    assert out.splitlines()[-1] == "2 errors in 1 file (1 suppressed, 2 suppression warnings)."
    code, out, _ = run(capsys, "scan", "--show-suppressed", ".")
    lines = out.splitlines()
    assert code == 1
    assert "  tf/main.tf:42  CTKMS006  error  aws_cloudtrail.main  [suppressed]" in lines
    assert "    suppressed: inline: readers use grants" in lines
    assert lines[-1] == "2 errors in 1 file (1 suppressed, 2 suppression warnings)."


def test_github_output(work, capsys):
    tf(work, text_before_trail="# cloudtrail-kms-lint:ignore CTKMS006\n")
    code, out, _ = run(capsys, "scan", "--format", "github", ".")
    assert code == 1
    lines = out.splitlines()
    assert not any("CTKMS006 aws_cloudtrail" in line for line in lines)
    assert [line for line in lines if "title=suppression warning" in line] == [
        "::warning file=tf/main.tf,line=37,title=suppression warning::the suppression of CTKMS006 has no reason "
        "(it is honoured): say why, # cloudtrail-kms-lint:ignore CTKMS006 <reason>"]


def test_sarif_output(work, capsys, sarif_validator):
    tf(work, text_before_trail="# cloudtrail-kms-lint:ignore CTKMS006\n# cloudtrail-kms-lint:ignore CTKMS003 accepted risk\n")
    (work / "pyproject.toml").write_text('[tool.cloudtrail-kms-lint]\nignore = ["CTKMS004"]\n')
    code, out, _ = run(capsys, "scan", "--format", "sarif", ".")
    assert code == 0
    doc = json.loads(out)
    errors = sorted(sarif_validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    run_ = doc["runs"][0]
    by_rule = {r["ruleId"]: r for r in run_["results"]}
    assert set(by_rule) == {"CTKMS003", "CTKMS004", "CTKMS006"}
    s3, s4, s6 = (by_rule[r]["suppressions"] for r in ("CTKMS003", "CTKMS004", "CTKMS006"))
    assert s3[0]["kind"] == "inSource" and s3[0]["justification"] == "accepted risk"
    assert s3[0]["location"]["physicalLocation"]["region"]["startLine"] == 38
    assert s6[0]["kind"] == "inSource" and "justification" not in s6[0]
    assert s4[0]["kind"] == "external" and s4[0]["justification"] == "ignored in pyproject.toml (ignore)"
    inv = run_["invocations"][0]
    assert inv["executionSuccessful"] is True
    [note] = inv["toolExecutionNotifications"]
    assert note["level"] == "warning" and "has no reason" in note["message"]["text"]
    assert note["locations"][0]["physicalLocation"]["region"]["startLine"] == 37


def _synthetic() -> ScanResult:
    f = Finding("CTKMS004", "error", "T", "AWS::CloudTrail::Trail", "t.yaml", 5, "K", "no grant")
    s = Finding("CTKMS005", "warning", "T", "AWS::CloudTrail::Trail", "t.yaml", 5, "K", "unscoped",
                suppressed=Suppression("baseline", "in the baseline b.json"))
    return ScanResult(findings=[f], suppressed=[s], warnings=[ScanWarning("t.yaml", 3, "a warning")], files_scanned=1)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_formats_deterministic_with_suppressions(fmt):
    import copy

    r = _synthetic()
    before = copy.deepcopy(r)
    assert render(r, fmt) == render(_synthetic(), fmt)
    assert r == before


def test_json_keys_with_suppressions():
    doc = json.loads(render(_synthetic(), "json"))
    assert list(doc) == ["version", "findings", "errors", "warnings", "summary"]
    assert [("suppressed" in f) for f in doc["findings"]] == [False, True]
    assert doc["findings"][1]["suppressed"] == {"reason": "in the baseline b.json", "kind": "baseline"}
    assert doc["warnings"] == [{"file": "t.yaml", "line": 3, "message": "a warning"}]
    assert doc["summary"]["suppressed"] == 1 and doc["summary"]["warnings"] == 0 and doc["summary"]["errors"] == 1
    assert _synthetic().failing(fail_on="warning") == _synthetic().findings


def test_suppression_location_default():
    assert Suppression("inline").reason is None and Suppression("inline", "r", Location("a.tf", 2)).location.line == 2


def test_sarif_with_every_kind_validates(sarif_validator):
    r = _synthetic()
    r.suppressed.append(Finding("CTKMS006", "error", "T", "AWS::CloudTrail::Trail", "t.yaml", 5, "K", "no reader",
                                suppressed=Suppression("inline", None, Location("t.yaml", 4))))
    r.suppressed.append(Finding("CTKMS003", "error", "T", "AWS::CloudTrail::Trail", "t.yaml", 5, "K", "no describe",
                                suppressed=Suppression("config", "ignored in pyproject.toml (ignore)")))
    doc = json.loads(render(r, "sarif"))
    errors = sorted(sarif_validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    sup = {x["ruleId"]: x.get("suppressions") for x in doc["runs"][0]["results"]}
    assert sup["CTKMS004"] is None
    assert sup["CTKMS005"][0]["kind"] == "external" and sup["CTKMS005"][0]["justification"] == "in the baseline b.json"
    assert sup["CTKMS003"][0]["kind"] == "external"
    assert sup["CTKMS006"][0] == {"kind": "inSource", "location": {"physicalLocation": {
        "artifactLocation": {"uri": "t.yaml", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 4}}},
        "properties": {"kind": "inline"}}
    text = render(r, "text")
    assert "CTKMS006" not in text and text.splitlines()[-1] == "1 error in 1 file (3 suppressed, 1 suppression warning)."
    from cloudtrail_kms_lint.output import text as text_format

    shown = text_format.render(r, show_suppressed=True).splitlines()
    assert "    suppressed: inline: (no reason given)" in shown
    assert "    suppressed: baseline: in the baseline b.json" in shown


def test_resource_line_ranges_without_a_parser_match_the_parser():
    """Suppressions find their resource block with the block splitter (no python-hcl2 on a warm
    run): the ranges are those the parser gives, for every .tf file of the fixture corpora."""
    pytest.importorskip("hcl2")
    from cloudtrail_kms_lint.suppressions import _read_text, _tf_blocks

    root = Path(__file__).resolve().parent / "fixtures"
    checked = 0
    for path in sorted(root.rglob("*.tf")):
        text = _read_text(str(path))
        fast = _tf_blocks(str(path), "x.tf", text)
        slow = _tf_blocks(str(path), "x.tf")
        if slow and fast:
            assert fast == slow, path
            checked += 1
    assert checked > 50
