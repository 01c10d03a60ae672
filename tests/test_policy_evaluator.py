"""Table-driven tests of the key-policy evaluator (policy.evaluate).

Each table case is ``(policy statements, request, expected verdict)`` with a
pytest id. AWS's documentation is the spec; the page each group of cases comes
from is cited above the group. Placeholders in AWS's examples (account-id,
region, trailName, username) are replaced by the values below.
"""

from __future__ import annotations

import pytest

from cloudtrail_kms_lint.catalogue import EVENT_DATA_STORE, TRAIL
from cloudtrail_kms_lint.model import Location, Subject
from cloudtrail_kms_lint.policy import (
    ALLOWED,
    CLOUDTRAIL_SERVICE,
    DENIED,
    UNKNOWN,
    Principal,
    Request,
    action_matches,
    condition_keys,
    display,
    evaluate,
    principal_entries,
    statements,
)
from cloudtrail_kms_lint.trail import cloudtrail_request, reader_request
from cloudtrail_kms_lint.values import Symbol, SymStr

ACCOUNT = "111111111111"
OTHER = "222222222222"
THIRD = "333333333333"
REGION = "us-east-1"
TRAIL_NAME = "management-events"
TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{TRAIL_NAME}"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CT = {"Service": CLOUDTRAIL_SERVICE}
CTX = "kms:EncryptionContext:aws:cloudtrail:arn"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
BOB = f"arn:aws:iam::{ACCOUNT}:user/Bob"
ALICE = f"arn:aws:iam::{OTHER}:user/Alice"


def subject(kind=TRAIL, name=TRAIL_NAME, partition="aws", region=REGION, account=ACCOUNT) -> Subject:
    return Subject(
        kind=kind,
        resource="Trail" if kind == TRAIL else "EventDataStore",
        resource_type="AWS::CloudTrail::Trail" if kind == TRAIL else "AWS::CloudTrail::EventDataStore",
        location=Location("template.yaml", 10),
        name=name,
        partition=partition,
        region=region,
        account=account,
    )


# Trails and event data stores the requests come from.
T = subject()  # everything literal
T_OTHER_NAME = subject(name="other-trail")
T_OTHER_ACCOUNT = subject(account=OTHER)
T_THIRD_ACCOUNT = subject(account=THIRD)
T_ENV = subject(partition="", region="", account="")  # AWS::Partition/Region/AccountId unresolved
T_OPAQUE_NAME = subject(name=Symbol("var.trail_name", "opaque", "var.trail_name has no default"))
EDS = subject(kind=EVENT_DATA_STORE)


def describe(s: Subject = T) -> Request:
    return cloudtrail_request(s, "kms:DescribeKey", encryption_context=False)


def generate(s: Subject = T) -> Request:
    return cloudtrail_request(s, "kms:GenerateDataKey", encryption_context=True)


def ct_decrypt(s: Subject = T) -> Request:
    return cloudtrail_request(s, "kms:Decrypt", encryption_context=s.kind == TRAIL)


def eds(action: str) -> Request:
    return cloudtrail_request(EDS, action, encryption_context=False)


def reader(arn: str, account: str = ACCOUNT, s: Subject = T) -> Request:
    return reader_request(s, Principal("aws", arn, account))


def iam_request(action: str, arn: str, account: str = ACCOUNT, context=None, absent=()) -> Request:
    """A request by an IAM principal outside CloudTrail's log-reading flow."""
    ctx = {"kms:calleraccount": [account], "aws:principalarn": [arn], "aws:principalaccount": [account]}
    ctx.update(context or {})
    return Request(action=action, principal=Principal("aws", arn, account), context=ctx, absent=tuple(absent),
                   env={"partition": "aws", "region": REGION, "account": ACCOUNT})


def policy(*stmts) -> dict:
    return {"Version": "2012-10-17", "Statement": list(stmts)}


