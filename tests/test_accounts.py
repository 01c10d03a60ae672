"""The configuration's "accounts": the accounts trails live in, so a policy that names another account fails."""

import json
from pathlib import Path

from cloudtrail_kms_lint.cli import main

TEMPLATE = (Path(__file__).resolve().parents[1] / "examples" / "cloudformation" / "compliant-trail.yaml").read_text()
# The same compliant template, but its encrypt grant names a literal account instead of ${AWS::AccountId}.
LITERAL = TEMPLATE.replace(
    'kms:EncryptionContext:aws:cloudtrail:arn: !Sub "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"',
    'kms:EncryptionContext:aws:cloudtrail:arn: "arn:aws:cloudtrail:*:999999999999:trail/*"')


def scan(tmp_path, capsys, config=None):
    (tmp_path / "trail.yaml").write_text(LITERAL)
    if config is not None:
        (tmp_path / ".cloudtrail-kms-lint.toml").write_text(config)
    code = main(["scan", "--format", "json", "--config", str(tmp_path / ".cloudtrail-kms-lint.toml"), str(tmp_path)]
                if config is not None else ["scan", "--format", "json", "--no-config", str(tmp_path)])
    return code, json.loads(capsys.readouterr().out)


def test_literal_account_is_taken_as_the_trails_own_without_configuration(tmp_path, capsys):
    assert LITERAL != TEMPLATE
    code, doc = scan(tmp_path, capsys)
    assert code == 0 and doc["findings"] == []


def test_configured_accounts_make_another_account_a_mismatch(tmp_path, capsys):
    code, doc = scan(tmp_path, capsys, 'accounts = ["111122223333"]\n')
    assert code == 1
    [f] = doc["findings"]
    assert f["rule"] == "CTKMS004"
    assert "999999999999" in f["message"] and "111122223333" in f["message"]


def test_configured_account_that_the_policy_names_passes(tmp_path, capsys):
    code, doc = scan(tmp_path, capsys, 'accounts = ["111122223333", "999999999999"]\n')
    assert code == 0 and doc["findings"] == []
