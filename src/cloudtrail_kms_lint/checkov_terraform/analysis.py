"""A trail's key, followed through checkov's Terraform graph, and the shared verdict.

From the trail's vertex, the ``kms_key_id`` edges (a plan graph: also
``references_``) lead through locals, variables, module calls and outputs to
the key, an alias or a data source. The value itself is checkov's rendered
``kms_key_id`` read back with :mod:`.rendered`; every reference left in it is
looked up among the vertices those edges reach (so a key named ``this`` in
another module is never taken for this one; checkov's ``[cross-variable]``
edges are not followed). The key's policy is its ``policy`` argument, an
``aws_kms_key_policy`` whose ``key_id`` points at it, or a
``data.aws_iam_policy_document``; without any, AWS's default key policy.

The result is a :class:`~cloudtrail_kms_lint.model.Subject` and one
:class:`~cloudtrail_kms_lint.model.KeyResolution` per scenario, handed to
:func:`cloudtrail_kms_lint.trail.analyse`, the evaluator every front end uses.
The classification mirrors the CLI's Terraform front end
(``terraform/analysis.py``) rule for rule; only the way values are obtained
differs (checkov's rendering instead of the CLI's HCL evaluator).

Nothing here imports checkov: the check (``check.py``) hands over the graph and
a function that returns a block as checkov's own HCL loader read it, before
rendering. That text is used where checkov's rendering is lossy (values it
renders as None, ``for`` expressions, and everything they were substituted
into: see ``GraphResolver.attr``) and to tell apart two calls of one module
whose outputs checkov's graph confuses (``GraphResolver._right_output``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..catalogue import EVENT_DATA_STORE, TRAIL
from ..tfnames import KEY_ID as _KEY_ID, KEY_TYPES, TRAIL_TYPES
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
from ..values import Symbol, SymStr, is_text, parts_of, render, split_text, symbols_in
from .graph import GraphIndex, Vertex, is_plan_vertex
from .policy_document import render_document, unwrap
from .rendered import (
    ACCOUNT,
    ENV_DATA,
    PARTITION,
    REGION,
    Choice,
    Evaluator,
    Resolver,
    has_for_expression,
    not_evaluated,
    opaque,
    short,
)

REF_PREFIX = "tfref:"
MAX_SCENARIOS = 32
MAX_HOPS = 40
_THROUGH = ("locals", "variable", "output", "module", "tfvar")
_MODULE_REF = re.compile(r"module\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)")
_LOCAL_REF = re.compile(r"(?<![\w.])local\.([A-Za-z_][\w-]*)")
_VAR_REF = re.compile(r"(?<![\w.])var\.([A-Za-z_][\w-]*)")
_INDEX = re.compile(r"^(.*?)(\[[^\]]*\])$")

# (vertex, attribute) -> the attribute as checkov's HCL loader read it (before rendering), or None;
# attribute None: the whole block
RawSource = Callable[[Vertex, Optional[str]], Any]


@dataclass
class TrailAnalysis:
    """The findings of one trail or event data store (shared by the seven checks)."""

    address: str
    findings: list = field(default_factory=list)  # Finding
    failure: Optional[str] = None

    def findings_for(self, rule_id: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == rule_id]


def _split_index(name: str) -> tuple[str, Optional[str]]:
    m = _INDEX.match(name)
    if not m:
        return name, None
    return m.group(1), m.group(2)


def _index_of(address: str) -> Optional[str]:
    return _split_index(address)[1]


def _strip_index(text: str) -> str:
    out = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _label_matches(label: str, attr: Optional[str]) -> bool:
    if attr is None:
        return True
    return label == attr or label.startswith(attr + ".")


def _module_prefix(address: str) -> str:
    """``module.a.module.b.`` of a module-qualified address (plan graphs have no module objects)."""
    parts = _strip_index(address).split(".")
    out = []
    i = 0
    while i + 1 < len(parts) and parts[i] == "module":
        out += parts[i:i + 2]
        i += 2
    return ".".join(out) + ("." if out else "")


class GraphResolver(Resolver):
    """Resolves the references left in checkov's rendered values against the graph."""

    def __init__(self, index: GraphIndex, raw_source: Optional[RawSource] = None):
        self.index = index
        self.raw_source = raw_source
        self.refs: dict[str, tuple[Vertex, str]] = {}
        self.choices: dict = {}
        self.ev = Evaluator(self, self.choices)
        self._stack: list = []
        self._docs: dict = {}
        self._reach: dict = {}
        self._lossy: dict = {}

    # ------------------------------------------------------------ values of vertices

    def attr(self, v: Vertex, attr: str) -> tuple[bool, Any]:
        """(present, value) of a vertex attribute, as data with symbols."""
        present, raw = v.get(attr)
        if self.raw_source is not None and v.block_type in ("resource", "data", "locals", "output", "module"):
            # Where checkov's rendering is lossy, read the expression as written instead: it
            # renders what it cannot evaluate as None (a local whose conditional depends on a
            # module input, say), and a for expression as [] or with its variable substituted
            # as text ("role/${r}" -> "role/r"), also where it substitutes a local, or a module
            # input, that holds one (see ``lossy``).
            unrendered = unwrap(self.raw_source(v, v.name if v.block_type == "locals" else attr))
            if unrendered is not None and (raw is None or has_for_expression(raw) or self.lossy(v, attr)):
                present, raw = True, unrendered
        if not present:
            return False, None
        key = (v.id, attr)
        if key in self._stack:
            return True, Symbol(f"{v.address}.{attr}", "opaque", f"{self._what(v, attr)} refers to itself")
        if len(self._stack) > MAX_HOPS:
            return True, opaque(f"{v.address}.{attr}", f"{self._what(v, attr)} is nested too deeply to follow")
        self._stack.append(key)
        try:
            return True, self.ev.value(raw, (v, attr))
        finally:
            self._stack.pop()

    def lossy(self, v: Vertex, attr: str) -> bool:
        """Does ``v``'s ``attr``, as written, depend on a ``for`` expression (directly, or through
        locals and module inputs)? checkov renders those lossily, and substitutes the result
        into everything that refers to them."""
        key = (v.id, attr)
        if key in self._lossy:
            return self._lossy[key]
        self._lossy[key] = False  # a cycle is not lossy by itself
        result = False
        raw = self.raw_source(v, v.name if v.block_type == "locals" else attr) if self.raw_source else None
        if raw is not None and len(self._lossy) < 4096:
            if has_for_expression(raw):
                result = True
            else:
                text = json.dumps(raw, default=str)
                for name in dict.fromkeys(_LOCAL_REF.findall(text)):
                    loc = self._in_module(v, "locals", name)
                    if loc is not None and self.lossy(loc, name):
                        result = True
                        break
                if not result:
                    for name in dict.fromkeys(_VAR_REF.findall(text)):
                        var = self._in_module(v, "variable", name)
                        call = self._module_call(var) if var is not None else None
                        if call is not None and self.lossy(call, name):
                            result = True
                            break
        self._lossy[key] = result
        return result

    def _module_call(self, var: Vertex) -> Optional[Vertex]:
        """The ``module`` block that called the module a variable belongs to."""
        if not var.module:
            return None
        path, name, _idx, parent = var.module
        for c in self.index.by_block.get(("module", name), []):
            if c.module == parent and os.path.normpath(c.file) == os.path.normpath(path):
                return c
        return None

    def _what(self, v: Vertex, attr: str) -> str:
        if v.block_type == "locals":
            return f"local.{v.name}"
        if v.block_type == "variable":
            return f"var.{v.name}"
        if v.block_type == "output":
            return f"output {v.name}"
        return f"{v.display_address}.{attr}"

    # ------------------------------------------------------------ reachability (edges)

    def reachable(self, v: Vertex, attr: Optional[str]) -> list[tuple[int, Vertex]]:
        """(hops, vertex) of the resources and data sources that ``v``'s ``attr`` refers to,
        through locals, variables, module calls and outputs; nearest first."""
        key = (v.id, attr)
        if key in self._reach:
            return self._reach[key]
        out: list[tuple[int, Vertex]] = []
        seen = {v.id}
        frontier: list[tuple[Vertex, Optional[str]]] = [(v, attr)]
        hops = 0
        while frontier and hops < MAX_HOPS:
            hops += 1
            nxt: list = []
            for node, a in frontier:
                for label, dest in self._edges_of(node, a):
                    if dest.id in seen:
                        continue
                    seen.add(dest.id)
                    if dest.block_type == "module" and node.block_type == "variable":
                        nxt.append((dest, node.name))  # the module call's argument for this variable only
                        seen.discard(dest.id)
                    elif dest.block_type in _THROUGH:
                        nxt.append((dest, None))
                    elif dest.block_type in ("resource", "data"):
                        out.append((hops, dest))
            frontier = nxt
        self._reach[key] = out
        return out

    def _edges_of(self, v: Vertex, attr: Optional[str]) -> list[tuple[str, Vertex]]:
        edges = [(label, d) for label, d in self.index.edges(v) if _label_matches(label, attr)]
        if not any(d.block_type == "output" for _l, d in edges):
            return edges
        return [(label, self._right_output(v, label, d)) if d.block_type == "output" else (label, d)
                for label, d in edges]

    def _right_output(self, v: Vertex, label: str, out: Vertex) -> Vertex:
        """checkov can connect ``module.a.x`` to the output ``x`` of another call of the same
        module; the unrendered expression says which call it is."""
        if self.raw_source is None:
            return out
        attr = label.split(".", 1)[0]
        raw = self.raw_source(v, v.name if v.block_type == "locals" else attr)
        if raw is None:
            return out
        raw = json.dumps(raw, default=str)
        called = {m for m, o in _MODULE_REF.findall(raw) if o == out.name}
        if not called or (out.module and out.module[1] in called):
            return out
        for cand in self.index.by_block.get(("output", out.name), []):
            if cand.module and cand.module[1] in called and cand.module[3] == v.module \
                    and os.path.dirname(cand.module[0]) == os.path.dirname(v.file):
                return cand
        return out

    def find_block(self, ctx: Vertex, attr: Optional[str], block_type: str, name: str) -> Optional[Vertex]:
        """The vertex a reference names (``aws_kms_key.this``, ``aws_kms_key.k[0]``), as seen from
        ``ctx``: among those its edges reach, else in its own module."""
        base, idx = _split_index(name)

        def matches(c: Vertex) -> bool:
            if c.block_type != block_type or _strip_index(c.name) != base:
                return False
            if idx is None:
                return True
            return _index_of(c.address) == idx or _index_of(c.name) == idx

        reach = [c for _h, c in self.reachable(ctx, attr) if matches(c)]
        if not reach and is_plan_vertex(ctx) and attr is not None:
            # a plan graph also links a resource to what its configuration references
            reach = [c for _h, c in self.reachable(ctx, "references_") if matches(c)]
        if reach:
            same = [c for c in reach if self._same_module(ctx, c)]
            return (same or reach)[0]
        local = [c for c in self.index.by_block.get((block_type, base), []) if matches(c) and self._same_module(ctx, c)]
        return local[0] if local else None

    @staticmethod
    def _same_module(a: Vertex, b: Vertex) -> bool:
        if is_plan_vertex(a) or is_plan_vertex(b):
            return a.file == b.file and _module_prefix(a.address) == _module_prefix(b.address)
        return a.module == b.module and os.path.dirname(a.file) == os.path.dirname(b.file)

    def _in_module(self, ctx: Vertex, block_type: str, name: str) -> Optional[Vertex]:
        for c in self.index.by_block.get((block_type, name), []):
            if self._same_module(ctx, c):
                return c
        return None

    # ------------------------------------------------------------ references

    def reference(self, parts: list, text: str, ctx: Any) -> Any:
        v, attr = ctx
        head = parts[0]
        if head == "var" and len(parts) >= 2:
            return self._var(v, parts[1], parts[2:], text)
        if head == "local" and len(parts) >= 2:
            return self._local(v, parts[1], parts[2:], text)
        if head == "module" and len(parts) >= 3:
            return self._module_output(v, parts[1], parts[2], parts[3:], text)
        if head == "data" and len(parts) >= 3:
            return self._data(v, attr, parts[1], parts[2], parts[3:], text)
        if head in ("path", "each", "count", "self", "terraform") or len(parts) < 2:
            return not_evaluated(text)
        if "_" not in head:
            return not_evaluated(text)
        return self._resource(v, attr, head, parts[1], parts[2:], text)

    def _rest(self, value: Any, rest: list, text: str) -> Any:
        for p in rest:
            value = self.ev._get(value, p, text)
        return value

    def _var(self, ctx: Vertex, name: str, rest: list, text: str) -> Any:
        var = self._in_module(ctx, "variable", name)
        if var is None:
            return opaque(f"var.{name}", f"var.{name} is not declared in the configuration checkov read")
        call = self._module_call(var)
        if call is not None and self.raw_source is not None and self.lossy(call, name):
            # the module input, as written in the module call, in the caller's context
            return self._rest(self.attr(call, name)[1], rest, text)
        present, value = self.attr(var, "default")
        if not present:
            if var.module:
                return Symbol(f"var.{name}", "opaque", f"var.{name} of module {var.module[1]} has no value")
            return Symbol(f"var.{name}", "opaque", f"var.{name} has no default")
        return self._rest(value, rest, text)

    def _local(self, ctx: Vertex, name: str, rest: list, text: str) -> Any:
        loc = self._in_module(ctx, "locals", name)
        if loc is None:
            return opaque(f"local.{name}", f"local.{name} is not declared in the configuration checkov read")
        present, value = self.attr(loc, name)
        if not present or value is None:
            return Symbol(f"local.{name}", "opaque", f"checkov did not render local.{name}")
        return self._rest(value, rest, text)

    def _module_output(self, ctx: Vertex, module: str, output: str, rest: list, text: str) -> Any:
        label = f"module.{module}.{output}"
        for cand in self.index.by_block.get(("output", output), []):
            if not cand.module or cand.module[1] != module:
                continue
            if is_plan_vertex(ctx):
                continue
            if cand.module[3] == ctx.module and os.path.dirname(cand.module[0]) == os.path.dirname(ctx.file):
                present, value = self.attr(cand, "value")
                if not present:
                    return opaque(label, f"{label} has no value")
                return self._rest(value, rest, text)
        call = self._in_module(ctx, "module", module)
        if call is None:
            return Symbol(label, "opaque", f"module.{module} is not declared in the configuration checkov read")
        present, source = call.get("source")
        src = f" ({source})" if isinstance(source, str) else ""
        return Symbol(label, "opaque", f"checkov did not load module.{module}{src}, so {label} is not known "
                                       f"(checkov reads registry modules only with --download-external-modules)")

    def _data(self, ctx: Vertex, attr: Optional[str], type_: str, name: str, rest: list, text: str) -> Any:
        field_ = rest[0] if rest else "id"
        address = f"data.{type_}.{name}"
        env = ENV_DATA.get(type_)
        if env is not None:
            attrs, symbol = env
            if field_ in attrs and len(rest) <= 1:
                return symbol  # taken to be the trail's own, as in the CLI
            return opaque(text, f"{text} is known only when Terraform runs")
        target = self.find_block(ctx, attr, "data", f"{type_}.{name}")
        if target is None:
            return opaque(address, f"{address} is not in the configuration checkov read")
        if type_ == "aws_iam_policy_document" and field_ in ("json", "minified_json"):
            return self.policy_document(target)
        return self._ref_symbol(target, field_)

    def _resource(self, ctx: Vertex, attr: Optional[str], type_: str, name: str, rest: list, text: str) -> Any:
        target = self.find_block(ctx, attr, "resource", f"{type_}.{name}")
        base = f"{type_}.{name}"
        if target is None:
            return opaque(f"{base}.{rest[0]}" if rest else base,
                          f"{base} is not in the configuration checkov read (is the file that defines it valid HCL?)")
        field_ = rest[0] if rest else "id"
        if type_ == "aws_kms_alias" and field_ == "name":
            present, value = self.attr(target, "name")
            if present and value is not None:
                return value
        if len(rest) > 1:
            return not_evaluated(text)
        return self._ref_symbol(target, field_)

    def _ref_symbol(self, target: Vertex, field_: str) -> Symbol:
        name = f"{REF_PREFIX}{target.display_address}.{field_}"
        base = name
        n = 1
        while name in self.refs and self.refs[name][0].id != target.id:
            n += 1
            name = f"{base}#{n}"
        self.refs[name] = (target, field_)
        return Symbol(name, "opaque", f"{target.display_address}.{field_} is known only after apply")

    def _value_in(self, raw: Any, v: Vertex, env: dict) -> Any:
        """A rendered value of ``v`` with a dynamic block's iterator bound."""
        if not env:
            return self.ev.value(raw, (v, None))
        self.ev.scopes.append(env)
        try:
            return self.ev.value(raw, (v, None))
        finally:
            self.ev.scopes.pop()

    def policy_document(self, v: Vertex) -> Any:
        if v.id in self._docs:
            return self._docs[v.id]
        self._docs[v.id] = Symbol(v.display_address, "opaque", f"{v.display_address} refers to itself")
        cfg = v.config()
        if self.raw_source is not None:
            unrendered = self.raw_source(v, None)  # the whole block as written
            if isinstance(unrendered, dict) and has_for_expression(unrendered):
                cfg = unrendered
        if not isinstance(cfg, dict):
            doc: Any = Symbol(v.display_address, "opaque", f"checkov's graph has no configuration for {v.display_address}")
        else:
            doc = render_document(cfg, v.display_address, lambda raw, env: self._value_in(raw, v, env))
        self._docs[v.id] = doc
        return doc