def allow(action, principal=CT, condition=None, sid="", **extra) -> dict:
    st = {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*"}
    if sid:
        st["Sid"] = sid
    if condition is not None:
        st["Condition"] = condition
    st.update(extra)
    return st


def deny(action, principal="*", condition=None, sid="", **extra) -> dict:
    st = allow(action, principal, condition, sid, **extra)
    st["Effect"] = "Deny"
    return st


def no_action(st: dict, key: str = "NotAction") -> dict:
    st = dict(st)
    st[key] = st.pop("Action")
    return st


def not_principal(st: dict) -> dict:
    st = dict(st)
    st["NotPrincipal"] = st.pop("Principal")
    return st


# --------------------------------------------------------------------------- AWS's statements
# "Configure AWS KMS key policies for CloudTrail", CloudTrail User Guide
# https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html
# (awsdocs/aws-cloudtrail-user-guide doc_source/create-kms-key-policy-for-cloudtrail.md and the older
# create-kms-key-policy-for-cloudtrail-{encrypt,decrypt,describe}.md pages)

AWS_ENCRYPT = {
    "Sid": "Allow CloudTrail to encrypt logs",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": "kms:GenerateDataKey*",
    "Resource": KEY_ARN,
    "Condition": {
        "StringLike": {CTX: [f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"]},
        "StringEquals": {"aws:SourceArn": TRAIL_ARN},
    },
}
AWS_ENCRYPT_NO_SOURCE_ARN = {  # the statement before AWS added the aws:SourceArn recommendation
    "Sid": "Allow CloudTrail to encrypt logs",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": "kms:GenerateDataKey*",
    "Resource": "*",
    "Condition": {"StringLike": {CTX: [f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"]}},
}
AWS_ENCRYPT_TWO_ACCOUNTS = {
    "Sid": "Enable CloudTrail Encrypt Permissions",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": "kms:GenerateDataKey*",
    "Resource": "*",
    "Condition": {"StringLike": {CTX: [f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*",
                                      f"arn:aws:cloudtrail:*:{OTHER}:trail/*"]}},
}
AWS_ENCRYPT_EDS = {
    "Sid": "Allow CloudTrail to encrypt event data store",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": "kms:GenerateDataKey",
    "Resource": KEY_ARN,
}
AWS_DECRYPT_USER = {
    "Sid": "Enable CloudTrail log decrypt permissions",
    "Effect": "Allow",
    "Principal": {"AWS": BOB},
    "Action": "kms:Decrypt",
    "Resource": "*",
    "Condition": {"Null": {CTX: "false"}},
}
AWS_CT_DECRYPT_TRAIL = {
    "Sid": "Allow CloudTrail to decrypt a trail",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": "kms:Decrypt",
    "Resource": "*",
}
AWS_EDS_USER = {
    "Sid": "Enable user key permissions for event data stores",
    "Effect": "Allow",
    "Principal": {"AWS": BOB},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
    "Resource": "*",
}
AWS_READ_OTHER_ACCOUNT = {
    "Sid": "Enable encrypted CloudTrail log read access",
    "Effect": "Allow",
    "Principal": {"AWS": [f"arn:aws:iam::{OTHER}:root"]},
    "Action": "kms:Decrypt",
    "Resource": KEY_ARN,
    "Condition": {"Null": {CTX: "false"}},
}
# AWS's example has an 11-digit account id here; kept as written.
READ_ROLE = "arn:aws:iam::11111111111:role/CloudTrailReadRole"
AWS_READ_ROLE = {
    "Sid": "Enable encrypted CloudTrail log read access",
    "Effect": "Allow",
    "Principal": {"AWS": [READ_ROLE]},
    "Action": "kms:Decrypt",
    "Resource": KEY_ARN,
    "Condition": {"Null": {CTX: "false"}},
}
AWS_DESCRIBE = {
    "Sid": "Allow CloudTrail access",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": "kms:DescribeKey",
    "Resource": KEY_ARN,
    "Condition": {"StringEquals": {"aws:SourceArn": TRAIL_ARN}},
}
AWS_DESCRIBE_PLAIN = {
    "Sid": "Allow CloudTrail access",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": "kms:DescribeKey",
    "Resource": "*",
}

AWS_DOC_CASES = [
    ("doc-encrypt/own-trail", [AWS_ENCRYPT], generate(), ALLOWED),
    ("doc-encrypt/other-trail-name", [AWS_ENCRYPT], generate(T_OTHER_NAME), DENIED),
    ("doc-encrypt/other-account", [AWS_ENCRYPT], generate(T_OTHER_ACCOUNT), DENIED),
    ("doc-encrypt/not-describe", [AWS_ENCRYPT], describe(), DENIED),
    ("doc-encrypt/not-eds", [AWS_ENCRYPT], eds("kms:GenerateDataKey"), DENIED),
    ("doc-encrypt-old/any-trail-in-account", [AWS_ENCRYPT_NO_SOURCE_ARN], generate(T_OTHER_NAME), ALLOWED),
    ("doc-encrypt-old/no-context", [AWS_ENCRYPT_NO_SOURCE_ARN],
     cloudtrail_request(T, "kms:GenerateDataKey", encryption_context=False), DENIED),
    ("doc-encrypt-two-accounts/first", [AWS_ENCRYPT_TWO_ACCOUNTS], generate(), ALLOWED),
    ("doc-encrypt-two-accounts/second", [AWS_ENCRYPT_TWO_ACCOUNTS], generate(T_OTHER_ACCOUNT), ALLOWED),
    ("doc-encrypt-two-accounts/third", [AWS_ENCRYPT_TWO_ACCOUNTS], generate(T_THIRD_ACCOUNT), DENIED),
    ("doc-encrypt-eds/generate", [AWS_ENCRYPT_EDS], eds("kms:GenerateDataKey"), ALLOWED),
    ("doc-encrypt-eds/not-decrypt", [AWS_ENCRYPT_EDS], eds("kms:Decrypt"), DENIED),
    ("doc-encrypt-eds/not-without-plaintext", [AWS_ENCRYPT_EDS], eds("kms:GenerateDataKeyWithoutPlaintext"), DENIED),
    ("doc-decrypt-user/bob", [AWS_DECRYPT_USER], reader(BOB), ALLOWED),
    ("doc-decrypt-user/other-user", [AWS_DECRYPT_USER], reader(f"arn:aws:iam::{ACCOUNT}:user/Mallory"), DENIED),
    ("doc-decrypt-user/no-encryption-context", [AWS_DECRYPT_USER],
     iam_request("kms:Decrypt", BOB, absent=("kms:encryptioncontext:*",)), DENIED),
    ("doc-decrypt-user/not-cloudtrail", [AWS_DECRYPT_USER], ct_decrypt(), DENIED),
    ("doc-ct-decrypt-trail", [AWS_CT_DECRYPT_TRAIL], ct_decrypt(), ALLOWED),
    ("doc-ct-decrypt-eds", [AWS_CT_DECRYPT_TRAIL], eds("kms:Decrypt"), ALLOWED),
    ("doc-eds-user/generate", [AWS_EDS_USER], iam_request("kms:GenerateDataKey", BOB), ALLOWED),
    ("doc-eds-user/decrypt", [AWS_EDS_USER], iam_request("kms:Decrypt", BOB), ALLOWED),
    ("doc-eds-user/not-cloudtrail", [AWS_EDS_USER], eds("kms:GenerateDataKey"), DENIED),
    ("doc-read-other-account/alice", [AWS_READ_OTHER_ACCOUNT], reader(ALICE, OTHER), ALLOWED),
    ("doc-read-other-account/third-account", [AWS_READ_OTHER_ACCOUNT],
     reader(f"arn:aws:iam::{THIRD}:user/Eve", THIRD), DENIED),
    ("doc-read-other-account/own-account", [AWS_READ_OTHER_ACCOUNT], reader(BOB), DENIED),
    ("doc-read-role/role", [AWS_READ_ROLE], reader(READ_ROLE, "11111111111"), ALLOWED),
    ("doc-read-role/other-role", [AWS_READ_ROLE],
     reader("arn:aws:iam::11111111111:role/SomethingElse", "11111111111"), DENIED),
    ("doc-describe/own-trail", [AWS_DESCRIBE], describe(), ALLOWED),
    ("doc-describe/other-trail", [AWS_DESCRIBE], describe(T_OTHER_NAME), DENIED),
    ("doc-describe/eds-has-no-source-arn", [AWS_DESCRIBE], eds("kms:DescribeKey"), DENIED),
    ("doc-describe-plain", [AWS_DESCRIBE_PLAIN], describe(), ALLOWED),
    ("doc-describe-plain/not-generate", [AWS_DESCRIBE_PLAIN], generate(), DENIED),
    ("doc-required-trail-policy/generate",
     [AWS_ENCRYPT, AWS_DECRYPT_USER, AWS_DESCRIBE], generate(), ALLOWED),
    ("doc-required-trail-policy/describe",
     [AWS_ENCRYPT, AWS_DECRYPT_USER, AWS_DESCRIBE], describe(), ALLOWED),
    ("doc-required-trail-policy/reader",
     [AWS_ENCRYPT, AWS_DECRYPT_USER, AWS_DESCRIBE], reader(BOB), ALLOWED),
]

# --------------------------------------------------------------------------- AWS's default policies
# "Default KMS key policy created in CloudTrail console", CloudTrail User Guide
# https://docs.aws.amazon.com/awscloudtrail/latest/userguide/default-kms-key-policy.html
# (doc_source/default-kms-key-policy.md, and the older doc_source/default-cmk-policy.md)

CONSOLE_TRAIL_POLICY = [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": [ROOT, BOB]}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow",
     "Principal": {"Service": ["cloudtrail.amazonaws.com"]}, "Action": "kms:GenerateDataKey*", "Resource": KEY_ARN,
     "Condition": {"StringLike": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}}},
    {"Sid": "Allow CloudTrail to describe key", "Effect": "Allow",
     "Principal": {"Service": ["cloudtrail.amazonaws.com"]}, "Action": "kms:DescribeKey", "Resource": KEY_ARN},
    {"Sid": "Allow principals in the account to decrypt log files", "Effect": "Allow",
     "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt", "kms:ReEncryptFrom"], "Resource": KEY_ARN,
     "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT},
                   "StringLike": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}}},
    {"Sid": "Allow alias creation during setup", "Effect": "Allow",
     "Principal": {"AWS": "*"}, "Action": "kms:CreateAlias", "Resource": KEY_ARN,
     "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT}}},
]
CROSS_ACCOUNT_DECRYPT = {  # last statement of the older console policy (default-cmk-policy.md)
    "Sid": "Enable cross account log decryption", "Effect": "Allow",
    "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt", "kms:ReEncryptFrom"], "Resource": "*",
    "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT},
                  "StringLike": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}}}
