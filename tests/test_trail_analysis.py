"""End-to-end tests of trail.analyse: subject + key resolution(s) -> findings.

The requests CloudTrail and log readers make are those AWS documents in
"Configure AWS KMS key policies for CloudTrail", CloudTrail User Guide
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html
"""

from __future__ import annotations

import pytest

from cloudtrail_kms_lint.catalogue import BY_ID, EVENT_DATA_STORE, TRAIL
from cloudtrail_kms_lint.model import (
    AWS_MANAGED,
    NO_KEY,
    NOT_A_KEY,
    RESOLVED,
    UNRESOLVED,
    Key,
    KeyPolicy,
    KeyResolution,
    Location,
    Subject,
    TraceStep,
)
from cloudtrail_kms_lint.trail import analyse, default_key_policy
from cloudtrail_kms_lint.values import Symbol

ACCOUNT = "111111111111"
OTHER = "222222222222"
REGION = "us-east-1"
TRAIL_NAME = "management-events"
TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{TRAIL_NAME}"
CTX = "kms:EncryptionContext:aws:cloudtrail:arn"
CT = {"Service": "cloudtrail.amazonaws.com"}
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
BOB = f"arn:aws:iam::{ACCOUNT}:user/Bob"
FILE = "template.yaml"


def subject(kind=TRAIL, name=TRAIL_NAME, partition="aws", region=REGION, account=ACCOUNT) -> Subject:
    return Subject(
        kind=kind,
        resource="Trail" if kind == TRAIL else "EventDataStore",
        resource_type="AWS::CloudTrail::Trail" if kind == TRAIL else "AWS::CloudTrail::EventDataStore",
        location=Location(FILE, 5),
        name=name,
        partition=partition,
        region=region,
        account=account,
    )


T = subject()
T_ENV = subject(partition="", region="", account="")
T_OPAQUE_NAME = subject(name=Symbol("var.trail_name", "opaque", "var.trail_name has no default"))
EDS = subject(kind=EVENT_DATA_STORE)

# --------------------------------------------------------------------------- AWS's statements
# https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html

ADMIN = {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT},
         "Action": "kms:*", "Resource": "*"}
ENCRYPT = {"Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow", "Principal": CT,
           "Action": "kms:GenerateDataKey*", "Resource": "*",
           "Condition": {"StringLike": {CTX: [f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"]},
                         "StringEquals": {"aws:SourceArn": TRAIL_ARN}}}
DECRYPT = {"Sid": "Enable CloudTrail log decrypt permissions", "Effect": "Allow", "Principal": {"AWS": BOB},
           "Action": "kms:Decrypt", "Resource": "*", "Condition": {"Null": {CTX: "false"}}}
DESCRIBE = {"Sid": "Allow CloudTrail access", "Effect": "Allow", "Principal": CT,
            "Action": "kms:DescribeKey", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}}
DOC_POLICY = [ADMIN, ENCRYPT, DECRYPT, DESCRIBE]

# https://docs.aws.amazon.com/awscloudtrail/latest/userguide/default-kms-key-policy.html
CONSOLE_TRAIL_POLICY = [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": [ROOT, BOB]},
     "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow", "Principal": {"Service": [CT["Service"]]},
     "Action": "kms:GenerateDataKey*", "Resource": "*",
     "Condition": {"StringLike": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}}},
    {"Sid": "Allow CloudTrail to describe key", "Effect": "Allow", "Principal": {"Service": [CT["Service"]]},
     "Action": "kms:DescribeKey", "Resource": "*"},
    {"Sid": "Allow principals in the account to decrypt log files", "Effect": "Allow", "Principal": {"AWS": "*"},
     "Action": ["kms:Decrypt", "kms:ReEncryptFrom"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT},
                   "StringLike": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}}},
    {"Sid": "Allow alias creation during setup", "Effect": "Allow", "Principal": {"AWS": "*"},
     "Action": "kms:CreateAlias", "Resource": "*",
     "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT}}},
]
CONSOLE_EDS_POLICY = [
    {"Sid": "The key created by CloudTrail to encrypt event data stores. Created Mon, 01 Jan 2024 00:00:00 GMT",
     "Effect": "Allow", "Principal": {"Service": [CT["Service"]]},
     "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"},
    ADMIN,
    {"Sid": "Enable user to have permissions", "Effect": "Allow",
     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Analyst"},
     "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"},
]


