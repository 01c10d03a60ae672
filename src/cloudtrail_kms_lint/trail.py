"""A trail's findings: one function shared by every front end.

Given the trail (or event data store) and what its key reference resolved to,
return the catalogue findings. The requests simulated here are the ones
CloudTrail and log readers make, as documented by AWS:

* "Configure AWS KMS key policies for CloudTrail", CloudTrail User Guide
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html
  Trails: CloudTrail calls kms:DescribeKey and kms:GenerateDataKey* with the
  encryption context ``aws:cloudtrail:arn`` = the trail ARN, and sends
  ``aws:SourceArn`` (the trail ARN) and ``aws:SourceAccount`` (the trail
  owner's account). Log readers need kms:Decrypt; AWS's statement scopes it with
  ``Null {"kms:EncryptionContext:aws:cloudtrail:arn": "false"}``.
  Event data stores: CloudTrail needs kms:GenerateDataKey and kms:Decrypt;
  "The aws:SourceArn and aws:SourceAccount condition keys are not supported in
  KMS key policies for event data stores".
* "Default key policy", KMS Developer Guide
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
  A key created without a policy gets one statement that allows the account
  (root principal) kms:*, and nothing for service principals.
* "AWS managed keys", KMS Developer Guide: aliases ``alias/aws/...`` name keys
  whose policy you cannot change.
"""

from __future__ import annotations

from typing import Any, Optional

from . import catalogue, fixes
from .catalogue import EVENT_DATA_STORE, TRAIL
from .matching import t_or
from .model import (
    AWS_MANAGED,
    NO_KEY,
    NOT_A_KEY,
    RESOLVED,
    UNRESOLVED,
    Finding,
    Key,
    KeyPolicy,
    KeyResolution,
    Location,
    Related,
    Subject,
)
from .policy import (
    ALLOWED,
    CLOUDTRAIL_SERVICE,
    DENIED,
    UNKNOWN,
    Decision,
    Principal,
    Request,
    action_matches,
    condition_keys,
    display,
    evaluate,
    principal_entries,
    statements,
)
from .values import Symbol, Text, is_text, make_text, parts_of, render, split_text

CTX_KEY = "kms:encryptioncontext:aws:cloudtrail:arn"
CTX_KEY_DISPLAY = "kms:EncryptionContext:aws:cloudtrail:arn"
SCOPING_KEYS = (CTX_KEY, "aws:sourcearn", "aws:sourceaccount")