CONSOLE_EDS_POLICY = [
    {"Sid": "The key created by CloudTrail to encrypt event data stores. Created Mon, 01 Jan 2024 00:00:00 GMT",
     "Effect": "Allow", "Principal": {"Service": ["cloudtrail.amazonaws.com"]},
     "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"},
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Enable user to have permissions", "Effect": "Allow",
     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Analyst"},
     "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"},
]
# "Default key policy", KMS Developer Guide: a key created without a policy
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
KMS_DEFAULT_POLICY = [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
]
VIA_EC2 = {"kms:viaservice": [f"ec2.{REGION}.amazonaws.com"]}

DEFAULT_POLICY_CASES = [
    ("console-trail/describe", CONSOLE_TRAIL_POLICY, describe(), ALLOWED),
    ("console-trail/generate", CONSOLE_TRAIL_POLICY, generate(), ALLOWED),
    ("console-trail/generate-other-account-trail", CONSOLE_TRAIL_POLICY, generate(T_OTHER_ACCOUNT), DENIED),
    ("console-trail/reader-in-account", CONSOLE_TRAIL_POLICY,
     reader(f"arn:aws:iam::{ACCOUNT}:role/Auditor"), ALLOWED),
    ("console-trail/reader-other-account", CONSOLE_TRAIL_POLICY, reader(ALICE, OTHER), DENIED),
    ("console-trail/reencrypt-from", CONSOLE_TRAIL_POLICY,
     iam_request("kms:ReEncryptFrom", f"arn:aws:iam::{ACCOUNT}:role/Auditor",
                 context={"kms:encryptioncontext:aws:cloudtrail:arn": [TRAIL_ARN]}), ALLOWED),
    # the alias statement alone: with the whole policy, "Enable IAM User Permissions" (the
    # account root) already covers every principal of the account
    ("console-trail-alias/via-ec2", CONSOLE_TRAIL_POLICY[4:5],
     iam_request("kms:CreateAlias", f"arn:aws:iam::{ACCOUNT}:role/Dev", context=VIA_EC2,
                 absent=("kms:encryptioncontext:*",)), ALLOWED),
    ("console-trail-alias/not-via-ec2", CONSOLE_TRAIL_POLICY[4:5],
     iam_request("kms:CreateAlias", f"arn:aws:iam::{ACCOUNT}:role/Dev", absent=("kms:viaservice",)), DENIED),
    ("console-trail-alias/other-account", CONSOLE_TRAIL_POLICY[4:5],
     iam_request("kms:CreateAlias", ALICE, OTHER, context=VIA_EC2), DENIED),
    ("console-trail/alias-by-account-principal", CONSOLE_TRAIL_POLICY,
     iam_request("kms:CreateAlias", f"arn:aws:iam::{ACCOUNT}:role/Dev", absent=("kms:viaservice",)), ALLOWED),
    ("console-trail/root-admin", CONSOLE_TRAIL_POLICY, iam_request("kms:ScheduleKeyDeletion", ROOT), ALLOWED),
    ("console-trail/cloudtrail-not-admin", CONSOLE_TRAIL_POLICY,
     cloudtrail_request(T, "kms:ScheduleKeyDeletion", encryption_context=False), DENIED),
    ("console-cmk/cross-account-decryption", CONSOLE_TRAIL_POLICY + [CROSS_ACCOUNT_DECRYPT],
     reader(f"arn:aws:iam::{ACCOUNT}:user/Carol"), ALLOWED),
    ("console-eds/generate", CONSOLE_EDS_POLICY, eds("kms:GenerateDataKey"), ALLOWED),
    ("console-eds/decrypt", CONSOLE_EDS_POLICY, eds("kms:Decrypt"), ALLOWED),
    ("console-eds/not-describe", CONSOLE_EDS_POLICY, eds("kms:DescribeKey"), DENIED),
    ("console-eds/analyst", CONSOLE_EDS_POLICY,
     iam_request("kms:GenerateDataKey", f"arn:aws:iam::{ACCOUNT}:role/Analyst"), ALLOWED),
    ("kms-default/cloudtrail-describe", KMS_DEFAULT_POLICY, describe(), DENIED),
    ("kms-default/cloudtrail-generate", KMS_DEFAULT_POLICY, generate(), DENIED),
    ("kms-default/iam-principal-in-account", KMS_DEFAULT_POLICY, reader(BOB), ALLOWED),
    ("kms-default/iam-principal-other-account", KMS_DEFAULT_POLICY, reader(ALICE, OTHER), DENIED),
    ("kms-default/unresolved-account-root", [allow("kms:*", {"AWS": SymStr.of(
        "arn:", Symbol("AWS::Partition", "partition"), ":iam::", Symbol("AWS::AccountId", "account"), ":root")})],
     reader(BOB), ALLOWED),
]

