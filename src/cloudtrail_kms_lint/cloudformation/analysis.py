"""CloudFormation template analysis, shared by the CLI, the cfn-lint rules and the checkov checks.

Input: a decoded template (plain dicts whose nodes may carry ``start_mark``, as
cfn-lint's decoder and checkov's parser produce) and the file name to report.
Output: catalogue findings per ``AWS::CloudTrail::Trail`` and
``AWS::CloudTrail::EventDataStore``.

How a trail's ``KMSKeyId`` (``KmsKeyId`` on event data stores) is followed:
``!Ref Key`` / ``!GetAtt Key.Arn`` / ``!GetAtt Key.KeyId``, ``!Sub`` and
``Fn::Join`` that build a key or alias ARN, ``!Ref Alias``, a literal alias name
or alias ARN that matches an ``AWS::KMS::Alias`` in the template, parameters
(a value passed by the user, else the Default), ``Fn::If`` (every scenario).
``Fn::ImportValue``, parameters without Default, parameters of an
``AWS::SSM::Parameter::Value<...>`` type, dynamic references
(``{{resolve:ssm:...}}``) and literal ARNs of keys defined elsewhere cannot be
followed (CTKMS007). A ``KeyPolicy`` may be a JSON string, also one built with
``Fn::Sub`` (its ``${...}`` become the same symbols as elsewhere). The CloudTrail ``KMSKeyId``
property accepts "an alias name prefixed by alias/, a fully specified ARN to an
alias, a fully specified ARN to a key, or a globally unique identifier"
(AWS::CloudTrail::Trail, CloudFormation User Guide).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from typing import Any, Callable, Optional

from .. import fixes, limits
from ..catalogue import EVENT_DATA_STORE, TRAIL
from ..model import (
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
    Subject,
    TraceStep,
)
from ..trail import analyse
from ..values import Symbol, SymStr, Text, is_text, parts_of, render, split_text, symbols_in
from .intrinsics import EDS_TYPE, NO_VALUE, PSEUDO, TRAIL_TYPE, Context, evaluate

KEY_TYPES = ("AWS::KMS::Key", "AWS::KMS::ReplicaKey")
ALIAS_TYPE = "AWS::KMS::Alias"
KEY_PROPERTY = {TRAIL_TYPE: "KMSKeyId", EDS_TYPE: "KmsKeyId"}
MAX_CONDITIONS = limits.DEFAULTS.max_conditions  # the default (64 scenarios); in force: limits.current().max_conditions

Locator = Callable[[Any], Optional[tuple]]
LOG = logging.getLogger(__name__)


def locate(node: Any) -> Optional[tuple]:
    """(line, column), 1-based, of a decoded node, when the parser recorded it."""
    mark = getattr(node, "start_mark", None)
    if mark is not None and getattr(mark, "line", None) is not None:
        return (mark.line + 1, mark.column + 1)
    return None


def _key_node(mapping: Any, name: str) -> Any:
    if isinstance(mapping, dict):
        for k in mapping.keys():
            if k == name:
                return k
    return None


class _Analyser:
    def __init__(self, template: dict, file: str, parameters: Optional[dict], locator: Locator,
                 accounts: tuple = ()):
        self.accounts = tuple(accounts)
        self.template = template
        self.file = file
        self.locator = locator
        self.ctx = Context(template, parameters)

    def loc(self, node: Any) -> Optional[Location]:
        lc = self.locator(node) if node is not None else None
        if lc:
            return Location(self.file, lc[0], lc[1])
        return None

    # ------------------------------------------------------------ subjects

    def subjects(self) -> list[tuple[str, str]]:
        out = []
        for logical, res in self.ctx.resources.items():
            if isinstance(res, dict) and res.get("Type") in (TRAIL_TYPE, EDS_TYPE):
                out.append((str(logical), str(res.get("Type"))))
        return out

    def subject(self, logical: str, rtype: str) -> Subject:
        props = self.ctx.properties(logical)
        prop = KEY_PROPERTY[rtype]
        node = _key_node(props, prop) or _key_node(self.ctx.resources, logical)
        location = self.loc(node) or Location(self.file, None)
        kind = TRAIL if rtype == TRAIL_TYPE else EVENT_DATA_STORE
        name: Text = ""
        if kind == TRAIL:
            name = self.ctx.trail_name(logical)
        return Subject(
            kind=kind,
            resource=logical,
            resource_type=rtype,
            location=location,
            name=name,
            partition=PSEUDO["AWS::Partition"],
            region=PSEUDO["AWS::Region"],
            account=PSEUDO["AWS::AccountId"],
            accounts=self.accounts,
        )

    # ------------------------------------------------------------ key resolution

    def resolve(self, logical: str, rtype: str) -> list[KeyResolution]:
        props = self.ctx.properties(logical)
        prop = KEY_PROPERTY[rtype]
        res_cond = self.ctx.resources.get(logical, {}).get("Condition") if isinstance(self.ctx.resources.get(logical), dict) else None

        def run() -> KeyResolution:
            self.ctx.nodes = 0  # the size budget is per scenario
            if prop not in props:
                other = "KmsKeyId" if prop == "KMSKeyId" else "KMSKeyId"
                detail = f"{prop} is not set"
                if other in props:
                    detail += f"; {other} is not a property of {rtype} (the property is {prop})"
                return KeyResolution(NO_KEY, detail=detail)
            raw = props[prop]
            value = evaluate(raw, self.ctx)
            reference = _describe_reference(raw)
            r = self.classify(value, reference, set(), [TraceStep(f"{logical}.{prop} = {reference}", self.loc(_key_node(props, prop)))])
            r.reference = r.reference or reference
            if r.location is None:
                r.location = self.loc(_key_node(props, prop))
            return r

        fixed = {str(res_cond): True} if isinstance(res_cond, str) else {}
        return self._scenarios(run, fixed)

    def _scenarios(self, run: Callable[[], KeyResolution], fixed: dict[str, bool]) -> list[KeyResolution]:
        conds: list[str] = []
        while True:
            results: list[KeyResolution] = []
            discovered = False
            for combo in itertools.product((True, False), repeat=len(conds)):
                assignment = dict(fixed)
                assignment.update(zip(conds, combo))
                self.ctx.conditions = assignment
                self.ctx.used_conditions = []
                r = run()
                for c in self.ctx.used_conditions:
                    if c not in conds and c not in fixed:
                        conds.append(c)
                        discovered = True
                shown = [(c, v) for c, v in zip(conds, combo)]
                if shown:
                    r.scenario = "when " + " and ".join(f"condition {c} is {'true' if v else 'false'}" for c, v in shown)
                results.append(r)
            if not discovered:
                return results
            max_conditions = limits.current().max_conditions
            if len(conds) > max_conditions:
                names = ", ".join(conds[:20]) + (", ..." if len(conds) > 20 else "")
                return [KeyResolution(UNRESOLVED, detail=f"the key depends on more than {max_conditions} conditions ({names}; "
                                                         "limit max-conditions); not every scenario was evaluated")]

    def classify(self, value: Any, reference: str, seen: set, trace: list) -> KeyResolution:
        if value is NO_VALUE:
            return KeyResolution(NO_KEY, detail=f"{reference} is AWS::NoValue", trace=trace)
        if value is None or value == "":
            return KeyResolution(NO_KEY, detail="the key id is empty", trace=trace)
        if not is_text(value):
            return KeyResolution(NOT_A_KEY, detail="the value is not a string", trace=trace)

        syms = symbols_in(value)
        refs = [s for s in syms if s.name.startswith(("ref:", "getatt:"))]
        for s in refs:
            target, _, attr = s.name.split(":", 1)[1].partition(".")
            rtype = self.ctx.resource_type(target)
            if rtype in KEY_TYPES:
                if s.name.startswith("getatt:") and attr not in ("Arn", "KeyId"):
                    return KeyResolution(NOT_A_KEY, detail=f"{target}.{attr} is not the key's ARN or id", trace=trace)
                return self.key_from_resource(target, trace)
            if rtype == ALIAS_TYPE:
                if target in seen:
                    return KeyResolution(UNRESOLVED, detail=f"alias {target} refers to itself", trace=trace)
                return self.follow_alias(target, seen | {target}, trace)
            if rtype is None:
                return KeyResolution(UNRESOLVED, detail=s.describe(), trace=trace)
            return KeyResolution(NOT_A_KEY, detail=f"{target} is a {rtype}, not a KMS key", trace=trace)

        text_literal = "".join(p for p in parts_of(value) if isinstance(p, str))
        alias_name = _alias_name(value)
        if alias_name is not None:
            shown = render(alias_name)
            if shown.startswith("alias/aws/"):
                return KeyResolution(AWS_MANAGED, detail=shown, trace=trace)
            target = self.alias_by_name(alias_name)
            if target is not None and target not in seen:
                return self.follow_alias(target, seen | {target}, trace)
            opaque = [s for s in symbols_in(alias_name) if s.kind == "opaque"]
            if opaque:
                return KeyResolution(UNRESOLVED, detail="; ".join(s.describe() for s in opaque), trace=trace)
            return KeyResolution(UNRESOLVED, detail=f"alias {shown} is not defined in this template, so its key policy cannot be read", trace=trace)

        opaque = [s for s in syms if s.kind == "opaque"]
        if opaque:
            return KeyResolution(UNRESOLVED, detail="; ".join(dict.fromkeys(s.describe() for s in opaque)), trace=trace)
        if ":key/" in text_literal and text_literal.startswith("arn:"):
            return KeyResolution(UNRESOLVED, detail=f"{render(value)} is the ARN of a key defined outside this template, so its key policy cannot be read", trace=trace)
        if _looks_like_key_id(text_literal) and len(parts_of(value)) == 1:
            return KeyResolution(UNRESOLVED, detail=f"{text_literal} is the id of a key defined outside this template, so its key policy cannot be read", trace=trace)
        return KeyResolution(NOT_A_KEY, detail=f"'{render(value)}' is not a KMS key ARN, alias or key id", trace=trace)

    def alias_by_name(self, name: Text) -> Optional[str]:
        wanted = render(name)
        for logical, res in self.ctx.resources.items():
            if isinstance(res, dict) and res.get("Type") == ALIAS_TYPE:
                an = evaluate(self.ctx.properties(str(logical)).get("AliasName"), self.ctx)
                if is_text(an) and render(an) == wanted:
                    return str(logical)
        return None

    def follow_alias(self, logical: str, seen: set, trace: list) -> KeyResolution:
        props = self.ctx.properties(logical)
        target = props.get("TargetKeyId")
        trace = trace + [TraceStep(f"alias {logical} -> TargetKeyId {_describe_reference(target)}", self.loc(_key_node(props, "TargetKeyId")))]
        if target is None:
            return KeyResolution(UNRESOLVED, detail=f"alias {logical} has no TargetKeyId", trace=trace)
        value = evaluate(target, self.ctx)
        return self.classify(value, _describe_reference(target), seen, trace)

    def key_from_resource(self, logical: str, trace: list) -> KeyResolution:
        props = self.ctx.properties(logical)
        res_node = _key_node(self.ctx.resources, logical)
        key_loc = self.loc(res_node)
        trace = trace + [TraceStep(f"key {logical} ({self.ctx.resource_type(logical)})", key_loc)]
        spec_v = evaluate(props.get("KeySpec"), self.ctx) if "KeySpec" in props else "SYMMETRIC_DEFAULT"
        spec: Text = spec_v if is_text(spec_v) else "SYMMETRIC_DEFAULT"
        policy: Optional[KeyPolicy] = None
        if "KeyPolicy" in props:
            policy = self.key_policy(props, logical)
            if policy is None:  # KeyPolicy: !Ref AWS::NoValue in this scenario: AWS's default policy
                trace.append(TraceStep(f"KeyPolicy of {logical} is AWS::NoValue: AWS's default key policy applies", key_loc))
            else:
                trace.append(TraceStep(f"KeyPolicy of {logical}", policy.location))
        else:
            trace.append(TraceStep(f"{logical} has no KeyPolicy: AWS's default key policy applies", key_loc))
        key = Key(name=logical, policy=policy, spec=spec, location=key_loc)
        # how the policy is written (or where it would be added), for fixes in the template's own style
        if policy is not None:
            policy.source = fixes.cloudformation_source(self.file, logical, props["KeyPolicy"], policy.location)
        else:
            res = self.ctx.resources.get(logical)
            key.policy_source = fixes.cloudformation_create_source(
                self.file, logical, self.loc(_key_node(res, "Properties")), key_loc)
        return KeyResolution(RESOLVED, key=key, trace=trace)

    def key_policy(self, props: dict, logical: str) -> KeyPolicy:
        raw = props["KeyPolicy"]
        policy_loc = self.loc(_key_node(props, "KeyPolicy")) or self.loc(raw)
        if isinstance(raw, str):
            try:
                doc = json.loads(raw)
            except ValueError as e:
                doc = Symbol(f"{logical}.KeyPolicy", "opaque", f"the KeyPolicy of {logical} is a string that is not valid JSON ({e.msg})")
            return KeyPolicy(document=doc, location=policy_loc)
        if isinstance(raw, dict) and "Statement" in raw and isinstance(raw["Statement"], list) and not _is_intrinsic(raw):
            doc: dict = {}
            for k, v in raw.items():
                if k == "Statement":
                    continue
                ev = evaluate(v, self.ctx)
                if ev is not NO_VALUE:
                    doc[str(k)] = ev
            stmts = []
            locs = []
            for item in raw["Statement"]:
                ev = evaluate(item, self.ctx)
                if self.ctx.nodes > self.ctx.max_nodes:  # the size budget is spent: one reason, not one per statement
                    return KeyPolicy(document=ev if isinstance(ev, Symbol) else Symbol(
                        f"{logical}.KeyPolicy", "opaque", f"the KeyPolicy of {logical} is larger than "
                                                          f"{self.ctx.max_nodes:,} nodes; not evaluated"),
                        location=policy_loc)
                if ev is NO_VALUE:
                    continue
                stmts.append(ev)
                locs.append(self.loc(item))
            doc["Statement"] = stmts
            return KeyPolicy(document=doc, location=policy_loc, statement_locations=locs)
        doc_any = evaluate(raw, self.ctx)
        if isinstance(doc_any, SymStr):
            # a JSON string built with Fn::Sub / Fn::Join: KeyPolicy: !Sub '{"Statement": [... "${AWS::AccountId}" ...]}'
            doc_any = _json_with_symbols(doc_any, logical)
        elif isinstance(doc_any, str):
            try:
                doc_any = json.loads(doc_any)
            except ValueError:
                doc_any = Symbol(f"{logical}.KeyPolicy", "opaque", f"the KeyPolicy of {logical} is not a JSON object")
        if doc_any is NO_VALUE:
            return None  # type: ignore[return-value]
        return KeyPolicy(document=doc_any, location=policy_loc)


def _json_with_symbols(text: SymStr, logical: str) -> Any:
    """Parse a JSON document written as a text with symbols (Fn::Sub of a JSON string).

    Each symbol stands in for part of a JSON string value, as in
    ``"arn:${AWS::Partition}:iam::${AWS::AccountId}:root"``; it is replaced by a
    placeholder, the JSON is parsed, and the placeholders in the parsed strings
    become the symbols again. A symbol outside a JSON string (``"Version": ${X}``)
    makes the text invalid JSON: the policy is then not known.
    """
    from ..values import make_text

    literal = "".join(p for p in text.parts if isinstance(p, str))
    marker = "@@ctkms-symbol-"
    while marker in literal:
        marker += "-"
    symbols: list[Symbol] = []
    chunks: list[str] = []
    for p in text.parts:
        if isinstance(p, Symbol):
            chunks.append(f"{marker}{len(symbols)}@@")
            symbols.append(p)
        else:
            chunks.append(p)
    try:
        doc = json.loads("".join(chunks))
    except ValueError as e:
        return Symbol(f"{logical}.KeyPolicy", "opaque",
                      f"the KeyPolicy of {logical} is a Fn::Sub/Fn::Join string that is not valid JSON ({getattr(e, 'msg', e)})")
    pattern = re.compile(re.escape(marker) + r"(\d+)@@")

    def restore(v: Any) -> Any:
        if isinstance(v, str):
            if marker not in v:
                return v
            parts: list = []
            pos = 0
            for m in pattern.finditer(v):
                parts.append(v[pos:m.start()])
                parts.append(symbols[int(m.group(1))])
                pos = m.end()
            parts.append(v[pos:])
            return make_text(parts)
        if isinstance(v, list):
            return [restore(x) for x in v]
        if isinstance(v, dict):
            return {restore(k): restore(x) for k, x in v.items()}
        return v

    return restore(doc)


def _is_intrinsic(node: Any) -> bool:
    return isinstance(node, dict) and len(node) == 1 and (next(iter(node)) == "Ref" or str(next(iter(node))).startswith("Fn::"))


def _alias_name(value: Text) -> Optional[Text]:
    """The alias name in 'alias/x' or 'arn:...:kms:...:alias/x', else None."""
    from ..values import make_text

    parts = list(parts_of(value))
    if not parts or not isinstance(parts[0], str):
        return None
    first = parts[0]
    if first.startswith("alias/"):
        return value
    if first.startswith("arn:"):
        fields = split_text(value, ":")
        if len(fields) >= 6 and fields[2] == "kms":
            res = fields[5] if len(fields) == 6 else None
            if res is not None:
                rp = list(parts_of(res))
                if rp and isinstance(rp[0], str) and rp[0].startswith("alias/"):
                    return make_text(rp)
    return None


def _looks_like_key_id(text: str) -> bool:
    import re

    return bool(re.fullmatch(r"(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", text))


def _describe_reference(raw: Any) -> str:
    """Short text of what the template wrote: !Ref X, !GetAtt X.Arn, !Sub '...'."""
    if isinstance(raw, dict) and len(raw) == 1:
        (fn, arg), = raw.items()
        if fn == "Ref":
            return f"!Ref {arg}"
        if fn == "Fn::GetAtt":
            if isinstance(arg, (list, tuple)) and len(arg) == 2:
                return f"!GetAtt {arg[0]}.{arg[1]}"
            return f"!GetAtt {arg}"
        if fn == "Fn::Sub":
            s = arg if isinstance(arg, str) else (arg[0] if isinstance(arg, (list, tuple)) and arg else "")
            return f"!Sub '{s}'"
        short = str(fn).replace("Fn::", "!")
        return f"{short} ..."
    if isinstance(raw, str):
        return f"'{raw}'" if len(raw) <= 200 else f"'{raw[:197]}...'"
    return _short(raw, 80)


def _short(value: Any, limit: int) -> str:
    """Bounded JSON-like text of a value: at most ``limit`` characters, however large (or aliased) the value is."""
    out: list[str] = []
    size = 0
    stack: list[tuple[bool, Any]] = [(False, value)]  # (is raw text, item)
    while stack and size <= limit:
        raw, v = stack.pop()
        if raw:
            piece = v
        elif isinstance(v, dict):
            items: list[tuple[bool, Any]] = [(True, "{")]
            for i, (k, x) in enumerate(v.items()):
                if i > limit:
                    break
                items += [(True, (", " if i else "") + json.dumps(str(k)[:limit]) + ": "), (False, x)]
            items.append((True, "}"))
            stack.extend(reversed(items))
            continue
        elif isinstance(v, (list, tuple)):
            items = [(True, "[")]
            for i, x in enumerate(v):
                if i > limit:
                    break
                items += [(True, ", ")] if i else []
                items.append((False, x))
            items.append((True, "]"))
            stack.extend(reversed(items))
            continue
        elif isinstance(v, bool) or v is None:
            piece = json.dumps(v)
        elif isinstance(v, (int, float)):
            piece = str(v)[:limit]
        else:
            piece = json.dumps(str(v)[:limit])
        out.append(piece)
        size += len(piece)
    text = "".join(out)
    return text if len(text) <= limit and not stack else text[:limit - 3] + "..."


def analyse_template(
    template: Any,
    file: str,
    *,
    parameters: Optional[dict[str, str]] = None,
    locator: Locator = locate,
    accounts: tuple = (),
) -> list[Finding]:
    """Every finding for every trail and event data store in the template."""
    if not isinstance(template, dict):
        return []
    findings: list[Finding] = []
    with limits.budget("template"):
        a = _Analyser(template, file, parameters, locator, accounts)
        for logical, rtype in a.subjects():
            findings.extend(_guarded(a, logical, rtype))
    return findings


def _guarded(a: _Analyser, logical: str, rtype: str) -> list[Finding]:
    """One resource's findings; a limit or a failure of the analysis is CTKMS007 for it, never a silent pass."""
    try:
        return analyse_resource_with(a, logical, rtype)
    except limits.LimitExceeded as e:
        why = str(e)
    except RecursionError:
        why = "the template is nested too deeply to analyse"
    except Exception as e:  # noqa: BLE001 - a bug must not turn into a pass, nor stop the other resources
        LOG.debug("cloudtrail-kms-lint: analysis of %s failed", logical, exc_info=True)
        why = f"the analysis failed ({type(e).__name__}: {str(e)[:200]})"
    return analyse(_fallback_subject(a, logical, rtype), [KeyResolution(UNRESOLVED, detail=why)])


