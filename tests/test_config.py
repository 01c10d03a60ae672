"""The configuration file: discovery, every key, errors, and precedence of the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudtrail_kms_lint import config as config_mod
from cloudtrail_kms_lint.cli import main
from cloudtrail_kms_lint.config import Config, ConfigError, find_config, load_config

ROOT = Path(__file__).resolve().parents[1]
CFN = ROOT / "examples" / "cloudformation"
TF_WILDCARD = ROOT / "examples" / "terraform" / "wildcard-policy" / "main.tf"  # CTKMS003, 004, 006


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository with a CloudFormation and a Terraform trail; the working directory is its root."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "cfn").mkdir()
    (tmp_path / "cfn" / "unscoped.yaml").write_text((CFN / "unscoped-grant.yaml").read_text())  # CTKMS005 (warning)
    (tmp_path / "cfn" / "shared.yaml").write_text((CFN / "shared-key-from-another-stack.yaml").read_text())  # CTKMS007
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "main.tf").write_text(TF_WILDCARD.read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def scan_json(capsys, *argv):
    code, out, err = run(capsys, "scan", "--format", "json", *argv)
    assert out, err
    return code, json.loads(out)


def reported(doc):
    return sorted(f["rule"] for f in doc["findings"] if "suppressed" not in f)


def pyproject(root: Path, body: str) -> Path:
    p = root / "pyproject.toml"
    p.write_text('[project]\nname = "infra"\n\n[tool.cloudtrail-kms-lint]\n' + body)
    return p


@pytest.fixture
def captured(monkeypatch):
    """The ScanOptions the CLI builds (the scan itself still runs)."""
    import cloudtrail_kms_lint.scan as scan_mod

    seen = []
    real = scan_mod.scan

    def spy(options):
        seen.append(options)
        return real(options)

    monkeypatch.setattr(scan_mod, "scan", spy)
    return seen


# ---------------------------------------------------------------- discovery


def test_no_config_file(repo, capsys):
    assert find_config() is None
    code, doc = scan_json(capsys, ".")
    assert code == 1 and reported(doc) == ["CTKMS003", "CTKMS004", "CTKMS005", "CTKMS006", "CTKMS007"]


def test_pyproject_in_the_working_directory(repo, capsys):
    pyproject(repo, 'ignore = ["CTKMS005"]\n')
    assert find_config() == str(repo / "pyproject.toml")
    _, doc = scan_json(capsys, ".")
    assert "CTKMS005" not in reported(doc)


def test_found_in_a_parent_directory(repo, capsys, monkeypatch):
    (repo / ".cloudtrail-kms-lint.toml").write_text('select = ["CTKMS005"]\n')
    monkeypatch.chdir(repo / "cfn")
    assert find_config() == str(repo / ".cloudtrail-kms-lint.toml")
    _, doc = scan_json(capsys, "..")
    assert reported(doc) == ["CTKMS005"]


def test_discovery_stops_at_the_repository_root(tmp_path, monkeypatch):
    (tmp_path / ".cloudtrail-kms-lint.toml").write_text('select = ["CTKMS005"]\n')
    inner = tmp_path / "repo" / "sub"
    inner.mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    assert find_config(str(inner)) is None
    (tmp_path / "repo" / ".git").rmdir()
    (tmp_path / "repo" / ".git").write_text("gitdir: elsewhere\n")  # a worktree: .git is a file
    assert find_config(str(inner)) is None
    (tmp_path / "repo" / ".git").unlink()
    assert find_config(str(inner)) == str(tmp_path / ".cloudtrail-kms-lint.toml")


def test_pyproject_without_our_table_is_passed_over(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".cloudtrail-kms-lint.toml").write_text("")
    sub = tmp_path / "pkg"
    sub.mkdir()
    (sub / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["cloudtrail-kms-lint>=0.1"]\n')
    assert find_config(str(sub)) == str(tmp_path / ".cloudtrail-kms-lint.toml")
    (sub / "pyproject.toml").write_text('[tool.cloudtrail-kms-lint.per-path-ignores]\n"legacy/" = ["CTKMS005"]\n')
    assert find_config(str(sub)) == str(sub / "pyproject.toml")


def test_dedicated_file_wins_over_pyproject_in_the_same_directory(repo, capsys):
    pyproject(repo, 'select = ["CTKMS007"]\n')
    (repo / ".cloudtrail-kms-lint.toml").write_text('select = ["CTKMS005"]\n')
    _, doc = scan_json(capsys, ".")
    assert reported(doc) == ["CTKMS005"]


def test_config_option_chooses_the_file(repo, capsys):
    (repo / ".cloudtrail-kms-lint.toml").write_text('select = ["CTKMS005"]\n')
    (repo / "other.toml").write_text('select = ["CTKMS007"]\n')
    _, doc = scan_json(capsys, "--config", "other.toml", ".")
    assert reported(doc) == ["CTKMS007"]
    sub = repo / "conf"
    sub.mkdir()
    pyproject(sub, 'select = ["CTKMS003"]\n')
    _, doc = scan_json(capsys, "--config", "conf/pyproject.toml", ".")
    assert reported(doc) == ["CTKMS003"]
    _, doc = scan_json(capsys, "--no-config", ".")
    assert reported(doc) == ["CTKMS003", "CTKMS004", "CTKMS005", "CTKMS006", "CTKMS007"]


def test_config_and_no_config_exclude_each_other(repo, capsys):
    with pytest.raises(SystemExit) as e:
        main(["scan", "--config", "x.toml", "--no-config", "."])
    assert e.value.code == 2


# ---------------------------------------------------------------- keys


def test_select_with_any_id_form(repo, capsys):
    pyproject(repo, 'select = ["CKV_CTKMS_3", "E9104", "ctkms007"]\n')
    code, doc = scan_json(capsys, ".")
    assert reported(doc) == ["CTKMS003", "CTKMS004", "CTKMS007"]
    # rules that are not selected are not reported at all, not even as suppressed
    assert all("suppressed" not in f for f in doc["findings"]) and doc["summary"]["suppressed"] == 0


def test_ignore_suppresses_with_kind_config(repo, capsys):
    pyproject(repo, 'ignore = ["CTKMS003", "CKV_CTKMS_4", "E9106"]\n')
    code, doc = scan_json(capsys, ".")
    assert code == 0
    assert reported(doc) == ["CTKMS005", "CTKMS007"]
    sup = {f["rule"]: f["suppressed"] for f in doc["findings"] if "suppressed" in f}
    assert sup == {r: {"reason": "ignored in pyproject.toml (ignore)", "kind": "config"} for r in ("CTKMS003", "CTKMS004", "CTKMS006")}
    assert doc["summary"]["suppressed"] == 3


def test_per_path_ignores(repo, capsys):
    pyproject(repo, '[tool.cloudtrail-kms-lint.per-path-ignores]\n"tf/" = ["CTKMS003", "CTKMS006"]\n"unscoped.yaml" = ["CTKMS005"]\n'
                    '"/cfn/shared.yaml" = ["CTKMS003"]\n')
    _, doc = scan_json(capsys, ".")
    assert reported(doc) == ["CTKMS004", "CTKMS007"]
    reasons = sorted({f["suppressed"]["reason"] for f in doc["findings"] if "suppressed" in f})
    assert reasons == ["ignored in pyproject.toml (per-path-ignores 'tf/')", "ignored in pyproject.toml (per-path-ignores 'unscoped.yaml')"]


def test_per_path_patterns_are_relative_to_the_config_file(repo, capsys, monkeypatch):
    (repo / ".cloudtrail-kms-lint.toml").write_text('[per-path-ignores]\n"/tf/*.tf" = ["CTKMS003"]\n')
    monkeypatch.chdir(repo / "tf")
    _, doc = scan_json(capsys, ".")
    assert reported(doc) == ["CTKMS004", "CTKMS006"]


def test_strict_and_fail_on(repo, capsys):
    shared = "cfn/shared.yaml"  # CTKMS007 only
    assert run(capsys, "scan", shared)[0] == 0
    pyproject(repo, "strict = true\n")
    assert run(capsys, "scan", shared)[0] == 1
    pyproject(repo, 'fail-on = "warning"\n')
    assert run(capsys, "scan", "cfn/unscoped.yaml")[0] == 1


def test_exclude(repo, capsys):
    pyproject(repo, 'exclude = ["tf/", "shared.yaml"]\n')
    _, doc = scan_json(capsys, ".")
    assert {f["file"] for f in doc["findings"]} == {"cfn/unscoped.yaml"}
    _, doc = scan_json(capsys, "--exclude", "unscoped.yaml", ".")  # --exclude adds to the file's
    assert doc["findings"] == []


def test_vars_and_var_files(repo, capsys):
    (repo / "tf" / "main.tf").write_text(
        'variable "key" {}\nresource "aws_cloudtrail" "t" {\n  name = "t"\n  s3_bucket_name = "b"\n  kms_key_id = var.key\n}\n')
    (repo / "tf" / "aws-managed.tfvars").write_text('key = "alias/aws/cloudtrail"\n')
    (repo / "tf" / "bad.tfvars").write_text('key = "arn:aws:s3:::bucket"\n')
    _, doc = scan_json(capsys, "tf")
    assert reported(doc) == ["CTKMS007"]
    # var-files are relative to the configuration file
    cfg_dir = repo / "conf"
    cfg_dir.mkdir()
    (cfg_dir / ".cloudtrail-kms-lint.toml").write_text('var-files = ["../tf/aws-managed.tfvars"]\n')
    _, doc = scan_json(capsys, "--config", "conf/.cloudtrail-kms-lint.toml", "tf")
    assert [f["rule"] for f in doc["findings"]] == ["CTKMS002"] and "alias/aws/cloudtrail" in doc["findings"][0]["message"]
    # a --var-file comes after the file's var-files: its value wins
    _, doc = scan_json(capsys, "--config", "conf/.cloudtrail-kms-lint.toml", "--var-file", "tf/bad.tfvars", "tf")
    assert "alias/aws/cloudtrail" not in doc["findings"][0]["message"]
    pyproject(repo, '[tool.cloudtrail-kms-lint.vars]\nkey = "alias/aws/cloudtrail"\n')
    _, doc = scan_json(capsys, "tf")
    assert [f["rule"] for f in doc["findings"]] == ["CTKMS002"]


def test_parameters_merge(repo, capsys, captured):
    pyproject(repo, '[tool.cloudtrail-kms-lint.parameters]\nKeyArn = "alias/aws/cloudtrail"\nCount = 3\nFlag = true\n')
    run(capsys, "scan", "--parameter", "Count=4", "cfn/unscoped.yaml")
    assert captured[-1].parameters == {"KeyArn": "alias/aws/cloudtrail", "Count": "4", "Flag": "true"}


def test_parameters_reach_the_analysis(repo, capsys):
    (repo / "cfn" / "p.yaml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\nParameters:\n  KeyArn:\n    Type: String\nResources:\n"
        "  Trail:\n    Type: AWS::CloudTrail::Trail\n    Properties:\n      IsLogging: true\n"
        "      S3BucketName: b\n      KMSKeyId: !Ref KeyArn\n")
    _, doc = scan_json(capsys, "cfn/p.yaml")
    assert [f["rule"] for f in doc["findings"]] == ["CTKMS007"]
    pyproject(repo, '[tool.cloudtrail-kms-lint.parameters]\nKeyArn = "alias/aws/cloudtrail"\n')
    _, doc = scan_json(capsys, "cfn/p.yaml")
    assert [f["rule"] for f in doc["findings"]] == ["CTKMS002"]


def test_accounts_are_exposed_in_scan_options(repo, capsys, captured):
    pyproject(repo, 'accounts = ["111122223333", "444455556666"]\n')
    run(capsys, "scan", "cfn/unscoped.yaml")
    assert captured[-1].accounts == ["111122223333", "444455556666"]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("body, message", [
    ("colour = true\n", "unknown key 'colour' in [tool.cloudtrail-kms-lint]"),
    ("fail_on = 'warning'\n", "unknown key 'fail_on' in [tool.cloudtrail-kms-lint]; did you mean 'fail-on'?"),
    ("ignore = ['CTKMS999']\n", "'ignore': unknown rule id 'CTKMS999'"),
    ("select = 'CTKMS001'\n", "'select': must be a list of strings"),
    ("strict = 'yes'\n", "'strict': must be true or false"),
    ("fail-on = 'info'\n", "'fail-on': must be one of 'error', 'warning'"),
    ("accounts = ['12345']\n", "'accounts': '12345' is not a 12-digit AWS account id"),
    ("per-path-ignores = ['x']\n", "'per-path-ignores': must be a table"),
    ("[tool.cloudtrail-kms-lint.per-path-ignores]\n'x/' = ['NOPE']\n", "'per-path-ignores.x/': unknown rule id 'NOPE'"),
    ("[tool.cloudtrail-kms-lint.vars]\nregions = ['a']\n", "'vars.regions': must be a string, number or boolean"),
    ("select = [\n", "cannot parse the configuration"),
])
def test_bad_configuration_exits_2_naming_file_and_key(repo, capsys, body, message):
    pyproject(repo, body)
    code, out, err = run(capsys, "scan", ".")
    assert code == 2 and out == ""
    assert err.startswith("cloudtrail-kms-lint: pyproject.toml: "), err
    assert message in err, err


def test_unknown_key_in_dedicated_file(repo, capsys):
    (repo / ".cloudtrail-kms-lint.toml").write_text("[tool.cloudtrail-kms-lint]\nstrict = true\n")
    code, _, err = run(capsys, "scan", ".")
    assert code == 2 and "cloudtrail-kms-lint: .cloudtrail-kms-lint.toml: unknown key 'tool' in the configuration" in err


def test_missing_config_file(repo, capsys):
    code, _, err = run(capsys, "scan", "--config", "nope.toml", ".")
    assert code == 2 and "nope.toml: no such configuration file" in err
    (repo / "conf").mkdir()
    (repo / "conf" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    code, _, err = run(capsys, "scan", "--config", "conf/pyproject.toml", ".")
    assert code == 2 and "has no [tool.cloudtrail-kms-lint] table" in err


def test_without_a_toml_parser(repo, capsys, monkeypatch):
    """Python 3.10 without tomli: no problem without a configuration file, a clear error with one."""
    monkeypatch.setattr(config_mod, "toml_module", lambda: None)
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["cloudtrail-kms-lint"]\n')
    assert run(capsys, "scan", "cfn/unscoped.yaml")[0] == 0
    pyproject(repo, "strict = true\n")
    code, out, err = run(capsys, "scan", "cfn/unscoped.yaml")
    assert code == 2 and out == ""
    assert "pyproject.toml: reading the configuration needs Python 3.11 or later, or the 'tomli' package" in err


def test_load_config_values(tmp_path):
    p = tmp_path / ".cloudtrail-kms-lint.toml"
    p.write_text('select = ["W9105", "CTKMS005"]\nvar-files = ["env/prod.tfvars"]\naccounts = [111122223333]\n'
                 '[vars]\nflag = false\nn = 1.5\n')
    cfg = load_config(str(p))
    assert cfg.select == ["CTKMS005"]
    assert cfg.var_files == [str(tmp_path / "env" / "prod.tfvars")]
    assert cfg.accounts == ["111122223333"]
    assert cfg.vars == {"flag": "false", "n": "1.5"}
    assert cfg.directory == str(tmp_path)
    assert Config().select is None and Config().directory is None
    with pytest.raises(ConfigError):
        load_config(str(tmp_path / "missing.toml"))


# ---------------------------------------------------------------- precedence


def test_command_line_overrides_the_file(repo, capsys, captured):
    pyproject(repo, 'strict = true\nfail-on = "warning"\n[tool.cloudtrail-kms-lint.vars]\nkey = "from-file"\nother = "kept"\n')
    assert run(capsys, "scan", "cfn/shared.yaml")[0] == 1  # strict from the file
    assert run(capsys, "scan", "--no-strict", "cfn/shared.yaml")[0] == 1  # still fails: fail-on warning
    assert run(capsys, "scan", "--no-strict", "--fail-on", "error", "cfn/shared.yaml")[0] == 0
    assert run(capsys, "scan", "--fail-on", "error", "cfn/shared.yaml")[0] == 1  # strict still from the file
    assert run(capsys, "scan", "--fail-on", "error", "cfn/unscoped.yaml")[0] == 0
    run(capsys, "scan", "--var", "key=from-cli", "cfn/shared.yaml")
    assert captured[-1].variables == {"key": "from-cli", "other": "kept"}


def test_inline_and_config_together(repo, capsys):
    text = (repo / "tf" / "main.tf").read_text().replace(
        'resource "aws_cloudtrail" "main" {', '# cloudtrail-kms-lint:ignore CTKMS003 inline wins\nresource "aws_cloudtrail" "main" {')
    (repo / "tf" / "main.tf").write_text(text)
    pyproject(repo, 'ignore = ["CTKMS003"]\n')
    _, doc = scan_json(capsys, "tf")
    [f] = [f for f in doc["findings"] if f["rule"] == "CTKMS003"]
    assert f["suppressed"] == {"reason": "inline wins", "kind": "inline"}
    _, doc = scan_json(capsys, "--no-inline-suppressions", "tf")
    [f] = [f for f in doc["findings"] if f["rule"] == "CTKMS003"]
    assert f["suppressed"]["kind"] == "config"  # the configuration still applies


# ---------------------------------------------------------------- docs/configuration.md

DOC = ROOT / "docs" / "configuration.md"


def _fenced(lang: str) -> list[str]:
    import re

    return [m.group(1) for m in re.finditer(r"^```" + lang + r"\n(.*?)^```$", DOC.read_text(), re.S | re.M)]


def test_doc_documents_every_key():
    text = DOC.read_text()
    for key in config_mod.KEYS:
        assert f"| `{key}` |" in text, key


def test_doc_toml_examples_load(tmp_path):
    blocks = _fenced("toml")
    assert len(blocks) == 2
    (tmp_path / "pyproject.toml").write_text(blocks[0])
    cfg = load_config(str(tmp_path / "pyproject.toml"))
    assert cfg.ignore == ["CTKMS005"] and cfg.per_path_ignores["legacy/"] == ["CTKMS006"] and cfg.vars and cfg.parameters
    (tmp_path / ".cloudtrail-kms-lint.toml").write_text(blocks[1])
    cfg = load_config(str(tmp_path / ".cloudtrail-kms-lint.toml"))
    assert cfg.strict is True and len(cfg.select) == 4


def test_doc_baseline_example_loads(tmp_path):
    from cloudtrail_kms_lint.baseline import Baseline

    [block] = _fenced("json")
    (tmp_path / "b.json").write_text(block)
    assert len(Baseline.load(str(tmp_path / "b.json")).entries) == 1


def test_doc_command_lines_parse():
    import shlex

    from cloudtrail_kms_lint.cli import build_parser

    lines = [line.strip() for line in DOC.read_text().splitlines() if line.strip().startswith("cloudtrail-kms-lint scan")]
    assert len(lines) >= 3
    for line in lines:
        build_parser().parse_args(shlex.split(line)[1:])


def test_doc_hcl_and_yaml_examples_suppress(tmp_path, monkeypatch, capsys):
    """The Terraform example in the document suppresses what it says."""
    [hcl] = _fenced("hcl")
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    key = TF_WILDCARD.read_text().split('resource "aws_cloudtrail"')[0]
    (tmp_path / "main.tf").write_text(key + 'resource "aws_s3_bucket" "logs" {\n  bucket = "b"\n}\n' + hcl)
    _, doc = scan_json(capsys, ".")
    sup = {f["rule"]: f["suppressed"]["reason"] for f in doc["findings"] if "suppressed" in f}
    assert sup == {"CTKMS004": "readers decrypt through a KMS grant", "CTKMS006": "readers decrypt through a KMS grant"}
    assert "warnings" not in doc