# --------------------------------------------------------------------------- Action / NotAction
# "IAM JSON policy elements: Action" and "NotAction", IAM User Guide
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
# Action names are case-insensitive; * matches any run of characters, ? one character.

ACTION_CASES = [
    ("action/kms-star", [allow("kms:*")], describe(), ALLOWED),
    ("action/star", [allow("*")], describe(), ALLOWED),
    ("action/prefix-star", [allow("kms:Describe*")], describe(), ALLOWED),
    ("action/inner-star", [allow("kms:*Key")], describe(), ALLOWED),
    ("action/question-mark", [allow("kms:Gen?rateDataKey")], generate(), ALLOWED),
    ("action/question-mark-one-char-only", [allow("kms:DescribeKe?y")], describe(), DENIED),
    ("action/generate-star-covers-generate", [allow("kms:GenerateDataKey*")], generate(), ALLOWED),
    ("action/generate-star-not-describe", [allow("kms:GenerateDataKey*")], describe(), DENIED),
    ("action/exact-is-not-prefix", [allow("kms:GenerateDataKeyPair")], generate(), DENIED),
    ("action/other-service", [allow("s3:*")], describe(), DENIED),
    ("action/list-any", [allow(["kms:Encrypt", "kms:DescribeKey"])], describe(), ALLOWED),
    ("action/upper-case", [allow("KMS:DESCRIBEKEY")], describe(), ALLOWED),
    ("action/lower-case", [allow("kms:describekey")], describe(), ALLOWED),
    ("action/mixed-case-wildcard", [allow("Kms:generateDATAkey*")], generate(), ALLOWED),
    ("notaction/other-action", [no_action(allow("kms:Decrypt"))], describe(), ALLOWED),
    ("notaction/excludes-request", [no_action(allow(["kms:Decrypt", "kms:Describe*"]))], describe(), DENIED),
    ("notaction/excludes-case-insensitive", [no_action(allow("KMS:DESCRIBEKEY"))], describe(), DENIED),
    ("notaction/deny-all-but-decrypt",
     [allow("kms:*"), no_action(deny("kms:Decrypt"))], describe(), DENIED),
    ("notaction/deny-all-but-decrypt-lets-decrypt",
     [allow("kms:*"), no_action(deny("kms:Decrypt"))], ct_decrypt(), ALLOWED),
    ("action/missing", [{"Effect": "Allow", "Principal": CT, "Resource": "*"}], describe(), DENIED),
]

# --------------------------------------------------------------------------- Principal / NotPrincipal
# "AWS JSON policy elements: Principal" and "NotPrincipal", IAM User Guide
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
# "Principal": "*" and {"AWS": "*"} are everyone; an account id or :root ARN is the account
# (in a key policy: every IAM principal of the account, through its IAM policies).

PRINCIPAL_CASES = [
    ("principal/star", [allow("kms:DescribeKey", "*")], describe(), ALLOWED),
    ("principal/aws-star", [allow("kms:DescribeKey", {"AWS": "*"})], describe(), ALLOWED),
    ("principal/aws-star-in-list", [allow("kms:DescribeKey", {"AWS": ["*"]})], describe(), ALLOWED),
    ("principal/service-list", [allow("kms:DescribeKey", {"Service": ["s3.amazonaws.com", CLOUDTRAIL_SERVICE]})],
     describe(), ALLOWED),
    ("principal/other-service", [allow("kms:DescribeKey", {"Service": "s3.amazonaws.com"})], describe(), DENIED),
    ("principal/account-root-is-not-service", [allow("kms:*", {"AWS": ROOT})], describe(), DENIED),
    ("principal/account-id-is-root", [allow("kms:Decrypt", {"AWS": ACCOUNT})], reader(BOB), ALLOWED),
    ("principal/other-account-id", [allow("kms:Decrypt", {"AWS": OTHER})], reader(BOB), DENIED),
    ("principal/missing", [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}], describe(), DENIED),
    ("principal/federated-never", [allow("kms:*", {"Federated": "cognito-identity.amazonaws.com"})],
     describe(), DENIED),
    # Allow + NotPrincipal: the archived IAM guide (awsdocs/iam-user-guide,
    # reference_policies_elements_notprincipal.md) says it "allows all principals except the one
    # named"; the current page says Allow with NotPrincipal "is not supported". Evaluated as the former.
    ("notprincipal/allow-everyone-but-root", [not_principal(allow("kms:DescribeKey", {"AWS": ROOT}))],
     describe(), ALLOWED),
    ("notprincipal/allow-everyone-but-cloudtrail", [not_principal(allow("kms:DescribeKey", CT))],
     describe(), DENIED),
    # Deny + NotPrincipal: "the actions specified in the policy statement are explicitly denied to
    # all principals except for the ones specified"; AWS's example lists the user and its account.
    ("notprincipal/deny-everyone-but-root", [allow("kms:*", "*"), not_principal(deny("kms:*", {"AWS": ROOT}))],
     describe(), DENIED),
    ("notprincipal/deny-everyone-but-bob-spares-bob",
     [allow("kms:*", "*"), not_principal(deny("kms:*", {"AWS": [BOB, ROOT]}))], reader(BOB), ALLOWED),
    ("notprincipal/deny-everyone-but-bob-denies-alice",
     [allow("kms:*", "*"), not_principal(deny("kms:*", {"AWS": [BOB, ROOT]}))], reader(ALICE, OTHER), DENIED),
    ("notprincipal/deny-everyone-but-cloudtrail", [allow("kms:*", "*"), not_principal(deny("kms:*", CT))],
     describe(), ALLOWED),
]

# --------------------------------------------------------------------------- Deny
# "Policy evaluation logic", IAM User Guide: an explicit Deny overrides any Allow;
# a request that nothing allows is implicitly denied.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html

