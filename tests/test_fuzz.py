"""Property-based tests: generated and mutated Terraform, CloudFormation and plan JSON through the CLI.

Hypothesis generates CloudFormation templates (trails, event data stores,
keys and aliases whose properties are random intrinsics, key policies of every
shape with every field's type swapped), Terraform modules (random blocks,
attributes and expressions, a child module, files for file()/templatefile())
and plan JSON (the plan's skeleton with random values), writes them to a
temporary directory, sometimes mutated (truncated, random bytes inserted,
lines duplicated, a value nested thousands deep), and scans them with
``cloudtrail_kms_lint.cli.main`` in-process. The guarantees (docs/security.md):

* nothing escapes: ``main`` returns, stderr has no traceback and no "internal error";
* the exit code is 0, 1 or 2; it is 2 exactly when there are input errors;
* the JSON report parses, and a second run gives byte-identical JSON (and SARIF);
* every finding's rule is a catalogue id and its file is one of the inputs;
* no finding says "the analysis failed" (a caught crash: a bug, even though it is reported);
* an input that does not parse is not silent: a template that mentions CloudTrail and does not
  decode, or a .tf file that does not parse in a module with a trail, has an error entry.

The suite runs a bounded, derandomized number of examples per test
(``CKL_FUZZ_EXAMPLES``, default 60, a few seconds each). A longer run with fresh random examples::

    CKL_FUZZ_EXAMPLES=5000 python -m pytest -q tests/test_fuzz.py -p no:cacheprovider

(docs/security.md). A failure prints the generated files' content so that it can
become a case in tests/fixtures/hostile/.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
pytest.importorskip("hcl2", reason="the Terraform front end needs python-hcl2")
pytest.importorskip("cfnlint", reason="the CloudFormation front end needs cfn-lint")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cloudtrail_kms_lint import catalogue  # noqa: E402
from cloudtrail_kms_lint.cli import main  # noqa: E402

EXAMPLES = int(os.environ.get("CKL_FUZZ_EXAMPLES", "60"))
LONG_RUN = "CKL_FUZZ_EXAMPLES" in os.environ
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG_RUN,  # the suite's run is the same on every machine; a long run explores
    database=None,  # nothing written under the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=LONG_RUN,
)


# ================================================================== shared values

ODD_TEXT = st.sampled_from([
    "", " ", "*", "?", "kms:*", "kms:GenerateDataKey*", "kms:Decrypt", "kms:DescribeKey", "Allow", "Deny", "allow",
    "cloudtrail.amazonaws.com", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:kms:us-east-1:111122223333:alias/logs", "alias/aws/cloudtrail", "alias/logs", "mrk-" + "0" * 32,
    "arn:aws:iam::111122223333:root", "111122223333", "arn:aws:cloudtrail:*:111122223333:trail/*",
    "arn:${AWS::Partition}:iam::${AWS::AccountId}:root", "${!Literal}", "${", "}", "{{resolve:ssm:/x}}",
    "\u0000", "\ufeff", "\u202e", "\ud7ff", "é", "日本", "🔑", "\\", '"', "'", "\n", "\t", "%{if}", "${var.x}",
    "x" * 5000, "*a" * 3000,
])
TEXT = st.one_of(ODD_TEXT, st.text(max_size=20))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(10 ** 30), 10 ** 30),
                   st.floats(allow_nan=False, allow_infinity=False), TEXT)


def _json_like(leaf, max_leaves: int = 12):
    return st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(TEXT, c, max_size=4)),
                        max_leaves=max_leaves)


JSON_VALUE = _json_like(SCALAR)


def _swapped(good):
    """Mostly the right type, sometimes any JSON value at all."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: good if ok else JSON_VALUE)


# ================================================================== CloudFormation

CFN_NAMES = ["LogKey", "OtherKey", "LogAlias", "Trail", "Store", "Param", "KeyParam", "UseCmk", "Missing",
             "AWS::AccountId", "AWS::Partition", "AWS::Region", "AWS::NoValue", "AWS::StackName"]
CFN_NAME = st.sampled_from(CFN_NAMES)
OPS = ["StringEquals", "StringLike", "StringNotEquals", "ArnLike", "ArnEquals", "Bool", "Null", "StringEqualsIfExists",
       "ForAnyValue:StringLike", "ForAllValues:StringEquals", "NumericLessThan", "IpAddress", "Unknown"]
CKEYS = ["kms:EncryptionContext:aws:cloudtrail:arn", "aws:SourceArn", "aws:SourceAccount", "aws:PrincipalArn",
         "kms:CallerAccount", "kms:ViaService", "aws:PrincipalOrgID", "weird"]