# Keys that a request made directly by a service principal does not carry
# (IAM User Guide, "AWS global condition context keys": the principal keys are
# present for IAM principals; aws:SourceIp/aws:SourceVpc* describe the caller's
# network, which a service-principal call does not have).
_SERVICE_ABSENT = (
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principaltag/*",
    "aws:principaltype",
    "aws:userid",
    "aws:username",
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:multifactorauthpresent",
    "aws:multifactorauthage",
    "kms:viaservice",
)


def default_key_policy(subject: Subject) -> KeyPolicy:
    """The policy AWS gives a key created without one: the account root gets kms:*."""
    root = make_text(["arn:", subject.partition or Symbol("partition", "partition"), ":iam::",
                      subject.account or Symbol("account", "account"), ":root"])
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": root},
             "Action": "kms:*", "Resource": "*"}
        ],
    }
    return KeyPolicy(document=doc, is_default=True)


def _env(subject: Subject) -> dict[str, Text]:
    return {"partition": subject.partition, "region": subject.region, "account": subject.account}


def _candidates(subject: Subject) -> dict[str, list[str]]:
    return {"account": list(subject.accounts)} if subject.accounts else {}


def _account(subject: Subject) -> Text:
    return subject.account or Symbol("account", "account")


def cloudtrail_request(subject: Subject, action: str, *, encryption_context: bool) -> Request:
    """The request CloudTrail makes for a trail or an event data store."""
    ctx: dict[str, list[Text]] = {
        "aws:principalservicename": [CLOUDTRAIL_SERVICE],
        "aws:principalisawsservice": ["true"],
    }
    absent = list(_SERVICE_ABSENT)
    notes: dict[str, str] = {}
    if subject.kind == TRAIL:
        arn = subject.arn()
        ctx["aws:sourcearn"] = [arn]
        ctx["aws:sourceaccount"] = [_account(subject)]
        if encryption_context:
            ctx[CTX_KEY] = [arn]
            ctx["kms:encryptioncontextkeys"] = ["aws:cloudtrail:arn"]
            absent.append("kms:encryptioncontext:*")
        else:
            absent += ["kms:encryptioncontext:*", "kms:encryptioncontextkeys"]
            notes[CTX_KEY] = f"{action} requests carry no encryption context"
    else:
        absent += ["aws:sourcearn", "aws:sourceaccount"]
        note = "AWS does not support aws:SourceArn/aws:SourceAccount in key policies for event data stores"
        notes["aws:sourcearn"] = note
        notes["aws:sourceaccount"] = note
    return Request(
        action=action,
        principal=Principal("service", CLOUDTRAIL_SERVICE),
        context=ctx,
        absent=tuple(absent),
        absent_notes=notes,
        env=_env(subject),
        description=f"{CLOUDTRAIL_SERVICE} {action}",
        candidates=_candidates(subject),
    )


def reader_request(subject: Subject, principal: Principal) -> Request:
    """A log reader decrypting a log file of this trail."""
    arn = subject.arn()
    ctx: dict[str, list[Text]] = {
        CTX_KEY: [arn],
        "kms:encryptioncontextkeys": ["aws:cloudtrail:arn"],
        "kms:calleraccount": [principal.account],
        "aws:principalaccount": [principal.account],
        "aws:principalisawsservice": ["false"],
    }
    if principal.kind == "aws":
        ctx["aws:principalarn"] = [principal.name]
    return Request(
        action="kms:Decrypt",
        principal=principal,
        context=ctx,
        absent=("aws:sourcearn", "aws:sourceaccount", "aws:principalservicename", "kms:encryptioncontext:*"),
        env=_env(subject),
        description=f"{render(principal.name)} kms:Decrypt",
        candidates=_candidates(subject),
    )


# --------------------------------------------------------------------------- findings


class _Builder:
    def __init__(self, subject: Subject, key: Optional[Key], resolution: KeyResolution):
        self.subject = subject
        self.key = key
        self.resolution = resolution
        self.findings: list[Finding] = []

    def add(self, rule_id: str, message: str, related: Optional[list[Related]] = None, fix: str = "") -> None:
        rule = catalogue.BY_ID[rule_id]
        loc = self.subject.location
        self.findings.append(
            Finding(
                rule=rule.id,
                level=rule.level,
                resource=self.subject.resource,
                resource_type=self.subject.resource_type,
                file=loc.file,
                line=loc.line,
                column=loc.column,
                key=self.key.name if self.key else (self.resolution.reference or None),
                message=message,
                related=related or [],
                trace=list(self.resolution.trace),
                fix=fix,
            )
        )


def _where(loc: Optional[Location]) -> str:
    if loc is None:
        return ""
    return f" ({loc.file}:{loc.line})" if loc.line else f" ({loc.file})"


def _stmt_label(policy: KeyPolicy, index: int) -> str:
    stmts = statements(policy.document)
    label = stmts[index].label() if index < len(stmts) else f"statement #{index + 1}"
    loc = policy.statement_location(index)
    if loc and loc.line:
        return f"{label} (line {loc.line})"
    return label


def _policy_where(key: Key, policy: KeyPolicy, subject: Subject) -> str:
    if policy.is_default:
        return f"the default key policy of {key.name} (no policy is set, so AWS applies its default, which allows only the account root)"
    loc = policy.location
    if loc and loc.line and loc.file == subject.location.file:
        return f"the key policy of {key.name} (line {loc.line})"
    return f"the key policy of {key.name}{_where(loc)}"


def _related_for(policy: KeyPolicy, indexes: list[int], message: str) -> list[Related]:
    out = []
    for i in indexes:
        loc = policy.statement_location(i)
        if loc:
            out.append(Related(loc, message))
    if not out and policy.location:
        out.append(Related(policy.location, message))
    return out


def _assumed(decision: Decision) -> str:
    # Only worth saying when a value comparison failed: then the assumed account/region matters.
    if not decision.assumed or not any("does not match" in why for _, why in decision.near_misses):
        return ""
    bits = ", ".join(f"{k} {v}" for k, v in decision.assumed.items())
    return f" (taking the trail's {bits}, as the policy names it)"


def _explain_denied(policy: KeyPolicy, decision: Decision, what: str) -> tuple[str, list[int]]:
    if decision.explicit_deny:
        labels = ", ".join(_stmt_label(policy, i) for i in decision.deciding)
        return f"{labels} explicitly denies {what}", decision.deciding
    if decision.near_misses:
        parts = []
        for i, why in decision.near_misses:
            parts.append(f"{_stmt_label(policy, i)} would allow it, but {why}")
        return "; ".join(parts), [i for i, _ in decision.near_misses]
    return f"no statement allows {what}", []


def _unknown_message(subject: Subject, key: Key, decision: Decision, what: str) -> str:
    why = "; ".join(decision.unknowns) or "a value the code does not fix"
    return f"Cannot verify that the key policy of {key.name} allows {what}: {why}. The policy was not verified."


def _check_policy(b: _Builder, key: Key) -> None:
    subject = b.subject
    policy = key.policy or default_key_policy(subject)
    where = _policy_where(key, policy, subject)
    doc = policy.document

    # A policy the code does not determine is one CTKMS007, not a guess per request.
    whole = evaluate(doc, cloudtrail_request(subject, "kms:DescribeKey", encryption_context=False))
    if whole.verdict == UNKNOWN and not statements(doc):
        b.add("CTKMS007", f"Cannot verify the key policy of {key.name}: {'; '.join(whole.unknowns) or 'it is not known'}. "
              "The policy was not verified.", _related_for(policy, [], "policy not verified"))
        return

    if subject.kind == EVENT_DATA_STORE:
        denied: list[tuple[str, str, list[int]]] = []
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            d = evaluate(doc, cloudtrail_request(subject, action, encryption_context=False))
            what = f"{CLOUDTRAIL_SERVICE} {action}"
            if d.verdict == DENIED:
                why, idx = _explain_denied(policy, d, what)
                denied.append((action, why, idx))
            elif d.verdict == UNKNOWN:
                b.add("CTKMS007", _unknown_message(subject, key, d, what), _related_for(policy, [], "policy not verified"))
        if denied:
            actions = " and ".join(a for a, _, _ in denied)
            reasons = "; ".join(dict.fromkeys(why for _, why, _ in denied))
            idx = list(dict.fromkeys(i for _, _, ix in denied for i in ix))
            b.add("CTKMS004", f"{where[0].upper()}{where[1:]} does not allow {CLOUDTRAIL_SERVICE} {actions} for event data store "
                  f"{subject.resource}: {reasons}.",
                  _related_for(policy, idx, f"CloudTrail's {actions} is not allowed here"),
                  fix=fixes.grant_fix("eds", subject, key, policy, [
                      cloudtrail_request(subject, a, encryption_context=False) for a in ("kms:GenerateDataKey", "kms:Decrypt")]))
        return

    # kms:DescribeKey
    d = evaluate(doc, cloudtrail_request(subject, "kms:DescribeKey", encryption_context=False))
    what = f"{CLOUDTRAIL_SERVICE} kms:DescribeKey"
    if d.verdict == DENIED:
        why, idx = _explain_denied(policy, d, what)
        b.add("CTKMS003", f"{where[0].upper()}{where[1:]} does not allow {what}: {why}.",
              _related_for(policy, idx, f"{what} is not allowed here"),
              fix=fixes.grant_fix("describe", subject, key, policy, [
                  cloudtrail_request(subject, "kms:DescribeKey", encryption_context=False)]))
    elif d.verdict == UNKNOWN:
        b.add("CTKMS007", _unknown_message(subject, key, d, what), _related_for(policy, [], "policy not verified"))

    # kms:GenerateDataKey with the trail's encryption context
    d = evaluate(doc, cloudtrail_request(subject, "kms:GenerateDataKey", encryption_context=True))
    what = f"{CLOUDTRAIL_SERVICE} kms:GenerateDataKey* for trail {subject.resource}"
    if d.verdict == DENIED:
        why, idx = _explain_denied(policy, d, what)
        b.add("CTKMS004", f"{where[0].upper()}{where[1:]} does not allow {what}: {why}{_assumed(d)}.",
              _related_for(policy, idx, "CloudTrail's kms:GenerateDataKey* is not allowed here"),
              fix=fixes.grant_fix("encrypt", subject, key, policy, [
                  cloudtrail_request(subject, "kms:GenerateDataKey", encryption_context=True)]))
    elif d.verdict == UNKNOWN:
        b.add("CTKMS007", _unknown_message(subject, key, d, f"{CLOUDTRAIL_SERVICE} kms:GenerateDataKey*"),
              _related_for(policy, [], "policy not verified"))
    else:
        unscoped = [i for i in d.deciding if not _is_scoped(statements(doc)[i].raw)]
        if unscoped:
            labels = ", ".join(_stmt_label(policy, i) for i in unscoped)
            b.add("CTKMS005", f"{labels[:1].upper()}{labels[1:]} in {where} lets {CLOUDTRAIL_SERVICE} generate data keys for any trail in any account.",
                  _related_for(policy, unscoped, "unscoped CloudTrail grant"),
                  fix=fixes.scope_fix(subject, key, policy, unscoped, [
                      cloudtrail_request(subject, "kms:DescribeKey", encryption_context=False),
                      cloudtrail_request(subject, "kms:GenerateDataKey", encryption_context=True)]))

    _check_readers(b, key, policy, where)


def _is_scoped(st: Any) -> bool:
    for op, key, _values in condition_keys(st):
        low = op.lower()
        if "not" in low.replace("forallvalues", "").replace("foranyvalue", "") or low == "null":
            continue
        if key in SCOPING_KEYS:
            return True
    return False


def _is_cloudtrail_only(entries: list[tuple[str, Any]]) -> bool:
    return bool(entries) and all(t == "Service" and isinstance(v, str) and v.lower() == CLOUDTRAIL_SERVICE for t, v in entries)


def _reader_scoping(st: Any) -> bool:
    """Does the statement restrict Decrypt to CloudTrail log files?"""
    for op, key, values in condition_keys(st):
        if key != CTX_KEY:
            continue
        low = op.lower()
        if low.endswith("ifexists"):
            continue
        base = low.split(":")[-1]
        if base == "null":
            vals = values if isinstance(values, list) else [values]
            if any((v is False) or (isinstance(v, str) and v.strip().lower() == "false") for v in vals):
                return True
        elif base in ("stringlike", "stringequals", "stringequalsignorecase", "arnlike", "arnequals"):
            return True
    return False


def _reader_principals(subject: Subject, entries: list[tuple[str, Any]]) -> list[Principal]:
    out = []
    account = _account(subject)
    partition = subject.partition or Symbol("partition", "partition")
    for ptype, value in entries:
        if ptype == "Service":
            continue
        if ptype == "*" or (ptype == "AWS" and value == "*"):
            name = make_text(["arn:", partition, ":iam::", account, ":role/log-reader"])
            out.append(Principal("aws", name, account))
        elif ptype == "AWS" and is_text(value):
            out.append(Principal("aws", value, _principal_account(value, account)))
    return out


def _reader_request_for(subject: Subject):
    """For fixes: the reader request of an AWS principal value (an ARN, an account id)."""
    return lambda value: reader_request(subject, Principal("aws", value, _principal_account(value, _account(subject))))


def _principal_account(value: Text, default: Text) -> Text:
    if isinstance(value, str) and value.isdigit():
        return value
    fields = split_text(value, ":")
    if len(fields) >= 5 and parts_of(fields[0]) == ("arn",):
        return fields[4]
    return default


def _check_readers(b: _Builder, key: Key, policy: KeyPolicy, where: str) -> None:
    subject = b.subject
    doc = policy.document
    stmts = statements(doc)
    # Decrypt granted to everyone with no condition at all: too broad.
    for s in stmts:
        st = s.raw
        if not isinstance(st, dict) or st.get("Effect") != "Allow" or st.get("Condition"):
            continue
        if action_matches(st, "kms:Decrypt") is not True:
            continue
        if any(t == "*" and v == "*" or (t == "AWS" and v == "*") for t, v in principal_entries(st)):
            b.add("CTKMS006", f"{_stmt_label(policy, s.index)} in {where} grants kms:Decrypt to everyone (Principal \"*\") "
                  f"with no condition.",
                  _related_for(policy, [s.index], "kms:Decrypt granted to everyone"),
                  fix=fixes.reader_fix(subject, key, policy, _reader_request_for(subject), public=s.index))
            return

    candidates = []
    for s in stmts:
        st = s.raw
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        if action_matches(st, "kms:Decrypt") is False:
            continue
        entries = principal_entries(st)
        if not entries or _is_cloudtrail_only(entries):
            continue
        if not _reader_scoping(st):
            continue
        candidates.append(s)

    results = []
    unknowns: list[str] = []
    misses: list[str] = []
    miss_idx: list[int] = []
    for s in candidates:
        for principal in _reader_principals(subject, principal_entries(s.raw)):
            d = evaluate(doc, reader_request(subject, principal))
            results.append(d.verdict == ALLOWED if d.verdict != UNKNOWN else None)
            if d.verdict == UNKNOWN:
                unknowns.extend(d.unknowns)
            elif d.verdict == DENIED:
                why, idx = _explain_denied(policy, d, f"{render(principal.name)} kms:Decrypt")
                misses.append(why)
                miss_idx.extend(idx or [s.index])
    # A statement the code does not show could be the reader grant: unknown, not a failure.
    hidden = [s_ for s_ in stmts if not isinstance(s_.raw, dict)]
    if hidden and not any(r is True for r in results):
        from .values import Symbol as _Sym

        why = [s_.raw.describe() for s_ in hidden if isinstance(s_.raw, _Sym)] or ["a statement is not an object"]
        results.append(None)
        unknowns.extend(why)
    verdict = t_or(results)
    if verdict is True:
        return
    if verdict is None:
        b.add("CTKMS007", f"Cannot verify that the key policy of {key.name} lets log readers decrypt this trail's logs: "
              f"{'; '.join(unknowns) or 'a value the code does not fix'}. The policy was not verified.",
              _related_for(policy, [], "policy not verified"))
        return
    detail = ("; ".join(misses)) if misses else "no statement grants kms:Decrypt to a principal other than CloudTrail with a condition on " + CTX_KEY_DISPLAY
    b.add("CTKMS006", f"{where[0].upper()}{where[1:]} has no scoped kms:Decrypt grant for log readers of trail "
          f"{subject.resource}: {detail}.",
          _related_for(policy, miss_idx, "log readers cannot decrypt"),
          fix=fixes.reader_fix(subject, key, policy, _reader_request_for(subject)))


def _check_resolution(b: _Builder) -> None:
    r = b.resolution
    s = b.subject
    noun = "trail" if s.kind == TRAIL else "event data store"
    attr = "KMS key"
    if r.kind == NO_KEY:
        detail = f" ({r.detail})" if r.detail else ""
        b.add("CTKMS001", f"The {noun} {s.resource} has no {attr}{detail}: its logs are not encrypted with a customer managed key. "
              f"Set it to a customer managed KMS key whose policy lets CloudTrail use it.")
    elif r.kind == AWS_MANAGED:
        b.add("CTKMS002", f"The {noun} {s.resource} uses the AWS managed key {r.detail}: its policy cannot be changed to let "
              f"CloudTrail use it. Use a customer managed KMS key.")
    elif r.kind == NOT_A_KEY:
        ref = f" ({r.reference})" if r.reference else ""
        b.add("CTKMS002", f"The {noun} {s.resource} cannot use its KMS key reference{ref}: {r.detail}.")
    elif r.kind == UNRESOLVED:
        b.add("CTKMS007", f"The KMS key of {noun} {s.resource} cannot be determined from the code: {r.detail or 'unknown value'}. "
              f"The key policy was not verified.")
    elif r.kind == RESOLVED and r.key is not None:
        spec = r.key.spec
        if isinstance(spec, str) and spec and spec.upper() != "SYMMETRIC_DEFAULT":
            b.add("CTKMS002", f"The {noun} {s.resource} uses key {r.key.name} with key spec {spec}: CloudTrail needs a "
                  f"symmetric key (SYMMETRIC_DEFAULT).")
            return
        _check_policy(b, r.key)
        _merge_not_verified(b)


def _merge_not_verified(b: _Builder) -> None:
    """One CTKMS007 per key: the requests that could not be decided share their cause."""
    nv = [f for f in b.findings if f.rule == "CTKMS007"]
    if len(nv) < 2:
        return
    first = nv[0]
    reasons: list[str] = []
    for f in nv:
        reason = f.message.split(": ", 1)[1] if ": " in f.message else f.message
        reason = reason.replace(" The policy was not verified.", "").rstrip(".")
        if reason not in reasons:
            reasons.append(reason)
    key = first.key or "the key"
    first.message = f"Cannot verify the key policy of {key}: {'; '.join(reasons)}. The policy was not verified."
    for f in nv[1:]:
        for rel in f.related:
            if rel not in first.related:
                first.related.append(rel)
    b.findings = [f for f in b.findings if f.rule != "CTKMS007" or f is first]


def analyse(subject: Subject, resolutions: list[KeyResolution]) -> list[Finding]:
    """Findings for one trail or event data store; ``resolutions`` has one entry per scenario."""
    per_scenario: list[tuple[str, list[Finding]]] = []
    for r in resolutions:
        b = _Builder(subject, r.key, r)
        try:
            _check_resolution(b)
        except RecursionError:  # pathological nesting: say so, never pass
            b.findings = []
            b.add("CTKMS007", "The key policy is too deeply nested to evaluate; it was not verified.")
        per_scenario.append((r.scenario, b.findings))
    if any(f.rule in ("CTKMS001", "CTKMS002") for _, fs in per_scenario for f in fs):
        per_scenario = [(sc, [f for f in fs if f.rule in ("CTKMS001", "CTKMS002")]) for sc, fs in per_scenario]
    # A finding that every scenario has is reported once, without a scenario;
    # one that only some scenarios have names them.
    unique: list[Finding] = []
    groups: dict[tuple[str, str], list[tuple[str, Finding]]] = {}
    for sc, fs in per_scenario:
        for f in fs:
            groups.setdefault((f.rule, f.message), []).append((sc, f))
    for (_rule, _msg), items in groups.items():
        first = items[0][1]
        scenarios = [sc for sc, _ in items if sc]
        if len(items) < len(per_scenario) and scenarios:
            label = " / ".join(dict.fromkeys(scenarios))
            msg = first.message
            if msg.startswith("The "):
                msg = "the " + msg[4:]
            first.message = f"{label[:1].upper()}{label[1:]}: {msg}"
        unique.append(first)
    return unique