DENY_CASES = [
    ("deny/nothing-allows", [], describe(), DENIED),
    ("deny/beats-allow", [AWS_DESCRIBE_PLAIN, deny("kms:DescribeKey")], describe(), DENIED),
    ("deny/beats-allow-first", [deny("kms:DescribeKey"), AWS_DESCRIBE_PLAIN], describe(), DENIED),
    ("deny/wildcard-action", [AWS_ENCRYPT, deny("kms:*", CT)], generate(), DENIED),
    ("deny/other-action-no-effect", [AWS_ENCRYPT, deny("kms:ScheduleKeyDeletion")], generate(), ALLOWED),
    ("deny/other-principal-no-effect", [AWS_ENCRYPT, deny("kms:*", {"AWS": ALICE})], generate(), ALLOWED),
    ("deny/foreign-account-confused-deputy",
     [AWS_ENCRYPT_TWO_ACCOUNTS, deny("kms:*", CT, {"StringNotEquals": {"aws:SourceAccount": ACCOUNT}})],
     generate(T_OTHER_ACCOUNT), DENIED),
    ("deny/foreign-account-spares-own",
     [AWS_ENCRYPT_TWO_ACCOUNTS, deny("kms:*", CT, {"StringNotEquals": {"aws:SourceAccount": ACCOUNT}})],
     generate(), ALLOWED),
    ("deny/unless-principal-is-aws-service",
     [AWS_DESCRIBE_PLAIN, deny("kms:*", "*", {"Bool": {"aws:PrincipalIsAWSService": "false"}})],
     describe(), ALLOWED),
    ("deny/not-resource-star-never-applies",
     [AWS_DESCRIBE_PLAIN, {"Effect": "Deny", "Principal": "*", "Action": "kms:DescribeKey", "NotResource": "*"}],
     describe(), ALLOWED),
]

# --------------------------------------------------------------------------- Null, in every spelling
# "Condition operator to check existence of condition keys", IAM User Guide
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null
# Null "false": the key is present; "true": it is absent. JSON true/false and any
# capitalisation of the strings are accepted.

NULL_CASES = [
    (f"null/{label}-present-holds", [allow("kms:GenerateDataKey*", CT, {"Null": {CTX: value}})], generate(), ALLOWED)
    for label, value in (("str-false", "false"), ("json-false", False), ("str-False", "False"), ("str-FALSE", "FALSE"))
] + [
    (f"null/{label}-present-fails", [allow("kms:GenerateDataKey*", CT, {"Null": {CTX: value}})], generate(), DENIED)
    for label, value in (("str-true", "true"), ("json-true", True), ("str-True", "True"))
] + [
    ("null/false-absent-fails", [allow("kms:DescribeKey", CT, {"Null": {CTX: "false"}})], describe(), DENIED),
    ("null/true-absent-holds", [allow("kms:DescribeKey", CT, {"Null": {CTX: True}})], describe(), ALLOWED),
    ("null/reader-json-false", [dict(AWS_DECRYPT_USER, Condition={"Null": {CTX: False}})], reader(BOB), ALLOWED),
    ("null/reader-str-False", [dict(AWS_DECRYPT_USER, Condition={"Null": {CTX: "False"}})], reader(BOB), ALLOWED),
    ("null/source-arn-false-trail", [allow("kms:GenerateDataKey", CT, {"Null": {"aws:SourceArn": "false"}})],
     generate(), ALLOWED),
    ("null/source-arn-false-eds", [allow("kms:GenerateDataKey", CT, {"Null": {"aws:SourceArn": "false"}})],
     eds("kms:GenerateDataKey"), DENIED),
    ("null/values-are-or", [allow("kms:DescribeKey", CT, {"Null": {CTX: ["false", "true"]}})], describe(), ALLOWED),
    ("null/key-case-insensitive", [allow("kms:GenerateDataKey*", CT, {"Null": {CTX.upper(): "false"}})],
     generate(), ALLOWED),
]

# --------------------------------------------------------------------------- string and ARN operators
# "IAM JSON policy elements: Condition operators", IAM User Guide
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
# StringEquals compares literally (a * in its value is a literal *); StringLike and
# the ARN operators take * and ?; ARN operators compare the six components.