# --------------------------------------------------------------------------- the trail


class TrailAnalyser:
    """Builds the Subject and the key resolutions of one trail vertex (mirrors terraform/analysis.py)."""

    def __init__(self, index: GraphIndex, trail: Vertex, raw_source: Optional[RawSource] = None,
                 lines: Optional[Callable[[str], Optional[list]]] = None):
        self.index = index
        self.trail = trail
        self.r = GraphResolver(index, raw_source)
        self.lines = lines
        self.plan = is_plan_vertex(trail)

    def run(self) -> list[Finding]:
        t = self.trail
        kind = TRAIL_TYPES[t.type]
        address = t.address
        present, _raw = t.get("kms_key_id")
        line = self._key_line() if present else None
        location = self.where(t, line or t.start_line)
        name: Any = ""
        if kind == TRAIL:
            _p, n = self.r.attr(t, "name")
            if isinstance(n, Choice):
                n = None
            name = n if is_text(n) and n != "" else Symbol(f"{address}.name", "opaque", f"the name of {address} is not known")
        partition, region, account = self._environment()
        subject = Subject(kind=kind, resource=address, resource_type=t.type, location=location, name=name,
                          partition=partition, region=region, account=account)
        return analyse(subject, self.resolve(location))

    def _environment(self) -> tuple:
        env: dict = {"partition": PARTITION, "region": REGION, "account": ACCOUNT}
        if self.plan:  # a plan records the data sources it read
            for type_, attr, kind in (("aws_caller_identity", "account_id", "account"),
                                      ("aws_partition", "partition", "partition"), ("aws_region", "name", "region")):
                for v in self.index.of_type("data", type_):
                    val = v.attrs.get(attr)
                    if v.file == self.trail.file and isinstance(val, str) and val and not val.startswith(("data.", "${")):
                        env[kind] = val
                        break
        return env["partition"], env["region"], env["account"]

    def where(self, v: Vertex, line: Optional[int] = None) -> Location:
        """A vertex's file (relative to the working directory, as the CLI shows it) and line;
        plan graphs: the plan file, without a line (checkov's plan lines are its own)."""
        path = v.file
        try:
            rel = os.path.relpath(path)
            if not rel.startswith(".."):
                path = rel
        except ValueError:  # another drive
            pass
        if is_plan_vertex(v):
            return Location(path, line if v is self.trail else None)
        return Location(path, line if line is not None else v.start_line)

    def _key_line(self) -> Optional[int]:
        return self._attr_line(self.trail, "kms_key_id")

    def _attr_line(self, v: Vertex, attr: str) -> Optional[int]:
        """The line of a top-level attribute inside a block (checkov records only the block's lines)."""
        start, end = v.start_line, v.end_line
        if is_plan_vertex(v) or self.lines is None or not start or not end:
            return None
        text = self.lines(v.file)
        if not text:
            return None
        depth = 0
        pattern = re.compile(rf"^\s*{re.escape(attr)}\s*=")
        for n in range(start, min(end, len(text)) + 1):
            code = text[n - 1].split("#", 1)[0].split("//", 1)[0]
            if depth == 1 and pattern.match(code):
                return n
            depth += code.count("{") - code.count("}")
        return None

    # ------------------------------------------------------------ key resolution

    def resolve(self, location: Location) -> list[KeyResolution]:
        t = self.trail
        present, raw = t.get("kms_key_id")
        if not present:
            return [KeyResolution(NO_KEY, detail="kms_key_id is not set")]
        if raw is None:
            return [KeyResolution(NO_KEY, detail="kms_key_id is null")]
        _p, value = self.r.attr(t, "kms_key_id")
        reference = raw if isinstance(raw, str) else render(value) if is_text(value) else str(raw)
        trace = [TraceStep(f"{t.address}.kms_key_id = {short(str(raw))}", location)]
        out = self._scenarios(value, trace, location)
        for r in out:
            r.reference = r.reference or short(reference)
        return out

    def _scenarios(self, value: Any, trace: list, location: Location) -> list[KeyResolution]:
        pending: list[tuple[Any, str]] = [(value, "")]
        out: list[KeyResolution] = []
        while pending:
            v, scenario = pending.pop(0)
            if isinstance(v, Symbol) and v in self.r.choices:
                v = self.r.choices[v]
            if isinstance(v, Choice) and len(out) + len(pending) < MAX_SCENARIOS:
                pre = f"{scenario} and " if scenario else "when "
                pending.append((v.when_true, f"{pre}{v.label} is true"))
                pending.append((v.when_false, f"{pre}{v.label} is false"))
                continue
            if isinstance(v, Choice):
                v = Symbol(v.label, "opaque", f"{v.label} is not known")
            r = self.classify(v, list(trace), set())
            r.scenario = scenario
            if r.location is None:
                r.location = location
            out.append(r)
        return out

    def classify(self, value: Any, trace: list, seen: set) -> KeyResolution:
        if isinstance(value, list) and len(value) == 1:
            value = value[0]  # checkov keeps some rendered values in a one-element list
        if value is None or value == "":
            return KeyResolution(NO_KEY, detail="kms_key_id is null" if value is None else "kms_key_id is empty", trace=trace)
        if not is_text(value):
            return KeyResolution(NOT_A_KEY, detail="the value is not a string", trace=trace)
        syms = symbols_in(value)
        refs = [s for s in syms if s.name in self.r.refs]
        if refs:
            target, attr = self.r.refs[refs[0].name]
            return self.from_ref(target, attr, trace, seen)
        choices = [s for s in syms if s in self.r.choices]
        opaque_ = [s for s in syms if s.kind == "opaque"]
        text = render(value)
        literal = "".join(p for p in parts_of(value) if isinstance(p, str))
        if text.startswith("alias/aws/") or ":alias/aws/" in text:
            return KeyResolution(AWS_MANAGED, detail=text, trace=trace)
        if opaque_ or choices:
            return KeyResolution(UNRESOLVED, detail="; ".join(dict.fromkeys(s.describe() for s in opaque_ + choices)),
                                 trace=trace)
        first = parts_of(value)[0]
        if not (isinstance(first, str) and first.startswith("arn:")):
            what = "an alias name" if literal.startswith("alias/") else ("a key id" if _KEY_ID.match(literal) else f"'{text}'")
            return KeyResolution(NOT_A_KEY, detail=(
                f"kms_key_id is {what}, not an ARN: the AWS provider validates kms_key_id as an ARN, "
                f"so terraform plan fails; use the key's or the alias's ARN"), trace=trace)
        fields = split_text(value, ":")
        if len(fields) >= 6 and fields[2] == "kms":
            resource = render(fields[5]) if len(fields) == 6 else ""
            if resource.startswith("alias/"):
                alias = self.alias_by_name(resource, value)
                if alias is not None and alias.id not in seen:
                    return self.follow_alias(alias, trace, seen | {alias.id})
                return KeyResolution(UNRESOLVED, detail=f"alias {resource} is not defined in the scanned code, so its key "
                                                        f"policy cannot be read", trace=trace)
            if self.plan and isinstance(value, str):
                key = self.key_by_id(value)
                if key is not None:
                    return self.key(key, trace)
            return KeyResolution(UNRESOLVED, detail=f"{text} is the ARN of a key defined outside the scanned code, so its "
                                                    f"key policy cannot be read", trace=trace)
        return KeyResolution(NOT_A_KEY, detail=f"'{text}' is not a KMS key or alias ARN", trace=trace)

    def alias_by_name(self, name: str, arn: Any) -> Optional[Vertex]:
        for v in self.index.of_type("resource", "aws_kms_alias"):
            if self.plan and v.file != self.trail.file:
                continue
            if self.plan and isinstance(arn, str) and v.attrs.get("arn") == arn:
                return v
            _p, n = self.r.attr(v, "name")
            if is_text(n) and render(n) == name:
                return v
        return None

    def key_by_id(self, value: str) -> Optional[Vertex]:
        for t in KEY_TYPES:
            for v in self.index.of_type("resource", t):
                if v.file == self.trail.file and value in (v.attrs.get("arn"), v.attrs.get("key_id"), v.attrs.get("id")):
                    return v
        return None

    def from_ref(self, target: Vertex, attr: str, trace: list, seen: set) -> KeyResolution:
        rtype = target.type
        address = target.display_address
        where = self.where(target)
        if target.block_type == "data":
            if rtype in ("aws_kms_key", "aws_kms_alias"):
                return KeyResolution(UNRESOLVED, detail=f"{address} reads a key that is defined outside the scanned code; "
                                                        f"its key policy cannot be read",
                                     trace=trace + [TraceStep(address, where)])
            return KeyResolution(NOT_A_KEY, detail=f"{address}.{attr} is not a KMS key", trace=trace)
        if rtype in KEY_TYPES:
            if attr not in ("arn", "key_id", "id"):
                return KeyResolution(NOT_A_KEY, detail=f"{address}.{attr} is not the key's ARN or id", trace=trace)
            return self.key(target, trace + [TraceStep(f"key {address}", where)])
        if rtype == "aws_kms_alias":
            if attr != "arn":
                return KeyResolution(NOT_A_KEY, detail=(
                    f"kms_key_id is {address}.{attr}, not an ARN: the AWS provider validates kms_key_id "
                    f"as an ARN, so terraform plan fails; use {address}.arn"), trace=trace)
            if target.id in seen:
                return KeyResolution(UNRESOLVED, detail=f"alias {address} refers to itself", trace=trace)
            return self.follow_alias(target, trace, seen | {target.id})
        return KeyResolution(NOT_A_KEY, detail=f"{address} is a {rtype}, not a KMS key", trace=trace)

    def follow_alias(self, alias: Vertex, trace: list, seen: set) -> KeyResolution:
        address = alias.display_address
        trace = trace + [TraceStep(f"alias {address} -> target_key_id", self.where(alias))]
        present, target = self.r.attr(alias, "target_key_id")
        if not present or target is None:
            return KeyResolution(UNRESOLVED, detail=f"alias {address} has no target_key_id", trace=trace)
        if isinstance(target, Choice):
            target = self.r.ev._choice_symbol(target)
        syms = symbols_in(target) if is_text(target) else []
        refs = [s for s in syms if s.name in self.r.refs]
        if refs:
            t, a = self.r.refs[refs[0].name]
            return self.from_ref(t, a, trace, seen)
        if isinstance(target, str) and _KEY_ID.match(target):
            if self.plan:
                key = self.key_by_id(target)
                if key is not None:
                    return self.key(key, trace)
            return KeyResolution(UNRESOLVED, detail=f"{target} is the id of a key defined outside the scanned code", trace=trace)
        return self.classify(target, trace, seen)

    def key(self, v: Vertex, trace: list) -> KeyResolution:
        _p, spec = self.r.attr(v, "customer_master_key_spec")
        if spec is None:
            _p, spec = self.r.attr(v, "key_spec")
        if not isinstance(spec, str):
            spec = "SYMMETRIC_DEFAULT"
        location = self.where(v)
        policy = self.key_policy(v, trace)
        return KeyResolution(RESOLVED, key=Key(name=v.display_address, policy=policy, spec=spec, location=location),
                             trace=trace)

    def key_policy(self, key: Vertex, trace: list) -> Optional[KeyPolicy]:
        owner = key
        _p, value = self.r.attr(key, "policy")
        if value is None:  # absent or null: an aws_kms_key_policy, else AWS's default key policy
            owner = self._key_policy_resource(key)
            if owner is None:
                trace.append(TraceStep(f"{key.display_address} has no policy: AWS's default key policy applies",
                                       self.where(key)))
                return None
            _p, value = self.r.attr(owner, "policy")
        location = self.where(owner, self._attr_line(owner, "policy") or owner.start_line)
        trace.append(TraceStep(f"policy of {owner.display_address}", location))
        doc = _document(value, f"{owner.display_address}.policy")
        return KeyPolicy(document=doc, location=location)

    def _key_policy_resource(self, key: Vertex) -> Optional[Vertex]:
        for kp in self.index.of_type("resource", "aws_kms_key_policy"):
            if any(d.id == key.id for _l, d in self.r._edges_of(kp, "key_id")) or any(
                    d.id == key.id for _h, d in self.r.reachable(kp, "key_id")):
                return kp
        for kp in self.index.of_type("resource", "aws_kms_key_policy"):
            if not self.r._same_module(kp, key):
                continue
            _p, target = self.r.attr(kp, "key_id")
            names = [s.name for s in symbols_in(target)] if is_text(target) else []
            if any(n in self.r.refs and self.r.refs[n][0].id == key.id for n in names):
                return kp
        return None


