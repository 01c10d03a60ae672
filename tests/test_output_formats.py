"""Output formats: text, json, sarif, github."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import re
from pathlib import Path

import pytest

from cloudtrail_kms_lint import catalogue
from cloudtrail_kms_lint.model import Finding, Location, Related, TraceStep
from cloudtrail_kms_lint.output import FORMATS, render
from cloudtrail_kms_lint.output.github import escape_data, escape_property
from cloudtrail_kms_lint.output.sarif import artifact_uri, camel_case, relative_path
from cloudtrail_kms_lint.report import InputError, ScanResult

HERE = Path(__file__).parent
SCHEMA_PATH = HERE / "sarif-schema-2.1.0.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

LONG_PATH = "infrastructure/environments/production/eu-west-1/cloudtrail/organisation-trail-with-kms.template.yaml"

FINDING_KEYS = ["rule", "level", "resource", "resource_type", "file", "line", "key", "message", "related", "trace", "fix"]


def _findings() -> list[Finding]:
    return [
        Finding(
            rule="CTKMS004",
            level=catalogue.ERROR,
            resource="LogTrail",
            resource_type="AWS::CloudTrail::Trail",
            file="templates/trail.yaml",
            line=12,
            key="LogKey",
            message=(
                "The key policy of LogKey (templates/trail.yaml:30) does not allow cloudtrail.amazonaws.com "
                "kms:GenerateDataKey* for this trail: statement AllowCloudTrail (line 40) is conditioned on "
                "aws:SourceArn arn:aws:cloudtrail:us-east-1:111122223333:trail/other."
            ),
            related=[Related(Location("templates/trail.yaml", 40), "this statement's condition excludes the trail")],
            trace=[
                TraceStep("KMSKeyId: !GetAtt LogKey.Arn", Location("templates/trail.yaml", 12)),
                TraceStep("LogKey is an AWS::KMS::Key", Location("templates/trail.yaml", 28)),
                TraceStep("the trail ARN is built from AWS::AccountId"),
            ],
        ),
        Finding(
            rule="CTKMS005",
            level=catalogue.WARNING,
            resource="LogTrail",
            resource_type="AWS::CloudTrail::Trail",
            file="templates/trail.yaml",
            line=12,
            key="LogKey",
            message="The statement AllowCloudTrail (line 40) lets CloudTrail encrypt any account's trail.",
            related=[Related(Location("templates/trail.yaml", 40), "unscoped statement")],
        ),
        Finding(
            rule="CTKMS001",
            level=catalogue.ERROR,
            resource='module.audit.aws_cloudtrail.this["main"]',
            resource_type="aws_cloudtrail",
            file="modules\\audit\\main.tf",
            line=7,
            key=None,
            message="The trail has no KMS key (kms_key_id is not set).",
        ),
        Finding(
            rule="CTKMS007",
            level=catalogue.WARNING,
            resource="aws_cloudtrail.main",
            resource_type="aws_cloudtrail",
            file="main.tf",
            line=None,
            key="var.kms_key_arn",
            message="var.kms_key_arn has no default,\nso the key policy: was not verified (100% unknown).",
            trace=[TraceStep("kms_key_id = var.kms_key_arn", Location("main.tf", 9))],
        ),
        Finding(
            rule="CTKMS002",
            level=catalogue.ERROR,
            resource="OrgTrail",
            resource_type="AWS::CloudTrail::Trail",
            file=LONG_PATH,
            line=3,
            key="alias/aws/cloudtrail",
            message="alias/aws/cloudtrail is an AWS managed key: CloudTrail cannot use it.",
        ),
    ]


def _errors() -> list[InputError]:
    return [
        InputError("broken.yaml", 3, "mapping values are not allowed here\n  in line 3, column 9"),
        InputError("weird, name:1.tf", None, "Unable to parse: unexpected token"),
    ]


def _result(findings=None, errors=None) -> ScanResult:
    return ScanResult(
        findings=_findings() if findings is None else findings,
        errors=_errors() if errors is None else errors,
        files_scanned=6,
        resources_checked=4,
    )


@pytest.fixture(scope="module")
def sarif_validator():
    import jsonschema  # a test dependency: never skip the schema check silently
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


# ---------------------------------------------------------------- generic


def test_formats_tuple():
    assert FORMATS == ("text", "json", "sarif", "github", "junit")


def test_unknown_format():
    with pytest.raises(ValueError):
        render(_result(), "xml")


@pytest.mark.parametrize("fmt", FORMATS)
def test_deterministic_and_order_independent(fmt):
    base = render(_result(), fmt, tool_version="1.2.3")
    assert render(_result(), fmt, tool_version="1.2.3") == base
    rng = random.Random(1234)
    for _ in range(10):
        findings, errors = _findings(), _errors()
        rng.shuffle(findings)
        rng.shuffle(errors)
        assert render(_result(findings, errors), fmt, tool_version="1.2.3") == base


@pytest.mark.parametrize("fmt", FORMATS)
def test_ties_on_sort_key_are_order_independent(fmt):
    a = Finding("CTKMS004", "error", "T", "aws_cloudtrail", "m.tf", 1, "k1", "same")
    b = Finding("CTKMS004", "error", "T", "aws_cloudtrail", "m.tf", 1, "k2", "same")
    assert a.sort_key() == b.sort_key()
    assert render(_result([a, b], []), fmt) == render(_result([b, a], []), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_input_not_mutated(fmt):
    result = _result()
    before = copy.deepcopy(result)
    render(result, fmt, verbose=True, color=True)
    assert result == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_ends_with_newline(fmt):
    assert render(_result(), fmt).endswith("\n")


# ---------------------------------------------------------------- json


def test_json_schema_exact():
    doc = json.loads(render(_result(), "json"))
    assert list(doc) == ["version", "findings", "errors", "summary"]
    assert doc["version"] == "1"
    for f in doc["findings"]:
        assert list(f) == FINDING_KEYS
        for r in f["related"]:
            assert list(r) == ["file", "line", "message"]
        for t in f["trace"]:
            assert list(t) == ["text", "file", "line"]
    for e in doc["errors"]:
        assert list(e) == ["file", "line", "message"]
    assert doc["summary"] == _result().summary()


def test_json_values_and_order():
    doc = json.loads(render(_result(), "json"))
    files = [(f["file"], f["line"] or 0) for f in doc["findings"]]
    assert files == sorted(files)
    first = doc["findings"][0]
    # plain string order of file: "infrastructure/..." sorts before "main.tf"
    assert first == {
        "rule": "CTKMS002",
        "level": "error",
        "resource": "OrgTrail",
        "resource_type": "AWS::CloudTrail::Trail",
        "file": LONG_PATH,
        "line": 3,
        "key": "alias/aws/cloudtrail",
        "message": "alias/aws/cloudtrail is an AWS managed key: CloudTrail cannot use it.",
        "related": [],
        "trace": [],
        "fix": None,
    }
    by_rule = {f["rule"]: f for f in doc["findings"]}
    f4 = by_rule["CTKMS004"]
    assert f4["file"] == "templates/trail.yaml" and f4["line"] == 12 and f4["key"] == "LogKey"
    assert f4["related"] == [{"file": "templates/trail.yaml", "line": 40, "message": "this statement's condition excludes the trail"}]
    assert f4["trace"][0] == {"text": "KMSKeyId: !GetAtt LogKey.Arn", "file": "templates/trail.yaml", "line": 12}
    assert f4["trace"][2] == {"text": "the trail ARN is built from AWS::AccountId", "file": None, "line": None}
    f7 = by_rule["CTKMS007"]
    assert f7["line"] is None
    assert by_rule["CTKMS001"]["key"] is None
    assert doc["errors"] == [
        {"file": "broken.yaml", "line": 3, "message": "mapping values are not allowed here\n  in line 3, column 9"},
        {"file": "weird, name:1.tf", "line": None, "message": "Unable to parse: unexpected token"},
    ]
    assert doc["summary"]["errors"] == 3 and doc["summary"]["warnings"] == 2 and doc["summary"]["input_errors"] == 2


def test_json_formatting():
    out = render(_result(), "json")
    assert out.startswith('{\n  "version": "1",\n')
    assert out.endswith("}\n") and not out.endswith("\n\n")
    r = _result([Finding("CTKMS001", "error", "Trail", "AWS::CloudTrail::Trail", "t.yaml", 1, None, "ключ — nicht gesetzt")], [])
    assert "ключ — nicht gesetzt" in render(r, "json")  # ensure_ascii=False


def test_json_empty():
    doc = json.loads(render(ScanResult(files_scanned=2), "json"))
    assert doc["findings"] == [] and doc["errors"] == []
    assert doc["summary"]["files_scanned"] == 2


# ---------------------------------------------------------------- sarif


def _sarif(result=None, **kw):
    return json.loads(render(result or _result(), "sarif", **kw))


def test_sarif_validates(sarif_validator):
    for result in (_result(), ScanResult(), _result(errors=[])):
        doc = _sarif(result)
        errors = sorted(sarif_validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_sarif_top_level():
    doc = _sarif(tool_version="9.8.7")
    assert doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert doc["version"] == "2.1.0"
    assert len(doc["runs"]) == 1
    run = doc["runs"][0]
    assert "originalUriBaseIds" not in run
    driver = run["tool"]["driver"]
    assert driver["name"] == "cloudtrail-kms-lint"
    assert driver["version"] == "9.8.7"
    assert driver["informationUri"].startswith("https://")


def test_sarif_rules_are_the_whole_catalogue():
    rules = _sarif(ScanResult())["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in catalogue.RULES]
    for desc, rule in zip(rules, catalogue.RULES):
        assert desc["name"] == camel_case(rule.title)
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", desc["name"])
        assert desc["shortDescription"]["text"] == rule.title
        assert rule.fails_when in desc["fullDescription"]["text"]
        assert rule.rationale in desc["help"]["text"] and rule.remediation in desc["help"]["text"]
        assert desc["help"]["markdown"]
        assert desc["helpUri"] == rule.help_uri
        assert desc["defaultConfiguration"]["level"] == rule.level
        props = desc["properties"]
        assert props["security-severity"] == rule.security_severity
        float(props["security-severity"])
        assert props["tags"] == ["security", "cloudtrail", "kms"]


def test_camel_case():
    assert camel_case("Trail or event data store has no KMS key") == "TrailOrEventDataStoreHasNoKMSKey"
    assert camel_case("CloudTrail's encrypt grant is not scoped to your trails") == "CloudTrailsEncryptGrantIsNotScopedToYourTrails"
    assert camel_case("No scoped kms:Decrypt grant for log readers") == "NoScopedKmsDecryptGrantForLogReaders"


def test_sarif_results():
    run = _sarif()["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert len(results) == len(_findings())
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == catalogue.BY_ID[res["ruleId"]].level
        loc = res["locations"][0]["physicalLocation"]
        uri = loc["artifactLocation"]["uri"]
        assert loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert "\\" not in uri and not uri.startswith("/") and "://" not in uri
        if "region" in loc:
            assert loc["region"]["startLine"] >= 1
        fp = res["partialFingerprints"]
        assert list(fp) == ["cloudtrailKmsLint/v1"]
        assert re.fullmatch(r"[0-9a-f]{64}", fp["cloudtrailKmsLint/v1"])
    by_rule = {r["ruleId"]: r for r in results}
    r4 = by_rule["CTKMS004"]
    assert r4["message"]["text"].startswith("The key policy of LogKey")
    assert r4["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "templates/trail.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 12},
    }
    assert r4["relatedLocations"] == [
        {
            "id": 1,
            "physicalLocation": {
                "artifactLocation": {"uri": "templates/trail.yaml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 40},
            },
            "message": {"text": "this statement's condition excludes the trail"},
        },
        # then the resolution trace: every step that has a location
        {
            "id": 2,
            "physicalLocation": {
                "artifactLocation": {"uri": "templates/trail.yaml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 12},
            },
            "message": {"text": "via: KMSKeyId: !GetAtt LogKey.Arn"},
        },
        {
            "id": 3,
            "physicalLocation": {
                "artifactLocation": {"uri": "templates/trail.yaml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 28},
            },
            "message": {"text": "via: LogKey is an AWS::KMS::Key"},
        },
    ]
    # Windows separators become '/'
    assert by_rule["CTKMS001"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "modules/audit/main.tf"
    # no line: no region
    assert "region" not in by_rule["CTKMS007"]["locations"][0]["physicalLocation"]


def test_sarif_fingerprint_ignores_line():
    f = _findings()[0]
    moved = copy.deepcopy(f)
    moved.line = 99
    moved.message = "other words"
    a = _sarif(_result([f], []))["runs"][0]["results"][0]["partialFingerprints"]
    b = _sarif(_result([moved], []))["runs"][0]["results"][0]["partialFingerprints"]
    assert a == b
    expected = hashlib.sha256("\x00".join((f.rule, f.resource, f.file)).encode()).hexdigest()
    assert a["cloudtrailKmsLint/v1"] == expected
    other = copy.deepcopy(f)
    other.resource = "OtherTrail"
    c = _sarif(_result([other], []))["runs"][0]["results"][0]["partialFingerprints"]
    assert c != a


def test_sarif_line_zero_has_no_region(sarif_validator):
    f = Finding("CTKMS001", "error", "T", "aws_cloudtrail", "m.tf", 0, None, "no key")
    doc = _sarif(_result([f], []))
    assert "region" not in doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert not list(sarif_validator.iter_errors(doc))


def test_sarif_input_errors():
    inv = _sarif()["runs"][0]["invocations"]
    assert len(inv) == 1
    assert inv[0]["executionSuccessful"] is False
    notes = inv[0]["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["error", "error"]
    assert notes[0]["message"]["text"].startswith("mapping values")
    assert notes[0]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "broken.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 3},
    }
    assert "region" not in notes[1]["locations"][0]["physicalLocation"]
    assert _sarif(_result(errors=[]))["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_sarif_uri_encoding():
    # ':' must not look like a URI scheme; spaces are percent-encoded
    assert artifact_uri("weird, name:1.tf") == "weird,%20name%3A1.tf"
    assert artifact_uri("./a/./b/../c.yaml") == "a/c.yaml"
    assert artifact_uri("dir\\sub\\x.tf") == "dir/sub/x.tf"


def test_relative_path_absolute_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cwd = os.getcwd()
    assert relative_path(os.path.join(cwd, "stacks", "trail.yaml")) == "stacks/trail.yaml"
    outside = relative_path("/elsewhere/x/trail.yaml")
    assert outside == "elsewhere/x/trail.yaml"
    assert relative_path("C:\\repo\\trail.yaml") == "repo/trail.yaml"
    assert relative_path("file:///elsewhere/t.yaml") == "elsewhere/t.yaml"


def test_sarif_absolute_path_is_made_relative(tmp_path, monkeypatch, sarif_validator):
    monkeypatch.chdir(tmp_path)
    f = Finding("CTKMS001", "error", "T", "aws_cloudtrail", os.path.join(os.getcwd(), "tf", "main.tf"), 4, None, "no key")
    doc = _sarif(_result([f], []))
    assert doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "tf/main.tf"
    assert not list(sarif_validator.iter_errors(doc))


def test_sarif_unknown_rule_has_no_rule_index(sarif_validator):
    f = Finding("CTKMS999", "warning", "T", "aws_cloudtrail", "m.tf", 1, None, "x")
    doc = _sarif(_result([f], []))
    res = doc["runs"][0]["results"][0]
    assert "ruleIndex" not in res and res["ruleId"] == "CTKMS999"
    assert not list(sarif_validator.iter_errors(doc))


# ---------------------------------------------------------------- text


def test_text_layout():
    out = render(_result(), "text")
    lines = out.splitlines()
    assert "templates/trail.yaml" in lines  # file header
    assert "  templates/trail.yaml:12  CTKMS004  error  LogTrail" in lines
    assert "  templates/trail.yaml:12  CTKMS005  warning  LogTrail" in lines
    assert "  main.tf  CTKMS007  warning  aws_cloudtrail.main" in lines
    assert "  broken.yaml:3  error  mapping values are not allowed here" in lines
    assert "  weird, name:1.tf  error  Unable to parse: unexpected token" in lines
    # each finding has a fix line with the catalogue remediation
    assert sum(1 for line in lines if line.startswith("    fix: ")) == len(_findings())
    fix = catalogue.BY_ID["CTKMS007"].remediation
    joined = " ".join(line.strip() for line in lines)
    assert "fix: " + fix in joined
    assert lines[-1] == "3 errors, 2 warnings in 6 files (2 input errors)."
    # grouped: every finding line comes after its own file header
    header = lines.index("templates/trail.yaml")
    assert lines.index("  templates/trail.yaml:12  CTKMS004  error  LogTrail") > header
    # the message is wrapped and indented
    assert "    The key policy of LogKey (templates/trail.yaml:30) does not allow" in lines
    # not verbose: no trace, no related
    assert "via:" not in out and "see:" not in out


def test_text_verbose():
    out = render(_result(), "text", verbose=True)
    lines = out.splitlines()
    assert "    via: KMSKeyId: !GetAtt LogKey.Arn (templates/trail.yaml:12)" in lines
    assert "    via: the trail ARN is built from AWS::AccountId" in lines
    assert "    see: this statement's condition excludes the trail (templates/trail.yaml:40)" in lines
    assert "    via: kms_key_id = var.kms_key_arn (main.tf:9)" in lines


@pytest.mark.parametrize("verbose", [False, True])
def test_text_fits_80_columns(verbose):
    out = render(_result(), "text", verbose=verbose)
    for line in out.splitlines():
        if len(line) > 80:
            # only lines carrying an unbreakable token may overflow
            assert LONG_PATH in line, line
            assert max(len(tok) for tok in line.split()) > 40, line


def test_text_wraps_long_resource_header():
    f = Finding("CTKMS001", "error", "module.a.module.b.module.c.aws_cloudtrail.organisation_trail", "aws_cloudtrail",
                "stacks/organisation/cloudtrail/main.tf", 123, None, "no key " * 40)
    for line in render(_result([f], []), "text").splitlines():
        assert len(line) <= 80, line


def test_text_color_only_when_asked():
    plain = render(_result(), "text")
    assert "\x1b" not in plain
    colored = render(_result(), "text", color=True, verbose=True)
    assert "\x1b[31merror\x1b[0m" in colored
    assert "\x1b[33mwarning\x1b[0m" in colored
    assert "\x1b[1mCTKMS004\x1b[0m" in colored
    # colour is the only difference
    assert ANSI.sub("", colored) == render(_result(), "text", verbose=True)


def test_text_color_does_not_change_wrapping():
    f = Finding("CTKMS001", "error", "module.a.module.b.module.c.aws_cloudtrail.organisation_trail", "aws_cloudtrail",
                "stacks/organisation/cloudtrail/main.tf", 123, None, "no key")
    r = _result([f], [])
    assert ANSI.sub("", render(r, "text", color=True)) == render(r, "text")


def test_text_escapes_control_characters():
    f = Finding("CTKMS001", "error", "Evil\x1b[2J", "AWS::CloudTrail::Trail", "t.yaml", 1, None, "bad\x07 name")
    out = render(_result([f], []), "text")
    assert "\x1b" not in out and "\x07" not in out
    assert "Evil\\x1b[2J" in out


def test_text_summary_variants():
    assert render(ScanResult(files_scanned=3), "text") == "No findings in 3 files.\n"
    assert render(ScanResult(files_scanned=1), "text") == "No findings in 1 file.\n"
    only_err = _result([_findings()[2]], [])
    assert render(only_err, "text").splitlines()[-1] == "1 error in 6 files."
    only_warn = _result([_findings()[1]], [])
    assert render(only_warn, "text").splitlines()[-1] == "1 warning in 6 files."
    errs = ScanResult(errors=[_errors()[0]], files_scanned=3)
    assert render(errs, "text").splitlines()[-1] == "No findings in 3 files (1 input error)."


# ---------------------------------------------------------------- github


def test_github_commands():
    lines = render(_result(), "github").splitlines()
    assert len(lines) == len(_findings()) + len(_errors())
    assert all(line.startswith(("::error ", "::warning ")) for line in lines)
    assert "::error file=templates/trail.yaml,line=12,title=CTKMS004 LogTrail::The key policy of LogKey" in "\n".join(lines)
    assert "::warning file=templates/trail.yaml,line=12,title=CTKMS005 LogTrail::The statement AllowCloudTrail" in "\n".join(lines)
    assert "::error file=modules/audit/main.tf,line=7,title=CTKMS001 module.audit.aws_cloudtrail.this[\"main\"]::" in "\n".join(lines)


def test_github_escaping():
    lines = render(_result(), "github").splitlines()
    warn = [line for line in lines if "CTKMS007" in line]
    assert warn == [
        "::warning file=main.tf,title=CTKMS007 aws_cloudtrail.main::"
        "var.kms_key_arn has no default,%0Aso the key policy: was not verified (100%25 unknown)."
    ]
    errs = [line for line in lines if "title=input error" in line]
    assert errs == [
        "::error file=broken.yaml,line=3,title=input error::mapping values are not allowed here%0A  in line 3, column 9",
        "::error file=weird%2C name%3A1.tf,title=input error::Unable to parse: unexpected token",
    ]


def test_github_escape_functions():
    assert escape_data("a%b\r\nc:d,e") == "a%25b%0D%0Ac:d,e"
    assert escape_property("a%b\r\nc:d,e") == "a%25b%0D%0Ac%3Ad%2Ce"


def test_github_no_line_omits_line():
    f = Finding("CTKMS007", "warning", "T", "aws_cloudtrail", "m.tf", None, None, "x")
    assert render(_result([f], []), "github") == "::warning file=m.tf,title=CTKMS007 T::x\n"


def test_github_empty():
    assert render(ScanResult(), "github") == ""