WILD_CTX = f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"
STRING_CASES = [
    ("stringequals/wildcard-value-is-literal",
     [allow("kms:GenerateDataKey*", CT, {"StringEquals": {CTX: WILD_CTX}})], generate(), DENIED),
    ("stringequals/wildcard-source-arn-is-literal",
     [allow("kms:GenerateDataKey*", CT, {"StringEquals": {"aws:SourceArn": WILD_CTX}})], generate(), DENIED),
    ("stringlike/same-value-matches",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: WILD_CTX}})], generate(), ALLOWED),
    ("stringequals/exact-arn", [allow("kms:GenerateDataKey*", CT, {"StringEquals": {CTX: TRAIL_ARN}})],
     generate(), ALLOWED),
    ("stringequals/case-sensitive-value",
     [allow("kms:GenerateDataKey*", CT, {"StringEquals": {CTX: TRAIL_ARN.upper()}})], generate(), DENIED),
    ("stringequalsignorecase/value",
     [allow("kms:GenerateDataKey*", CT, {"StringEqualsIgnoreCase": {CTX: TRAIL_ARN.upper()}})], generate(), ALLOWED),
    ("stringlike/question-mark",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: f"arn:aws:cloudtrail:us-east-?:{ACCOUNT}:trail/*"}})],
     generate(), ALLOWED),
    ("stringlike/case-sensitive-value",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: f"arn:aws:cloudtrail:*:{ACCOUNT}:TRAIL/*"}})],
     generate(), DENIED),
    ("stringnotlike/excludes-trail",
     [allow("kms:GenerateDataKey*", CT, {"StringNotLike": {"aws:SourceArn": "*:trail/management-*"}})],
     generate(), DENIED),
    ("stringnotequals/other-value", [allow("kms:GenerateDataKey*", CT, {"StringNotEquals": {"aws:SourceArn": "x"}})],
     generate(), ALLOWED),
    ("arnlike/wildcard-source-arn",
     [allow("kms:GenerateDataKey*", CT, {"ArnLike": {"aws:SourceArn": WILD_CTX}})], generate(), ALLOWED),
    ("arnequals/wildcard-source-arn",
     [allow("kms:GenerateDataKey*", CT, {"ArnEquals": {"aws:SourceArn": WILD_CTX}})], generate(), ALLOWED),
    ("arnlike/region-component-mismatch",
     [allow("kms:GenerateDataKey*", CT, {"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:eu-*:*:trail/*"}})],
     generate(), DENIED),
    ("arnlike/resource-component-wildcard",
     [allow("kms:GenerateDataKey*", CT, {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudtrail:*:{ACCOUNT}:*events"}})],
     generate(), ALLOWED),
    ("arnnotequals/other-trail",
     [allow("kms:GenerateDataKey*", CT, {"ArnNotEquals": {"aws:SourceArn": TRAIL_ARN + "-old"}})],
     generate(), ALLOWED),
    ("stringequals/source-account", [allow("kms:DescribeKey", CT, {"StringEquals": {"aws:SourceAccount": ACCOUNT}})],
     describe(), ALLOWED),
    ("bool/principal-is-aws-service",
     [allow("kms:DescribeKey", CT, {"Bool": {"aws:PrincipalIsAWSService": True}})], describe(), ALLOWED),
    ("bool/principal-is-aws-service-string-True",
     [allow("kms:DescribeKey", CT, {"Bool": {"aws:PrincipalIsAWSService": "True"}})], describe(), ALLOWED),
    ("bool/reader-is-not-a-service",
     [allow("kms:Decrypt", {"AWS": BOB}, {"Bool": {"aws:PrincipalIsAWSService": "true"}})], reader(BOB), DENIED),
    ("stringequals/principal-service-name",
     [allow("kms:DescribeKey", "*", {"StringEquals": {"aws:PrincipalServiceName": CLOUDTRAIL_SERVICE}})],
     describe(), ALLOWED),
]

# --------------------------------------------------------------------------- several keys, values, qualifiers
# "Creating a condition with multiple keys or values", IAM User Guide: several
# operators or keys AND, several values for one key OR.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
# "...IfExists" and set operators: condition operators page and
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
# ("ForAllValues ... also returns true if there are no context keys in the request";
#  ForAnyValue: "For no matching context key or a null dataset, the condition returns false.")

LOGIC_CASES = [
    ("logic/two-keys-and-one-fails",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: WILD_CTX, "aws:SourceArn": "*:trail/other"}})],
     generate(), DENIED),
    ("logic/two-operators-and-one-fails",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: WILD_CTX},
                                         "StringEquals": {"aws:SourceAccount": OTHER}})], generate(), DENIED),
    ("logic/two-operators-and-both-hold",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: WILD_CTX},
                                         "StringEquals": {"aws:SourceAccount": ACCOUNT}})], generate(), ALLOWED),
    ("logic/values-or", [allow("kms:DescribeKey", CT, {"StringEquals": {"aws:SourceAccount": [OTHER, ACCOUNT]}})],
     describe(), ALLOWED),
    ("logic/negated-values-nor",
     [allow("kms:DescribeKey", CT, {"StringNotEquals": {"aws:SourceAccount": [OTHER, ACCOUNT]}})], describe(), DENIED),
    ("ifexists/absent-holds",
     [allow("kms:GenerateDataKey", CT, {"StringEqualsIfExists": {"aws:SourceArn": TRAIL_ARN}})],
     eds("kms:GenerateDataKey"), ALLOWED),
    ("ifexists/present-mismatch-fails",
     [allow("kms:GenerateDataKey", CT, {"StringEqualsIfExists": {"aws:SourceArn": TRAIL_ARN}})],
     generate(T_OTHER_NAME), DENIED),
    ("absent/plain-operator-fails",
     [allow("kms:GenerateDataKey", CT, {"StringEquals": {"aws:SourceAccount": ACCOUNT}})],
     eds("kms:GenerateDataKey"), DENIED),
    ("absent/negated-operator-holds",
     [allow("kms:GenerateDataKey", CT, {"StringNotEquals": {"aws:SourceAccount": OTHER}})],
     eds("kms:GenerateDataKey"), ALLOWED),
    ("absent/service-has-no-source-vpc",
     [allow("kms:DescribeKey", CT, {"StringEquals": {"aws:SourceVpc": "vpc-1"}})], describe(), DENIED),
    ("forallvalues/absent-holds",
     [allow("kms:DescribeKey", CT, {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "aws:cloudtrail:arn"}})],
     describe(), ALLOWED),
    ("forallvalues/present-all-match",
     [allow("kms:GenerateDataKey*", CT, {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "aws:cloudtrail:arn"}})],
     generate(), ALLOWED),
    ("forallvalues/present-not-all-match",
     [allow("kms:GenerateDataKey*", CT, {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "other"}})],
     generate(), DENIED),
    ("forallvalues/negated-present",
     [allow("kms:GenerateDataKey*", CT, {"ForAllValues:StringNotLike": {"kms:EncryptionContextKeys": "aws:*"}})],
     generate(), DENIED),
    ("foranyvalue/absent-fails",
     [allow("kms:DescribeKey", CT, {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "aws:cloudtrail:arn"}})],
     describe(), DENIED),
    ("foranyvalue/negated-absent-fails",
     [allow("kms:DescribeKey", CT, {"ForAnyValue:StringNotEquals": {"kms:EncryptionContextKeys": "x"}})],
     describe(), DENIED),
    ("foranyvalue/present-match",
     [allow("kms:GenerateDataKey*", CT, {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "aws:cloudtrail:*"}})],
     generate(), ALLOWED),
    # operators the evaluator does not compute: absent keys follow the rules above,
    # present or unknown keys make the decision unknown
    ("opaque-operator/absent-key-fails",
     [allow("kms:DescribeKey", CT, {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})], describe(), DENIED),
    ("opaque-operator/negated-absent-key-holds",
     [allow("kms:DescribeKey", CT, {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}})], describe(), ALLOWED),
    ("opaque-operator/unknown-key",
     [allow("kms:DescribeKey", CT, {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})],
     describe(), UNKNOWN),
    ("opaque-operator/present-key",
     [allow("kms:DescribeKey", CT, {"NumericEquals": {"aws:SourceAccount": ACCOUNT}})], describe(), UNKNOWN),
    ("condition-key/upper-case",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX.upper(): WILD_CTX}})], generate(), ALLOWED),
    ("condition-key/lower-case",
     [allow("kms:GenerateDataKey*", CT, {"StringEquals": {"aws:sourcearn": TRAIL_ARN}})], generate(), ALLOWED),
]

