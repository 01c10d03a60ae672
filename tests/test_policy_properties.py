"""Property-based tests (hypothesis) of the key-policy evaluator.

The properties are those of AWS's policy evaluation logic, IAM User Guide:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
* statements are not ordered: reordering them never changes a verdict;
* an explicit Deny overrides any Allow, so adding a Deny that matches the
  request always denies, and adding an Allow never takes a permission away;
* action names and condition key names are case-insensitive
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html).
"""

from __future__ import annotations

import dataclasses
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtrail_kms_lint.catalogue import EVENT_DATA_STORE, TRAIL
from cloudtrail_kms_lint.matching import arn_match, match
from cloudtrail_kms_lint.model import Location, Subject
from cloudtrail_kms_lint.policy import ALLOWED, CLOUDTRAIL_SERVICE, DENIED, UNKNOWN, Principal, evaluate
from cloudtrail_kms_lint.trail import cloudtrail_request, reader_request
from cloudtrail_kms_lint.values import Symbol, SymStr

SETTINGS = settings(max_examples=150, deadline=None)
RANK = {DENIED: 0, UNKNOWN: 1, ALLOWED: 2}

# Nine accounts: more literals than the evaluator's old candidate cap (5), so an
# order-dependent or crowd-out bug in the candidate list shows up.
ACCOUNTS = [str(d) * 12 for d in range(1, 10)]
ACCOUNT = ACCOUNTS[0]
REGIONS = ["us-east-1", "eu-west-1"]
PARTITIONS = ["aws", "aws-cn"]
CTX = "kms:EncryptionContext:aws:cloudtrail:arn"
CT = {"Service": CLOUDTRAIL_SERVICE}
OPAQUE = Symbol("var.trail_arn", "opaque", "var.trail_arn has no default")
ACCOUNT_SYMBOL = Symbol("AWS::AccountId", "account")


def subject(kind=TRAIL, name="main", partition="aws", region="us-east-1", account=ACCOUNT) -> Subject:
    return Subject(kind=kind, resource="R", resource_type="AWS::CloudTrail::Trail",
                   location=Location("t.yaml", 1), name=name, partition=partition, region=region, account=account)


SUBJECTS = [
    subject(),
    subject(account=ACCOUNTS[4], region="eu-west-1"),
    subject(partition="", region="", account=""),  # unresolved environment
    subject(name=Symbol("var.name", "opaque", "var.name has no default")),
    subject(kind=EVENT_DATA_STORE),
]


def _requests():
    out = []
    for s in SUBJECTS:
        if s.kind == TRAIL:
            out.append(cloudtrail_request(s, "kms:DescribeKey", encryption_context=False))
            out.append(cloudtrail_request(s, "kms:GenerateDataKey", encryption_context=True))
            out.append(reader_request(s, Principal("aws", f"arn:aws:iam::{ACCOUNT}:user/Bob", ACCOUNT)))
            out.append(reader_request(s, Principal("aws", f"arn:aws:iam::{ACCOUNTS[1]}:root", ACCOUNTS[1])))
        else:
            out.append(cloudtrail_request(s, "kms:GenerateDataKey", encryption_context=False))
            out.append(cloudtrail_request(s, "kms:Decrypt", encryption_context=False))
    return out


REQUESTS = _requests()

# --------------------------------------------------------------------------- strategies

accounts = st.sampled_from(ACCOUNTS)
partitions = st.sampled_from(PARTITIONS)
regions = st.sampled_from(REGIONS + ["*"])
null_values = st.sampled_from(["false", False, "False", "true", True, "True"])

