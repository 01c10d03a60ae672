"""The key-policy evaluator: simulate one request against a KMS key policy.

Stdlib only, no I/O. The semantics follow AWS's documentation, which is the
spec (the relevant page is cited next to each rule below):

* Policy evaluation logic, IAM User Guide
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
  An explicit Deny in any statement overrides any Allow; a request that no
  statement allows is implicitly denied.
* Key policies in AWS KMS, KMS Developer Guide
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html
  In a key policy, ``"Resource": "*"`` means "this KMS key".
* IAM JSON policy elements: Action / NotAction, Principal / NotPrincipal,
  Condition, condition operators
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html
  Action names are case-insensitive and may use ``*`` and ``?``; condition key
  names are case-insensitive; a condition with several operators or several
  keys holds only if all hold (AND); several values for one key match if any
  matches (OR); ``"Principal": {"AWS": "*"}`` is the same as ``"Principal": "*"``.
  "If the key that you specify in a policy condition is not present in the
  request context, the values do not match and the condition is false. If the
  policy condition requires that the key is not matched, such as StringNotLike
  or ArnNotLike, and the right key is not present, the condition is true."
  ``...IfExists`` is true when the key is absent; ``Null`` tests presence.
  ``ForAllValues`` is true when the key is absent or every request value
  matches; ``ForAnyValue`` needs at least one request value that matches.

Unresolved partition, region and account values are taken to be the trail's
own (one symbol per kind for the whole request); only two different literals
are a mismatch. Any other unresolved value that a decision depends on makes the
decision ``unknown``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Optional

from . import limits
from .matching import Tri, arn_match, has_wildcard, match, t_and, t_not, t_or
from .values import ENV_KINDS, Symbol, SymStr, Text, is_text, make_text, parts_of, render, split_text

ALLOWED = "allowed"
DENIED = "denied"
UNKNOWN = "unknown"

CLOUDTRAIL_SERVICE = "cloudtrail.amazonaws.com"

# Values that stand for "an account / region / partition that is not any literal
# the policy names". They never equal a literal and only match wildcards.
FRESH = {"partition": "\x00partition", "region": "\x00region", "account": "\x00account"}
_FRESH_LABEL = {v: f"<trail {k}>" for k, v in FRESH.items()}
# Per kind, at most this many literals (plus the fresh value) are tried, and at
# most _MAX_ENVS combinations in all; only pathological policies reach either.
_MAX_CANDIDATES = 16
_MAX_ENVS = 512
_ACCOUNT_RE = re.compile(r"^\d{12}$")


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Principal:
    """Who makes the request: a service principal or an AWS (IAM) principal."""

    kind: str  # "service" | "aws"
    name: Text  # service name, or the principal's ARN
    account: Text = ""

    def describe(self) -> str:
        return render(self.name)


@dataclass
class Request:
    """One request to simulate.

    ``context`` maps lower-case condition keys to the list of values the
    request carries. ``absent`` lists lower-case key patterns (``fnmatch``)
    known NOT to be in the request; any other key is unknown, and a condition
    that depends on it makes the decision unknown. ``absent_notes`` explains,
    per key, why it is absent (used in messages).
    """

    action: str
    principal: Principal
    context: dict[str, list[Text]] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    absent_notes: dict[str, str] = field(default_factory=dict)
    env: dict[str, Text] = field(default_factory=dict)  # the trail's partition/region/account
    description: str = ""
    # Values an unresolved partition/region/account may take (the configuration's "accounts"):
    # when given, they replace "any literal the policy names".
    candidates: dict[str, list[str]] = field(default_factory=dict)


# --------------------------------------------------------------------------- decisions


@dataclass
class StatementInfo:
    index: int
    sid: str

    def label(self) -> str:
        return f"statement '{self.sid}'" if self.sid else f"statement #{self.index + 1}"


@dataclass
class Decision:
    verdict: str
    # statements that decided: the Allow(s) that granted, or the Deny that denied
    deciding: list[int] = field(default_factory=list)
    # statements whose action and principal matched but whose conditions did not
    near_misses: list[tuple[int, str]] = field(default_factory=list)
    # why the decision is unknown (each names the value that stayed unknown)
    unknowns: list[str] = field(default_factory=list)
    # values assumed for unresolved partition/region/account, for messages
    assumed: dict[str, str] = field(default_factory=dict)
    explicit_deny: bool = False

    @property
    def allowed(self) -> bool:
        return self.verdict == ALLOWED


# --------------------------------------------------------------------------- policy shape


@dataclass
class Statement:
    index: int
    raw: Any
    sid: str
    effect: Any
    problems: list[str]

    def label(self) -> str:
        return f"statement '{self.sid}'" if self.sid else f"statement #{self.index + 1}"


def statements(document: Any) -> list[Statement]:
    """The statements of a policy document, in order. Never raises."""
    if not isinstance(document, dict):
        return []
    raw = document.get("Statement")
    if raw is None:
        return []
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return []
    out = []
    for i, st in enumerate(raw):
        problems: list[str] = []
        if not isinstance(st, dict):
            out.append(Statement(i, st, "", None, ["is not an object"]))
            continue
        sid = st.get("Sid")
        sid_text = render(sid) if is_text(sid) else ""
        out.append(Statement(i, st, sid_text, st.get("Effect"), problems))
    return out


def _as_list(v: Any) -> list:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


# --------------------------------------------------------------------------- env symbols


def _kind_of_field(index: int) -> Optional[str]:
    return {1: "partition", 3: "region", 4: "account"}.get(index)


def _is_arn(text: Text) -> bool:
    first = parts_of(text)[:1]
    return bool(first) and isinstance(first[0], str) and first[0].startswith("arn:")


def _normalise_text(text: Text, account_value: bool = False) -> Text:
    """Give ARN fields and account values made of one unresolved symbol their env kind."""
    if isinstance(text, Symbol) and account_value and text.kind == "opaque":
        return Symbol(text.name, "account", text.reason)
    if not _is_arn(text):
        return text
    fields = split_text(text, ":")
    changed = False
    for i, f in enumerate(fields[:5]):
        kind = _kind_of_field(i)
        if kind and isinstance(f, Symbol) and f.kind != kind:
            fields[i] = Symbol(f.name, kind, f.reason)
            changed = True
    if not changed:
        return text
    parts = []
    for i, f in enumerate(fields):
        if i:
            parts.append(":")
        parts.extend(parts_of(f))
    return make_text(parts)


def _subst(text: Text, env: dict[str, str]) -> Text:
    """Replace env-kind symbols by the candidate values in ``env``."""
    if isinstance(text, str):
        return text
    parts = []
    for p in parts_of(text):
        if isinstance(p, Symbol) and p.kind in ENV_KINDS and p.kind in env:
            parts.append(env[p.kind])
        else:
            parts.append(p)
    return make_text(parts)


def _collect_literals(document: Any, action: Optional[str] = None) -> dict[str, list[str]]:
    """Literal partitions, regions and accounts that the policy names.

    With ``action``, only statements whose Action/NotAction can match it are
    read: no other statement takes part in the decision, so its literals are
    irrelevant (and must not crowd relevant ones out of the capped candidate list).
    """
    found: dict[str, list[str]] = {k: [] for k in ENV_KINDS}

    def add(kind: str, value: str) -> None:
        if value and not has_wildcard(value) and value not in found[kind]:
            found[kind].append(value)

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif is_text(v):
            if isinstance(v, str) and _ACCOUNT_RE.match(v):
                add("account", v)
            if _is_arn(v):
                fields = split_text(v, ":")
                for i, f in enumerate(fields[:5]):
                    kind = _kind_of_field(i)
                    if kind and isinstance(f, str):
                        add(kind, f)

    if isinstance(document, dict):
        for st in _as_list(document.get("Statement")):
            if isinstance(st, dict):
                if action is not None and _action_matches(st, action)[0] is False:
                    continue
                walk(st.get("Condition"))
                walk(st.get("Principal"))
                walk(st.get("NotPrincipal"))
    return found


def _candidate_envs(document: Any, request: Request) -> list[dict[str, str]]:
    # The candidates must not depend on statement order, nor be crowded out by
    # statements that cannot apply: IAM's verdict does not depend on either
    # ("Policy evaluation logic", IAM User Guide: the order of statements does
    # not matter; an explicit Deny overrides, otherwise any Allow allows).
    # Earlier versions kept the first 5 literals in document order, so an
    # unrelated statement naming 5 accounts before the relevant one flipped
    # an allowed request to denied.
    literals = _collect_literals(document, request.action)
    per_kind = []
    for kind in ENV_KINDS:
        own = request.env.get(kind)
        if isinstance(own, str) and own:
            per_kind.append([own])
        elif request.candidates.get(kind):
            # configured values, plus FRESH as a placeholder that the loop below never drops
            per_kind.append(sorted(request.candidates[kind])[: _MAX_CANDIDATES - 1] + [FRESH[kind]])
            if len(per_kind[-1]) > 1:
                per_kind[-1] = per_kind[-1][:-1]
        else:
            per_kind.append(sorted(literals[kind])[: _MAX_CANDIDATES - 1] + [FRESH[kind]])
    while _product(len(c) for c in per_kind) > _MAX_ENVS:
        longest = max(range(len(per_kind)), key=lambda i: len(per_kind[i]))
        del per_kind[longest][-2]  # drop a literal, keep the fresh value
    return [dict(zip(ENV_KINDS, combo)) for combo in itertools.product(*per_kind)]


def _product(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def display(text: Text) -> str:
    out = render(text)
    for fresh, label in _FRESH_LABEL.items():
        out = out.replace(fresh, label)
    return out


# --------------------------------------------------------------------------- elements


def _action_matches(st: dict, action: str) -> tuple[Tri, str]:
    if "Action" in st:
        values, negate = st["Action"], False
    elif "NotAction" in st:
        values, negate = st["NotAction"], True
    else:
        return False, "has neither Action nor NotAction"
    results = []
    for v in _as_list(values):
        if isinstance(v, str):
            results.append(match(v, action, wildcards=True, ignore_case=True))
        elif is_text(v):
            results.append(match(v, action, wildcards=True, ignore_case=True))
        else:
            results.append(False)
    r = t_or(results)
    if negate:
        r = t_not(r)
    if r is None:
        names = ", ".join(display(v) for v in _as_list(values) if is_text(v))
        return None, f"its action ({names}) is not known"
    return r, ""


def _principal_values(p: Any) -> list[tuple[str, Any]]:
    """(type, value) pairs of a Principal element; type '*' for the bare wildcard."""
    if is_text(p):
        return [("*", p)]
    if isinstance(p, dict):
        out = []
        for k, v in p.items():
            for x in _as_list(v):
                out.append((str(k), x))
        return out
    return [("?", p)]


def _principal_matches(element: Any, principal: Principal, env: dict[str, str]) -> Tri:
    results = []
    for ptype, value in _principal_values(element):
        if ptype == "*":
            results.append(True if value == "*" else (None if isinstance(value, Symbol) else False))
            continue
        if not is_text(value):
            results.append(False)
            continue
        if ptype == "AWS" and value == "*":
            results.append(True)
            continue
        if ptype == "Service":
            if principal.kind != "service":
                results.append(False)
            else:
                results.append(match(value, principal.name, wildcards=False, ignore_case=True))
            continue
        if ptype == "AWS":
            if principal.kind != "aws":
                results.append(False)
                continue
            results.append(_aws_principal_matches(_normalise_text(value, account_value=True), principal, env))
            continue
        results.append(False)  # Federated, CanonicalUser: never our requests
    return t_or(results)


def _aws_principal_matches(value: Text, principal: Principal, env: dict[str, str]) -> Tri:
    value = _subst(value, env)
    if isinstance(value, Symbol):
        return None
    account_only = None
    if isinstance(value, str) and _ACCOUNT_RE.match(value):
        account_only = value
    elif _is_arn(value):
        fields = split_text(value, ":")
        if len(fields) == 6 and fields[2] == "iam" and fields[5] == "root":
            account_only = fields[4]
    if account_only is not None:
        # "arn:aws:iam::111122223333:root" and "111122223333" mean the account.
        return match(account_only, _subst(principal.account, env), wildcards=False)
    return match(value, _subst(principal.name, env), wildcards=False)


def _resource_matches(st: dict) -> Tri:
    # In a key policy the resource is the key itself; "*" means "this key".
    if "NotResource" in st:
        vals = _as_list(st["NotResource"])
        return False if "*" in vals else True
    return True


# --------------------------------------------------------------------------- conditions

_STRING_OPS = {
    "stringequals": ("eq", False, False),
    "stringnotequals": ("eq", True, False),
    "stringequalsignorecase": ("eq", False, True),
    "stringnotequalsignorecase": ("eq", True, True),
    "stringlike": ("like", False, False),
    "stringnotlike": ("like", True, False),
    "arnequals": ("arn", False, False),
    "arnlike": ("arn", False, False),
    "arnnotequals": ("arn", True, False),
    "arnnotlike": ("arn", True, False),
    "bool": ("bool", False, True),
}
_OPAQUE_NEGATED = {"numericnotequals", "datenotequals", "notipaddress"}
_OPAQUE_OPS = {
    "numericequals", "numericlessthan", "numericlessthanequals", "numericgreaterthan",
    "numericgreaterthanequals", "dateequals", "datelessthan", "datelessthanequals",
    "dategreaterthan", "dategreaterthanequals", "ipaddress", "binaryequals",
} | _OPAQUE_NEGATED


@dataclass
class _Op:
    raw: str
    qualifier: str  # "" | "forallvalues" | "foranyvalue"
    base: str
    if_exists: bool


def _parse_op(name: str) -> _Op:
    low = name.lower()
    qualifier = ""
    for q in ("forallvalues:", "foranyvalue:"):
        if low.startswith(q):
            qualifier, low = q[:-1], low[len(q):]
    if_exists = False
    if low.endswith("ifexists"):
        if_exists, low = True, low[: -len("ifexists")]
    return _Op(name, qualifier, low, if_exists)


def _truthy_text(v: Any) -> Optional[str]:
    """Normalise Bool/Null values: true, "true", "True" are all 'true'."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v.strip().lower()
    return None


