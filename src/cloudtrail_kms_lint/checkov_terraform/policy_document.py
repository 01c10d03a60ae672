"""``data "aws_iam_policy_document"`` from checkov's graph: the policy JSON the AWS provider renders.

The same semantics as the CLI's ``terraform/policy_document.py`` (which walks
python-hcl2 blocks and cannot be imported next to checkov), over the block as
checkov keeps it in a vertex's ``config_``: attributes wrapped in one-element
lists, nested blocks as lists of dicts (``statement``, ``principals``,
``not_principals``, ``condition``); a plan graph has the same shape, with
empty lists for absent blocks.

* ``statement``: ``sid``, ``effect`` (default ``Allow``), ``actions`` /
  ``not_actions``, ``resources`` / ``not_resources``, ``principals`` /
  ``not_principals`` (``type`` + ``identifiers``; type ``"*"`` renders
  ``"Principal": "*"``), ``condition`` (``test``, ``variable``, ``values``;
  repeated test+variable pairs merge their values).
* ``source_policy_documents`` (and ``source_json``): their statements first; a
  statement of this document with the same ``sid`` replaces one.
* ``override_policy_documents`` (and ``override_json``): replace statements
  with the same ``sid``, append the others.
* ``policy_id`` renders ``Id``; ``version`` renders ``Version``.

``dynamic`` blocks (``statement``, ``principals``, ``not_principals``,
``condition``), which checkov leaves unexpanded, are expanded here when their
``for_each`` is known (the iterator is the block label or ``iterator``, with
``.key`` and ``.value``); when it is not, the document has statements the code
does not show, which makes the verdicts that depend on them unknown.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from ..values import Symbol, is_text

# evaluate(raw rendered value, env) -> data with symbols; env binds a dynamic block's iterator
# ({"statement": {"key": k, "value": v}})
Evaluate = Callable[[Any, dict], Any]


def unwrap(v: Any) -> Any:
    """An attribute as checkov's HCL parser keeps it: a one-element list around the value."""
    if isinstance(v, list) and len(v) == 1:
        return v[0]
    return v


def blocks(v: Any) -> list:
    """Nested blocks (a list of dicts, one dict, or a plan's ``[[]]`` for none)."""
    if isinstance(v, dict):
        return [v]
    out: list = []
    if isinstance(v, list):
        for x in v:
            if isinstance(x, dict):
                out.append(x)
            elif isinstance(x, list):
                out.extend(y for y in x if isinstance(y, dict))
    return out


def _list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return value  # a Symbol (unknown list) or a scalar


def _one(values: Any) -> Any:
    if isinstance(values, list) and len(values) == 1:
        return values[0]
    return values


