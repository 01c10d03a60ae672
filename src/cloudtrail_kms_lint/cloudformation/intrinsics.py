"""Evaluate CloudFormation values (intrinsic functions) into plain data with symbols.

Works on plain dicts/lists/strings as produced by cfn-lint's decoder or
checkov's parser (both subclass dict/list/str and carry ``start_mark``).
Nothing is executed; anything not determined by the template becomes a
:class:`~cloudtrail_kms_lint.values.Symbol` that says why.

References to resources become symbols named ``ref:Logical`` or
``getatt:Logical.Attribute`` so the key resolver can tell which resource a
string points at. A trail's ARN (``!GetAtt Trail.Arn``) is built with the same
symbols as the trail's own ARN, so a key policy that names it matches.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from .. import limits
from ..values import Symbol, SymStr, Text, is_text, join_text, make_text, parts_of, split_text

PSEUDO = {
    "AWS::AccountId": Symbol("AWS::AccountId", "account", "the stack's account is known only at deployment"),
    "AWS::Partition": Symbol("AWS::Partition", "partition", "the stack's partition is known only at deployment"),
    "AWS::Region": Symbol("AWS::Region", "region", "the stack's region is known only at deployment"),
    "AWS::StackName": Symbol("AWS::StackName", "opaque", "the stack name is known only at deployment"),
    "AWS::StackId": Symbol("AWS::StackId", "opaque", "the stack id is known only at deployment"),
    "AWS::URLSuffix": Symbol("AWS::URLSuffix", "opaque", "AWS::URLSuffix is known only at deployment"),
    "AWS::NotificationARNs": Symbol("AWS::NotificationARNs", "opaque", "AWS::NotificationARNs is known only at deployment"),
}


class _NoValue:
    """AWS::NoValue: the property or list item is removed."""

    def __repr__(self) -> str:  # pragma: no cover
        return "AWS::NoValue"


NO_VALUE = _NoValue()
_SUB_RE = re.compile(r"\$\{([^}]*)\}")
MAX_DEPTH = limits.DEFAULTS.max_nesting  # the default; the limit in force is limits.current().max_nesting
MAX_NODES = limits.DEFAULTS.max_eval_nodes  # per scenario; the limit in force is limits.current().max_eval_nodes

TRAIL_TYPE = "AWS::CloudTrail::Trail"
EDS_TYPE = "AWS::CloudTrail::EventDataStore"


class Context:
    """What evaluation needs: resources, parameters, mappings and the scenario's condition values."""

    def __init__(self, template: dict, parameters: Optional[dict[str, str]] = None):
        self.template = template if isinstance(template, dict) else {}
        res = self.template.get("Resources")
        self.resources: dict = res if isinstance(res, dict) else {}
        params = self.template.get("Parameters")
        self.parameters: dict = params if isinstance(params, dict) else {}
        maps = self.template.get("Mappings")
        self.mappings: dict = maps if isinstance(maps, dict) else {}
        self.user_parameters = dict(parameters or {})
        self.conditions: dict[str, bool] = {}
        self.nodes = 0  # values evaluated so far, against max_nodes
        lim = limits.current()
        self.max_nodes = lim.max_eval_nodes
        self.max_depth = lim.max_nesting
        self.used_conditions: list[str] = []  # conditions met while evaluating, in order

    def resource_type(self, name: str) -> Optional[str]:
        r = self.resources.get(name)
        if isinstance(r, dict):
            t = r.get("Type")
            return str(t) if isinstance(t, str) else None
        return None

    def properties(self, name: str) -> dict:
        r = self.resources.get(name)
        if isinstance(r, dict) and isinstance(r.get("Properties"), dict):
            return r["Properties"]
        return {}

    def parameter_value(self, name: str) -> Any:
        decl = self.parameters.get(name)
        ptype = str(decl.get("Type", "String")) if isinstance(decl, dict) else "String"
        if name in self.user_parameters:
            value: Any = self.user_parameters[name]
        elif isinstance(decl, dict) and "Default" in decl:
            value = decl["Default"]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
        else:
            return Symbol(f"parameter {name}", "opaque", f"parameter {name} has no Default (pass --parameter {name}=VALUE)")
        if ptype.startswith("AWS::SSM::Parameter::"):
            # the value given (Default or --parameter) is the name of an SSM parameter,
            # whose value CloudFormation reads at deployment
            where = f" {value}" if isinstance(value, str) and value else ""
            return Symbol(f"parameter {name}", "opaque",
                          f"parameter {name} ({ptype}) is read from the SSM parameter{where} at deployment")
        if ptype.startswith("List<") or ptype == "CommaDelimitedList":
            if isinstance(value, str):
                return [v.strip() for v in value.split(",")]
        return value

    def trail_name(self, logical: str) -> Text:
        name = self.properties(logical).get("TrailName")
        name_v = evaluate(name, self) if name is not None else None
        if not is_text(name_v) or name_v == "":
            name_v = Symbol(f"getatt:{logical}.TrailName", "opaque", f"the name of trail {logical} is generated by CloudFormation")
        return name_v

    def trail_arn(self, logical: str) -> Text:
        """The ARN of a trail in this template, with the same symbols as its Subject."""
        return make_text(["arn:", PSEUDO["AWS::Partition"], ":cloudtrail:", PSEUDO["AWS::Region"], ":",
                          PSEUDO["AWS::AccountId"], ":trail/", self.trail_name(logical)])