def key(stmts=None, name="LogKey", spec="SYMMETRIC_DEFAULT", document=None) -> Key:
    if stmts is None and document is None:
        return Key(name, policy=None, spec=spec)
    doc = document if document is not None else {"Version": "2012-10-17", "Statement": list(stmts)}
    n = len(stmts or [])
    return Key(name, spec=spec, location=Location(FILE, 30), policy=KeyPolicy(
        document=doc, location=Location(FILE, 32),
        statement_locations=[Location(FILE, 40 + 10 * i) for i in range(n)]))


def run(stmts=None, s: Subject = T, **kw):
    return analyse(s, [KeyResolution(RESOLVED, key=key(stmts, **kw), reference="!GetAtt LogKey.Arn")])


def rules(findings) -> list[str]:
    return sorted(f.rule for f in findings)


def only(findings, rule):
    found = [f for f in findings if f.rule == rule]
    assert len(found) == 1, [(f.rule, f.message) for f in findings]
    return found[0]


def replace(stmts, index, **changes):
    out = list(stmts)
    out[index] = {**out[index], **changes}
    return out


# --------------------------------------------------------------------------- good policies


@pytest.mark.parametrize("stmts, s", [
    (DOC_POLICY, T),
    (CONSOLE_TRAIL_POLICY, T),
    (CONSOLE_TRAIL_POLICY, T_ENV),  # AWS::AccountId etc. unresolved: taken as the trail's own
    ([ADMIN, {**ENCRYPT, "Condition": {"StringLike": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}}},
      DECRYPT, {**DESCRIBE, "Condition": {}}], T_OPAQUE_NAME),
    (CONSOLE_EDS_POLICY, EDS),
], ids=["aws-doc-statements", "console-trail-policy", "console-policy-unresolved-env",
        "unknown-trail-name-with-wildcards", "console-eds-policy"])
def test_documented_policies_have_no_findings(stmts, s):
    assert run(stmts, s) == []


def test_finding_fields():
    f = only(run([ADMIN, ENCRYPT, DECRYPT]), "CTKMS003")
    assert (f.level, f.resource, f.resource_type, f.file, f.line, f.key) == (
        BY_ID["CTKMS003"].level, "Trail", "AWS::CloudTrail::Trail", FILE, 5, "LogKey")


# --------------------------------------------------------------------------- CTKMS003 / 004 / 005 / 006


def test_default_key_policy_fails_003_004_006():
    findings = run(None)
    assert rules(findings) == ["CTKMS003", "CTKMS004", "CTKMS006"]
    for f in findings:
        assert "default key policy of LogKey" in f.message


def test_default_key_policy_document():
    doc = default_key_policy(T).document
    [st] = doc["Statement"]
    assert st["Principal"] == {"AWS": ROOT} and st["Action"] == "kms:*"


def test_missing_describe_is_003():
    f = only(run([ADMIN, ENCRYPT, DECRYPT]), "CTKMS003")
    assert "kms:DescribeKey" in f.message and "no statement allows" in f.message
    assert rules(run([ADMIN, ENCRYPT, DECRYPT])) == ["CTKMS003"]


def test_describe_for_another_trail_is_003_naming_the_statement():
    stmts = replace(DOC_POLICY, 3, Condition={"StringEquals": {"aws:SourceArn": TRAIL_ARN + "-old"}})
    findings = run(stmts)
    assert rules(findings) == ["CTKMS003"]
    f = findings[0]
    assert "statement 'Allow CloudTrail access' (line 70)" in f.message
    assert "aws:SourceArn" in f.message
    assert [r.location.line for r in f.related] == [70]


def test_stringequals_with_wildcard_is_004_and_says_so():
    stmts = replace(DOC_POLICY, 1, Condition={"StringEquals": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}})
    findings = run(stmts)
    assert rules(findings) == ["CTKMS004"]
    f = findings[0]
    assert "statement 'Allow CloudTrail to encrypt logs' (line 50)" in f.message
    assert "StringEquals with a wildcard value" in f.message
    assert "StringLike" in f.message
    assert [r.location.line for r in f.related] == [50]


def test_literal_account_mismatch_is_004():
    stmts = replace(DOC_POLICY, 1, Condition={"StringLike": {CTX: f"arn:aws:cloudtrail:*:{OTHER}:trail/*"}})
    f = only(run(stmts), "CTKMS004")
    assert "statement 'Allow CloudTrail to encrypt logs'" in f.message
    assert OTHER in f.message and TRAIL_ARN in f.message