def _key_state(request: Request, key: str) -> tuple[str, list[Text]]:
    low = key.lower()
    if low in request.context:
        return "present", request.context[low]
    for pat in request.absent:
        if fnmatchcase(low, pat):
            return "absent", []
    return "unknown", []


def _compare_one(kind: str, ignore_case: bool, policy_value: Any, request_value: Text) -> Tri:
    if not is_text(policy_value):
        if isinstance(policy_value, bool) or isinstance(policy_value, (int, float)):
            policy_value = render(policy_value)
        else:
            return False
    if kind == "eq":
        return match(policy_value, request_value, wildcards=False, ignore_case=ignore_case)
    if kind == "like":
        return match(policy_value, request_value, wildcards=True)
    if kind == "arn":
        return arn_match(policy_value, request_value)
    if kind == "bool":
        pv = _truthy_text(policy_value) if isinstance(policy_value, (str, bool)) else None
        if pv is None:
            return None
        return match(pv, request_value, wildcards=False, ignore_case=True)
    return None


def _condition_key_holds(
    op: _Op, key: str, values: Any, request: Request, env: dict[str, str]
) -> tuple[Tri, str]:
    state, req_values = _key_state(request, key)
    pvals = _as_list(values)
    shown_pvals = list(pvals)  # as written, for messages
    is_account_key = key.lower() in ("aws:sourceaccount", "kms:calleraccount", "aws:principalaccount")
    pvals = [_subst(_normalise_text(v, account_value=is_account_key), env) if is_text(v) else v for v in pvals]
    req_values = [_subst(v, env) for v in req_values]

    if op.base == "null":
        if state == "unknown":
            return None, f"whether the request carries {key} is not known"
        present = state == "present"
        want = [_truthy_text(v) for v in pvals]
        results = []
        for w in want:
            if w == "true":
                results.append(not present)
            elif w == "false":
                results.append(present)
            else:
                results.append(None)
        r = t_or(results)
        if r is False:
            return False, f"Null {{{key}: {', '.join(render(v) for v in pvals)}}} does not hold: the key is {'present' if present else 'absent'}"
        if r is None:
            return None, f"Null condition on {key} has a value that is not true or false"
        return True, ""

    if state == "unknown":
        return None, f"the request's {key} is not known"

    if op.base in _OPAQUE_OPS:
        if state == "absent":
            if op.if_exists or op.qualifier == "forallvalues":
                return True, ""
            if op.qualifier == "foranyvalue":
                return False, f"{op.raw} on {key} requires a key the request does not carry"
            return (op.base in _OPAQUE_NEGATED), f"{key} is absent"
        return None, f"operator {op.raw} on {key} is not evaluated"

    spec = _STRING_OPS.get(op.base)
    if spec is None:
        return None, f"unsupported condition operator {op.raw}"
    kind, negated, ignore_case = spec

    if state == "absent":
        if op.if_exists or op.qualifier == "forallvalues":
            return True, ""
        # ForAnyValue with a missing key is false even for a negated operator
        # (ForAnyValue:StringNotEquals): "For no matching context key or a null
        # dataset, the condition returns false." IAM User Guide, "Single-valued
        # vs. multivalued context keys",
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
        if negated and op.qualifier != "foranyvalue":
            return True, ""
        note = request.absent_notes.get(key.lower(), "")
        return False, f"{op.raw} on {key} requires a key the request does not carry" + (f" ({note})" if note else "")

    for v in pvals:
        if isinstance(v, Symbol) or (isinstance(v, SymStr) and not any(isinstance(p, str) for p in v.parts)):
            pass  # handled by _compare_one returning None

    def matches_any(rv: Text) -> Tri:
        return t_or(_compare_one(kind, ignore_case, pv, rv) for pv in pvals)

    if op.qualifier == "forallvalues":
        per_value = [matches_any(rv) if not negated else t_not(matches_any(rv)) for rv in req_values]
        r = t_and(per_value)
    else:  # plain or ForAnyValue
        if negated:
            per_value = [t_not(matches_any(rv)) for rv in req_values]
        else:
            per_value = [matches_any(rv) for rv in req_values]
        r = t_or(per_value)

    if r is None:
        unknown = [v for v in pvals if not _fully_literal(v)] or req_values
        return None, f"{op.raw} on {key} depends on a value the code does not fix ({'; '.join(_unknown_names(unknown))})"
    if r is False:
        return False, _mismatch_reason(op, key, kind, negated, shown_pvals, req_values)
    return True, ""