# --------------------------------------------------------------------------- accounts, partitions, regions
# The trail's ARN is arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME and CloudTrail
# sends aws:SourceAccount = the trail owner's account (create-kms-key-policy-for-cloudtrail.html).
# Unresolved partition/region/account values are the trail's own (policy.py docstring):
# only two different literals are a mismatch, and one unresolved account is one value.

ACCOUNT_CASES = [
    ("account/literal-mismatch-context",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: f"arn:aws:cloudtrail:*:{OTHER}:trail/*"}})],
     generate(), DENIED),
    ("account/literal-mismatch-source-account",
     [allow("kms:DescribeKey", CT, {"StringEquals": {"aws:SourceAccount": OTHER}})], describe(), DENIED),
    ("account/literal-mismatch-source-arn-region",
     [allow("kms:DescribeKey", CT, {"StringEquals": {"aws:SourceArn": TRAIL_ARN.replace(REGION, "eu-west-1")}})],
     describe(), DENIED),
    ("account/literal-mismatch-partition",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: f"arn:aws-cn:cloudtrail:*:{ACCOUNT}:trail/*"}})],
     generate(), DENIED),
    ("account/unresolved-taken-as-own",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: f"arn:aws:cloudtrail:*:{OTHER}:trail/*"}})],
     generate(T_ENV), ALLOWED),
    ("account/unresolved-partition-taken-as-own",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: f"arn:aws-cn:cloudtrail:*:{ACCOUNT}:trail/*"}})],
     generate(T_ENV), ALLOWED),
    ("account/unresolved-same-literal-twice",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: WILD_CTX},
                                         "StringEquals": {"aws:SourceAccount": ACCOUNT}})], generate(T_ENV), ALLOWED),
    ("account/unresolved-two-different-literals",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: WILD_CTX},
                                         "StringEquals": {"aws:SourceAccount": OTHER}})], generate(T_ENV), DENIED),
    ("account/unresolved-one-of-two-values",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: [WILD_CTX, f"arn:aws:cloudtrail:*:{OTHER}:trail/*"]},
                                         "StringEquals": {"aws:SourceAccount": OTHER}})], generate(T_ENV), ALLOWED),
    ("account/unresolved-two-statements-one-account-each",  # each statement alone can hold
     [AWS_DESCRIBE_PLAIN | {"Condition": {"StringEquals": {"aws:SourceAccount": OTHER}}},
      allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: WILD_CTX}})], generate(T_ENV), ALLOWED),
    ("account/policy-symbol-matches-own",
     [allow("kms:DescribeKey", CT, {"StringEquals": {"aws:SourceAccount": Symbol("AWS::AccountId", "account")}})],
     describe(), ALLOWED),
    ("account/policy-symbol-in-arn",
     [allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: SymStr.of(
         "arn:", Symbol("AWS::Partition", "partition"), ":cloudtrail:*:", Symbol("AWS::AccountId", "account"),
         ":trail/*")}})], generate(T_ENV), ALLOWED),
    ("account/many-unrelated-literals-do-not-crowd-out",
     [allow("kms:*", {"AWS": "*"}, {"StringEquals": {"kms:CallerAccount": [f"00000000000{i}" for i in range(8)]}}),
      allow("kms:GenerateDataKey*", CT, {"StringLike": {CTX: f"arn:aws:cloudtrail:*:{OTHER}:trail/*"},
                                         "StringEquals": {"aws:SourceAccount": OTHER}})],
     generate(T_ENV), ALLOWED),
]

# --------------------------------------------------------------------------- unknown values
# Values the code does not fix (values.Symbol, kind "opaque"): a decision that
# depends on one is "unknown", never a guess (policy.py docstring).

OPAQUE = Symbol("var.trail_arn", "opaque", "var.trail_arn has no default")
UNKNOWN_CASES = [
    ("unknown/source-arn-variable",
     [allow("kms:GenerateDataKey*", CT, {"StringEquals": {"aws:SourceArn": OPAQUE}})], generate(), UNKNOWN),
    ("unknown/trail-name-exact-arn", [AWS_ENCRYPT], generate(T_OPAQUE_NAME), UNKNOWN),
    ("unknown/trail-name-wildcard-suffices", [AWS_ENCRYPT_NO_SOURCE_ARN], generate(T_OPAQUE_NAME), ALLOWED),
    ("unknown/trail-name-but-account-mismatch",
     [allow("kms:GenerateDataKey*", CT, {"StringEquals": {"aws:SourceArn": TRAIL_ARN.replace(ACCOUNT, OTHER)}})],
     generate(T_OPAQUE_NAME), DENIED),
    ("unknown/effect", [dict(AWS_DESCRIBE_PLAIN, Effect=Symbol("var.effect"))], describe(), UNKNOWN),
    ("unknown/action", [allow(Symbol("var.actions"))], describe(), UNKNOWN),
    ("unknown/condition-block", [allow("kms:DescribeKey", CT, Symbol("var.condition"))], describe(), UNKNOWN),
    ("unknown/statement", [Symbol("var.statement")], describe(), UNKNOWN),
    ("unknown/unknown-context-key",
     [allow("kms:DescribeKey", CT, {"StringEquals": {"aws:RequestTag/team": "security"}})], describe(), UNKNOWN),
    ("unknown/allow-known-deny-unknown",
     [AWS_DESCRIBE_PLAIN, deny("kms:*", "*", {"Bool": {"aws:SecureTransport": "false"}})], describe(), UNKNOWN),
    ("unknown/known-deny-beats-unknown-allow",
     [allow("kms:DescribeKey", CT, {"StringEquals": {"aws:SourceArn": OPAQUE}}), deny("kms:DescribeKey")],
     describe(), DENIED),
    ("unknown/known-allow-with-unknown-other-allow",
     [AWS_DESCRIBE_PLAIN, allow("kms:DescribeKey", CT, {"StringEquals": {"aws:SourceArn": OPAQUE}})],
     describe(), ALLOWED),
    ("unknown/variable-irrelevant-to-request",
     [AWS_DESCRIBE_PLAIN, allow("kms:Decrypt", {"AWS": Symbol("var.reader")})], describe(), ALLOWED),
    ("unknown/aws-principal-variable-never-a-service",
     [allow("kms:DescribeKey", {"AWS": Symbol("var.reader")})], describe(), DENIED),
]

