"""The rule catalogue: every rule defined once. Every front end takes its ids and texts from here."""

from __future__ import annotations

from dataclasses import dataclass, field

DOCS_URL = "https://github.com/cloudtrail-kms-lint/cloudtrail-kms-lint/blob/main/docs/rules.md"

ERROR = "error"
WARNING = "warning"

TRAIL = "trail"
EVENT_DATA_STORE = "event_data_store"

_COMMON_MAPPINGS = {
    "CIS AWS Foundations Benchmark": (
        "2.7 (v1.2.0)",
        "3.7 (v1.3.0 to v2.0.0)",
        "3.5 (v3.0.0)",
        "4.5 (v4.0.0 and later)",
    ),
    "AWS Security Hub": ("CloudTrail.2",),
    "AWS Config managed rule": ("cloud-trail-encryption-enabled",),
    "AWS Control Tower": ("CT.CLOUDTRAIL.PR.1",),
}


@dataclass(frozen=True)
class Rule:
    id: str
    checkov_id: str
    cfn_lint_id: str
    level: str
    title: str
    fails_when: str
    rationale: str
    remediation: str
    applies_to: tuple[str, ...]
    mappings: dict = field(default_factory=dict)
    # SARIF "security-severity" (GitHub code scanning: >= 7.0 high, >= 4.0 medium)
    security_severity: str = "7.5"

    @property
    def anchor(self) -> str:
        return self.id.lower()

    @property
    def help_uri(self) -> str:
        return f"{DOCS_URL}#{self.anchor}"

    @property
    def checkov_severity(self) -> str:
        return "HIGH" if self.level == ERROR else "MEDIUM"


def _m(*extra: tuple[str, tuple[str, ...]]) -> dict:
    m = dict(_COMMON_MAPPINGS)
    for k, v in extra:
        m[k] = v
    return m