def _intrinsic(children):
    return st.one_of(
        st.builds(lambda n: {"Ref": n}, st.one_of(CFN_NAME, children)),
        st.builds(lambda n, a: {"Fn::GetAtt": [n, a]}, CFN_NAME, st.sampled_from(["Arn", "KeyId", "Name", "x"])),
        st.builds(lambda s: {"Fn::GetAtt": s}, st.one_of(st.sampled_from(["LogKey.Arn", "Trail.Arn", "x"]), children)),
        st.builds(lambda s: {"Fn::Sub": s}, st.one_of(TEXT, st.sampled_from(["arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/logs", "${LogKey.Arn}", "${Missing}"]))),
        st.builds(lambda s, v: {"Fn::Sub": [s, v]}, TEXT, st.dictionaries(TEXT, children, max_size=2)),
        st.builds(lambda sep, items: {"Fn::Join": [sep, items]}, st.one_of(TEXT, children), st.one_of(st.lists(children, max_size=4), children)),
        st.builds(lambda c, a, b: {"Fn::If": [c, a, b]}, st.one_of(CFN_NAME, children), children, children),
        st.builds(lambda a: {"Fn::If": a}, children),
        st.builds(lambda i, items: {"Fn::Select": [i, items]}, st.one_of(st.integers(-2, 5), children), children),
        st.builds(lambda v: {"Fn::ImportValue": v}, children),
        st.builds(lambda a: {"Fn::FindInMap": a}, st.lists(st.one_of(TEXT, children), max_size=4)),
        st.builds(lambda sep, s: {"Fn::Split": [sep, s]}, TEXT, children),
        st.builds(lambda v: {"Fn::ToJsonString": v}, children),
        st.builds(lambda n: {"Condition": n}, CFN_NAME),
        st.builds(lambda f, v: {f: v}, st.sampled_from(["Fn::Base64", "Fn::Cidr", "Fn::GetAZs", "Fn::Length", "Fn::Nope"]), children),
    )


CFN_VALUE = st.recursive(SCALAR, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(TEXT, c, max_size=3),
                                                     _intrinsic(c)), max_leaves=10)


