"""checkov's rendered Terraform values read back as data with symbols (``checkov_terraform.rendered``).

The inputs are what checkov 3.3 leaves in its graph's vertices for the corpus (see the
module docstring): Python reprs with unescaped nested quotes, interpolations that lost
their ``${}``, unevaluated expressions with and without ``${}``.
"""

from __future__ import annotations

import pytest

from cloudtrail_kms_lint.checkov_terraform.rendered import (
    ACCOUNT,
    PARTITION,
    Choice,
    Evaluator,
    Resolver,
    looks_like_expression,
)
from cloudtrail_kms_lint.values import Symbol, SymStr

pytestmark = pytest.mark.checkov


class FakeResolver(Resolver):
    """References become symbols named after them; env data sources as the real resolver does."""

    def __init__(self, values=None):
        self.seen: list = []
        self.values = values or {}

    def reference(self, parts, text, ctx):
        self.seen.append(text)
        if text in self.values:
            return self.values[text]
        if parts[0] == "data" and parts[1] == "aws_partition":
            return PARTITION
        if parts[0] == "data" and parts[1] == "aws_caller_identity":
            return ACCOUNT
        return Symbol(f"ref:{text}", "opaque", f"{text} is a reference")


def _ev(raw, values=None):
    r = FakeResolver(values)
    return Evaluator(r).value(raw, None), r


def test_substituted_interpolations_become_environment_symbols():
    v, _ = _ev("arn:data.aws_partition.current.partition:iam::data.aws_caller_identity.current.account_id:root")
    assert v == SymStr(("arn:", PARTITION, ":iam::", ACCOUNT, ":root"))
    v, _ = _ev("arn:${data.aws_partition.current.partition}:cloudtrail:*:${data.aws_caller_identity.current.account_id}:trail/*")
    assert v == SymStr(("arn:", PARTITION, ":cloudtrail:*:", ACCOUNT, ":trail/*"))