def _fully_literal(v: Any) -> bool:
    return isinstance(v, str)


def _unknown_names(values: list) -> list[str]:
    names = []
    for v in values:
        for p in parts_of(v) if is_text(v) else ():
            if isinstance(p, Symbol):
                d = p.describe()
                if d not in names:
                    names.append(d)
    return names or ["a value the code does not fix"]


def _mismatch_reason(op: _Op, key: str, kind: str, negated: bool, pvals: list, req_values: list) -> str:
    shown = ", ".join(f"'{display(v)}'" for v in pvals)
    actual = ", ".join(display(v) for v in req_values)
    if negated:
        return f"{op.raw} {{{key}: {shown}}} excludes the request's value {actual}"
    if kind == "eq" and any(is_text(v) and has_wildcard(v) for v in pvals):
        return (
            f"it uses {op.raw} with a wildcard value ({shown}) on {key}, which never matches: "
            f"{op.raw} compares literally; use StringLike"
        )
    return f"{op.raw} {{{key}: {shown}}} does not match the request's value {actual}"


def _conditions_hold(st: dict, request: Request, env: dict[str, str]) -> tuple[Tri, list[str]]:
    cond = st.get("Condition")
    if cond is None:
        return True, []
    if isinstance(cond, Symbol):
        return None, [f"its Condition is not fixed by the code ({cond.describe()})"]
    if not isinstance(cond, dict):
        return None, ["its Condition is not an object"]
    results: list[Tri] = []
    reasons_false: list[str] = []
    reasons_unknown: list[str] = []
    for op_name, block in cond.items():
        op = _parse_op(str(op_name))
        if isinstance(block, Symbol):
            results.append(None)
            reasons_unknown.append(f"{op.raw} is not fixed by the code ({block.describe()})")
            continue
        if not isinstance(block, dict):
            results.append(None)
            reasons_unknown.append(f"{op.raw} is not an object")
            continue
        for key, values in block.items():
            r, why = _condition_key_holds(op, str(key), values, request, env)
            results.append(r)
            if r is False:
                reasons_false.append(why)
            elif r is None:
                reasons_unknown.append(why)
    r = t_and(results)
    if r is False:
        return False, reasons_false
    if r is None:
        return None, reasons_unknown
    return True, []