principals = st.sampled_from([
    ("Principal", "*"),
    ("Principal", {"AWS": "*"}),
    ("Principal", CT),
    ("Principal", {"Service": ["s3.amazonaws.com", CLOUDTRAIL_SERVICE]}),
    ("Principal", {"Service": "s3.amazonaws.com"}),
    ("Principal", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
    ("Principal", {"AWS": ACCOUNTS[1]}),
    ("Principal", {"AWS": f"arn:aws:iam::{ACCOUNT}:user/Bob"}),
    ("NotPrincipal", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
    ("NotPrincipal", CT),
])
action_values = st.sampled_from([
    "kms:*", "*", "kms:GenerateDataKey*", "kms:GenerateDataKey", "kms:DescribeKey", "kms:Decrypt",
    "kms:Describe*", "kms:Gen?rateDataKey", ["kms:Decrypt", "kms:DescribeKey"], "s3:GetObject",
])
actions = st.tuples(st.sampled_from(["Action", "Action", "Action", "NotAction"]), action_values)


@st.composite
def condition_entries(draw):
    """One (operator, key, value) triple, mostly about what CloudTrail sends."""
    acct = draw(accounts)
    several = draw(st.lists(accounts, min_size=2, max_size=6, unique=True))
    kind = draw(st.integers(0, 15))
    if kind == 0:
        return "StringLike", CTX, draw(st.sampled_from([
            f"arn:{draw(partitions)}:cloudtrail:*:{acct}:trail/*",
            [f"arn:aws:cloudtrail:*:{a}:trail/*" for a in several],
        ]))
    if kind == 1:
        return "StringEquals", "aws:SourceAccount", draw(st.sampled_from([acct, ACCOUNT_SYMBOL, several]))
    if kind == 2:
        return "StringEquals", "aws:SourceArn", f"arn:aws:cloudtrail:{draw(regions)}:{acct}:trail/main"
    if kind == 3:
        return "ArnLike", "aws:SourceArn", f"arn:{draw(partitions)}:cloudtrail:{draw(regions)}:{acct}:trail/*"
    if kind == 4:
        return "StringEquals", CTX, f"arn:aws:cloudtrail:*:{acct}:trail/*"  # the wildcard mistake
    if kind == 5:
        return "StringNotEquals", "aws:SourceAccount", acct
    if kind == 6:
        return "Null", CTX, draw(null_values)
    if kind == 7:
        return "Null", "aws:SourceArn", draw(null_values)
    if kind == 8:
        return "Bool", "aws:PrincipalIsAWSService", draw(st.sampled_from(["true", False, "False"]))
    if kind == 9:
        return "StringEqualsIfExists", "aws:SourceArn", f"arn:aws:cloudtrail:us-east-1:{acct}:trail/main"
    if kind == 10:
        return "ForAnyValue:StringLike", "kms:EncryptionContextKeys", "aws:cloudtrail:*"
    if kind == 11:
        return "ForAllValues:StringEquals", "kms:EncryptionContextKeys", "aws:cloudtrail:arn"
    if kind == 12:
        return "StringEquals", "kms:CallerAccount", draw(st.sampled_from([acct, several]))
    if kind == 13:
        return "StringEquals", "aws:SourceArn", OPAQUE
    if kind == 14:
        return "StringEquals", "aws:RequestTag/team", "security"  # a key nobody knows about
    return "StringLike", CTX, SymStr.of("arn:aws:cloudtrail:*:", ACCOUNT_SYMBOL, ":trail/*")


@st.composite
def conditions(draw):
    out: dict = {}
    for op, key, value in draw(st.lists(condition_entries(), max_size=3)):
        out.setdefault(op, {})[key] = value
    return out


@st.composite
def statements(draw, effect=None):
    st_: dict = {"Effect": effect or draw(st.sampled_from(["Allow", "Allow", "Deny"]))}
    if draw(st.booleans()):
        st_["Sid"] = draw(st.sampled_from(["A", "B", "Enc", "Read"]))
    pkey, pval = draw(principals)
    st_[pkey] = pval
    akey, aval = draw(actions)
    st_[akey] = aval
    st_["Resource"] = "*"
    cond = draw(conditions())
    if cond:
        st_["Condition"] = cond
    return st_


policies = st.lists(statements(), max_size=6)
requests = st.sampled_from(REQUESTS)


def doc(stmts) -> dict:
    return {"Version": "2012-10-17", "Statement": list(stmts)}


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(stmts=policies, request_=requests, data=st.data())
def test_reordering_statements_never_changes_the_verdict(stmts, request_, data):
    shuffled = data.draw(st.permutations(stmts))
    assert evaluate(doc(stmts), request_).verdict == evaluate(doc(shuffled), request_).verdict


@SETTINGS
@given(stmts=policies, extra=statements(effect="Allow"), request_=requests, data=st.data())
def test_adding_an_allow_never_takes_a_permission_away(stmts, extra, request_, data):
    before = evaluate(doc(stmts), request_).verdict
    at = data.draw(st.integers(0, len(stmts)))
    after = evaluate(doc(stmts[:at] + [extra] + stmts[at:]), request_).verdict
    assert RANK[after] >= RANK[before]
    if before == ALLOWED:
        assert after == ALLOWED


T_ENV = SUBJECTS[2]


@SETTINGS
@given(own=accounts, noise=st.lists(st.lists(accounts, min_size=1, max_size=6, unique=True), min_size=1, max_size=4),
       data=st.data())
def test_allows_naming_many_accounts_never_crowd_out_a_grant(own, noise, data):
    """The trail's unresolved account may be any literal the policy names: a grant
    for one of them holds however many other accounts other Allows name, in any order."""
    request_ = cloudtrail_request(T_ENV, "kms:GenerateDataKey", encryption_context=True)
    grant = {"Effect": "Allow", "Principal": CT, "Action": "kms:GenerateDataKey*", "Resource": "*",
             "Condition": {"StringLike": {CTX: f"arn:aws:cloudtrail:*:{own}:trail/*"},
                           "StringEquals": {"aws:SourceAccount": own}}}
    assert evaluate(doc([grant]), request_).verdict == ALLOWED
    others = [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{own}:root"}, "Action": "kms:*",
               "Resource": "*", "Condition": {"StringLike": {CTX: [f"arn:aws:cloudtrail:*:{a}:trail/*" for a in accts]},
                                              "StringEquals": {"aws:SourceAccount": accts}}}
              for accts in noise]
    stmts = data.draw(st.permutations(others + [grant]))
    assert evaluate(doc(stmts), request_).verdict == ALLOWED


@st.composite
def matching_denies(draw, request_):
    """A Deny statement that certainly applies to ``request_``."""
    principal = draw(st.sampled_from(
        [("Principal", "*"), ("Principal", {"AWS": "*"})]
        + ([("Principal", CT)] if request_.principal.kind == "service" else [])
        + ([("NotPrincipal", {"Service": "s3.amazonaws.com"})])
    ))
    action = draw(st.sampled_from([
        ("Action", request_.action), ("Action", request_.action.upper()), ("Action", "kms:*"), ("Action", "*"),
        ("Action", ["kms:Encrypt", request_.action]), ("NotAction", "s3:*"), ("NotAction", ["kms:Sign"]),
    ]))
    st_ = {"Effect": "Deny", principal[0]: principal[1], action[0]: action[1], "Resource": "*"}
    present = sorted(request_.context)
    choice = draw(st.integers(0, 2))
    if choice == 1 and present:
        key = draw(st.sampled_from(present))
        st_["Condition"] = {"Null": {key: draw(st.sampled_from(["false", False, "False"]))}}
    elif choice == 2 and present:
        key = draw(st.sampled_from(present))
        st_["Condition"] = {"StringLike": {key: "*"}}
    return st_


@SETTINGS
@given(stmts=policies, request_=requests, data=st.data())
def test_adding_a_matching_deny_always_denies(stmts, request_, data):
    deny = data.draw(matching_denies(request_))
    at = data.draw(st.integers(0, len(stmts)))
    d = evaluate(doc(stmts[:at] + [deny] + stmts[at:]), request_)
    assert d.verdict == DENIED
    assert d.explicit_deny and at in d.deciding


def _recase(text: str, rnd) -> str:
    return "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in text)


def _recase_statement(st_: dict, rnd) -> dict:
    out = dict(st_)
    for key in ("Action", "NotAction"):
        if key in out:
            v = out[key]
            out[key] = [_recase(x, rnd) for x in v] if isinstance(v, list) else _recase(v, rnd)
    if "Condition" in out:
        out["Condition"] = {op: {_recase(k, rnd): v for k, v in block.items()} for op, block in out["Condition"].items()}
    return out


@SETTINGS
@given(stmts=policies, request_=requests, rnd=st.randoms(use_true_random=False))
def test_case_of_actions_and_condition_keys_never_changes_the_verdict(stmts, request_, rnd):
    before = evaluate(doc(stmts), request_).verdict
    recased = [_recase_statement(s, rnd) for s in stmts]
    request_recased = dataclasses.replace(request_, action=_recase(request_.action, rnd))
    assert evaluate(doc(recased), request_recased).verdict == before


@SETTINGS
@given(stmts=policies, request_=requests)
def test_evaluate_never_raises_and_is_deterministic(stmts, request_):
    a = evaluate(doc(stmts), request_)
    b = evaluate(doc(stmts), request_)
    assert a.verdict in RANK and a.verdict == b.verdict
    if a.verdict == DENIED and not a.explicit_deny:
        assert a.deciding == []


# --------------------------------------------------------------------------- the matcher against a reference
# StringLike: "*" any run of characters, "?" one character, case-sensitive
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String)