def test_unresolved_account_pinned_to_two_literals_is_004():
    stmts = replace(DOC_POLICY, 1, Condition={"StringLike": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"},
                                              "StringEquals": {"aws:SourceAccount": OTHER}})
    stmts = replace(stmts, 3, Condition={})
    assert rules(run(stmts, T_ENV)) == ["CTKMS004"]


def test_unresolved_account_pinned_to_one_literal_passes():
    stmts = replace(DOC_POLICY, 1, Condition={"StringLike": {CTX: f"arn:aws:cloudtrail:*:{OTHER}:trail/*"},
                                              "StringEquals": {"aws:SourceAccount": OTHER}})
    stmts = replace(stmts, 3, Condition={})
    assert run(stmts, T_ENV) == []


def test_encrypt_without_context_is_004():
    stmts = replace(DOC_POLICY, 1, Action="kms:Encrypt")
    f = only(run(stmts), "CTKMS004")
    assert "kms:GenerateDataKey*" in f.message


def test_explicit_deny_is_004_naming_the_deny():
    deny = {"Sid": "DenyCloudTrail", "Effect": "Deny", "Principal": CT, "Action": "kms:GenerateDataKey*",
            "Resource": "*"}
    findings = run(DOC_POLICY + [deny])
    assert rules(findings) == ["CTKMS004"]
    assert "statement 'DenyCloudTrail' (line 80) explicitly denies" in findings[0].message


def test_deny_all_actions_is_003_and_004():
    deny = {"Sid": "NoService", "Effect": "Deny", "Principal": "*", "NotAction": "kms:Decrypt", "Resource": "*",
            "Condition": {"Bool": {"aws:PrincipalIsAWSService": "true"}}}
    findings = run(DOC_POLICY + [deny])
    assert rules(findings) == ["CTKMS003", "CTKMS004"]
    assert all("'NoService'" in f.message and "explicitly denies" in f.message for f in findings)


def test_unscoped_encrypt_is_005_naming_the_statement():
    stmts = replace(DOC_POLICY, 1, Condition=None)
    del stmts[1]["Condition"]
    findings = run(stmts)
    assert rules(findings) == ["CTKMS005"]
    assert findings[0].message.startswith("Statement 'Allow CloudTrail to encrypt logs' (line 50)")


@pytest.mark.parametrize("condition", [
    {"StringLike": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}},
    {"StringEquals": {"aws:SourceArn": TRAIL_ARN}},
    {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}},
    {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
], ids=["context", "source-arn", "arnlike-source-arn", "source-account"])
def test_scoped_encrypt_is_not_005(condition):
    assert run(replace(DOC_POLICY, 1, Condition=condition)) == []


def test_negated_condition_does_not_scope_005():
    stmts = replace(DOC_POLICY, 1, Condition={"StringNotEquals": {"aws:SourceAccount": OTHER}})
    assert rules(run(stmts)) == ["CTKMS005"]


def test_no_reader_is_006():
    findings = run([ADMIN, ENCRYPT, DESCRIBE])
    assert rules(findings) == ["CTKMS006"]
    assert "no scoped kms:Decrypt grant" in findings[0].message


def test_decrypt_to_everyone_without_condition_is_006_naming_it():
    everyone = {"Sid": "OpenDecrypt", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt",
                "Resource": "*"}
    findings = run([ADMIN, ENCRYPT, DESCRIBE, DECRYPT, everyone])
    assert rules(findings) == ["CTKMS006"]
    assert "statement 'OpenDecrypt' (line 80)" in findings[0].message
    assert "everyone" in findings[0].message


# "Enable CloudTrail log decrypt permissions" with its Null condition in every spelling
@pytest.mark.parametrize("value, expected", [
    ("false", []), (False, []), ("False", []), ("FALSE", []),
    ("true", ["CTKMS006"]), (True, ["CTKMS006"]),
], ids=["str-false", "json-false", "str-False", "str-FALSE", "str-true", "json-true"])
def test_reader_null_spellings(value, expected):
    stmts = replace(DOC_POLICY, 2, Condition={"Null": {CTX: value}})
    assert rules(run(stmts)) == expected