GOOD_STATEMENTS = [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
     "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow CloudTrail to describe key", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
     "Action": "kms:DescribeKey", "Resource": "*"},
    {"Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
     "Action": "kms:GenerateDataKey*", "Resource": "*",
     "Condition": {"StringEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit"},
                   "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:111122223333:trail/*"}}},
    {"Sid": "Allow log readers", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt", "kms:ReEncryptFrom"],
     "Resource": "*", "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333"},
                                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:111122223333:trail/*"}}},
    {"Sid": "Deny outside the org", "Effect": "Deny", "Principal": "*", "NotAction": "kms:Describe*", "Resource": "*",
     "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-123"}, "Bool": {"aws:PrincipalIsAWSService": "false"}}},
    {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:role/x"}, "Action": "kms:*", "Resource": "*",
     "Condition": {"Null": {"kms:EncryptionContext:aws:cloudtrail:arn": "false"}, "ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "aws:*"}}},
]
FIELDS = ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"]


@st.composite
def _statement(draw, value=None):
    """A real statement (AWS's own examples), with some fields removed, added or replaced by any value."""
    value = value if value is not None else CFN_VALUE
    st_ = dict(draw(st.sampled_from(GOOD_STATEMENTS)))
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from(FIELDS))
        how = draw(st.sampled_from(["drop", "swap", "swap", "other"]))
        if how == "drop":
            st_.pop(field, None)
        elif how == "swap":
            st_[field] = draw(value)
        else:
            st_[field] = draw(st.sampled_from(GOOD_STATEMENTS)).get(field, draw(value))
    return st_


def _policy_doc(value=None):
    value = value if value is not None else CFN_VALUE
    statements = st.one_of(st.lists(_statement(value), min_size=1, max_size=5),
                           st.lists(st.one_of(_statement(value), value), max_size=4), _statement(value), value)
    return st.one_of(st.fixed_dictionaries({"Version": st.just("2012-10-17"), "Statement": statements}),
                     st.fixed_dictionaries({"Statement": statements}, optional={"Version": value}))


def _cfn_policy():
    doc = _policy_doc()
    return st.one_of(doc, doc, doc, doc.map(lambda d: json.dumps(d, default=str)), CFN_VALUE,
                     st.builds(lambda d: {"Fn::Sub": json.dumps(d, default=str)}, doc))


def _rarely(good, bad=None):
    """Nearly always ``good``; one time in ten any value."""
    bad = bad if bad is not None else JSON_VALUE
    return st.sampled_from([True] * 9 + [False]).flatmap(lambda ok: good if ok else bad)


SUPPRESSION = st.one_of(st.sampled_from(["CTKMS004", "CTKMS001 the reason", "E9104, W9107", "CKV_CTKMS_6", "nope", ""]),
                        JSON_VALUE, st.fixed_dictionaries({"rule": st.one_of(st.sampled_from(["CTKMS004", "CTKMS007"]), JSON_VALUE)},
                                                          optional={"reason": JSON_VALUE, "other": JSON_VALUE}))
CFN_METADATA = st.one_of(JSON_VALUE, st.builds(lambda v: {"cloudtrail-kms-lint": v}, st.one_of(
    JSON_VALUE, st.fixed_dictionaries({"ignore": st.one_of(st.lists(SUPPRESSION, max_size=3), JSON_VALUE)},
                                      optional={"extra": JSON_VALUE}))))

KEY_REFERENCE = st.one_of(
    st.just({"Ref": "LogKey"}), st.just({"Ref": "LogKey"}), st.just({"Fn::GetAtt": ["LogKey", "Arn"]}),
    st.just({"Fn::GetAtt": "LogKey.KeyId"}), st.just({"Ref": "LogAlias"}), st.just("alias/logs"),
    st.just({"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/logs"}),
    st.just({"Fn::If": ["UseCmk", {"Ref": "LogKey"}, {"Ref": "AWS::NoValue"}]}),
    st.just({"Fn::If": ["UseCmk", {"Ref": "LogKey"}, {"Ref": "OtherKey"}]}),
    st.just({"Ref": "KeyParam"}), st.just({"Fn::ImportValue": "shared-key"}), CFN_VALUE)


def _cfn_resource(rtype: str):
    if rtype == "AWS::KMS::Key":
        props = st.fixed_dictionaries({"KeyPolicy": _cfn_policy()},
                                      optional={"KeySpec": _swapped(st.sampled_from(["SYMMETRIC_DEFAULT", "RSA_2048"]))})
    elif rtype == "AWS::KMS::Alias":
        props = st.fixed_dictionaries({"AliasName": _rarely(st.sampled_from(["alias/logs", "alias/aws/cloudtrail"])),
                                       "TargetKeyId": _rarely(st.sampled_from([{"Ref": "LogKey"}, {"Fn::GetAtt": ["LogKey", "Arn"]},
                                                                               {"Ref": "OtherKey"}, {"Ref": "LogAlias"}]), CFN_VALUE)})
    elif rtype == "AWS::CloudTrail::Trail":
        props = st.fixed_dictionaries({"KMSKeyId": KEY_REFERENCE, "S3BucketName": st.just("audit-logs")},
                                      optional={"TrailName": _rarely(st.just("audit"), CFN_VALUE), "KmsKeyId": CFN_VALUE,
                                                "IsLogging": SCALAR})
    else:
        props = st.fixed_dictionaries({"KmsKeyId": KEY_REFERENCE}, optional={"Name": CFN_VALUE})
    return st.fixed_dictionaries({"Type": _rarely(st.just(rtype)), "Properties": _rarely(props)},
                                 optional={"Condition": _rarely(st.just("UseCmk"), CFN_NAME), "Metadata": CFN_METADATA})


def _cfn_template():
    resources = st.fixed_dictionaries(
        {"Trail": _cfn_resource("AWS::CloudTrail::Trail"), "LogKey": _cfn_resource("AWS::KMS::Key")},
        optional={"OtherKey": _cfn_resource("AWS::KMS::Key"), "LogAlias": _cfn_resource("AWS::KMS::Alias"),
                  "Store": _cfn_resource("AWS::CloudTrail::EventDataStore"), "Trail2": _cfn_resource("AWS::CloudTrail::Trail"),
                  "Bucket": st.just({"Type": "AWS::S3::Bucket"})})
    params = st.dictionaries(st.sampled_from(["Param", "KeyParam", "Missing"]),
                             _rarely(st.fixed_dictionaries({"Type": st.sampled_from(["String", "CommaDelimitedList", "AWS::SSM::Parameter::Value<String>"])},
                                                           optional={"Default": SCALAR})), max_size=2)
    conditions = st.dictionaries(st.sampled_from(["UseCmk", "Other", "C3"]),
                                 st.one_of(st.builds(lambda a, b: {"Fn::Equals": [a, b]}, CFN_VALUE, CFN_VALUE), CFN_VALUE), max_size=3)
    mappings = st.dictionaries(TEXT, st.dictionaries(TEXT, st.dictionaries(TEXT, CFN_VALUE, max_size=2), max_size=2), max_size=1)
    return st.fixed_dictionaries({"AWSTemplateFormatVersion": st.just("2010-09-09"), "Resources": _rarely(resources)},
                                 optional={"Parameters": _rarely(params), "Conditions": _rarely(conditions), "Mappings": mappings})


# ================================================================== Terraform

TF_REFS = ["var.key_arn", "var.policy", "var.flag", "local.key", "local.policy", "local.m", "aws_kms_key.logs.arn",
           "aws_kms_key.logs.key_id", "aws_kms_key.logs[0].arn", "aws_kms_key.other.arn", "aws_kms_alias.logs.arn",
           "aws_kms_alias.logs.name", "data.aws_iam_policy_document.p.json", "data.aws_kms_key.ext.arn",
           "data.aws_caller_identity.current.account_id", "data.aws_partition.current.partition",
           "data.aws_region.current.name", "module.child.key_arn", "module.child.policy", "module.missing.x",
           "path.module", "path.root", "path.cwd", "count.index", "each.key", "each.value", "terraform.workspace",
           "self.x", "nothing", "var", "local.key.x[0]", "var.list[*].x", "aws_kms_key.logs[*].arn"]
TF_FUNCS = ["jsonencode", "jsondecode", "file", "templatefile", "format", "join", "concat", "merge", "lookup",
            "coalesce", "coalescelist", "tolist", "toset", "tomap", "tostring", "tonumber", "tobool", "element",
            "replace", "length", "lower", "upper", "split", "flatten", "distinct", "compact", "contains", "keys",
            "values", "one", "try", "can", "trimspace", "startswith", "sensitive", "nosuchfunction", "provider::x::y"]


def _hcl_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("${", "$${").replace("%{", "%%{") + '"'


TF_ATOM = st.one_of(
    TEXT.map(_hcl_string),
    st.sampled_from(['"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"', '"alias/aws/cloudtrail"',
                     '"arn:aws:kms:us-east-1:111122223333:alias/logs"', '"${path.module}/policy.json"', '"policy.tpl"',
                     '"/etc/passwd"', '"../../outside"', '"${var.key_arn}"', '"arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"',
                     '"%{ if var.flag }a%{ else }b%{ endif }"', '"%{ for x in var.list }${x}%{ endfor }"', '"%{ if }"',
                     "<<EOT\n{\"Statement\": []}\nEOT\n", "<<-EOT\n  ${jsonencode({a = 1})}\n  EOT\n", "1", "0", "-1", "1.5",
                     "1e400", "99999999999999999999999999999", "true", "false", "null"]),
    st.sampled_from(TF_REFS),
)


def _tf_expr(children):
    return st.one_of(
        st.builds(lambda c, a, b: f"{c} ? {a} : {b}", children, children, children),
        st.builds(lambda xs: "[" + ", ".join(xs) + "]", st.lists(children, max_size=3)),
        st.builds(lambda kv: "{" + ", ".join(f"{k} = {v}" for k, v in kv) + "}",
                  st.lists(st.tuples(st.sampled_from(["Effect", "Action", "Principal", "Statement", "Version", "Condition", "Resource", '"a b"', "(var.k)"]), children), max_size=3)),
        st.builds(lambda f, xs: f"{f}(" + ", ".join(xs) + ")", st.sampled_from(TF_FUNCS), st.lists(children, max_size=3)),
        st.builds(lambda f, xs: f"{f}(" + ", ".join(xs) + "...)", st.sampled_from(TF_FUNCS), st.lists(children, min_size=1, max_size=2)),
        st.builds(lambda a: f"({a})", children),
        st.builds(lambda a, op, b: f"{a} {op} {b}", children, st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "&&", "||"]), children),
        st.builds(lambda op, a: f"{op}{a}", st.sampled_from(["!", "-"]), children),
        st.builds(lambda a, b: f"[for x in {a} : {b}]", children, st.one_of(children, st.just("x"))),
        st.builds(lambda a, b: f"{{for k, v in {a} : k => {b}}}", children, st.one_of(children, st.just("v"))),
        st.builds(lambda a, i: f"{a}[{i}]", children, st.one_of(st.sampled_from(["0", "1", '"k"', "-1"]), children)),
        st.builds(lambda a, n: f"{a}.{n}", children, st.sampled_from(["arn", "id", "x", "Statement"])),
        st.builds(lambda a: f'"prefix-${{{a}}}"', children),
    )


TF_EXPR = st.recursive(TF_ATOM, _tf_expr, max_leaves=8)


def _attrs(names: list[str]):
    return st.lists(st.tuples(st.sampled_from(names), TF_EXPR), max_size=4, unique_by=lambda t: t[0]).map(
        lambda kv: "".join(f"  {k} = {v}\n" for k, v in kv))


def _block(head: str, names: list[str], nested=st.just("")):
    return st.builds(lambda a, n: f"{head} {{\n{a}{n}}}\n", _attrs(names), nested)


POLICY_DOC_BODY = st.lists(
    st.builds(lambda a, p, c: f"  statement {{\n{a}{p}{c}  }}\n",
              _attrs(["effect", "actions", "not_actions", "resources", "sid"]),
              st.one_of(st.just(""), _attrs(["type", "identifiers"]).map(lambda s: f"    principals {{\n{s}    }}\n")),
              st.one_of(st.just(""), _attrs(["test", "variable", "values"]).map(lambda s: f"    condition {{\n{s}    }}\n"))),
    max_size=3).map("".join)

TF_BLOCK = st.one_of(
    _block('resource "aws_cloudtrail" "audit"', ["name", "s3_bucket_name", "kms_key_id", "count", "for_each"]),
    _block('resource "aws_cloudtrail_event_data_store" "store"', ["name", "kms_key_id"]),
    _block('resource "aws_kms_key" "logs"', ["policy", "customer_master_key_spec", "key_spec", "count", "description"]),
    _block('resource "aws_kms_key" "other"', ["policy"]),
    _block('resource "aws_kms_alias" "logs"', ["name", "target_key_id"]),
    _block('resource "aws_kms_key_policy" "p"', ["key_id", "policy"]),
    _block('data "aws_kms_key" "ext"', ["key_id"]),
    st.builds(lambda a, s: f'data "aws_iam_policy_document" "p" {{\n{a}{s}}}\n',
              _attrs(["source_policy_documents", "override_policy_documents", "version"]), POLICY_DOC_BODY),
    _block('variable "key_arn"', ["default", "type"]),
    _block('variable "flag"', ["default"]),
    _block('variable "list"', ["default"]),
    _block("locals", ["key", "policy", "m", "k"]),
    st.builds(lambda src, a: f'module "child" {{\n  source = {src}\n{a}}}\n',
              st.sampled_from(['"./child"', '"../child"', '"/etc"', '"git::https://example.com/x.git"', '"./"', "var.key_arn"]),
              _attrs(["key_arn", "policy", "count"])),
    _block('output "key_arn"', ["value"]),
    _block('output "policy"', ["value"]),
)


def _hcl(v) -> str:
    """A JSON-like value as an HCL expression."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_hcl_string(str(k))} = {_hcl(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_hcl(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    return _hcl_string(str(v))


def _as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def _document_block(doc) -> str:
    """data "aws_iam_policy_document" from a policy document (whatever its fields hold)."""
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    out = []
    for stmt in _as_list(statements) if statements is not None else []:
        if not isinstance(stmt, dict):
            out.append(f"  statement {{\n    sid = {_hcl(stmt)}\n  }}\n")
            continue
        body = []
        for key, attr in (("Sid", "sid"), ("Effect", "effect"), ("Action", "actions"), ("NotAction", "not_actions"),
                          ("Resource", "resources")):
            if key in stmt:
                value = stmt[key]
                body.append(f"    {attr} = {_hcl(_as_list(value) if attr.endswith('s') else value)}")
        for key, block in (("Principal", "principals"), ("NotPrincipal", "not_principals")):
            p = stmt.get(key)
            if isinstance(p, dict):
                for ptype, ids in p.items():
                    body.append(f"    {block} {{\n      type = {_hcl(ptype)}\n      identifiers = {_hcl(_as_list(ids))}\n    }}")
            elif p is not None:
                body.append(f"    {block} {{\n      type = \"AWS\"\n      identifiers = {_hcl(_as_list(p))}\n    }}")
        cond = stmt.get("Condition")
        if isinstance(cond, dict):
            for op, block in cond.items():
                for ckey, values in (block.items() if isinstance(block, dict) else [("x", block)]):
                    body.append(f"    condition {{\n      test = {_hcl(op)}\n      variable = {_hcl(ckey)}\n"
                                f"      values = {_hcl(_as_list(values))}\n    }}")
        out.append("  statement {\n" + "\n".join(body) + "\n  }\n")
    return 'data "aws_iam_policy_document" "p" {\n' + "".join(out) + "}\n"


TF_POLICY_DOC = _policy_doc(JSON_VALUE)
TF_KEY_REFERENCE = st.one_of(
    st.sampled_from(["aws_kms_key.logs.arn", "aws_kms_key.logs.arn", "aws_kms_key.logs.key_id", "aws_kms_alias.logs.arn",
                     "aws_kms_alias.logs.name", "local.key", "var.key_arn", "module.child.key_arn", "data.aws_kms_key.ext.arn",
                     '"arn:aws:kms:us-east-1:111122223333:alias/aws/cloudtrail"', "var.flag ? aws_kms_key.logs.arn : null",
                     "aws_kms_key.logs[0].arn", "try(aws_kms_key.logs.arn, null)", "null", '""']),
    TF_EXPR)
TF_POLICY = st.one_of(
    TF_POLICY_DOC.map(lambda d: f"jsonencode({_hcl(d)})"),
    TF_POLICY_DOC.map(lambda d: f"jsonencode({_hcl(d)})"),
    st.just("data.aws_iam_policy_document.p.json"),
    st.just('file("${path.module}/policy.json")'),
    st.just('templatefile("${path.module}/policy.tpl", { account = "111122223333", key = var.key_arn })'),
    TF_POLICY_DOC.map(lambda d: "<<EOT\n" + json.dumps(d, indent=1, default=str).replace("${", "$${").replace("%{", "%%{") + "\nEOT\n"),
    st.just("local.policy"),
    TF_EXPR)


def _tf_module():
    trail = st.builds(lambda ref, extra: f'resource "aws_cloudtrail" "audit" {{\n  name           = "audit"\n'
                                         f'  s3_bucket_name = "audit-logs"\n  kms_key_id     = {ref}\n{extra}}}\n',
                      TF_KEY_REFERENCE, _attrs(["count", "for_each", "event_selector"]))
    key = st.builds(lambda pol, extra: f'resource "aws_kms_key" "logs" {{\n  policy = {pol}\n{extra}}}\n',
                    TF_POLICY, _attrs(["customer_master_key_spec", "count"]))
    extras = st.lists(st.one_of(
        TF_POLICY_DOC.map(_document_block),
        st.just('resource "aws_kms_alias" "logs" {\n  name = "alias/logs"\n  target_key_id = aws_kms_key.logs.key_id\n}\n'),
        st.builds(lambda pol: f'resource "aws_kms_key_policy" "p" {{\n  key_id = aws_kms_key.logs.id\n  policy = {pol}\n}}\n', TF_POLICY),
        st.builds(lambda d: f'locals {{\n  policy = jsonencode({_hcl(d)})\n  key = aws_kms_key.logs.arn\n}}\n', TF_POLICY_DOC),
        st.just('data "aws_caller_identity" "current" {}\n'),
        st.sampled_from(["# cloudtrail-kms-lint:ignore CTKMS004 the reason\n", "# cloudtrail-kms-lint:ignore\n",
                         "// cloudtrail-kms-lint:ignore NOPE,CTKMS001\n", "/* cloudtrail-kms-lint:ignore CTKMS007 */\n",
                         "# cloudtrail-kms-lint:ignore CTKMS006 " + "x" * 3000 + "\n"]),
        TF_BLOCK), max_size=4)
    return st.builds(lambda t, k, e: "\n".join([t, k] + e), trail, st.one_of(key, key, key, TF_BLOCK), extras)