ALL_CASES = (AWS_DOC_CASES + DEFAULT_POLICY_CASES + ACTION_CASES + PRINCIPAL_CASES + DENY_CASES + NULL_CASES
             + STRING_CASES + LOGIC_CASES + ACCOUNT_CASES + UNKNOWN_CASES)


def test_case_ids_unique_and_enough():
    ids = [c[0] for c in ALL_CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 60


@pytest.mark.parametrize("stmts, request_, expected", [c[1:] for c in ALL_CASES], ids=[c[0] for c in ALL_CASES])
def test_evaluator_table(stmts, request_, expected):
    decision = evaluate(policy(*stmts), request_)
    assert decision.verdict == expected, decision


# --------------------------------------------------------------------------- decision details


def test_allow_names_the_deciding_statement():
    d = evaluate(policy(AWS_DECRYPT_USER, AWS_ENCRYPT, AWS_DESCRIBE), generate())
    assert d.verdict == ALLOWED and d.deciding == [1] and not d.explicit_deny


def test_explicit_deny_is_reported_as_such():
    d = evaluate(policy(AWS_DESCRIBE_PLAIN, deny("kms:*", sid="NoOne")), describe())
    assert d.verdict == DENIED and d.explicit_deny and d.deciding == [1]


def test_implicit_deny_has_no_deciding_statement():
    d = evaluate(policy(AWS_DECRYPT_USER), describe())
    assert d.verdict == DENIED and not d.explicit_deny and d.deciding == [] and d.near_misses == []


def test_stringequals_wildcard_near_miss_says_why():
    d = evaluate(policy(allow("kms:GenerateDataKey*", CT, {"StringEquals": {CTX: WILD_CTX}}, sid="Enc")), generate())
    assert d.verdict == DENIED
    [(index, why)] = d.near_misses
    assert index == 0
    assert "StringEquals with a wildcard value" in why
    assert WILD_CTX in why and CTX in why
    assert "use StringLike" in why


def test_account_mismatch_near_miss_shows_both_values():
    d = evaluate(policy(allow("kms:DescribeKey", CT, {"StringEquals": {"aws:SourceAccount": OTHER}})), describe())
    [(_, why)] = d.near_misses
    assert OTHER in why and ACCOUNT in why and "aws:SourceAccount" in why


def test_absent_key_near_miss_explains_event_data_store():
    d = evaluate(policy(allow("kms:GenerateDataKey", CT, {"StringEquals": {"aws:SourceArn": TRAIL_ARN}})),
                 eds("kms:GenerateDataKey"))
    [(_, why)] = d.near_misses
    assert "does not carry" in why and "event data stores" in why


def test_null_near_miss_says_key_absent():
    d = evaluate(policy(allow("kms:DescribeKey", CT, {"Null": {CTX: "false"}})), describe())
    [(_, why)] = d.near_misses
    assert "Null" in why and "absent" in why


def test_unresolved_account_is_reported_as_assumed():
    d = evaluate(policy(AWS_ENCRYPT_NO_SOURCE_ARN), generate(T_ENV))
    assert d.verdict == ALLOWED
    assert d.assumed == {"partition": "aws", "account": ACCOUNT}


def test_literal_env_is_never_reported_as_assumed():
    assert evaluate(policy(AWS_ENCRYPT_NO_SOURCE_ARN), generate()).assumed == {}


def test_unknown_names_the_unknown_value():
    d = evaluate(policy(AWS_ENCRYPT), generate(T_OPAQUE_NAME))
    assert d.verdict == UNKNOWN
    assert any("var.trail_name has no default" in u for u in d.unknowns)
    assert any("statement 'Allow CloudTrail to encrypt logs'" in u for u in d.unknowns)


def test_unknown_document():
    d = evaluate(Symbol("var.policy", "opaque", "var.policy has no default"), describe())
    assert d.verdict == UNKNOWN and d.unknowns == ["the key policy is not fixed by the code (var.policy has no default)"]
    assert evaluate({"Statement": Symbol("x")}, describe()).verdict == UNKNOWN
    assert evaluate("not a policy", describe()).verdict == UNKNOWN


def test_display_labels_fresh_values():
    d = evaluate(policy(allow("kms:GenerateDataKey*", CT, {"StringEquals": {"aws:SourceAccount": OTHER},
                                                             "StringLike": {CTX: WILD_CTX}})), generate(T_ENV))
    assert d.verdict == DENIED
    text = " ".join(why for _, why in d.near_misses)
    assert "\x00" not in display(text)


def test_single_statement_object_is_accepted():
    assert evaluate({"Statement": AWS_DESCRIBE_PLAIN}, describe()).verdict == ALLOWED


# --------------------------------------------------------------------------- helpers used by the rules


def test_statements_labels():
    stmts = statements(policy(AWS_DESCRIBE_PLAIN, allow("kms:*"), "junk"))
    assert [s.label() for s in stmts] == ["statement 'Allow CloudTrail access'", "statement #2", "statement #3"]
    assert stmts[2].problems == ["is not an object"]
    assert statements(None) == [] and statements({"Statement": 3}) == []


def test_condition_keys_lower_case():
    assert condition_keys(AWS_ENCRYPT) == [
        ("StringLike", CTX.lower(), [WILD_CTX]),
        ("StringEquals", "aws:sourcearn", TRAIL_ARN),
    ]
    assert condition_keys("junk") == [] and condition_keys(AWS_DESCRIBE_PLAIN) == []


def test_action_matches_helper():
    assert action_matches(AWS_ENCRYPT, "kms:GenerateDataKeyWithoutPlaintext") is True
    assert action_matches(AWS_ENCRYPT, "kms:Decrypt") is False
    assert action_matches(no_action(AWS_ENCRYPT), "kms:Decrypt") is True
    assert action_matches(allow(Symbol("var.a")), "kms:Decrypt") is None
    assert action_matches("junk", "kms:Decrypt") is False


def test_principal_entries_helper():
    assert principal_entries(CONSOLE_TRAIL_POLICY[0]) == [("AWS", ROOT), ("AWS", BOB)]
    assert principal_entries(allow("kms:*", "*")) == [("*", "*")]
    assert principal_entries(not_principal(AWS_DESCRIBE_PLAIN)) == []