# --------------------------------------------------------------------------- evaluation


def _decide(stmts: list[Statement], request: Request, env: dict[str, str]) -> Decision:
    allows: list[int] = []
    denies: list[int] = []
    unknown_allow: list[tuple[int, str]] = []
    unknown_deny: list[tuple[int, str]] = []
    near: list[tuple[int, str]] = []
    for s in stmts:
        limits.tick()
        st = s.raw
        if not isinstance(st, dict):
            continue
        effect = st.get("Effect")
        if isinstance(effect, Symbol):
            unknown_allow.append((s.index, f"{s.label()} has an Effect the code does not fix ({effect.describe()})"))
            continue
        if effect not in ("Allow", "Deny"):
            continue  # AWS rejects such a policy; it grants nothing
        act, act_why = _action_matches(st, request.action)
        if act is False:
            continue
        if "Principal" in st:
            pr = _principal_matches(st["Principal"], request.principal, env)
        elif "NotPrincipal" in st:
            pr = t_not(_principal_matches(st["NotPrincipal"], request.principal, env))
        else:
            pr = False  # a key policy statement must name a principal
        if pr is False:
            continue
        res = _resource_matches(st)
        if res is False:
            continue
        cond, why = _conditions_hold(st, request, env)
        applies = t_and([act, pr, res, cond])
        if applies is False:
            if act is True and pr is True:
                near.append((s.index, "; ".join(why)))
            continue
        if applies is True:
            (allows if effect == "Allow" else denies).append(s.index)
            continue
        reasons = []
        if act is None:
            reasons.append(act_why)
        if pr is None:
            reasons.append("its principal is not known")
        reasons.extend(why)
        entry = (s.index, f"{s.label()}: " + "; ".join(r for r in reasons if r))
        (unknown_allow if effect == "Allow" else unknown_deny).append(entry)

    assumed = {}
    for kind in ENV_KINDS:
        own = request.env.get(kind)
        if not (isinstance(own, str) and own) and env.get(kind) and env[kind] != FRESH[kind]:
            assumed[kind] = env[kind]
    if denies:
        return Decision(DENIED, deciding=denies, near_misses=near, assumed=assumed, explicit_deny=True)
    if allows and not unknown_deny:
        return Decision(ALLOWED, deciding=allows, near_misses=near, assumed=assumed)
    if allows or unknown_allow:
        unknowns = [r for _, r in unknown_deny] if allows else [r for _, r in unknown_allow + unknown_deny]
        return Decision(UNKNOWN, deciding=allows, near_misses=near, unknowns=unknowns, assumed=assumed)
    return Decision(DENIED, near_misses=near, assumed=assumed)


