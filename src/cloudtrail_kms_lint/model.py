"""Plain data classes shared by the core and every front end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .values import Symbol, Text


@dataclass(frozen=True)
class Location:
    file: str
    line: Optional[int] = None
    column: Optional[int] = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class TraceStep:
    """One step from the trail's key reference to the verdict."""

    text: str
    location: Optional[Location] = None


@dataclass
class Subject:
    """A trail or event data store, as a front end found it."""

    kind: str  # catalogue.TRAIL | catalogue.EVENT_DATA_STORE
    resource: str  # CloudFormation logical id or Terraform address
    resource_type: str  # AWS::CloudTrail::Trail, aws_cloudtrail, ...
    location: Location  # where findings are reported (KMSKeyId line, else the resource)
    name: Text = ""  # the trail name (may be a Symbol)
    partition: Text = ""
    region: Text = ""
    account: Text = ""
    # the accounts the trail may be in when ``account`` is not resolved (configuration "accounts")
    accounts: tuple = ()

    def arn(self) -> Text:
        from .values import make_text

        partition = self.partition or Symbol("partition", "partition")
        region = self.region or Symbol("region", "region")
        account = self.account or Symbol("account", "account")
        if self.kind == "trail":
            name = self.name or Symbol(f"{self.resource}.name", "opaque", "the trail name is not known")
            return make_text(["arn:", partition, ":cloudtrail:", region, ":", account, ":trail/", name])
        return make_text(
            ["arn:", partition, ":cloudtrail:", region, ":", account, ":eventdatastore/",
             Symbol(f"{self.resource}.id", "opaque", "the event data store id is assigned at creation")]
        )


@dataclass
class PolicySource:
    """How a key policy is written, so that a fix can be written the same way (see fixes.py).

    ``style``: ``cfn-yaml`` | ``cfn-json`` | ``cfn-json-string`` (a KeyPolicy string, ``sub``
    when inside Fn::Sub) | ``tf-policy-document`` | ``tf-jsonencode`` | ``tf-json-text``
    (heredoc, ``file()``, ``templatefile()``); "" when not known (fixes are then plain JSON).
    ``expressions`` maps ``account`` / ``partition`` to what gives them in that file
    (``AWS::AccountId``, ``local.account_id``, a templatefile variable); ``declarations``
    maps a kind the module does not declare to (expression, HCL declaration to add[, where:
    "module" (default) or "templatefile", a variable to pass to templatefile()]).
    """

    style: str = ""
    location: Optional[Location] = None  # where the statements are written (data block, jsonencode, KeyPolicy, file)
    label: str = ""  # how to name that place: "local.key_policy", "data.aws_iam_policy_document.key", "policy.json"
    expressions: dict = field(default_factory=dict)
    declarations: dict = field(default_factory=dict)
    interpolates: bool = True  # False: file() JSON or a plain KeyPolicy string (no ${...} substitution)
    sub: bool = False  # cfn-json-string: the string is inside Fn::Sub
    note: str = ""  # said with every fix written here ("the KeyPolicy is a string in a JSON template: ...")


@dataclass
class KeyPolicy:
    """A key policy document (JSON-like, may contain symbols) and where it is written."""

    document: Any
    location: Optional[Location] = None
    statement_locations: list = field(default_factory=list)  # Optional[Location] per statement
    is_default: bool = False  # no policy in the code: AWS applies the default key policy
    source: Optional[PolicySource] = None  # how the policy is written (for fixes); None: not known

    def statement_location(self, index: int) -> Optional[Location]:
        if 0 <= index < len(self.statement_locations) and self.statement_locations[index]:
            return self.statement_locations[index]
        return self.location


@dataclass
class Key:
    name: str  # how the user refers to it: LogKey, aws_kms_key.logs
    policy: Optional[KeyPolicy] = None  # None: no policy given, AWS's default key policy applies
    spec: Text = "SYMMETRIC_DEFAULT"
    location: Optional[Location] = None
    # where a key policy would be added when the key has none (for fixes; location: the block to add it to)
    policy_source: Optional[PolicySource] = None


# kinds of KeyResolution
RESOLVED = "key"
NO_KEY = "none"
AWS_MANAGED = "aws_managed"
NOT_A_KEY = "not_a_key"
UNRESOLVED = "unknown"


@dataclass
class KeyResolution:
    """What a trail's key reference resolved to, in one scenario."""

    kind: str
    key: Optional[Key] = None
    detail: str = ""  # e.g. "alias/aws/cloudtrail", "var.kms_key_arn has no default"
    reference: str = ""  # what the trail wrote, for messages
    scenario: str = ""  # e.g. "when condition UseCmk is false"; "" when unconditional
    trace: list = field(default_factory=list)  # TraceStep
    location: Optional[Location] = None  # where the offending value is written


@dataclass
class Related:
    location: Location
    message: str


# kinds of Suppression
SUPPRESSED_INLINE = "inline"  # a comment in the HCL / Metadata on the CloudFormation resource
SUPPRESSED_BASELINE = "baseline"  # --baseline FILE
SUPPRESSED_CONFIG = "config"  # ignore / per-path-ignores in the configuration file


@dataclass(frozen=True)
class Suppression:
    """Why a finding is suppressed: it is still reported (JSON, SARIF), but never fails the scan."""

    kind: str  # SUPPRESSED_INLINE | SUPPRESSED_BASELINE | SUPPRESSED_CONFIG
    reason: Optional[str] = None  # None: an inline suppression without a reason (also reported as a warning)
    location: Optional[Location] = None  # where the suppression is written, when it is in a file


@dataclass
class Finding:
    rule: str
    level: str
    resource: str
    resource_type: str
    file: str
    line: Optional[int]
    key: Optional[str]
    message: str
    related: list = field(default_factory=list)  # Related
    trace: list = field(default_factory=list)  # TraceStep
    column: Optional[int] = None
    # what to add, where: specific to this finding (falls back to the catalogue's remediation)
    fix: str = ""
    # set on a suppressed finding (ScanResult.suppressed); None on a reported one
    suppressed: Optional[Suppression] = None

    def sort_key(self):
        return (self.file, self.line or 0, self.resource, self.rule, self.message)