def _ref_symbol(logical: str, rtype: Optional[str], what: str) -> Symbol:
    return Symbol(f"ref:{logical}", "opaque", f"{what} of {rtype or 'resource'} {logical} is assigned at deployment")


def evaluate(value: Any, ctx: Context, depth: int = 0) -> Any:
    """Evaluate a template value. Returns plain data, texts with symbols, or NO_VALUE."""
    if depth > ctx.max_depth:
        return Symbol("nesting", "opaque", f"the value is nested more than {ctx.max_depth} levels deep (limit max-nesting); "
                                           "not evaluated")
    # YAML aliases can make a small file describe an enormous value (an alias bomb): budget the walk.
    ctx.nodes += 1
    if ctx.nodes > ctx.max_nodes:
        return Symbol("size", "opaque", f"the value is larger than {ctx.max_nodes:,} nodes (limit max-eval-nodes; "
                                        "YAML aliases?); not evaluated")
    limits.tick()
    if isinstance(value, dict):
        if len(value) == 1:
            (fn, arg), = value.items()
            fn = str(fn)
            if fn == "Ref" or fn.startswith("Fn::") or fn == "Condition":
                return _intrinsic(fn, arg, ctx, depth + 1)
        out = {}
        for k, v in value.items():
            ev = evaluate(v, ctx, depth + 1)
            if ev is NO_VALUE:
                continue
            out[str(k)] = ev
        return out
    if isinstance(value, (list, tuple)):
        items = []
        for v in value:
            ev = evaluate(v, ctx, depth + 1)
            if ev is NO_VALUE:
                continue
            items.append(ev)
        return items
    if isinstance(value, str):
        return literal(str(value))
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value
    return value


_DYNAMIC_REFERENCE_RE = re.compile(r"\{\{resolve:[A-Za-z0-9-]+:[^}]*\}\}")


def literal(text: str) -> Text:
    """A literal string of the template. Dynamic references in it
    (``{{resolve:ssm:/name}}``, ``{{resolve:secretsmanager:...}}``) are resolved by
    CloudFormation at deployment, so each becomes an opaque symbol."""
    if "{{resolve:" not in text:
        return text
    parts: list = []
    pos = 0
    for m in _DYNAMIC_REFERENCE_RE.finditer(text):
        parts.append(text[pos:m.start()])
        ref = m.group(0)
        parts.append(Symbol(ref, "opaque", f"the dynamic reference {ref} is resolved at deployment"))
        pos = m.end()
    parts.append(text[pos:])
    return make_text(parts)


def _as_text(v: Any) -> Optional[Text]:
    if is_text(v):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return None