@pytest.mark.parametrize("text", ["alias/cloudtrail-logs", "alias/aws/cloudtrail", "1234abcd-12ab-34cd-56ef-1234567890ab",
                                  "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                                  "kms:EncryptionContext:aws:cloudtrail:arn", "cloudtrail.amazonaws.com", "Allow (logs)"])
def test_literal_text_stays_literal(text):
    assert not looks_like_expression(text)
    v, r = _ev(text)
    assert v == text and r.seen == []


def test_python_repr_with_unescaped_nested_quotes():
    raw = ("jsonencode({'Version': '2012-10-17', 'Statement': [{'Sid': 'Readers', 'Effect': 'Allow', "
           "'Principal': {'AWS': '[for role in ['SecurityAudit'] : \"arn:data.aws_partition.current.partition:iam::x:role/role\"]'}, "
           "'Action': 'kms:Decrypt', 'Resource': '*', 'Condition': {'Null': {'kms:EncryptionContext:aws:cloudtrail:arn': 'False'}}}]})")
    v, _ = _ev(raw)
    st = v["Statement"][0]
    assert st["Sid"] == "Readers" and st["Action"] == "kms:Decrypt"
    principal = st["Principal"]["AWS"]
    assert isinstance(principal, Symbol) and "for expression" in principal.reason and "SecurityAudit" in principal.reason
    assert st["Condition"] == {"Null": {"kms:EncryptionContext:aws:cloudtrail:arn": "False"}}


def test_unevaluated_functions_are_named():
    v, _ = _ev('${file("${path.module}/policy.json")}')
    assert isinstance(v, Symbol) and "policy.json" in v.describe() and v.describe().startswith("checkov did not evaluate")
    v, _ = _ev("${provider::aws::arn_build(data.aws_partition.current.partition, \"cloudtrail\", \"*\", "
               "data.aws_caller_identity.current.account_id, \"trail/*\")}")
    assert isinstance(v, Symbol) and "provider::aws::arn_build" in v.describe()


def test_bare_conditional_is_a_choice():
    v, r = _ev("var.encrypt_logs ? aws_kms_key.cloudtrail.arn : None")
    assert isinstance(v, Choice)
    assert v.label == "var.encrypt_logs"
    assert v.when_false is None and v.when_true == Symbol("ref:aws_kms_key.cloudtrail.arn", "opaque",
                                                          "aws_kms_key.cloudtrail.arn is a reference")
    v, _ = _ev("var.encrypt_logs ? aws_kms_key.cloudtrail.arn : None", {"var.encrypt_logs": False})
    assert v is None


def test_quoted_reference_index_and_nested_interpolations():
    raw = '["${{\'current\': \'${aws_kms_key.current.arn}\', \'legacy\': \'${aws_kms_key.legacy.arn}\'}["var.trail_key"]}"]'
    v, r = _ev(raw, {"var.trail_key": Symbol("var.trail_key", "opaque", "var.trail_key has no default")})
    assert isinstance(v, list) and len(v) == 1
    assert isinstance(v[0], Symbol) and v[0].describe() == "var.trail_key has no default"
    v, r = _ev(raw, {"var.trail_key": "legacy"})
    assert v == [Symbol("ref:aws_kms_key.legacy.arn", "opaque", "aws_kms_key.legacy.arn is a reference")]
    v, r = _ev("${${aws_kms_key.current.arn}}")
    assert v == Symbol("ref:aws_kms_key.current.arn", "opaque", "aws_kms_key.current.arn is a reference")


def test_instance_keys_stay_in_the_reference():
    _v, r = _ev("aws_kms_key.cloudtrail[0].arn")
    assert r.seen == ["aws_kms_key.cloudtrail[0].arn"]
    _v, r = _ev('${aws_kms_key.regional["eu-west-1"].arn}')
    assert r.seen == ['aws_kms_key.regional["eu-west-1"].arn']


def test_functions_over_rendered_values():
    unknown = Symbol("local.readers", "opaque", "checkov did not render local.readers")
    raw = "${jsonencode({'Version': '2012-10-17', 'Statement': '${concat([{'Sid': 'A'}], local.readers)}'})}"
    v, _ = _ev(raw, {"local.readers": unknown})
    assert v["Statement"][0] == {"Sid": "A"}
    assert isinstance(v["Statement"][1], Symbol) and v["Statement"][1].describe() == unknown.describe()
    v, _ = _ev("${length(var.arns) == 0 ? [] : [{'Sid': 'R', 'Principal': {'AWS': '${var.arns}'}}]}",
               {"var.arns": [SymStr(("arn:", PARTITION, ":iam::1:role/R"))]})
    assert v == [{"Sid": "R", "Principal": {"AWS": [SymStr(("arn:", PARTITION, ":iam::1:role/R"))]}}]
    v, _ = _ev("${length(var.arns) == 0 ? [] : ['x']}", {"var.arns": []})
    assert v == []


@pytest.mark.parametrize("raw", ["None", "null", None])
def test_null(raw):
    assert _ev(raw)[0] is None


def test_never_raises_on_garbage():
    for raw in ["${", "{'a': ", "jsonencode({'a': [}", "'''", "${a ? b}", "[for x in y", "${" * 200 + "}" * 200]:
        v, _ = _ev(raw)
        assert v is not None


def test_for_expressions_as_written():
    raw = '${[for r in var.roles : "arn:${data.aws_partition.current.partition}:iam::1:role/${r}" if r != "skip"]}'
    v, _ = _ev(raw, {"var.roles": ["a", "skip", "b"]})
    assert v == [SymStr(("arn:", PARTITION, ":iam::1:role/a")), SymStr(("arn:", PARTITION, ":iam::1:role/b"))]
    v, _ = _ev("${{for k, v in var.m : k => upper(v)}}", {"var.m": {"x": "y"}})
    assert v == {"x": "Y"}
    v, _ = _ev("${[for i, r in var.roles : i]}", {"var.roles": ["a", "b"]})
    assert v == [0, 1]
    unknown = Symbol("var.roles", "opaque", "var.roles has no default")
    v, _ = _ev("${[for r in var.roles : r]}", {"var.roles": unknown})
    assert isinstance(v, Symbol) and v.describe() == "var.roles has no default"


def test_a_for_expression_checkov_substituted_into_is_not_evaluated():
    """checkov renders ``role/${role}`` inside a for expression as ``role/role``: that text is
    not evaluated (the check reads the expression as written instead, where it can)."""
    v, _ = _ev("{'AWS': '[for role in ['SecurityAudit'] : \"arn:aws:iam::1:role/role\"]'}")
    assert isinstance(v["AWS"], Symbol) and "for expression" in v["AWS"].describe()