RULES: tuple[Rule, ...] = (
    Rule(
        id="CTKMS001",
        checkov_id="CKV_CTKMS_1",
        cfn_lint_id="E9101",
        level=ERROR,
        title="Trail or event data store has no KMS key",
        fails_when=(
            "the trail or event data store has no KMS key: the attribute is absent, empty or null, "
            "or absent in some reachable branch (Fn::If with AWS::NoValue, a conditional whose "
            "condition is not statically true)"
        ),
        rationale=(
            "Without a customer managed key CloudTrail encrypts with SSE-S3 only: anyone with read "
            "access to the bucket can read every API call in the account, and CIS, Security Hub "
            "CloudTrail.2 and most audits fail the trail."
        ),
        remediation="Set the trail's KMS key (KMSKeyId / kms_key_id) to a customer managed KMS key whose policy lets CloudTrail use it.",
        applies_to=(TRAIL, EVENT_DATA_STORE),
        mappings=_m(("checkov", ("CKV_AWS_35", "CKV_AWS_294"))),
        security_severity="7.5",
    ),
    Rule(
        id="CTKMS002",
        checkov_id="CKV_CTKMS_2",
        cfn_lint_id="E9102",
        level=ERROR,
        title="KMS key can never work for CloudTrail",
        fails_when=(
            "the key given can never work for CloudTrail: an AWS managed key (alias/aws/...), an "
            "asymmetric key (key spec other than SYMMETRIC_DEFAULT), or a reference to something "
            "that is not a KMS key"
        ),
        rationale=(
            "CloudTrail needs a symmetric customer managed key whose policy you control. AWS managed "
            "keys have fixed policies that do not allow CloudTrail, and asymmetric keys cannot "
            "generate data keys, so CreateTrail fails with InsufficientEncryptionPolicyException "
            "or KmsKeyNotFoundException."
        ),
        remediation="Point the trail at a symmetric (SYMMETRIC_DEFAULT) customer managed KMS key, by its key ARN or alias ARN.",
        applies_to=(TRAIL, EVENT_DATA_STORE),
        mappings=_m(),
        security_severity="7.5",
    ),
    Rule(
        id="CTKMS003",
        checkov_id="CKV_CTKMS_3",
        cfn_lint_id="E9103",
        level=ERROR,
        title="Key policy does not let CloudTrail describe the key",
        fails_when="the key policy does not allow the service principal cloudtrail.amazonaws.com kms:DescribeKey",
        rationale=(
            "CloudTrail calls DescribeKey when the trail is created or updated; without it "
            "CreateTrail/UpdateTrail fail with InsufficientEncryptionPolicyException."
        ),
        remediation='Add a statement: Effect Allow, Principal {"Service": "cloudtrail.amazonaws.com"}, Action "kms:DescribeKey", Resource "*".',
        applies_to=(TRAIL,),
        mappings=_m(),
        security_severity="7.0",
    ),
    Rule(
        id="CTKMS004",
        checkov_id="CKV_CTKMS_4",
        cfn_lint_id="E9104",
        level=ERROR,
        title="Key policy does not let CloudTrail encrypt this trail's logs",
        fails_when=(
            "the key policy does not allow cloudtrail.amazonaws.com kms:GenerateDataKey* for this "
            "trail: no grant, an explicit Deny, or conditions that exclude this trail's ARN or account "
            "(event data stores: kms:GenerateDataKey and kms:Decrypt, without aws:SourceArn/aws:SourceAccount conditions)"
        ),
        rationale=(
            "CloudTrail generates a data key for every log file. If the policy does not allow it, "
            "CreateTrail fails or, after a policy change, CloudTrail silently stops delivering logs."
        ),
        remediation=(
            'Trails: allow Principal {"Service": "cloudtrail.amazonaws.com"} Action "kms:GenerateDataKey*" with Condition '
            'StringLike {"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:ACCOUNT:trail/*"}; event data '
            'stores: allow it "kms:GenerateDataKey" and "kms:Decrypt" without aws:SourceArn/aws:SourceAccount conditions.'
        ),
        applies_to=(TRAIL, EVENT_DATA_STORE),
        mappings=_m(),
        security_severity="8.0",
    ),
    Rule(
        id="CTKMS005",
        checkov_id="CKV_CTKMS_5",
        cfn_lint_id="W9105",
        level=WARNING,
        title="CloudTrail's encrypt grant is not scoped to your trails",
        fails_when=(
            "the statement that lets CloudTrail generate data keys has neither a "
            "kms:EncryptionContext:aws:cloudtrail:arn condition nor an aws:SourceArn/aws:SourceAccount condition"
        ),
        rationale=(
            "An unscoped grant lets CloudTrail encrypt any account's trail with your key (the "
            "confused deputy problem): scope it to your account's trails."
        ),
        remediation=(
            'Add Condition StringLike {"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:ACCOUNT:trail/*"} '
            '(and, as AWS recommends, StringEquals {"aws:SourceArn": TRAIL_ARN}) to that statement.'
        ),
        applies_to=(TRAIL,),
        mappings=_m(),
        security_severity="5.0",
    ),
    Rule(
        id="CTKMS006",
        checkov_id="CKV_CTKMS_6",
        cfn_lint_id="E9106",
        level=ERROR,
        title="No scoped kms:Decrypt grant for log readers",
        fails_when=(
            "no kms:Decrypt grant for log readers (principals other than the CloudTrail service) "
            'scoped to CloudTrail logs (Null {"kms:EncryptionContext:aws:cloudtrail:arn": "false"}, '
            "or a StringLike/StringEquals on that key that matches the trail), or kms:Decrypt is "
            "granted to everyone with no condition at all"
        ),
        rationale=(
            "Users who can read the bucket but not decrypt cannot read the logs; a Decrypt grant to "
            "everyone without conditions lets anyone decrypt anything encrypted under the key."
        ),
        remediation=(
            'Add a statement: Effect Allow, Principal {"AWS": READER_ARN}, Action "kms:Decrypt", Resource "*", '
            'Condition Null {"kms:EncryptionContext:aws:cloudtrail:arn": "false"}.'
        ),
        applies_to=(TRAIL,),
        mappings=_m(),
        security_severity="6.5",
    ),
    Rule(
        id="CTKMS007",
        checkov_id="CKV_CTKMS_7",
        cfn_lint_id="W9107",
        level=WARNING,
        title="Key or key policy cannot be determined from the code",
        fails_when=(
            "the key or its policy cannot be determined from the code (variable without default, "
            "remote module not downloaded, Fn::ImportValue, parameter without default, literal ARN "
            "of a key defined elsewhere, unreadable policy file): the policy was not verified"
        ),
        rationale=(
            "A policy that was not read was not verified. Say which value is unknown rather than "
            "pass silently; --strict makes this fail."
        ),
        remediation="Pass the value (--var NAME=VALUE for Terraform, --parameter NAME=VALUE for CloudFormation), reference a key defined in the scanned code, or scan the code that defines the key together with the trail.",
        applies_to=(TRAIL, EVENT_DATA_STORE),
        mappings=_m(),
        security_severity="4.0",
    ),
)

BY_ID = {r.id: r for r in RULES}
BY_CHECKOV_ID = {r.checkov_id: r for r in RULES}
BY_CFN_LINT_ID = {r.cfn_lint_id: r for r in RULES}


def get(rule_id: str) -> Rule:
    """Look a rule up by any of its ids (CTKMS004, CKV_CTKMS_4, E9104); case-insensitive."""
    key = rule_id.strip().upper()
    for table in (BY_ID, BY_CHECKOV_ID, BY_CFN_LINT_ID):
        if key in table:
            return table[key]
    raise KeyError(rule_id)