# ================================================================== plans

PLAN_RESOURCE = st.fixed_dictionaries(
    {"address": _swapped(st.sampled_from(["aws_cloudtrail.audit", "aws_kms_key.logs", "aws_kms_alias.logs",
                                          "module.child.aws_kms_key.k", "aws_cloudtrail.audit[0]", "data.aws_caller_identity.current"])),
     "mode": _swapped(st.sampled_from(["managed", "data"])),
     "type": _swapped(st.sampled_from(["aws_cloudtrail", "aws_kms_key", "aws_kms_alias", "aws_kms_key_policy", "aws_caller_identity"]))},
    optional={"values": _swapped(st.fixed_dictionaries({}, optional={
        "kms_key_id": _swapped(st.sampled_from(["arn:aws:kms:us-east-1:111122223333:key/k", "alias/aws/cloudtrail", ""])),
        "arn": _swapped(st.just("arn:aws:kms:us-east-1:111122223333:key/k")),
        "policy": _swapped(_cfn_policy().map(lambda p: p if isinstance(p, str) else json.dumps(p, default=str))),
        "name": JSON_VALUE, "target_key_id": JSON_VALUE, "json": JSON_VALUE, "account_id": JSON_VALUE}))})


def _plan():
    module = st.fixed_dictionaries({}, optional={"resources": _swapped(st.lists(_swapped(PLAN_RESOURCE), max_size=4)),
                                                 "child_modules": _swapped(st.lists(JSON_VALUE, max_size=2))})
    refs = st.lists(st.sampled_from(["aws_kms_key.logs", "aws_kms_key.logs.arn", "var.k", "module.child.key_arn",
                                     "local.x", "data.aws_iam_policy_document.p.json", "aws_kms_alias.logs.arn"]), max_size=2)
    config_res = st.fixed_dictionaries({"address": _swapped(st.sampled_from(["aws_cloudtrail.audit", "aws_kms_key.logs"]))},
                                       optional={"expressions": _swapped(st.dictionaries(
                                           st.sampled_from(["kms_key_id", "policy", "target_key_id", "key_id"]),
                                           _swapped(st.fixed_dictionaries({}, optional={"references": _swapped(refs),
                                                                                        "constant_value": JSON_VALUE})), max_size=3))})
    return st.fixed_dictionaries(
        {"format_version": _swapped(st.just("1.2")),
         "planned_values": _swapped(st.fixed_dictionaries({"root_module": _swapped(module)}))},
        optional={"resource_changes": _swapped(st.lists(JSON_VALUE, max_size=3)),
                  "prior_state": JSON_VALUE,
                  "variables": _swapped(st.dictionaries(TEXT, st.fixed_dictionaries({"value": JSON_VALUE}), max_size=2)),
                  "configuration": _swapped(st.fixed_dictionaries({"root_module": _swapped(st.fixed_dictionaries(
                      {}, optional={"resources": _swapped(st.lists(config_res, max_size=3)),
                                    "module_calls": _swapped(st.dictionaries(st.just("child"), JSON_VALUE, max_size=1))}))}))})