_RANK = {ALLOWED: 2, UNKNOWN: 1, DENIED: 0}


def evaluate(document: Any, request: Request) -> Decision:
    """Simulate ``request`` against the key policy ``document``.

    Unresolved partition/region/account values are tried against every literal
    the policy names (and one value that is none of them); the most favourable
    consistent assignment wins, since an unresolved value is taken to be the
    trail's own. A document that is itself unknown gives ``unknown``.
    """
    if isinstance(document, Symbol):
        return Decision(UNKNOWN, unknowns=[f"the key policy is not fixed by the code ({document.describe()})"])
    if not isinstance(document, dict):
        return Decision(UNKNOWN, unknowns=["the key policy is not a JSON object"])
    stmt_field = document.get("Statement")
    if isinstance(stmt_field, Symbol):
        return Decision(UNKNOWN, unknowns=[f"the policy's Statement is not fixed by the code ({stmt_field.describe()})"])
    stmts = statements(document)
    for s in stmts:
        if isinstance(s.raw, Symbol):
            return Decision(UNKNOWN, unknowns=[f"{s.label()} is not fixed by the code ({s.raw.describe()})"])
    best: Optional[Decision] = None
    for env in _candidate_envs(document, request):
        d = _decide(stmts, request, env)
        if best is None or _RANK[d.verdict] > _RANK[best.verdict]:
            best = d
        if d.verdict == ALLOWED:
            break
    assert best is not None
    return best


# --------------------------------------------------------------------------- helpers for rules


def condition_keys(st: Any) -> list[tuple[str, str, Any]]:
    """(operator, lower-case key, values) triples of a statement's Condition."""
    out: list[tuple[str, str, Any]] = []
    if not isinstance(st, dict):
        return out
    cond = st.get("Condition")
    if not isinstance(cond, dict):
        return out
    for op, block in cond.items():
        if isinstance(block, dict):
            for key, values in block.items():
                out.append((str(op), str(key).lower(), values))
    return out


def action_matches(st: Any, action: str) -> Tri:
    if not isinstance(st, dict):
        return False
    return _action_matches(st, action)[0]


def principal_entries(st: Any) -> list[tuple[str, Any]]:
    if not isinstance(st, dict) or "Principal" not in st:
        return []
    return _principal_values(st["Principal"])
