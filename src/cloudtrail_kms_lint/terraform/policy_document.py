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

``dynamic "statement"`` blocks are not expanded: the document then has a
statement the code does not show, which makes the verdict unknown (CTKMS007).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..model import Location
from ..values import Symbol, is_text
from .functions import EvalError, JsonEncoded, decode_json_value
from .parse import Block

Evaluate = Callable[[Any], Any]


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


def _principals(blocks: list, evaluate: Evaluate) -> Any:
    out: dict = {}
    for p in blocks:
        ptype = evaluate(p.attribute("type").expression) if p.attribute("type") else None
        idents = _list(evaluate(p.attribute("identifiers").expression)) if p.attribute("identifiers") else []
        if not isinstance(ptype, str):
            return Symbol("principals", "opaque", "a principals block has a type the code does not fix")
        if ptype == "*":
            return "*"
        if isinstance(idents, Symbol):
            out.setdefault(ptype, []).append(idents)
            continue
        out.setdefault(ptype, []).extend(idents if isinstance(idents, list) else [idents])
    return {k: _one(v) for k, v in out.items()}


def _conditions(blocks: list, evaluate: Evaluate) -> Any:
    out: dict = {}
    for c in blocks:
        test = evaluate(c.attribute("test").expression) if c.attribute("test") else None
        var = evaluate(c.attribute("variable").expression) if c.attribute("variable") else None
        values = _list(evaluate(c.attribute("values").expression)) if c.attribute("values") else []
        if not isinstance(test, str) or not isinstance(var, str):
            return Symbol("condition", "opaque", "a condition block has a test or variable the code does not fix")
        block = out.setdefault(test, {})
        if var in block:  # the provider merges the values of repeated test+variable pairs
            prev = block[var] if isinstance(block[var], list) else [block[var]]
            block[var] = prev + (values if isinstance(values, list) else [values])
        else:
            block[var] = values
    return out


def render_statement(b: Block, evaluate: Evaluate) -> dict:
    st: dict = {}

    def attr(name: str) -> Any:
        a = b.attribute(name)
        return evaluate(a.expression) if a is not None else None

    sid = attr("sid")
    if sid not in (None, ""):
        st["Sid"] = sid
    effect = attr("effect")
    st["Effect"] = "Allow" if effect is None else effect
    for tf, js in (("actions", "Action"), ("not_actions", "NotAction"), ("resources", "Resource"), ("not_resources", "NotResource")):
        v = attr(tf)
        if v is not None:
            st[js] = _one(_list(v))
    if b.blocks_of("principals"):
        st["Principal"] = _principals(b.blocks_of("principals"), evaluate)
    if b.blocks_of("not_principals"):
        st["NotPrincipal"] = _principals(b.blocks_of("not_principals"), evaluate)
    if b.blocks_of("condition"):
        st["Condition"] = _conditions(b.blocks_of("condition"), evaluate)
    return st


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
        return evaluate(a.expression) if a is not None else None

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

    for sb in block.blocks_of("statement"):
        st = render_statement(sb, evaluate)
        locations[id(st)] = sb.location
        put(st)
    for db in block.blocks_of("dynamic"):
        if db.labels and db.labels[0] == "statement":
            merged.append(Symbol(f"{block.address} dynamic statement", "opaque",
                                 f"{block.address} builds statements with a dynamic block, which is not evaluated"))

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