# ================================================================== mutations


@st.composite
def mutated(draw, text_strategy):
    """Text, sometimes mutated: truncated, random bytes inserted, a line duplicated, a value nested deep."""
    data = draw(text_strategy).encode("utf-8", "surrogatepass")
    kind = draw(st.sampled_from(["none", "none", "truncate", "insert", "duplicate", "deep", "bom"]))
    if kind == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "insert":
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.binary(min_size=1, max_size=8)) + data[pos:]
    elif kind == "duplicate":
        lines = data.split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])
        data = b"\n".join(lines)
    elif kind == "deep":
        depth = draw(st.sampled_from([50, 300, 3000]))
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + b"[" * depth + b"]" * depth + data[pos:]
    elif kind == "bom":
        data = b"\xef\xbb\xbf" + data
    return data, kind


def _yaml_text(doc) -> str:
    import yaml

    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _cfn_text(doc, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=1, ensure_ascii=False)
    try:
        return _yaml_text(doc)
    except Exception:  # noqa: BLE001 - not every generated string is representable in YAML: use JSON, also YAML
        return json.dumps(doc, ensure_ascii=False)


# ================================================================== running the CLI


def _has_option(name: str) -> bool:
    from cloudtrail_kms_lint.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return any(name in a.option_strings for a in sub.choices["scan"]._actions)


