"""Evaluate Terraform (HCL) expressions into plain data with symbols.

``evaluate(expr, scope)`` walks python-hcl2's parse tree of an expression
(see ``parse.py``) and returns dict / list / str / bool / int / float / None,
in which a value the code does not fix is a :class:`~..values.Symbol`, a
string built around such values is a :class:`~..values.SymStr`, and
``jsonencode`` of a structure with symbols is a
:class:`~.functions.JsonEncoded`. Nothing raises: what Terraform would
reject, what is not supported, cycles and deep nesting all end in a Symbol
whose reason names the expression.

Symbols:

* ``data.aws_caller_identity.<x>.account_id`` (and ``.id``) -> kind ``account``;
  ``data.aws_partition.<x>.partition`` -> ``partition``; ``data.aws_region.<x>.name``
  / ``.region`` / ``.id`` -> ``region`` (unless the resolver supplies the value);
* ``var.x`` without default -> ``Symbol("var.x", reason="var.x has no default")``;
* a resource or data attribute the resolver does not give -> ``Symbol("aws_kms_key.logs.arn")``;
* anything derived from a symbol, or not evaluated -> an opaque Symbol named by
  the expression as written.

:class:`Scope` supplies what references read; every reference is recorded in
``scope.references`` (use :func:`evaluate_traced` for one expression's).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

from .. import limits
from ..model import Location
from ..values import Symbol, SymStr, make_text, parts_of
from . import functions as F
from .functions import EvalError, JsonEncoded
from .parse import (
    Expression,
    ExpressionSyntaxError,
    ParsedFile,
    Source,
    children,
    heredoc_body,
    identifier_name,
    is_token,
    is_tree,
    node_column,
    node_line,
    node_text,
    parse_expression,
    short_text,
    subtrees,
    template_expression,
    unescape,
)

# nested evaluation steps (expressions, locals, templates) before giving up: the default;
# the limit in force is limits.current().max_expression_depth
MAX_DEPTH = limits.DEFAULTS.max_expression_depth

# data sources whose attributes are the environment Terraform runs in
ENV_DATA: dict[str, dict[str, str]] = {
    "aws_caller_identity": {"account_id": "account", "id": "account"},
    "aws_partition": {"partition": "partition", "id": "partition"},
    "aws_region": {"name": "region", "region": "region", "id": "region"},
}
_ENV_REASON = {
    "account": "the AWS account Terraform runs in is known only at plan time",
    "partition": "the AWS partition Terraform runs in is known only at plan time",
    "region": "the AWS region Terraform runs in is known only at plan time",
}

_UNSET = object()

ResourceResolver = Callable[[str], Any]
ModuleResolver = Callable[[str, str], Any]


@dataclass(frozen=True)
class Reference:
    """An address an expression read: ``var.kms_key_arn``, ``local.policy``, ``aws_kms_key.logs``,
    ``data.aws_caller_identity.current``, ``module.kms``, ``path.module``, ``count.index``, ``each.value``.

    ``text`` is the whole reference as written (``aws_kms_key.logs[0].arn``);
    ``location`` is where it is written.
    """

    address: str
    text: str
    location: Optional[Location] = None

    def __str__(self) -> str:
        return f"{self.text} ({self.location})" if self.location else self.text


class Scope:
    """What references resolve to while evaluating expressions of one module (instance).

    * ``variables``: name -> value or :class:`~.parse.Expression` (evaluated on first use,
      e.g. a ``default``). A name missing here is an undeclared variable (a Symbol).
      :meth:`for_module` builds this from ``variable`` blocks.
    * ``locals``: name -> Expression (or value), evaluated on first use and cached;
      a cycle gives a Symbol.
    * ``resources``: ``address -> value or None`` for ``aws_kms_key.logs`` and
      ``data.aws_iam_policy_document.x`` (data addresses start with ``data.``).
      The value is the resource's attributes as a dict (a list for ``count``, a
      dict of instances for ``for_each``) whose values may themselves be
      Symbols or JsonEncoded (e.g. ``data.aws_iam_policy_document.x.json``);
      attributes missing from it are "known only after apply". None: the
      resource is not known (a Symbol named by the reference).
    * ``modules``: ``(module name, output name) -> value or None``.
    * ``read_file``: ``path -> str`` for ``file()`` / ``templatefile()`` (see
      :func:`~.functions.directory_reader`); None disables reading.
    * ``path_module`` / ``path_root`` / ``path_cwd``: values of ``path.*``
      (``path.cwd`` is a Symbol unless given).
    * ``count_index``, ``each_key``, ``each_value``: set when evaluating one
      instance of a resource with ``count`` / ``for_each``; Symbols otherwise.
    """

    def __init__(
        self,
        *,
        variables: Optional[Mapping[str, Any]] = None,
        locals: Optional[Mapping[str, Any]] = None,  # noqa: A002 - Terraform's name
        resources: Optional[ResourceResolver] = None,
        modules: Optional[ModuleResolver] = None,
        read_file: Optional[Callable[[str], Any]] = None,
        path_module: Any = ".",
        path_root: Any = ".",
        path_cwd: Any = None,
        count_index: Any = _UNSET,
        each_key: Any = _UNSET,
        each_value: Any = _UNSET,
        workspace: Any = None,
    ):
        self.variables: dict = dict(variables or {})
        self.locals: dict = dict(locals or {})
        self.resources = resources
        self.modules = modules
        self.read_file = read_file
        self.path_module = path_module
        self.path_root = path_root
        self.path_cwd = path_cwd
        self.count_index = count_index
        self.each_key = each_key
        self.each_value = each_value
        self.workspace = workspace
        self.references: list[Reference] = []
        self.template_only = False  # templatefile(): only the variables passed in are visible
        # Conditionals whose condition is not known: Symbol -> (condition text, true value, false value),
        # so a caller can evaluate each branch as a scenario (None: not recorded).
        self.choices: Optional[dict] = None
        # id(object value) -> (the object, Location of its `{`), when a caller wants to know (None: not recorded)
        self.origins: Optional[dict] = None
        self._cache: dict = {}  # ("var"|"local", name) -> (value | EvalError, [Reference])
        self._in_progress: list = []
        self._depth_hits = 0  # values cut off by MAX_DEPTH depend on where they were read from: not cached

    @classmethod
    def for_module(cls, items: Iterable[Any], var_values: Optional[Mapping[str, Any]] = None, **kwargs) -> "Scope":
        """A scope from a module's ``variable`` and ``locals`` blocks.

        ``items`` are ParsedFile or Block objects. ``var_values`` (e.g. from
        ``-var``/tfvars: values or Expressions) override defaults; a variable
        with neither is ``Symbol("var.x", reason="var.x has no default")``.
        The first definition of a name wins.
        """
        variables: dict = {}
        local_exprs: dict = {}
        blocks: list = []
        for item in items:
            blocks.extend(item.blocks if isinstance(item, ParsedFile) else [item])
        for b in blocks:
            if b.type == "variable" and len(b.labels) == 1:
                name = b.labels[0]
                if name in variables:
                    continue
                default = b.attribute("default")
                if default is not None:
                    variables[name] = default.expression
                else:
                    variables[name] = Symbol(f"var.{name}", "opaque", f"var.{name} has no default")
            elif b.type == "locals":
                for name, attr in b.attributes.items():
                    local_exprs.setdefault(name, attr.expression)
        for name, value in (var_values or {}).items():
            variables[name] = value
        return cls(variables=variables, locals=local_exprs, **kwargs)

    def with_instance(self, *, count_index: Any = _UNSET, each_key: Any = _UNSET, each_value: Any = _UNSET) -> "Scope":
        """The same scope (sharing variables, locals and their cache) for one resource instance."""
        s = copy.copy(self)
        s.count_index, s.each_key, s.each_value = count_index, each_key, each_value
        return s


def evaluate(expr: Any, scope: Optional[Scope] = None, env: Optional[dict] = None) -> Any:
    """Evaluate an Expression (or expression text) to plain data with symbols. Never raises.

    ``env`` binds extra names (a dynamic block's iterator: ``{"statement": {"key": k, "value": v}}``)."""
    scope = scope if scope is not None else Scope()
    if isinstance(expr, str):
        try:
            expr = parse_expression(expr)
        except ExpressionSyntaxError as e:
            return Symbol(short_text(expr), "opaque", e.error.message)
    if not isinstance(expr, Expression):
        return expr  # already a value
    ev = _Evaluator(scope)
    try:
        return ev.eval_expression(expr, env)
    except EvalError as e:
        where = getattr(e, "where", "") or short_text(expr.text)
        return Symbol(where, "opaque", f"{where}: {e}")
    except RecursionError:
        return Symbol(short_text(expr.text), "opaque", f"{short_text(expr.text)} is nested too deeply to evaluate")
    except limits.LimitExceeded:
        raise  # the module's work budget is spent: its analysis stops (CTKMS007), it does not go on with unknowns
    except Exception as e:  # a value Python cannot represent (huge numbers, precision): unknown, never a crash
        return Symbol(short_text(expr.text), "opaque", f"{short_text(expr.text)} is not evaluated ({type(e).__name__}: {e})")


def evaluate_traced(expr: Any, scope: Optional[Scope] = None) -> tuple[Any, list[Reference]]:
    """Evaluate and return the references this evaluation read (in order, without repeats)."""
    scope = scope if scope is not None else Scope()
    start = len(scope.references)
    value = evaluate(expr, scope)
    seen = set()
    refs = []
    for r in scope.references[start:]:
        key = (r.address, r.text, r.location)
        if key not in seen:
            seen.add(key)
            refs.append(r)
    return value, refs


class _Evaluator:
    def __init__(self, scope: Scope, depth: int = 0):
        self.scope = scope
        self.depth = depth
        self.max_depth = limits.current().max_expression_depth
        self.src: Source = Source("<expression>", "")
        self.env: dict = {}  # iteration / template variables

    # -- entry points -------------------------------------------------------

    def eval_expression(self, expr: Expression, env: Optional[dict] = None) -> Any:
        saved = (self.src, self.env)
        self.src, self.env = expr.source, dict(env or {})
        try:
            return self.eval(expr.node)
        finally:
            self.src, self.env = saved

    def eval(self, node: Any) -> Any:
        limits.tick()
        if self.depth >= self.max_depth:
            self.scope._depth_hits += 1
            text = self.text(node)
            return Symbol(text, "opaque", f"{text} is nested too deeply to evaluate")
        self.depth += 1
        try:
            return self._dispatch(node)
        except EvalError as e:
            if not getattr(e, "where", ""):
                e.where = self.text(node)
            raise
        finally:
            self.depth -= 1

    # -- helpers ---------------------------------------------------------------

    def text(self, node: Any) -> str:
        return short_text(node_text(node, self.src)) or "<expression>"

    def location(self, node: Any) -> Location:
        return Location(self.src.file, node_line(node, self.src), node_column(node))

    def unknown(self, node: Any, reason: str) -> Symbol:
        return Symbol(self.text(node), "opaque", reason)

    def derived(self, node: Any, base: Any) -> Symbol:
        """The value of ``node`` is unknown because ``base`` (a Symbol, SymStr or JsonEncoded) is."""
        if isinstance(base, Symbol):
            return Symbol(self.text(node), "opaque", base.describe())
        if isinstance(base, SymStr):
            syms = [p for p in base.parts if isinstance(p, Symbol)]
            if syms:
                return Symbol(self.text(node), "opaque", f"{self.text(node)} depends on {syms[0].name}: "
                                                        f"{syms[0].describe()}")
        return Symbol(self.text(node), "opaque", f"{self.text(node)} depends on values known only at apply")

    def record(self, address: str, node: Any) -> None:
        self.scope.references.append(Reference(address, self.text(node), self.location(node)))

    # -- dispatch ----------------------------------------------------------------

    def _dispatch(self, node: Any) -> Any:
        if is_token(node):
            return self.unknown(node, f"{self.text(node)} is not an expression")
        kind = node.data
        method = getattr(self, "_e_" + kind, None)
        if method is None:
            return self.unknown(node, f"{self.text(node)} is not evaluated ({kind} is not supported)")
        return method(node)

    def _e_expr_term(self, node):
        kids = children(node)
        trees = [c for c in kids if is_tree(c)]
        if len(trees) != 1:
            return self.unknown(node, f"{self.text(node)} is not evaluated")
        return self.eval(trees[0])

    def _e_int_lit(self, node):
        return int(str(node.children[0]))

    def _e_float_lit(self, node):
        return _finite(float(str(node.children[0])))

    def _e_literal_value(self, node):
        word = str(node.children[0])
        return {"true": True, "false": False, "null": None}[word]

    def _e_tuple(self, node):
        return [self.eval(c) for c in subtrees(node)]

    def _e_object(self, node):
        out: dict = {}
        for elem in subtrees(node):
            if elem.data != "object_elem":
                continue
            parts = subtrees(elem)
            if len(parts) != 2:
                return self.unknown(node, f"{self.text(elem)} is not evaluated")
            key = self._object_key(parts[0])
            if isinstance(key, (Symbol, SymStr, JsonEncoded)):
                return self.unknown(node, f"the object key {self.text(parts[0])} is not known until apply")
            out[key] = self.eval(parts[1])
        if self.scope.origins is not None:  # where each object was written (policy statement lines)
            self.scope.origins[id(out)] = (out, self.location(node))
        return out

    def _object_key(self, keynode):
        inner = subtrees(keynode)
        if not inner:
            return identifier_name(keynode.children[0]) if keynode.children else ""
        expr = inner[0]
        if expr.data in ("keyword", "identifier", "literal_value"):
            return identifier_name(expr)
        if expr.data == "expr_term":
            kids = children(expr)
            parenthesized = bool(kids) and is_token(kids[0]) and kids[0].type == "LPAR"
            sub = subtrees(expr)
            if not parenthesized and len(sub) == 1 and sub[0].data in ("identifier", "keyword", "literal_value"):
                return identifier_name(sub[0])
        value = self.eval(expr)
        if isinstance(value, (Symbol, SymStr, JsonEncoded)):
            return value
        return F.to_text(value, "object key")

    # -- strings and templates --------------------------------------------------

    def _e_string(self, node):
        items = self._template_items(node)
        if len(items) == 1 and items[0][0] == "interp":
            return self.eval(items[0][1])  # "${x}" is x itself, not converted to a string
        parts: list = []
        self._render(self._assemble(items, 0, ())[0], parts)
        return make_text(parts)

    def _e_template_string(self, node):
        raw = str(node.children[0])
        if raw.startswith('\\"') and raw.endswith('\\"'):
            raw = raw[2:-2]
        return unescape(raw)

    def _e_heredoc_template(self, node):
        return self._heredoc(node)

    def _e_heredoc_template_trim(self, node):
        return self._heredoc(node)

    def _heredoc(self, node):
        token = node.children[0]
        body = heredoc_body(str(token))
        if body is None:
            return self.unknown(node, "the heredoc is not evaluated")
        line = node_line(node, self.src)
        try:
            expr = template_expression(body[0], self.src.file, (line or 0) + 1)
        except ExpressionSyntaxError as e:
            return self.unknown(node, f"the heredoc template is not evaluated: {e.error.message}")
        parts: list = []
        saved = self.src
        self.src = expr.source
        try:
            self._render(self._assemble(self._template_items(expr.node), 0, ())[0], parts)
        finally:
            self.src = saved
        return make_text(parts)

    def _template_items(self, node) -> list:
        """Flatten a string node into literal / interpolation / directive items, strip markers applied."""
        items: list = []
        for part in node.children:
            if not (is_tree(part) and part.data == "string_part"):
                continue
            for c in part.children:
                if is_token(c):
                    text = str(c)
                    if c.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                        text = text[1:]
                    items.append(("lit", unescape(text)))
                elif c.data == "interpolation":
                    exprs = subtrees(c)
                    items.append(("interp", exprs[0] if exprs else c))
                else:
                    items.append(self._directive(c))
        # strip markers: ~ removes the whitespace next to the directive
        for i, it in enumerate(items):
            if it[0] in ("lit", "interp"):
                continue
            strip_before, strip_after = it[-2], it[-1]
            if strip_before and i > 0 and items[i - 1][0] == "lit":
                items[i - 1] = ("lit", items[i - 1][1].rstrip())
            if strip_after and i + 1 < len(items) and items[i + 1][0] == "lit":
                items[i + 1] = ("lit", items[i + 1][1].lstrip())
        return items

    def _directive(self, node):
        kids = [c for c in node.children if not (is_tree(c) and c.data == "new_line_or_comment")]

        def strip_at(i: int) -> bool:
            return 0 <= i < len(kids) and is_token(kids[i]) and kids[i].type == "STRIP_MARKER"

        # %{~ ... ~}: a marker right after "%{" strips before, one right before "}" strips after
        before = strip_at(1)
        after = len(kids) > 3 and strip_at(len(kids) - 2) and (len(kids) - 2 != 1)
        exprs = [c for c in kids if is_tree(c) and c.data != "identifier"]
        names = [identifier_name(c) for c in kids if is_tree(c) and c.data == "identifier"]
        if node.data == "template_if_start":
            return ("if", exprs[0] if exprs else None, node, before, after)
        if node.data == "template_else":
            return ("else", before, after)
        if node.data == "template_endif":
            return ("endif", before, after)
        if node.data == "template_for_start":
            return ("for", names, exprs[0] if exprs else None, node, before, after)
        if node.data == "template_endfor":
            return ("endfor", before, after)
        return ("bad", node, before, after)

    def _assemble(self, items: list, i: int, until: tuple):
        """Nest flat items into a tree: ("if", cond, node, then, else) / ("for", names, coll, node, body)."""
        out: list = []
        while i < len(items):
            it = items[i]
            kind = it[0]
            if kind in until:
                return out, i
            if kind == "if":
                then, j = self._assemble(items, i + 1, ("else", "endif"))
                other: list = []
                if j < len(items) and items[j][0] == "else":
                    other, j = self._assemble(items, j + 1, ("endif",))
                if j >= len(items):
                    raise EvalError("a %{if} directive has no %{endif}")
                out.append(("if", it[1], it[2], then, other))
                i = j + 1
                continue
            if kind == "for":
                body, j = self._assemble(items, i + 1, ("endfor",))
                if j >= len(items):
                    raise EvalError("a %{for} directive has no %{endfor}")
                out.append(("for", it[1], it[2], it[3], body))
                i = j + 1
                continue
            if kind in ("else", "endif", "endfor", "bad"):
                raise EvalError(f"unexpected %{{{kind}}} directive in the template")
            out.append(it)
            i += 1
        return out, i

    def _render(self, tree: list, parts: list) -> None:
        for it in tree:
            kind = it[0]
            if kind == "lit":
                parts.append(it[1])
            elif kind == "interp":
                value = self.eval(it[1])
                parts.extend(parts_of(F.to_text(value, "interpolated value")))
            elif kind == "if":
                _, cond_node, node, then, other = it
                cond = self.eval(cond_node) if cond_node is not None else None
                if isinstance(cond, (Symbol, SymStr, JsonEncoded)):
                    parts.append(self.derived(node, cond))
                    continue
                self._render(then if F.to_bool(cond, "%{if} condition") else other, parts)
            elif kind == "for":
                _, names, coll_node, node, body = it
                coll = self.eval(coll_node) if coll_node is not None else None
                pairs = self._iterate(node, coll)
                if isinstance(pairs, Symbol):
                    parts.append(pairs)
                    continue
                saved = self.env
                try:
                    for k, v in pairs:
                        self.env = dict(saved)
                        if len(names) == 2:
                            self.env[names[0]], self.env[names[1]] = k, v
                        elif names:
                            self.env[names[0]] = v
                        self._render(body, parts)
                finally:
                    self.env = saved

    def render_template(self, text: str, variables: dict, path: Any) -> Any:
        """templatefile(): the template sees only ``variables`` (and functions)."""
        if self.scope.template_only:
            raise EvalError("templatefile() cannot be called from within a template")
        try:
            expr = template_expression(text, str(path), 1)
        except ExpressionSyntaxError as e:
            return Symbol(f"templatefile({path})", "opaque", f"the template {path} is not evaluated: {e.error.message}")
        inner_scope = Scope(read_file=self.scope.read_file)
        inner_scope.template_only = True
        inner = _Evaluator(inner_scope, self.depth)
        value = inner.eval_expression(expr, variables)
        self.scope.references.extend(inner_scope.references)
        return value

    # -- operators ------------------------------------------------------------------

    def _e_conditional(self, node):
        exprs = subtrees(node)
        if len(exprs) != 3:
            return self.unknown(node, f"{self.text(node)} is not evaluated")
        cond = self.eval(exprs[0])
        if isinstance(cond, (Symbol, SymStr, JsonEncoded)):
            branches = []
            for branch in exprs[1:]:
                try:
                    branches.append(self.eval(branch))
                except EvalError:
                    branches.append(_FAILED)
            a, b = branches
            if a is not _FAILED and b is not _FAILED and F.tf_equal(a, b) is True:
                return a
            reason = cond.describe() if isinstance(cond, Symbol) else "it is known only at apply"
            sym = Symbol(self.text(node), "opaque",
                         f"the value depends on the condition {self.text(exprs[0])}, which is not known ({reason})")
            if self.scope.choices is not None:
                unknown = Symbol(self.text(node), "opaque", f"{self.text(node)} could not be evaluated")
                self.scope.choices[sym] = (self.text(exprs[0]),
                                           unknown if a is _FAILED else a, unknown if b is _FAILED else b)
            return sym
        return self.eval(exprs[1] if F.to_bool(cond, "condition") else exprs[2])

    def _e_unary_op(self, node):
        op = str(node.children[0]).strip()
        operand = self.eval(subtrees(node)[0])
        if isinstance(operand, (Symbol, SymStr, JsonEncoded)):
            return self.derived(node, operand)
        if op == "-":
            return F.normalize_number(-F.to_number(operand, "operand"))
        if op == "!":
            return not F.to_bool(operand, "operand")
        return self.unknown(node, f"the operator {op} is not supported")

    def _e_binary_op(self, node):
        sub = subtrees(node)
        lhs_node = sub[0]
        term = sub[1]
        term_parts = subtrees(term)
        op = str(term_parts[0].children[0]).strip()
        rhs_node = term_parts[-1]
        lhs = self.eval(lhs_node)
        if op in ("&&", "||"):
            return self._logic(node, op, lhs, rhs_node)
        rhs = self.eval(rhs_node)
        if op in ("==", "!="):
            eq = F.tf_equal(lhs, rhs)
            if eq is None:
                return self.derived(node, lhs if isinstance(lhs, (Symbol, SymStr, JsonEncoded)) else rhs)
            return eq if op == "==" else not eq
        for v in (lhs, rhs):
            if isinstance(v, (Symbol, SymStr, JsonEncoded)):
                return self.derived(node, v)
        a = F.to_number(lhs, "left operand")
        b = F.to_number(rhs, "right operand")
        if op == "+":
            return _finite(a + b)
        if op == "-":
            return _finite(a - b)
        if op == "*":
            return _finite(a * b)
        if op in ("/", "%"):
            if b == 0:
                raise EvalError("division by zero")
            if op == "/":
                return F.normalize_number(a / b if not (isinstance(a, int) and isinstance(b, int) and a % b == 0)
                                          else a // b)
            if isinstance(a, int) and isinstance(b, int):
                r = abs(a) % abs(b)
                return -r if a < 0 else r
            return F.normalize_number(math.fmod(a, b))
        if op == "<":
            return a < b
        if op == ">":
            return a > b
        if op == "<=":
            return a <= b
        if op == ">=":
            return a >= b
        return self.unknown(node, f"the operator {op} is not supported")

    def _logic(self, node, op, lhs, rhs_node):
        decisive = op == "||"  # true || x is true; false && x is false
        if not isinstance(lhs, (Symbol, SymStr, JsonEncoded)) and F.to_bool(lhs, "left operand") == decisive:
            return decisive
        rhs = self.eval(rhs_node)
        if not isinstance(rhs, (Symbol, SymStr, JsonEncoded)):
            if F.to_bool(rhs, "right operand") == decisive:
                return decisive
            if not isinstance(lhs, (Symbol, SymStr, JsonEncoded)):
                return not decisive
        return self.derived(node, lhs if isinstance(lhs, (Symbol, SymStr, JsonEncoded)) else rhs)

    # -- function calls ---------------------------------------------------------------

    def _e_function_call(self, node):
        kids = children(node)
        names = [identifier_name(c) for c in kids if is_tree(c) and c.data == "identifier"]
        name = "::".join(n or "" for n in names)
        args_node = next((c for c in kids if is_tree(c) and c.data == "arguments"), None)
        arg_nodes = subtrees(args_node) if args_node is not None else []
        expand = args_node is not None and any(is_token(c) and c.type == "ELLIPSIS" for c in args_node.children)
        if len(names) > 1:
            return self.unknown(node, f"{self.text(node)} is not evaluated: provider function {name}() is not supported")
        if name == "try":
            return self._try(node, arg_nodes)
        if name == "can":
            return self._can(node, arg_nodes)
        if name not in F.FUNCTIONS:
            return self.unknown(node, f"{self.text(node)} is not evaluated: function {name}() is not supported")
        args = [self.eval(a) for a in arg_nodes]
        if expand and args:
            last = args.pop()
            if isinstance(last, (Symbol, SymStr, JsonEncoded)):
                return self.derived(node, last)
            if not isinstance(last, list):
                raise EvalError(f"{name}(): the expanded argument is a {F.type_name(last)}, a list is required")
            args.extend(last)
        ctx = F.FunctionContext(name, self.text(node), read_file=self.scope.read_file,
                                render_template=self.render_template)
        return F.call_function(name, args, ctx)

    def _try(self, node, arg_nodes):
        if not arg_nodes:
            raise EvalError("try() needs at least one argument")
        errors = []
        for a in arg_nodes:
            try:
                return self.eval(a)
            except EvalError as e:
                errors.append(str(e))
        raise EvalError("no argument of try() could be evaluated: " + "; ".join(errors))

    def _can(self, node, arg_nodes):
        if len(arg_nodes) != 1:
            raise EvalError("can() takes 1 argument")
        try:
            value = self.eval(arg_nodes[0])
        except EvalError:
            return False
        if isinstance(value, Symbol):
            return self.derived(node, value)
        return True

    # -- for expressions -----------------------------------------------------------------

    def _for_intro(self, node):
        intro = next(c for c in subtrees(node) if c.data == "for_intro")
        names = [identifier_name(c) for c in subtrees(intro) if c.data == "identifier"]
        coll = [c for c in subtrees(intro) if c.data != "identifier"]
        return names, coll[0]

    def _iterate(self, node, coll):
        """(key, value) pairs of a collection, or a Symbol when it is not known."""
        if isinstance(coll, (Symbol, SymStr, JsonEncoded)):
            return self.derived(node, coll)
        if isinstance(coll, list):
            return list(enumerate(coll))
        if isinstance(coll, dict):
            if any(isinstance(k, (Symbol, SymStr)) for k in coll):
                return self.unknown(node, f"{self.text(node)} iterates over keys known only at apply")
            return [(k, coll[k]) for k in sorted(coll)]
        if coll is None:
            raise EvalError("cannot iterate over null")
        raise EvalError(f"cannot iterate over a {F.type_name(coll)}")

    def _bind(self, names, k, v) -> dict:
        env = dict(self.env)
        if len(names) == 2:
            env[names[0]], env[names[1]] = k, v
        elif names:
            env[names[0]] = v
        return env

    def _for_cond(self, node, cond_node):
        if cond_node is None:
            return True
        c = self.eval(subtrees(cond_node)[0])
        if isinstance(c, (Symbol, SymStr, JsonEncoded)):
            return self.derived(node, c)
        return F.to_bool(c, "for condition")

    def _e_for_tuple_expr(self, node):
        names, coll_node = self._for_intro(node)
        rest = [c for c in subtrees(node) if c.data != "for_intro"]
        cond_node = next((c for c in rest if c.data == "for_cond"), None)
        body = [c for c in rest if c.data != "for_cond"][0]
        pairs = self._iterate(node, self.eval(coll_node))
        if isinstance(pairs, Symbol):
            return pairs
        out = []
        saved = self.env
        try:
            for k, v in pairs:
                self.env = self._bind(names, k, v)
                keep = self._for_cond(node, cond_node)
                if isinstance(keep, Symbol):
                    return keep
                if keep:
                    out.append(self.eval(body))
        finally:
            self.env = saved
        return out

    def _e_for_object_expr(self, node):
        names, coll_node = self._for_intro(node)
        rest = [c for c in subtrees(node) if c.data != "for_intro"]
        cond_node = next((c for c in rest if c.data == "for_cond"), None)
        key_node, value_node = [c for c in rest if c.data != "for_cond"][:2]
        grouping = any(is_token(c) and c.type == "ELLIPSIS" for c in node.children)
        pairs = self._iterate(node, self.eval(coll_node))
        if isinstance(pairs, Symbol):
            return pairs
        out: dict = {}
        saved = self.env
        try:
            for k, v in pairs:
                self.env = self._bind(names, k, v)
                keep = self._for_cond(node, cond_node)
                if isinstance(keep, Symbol):
                    return keep
                if not keep:
                    continue
                key = self.eval(key_node)
                if isinstance(key, (Symbol, SymStr, JsonEncoded)):
                    return self.derived(node, key)
                key = F.to_text(key, "object key")
                value = self.eval(value_node)
                if grouping:
                    out.setdefault(key, []).append(value)
                elif key in out:
                    raise EvalError(f"duplicate object key {key!r} (use ... to group values)")
                else:
                    out[key] = value
        finally:
            self.env = saved
        return out

    # -- references and traversals ----------------------------------------------------------

    def _e_identifier(self, node):
        return self._traversal(node)

    def _e_get_attr_expr_term(self, node):
        return self._traversal(node)

    def _e_index_expr_term(self, node):
        return self._traversal(node)

    def _e_attr_splat_expr_term(self, node):
        return self._traversal(node)

    def _e_full_splat_expr_term(self, node):
        return self._traversal(node)

    def _flatten(self, node):
        """Root node and steps (kind, payload, node covering root..this step), outermost last."""
        steps = []
        while True:
            if node.data == "expr_term":
                kids = children(node)
                sub = subtrees(node)
                if len(sub) == 1 and not (kids and is_token(kids[0]) and kids[0].type == "LPAR"):
                    node = sub[0]
                    continue
                break
            sub = subtrees(node)
            if node.data == "get_attr_expr_term" and len(sub) == 2:
                steps.append(("attr", _attr_name(sub[1]), node))
            elif node.data == "index_expr_term" and len(sub) == 2:
                steps.append(("index", sub[1], node))
            elif node.data in ("attr_splat_expr_term", "full_splat_expr_term") and len(sub) == 2:
                steps.append(("splat", (subtrees(sub[1]), node.data == "full_splat_expr_term"), node))
            else:
                break
            node = sub[0]
        steps.reverse()
        return node, steps

    def _traversal(self, node):
        root, steps = self._flatten(node)
        if root.data != "identifier":
            value = self.eval(root)
            return self._apply(value, steps, 0, lenient=False, whole=node)
        name = identifier_name(root)
        if name in self.env:
            return self._apply(self.env[name], steps, 0, lenient=False, whole=node)
        if self.scope.template_only:
            raise EvalError(f"the template has no variable {name!r} (templatefile() passes only its vars)")
        attrs = []
        for kind, payload, _ in steps:
            if kind != "attr":
                break
            attrs.append(payload)

        def need(n: int):
            if len(attrs) < n:
                raise EvalError(f"{self.text(node)} is not a valid reference")

        if name == "var":
            need(1)
            self.record(f"var.{attrs[0]}", node)
            value = self._named("var", attrs[0], node)
            return self._apply(value, steps, 1, lenient=False, whole=node)
        if name == "local":
            need(1)
            self.record(f"local.{attrs[0]}", node)
            value = self._named("local", attrs[0], node)
            return self._apply(value, steps, 1, lenient=False, whole=node)
        if name == "path":
            need(1)
            self.record(f"path.{attrs[0]}", node)
            values = {"module": self.scope.path_module, "root": self.scope.path_root, "cwd": self.scope.path_cwd}
            if attrs[0] not in values:
                raise EvalError(f"path.{attrs[0]} is not a path Terraform defines")
            value = values[attrs[0]]
            if value is None:
                value = Symbol(f"path.{attrs[0]}", "opaque", f"path.{attrs[0]} depends on where Terraform runs")
            return self._apply(value, steps, 1, lenient=False, whole=node)
        if name == "count":
            need(1)
            self.record("count.index", node)
            if attrs[0] != "index":
                raise EvalError(f"count.{attrs[0]} is not defined (only count.index)")
            value = self.scope.count_index
            if value is _UNSET:
                value = Symbol("count.index", "opaque", "count.index is known only for one instance of the resource")
            return self._apply(value, steps, 1, lenient=False, whole=node)
        if name == "each":
            need(1)
            self.record(f"each.{attrs[0]}", node)
            if attrs[0] not in ("key", "value"):
                raise EvalError(f"each.{attrs[0]} is not defined (only each.key and each.value)")
            value = self.scope.each_key if attrs[0] == "key" else self.scope.each_value
            if value is _UNSET:
                value = Symbol(f"each.{attrs[0]}", "opaque",
                               f"each.{attrs[0]} is known only for one instance of the resource")
            return self._apply(value, steps, 1, lenient=False, whole=node)
        if name == "terraform":
            need(1)
            self.record(f"terraform.{attrs[0]}", node)
            if attrs[0] == "workspace" and self.scope.workspace is not None:
                return self._apply(self.scope.workspace, steps, 1, lenient=False, whole=node)
            return self._rest_unknown(node, steps, 1, f"terraform.{attrs[0]}",
                                      f"terraform.{attrs[0]} is chosen when Terraform runs")
        if name == "self":
            return self.unknown(node, f"{self.text(node)} is not evaluated (self is only defined in provisioners)")
        if name == "data":
            need(2)
            address = f"data.{attrs[0]}.{attrs[1]}"
            self.record(address, node)
            return self._resource(node, steps, 2, address, env_attrs=ENV_DATA.get(attrs[0]))
        if name == "module":
            need(1)
            address = f"module.{attrs[0]}"
            self.record(address, node)
            if len(attrs) < 2:
                return self.unknown(node, f"{self.text(node)}: the whole module object is not evaluated")
            value = self.scope.modules(attrs[0], attrs[1]) if self.scope.modules is not None else None
            if value is None:
                return self._rest_unknown(node, steps, 2, f"{address}.{attrs[1]}",
                                          f"output {attrs[1]} of module {attrs[0]} is not evaluated here")
            return self._apply(value, steps, 2, lenient=True, whole=node)
        if not steps:
            raise EvalError(f"{name} is not defined (a bare name is valid only in for expressions and templates)")
        need(1)
        address = f"{name}.{attrs[0]}"
        self.record(address, node)
        return self._resource(node, steps, 1, address, env_attrs=None)

    def _resource(self, node, steps, consumed, address, env_attrs):
        value = self.scope.resources(address) if self.scope.resources is not None else None
        # the environment data sources: their attributes are the provider's account/partition/region
        if env_attrs and len(steps) > consumed and steps[consumed][0] == "attr":
            attr = steps[consumed][1]
            kind = env_attrs.get(attr)
            if kind and not (isinstance(value, dict) and attr in value):
                sym = Symbol(f"{address}.{attr}", kind, _ENV_REASON[kind])
                return self._apply(sym, steps, consumed + 1, lenient=True, whole=node)
        if value is None:
            full = self.text(node)
            if self.scope.resources is None:
                reason = f"{full} is known only after apply"
            else:
                reason = f"{address} is not in the scanned configuration"
            return self._rest_unknown(node, steps, consumed, full, reason)
        return self._apply(value, steps, consumed, lenient=True, whole=node)

    def _rest_unknown(self, node, steps, consumed, name, reason):
        if len(steps) > consumed:
            return Symbol(self.text(node), "opaque", reason)
        return Symbol(name, "opaque", reason)

    def _named(self, kind: str, name: str, node) -> Any:
        """var.<name> / local.<name>: evaluated once, cached with the references it read."""
        scope = self.scope
        key = (kind, name)
        label = f"{kind}.{name}"
        if key in scope._cache:
            value, refs = scope._cache[key]
            scope.references.extend(refs)
            if isinstance(value, EvalError):
                raise value
            return value
        table = scope.variables if kind == "var" else scope.locals
        if name not in table:
            what = "variable" if kind == "var" else "local value"
            return Symbol(label, "opaque", f"{label} is not declared (no {what} {name!r} in this module)")
        raw = table[name]
        if not isinstance(raw, Expression):
            return raw
        if key in scope._in_progress:
            cycle = scope._in_progress[scope._in_progress.index(key):] + [key]
            path = " -> ".join(f"{k}.{n}" for k, n in cycle)
            return Symbol(label, "opaque", f"{label} refers to itself ({path})")
        scope._in_progress.append(key)
        start = len(scope.references)
        hits = scope._depth_hits
        try:
            try:
                value = self.eval_expression(raw)
            except EvalError as e:
                if not getattr(e, "where", ""):
                    e.where = short_text(raw.text)
                scope._cache[key] = (e, list(scope.references[start:]))
                raise
        finally:
            scope._in_progress.pop()
        if scope._depth_hits == hits:
            scope._cache[key] = (value, list(scope.references[start:]))
        return value

    def _apply(self, value, steps, start, lenient, whole):
        """Apply steps[start:] to value. Missing attributes: unknown when lenient (resources), else errors."""
        i = start
        while i < len(steps):
            kind, payload, step_node = steps[i]
            if isinstance(value, Symbol):
                return Symbol(self.text(whole), "opaque", value.describe())
            if isinstance(value, (SymStr, JsonEncoded)):
                raise EvalError(f"{self.text(steps[i - 1][2]) if i else 'the value'} is a string, "
                                f"it has no attributes or elements")
            if kind == "attr":
                value = self._get_attr(value, payload, step_node, lenient)
            elif kind == "index":
                key = self._index_key(payload)
                if isinstance(key, (Symbol, SymStr, JsonEncoded)):
                    return self.derived(whole, key)
                value = self._get_index(value, key, step_node, lenient)
            else:  # splat
                substeps, full = payload
                value = self._splat(value, substeps, full, step_node, lenient)
            i += 1
        return value

    def _index_key(self, index_node):
        if index_node.data == "short_index":
            tok = [c for c in index_node.children if is_token(c) and c.type == "INT_LITERAL"]
            return int(str(tok[0])) if tok else 0
        exprs = subtrees(index_node)
        return self.eval(exprs[0]) if exprs else None

    def _get_attr(self, value, name, step_node, lenient):
        if isinstance(value, dict):
            if name in value:
                return value[name]
            if lenient or any(isinstance(k, (Symbol, SymStr)) for k in value):
                return Symbol(self.text(step_node), "opaque", f"{self.text(step_node)} is known only after apply")
            raise EvalError(f"{self.text(step_node)}: the object has no attribute {name!r}")
        if value is None:
            raise EvalError(f"{self.text(step_node)}: cannot get attribute {name!r} of null")
        if lenient:
            return Symbol(self.text(step_node), "opaque", f"{self.text(step_node)} is known only after apply")
        raise EvalError(f"{self.text(step_node)}: a {F.type_name(value)} has no attribute {name!r}")

    def _get_index(self, value, key, step_node, lenient):
        if isinstance(value, list):
            i = F.to_number(key, "index")
            if not isinstance(i, int):
                raise EvalError(f"{self.text(step_node)}: the index is not a whole number")
            if 0 <= i < len(value):
                return value[i]
            if lenient:
                return Symbol(self.text(step_node), "opaque", f"{self.text(step_node)} is not known here")
            raise EvalError(f"{self.text(step_node)}: index {i} is out of range (length {len(value)})")
        if isinstance(value, dict):
            k = F.to_text(key, "key")
            if k in value:
                return value[k]
            if lenient or any(isinstance(x, (Symbol, SymStr)) for x in value):
                return Symbol(self.text(step_node), "opaque", f"{self.text(step_node)} is not known here")
            raise EvalError(f"{self.text(step_node)}: the map has no key {k!r}")
        if value is None:
            raise EvalError(f"{self.text(step_node)}: cannot index null")
        raise EvalError(f"{self.text(step_node)}: a {F.type_name(value)} cannot be indexed")

    def _splat(self, value, substeps, full, step_node, lenient):
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        # [*] applies every following step to each element; the legacy .* only the attribute steps
        per_item = []
        after = []
        for j, s in enumerate(substeps):
            if not full and s.data != "get_attr":
                after = substeps[j:]
                break
            per_item.append(s)
        result = []
        for item in items:
            v = item
            for s in per_item:
                if isinstance(v, Symbol):
                    v = Symbol(self.text(step_node), "opaque", v.describe())
                    break
                if s.data == "get_attr":
                    v = self._get_attr(v, _attr_name(s), step_node, lenient)
                else:
                    key = self._index_key(s)
                    if isinstance(key, (Symbol, SymStr, JsonEncoded)):
                        return self.derived(step_node, key)
                    v = self._get_index(v, key, step_node, lenient)
            result.append(v)
        value = result
        for s in after:
            if s.data == "get_attr":
                value = self._get_attr(value, _attr_name(s), step_node, lenient)
            else:
                key = self._index_key(s)
                if isinstance(key, (Symbol, SymStr, JsonEncoded)):
                    return self.derived(step_node, key)
                value = self._get_index(value, key, step_node, lenient)
        return value


_FAILED = object()


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        raise EvalError("the number is too large")
    return F.normalize_number(v)


def _attr_name(get_attr_node) -> str:
    for c in subtrees(get_attr_node):
        name = identifier_name(c)
        if name is not None:
            return name
    return ""


__all__ = ["Scope", "Reference", "evaluate", "evaluate_traced", "ENV_DATA", "JsonEncoded", "MAX_DEPTH"]