alphabet = st.sampled_from(list("ab:/*?"))
texts = st.text(alphabet=st.sampled_from(list("ab:/")), max_size=10)
patterns = st.text(alphabet=alphabet, max_size=8)


def _reference_like(pattern: str, value: str) -> bool:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL) is not None


@settings(max_examples=200, deadline=None)
@given(pattern=patterns, value=texts)
def test_stringlike_matches_reference(pattern, value):
    assert match(pattern, value, wildcards=True) is _reference_like(pattern, value)
    # StringEquals compares literally: a wildcard only matches itself
    assert match(pattern, value, wildcards=False) is (pattern == value)


@settings(max_examples=200, deadline=None)
@given(fields=st.lists(st.text(alphabet=st.sampled_from(list("ab*?")), max_size=3), min_size=6, max_size=6),
       values=st.lists(st.text(alphabet=st.sampled_from(list("ab")), max_size=3), min_size=6, max_size=6))
def test_arn_match_is_per_component(fields, values):
    pattern, value = ":".join(fields), ":".join(values)
    expected = all(_reference_like(p, v) for p, v in zip(fields, values))
    assert arn_match(pattern, value) is expected


# Three-valued matching with unknown values: True must hold for every value the
# symbols could take, False for none (matching.py docstring). Checked against the
# reference by substituting strings for the symbols.

SYMS = [Symbol("X"), Symbol("Y")]
value_parts = st.lists(st.one_of(st.sampled_from(SYMS), st.text(alphabet=st.sampled_from(list("ab:")), min_size=1,
                                                                max_size=3)), max_size=4)
substitutions = st.fixed_dictionaries({s.name: st.text(alphabet=st.sampled_from(list("ab:")), min_size=1, max_size=4)
                                       for s in SYMS})


@settings(max_examples=200, deadline=None)
@given(pattern=patterns, parts=value_parts, subs=st.lists(substitutions, min_size=1, max_size=8))
def test_three_valued_match_is_sound(pattern, parts, subs):
    value = SymStr.of(*parts)
    result = match(pattern, value, wildcards=True)
    for sub in subs:
        concrete = "".join(sub[p.name] if isinstance(p, Symbol) else p for p in parts)
        expected = _reference_like(pattern, concrete)
        if result is True:
            assert expected, (pattern, parts, sub)
        elif result is False:
            assert not expected, (pattern, parts, sub)
