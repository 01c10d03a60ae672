"""``data "aws_iam_policy_document"``: render the policy JSON the AWS provider would produce.

Semantics from the AWS provider's documentation of the data source
(registry.terraform.io/providers/hashicorp/aws/latest/docs/data-sources/iam_policy_document):

* ``statement`` blocks: ``sid``, ``effect`` (default ``Allow``), ``actions`` /
  ``not_actions``, ``resources`` / ``not_resources``, ``principals`` /
  ``not_principals`` (``type`` + ``identifiers``; type ``"*"`` with identifiers
  ``["*"]`` renders ``"Principal": "*"``), ``condition`` (``test``,
  ``variable``, ``values``; several blocks are ANDed).
* ``source_policy_documents``: their statements come first; a statement of
  this document whose ``sid`` equals a source statement's replaces it.
* ``override_policy_documents``: a statement whose ``sid`` equals one already
  present replaces it; the others are appended.
* ``policy_id`` renders ``Id``; ``version`` renders ``Version`` (default 2012-10-17).

``dynamic`` blocks (``statement``, ``principals``, ``condition``) are expanded
when their ``for_each`` is known (Terraform's dynamic blocks: the iterator is
the block label or ``iterator``, with ``.key`` and ``.value``); when it is not,
the document has statements the code does not show, which makes the verdict
unknown (CTKMS007).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..model import Location
from ..values import Symbol, is_text
from .functions import EvalError, JsonEncoded, decode_json_value
from .parse import Block

# evaluate(expression, env): env binds a dynamic block's iterator ({"statement": {"key": k, "value": v}})
Evaluate = Callable[..., Any]


def _list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return value  # a Symbol (unknown list) or a scalar: kept as is


def _one(values: Any) -> Any:
    # The provider renders a single-element set as a string; both mean the same to IAM.
    if isinstance(values, list) and len(values) == 1:
        return values[0]
    return values


def _expand(block: Block, kind: str, evaluate: Evaluate, env: dict) -> Any:
    """The nested blocks of ``kind`` with the env each is rendered in: literal blocks, then dynamic ones.

    Returns a list of (Block, env), or a Symbol when a dynamic for_each is not known."""
    out: list = [(b, env) for b in block.blocks_of(kind)]
    for d in block.blocks_of("dynamic"):
        if not d.labels or d.labels[0] != kind:
            continue
        it_attr = d.attribute("iterator")
        iterator = kind
        if it_attr is not None:
            iterator = it_attr.expression.text.strip()
        fe = d.attribute("for_each")
        items = evaluate(fe.expression, env) if fe is not None else None
        if isinstance(items, dict):
            pairs = list(items.items())
        elif isinstance(items, list):
            pairs = list(enumerate(items))
        else:
            return Symbol(f"dynamic {kind}", "opaque", f"the for_each of a dynamic {kind} block is not known")
        contents = d.blocks_of("content")
        if not contents:
            continue
        for k, v in pairs:
            inner = dict(env)
            inner[iterator] = {"key": k, "value": v}
            out.append((contents[0], inner))
    return out


def _principals(block: Block, kind: str, evaluate: Evaluate, env: dict) -> Any:
    blocks = _expand(block, kind, evaluate, env)
    if isinstance(blocks, Symbol):
        return blocks
    out: dict = {}
    for p, penv in blocks:
        ptype = evaluate(p.attribute("type").expression, penv) if p.attribute("type") else None
        idents = _list(evaluate(p.attribute("identifiers").expression, penv)) if p.attribute("identifiers") else []
        if not isinstance(ptype, str):
            return Symbol("principals", "opaque", "a principals block has a type the code does not fix")
        if ptype == "*":
            return "*"
        if isinstance(idents, Symbol):
            out.setdefault(ptype, []).append(idents)
            continue
        out.setdefault(ptype, []).extend(idents if isinstance(idents, list) else [idents])
    return {k: _one(v) for k, v in out.items()}


def _conditions(block: Block, evaluate: Evaluate, env: dict) -> Any:
    blocks = _expand(block, "condition", evaluate, env)
    if isinstance(blocks, Symbol):
        return blocks
    out: dict = {}
    for c, cenv in blocks:
        test = evaluate(c.attribute("test").expression, cenv) if c.attribute("test") else None
        var = evaluate(c.attribute("variable").expression, cenv) if c.attribute("variable") else None
        values = _list(evaluate(c.attribute("values").expression, cenv)) if c.attribute("values") else []
        if not isinstance(test, str) or not isinstance(var, str):
            return Symbol("condition", "opaque", "a condition block has a test or variable the code does not fix")
        block_ = out.setdefault(test, {})
        if var in block_:  # the provider merges the values of repeated test+variable pairs
            prev = block_[var] if isinstance(block_[var], list) else [block_[var]]
            block_[var] = prev + (values if isinstance(values, list) else [values])
        else:
            block_[var] = values
    return out


def render_statement(b: Block, evaluate: Evaluate, env: Optional[dict] = None) -> dict:
    env = env or {}
    st: dict = {}

    def attr(name: str) -> Any:
        a = b.attribute(name)
        return evaluate(a.expression, env) if a is not None else None

    sid = attr("sid")
    if sid not in (None, ""):
        st["Sid"] = sid
    effect = attr("effect")
    st["Effect"] = "Allow" if effect is None else effect
    for tf, js in (("actions", "Action"), ("not_actions", "NotAction"), ("resources", "Resource"), ("not_resources", "NotResource")):
        v = attr(tf)
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


def _has(b: Block, kind: str) -> bool:
    return bool(b.blocks_of(kind)) or any(d.labels and d.labels[0] == kind for d in b.blocks_of("dynamic"))


def _statements_of(doc_value: Any, what: str) -> Any:
    """Statements of a source/override document (JSON text, JsonEncoded or unknown)."""
    try:
        doc = decode_json_value(doc_value) if not isinstance(doc_value, dict) else doc_value
    except EvalError as e:
        return Symbol(what, "opaque", f"{what} is not a JSON policy ({e})")
    if isinstance(doc, Symbol):
        return doc
    if not isinstance(doc, dict):
        return Symbol(what, "opaque", f"{what} is not a JSON policy object")
    sts = doc.get("Statement", [])
    if isinstance(sts, dict):
        sts = [sts]
    return sts


def render_document(block: Block, evaluate: Evaluate, locations: dict) -> Any:
    """The policy document as a dict (values may be symbols). ``locations[id(statement)]`` gets each statement's Location."""

    def attr(name: str) -> Any:
        a = block.attribute(name)
        return evaluate(a.expression, {}) if a is not None else None

    merged: list = []

    def put(st: Any, replace_only_same_sid: bool = False) -> None:
        sid = st.get("Sid") if isinstance(st, dict) else None
        if is_text(sid) and sid != "":
            for i, existing in enumerate(merged):
                if isinstance(existing, dict) and existing.get("Sid") == sid:
                    merged[i] = st
                    return
        merged.append(st)

    for name in ("source_policy_documents", "source_json"):
        srcs = attr(name)
        if srcs is None:
            continue
        for src in (srcs if isinstance(srcs, list) else [srcs]):
            sts = _statements_of(src, f"{block.address}.{name}")
            if isinstance(sts, Symbol):
                merged.append(sts)
                continue
            for st in sts:
                put(st)

    expanded = _expand(block, "statement", evaluate, {})
    if isinstance(expanded, Symbol):
        merged.append(Symbol(f"{block.address} dynamic statement", "opaque",
                             f"{block.address} builds statements with a dynamic block whose for_each is not known"))
        expanded = [(b, {}) for b in block.blocks_of("statement")]
    for sb, env in expanded:
        st = render_statement(sb, evaluate, env)
        locations[id(st)] = sb.location
        put(st)

    for name in ("override_policy_documents", "override_json"):
        ovs = attr(name)
        if ovs is None:
            continue
        for ov in (ovs if isinstance(ovs, list) else [ovs]):
            sts = _statements_of(ov, f"{block.address}.{name}")
            if isinstance(sts, Symbol):
                merged.append(sts)
                continue
            for st in sts:
                put(st)

    doc: dict = {"Version": attr("version") or "2012-10-17"}
    pid = attr("policy_id")
    if pid not in (None, ""):
        doc["Id"] = pid
    doc["Statement"] = merged
    return doc


def as_attributes(doc: Any) -> dict:
    """What the data source exposes: ``json`` and ``minified_json``."""
    enc = JsonEncoded(doc)
    return {"json": enc, "minified_json": enc, "id": Symbol("policy id", "opaque", "the document id is a hash")}


def statement_location(locations: dict, statement: Any) -> Optional[Location]:
    return locations.get(id(statement))