def _scalar_text(v: Any) -> Any:
    """Condition values and identifiers are strings to the provider."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return v


def _block_attr(block: dict, name: str, evaluate: Evaluate, env: dict) -> Any:
    if name not in block:
        return None
    return evaluate(unwrap(block[name]), env)


def _dynamic_blocks(block: dict, kind: str) -> list:
    return [d[kind] for d in blocks(block.get("dynamic")) if isinstance(d.get(kind), dict)]


def _for_each(d: dict) -> Any:
    """A dynamic block's for_each: checkov's rendered value is the collection itself (not wrapped
    in a list), the value as written is an expression wrapped in one."""
    fe = d.get("for_each")
    if isinstance(fe, list) and len(fe) == 1 and (isinstance(fe[0], (list, dict)) or
                                                   (isinstance(fe[0], str) and "${" in fe[0])):
        return fe[0]
    return fe


def _expand(block: dict, kind: str, evaluate: Evaluate, env: dict) -> Any:
    """The nested blocks of ``kind`` with the env each is rendered in: literal blocks, then the
    contents of dynamic blocks (checkov does not expand them); a Symbol when a dynamic block's
    for_each is not known."""
    out: list = [(b, env) for b in blocks(block.get(kind))]
    for d in _dynamic_blocks(block, kind):
        iterator = unwrap(d.get("iterator")) if d.get("iterator") is not None else kind
        iterator = iterator if isinstance(iterator, str) else kind
        items = evaluate(_for_each(d), env)
        if isinstance(items, dict):
            pairs = list(items.items())
        elif isinstance(items, list):
            pairs = list(enumerate(items))
        else:
            reason = items.describe() if isinstance(items, Symbol) else "it is not known"
            return Symbol(f"dynamic {kind}", "opaque", f"the for_each of a dynamic {kind} block is not known ({reason})")
        contents = blocks(d.get("content"))
        if not contents:
            continue
        for k, v in pairs:
            inner = dict(env)
            inner[iterator] = {"key": k, "value": v}
            out.append((contents[0], inner))
    return out


def _principals(block: dict, kind: str, evaluate: Evaluate, env: dict) -> Any:
    expanded = _expand(block, kind, evaluate, env)
    if isinstance(expanded, Symbol):
        return expanded
    out: dict = {}
    for p, penv in expanded:
        ptype = _block_attr(p, "type", evaluate, penv)
        idents = _list(_block_attr(p, "identifiers", evaluate, penv))
        if not isinstance(ptype, str):
            return Symbol(kind, "opaque", f"a {kind} block has a type the code does not fix")
        if ptype == "*":
            return "*"
        if not isinstance(idents, list):
            out.setdefault(ptype, []).append(idents)
            continue
        out.setdefault(ptype, []).extend(_scalar_text(i) for i in idents)
    return {k: _one(v) for k, v in out.items()}


def _conditions(block: dict, evaluate: Evaluate, env: dict) -> Any:
    expanded = _expand(block, "condition", evaluate, env)
    if isinstance(expanded, Symbol):
        return expanded
    out: dict = {}
    for c, cenv in expanded:
        test = _block_attr(c, "test", evaluate, cenv)
        var = _block_attr(c, "variable", evaluate, cenv)
        values = _list(_block_attr(c, "values", evaluate, cenv))
        if not isinstance(test, str) or not isinstance(var, str):
            return Symbol("condition", "opaque", "a condition block has a test or variable the code does not fix")
        values = [_scalar_text(x) for x in values] if isinstance(values, list) else values
        block_ = out.setdefault(test, {})
        if var in block_:
            prev = block_[var] if isinstance(block_[var], list) else [block_[var]]
            block_[var] = prev + (values if isinstance(values, list) else [values])
        else:
            block_[var] = values
    return out


def _has(block: dict, kind: str) -> bool:
    return bool(blocks(block.get(kind))) or bool(_dynamic_blocks(block, kind))


def render_statement(b: dict, evaluate: Evaluate, env: dict) -> dict:
    st: dict = {}
    sid = _block_attr(b, "sid", evaluate, env)
    if sid not in (None, ""):
        st["Sid"] = sid
    effect = _block_attr(b, "effect", evaluate, env)
    st["Effect"] = "Allow" if effect in (None, "") else effect
    for tf, js in (("actions", "Action"), ("not_actions", "NotAction"), ("resources", "Resource"),
                   ("not_resources", "NotResource")):
        v = _block_attr(b, tf, evaluate, env)
        if v is not None:
            st[js] = _one(_list(v))
    if _has(b, "principals"):
        st["Principal"] = _principals(b, "principals", evaluate, env)
    if _has(b, "not_principals"):
        st["NotPrincipal"] = _principals(b, "not_principals", evaluate, env)
    if _has(b, "condition"):
        cond = _conditions(b, evaluate, env)
        if cond != {}:
            st["Condition"] = cond
    return st


def _statements_of(doc: Any, what: str) -> Any:
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            return Symbol(what, "opaque", f"{what} is not a JSON policy")
    if isinstance(doc, Symbol):
        return doc
    if not isinstance(doc, dict):
        return Symbol(what, "opaque", f"{what} is not a JSON policy object")
    sts = doc.get("Statement", [])
    if isinstance(sts, dict):
        sts = [sts]
    if not isinstance(sts, list):
        return Symbol(what, "opaque", f"the statements of {what} are not known")
    return sts


def render_document(config: dict, address: str, evaluate: Evaluate) -> dict:
    """The policy document (values may be symbols) of one aws_iam_policy_document block."""
    merged: list = []

    def put(st: Any) -> None:
        sid = st.get("Sid") if isinstance(st, dict) else None
        if is_text(sid) and sid != "":
            for i, existing in enumerate(merged):
                if isinstance(existing, dict) and existing.get("Sid") == sid:
                    merged[i] = st
                    return
        merged.append(st)

    def documents(name: str) -> list:
        out: list = []

        def walk(x: Any) -> None:  # checkov may wrap the list once more
            if isinstance(x, list):
                for y in x:
                    walk(y)
            elif x is not None:
                out.append(x)

        walk(_block_attr(config, name, evaluate, {}))
        return out

    for name in ("source_policy_documents", "source_json"):
        for src in documents(name):
            sts = _statements_of(src, f"{address}.{name}")
            if isinstance(sts, Symbol):
                merged.append(sts)
                continue
            for st in sts:
                put(st)

    expanded = _expand(config, "statement", evaluate, {})
    if isinstance(expanded, Symbol):
        merged.append(Symbol(f"{address} dynamic statement", "opaque",
                             f"{address} builds statements with a dynamic block whose for_each is not known"))
        expanded = [(b, {}) for b in blocks(config.get("statement"))]
    for sb, env in expanded:
        put(render_statement(sb, evaluate, env))

    for name in ("override_policy_documents", "override_json"):
        for ov in documents(name):
            sts = _statements_of(ov, f"{address}.{name}")
            if isinstance(sts, Symbol):
                merged.append(sts)
                continue
            for st in sts:
                put(st)

    version = _block_attr(config, "version", evaluate, {})
    doc: dict = {"Version": version or "2012-10-17"}
    pid = _block_attr(config, "policy_id", evaluate, {})
    if pid not in (None, ""):
        doc["Id"] = pid
    doc["Statement"] = merged
    return doc