def _document(value: Any, what: str) -> Any:
    if isinstance(value, Choice):
        return Symbol(what, "opaque", f"{what} depends on {value.label}, which is not known")
    if isinstance(value, Symbol):
        return value
    if isinstance(value, SymStr):
        return Symbol(what, "opaque", "; ".join(dict.fromkeys(s.describe() for s in symbols_in(value))))
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return Symbol(what, "opaque", f"{what} is not a JSON policy")
    if isinstance(value, dict):
        return _strings(value)
    return Symbol(what, "opaque", f"{what} is not a JSON object")


def _strings(v: Any, under_condition: bool = False, depth: int = 0) -> Any:
    """IAM reads numbers as strings; checkov turns ``"false"`` into ``False`` in places."""
    if depth > 100:
        return v
    if isinstance(v, dict):
        return {k: _strings(x, under_condition or k == "Condition", depth + 1) for k, x in v.items()}
    if isinstance(v, list):
        return [_strings(x, under_condition, depth + 1) for x in v]
    if isinstance(v, bool):
        return ("true" if v else "false") if under_condition else v
    if isinstance(v, (int, float)):
        return str(v)
    if under_condition and v in ("True", "False"):
        return v.lower()
    return v


def analyse_vertex(index: GraphIndex, trail: Vertex, raw_source: Optional[RawSource] = None,
                   lines: Optional[Callable[[str], Optional[list]]] = None) -> TrailAnalysis:
    """The shared analysis of one trail vertex, computed once per graph."""
    hit = index.analyses.get(trail.id)
    if hit is not None:
        return hit
    result = TrailAnalysis(address=trail.address)
    try:
        result.findings = TrailAnalyser(index, trail, raw_source, lines).run()
    except RecursionError:
        result.failure = f"the configuration of {trail.address} is nested too deeply to analyse"
    except Exception as e:  # noqa: BLE001 - reported as "not verified" by the check, never raised
        result.failure = f"the analysis of {trail.address} failed ({type(e).__name__}: {e})"
    index.analyses[trail.id] = result
    return result