def _fallback_subject(a: _Analyser, logical: str, rtype: str) -> Subject:
    try:
        return a.subject(logical, rtype)
    except Exception:  # noqa: BLE001 - the subject's name or location could not be evaluated either
        pass
    try:
        location = a.loc(_key_node(a.ctx.properties(logical), KEY_PROPERTY[rtype]) or _key_node(a.ctx.resources, logical))
    except Exception:  # noqa: BLE001
        location = None
    return Subject(kind=TRAIL if rtype == TRAIL_TYPE else EVENT_DATA_STORE, resource=logical, resource_type=rtype,
                   location=location or Location(a.file, None))


def analyse_resource_with(a: _Analyser, logical: str, rtype: str) -> list[Finding]:
    subject = a.subject(logical, rtype)
    resolutions = a.resolve(logical, rtype)
    return analyse(subject, resolutions)


def is_template(doc: Any) -> bool:
    """A CloudFormation template: AWSTemplateFormatVersion, or Resources with AWS:: types."""
    if not isinstance(doc, dict):
        return False
    if "AWSTemplateFormatVersion" in doc:
        return True
    res = doc.get("Resources")
    if isinstance(res, dict):
        return any(isinstance(r, dict) and isinstance(r.get("Type"), str) and str(r.get("Type")).startswith(("AWS::", "Custom::")) for r in res.values())
    return False