def test_reader_caller_account_mismatch_is_006_with_reason():
    reader = {**CONSOLE_TRAIL_POLICY[3], "Condition": {"StringEquals": {"kms:CallerAccount": OTHER},
                                                       "StringLike": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}}}
    # without ADMIN: the account root's kms:* would let the account's readers decrypt anyway
    findings = run([ENCRYPT, DESCRIBE, reader])
    f = only(findings, "CTKMS006")
    assert "'Allow principals in the account to decrypt log files'" in f.message
    assert "kms:CallerAccount" in f.message and OTHER in f.message


def test_reader_in_other_account_by_root_passes():
    reader = {"Sid": "Enable encrypted CloudTrail log read access", "Effect": "Allow",
              "Principal": {"AWS": [f"arn:aws:iam::{OTHER}:root"]}, "Action": "kms:Decrypt", "Resource": "*",
              "Condition": {"Null": {CTX: "false"}}}
    assert run([ADMIN, ENCRYPT, DESCRIBE, reader]) == []


# --------------------------------------------------------------------------- CTKMS007


def test_unknown_trail_name_with_exact_source_arn_is_007_not_an_error():
    # every undecided request shares the cause: one CTKMS007 per key, naming the value
    findings = run(DOC_POLICY, T_OPAQUE_NAME)
    assert rules(findings) == ["CTKMS007"]
    assert "var.trail_name has no default" in findings[0].message and "not verified" in findings[0].message


def test_unknown_condition_value_is_007():
    stmts = replace(DOC_POLICY, 1, Condition={"StringEquals": {"aws:SourceArn": Symbol(
        "var.trail_arn", "opaque", "var.trail_arn has no default")}})
    f = only(run(stmts), "CTKMS007")
    assert "var.trail_arn has no default" in f.message and "kms:GenerateDataKey*" in f.message


def test_unknown_policy_document_is_one_007_and_nothing_else():
    # A policy the code does not determine is not verified: one CTKMS007 naming the
    # value, and no error-level guess (no CTKMS003/004/005/006).
    findings = run(document=Symbol("var.policy", "opaque", "var.policy has no default"))
    assert rules(findings) == ["CTKMS007"]
    assert "var.policy has no default" in findings[0].message
    assert "not verified" in findings[0].message


# --------------------------------------------------------------------------- event data stores
# "The aws:SourceArn and aws:SourceAccount condition keys are not supported in KMS
# key policies for event data stores" (create-kms-key-policy-for-cloudtrail.html)

EDS_GRANT = CONSOLE_EDS_POLICY[0]


@pytest.mark.parametrize("condition, key_name", [
    ({"StringEquals": {"aws:SourceArn": TRAIL_ARN}}, "aws:SourceArn"),
    ({"StringEquals": {"aws:SourceAccount": ACCOUNT}}, "aws:SourceAccount"),
    ({"ArnLike": {"aws:SourceArn": f"arn:aws:cloudtrail:*:{ACCOUNT}:eventdatastore/*"}}, "aws:SourceArn"),
], ids=["source-arn", "source-account", "arnlike-source-arn"])
def test_eds_source_conditions_are_004(condition, key_name):
    findings = run([ADMIN, {**EDS_GRANT, "Condition": condition}], EDS)
    assert rules(findings) == ["CTKMS004"]
    f = findings[0]
    assert "event data store EventDataStore" in f.message
    assert key_name in f.message and "not support" in f.message
    assert "kms:GenerateDataKey" in f.message and "kms:Decrypt" in f.message


def test_eds_source_condition_if_exists_passes():
    cond = {"StringEqualsIfExists": {"aws:SourceArn": TRAIL_ARN}}
    assert run([ADMIN, {**EDS_GRANT, "Condition": cond}], EDS) == []


def test_eds_missing_decrypt_is_004():
    findings = run([ADMIN, {**EDS_GRANT, "Action": "kms:GenerateDataKey"}], EDS)
    f = only(findings, "CTKMS004")
    assert "kms:Decrypt" in f.message


def test_eds_default_key_policy_is_004():
    assert rules(run(None, EDS)) == ["CTKMS004"]


def test_eds_never_gets_trail_only_rules():
    # no DescribeKey, no reader statement, unscoped: none of 003/005/006 apply to event data stores
    assert run([EDS_GRANT], EDS) == []


def test_eds_unknown_is_007():
    cond = {"StringEquals": {"aws:RequestTag/team": "security"}}
    findings = run([ADMIN, {**EDS_GRANT, "Condition": cond}], EDS)
    assert set(rules(findings)) == {"CTKMS007"}


