"""Fixes for policy findings, written the way the file that holds the policy is written.

trail.py decides *what* a finding needs (an abstract edit: statements to add,
a condition to add to a statement, an operator to change, a Deny to remove or
to exempt CloudTrail from, a key policy to create) and this module *writes*
it, in the style the front end recorded on the policy
(:class:`~cloudtrail_kms_lint.model.PolicySource`):

================== ==========================================================
style              a statement is written as
================== ==========================================================
cfn-yaml           a YAML list item; ``!Sub "arn:${AWS::Partition}:..."``
cfn-json           a JSON object; ``{"Fn::Sub": "arn:${AWS::Partition}:..."}``
cfn-json-string    JSON for a KeyPolicy string (``${AWS::AccountId}`` inside Fn::Sub)
tf-policy-document a ``statement { ... }`` block of ``data "aws_iam_policy_document"``
tf-jsonencode      an HCL object in the ``Statement = [...]`` list of ``jsonencode``
tf-json-text       JSON for a heredoc, ``file()`` or ``templatefile()``
"" (not known)     JSON
================== ==========================================================

Account and partition are written with the file's own expressions
(``${AWS::AccountId}``; ``local.account_id`` or
``data.aws_caller_identity.<name>.account_id``; a ``templatefile`` variable);
a Terraform module that declares no ``aws_caller_identity`` gets the
declaration in the fix. Where no expression can be written (a ``file()`` JSON,
a KeyPolicy string outside Fn::Sub) the policy's own literal account is used,
else a ``${...}`` placeholder with a note.

Every edit is checked before it is offered: trail.py's requests are evaluated
against the policy with the edit applied.

The text of a fix (``Finding.fix``) is prose lines, each a sentence that says
what to do where (``Add to the Statement list of the KeyPolicy of LogKey (line
12):``), each followed by the code lines it introduces, indented by four
spaces and at most :data:`CODE_WIDTH` columns wide beyond them (longer only for
a single token that cannot be broken). The text output wraps the prose and
prints the code as it is; JSON keeps the text as one string.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .model import Key, KeyPolicy, Location, PolicySource, Subject
from .policy import ALLOWED, DENIED, CLOUDTRAIL_SERVICE, Request, evaluate, statements
from .values import ENV_KINDS, Symbol, is_text, make_text, parts_of

CODE_WIDTH = 68  # code lines, after the four-space marker (the text output indents them by 12)
CODE = "    "  # the marker of a code line in Finding.fix

CTX = "kms:EncryptionContext:aws:cloudtrail:arn"

CFN_STYLES = ("cfn-yaml", "cfn-json", "cfn-json-string")
TF_STYLES = ("tf-policy-document", "tf-jsonencode", "tf-json-text")
CFN_PSEUDO = {"account": "AWS::AccountId", "partition": "AWS::Partition", "region": "AWS::Region"}

SIDS = {
    "root": "Enable IAM User Permissions",
    "describe": "Allow CloudTrail to describe key",
    "encrypt": "Allow CloudTrail to encrypt logs",
    "eds": "Allow CloudTrail to encrypt the event data store",
    "reader": "Enable CloudTrail log decrypt permissions",
}


# --------------------------------------------------------------------------- abstract statements


def _partition(subject: Subject) -> Any:
    return subject.partition or Symbol("partition", "partition")


def _account(subject: Subject) -> Any:
    return subject.account or Symbol("account", "account")


def trail_pattern(subject: Subject) -> Any:
    """``arn:<partition>:cloudtrail:*:<account>:trail/*``: every trail of the account."""
    return make_text(["arn:", _partition(subject), ":cloudtrail:*:", _account(subject), ":trail/*"])


def root_arn(subject: Subject) -> Any:
    return make_text(["arn:", _partition(subject), ":iam::", _account(subject), ":root"])


def statement(kind: str, subject: Subject, sid: str = "", principal: Any = None) -> dict:
    """The statement AWS documents for ``kind``: root, describe, encrypt, eds or reader."""
    svc = {"Service": CLOUDTRAIL_SERVICE}
    sid = sid or SIDS[kind]
    if kind == "root":
        return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": root_arn(subject)}, "Action": "kms:*", "Resource": "*"}
    if kind == "describe":
        return {"Sid": sid, "Effect": "Allow", "Principal": svc, "Action": "kms:DescribeKey", "Resource": "*"}
    if kind == "encrypt":
        return {"Sid": sid, "Effect": "Allow", "Principal": svc, "Action": "kms:GenerateDataKey*", "Resource": "*",
                "Condition": {"StringLike": {CTX: trail_pattern(subject)}}}
    if kind == "eds":
        return {"Sid": sid, "Effect": "Allow", "Principal": svc, "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": "*"}
    if kind == "reader":
        return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal if principal is not None else root_arn(subject)},
                "Action": "kms:Decrypt", "Resource": "*", "Condition": {"Null": {CTX: "false"}}}
    raise ValueError(kind)


# --------------------------------------------------------------------------- edits


@dataclass
class Edit:
    """One change to a key policy. ``index``: the statement it changes (statements(document) order)."""

    kind: str  # add | create | condition | exempt | operator | uncondition | remove | note
    statements: list = field(default_factory=list)  # add, create
    index: int = -1
    condition: tuple = ()  # condition: (operator, key, value)
    operators: list = field(default_factory=list)  # operator: [(old, new)]
    keys: list = field(default_factory=list)  # uncondition: the condition keys to remove (as written)
    whole: bool = False  # uncondition: no condition is left, remove the whole Condition
    text: str = ""  # remove: why; note: the note


def _stmts(doc: Any) -> list:
    if not isinstance(doc, dict):
        return []
    raw = doc.get("Statement")
    if isinstance(raw, dict):
        return [raw]
    return list(raw) if isinstance(raw, list) else []


def _with(doc: Any, work: list) -> dict:
    out = dict(doc) if isinstance(doc, dict) else {}
    out["Statement"] = [st for st in work if st is not None]
    return out


def _decide(doc: Any, work: list, request: Request):
    """evaluate() on the edited statements; indexes in the result are mapped back to ``work``."""
    kept = [i for i, st in enumerate(work) if st is not None]
    d = evaluate(_with(doc, work), request)
    d.deciding = [kept[i] for i in d.deciding if i < len(kept)]
    d.near_misses = [(kept[i], why) for i, why in d.near_misses if i < len(kept)]
    return d


def _all_allowed(doc: Any, work: list, requests: list) -> bool:
    return all(_decide(doc, work, r).verdict == ALLOWED for r in requests)


def _sids(doc: Any) -> set:
    return {st.sid for st in statements(doc) if st.sid}


def _unique_sid(base: str, doc: Any, taken: set) -> str:
    sids = [st.sid for st in statements(doc) if st.sid]
    if sids and all(" " not in s for s in sids):  # the policy writes sids in CamelCase
        base = "".join(w[:1].upper() + w[1:] for w in re.split(r"\W+", base) if w)
    sid, n = base, 2
    while sid in taken or sid in _sids(doc):
        sid = f"{base}{'' if ' ' not in base else ' '}{n}"
        n += 1
    taken.add(sid)
    return sid


def _exempt_cloudtrail(st: dict) -> Optional[dict]:
    """The Deny statement with cloudtrail.amazonaws.com added to its NotPrincipal, or None."""
    if "NotPrincipal" not in st or "Principal" in st or not isinstance(st.get("NotPrincipal"), dict):
        return None
    np_ = dict(st["NotPrincipal"])
    cur = np_.get("Service")
    if cur is None:
        np_["Service"] = CLOUDTRAIL_SERVICE
    else:
        np_["Service"] = (list(cur) if isinstance(cur, list) else [cur]) + [CLOUDTRAIL_SERVICE]
    out = dict(st)
    out["NotPrincipal"] = np_
    return out


def _op_base(op: str) -> tuple[str, str, str]:
    """('ForAnyValue:', 'StringEquals', 'IfExists') parts of a condition operator."""
    prefix = ""
    if ":" in op:
        prefix, _, op = op.rpartition(":")
        prefix += ":"
    suffix = "IfExists" if op.endswith("IfExists") else ""
    return prefix, op[: len(op) - len(suffix)], suffix


def _has_wildcard(v: Any) -> bool:
    vals = v if isinstance(v, list) else [v]
    return any(isinstance(p, str) and ("*" in p or "?" in p) for x in vals if is_text(x) for p in parts_of(x))


def _like_instead_of_equals(st: dict) -> Optional[tuple[dict, list]]:
    """The statement with StringEquals (whose values have wildcards) changed to StringLike, or None."""
    cond = st.get("Condition")
    if not isinstance(cond, dict):
        return None
    new: dict = {}
    changed = []
    for op, block in cond.items():
        prefix, base, suffix = _op_base(str(op))
        if base in ("StringEquals", "StringEqualsIgnoreCase") and isinstance(block, dict) \
                and any(_has_wildcard(v) for v in block.values()):
            like = f"{prefix}StringLike{suffix}"
            merged = dict(new.get(like, {}))
            merged.update(block)
            new[like] = merged
            changed.append((str(op), like))
        else:
            if op in new and isinstance(new[op], dict) and isinstance(block, dict):
                new[op] = {**new[op], **block}
            else:
                new[op] = block
    if not changed:
        return None
    out = dict(st)
    out["Condition"] = new
    return out, changed


def _without_keys(st: dict, keys: tuple) -> Optional[tuple[dict, list]]:
    """The statement without the condition entries on ``keys`` (lower case), and the keys as written; or None."""
    cond = st.get("Condition")
    if not isinstance(cond, dict):
        return None
    new: dict = {}
    removed: list = []
    for op, block in cond.items():
        if not isinstance(block, dict):
            new[op] = block
            continue
        kept = {k: v for k, v in block.items() if str(k).lower() not in keys}
        removed += [str(k) for k in block if str(k).lower() in keys and str(k) not in removed]
        if kept:
            new[op] = kept
    if not removed:
        return None
    out = dict(st)
    if new:
        out["Condition"] = new
    else:
        del out["Condition"]
    return out, removed


def _deny_edits(doc: Any, work: list, requests: list, why: Callable[[int], str]) -> list[Edit]:
    """Exempt CloudTrail from (NotPrincipal), or remove, every Deny that decides one of ``requests``."""
    edits: list[Edit] = []
    for _ in range(len(work) + 1):
        changed = False
        for r in requests:
            d = _decide(doc, work, r)
            if d.verdict != DENIED or not d.explicit_deny:
                continue
            for i in d.deciding:
                exempted = _exempt_cloudtrail(work[i]) if isinstance(work[i], dict) and r.principal.kind == "service" else None
                if exempted is not None and not any(e.kind == "exempt" and e.index == i for e in edits):
                    work[i] = exempted
                    edits.append(Edit("exempt", index=i))
                else:
                    edits = [e for e in edits if e.index != i]
                    work[i] = None
                    edits.append(Edit("remove", index=i, text=why(i)))
                changed = True
        if not changed:
            break
    return edits


def plan_grant(kind: str, subject: Subject, policy: KeyPolicy, requests: list[Request]) -> list[Edit]:
    """Edits that let CloudTrail make ``requests`` (kind: describe, encrypt or eds)."""
    doc = policy.document
    if policy.is_default:
        return _create(subject, doc)
    work = _stmts(doc)
    what = {"describe": "kms:DescribeKey", "encrypt": "kms:GenerateDataKey* for this trail",
            "eds": "kms:GenerateDataKey and kms:Decrypt for this event data store"}[kind]
    edits = _deny_edits(doc, work, requests, lambda i: (
        f"it denies {CLOUDTRAIL_SERVICE} {what}, and an Allow cannot override a Deny. To keep it, change its "
        f"Condition so that it does not match this {'trail' if kind != 'eds' else 'event data store'}."))
    if kind == "eds" and not _all_allowed(doc, work, requests):
        # a grant copied from a trail's policy: drop the condition keys AWS does not support here
        for r in requests:
            for i, _why in _decide(doc, work, r).near_misses:
                fixed = _without_keys(work[i], ("aws:sourcearn", "aws:sourceaccount")) if isinstance(work[i], dict) else None
                if fixed is None:
                    continue
                trial = list(work)
                trial[i] = fixed[0]
                if _all_allowed(doc, trial, requests):
                    work[:] = trial
                    edits.append(Edit("uncondition", index=i, keys=fixed[1], whole="Condition" not in fixed[0]))
                    break
            else:
                continue
            break
    if not _all_allowed(doc, work, requests):
        for r in requests:
            for i, _why in _decide(doc, work, r).near_misses:
                fixed = _like_instead_of_equals(work[i]) if isinstance(work[i], dict) else None
                if fixed is None:
                    continue
                trial = list(work)
                trial[i] = fixed[0]
                if _all_allowed(doc, trial, requests):
                    work[:] = trial
                    edits.append(Edit("operator", index=i, operators=fixed[1]))
                    break
            else:
                continue
            break
    if not _all_allowed(doc, work, requests):
        st = statement(kind, subject, _unique_sid(SIDS[kind], doc, set()))
        work.append(st)
        edits.append(Edit("add", statements=[st]))
        if kind == "eds":
            edits.append(Edit("note", text=(
                "Do not scope it with aws:SourceArn or aws:SourceAccount: AWS does not support them in key "
                "policies for event data stores.")))
    return edits


def _with_condition(st: dict, op: str, key: str, value: Any) -> dict:
    cond = dict(st.get("Condition") or {}) if isinstance(st.get("Condition"), dict) else {}
    block = dict(cond.get(op) or {}) if isinstance(cond.get(op), dict) else {}
    block[key] = value
    cond[op] = block
    out = dict(st)
    out["Condition"] = cond
    return out


def plan_scope(subject: Subject, policy: KeyPolicy, indexes: list[int], requests: list[Request] = ()) -> list[Edit]:
    """CTKMS005: scope each unscoped CloudTrail grant to the account's trails.

    With the encryption context (AWS's statement), unless that would deny one of ``requests`` the policy
    allows now (a statement that also grants kms:DescribeKey, whose requests carry no encryption context):
    then with aws:SourceAccount, which every CloudTrail request for a trail carries."""
    doc = policy.document
    work = _stmts(doc)
    keep = [r for r in requests if _decide(doc, work, r).verdict == ALLOWED]
    edits = []
    for i in indexes:
        options = [("StringLike", CTX, trail_pattern(subject), ""),
                   ("StringEquals", "aws:SourceAccount", _account(subject),
                    "This scopes it with aws:SourceAccount rather than the encryption context, because the statement "
                    "also grants requests that carry no encryption context, such as kms:DescribeKey.")]
        chosen = options[0]
        for option in options:
            trial = list(work)
            if isinstance(trial[i], dict):
                trial[i] = _with_condition(trial[i], *option[:3])
            if _all_allowed(doc, trial, keep):
                chosen = option
                work = trial
                break
        edits.append(Edit("condition", index=i, condition=chosen[:3], text=chosen[3]))
    return edits


def reader_principal(subject: Subject, doc: Any) -> tuple[Any, bool]:
    """(AWS principal value for the reader statement, True when it is the account root).

    The principals of an existing Decrypt grant to IAM principals (a reader
    statement that is only missing its scope), else the account root."""
    from .policy import principal_entries

    for s in statements(doc):
        st = s.raw
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        actions = st.get("Action")
        if not any(isinstance(a, str) and a.lower() == "kms:decrypt" for a in _as_list(actions)):
            continue  # a grant that names kms:Decrypt (not kms:*, the key administrators')
        entries = principal_entries(st)
        values = [v for t, v in entries if t == "AWS" and is_text(v) and v != "*"]
        if all(_is_account_root(v) for v in values):
            continue
        if not values or any(t == "*" or (t == "AWS" and v == "*") for t, v in entries):
            continue
        if any(sym.kind not in ENV_KINDS for v in values for sym in _symbols(v)):
            continue
        return (values[0] if len(values) == 1 else values), False
    return root_arn(subject), True


def _is_account_root(v: Any) -> bool:
    parts = parts_of(v)
    last = parts[-1] if parts else ""
    return (isinstance(last, str) and last.endswith(":root")) or (isinstance(v, str) and v.isdigit())


def _symbols(v: Any) -> list[Symbol]:
    return [p for p in parts_of(v) if isinstance(p, Symbol)] if is_text(v) else []


def plan_reader(subject: Subject, policy: KeyPolicy, request_for: Callable[[Any], Request],
                public: Optional[int] = None) -> list[Edit]:
    """CTKMS006: a Decrypt grant for log readers scoped to CloudTrail logs (replacing a grant to everyone)."""
    doc = policy.document
    if policy.is_default:
        return _create(subject, doc)
    principal, is_root = reader_principal(subject, doc)
    values = principal if isinstance(principal, list) else [principal]
    requests = [request_for(v) for v in values]
    work = _stmts(doc)
    edits: list[Edit] = []
    if public is not None:
        work[public] = None
        edits.append(Edit("remove", index=public, text="it lets anyone decrypt anything encrypted under the key."))
    edits += _deny_edits(doc, work, requests, lambda i: "it denies your log readers kms:Decrypt, and an Allow "
                                                        "cannot override a Deny.")
    # The rule asks for a grant scoped to CloudTrail logs (an unscoped one, such as the account root's
    # kms:*, may let the reader decrypt, but does not count): always add it.
    st = statement("reader", subject, _unique_sid(SIDS["reader"], doc, set()), principal)
    work.append(st)
    edits.append(Edit("add", statements=[st]))
    if is_root and any(e.kind == "add" for e in edits):
        edits.append(Edit("note", text=(
            "The account root lets IAM policies in the account grant the decrypt; to narrow it, name the roles "
            "that read your logs instead.")))
    return edits


def _create(subject: Subject, doc: Any) -> list[Edit]:
    """A key without a policy: the whole policy AWS documents (the default's root statement kept)."""
    kinds = ["root", "eds"] if subject.kind != "trail" else ["root", "describe", "encrypt", "reader"]
    edits = [Edit("create", statements=[statement(k, subject) for k in kinds])]
    if subject.kind == "trail":
        edits.append(Edit("note", text=(
            f"Name the roles that read your logs instead of the account root in '{SIDS['reader']}'.")))
    return edits


# --------------------------------------------------------------------------- rendering: values


class _Sub(str):
    """A YAML/JSON string that must be written inside Fn::Sub."""


class _Raw(str):
    """HCL/JSON string content that is already escaped for its template syntax."""


class _Ref(str):
    """CloudFormation: a value that is one pseudo parameter or resource (``!Ref AWS::AccountId``)."""


class _Expr(str):
    """HCL: a value that is one expression, written bare (``local.account_id``)."""


class _Values:
    """Turns policy values (texts with symbols) into values of one style."""

    def __init__(self, source: PolicySource, doc: Any, subject: Subject):
        self.source = source
        self.style = source.style
        self.doc = doc
        self.subject = subject
        self.declare: list[tuple[str, str]] = []  # (declaration, "module" | "templatefile")
        self.notes: list[str] = []
        self._literals = _literal_env(doc)
        if self.style in CFN_STYLES:
            self.family = "cfn" if (self.style != "cfn-json-string" or source.sub) else "literal"
        elif self.style in TF_STYLES:
            self.family = "tf" if source.interpolates else "literal"
        else:
            self.family = ""

    def convert(self, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(self.text(k) if not isinstance(k, str) else k): self.convert(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [self.convert(x) for x in v]
        if is_text(v):
            return self.text(v)
        return v

    def text(self, v: Any) -> Any:
        parts = parts_of(v)
        if not any(isinstance(p, Symbol) for p in parts):
            s = "".join(parts)
            if self.family == "tf":
                return _Raw(_tf_escape(s))
            return s
        if len(parts) == 1 and self.style in ("cfn-yaml", "cfn-json", "tf-jsonencode", "tf-policy-document"):
            kind, value = self.symbol(parts[0])
            if kind == "expr" and self.family == "cfn" and "." not in value:
                return _Ref(value)
            if kind == "expr" and self.family == "tf":
                return _Expr(value)
        out = []
        has_expr = False
        for p in parts:
            if isinstance(p, str):
                out.append(_tf_escape(p) if self.family == "tf" else (p.replace("${", "${!") if self.family == "cfn" else p))
                continue
            kind, value = self.symbol(p)
            if kind == "expr":
                has_expr = True
                out.append("${" + value + "}")
            else:
                out.append(_tf_escape(value) if self.family == "tf" else value)
        s = "".join(out)
        if self.family == "tf":
            return _Raw(s)
        if self.family == "cfn" and has_expr and self.style != "cfn-json-string":
            return _Sub(s)
        return s

    def symbol(self, sym: Symbol) -> tuple[str, str]:
        """('expr', expression) or ('lit', literal text) for a symbol in this style."""
        kind = sym.kind
        if kind in ENV_KINDS:
            expr = self.source.expressions.get(kind)
            if expr and self.family in ("tf", "cfn"):
                return "expr", expr
            if self.family == "tf":
                if kind == "partition" and "partition" in self._literals:
                    return "lit", self._literals["partition"]
                decl = self.source.declarations.get(kind)
                if decl and len(decl) > 2 and decl[2] == "templatefile" and kind in self._literals:
                    return "lit", self._literals[kind]  # a template that writes the account: write it too
                if decl:
                    entry = (decl[1], decl[2] if len(decl) > 2 else "module")
                    if entry not in self.declare:
                        self.declare.append(entry)
                    return "expr", decl[0]
            if self.family == "cfn":
                return "expr", CFN_PSEUDO[kind]
            if kind in self._literals:
                return "lit", self._literals[kind]
            if self.family == "literal":
                name = CFN_PSEUDO[kind] if self.style in CFN_STYLES else {"account": "account_id"}.get(kind, kind)
                note = self._placeholder_note(name)
                if note not in self.notes:
                    self.notes.append(note)
                return "lit", "${" + name + "}"
            return "expr", sym.name
        name = sym.name
        for prefix in ("ref:", "getatt:", "tfref:"):
            if name.startswith(prefix):
                name = name[len(prefix):]
        return "expr", name

    def _placeholder_note(self, name: str) -> str:
        if self.style == "cfn-json-string":
            return (f"The KeyPolicy string is not inside Fn::Sub, so ${{{name}}} is not replaced: "
                    f"write the value, or make the KeyPolicy a !Sub string.")
        label = self.source.label or "the policy file"
        return (f"{label[:1].upper()}{label[1:]} is read without template substitution, so "
                f"${{{name}}} is not replaced: write the value, or read the file with templatefile() "
                f"and pass {name}.")


def _tf_escape(s: str) -> str:
    return s.replace("${", "$${").replace("%{", "%%{")


_ARN_ENV = re.compile(r"arn:(aws[a-z-]*):[a-z0-9-]*:[a-z0-9-]*:(\d{12})?")


def _literal_env(doc: Any) -> dict:
    """Partition and account the policy writes literally (``arn:aws:iam::111122223333:root``)."""
    found: dict = {}

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif is_text(v):
            for p in parts_of(v):
                if not isinstance(p, str):
                    continue
                for m in _ARN_ENV.finditer(p):
                    found.setdefault("partition", m.group(1))
                    if m.group(2):
                        found.setdefault("account", m.group(2))
                m = re.search(r"(?:^|:)(\d{12})(?::|$)", p)  # ":iam::111122223333:root" after a symbol
                if m:
                    found.setdefault("account", m.group(1))

    walk(doc)
    return found


# --------------------------------------------------------------------------- rendering: layouts


def _fits(text: str, indent: int) -> bool:
    return indent + len(text) <= CODE_WIDTH


_YAML_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9 _.:/*@+=,-]*$")
_YAML_RESERVED = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "~"}


def _yaml_scalar(v: Any) -> str:
    if isinstance(v, _Ref):
        return f"!Ref {v}"
    if isinstance(v, _Sub):
        return "!Sub " + json.dumps(str(v), ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    s = str(v)
    if _YAML_PLAIN.match(s) and s.lower() not in _YAML_RESERVED and ": " not in s and " #" not in s \
            and not s.endswith((":", " ")):
        return s
    return json.dumps(s, ensure_ascii=False)


def yaml_lines(v: Any, indent: int = 0) -> list[str]:
    """A mapping or list as block YAML (scalars inline; long !Sub values on their own line)."""
    pad = " " * indent
    out: list[str] = []
    if isinstance(v, dict):
        for k, x in v.items():
            key = _yaml_scalar(k)
            if isinstance(x, dict):
                out.append(f"{pad}{key}:")
                out += yaml_lines(x, indent + 2)
            elif isinstance(x, list):
                if len(x) == 1 and not isinstance(x[0], (dict, list)):
                    out += yaml_lines({k: x[0]}, indent)
                else:
                    out.append(f"{pad}{key}:")
                    out += yaml_lines(x, indent + 2)
            else:
                scalar = _yaml_scalar(x)
                line = f"{pad}{key}: {scalar}"
                if _fits(line, 0):
                    out.append(line)
                elif isinstance(x, _Sub):
                    out += [f"{pad}{key}: !Sub", f"{pad}  {json.dumps(str(x), ensure_ascii=False)}"]
                else:
                    out += [f"{pad}{key}:", f"{pad}  {scalar}"]
    elif isinstance(v, list):
        for x in v:
            if isinstance(x, (dict, list)):
                inner = yaml_lines(x, indent + 2)
                out.append(f"{pad}- {inner[0][indent + 2:]}")
                out += inner[1:]
            else:
                out.append(f"{pad}- {_yaml_scalar(x)}")
    else:
        out.append(pad + _yaml_scalar(v))
    return out


def _json_plain(v: Any) -> Any:
    if isinstance(v, _Ref):
        return {"Ref": str(v)}
    if isinstance(v, _Sub):
        return {"Fn::Sub": str(v)}
    if isinstance(v, dict):
        return {k: _json_plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_plain(x) for x in v]
    return str(v) if isinstance(v, str) else v


def _json_inline(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def json_lines(v: Any, indent: int = 0, key: Optional[str] = None) -> list[str]:
    """JSON laid out to fit: small objects inline, long scalars on their own line."""
    v = _json_plain(v)
    return _json_layout(v, indent, key)


def _json_layout(v: Any, indent: int, key: Optional[str]) -> list[str]:
    pad = " " * indent
    head = f"{pad}{json.dumps(key, ensure_ascii=False)}: " if key is not None else pad
    inline = _json_inline(v)
    if _fits(head + inline, 0) or not isinstance(v, (dict, list)) or not v:
        if not _fits(head + inline, 0) and key is not None and not isinstance(v, (dict, list)):
            return [head.rstrip(), f"{pad}  {inline}"]
        return [head + inline]
    items = list(v.items()) if isinstance(v, dict) else [(None, x) for x in v]
    open_, close = ("{", "}") if isinstance(v, dict) else ("[", "]")
    out = [head + open_]
    for n, (k, x) in enumerate(items):
        lines = _json_layout(x, indent + 2, k)
        if n < len(items) - 1:
            lines[-1] += ","
        out += lines
    out.append(pad + close)
    return out


_HCL_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _hcl_string(v: Any) -> str:
    if isinstance(v, _Expr):
        return str(v)
    s = str(v) if isinstance(v, _Raw) else _tf_escape(str(v))
    return json.dumps(s, ensure_ascii=False)


def _hcl_key(k: str) -> str:
    return k if _HCL_IDENT.match(k) else json.dumps(k, ensure_ascii=False)


def _hcl_inline(v: Any) -> Optional[str]:
    if isinstance(v, dict):
        if len(v) != 1:
            return None
        (k, x), = v.items()
        inner = _hcl_inline(x)
        return None if inner is None else f"{{ {_hcl_key(k)} = {inner} }}"
    if isinstance(v, list):
        inner = [_hcl_inline(x) for x in v]
        if any(i is None or isinstance(x, (dict, list)) for i, x in zip(inner, v)):
            return None
        return "[" + ", ".join(inner) + "]"  # type: ignore[arg-type]
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return _hcl_string(v)


def hcl_lines(v: Any, indent: int = 0) -> list[str]:
    """An HCL object (``{ Key = value ... }``), ``=`` aligned as terraform fmt does."""
    pad = " " * indent
    if not isinstance(v, dict):
        return [pad + (_hcl_inline(v) or "null")]
    keys = {k: _hcl_key(k) for k in v}
    width = max((len(x) for x in keys.values()), default=0)
    out = [pad + "{"]
    out += _hcl_items(v, indent + 2, width, keys)
    out.append(pad + "}")
    return out


def _hcl_items(v: dict, indent: int, width: int, keys: Optional[dict] = None) -> list[str]:
    pad = " " * indent
    keys = keys or {k: _hcl_key(k) for k in v}
    out: list[str] = []
    for k, x in v.items():
        head = f"{pad}{keys[k].ljust(width)} = "
        inline = _hcl_inline(x)
        if inline is not None and _fits(head + inline, 0):
            out.append(head + inline)
        elif isinstance(x, dict):
            inner = hcl_lines(x, indent)
            out.append(head + inner[0].lstrip())
            out += inner[1:]
        else:
            items = x if isinstance(x, list) else [x]
            out.append(head + "[")
            for item in items:
                if isinstance(item, dict):
                    inner = hcl_lines(item, indent + 2)
                    inner[-1] += ","
                    out += inner
                else:
                    out.append(f"{pad}  {_hcl_inline(item)},")
            out.append(pad + "]")
    return out


def _attr_lines(attrs: list[tuple[str, Any]], indent: int) -> list[str]:
    width = max((len(k) for k, _ in attrs), default=0)
    pad = " " * indent
    out = []
    for k, x in attrs:
        head = f"{pad}{k.ljust(width)} = "
        inline = _hcl_inline(x)
        if inline is not None and _fits(head + inline, 0):
            out.append(head + inline)
        else:
            out.append(head + "[")
            out += [f"{pad}  {_hcl_inline(item)}," for item in (x if isinstance(x, list) else [x])]
            out.append(pad + "]")
    return out


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, list) else [v]


def principal_blocks(name: str, principal: Any, indent: int) -> list[str]:
    """``principals { type = ... identifiers = [...] }`` blocks for a Principal element."""
    pad = " " * indent
    out = []
    items = [("*", ["*"])] if principal == "*" else [(t, _as_list(x)) for t, x in principal.items()]
    for ptype, idents in items:
        out.append(f"{pad}{name} {{")
        out += _attr_lines([("type", ptype), ("identifiers", idents)], indent + 2)
        out.append(pad + "}")
    return out


def condition_blocks(cond: dict, indent: int) -> list[str]:
    pad = " " * indent
    out = []
    for op, block in cond.items():
        for key, values in block.items():
            out.append(f"{pad}condition {{")
            out += _attr_lines([("test", op), ("variable", key), ("values", _as_list(values))], indent + 2)
            out.append(pad + "}")
    return out


def policy_document_statement(st: dict, indent: int = 0) -> list[str]:
    """A ``statement { ... }`` block of data "aws_iam_policy_document"."""
    pad = " " * indent
    attrs: list[tuple[str, Any]] = []
    if "Sid" in st:
        attrs.append(("sid", st["Sid"]))
    if st.get("Effect", "Allow") != "Allow":
        attrs.append(("effect", st["Effect"]))
    for js, tf in (("Action", "actions"), ("NotAction", "not_actions"), ("Resource", "resources"),
                   ("NotResource", "not_resources")):
        if js in st:
            attrs.append((tf, _as_list(st[js])))
    out = [pad + "statement {"]
    out += _attr_lines(attrs, indent + 2)
    if "Principal" in st:
        out += principal_blocks("principals", st["Principal"], indent + 2)
    if "NotPrincipal" in st:
        out += principal_blocks("not_principals", st["NotPrincipal"], indent + 2)
    if isinstance(st.get("Condition"), dict):
        out += condition_blocks(st["Condition"], indent + 2)
    out.append(pad + "}")
    return out


# --------------------------------------------------------------------------- rendering: edits


def _where(loc: Optional[Location], file: str) -> str:
    if loc is None:
        return ""
    if loc.file == file:
        return f" (line {loc.line})" if loc.line else ""
    return f" ({loc.file}:{loc.line})" if loc.line else f" ({loc.file})"


class _Writer:
    def __init__(self, subject: Subject, key: Key, policy: KeyPolicy):
        self.subject = subject
        self.key = key
        self.policy = policy
        self.file = subject.location.file
        creating = policy.is_default
        source = (key.policy_source if creating else policy.source) or PolicySource()
        self.source = source
        self.style = source.style
        self.values = _Values(source, policy.document if not creating else None, subject)
        self.lines: list[str] = []

    # -- helpers

    def prose(self, text: str) -> None:
        self.lines.append(text)

    def code(self, lines: list[str]) -> None:
        self.lines += [CODE + line for line in lines]

    def stmt_label(self, i: int) -> str:
        stmts = statements(self.policy.document)
        label = stmts[i].label() if 0 <= i < len(stmts) else f"statement #{i + 1}"
        return label + _where(self.policy.statement_location(i), self.file)

    def policy_where(self) -> str:
        return _where(self.source.location or self.policy.location, self.file)

    def statement_code(self, st: dict) -> list[str]:
        v = self.values.convert(st)
        if self.style == "cfn-yaml":
            return yaml_lines([v])
        if self.style == "tf-policy-document":
            return policy_document_statement(v)
        if self.style == "tf-jsonencode":
            lines = hcl_lines(v)
            lines[-1] += ","
            return lines
        lines = json_lines(v)
        if self.style in ("cfn-json", "cfn-json-string", "tf-json-text"):
            lines[-1] += ","
        return lines

    # -- edits

    def add(self, edit: Edit) -> None:
        label = self.source.label or f"the key policy of {self.key.name}"
        where = self.policy_where()
        n = "statement" if len(edit.statements) == 1 else "statements"
        if self.style == "tf-policy-document":
            self.prose(f"Add this {n} block to {label}{where}:")
        elif self.style in ("cfn-yaml", "tf-jsonencode"):
            self.prose(f"Add to the Statement list of {label}{where}:")
        elif self.style:
            self.prose(f"Add at the start of the Statement array of {label}{where}:")
        else:
            self.prose(f"Add to the Statement list of {label}{where}:")
        for st in edit.statements:
            self.code(self.statement_code(st))

    def create(self, edit: Edit) -> None:
        src = self.source
        self.prose(f"{self.key.name} has no key policy, so AWS applies its default, which allows only the account "
                   f"root; give it a policy with these statements.")
        doc = self.values.convert({"Version": "2012-10-17", "Statement": edit.statements})
        where = _where(src.location or self.key.location, self.file)
        if self.style == "cfn-yaml":
            self.prose(f"Add to {src.label or 'the Properties of ' + self.key.name}{where}:")
            self.code(yaml_lines({"KeyPolicy": doc}))
        elif self.style == "cfn-json":
            self.prose(f"Add at the start of {src.label or 'the Properties of ' + self.key.name}{where}:")
            lines = json_lines(doc, 0, "KeyPolicy")
            lines[-1] += ","
            self.code(lines)
        elif self.style in TF_STYLES:
            self.prose(f"Add to {src.label or self.key.name}{where}:")
            body = hcl_lines(doc)
            self.code([f"policy = jsonencode({body[0]}"] + body[1:-1] + [body[-1] + ")"])
        else:
            self.prose(f"Give {self.key.name} this key policy:")
            self.code(json_lines(doc))

    def condition(self, edit: Edit) -> None:
        op, key_name, value = edit.condition
        st = _stmts(self.policy.document)[edit.index] if 0 <= edit.index < len(_stmts(self.policy.document)) else {}
        cond = st.get("Condition") if isinstance(st, dict) else None
        label = self.stmt_label(edit.index)
        v = self.values.convert(value)
        if self.style == "tf-policy-document":
            self.prose(f"Add this condition block to {label}:")
            self.code(condition_blocks({op: {key_name: v}}, 0))
            return
        add = self.add_to()
        if not isinstance(cond, dict):
            member, what = ("Condition", {op: {key_name: v}}), f"{add} {label}:"
        elif op not in cond:
            member, what = (op, {key_name: v}), f"{add} the Condition of {label}:"
        else:
            member, what = (key_name, v), f"{add} the {op} condition of {label}:"
        self.prose(what)
        self.code(self.member_code(*member))
        if edit.text:
            self.prose(edit.text)

    def add_to(self) -> str:
        """How to say where a member goes: JSON members carry a trailing comma, so they go first."""
        return "Add to" if self.style in ("cfn-yaml", "tf-jsonencode") else "Add at the start of"

    def member_code(self, name: str, value: Any) -> list[str]:
        if self.style == "cfn-yaml":
            return yaml_lines({name: value})
        if self.style == "tf-jsonencode":
            return _hcl_items({name: value}, 0, len(_hcl_key(name)))
        lines = json_lines(value, 0, name)
        lines[-1] += ","
        return lines

    def exempt(self, edit: Edit) -> None:
        label = self.stmt_label(edit.index)
        why = "so that its Deny does not apply to CloudTrail"
        if self.style == "tf-policy-document":
            self.prose(f"Add this not_principals block to {label}, {why}:")
            self.code(principal_blocks("not_principals", {"Service": CLOUDTRAIL_SERVICE}, 0))
            return
        self.prose(f"{self.add_to()} the NotPrincipal of {label}, {why}:")
        self.code(self.member_code("Service", CLOUDTRAIL_SERVICE))

    def operator(self, edit: Edit) -> None:
        label = self.stmt_label(edit.index)
        for old, new in edit.operators:
            if self.style == "tf-policy-document":
                self.prose(f"In {label}, change test = \"{old}\" to test = \"{new}\": {old} compares literally, "
                           f"so its wildcard never matches.")
            else:
                self.prose(f"In {label}, change {old} to {new}: {old} compares literally, so its wildcard never "
                           f"matches.")

    def uncondition(self, edit: Edit) -> None:
        label = self.stmt_label(edit.index)
        keys = " and ".join(edit.keys)
        why = (f"CloudTrail does not send {'it' if len(edit.keys) == 1 else 'them'} for event data stores, "
               f"and AWS does not support aws:SourceArn or aws:SourceAccount in their key policies.")
        if self.style == "tf-policy-document":
            n = "block" if len(edit.keys) == 1 else "blocks"
            self.prose(f"In {label}, remove the condition {n} on {keys}: {why}")
        elif edit.whole:
            self.prose(f"In {label}, remove the Condition (on {keys}): {why}")
        else:
            self.prose(f"In {label}, remove {keys} from the Condition: {why}")

    def remove(self, edit: Edit) -> None:
        self.prose(f"Remove {self.stmt_label(edit.index)}: {edit.text}")

    def note(self, edit: Edit) -> None:
        self.prose(edit.text)

    def render(self, edits: list[Edit]) -> str:
        for e in edits:
            getattr(self, e.kind)(e)
        module = [d for d, where in self.values.declare if where != "templatefile"]
        passed = [d for d, where in self.values.declare if where == "templatefile"]
        if module:
            loc = self.source.location or self.key.location
            where = f" ({loc.file})" if loc and loc.file.endswith(".tf") else ""
            n = "this declaration" if len(module) == 1 else "these declarations"
            self.prose(f"Add {n} to the module{where}:")
            self.code(module)
        if passed:
            where = _where(self.policy.location, self.file)
            self.prose(f"Pass {'it' if len(passed) == 1 else 'them'} to templatefile() in the policy of "
                       f"{self.key.name}{where}, in the variables map:")
            self.code(passed)
        for note in self.values.notes + ([self.source.note] if self.source.note else []):
            self.prose(note)
        return "\n".join(self.lines)


def render(edits: list[Edit], subject: Subject, key: Key, policy: KeyPolicy) -> str:
    """The text of a fix (see the module docstring)."""
    if not edits:
        return ""
    return _Writer(subject, key, policy).render(edits)


# --------------------------------------------------------------------------- entry points for trail.py


# A fix is an aid: a policy shape the planner or a layout does not expect gives no fix, never a failed scan.
_UNEXPECTED = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError)


def grant_fix(kind: str, subject: Subject, key: Key, policy: KeyPolicy, requests: list[Request]) -> str:
    """CTKMS003 (describe), CTKMS004 (encrypt; eds for an event data store)."""
    try:
        return render(plan_grant(kind, subject, policy, requests), subject, key, policy)
    except _UNEXPECTED:
        return ""


def scope_fix(subject: Subject, key: Key, policy: KeyPolicy, indexes: list[int], requests: list[Request] = ()) -> str:
    """CTKMS005: ``requests`` are CloudTrail's, which the scoped statements must still allow."""
    try:
        return render(plan_scope(subject, policy, indexes, requests), subject, key, policy)
    except _UNEXPECTED:
        return ""


def reader_fix(subject: Subject, key: Key, policy: KeyPolicy, request_for: Callable[[Any], Request],
               public: Optional[int] = None) -> str:
    """CTKMS006: ``request_for(principal)`` is a log reader's request; ``public``: a grant to everyone to replace."""
    try:
        return render(plan_reader(subject, policy, request_for, public), subject, key, policy)
    except _UNEXPECTED:
        return ""


# --------------------------------------------------------------------------- front ends: how a policy is written


def cloudformation_format(file: str) -> str:
    """'json' or 'yaml': by extension, else by the first character of the file."""
    low = file.lower()
    if low.endswith(".json"):
        return "json"
    if low.endswith((".yaml", ".yml")):
        return "yaml"
    try:
        with open(file, encoding="utf-8", errors="replace") as fh:
            return "json" if fh.read(4096).lstrip().startswith("{") else "yaml"
    except OSError:
        return "yaml"


def cloudformation_source(file: str, logical: str, raw: Any, location: Optional[Location]) -> PolicySource:
    """How the KeyPolicy of ``logical`` is written (``raw``: the template's KeyPolicy node)."""
    fmt = cloudformation_format(file)
    label = f"the KeyPolicy of {logical}"
    expressions = dict(CFN_PSEUDO)
    string = isinstance(raw, str)
    sub = isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) == "Fn::Sub"
    if string or (isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in ("Fn::Sub", "Fn::Join")):
        note = ("The KeyPolicy is a string in a JSON template: escape each quote in the statement as \\\" and "
                "write its line breaks as \\n." if fmt == "json" else "")
        return PolicySource("cfn-json-string", location, f"the KeyPolicy string of {logical}",
                            expressions if sub else {}, interpolates=sub, sub=sub, note=note)
    return PolicySource("cfn-json" if fmt == "json" else "cfn-yaml", location, label, expressions)


def cloudformation_create_source(file: str, logical: str, properties_location: Optional[Location],
                                 key_location: Optional[Location]) -> PolicySource:
    """Where a KeyPolicy would be added to a key that has none."""
    fmt = cloudformation_format(file)
    label = f"the Properties of {logical}" if properties_location else logical
    return PolicySource("cfn-json" if fmt == "json" else "cfn-yaml", properties_location or key_location, label,
                        dict(CFN_PSEUDO))


_TF_ENV = (
    ("account", "aws_caller_identity", "account_id"),
    ("partition", "aws_partition", "partition"),
)


def _tf_locals(mdir: Any) -> dict:
    out: dict = {}
    for b in getattr(mdir, "blocks", []):
        if b.type == "locals":
            for name, a in b.attributes.items():
                out.setdefault(name, a)
    return out


def terraform_env(mdir: Any) -> tuple[dict, dict]:
    """(expressions, declarations): how the module writes its account and partition.

    ``data.aws_caller_identity.<name>.account_id`` / ``data.aws_partition.<name>.partition``
    when the module declares them (a local that is exactly one of them is preferred);
    otherwise the declaration a fix must add."""
    locals_ = _tf_locals(mdir)
    expressions: dict = {}
    declarations: dict = {}
    for kind, dtype, attr in _TF_ENV:
        blocks = [b for b in getattr(mdir, "blocks", []) if b.type == "data" and b.labels and b.labels[0] == dtype
                  and len(b.labels) == 2 and b.attribute("count") is None and b.attribute("for_each") is None]
        if not blocks:
            declarations[kind] = (f"data.{dtype}.current.{attr}", f'data "{dtype}" "current" {{}}')
            continue
        expr = f"data.{dtype}.{blocks[0].labels[1]}.{attr}"
        for name, a in locals_.items():
            if a.expression.text.strip() == expr:
                expr = f"local.{name}"
                break
        expressions[kind] = expr
    return expressions, declarations


_FILE_CALL = re.compile(r'^(file|templatefile)\(\s*"([^"]*)"')


def terraform_source(mdir: Any, attribute: Any, owner: str, display: Callable[[str], str] = lambda p: p) -> PolicySource:
    """How the ``policy`` attribute of ``owner`` (an aws_kms_key or aws_kms_key_policy) is written.

    ``mdir``: the module directory (``blocks``, ``find``, ``path``); ``attribute``: the parsed
    attribute (``expression.text``, ``location``). References to locals are followed."""
    expressions, declarations = terraform_env(mdir)
    text = attribute.expression.text.strip()
    location = Location(attribute.location.file, attribute.location.line)
    label = f"the policy of {owner}"
    locals_ = _tf_locals(mdir)
    seen: set = set()
    while True:
        m = re.fullmatch(r"local\.([A-Za-z_][A-Za-z0-9_-]*)", text)
        if not m or m.group(1) in seen or m.group(1) not in locals_:
            break
        seen.add(m.group(1))
        a = locals_[m.group(1)]
        text = a.expression.text.strip()
        location = Location(a.location.file, a.location.line)
        label = f"local.{m.group(1)}"
    m = re.fullmatch(r"data\.aws_iam_policy_document\.([A-Za-z_][A-Za-z0-9_-]*)\.(json|minified_json)", text)
    if m:
        block = mdir.find(f"data.aws_iam_policy_document.{m.group(1)}")
        if block is not None and block.attribute("count") is None and block.attribute("for_each") is None:
            return PolicySource("tf-policy-document", Location(block.location.file, block.location.line),
                                f"data.aws_iam_policy_document.{m.group(1)}", expressions, declarations)
        return PolicySource()
    if text.startswith("jsonencode("):
        return PolicySource("tf-jsonencode", location, label, expressions, declarations)
    if text.startswith("<<"):
        return PolicySource("tf-json-text", location, label, expressions, declarations)
    m = _FILE_CALL.match(text)
    if m:
        rel = m.group(2).replace("${path.module}", ".").replace("${path.root}", ".")
        path = os.path.normpath(os.path.join(getattr(mdir, "path", "."), rel))
        shown = display(path)
        if m.group(1) == "file":
            return PolicySource("tf-json-text", Location(shown), "the policy file", {}, {}, interpolates=False)
        # templatefile(path, {account_id = data.aws_caller_identity.current.account_id, ...}): the template's names
        vars_: dict = {}
        for kind, dtype, attr in _TF_ENV:
            pattern = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:data\.%s\.[A-Za-z0-9_-]+\.%s|%s)\s*(?:,|\n|})"
                                 % (dtype, attr, re.escape(expressions.get(kind, "\0"))))
            found = pattern.search(text)
            if found:
                vars_[kind] = found.group(1)
        # a value the template is not given: a variable to pass to templatefile() (it cannot read data sources)
        passes: dict = {}
        for kind, dtype, attr in _TF_ENV:
            if kind not in vars_:
                name = {"account": "account_id", "partition": "partition"}[kind]
                passes[kind] = (name, f"{name} = {expressions.get(kind) or f'data.{dtype}.current.{attr}'}",
                                "templatefile")
        return PolicySource("tf-json-text", Location(shown), "the policy template", vars_, passes, interpolates=True)
    return PolicySource()


def terraform_create_source(mdir: Any, block: Any, address: str) -> PolicySource:
    """Where a ``policy`` argument would be added to a key that has none (as jsonencode)."""
    expressions, declarations = terraform_env(mdir)
    return PolicySource("tf-jsonencode", Location(block.location.file, block.location.line), address,
                        expressions, declarations)