CACHE = _has_option("--cache-dir")


def _scan(root: Path, fmt: str = "json", cache: str | None = None) -> tuple[int, str, str]:
    """Scan ``root`` (the working directory) in-process; ``cache``: the cache directory, else no cache."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(root)
    extra = (["--cache-dir", cache] if cache else ["--no-cache"]) if CACHE else []
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["scan", "--format", fmt, "--no-config", *extra, "."])
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _show(files: dict[str, bytes]) -> str:
    return "\n".join(f"--- {k}\n{v[:3000]!r}" for k, v in files.items())


def check_guarantees(files: dict[str, bytes], sarif: bool = False) -> dict:
    """Write ``files`` (relative path -> bytes) to a fresh directory, scan it (without the cache, then twice with
    a fresh cache: filling it and reading it), assert the guarantees."""
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as cache_dir:
        root = Path(tmp)
        _write(root, files)
        code, out, err = _scan(root)
        where = _show(files)
        assert "Traceback" not in err and "internal error" not in err, f"{err}\n{where}"
        assert code in (0, 1, 2), where
        doc = json.loads(out)
        assert (code == 2) == bool(doc["errors"]), f"exit {code} with errors {doc['errors']}\n{where}"
        code2, out2, _ = _scan(root, cache=cache_dir)
        assert (code2, out2) == (code, out), f"not deterministic (or the cache changed the report)\n{where}"
        code3, out3, _ = _scan(root, cache=cache_dir)
        assert (code3, out3) == (code, out), f"a report from the cache differs\n{where}"
        if sarif:
            s1, s2 = _scan(root, "sarif")[1], _scan(root, "sarif")[1]
            assert s1 == s2 and json.loads(s1)["version"] == "2.1.0", where
        inputs = set(files)
        for f in doc["findings"]:
            assert f["rule"] in catalogue.BY_ID, f
            assert f["file"] in inputs, (f["file"], sorted(inputs))
            assert "the analysis failed (" not in f["message"], f"{f['message']}\n{where}"
        for e in doc["errors"]:
            assert e["file"] in inputs or e["file"].rstrip("/").split("/")[0] in {k.split("/")[0] for k in inputs}, e
            assert isinstance(e["message"], str) and e["message"]
        return doc


def _errors_for(doc: dict, name: str) -> list:
    return [e for e in doc["errors"] if e["file"] == name]


# ================================================================== the properties


@FUZZ
@given(doc=_cfn_template(), fmt=st.sampled_from(["yaml", "json"]), data=st.data())
def test_cloudformation(doc, fmt, data):
    name = f"template.{fmt}"
    raw, kind = data.draw(mutated(st.just(_cfn_text(doc, fmt))))
    result = check_guarantees({name: raw})
    text = raw.decode("utf-8", "replace")
    if "AWS::CloudTrail::" in text and ("AWSTemplateFormatVersion" in text or "AWS::" in text):
        from cfnlint.decode import decode_str

        try:
            decodable = raw.decode("utf-8") and b"\x00" not in raw
            template, matches = decode_str(raw.decode("utf-8")) if decodable else (None, ["not text"])
        except Exception:  # noqa: BLE001
            template, matches = None, ["raised"]
        if matches and template is None and '"format_version"' not in text:
            # cfn-lint's decoder rejects it: the scan must say so for a file that could be a template
            from cloudtrail_kms_lint.prefilter import _CFN_HINT

            if _CFN_HINT.search(raw):
                assert _errors_for(result, name), f"{kind}: {matches}\n{raw[:2000]!r}"


def _plugin_rules() -> list:
    from cloudtrail_kms_lint.cloudformation.cfnlint_rule import TrailKmsRule

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    import importlib

    importlib.import_module("cloudtrail_kms_lint.plugin")
    for name in ("E9101_trail_has_kms_key", "E9102_kms_key_usable", "E9103_key_policy_describe_key",
                 "E9104_key_policy_encrypt", "W9105_encrypt_grant_scoped", "E9106_key_policy_decrypt",
                 "W9107_key_policy_verified"):
        importlib.import_module(f"cloudtrail_kms_lint.plugin.{name}")
    by_id: dict = {}
    for cls in subclasses(TrailKmsRule):
        if cls.rule_id and cls.rule_id not in by_id:
            by_id[cls.rule_id] = cls()
    assert sorted(by_id) == sorted(r.id for r in catalogue.RULES)
    return list(by_id.values())


_RULES = _plugin_rules()


@FUZZ
@given(doc=_cfn_template())
def test_cloudformation_core(doc):
    """The shared analysis on the decoded structure directly (also what checkov and cfn-lint hand it)."""
    from cloudtrail_kms_lint.cloudformation.analysis import analyse_template

    findings = analyse_template(doc, "template.yaml")
    for f in findings:
        assert f.rule in catalogue.BY_ID
        assert "the analysis failed (" not in f.message, f.message
    # the cfn-lint rules on the same structure: never raise, never "could not be analysed"
    from types import SimpleNamespace

    from cloudtrail_kms_lint.cloudformation import cfnlint_rule

    cfnlint_rule._CACHE.clear()
    cfn = SimpleNamespace(template=doc, filename="template.yaml")
    for rule in _RULES:
        for m in rule._match(cfn):
            assert "could not be analysed" not in m.message, m.message
    resources = doc.get("Resources") if isinstance(doc.get("Resources"), dict) else {}
    trails = [k for k, r in resources.items()
              if isinstance(r, dict) and r.get("Type") in ("AWS::CloudTrail::Trail", "AWS::CloudTrail::EventDataStore")]
    # a trail the analysis gave no finding is a pass: possible, but only with a resolved key policy that allows it
    for t in trails:
        if not [f for f in findings if f.resource == t]:
            props = doc["Resources"][t].get("Properties")
            assert isinstance(props, dict), (t, doc)


@FUZZ
@given(main_tf=mutated(_tf_module()), child_tf=st.lists(TF_BLOCK, max_size=4).map("\n".join),
       policy=st.one_of(TF_POLICY_DOC, JSON_VALUE), tpl=st.one_of(TEXT, TF_POLICY_DOC.map(lambda d: json.dumps(d, default=str))),
       tfvars=st.one_of(st.none(), _attrs(["key_arn", "flag", "list"])))
def test_terraform(main_tf, child_tf, policy, tpl, tfvars):
    raw, kind = main_tf
    files = {"main.tf": raw, "child/main.tf": child_tf.encode("utf-8", "surrogatepass"),
             "policy.json": json.dumps(policy, default=str).encode(), "policy.tpl": tpl.encode("utf-8", "surrogatepass")}
    if tfvars is not None:
        files["terraform.tfvars"] = tfvars.encode("utf-8", "surrogatepass")
    result = check_guarantees(files)
    # a .tf file that does not parse, in a module with a trail, is never silent
    from cloudtrail_kms_lint.terraform.parse import parse_text

    if b"aws_cloudtrail" in raw:
        try:
            parsed_ok = not parse_text(raw.decode("utf-8")).errors and b"\x00" not in raw
        except UnicodeDecodeError:
            parsed_ok = False
        if not parsed_ok:
            assert _errors_for(result, "main.tf"), f"{kind}\n{raw[:2000]!r}"


@FUZZ
@given(plan=_plan(), data=st.data())
def test_plan(plan, data):
    raw, kind = data.draw(mutated(st.just(json.dumps(plan, default=str))))
    result = check_guarantees({"plan.json": raw})
    if kind == "none":
        assert not result["errors"], result["errors"]


@settings(FUZZ, max_examples=max(5, EXAMPLES // 4))
@given(doc=_cfn_template(), main_tf=_tf_module(), plan=_plan())
def test_everything_together(doc, main_tf, plan):
    """One directory with all three front ends' inputs: one deterministic report, SARIF included."""
    check_guarantees({"cfn/template.json": _cfn_text(doc, "json").encode("utf-8", "surrogatepass"),
                      "tf/main.tf": main_tf.encode("utf-8", "surrogatepass"),
                      "plan/plan.json": json.dumps(plan, default=str).encode()}, sarif=True)