# --------------------------------------------------------------------------- CTKMS001 / 002 and suppression


@pytest.mark.parametrize("resolution, rule, words", [
    (KeyResolution(NO_KEY), "CTKMS001", ["Trail", "has no KMS key"]),
    (KeyResolution(NO_KEY, detail="KMSKeyId is AWS::NoValue"), "CTKMS001", ["KMSKeyId is AWS::NoValue"]),
    (KeyResolution(AWS_MANAGED, detail="alias/aws/cloudtrail"), "CTKMS002", ["alias/aws/cloudtrail", "AWS managed"]),
    (KeyResolution(NOT_A_KEY, reference="!GetAtt Bucket.Arn", detail="it is an S3 bucket"), "CTKMS002",
     ["!GetAtt Bucket.Arn", "it is an S3 bucket"]),
    (KeyResolution(RESOLVED, key=key(DOC_POLICY, spec="RSA_2048")), "CTKMS002", ["RSA_2048", "symmetric"]),
    (KeyResolution(UNRESOLVED, detail="var.kms_key_arn has no default"), "CTKMS007",
     ["var.kms_key_arn has no default", "not verified"]),
], ids=["no-key", "no-key-detail", "aws-managed", "not-a-key", "asymmetric", "unresolved"])
def test_resolution_kinds(resolution, rule, words):
    findings = analyse(T, [resolution])
    assert rules(findings) == [rule]
    for w in words:
        assert w in findings[0].message


def test_asymmetric_key_suppresses_policy_rules():
    # the default policy would give 003+004+006; the key spec alone decides
    findings = analyse(T, [KeyResolution(RESOLVED, key=key(None, spec="ECC_NIST_P256"))])
    assert rules(findings) == ["CTKMS002"]


def test_eds_no_key_is_001():
    findings = analyse(EDS, [KeyResolution(NO_KEY)])
    assert rules(findings) == ["CTKMS001"] and "event data store EventDataStore" in findings[0].message


def test_001_in_one_scenario_suppresses_policy_rules_in_all():
    findings = analyse(T, [
        KeyResolution(NO_KEY, scenario="when condition UseCmk is false"),
        KeyResolution(RESOLVED, key=key(None), scenario="when condition UseCmk is true"),
    ])
    assert rules(findings) == ["CTKMS001"]
    assert findings[0].message.startswith("When condition UseCmk is false: ")


# --------------------------------------------------------------------------- scenarios


def test_finding_in_every_scenario_is_reported_once_without_prefix():
    findings = analyse(T, [
        KeyResolution(RESOLVED, key=key([ADMIN, ENCRYPT, DECRYPT]), scenario="when condition Prod is true"),
        KeyResolution(RESOLVED, key=key([ADMIN, ENCRYPT, DECRYPT]), scenario="when condition Prod is false"),
    ])
    assert rules(findings) == ["CTKMS003"]
    assert not findings[0].message.lower().startswith("when condition")


def test_finding_in_some_scenarios_names_them():
    findings = analyse(T, [
        KeyResolution(RESOLVED, key=key(DOC_POLICY), scenario="when condition Prod is true"),
        KeyResolution(RESOLVED, key=key([ADMIN, ENCRYPT, DECRYPT]), scenario="when condition Prod is false"),
    ])
    assert rules(findings) == ["CTKMS003"]
    assert findings[0].message.startswith("When condition Prod is false: ")


def test_same_rule_different_messages_are_kept_apart():
    findings = analyse(T, [
        KeyResolution(NO_KEY, scenario="when A"),
        KeyResolution(AWS_MANAGED, detail="alias/aws/cloudtrail", scenario="when B"),
    ])
    assert rules(findings) == ["CTKMS001", "CTKMS002"]
    by_rule = {f.rule: f.message for f in findings}
    assert by_rule["CTKMS001"].startswith("When A: ") and by_rule["CTKMS002"].startswith("When B: ")


def test_trace_is_carried_to_findings():
    trace = [TraceStep("KMSKeyId: !GetAtt LogKey.Arn", Location(FILE, 6)), TraceStep("LogKey has no KeyPolicy")]
    findings = analyse(T, [KeyResolution(RESOLVED, key=key(None), trace=trace)])
    assert findings and all(f.trace == trace for f in findings)