def _intrinsic(fn: str, arg: Any, ctx: Context, depth: int) -> Any:
    if fn == "Ref":
        name = str(arg) if isinstance(arg, str) else None
        if name is None:
            return Symbol("Ref", "opaque", "Ref to a value that is not a name")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in ctx.parameters or name in ctx.user_parameters:
            return ctx.parameter_value(name)
        if name in ctx.resources:
            return _ref_symbol(name, ctx.resource_type(name), "the Ref value")
        return Symbol(f"ref:{name}", "opaque", f"Ref {name} names nothing in the template")
    if fn == "Fn::GetAtt":
        if isinstance(arg, str):
            logical, _, attr = arg.partition(".")
        elif isinstance(arg, (list, tuple)) and len(arg) == 2:
            logical = str(arg[0])
            a = evaluate(arg[1], ctx, depth)
            attr = a if isinstance(a, str) else ""
        else:
            return Symbol("Fn::GetAtt", "opaque", "Fn::GetAtt with an unexpected argument")
        rtype = ctx.resource_type(logical)
        if rtype == TRAIL_TYPE and attr == "Arn":
            return ctx.trail_arn(logical)
        return Symbol(f"getatt:{logical}.{attr}", "opaque", f"{logical}.{attr} is assigned at deployment")
    if fn == "Fn::Sub":
        return _sub(arg, ctx, depth)
    if fn == "Fn::Join":
        if not (isinstance(arg, (list, tuple)) and len(arg) == 2):
            return Symbol("Fn::Join", "opaque", "Fn::Join with an unexpected argument")
        sep = evaluate(arg[0], ctx, depth)
        items = evaluate(arg[1], ctx, depth)
        if not isinstance(sep, str):
            return Symbol("Fn::Join", "opaque", "Fn::Join with a separator that is not a string")
        if is_text(items) and not isinstance(items, str):
            return Symbol("Fn::Join", "opaque", f"Fn::Join over a list that is not known ({_describe(items)})")
        if not isinstance(items, list):
            return Symbol("Fn::Join", "opaque", "Fn::Join over something that is not a list")
        texts = []
        for it in items:
            t = _as_text(it)
            if t is None:
                return Symbol("Fn::Join", "opaque", "Fn::Join over an item that is not a string")
            texts.append(t)
        return join_text(texts, sep)
    if fn == "Fn::If":
        if not (isinstance(arg, (list, tuple)) and len(arg) == 3):
            return Symbol("Fn::If", "opaque", "Fn::If with an unexpected argument")
        cond = str(arg[0])
        if cond not in ctx.used_conditions:
            ctx.used_conditions.append(cond)
        value = ctx.conditions.get(cond)
        if value is None:
            # not part of the scenario: both branches are possible
            return Symbol(f"condition {cond}", "opaque", f"the value depends on condition {cond}")
        return evaluate(arg[1] if value else arg[2], ctx, depth)
    if fn == "Fn::ImportValue":
        name = evaluate(arg, ctx, depth)
        return Symbol(f"Fn::ImportValue {_describe(name)}", "opaque",
                      f"Fn::ImportValue {_describe(name)} is resolved at deployment from another stack")
    if fn == "Fn::Select":
        if not (isinstance(arg, (list, tuple)) and len(arg) == 2):
            return Symbol("Fn::Select", "opaque", "Fn::Select with an unexpected argument")
        idx = evaluate(arg[0], ctx, depth)
        items = evaluate(arg[1], ctx, depth)
        try:
            i = int(idx)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return Symbol("Fn::Select", "opaque", "Fn::Select with an index that is not known")
        if isinstance(items, list) and 0 <= i < len(items):
            return items[i]
        return Symbol("Fn::Select", "opaque", "Fn::Select over a list that is not known")
    if fn == "Fn::FindInMap":
        if not (isinstance(arg, (list, tuple)) and len(arg) >= 3):
            return Symbol("Fn::FindInMap", "opaque", "Fn::FindInMap with an unexpected argument")
        keys = [evaluate(a, ctx, depth) for a in arg[:3]]
        if all(isinstance(k, str) for k in keys):
            m = ctx.mappings.get(keys[0])
            if isinstance(m, dict) and isinstance(m.get(keys[1]), dict) and keys[2] in m[keys[1]]:
                return evaluate(m[keys[1]][keys[2]], ctx, depth)
        return Symbol("Fn::FindInMap", "opaque", f"Fn::FindInMap {_describe(keys)} depends on deployment values")
    if fn == "Fn::Split":
        if isinstance(arg, (list, tuple)) and len(arg) == 2:
            sep = evaluate(arg[0], ctx, depth)
            src = evaluate(arg[1], ctx, depth)
            if isinstance(sep, str) and sep and is_text(src):
                return split_text(src, sep)
        return Symbol("Fn::Split", "opaque", "Fn::Split over a value that is not known")
    if fn == "Fn::ToJsonString":
        v = evaluate(arg, ctx, depth)
        return _to_json_text(v)
    return Symbol(fn, "opaque", f"{fn} is not evaluated")


def _to_json_text(v: Any) -> Any:
    try:
        return json.dumps(v)
    except TypeError:
        return Symbol("Fn::ToJsonString", "opaque", "Fn::ToJsonString over values known only at deployment")


def _describe(v: Any) -> str:
    from ..values import render

    if is_text(v):
        return render(v)
    if isinstance(v, list):
        return "/".join(_describe(x) for x in v)
    return str(v)


def _sub(arg: Any, ctx: Context, depth: int) -> Any:
    if isinstance(arg, str):
        template, variables = str(arg), {}
    elif isinstance(arg, (list, tuple)) and len(arg) == 2 and isinstance(arg[0], str):
        template = str(arg[0])
        variables = arg[1] if isinstance(arg[1], dict) else {}
    else:
        return Symbol("Fn::Sub", "opaque", "Fn::Sub with an unexpected argument")
    parts: list = []
    pos = 0
    for m in _SUB_RE.finditer(template):
        parts.extend(parts_of(literal(template[pos:m.start()])))
        pos = m.end()
        name = m.group(1).strip()
        if name.startswith("!"):
            parts.append("${" + name[1:] + "}")  # ${!Literal} is written as ${Literal}
            continue
        if name in variables:
            v = evaluate(variables[name], ctx, depth)
        elif "." in name and name.split(".", 1)[0] in ctx.resources:
            logical, attr = name.split(".", 1)
            v = _intrinsic("Fn::GetAtt", [logical, attr], ctx, depth)
        else:
            v = _intrinsic("Ref", name, ctx, depth)
        t = _as_text(v)
        if t is None:
            t = Symbol(f"Fn::Sub ${{{name}}}", "opaque", f"${{{name}}} in Fn::Sub is not a string")
        parts.extend(parts_of(t))
    parts.extend(parts_of(literal(template[pos:])))
    return make_text(parts)


def parse_json_policy(text: Any) -> Any:
    """A KeyPolicy written as a JSON string."""
    if isinstance(text, str):
        return json.loads(text)
    return text


__all__ = ["Context", "evaluate", "NO_VALUE", "PSEUDO", "SymStr", "parse_json_policy"]
