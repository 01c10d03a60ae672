"""checkov's rendered Terraform values, read back as data with symbols.

checkov renders every attribute of its Terraform graph before a check sees it:
variables, locals and module outputs are substituted where it can, and what it
cannot evaluate is left as text. That text is not HCL any more: objects come
out as Python ``repr`` (``{'Version': '2012-10-17', ...}``, ``True``,
``None``), an interpolation may lose its ``${...}`` once substituted
(``"arn:data.aws_partition.current.partition:iam::..."``), a quoted string may
hold quotes of its own (``'[for r in ['a'] : "x"]'``), and an unevaluated
expression may come out bare (``var.encrypt ? aws_kms_key.k.arn : None``),
wrapped (``${file("${path.module}/p.json")}``) or half-evaluated
(``jsonencode({...})``, ``{'a': '${x}'}["var.k"]``).

This module turns such a value into the core's data model (plain JSON-like
data in which a value the code does not fix is a
:class:`~cloudtrail_kms_lint.values.Symbol` or
:class:`~cloudtrail_kms_lint.values.SymStr`). It parses the leftover text with
a small, tolerant expression parser and evaluates what is left: references
(through a :class:`Resolver` that looks them up in checkov's graph), a few
pure functions (``jsonencode``, ``concat``, ``merge``...), conditionals,
indexes, ``for`` expressions (when the text still has them as written: see
``analysis.GraphResolver.attr``). Anything else (``file()``,
``templatefile()``, provider functions, a ``for`` expression checkov already
substituted into) becomes an opaque Symbol whose reason names the expression,
so a verdict that depends on it is "not verified" (CTKMS007), and says why.

Stdlib only; nothing here imports checkov or any HCL parser.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Optional

from ..values import Symbol, SymStr, is_text, make_text, parts_of, render
from ..tfnames import ACCOUNT, PARTITION, REGION  # noqa: F401  (re-exported)

MAX_DEPTH = 60
MAX_TEXT = 1_000_000  # longer rendered values are not read (unknown, and said so)
_SHORT = 100  # how much of an expression a message quotes


# data sources whose values are the environment's: (attributes that hold it, symbol)
ENV_DATA = {
    "aws_partition": ({"partition", "id"}, PARTITION),
    "aws_region": ({"name", "region", "id"}, REGION),
    "aws_caller_identity": ({"account_id", "id"}, ACCOUNT),
}


class ParseError(Exception):
    pass


@dataclass(frozen=True)
class Failure(Symbol):
    """An expression Terraform itself would reject (a missing map key, an index out of range):
    unknown like any Symbol, and skipped by ``try()``."""


def short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + "..."


def opaque(what: str, reason: str) -> Symbol:
    return Symbol(short(what), "opaque", reason)


def not_evaluated(text: str) -> Symbol:
    t = short(text)
    return Symbol(t, "opaque", f"checkov did not evaluate {t}")


# --------------------------------------------------------------------------- syntax tree

# Nodes are tuples: ("lit", value) ("tpl", [str | node]) ("ref", [parts]) ("call", name, [args], text)
# ("cond", c, a, b, text) ("op", op, a, b, text) ("not", a) ("neg", a) ("index", obj, key, text)
# ("attr", obj, name) ("list", [items]) ("obj", [(key node, value node)]) ("splat", obj, text)
# ("forexpr", "[" | "{", [names], collection, expr | key expr, None | value expr, None | condition, text)
# ("for", text): a for expression that is not evaluated

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:::[A-Za-z_][A-Za-z0-9_-]*)*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_TERMINATORS = ",:}])="
_OPEN = "([{"
_CLOSE = ")]}"
_KEYWORDS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_BINARY = (("||", 1), ("&&", 2), ("==", 3), ("!=", 3), (">=", 4), ("<=", 4), (">", 4), ("<", 4),
           ("+", 5), ("-", 5), ("*", 6), ("/", 6), ("%", 6))


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


class Parser:
    """Recursive descent over checkov's leftover text (HCL expressions and Python reprs)."""

    def __init__(self, text: str, depth: int = 0):
        self.s = text
        self.i = 0
        self.depth = depth
        if depth > MAX_DEPTH:
            raise ParseError("nested too deeply")

    # ------------------------------------------------------------ helpers

    def ws(self) -> None:
        s = self.s
        while self.i < len(s):
            ch = s[self.i]
            if ch.isspace():
                self.i += 1
            elif s.startswith("#", self.i) or s.startswith("//", self.i):
                j = s.find("\n", self.i)
                self.i = len(s) if j < 0 else j + 1
            else:
                break

    def peek(self, tok: str) -> bool:
        self.ws()
        return self.s.startswith(tok, self.i)

    def eat(self, tok: str) -> bool:
        if self.peek(tok):
            self.i += len(tok)
            return True
        return False

    def expect(self, tok: str) -> None:
        if not self.eat(tok):
            raise ParseError(f"expected {tok!r} at {self.i} in {short(self.s)!r}")

    def at_end(self) -> bool:
        self.ws()
        return self.i >= len(self.s)

    # ------------------------------------------------------------ expressions

    def expr(self) -> tuple:
        start = self.i
        c = self.binary(0)
        if self.peek("?") and not self.peek("??"):
            self.i += 1
            a = self.expr()
            self.expect(":")
            b = self.expr()
            return ("cond", c, a, b, self.s[start:self.i].strip())
        return c

    def binary(self, level: int) -> tuple:
        start = self.i
        left = self.unary()
        while True:
            self.ws()
            for op, prec in _BINARY:  # longer operators first: ">=" before ">"
                if prec > level and self.s.startswith(op, self.i):
                    self.i += len(op)
                    right = self.binary(prec)
                    left = ("op", op, left, right, self.s[start:self.i].strip())
                    break
            else:
                return left

    def unary(self) -> tuple:
        if self.eat("!"):
            return ("not", self.unary())
        self.ws()
        if self.s.startswith("-", self.i) and not _NUMBER.match(self.s, self.i):
            self.i += 1
            return ("neg", self.unary())
        return self.postfix()

    def postfix(self) -> tuple:
        start = self.i
        node = self.primary()
        while True:
            if self.peek(".*") or self.peek("[*]"):
                self.i += 2 if self.s.startswith(".*", self.i) else 3
                node = ("splat", node, self.s[start:self.i].strip())
                continue
            if self.peek(".") and not self.peek(".."):
                save = self.i
                self.i += 1
                self.ws()
                m = _IDENT.match(self.s, self.i) or re.compile(r"\d+").match(self.s, self.i)
                if not m:
                    self.i = save
                    return node
                self.i = m.end()
                node = _attr(node, m.group(0))
                continue
            if self.peek("["):
                self.i += 1
                key = self.expr()
                self.expect("]")
                node = ("index", node, key, self.s[start:self.i].strip())
                continue
            return node

    def primary(self) -> tuple:
        self.ws()
        s, i = self.s, self.i
        if i >= len(s):
            raise ParseError("unexpected end")
        ch = s[i]
        if ch in "'\"":
            return self.string()
        if s.startswith("<<", i):
            raise ParseError("heredoc")
        if ch == "(":
            self.i += 1
            node = self.expr()
            self.expect(")")
            return node
        if ch == "[":
            return self.list_()
        if ch == "{":
            return self.object_()
        if s.startswith("${", i):  # a template without quotes (checkov's nested interpolations)
            return self.bare_template()
        m = _NUMBER.match(s, i)
        if m and (m.end() >= len(s) or not (s[m.end()].isalpha() or s[m.end()] in "_-")):
            self.i = m.end()
            text = m.group(0)
            return ("lit", float(text) if any(c in text for c in ".eE") else int(text))
        m = _IDENT.match(s, i)
        if m:
            name = m.group(0)
            self.i = m.end()
            if self.peek("("):
                self.i += 1
                args = []
                while not self.peek(")"):
                    args.append(self.expr())
                    if self.eat("..."):
                        pass
                    if not self.eat(","):
                        break
                self.expect(")")
                return ("call", name, args, s[i:self.i])
            if name in _KEYWORDS:
                return ("lit", _KEYWORDS[name])
            return ("ref", [name])
        raise ParseError(f"unexpected {ch!r} at {i} in {short(s)!r}")

    def list_(self) -> tuple:
        start = self.i
        self.expect("[")
        self.ws()
        if re.match(r"for\s", self.s[self.i:self.i + 4]):
            return self.for_(start, "[", "]")
        items = []
        while not self.peek("]"):
            items.append(self.expr())
            if not self.eat(","):
                break
        self.expect("]")
        return ("list", items)

    def object_(self) -> tuple:
        start = self.i
        self.expect("{")
        self.ws()
        if re.match(r"for\s", self.s[self.i:self.i + 4]):
            return self.for_(start, "{", "}")
        items = []
        while not self.peek("}"):
            self.ws()
            m = _IDENT.match(self.s, self.i)
            if m and self.s[m.end():m.end() + 1] in ("=", ":", " ", "\t", "\n") and not self.s.startswith("(", m.end()):
                save = self.i
                self.i = m.end()
                if self.eat("=") or self.eat(":"):
                    key: tuple = ("lit", m.group(0))
                else:
                    self.i = save
                    key = self.expr()
                    if not (self.eat("=") or self.eat(":")):
                        raise ParseError("object key without value")
            else:
                key = self.expr()
                if not (self.eat("=") or self.eat(":")):
                    raise ParseError("object key without value")
            value = self.expr()
            items.append((key, value))
            if not self.eat(","):
                self.ws()
                if self.peek("}"):
                    break
                # HCL objects may separate items with newlines only
                continue
        self.expect("}")
        return ("obj", items)

    def for_(self, start: int, open_: str, close: str) -> tuple:
        """``[for k, v in coll : expr if cond]`` / ``{for k, v in coll : kexpr => vexpr if cond}``;
        ("for", text) when it does not parse (the text is kept for messages)."""
        try:
            self.i += 3
            names = []
            while True:
                self.ws()
                m = _IDENT.match(self.s, self.i)
                if not m:
                    raise ParseError("for without a variable")
                names.append(m.group(0))
                self.i = m.end()
                if not self.eat(","):
                    break
            self.ws()
            if not re.match(r"in\s", self.s[self.i:self.i + 3]):
                raise ParseError("for without in")
            self.i += 2
            coll = self.expr()
            self.expect(":")
            first = self.expr()
            value = None
            if open_ == "{":
                self.expect("=>")
                value = self.expr()
                self.eat("...")
            cond = None
            self.ws()
            if re.match(r"if\s", self.s[self.i:self.i + 3]):
                self.i += 2
                cond = self.expr()
            self.expect(close)
            if len(names) > 2:
                raise ParseError("for with more than two variables")
            return ("forexpr", open_, names, coll, first, value, cond, self.s[start:self.i])
        except ParseError:
            return ("for", self._skip_to_close(start, open_, close))

    def _skip_to_close(self, start: int, open_: str, close: str) -> str:
        depth = 0
        s = self.s
        i = start
        quote = ""
        while i < len(s):
            ch = s[i]
            if quote:
                if ch == "\\":
                    i += 2
                    continue
                if ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch in _OPEN:
                depth += 1
            elif ch in _CLOSE:
                depth -= 1
                if depth == 0:
                    self.i = i + 1
                    return s[start:self.i]
            i += 1
        raise ParseError("unterminated for expression")

    def string(self) -> tuple:
        """A quoted string. checkov's reprs do not escape nested quotes, so a quote ends the
        string only when the text after it can continue the expression and the brackets
        inside are balanced."""
        s = self.s
        q = s[self.i]
        begin = self.i + 1
        j = begin
        first: Optional[int] = None
        while j < len(s):
            ch = s[j]
            if ch == "\\" and j + 1 < len(s):
                j += 2
                continue
            if ch == q:
                k = j + 1
                while k < len(s) and s[k] in " \t\r\n":
                    k += 1
                if k >= len(s) or s[k] in _TERMINATORS or s[k] in "?[.&|<>+" or s.startswith("!=", k) \
                        or re.match(r"(if|for|in)\s", s[k:k + 4]):
                    raw = s[begin:j]
                    if first is None:
                        first = j
                    if _balanced(raw) and _interpolations_closed(raw):
                        self.i = j + 1
                        return self._template(_unescape(raw))
            j += 1
        if first is not None:
            self.i = first + 1
            return self._template(_unescape(s[begin:first]))
        raise ParseError("unterminated string")

    def bare_template(self) -> tuple:
        start = self.i
        end = _interpolation_end(self.s, start)
        if end < 0:
            raise ParseError("unterminated interpolation")
        self.i = end
        return self._template(self.s[start:end])

    def _template(self, text: str) -> tuple:
        if re.match(r"\s*[\[{]\s*for\s", text):
            # checkov quoted a for expression it did not evaluate, after substituting inside it
            # (``"arn:...:role/${role}"`` became ``...:role/role``): not evaluated from this text
            return ("for", text.strip())
        return ("tpl", split_template(text, self.depth + 1))


def _ref_parts(node: tuple) -> Optional[list]:
    """``aws_kms_key.k[0].arn`` as ``["aws_kms_key", "k[0]", "arn"]``: a resource reference with a
    literal instance key (count or for_each), else None."""
    if node[0] == "ref":
        return list(node[1])
    if node[0] == "attr":
        inner = _ref_parts(node[1])
        return None if inner is None else inner + [node[2]]
    if node[0] == "index":
        k = node[2]
        if k[0] == "lit" and isinstance(k[1], int) and not isinstance(k[1], bool):
            key: Any = k[1]
        elif k[0] == "tpl" and len(k[1]) == 1 and isinstance(k[1][0], str):
            key = k[1][0]
        else:
            return None
        inner = _ref_parts(node[1])
        if inner is None or len(inner) != 2 or inner[0] in ("var", "local", "module", "data"):
            return None
        return [inner[0], f"{inner[1]}[{key}]" if isinstance(key, int) else f'{inner[1]}["{key}"]']
    return None


def _attr(node: tuple, name: str) -> tuple:
    if node[0] == "ref":
        return ("ref", node[1] + [name])
    return ("attr", node, name)


def _unescape(raw: str) -> str:
    if "\\" not in raw:
        return raw
    out = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _interpolations_closed(text: str) -> bool:
    i = 0
    while True:
        j = text.find("${", i)
        if j < 0:
            return True
        end = _interpolation_end(text, j)
        if end < 0:
            return False
        i = end


@functools.lru_cache(maxsize=4096)
def _interpolation_end(text: str, start: int) -> int:
    """The index just after the ``}`` that closes the ``${`` at ``start``, or -1 (cached: nested
    templates ask again for the same interpolations)."""
    try:
        p = Parser(text)
        p.i = start + 2
        p.expr()
        p.ws()
        if p.i < len(text) and text[p.i] == "}":
            return p.i + 1
    except (ParseError, RecursionError):
        pass
    # Fall back to brace counting (quotes ignored)
    depth = 0
    for k in range(start + 1, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return k + 1
    return -1


def split_template(text: str, depth: int = 0) -> list:
    """Literal text and interpolation nodes of a template string."""
    if depth > MAX_DEPTH:
        raise ParseError("nested too deeply")
    parts: list = []
    i = 0
    while True:
        j = text.find("${", i)
        if j < 0 or (j > 0 and text[j - 1] == "$"):
            if j >= 0:  # "$${" is a literal "${"
                parts.append(text[i:j - 1] + "${")
                i = j + 2
                continue
            parts.append(text[i:])
            break
        parts.append(text[i:j])
        end = _interpolation_end(text, j)
        if end < 0:
            parts.append(text[j:])
            break
        parts.append(_parse_interpolation(text[j + 2:end - 1], depth + 1))
        i = end
    return [p for p in parts if p != ""]


@functools.lru_cache(maxsize=4096)
def _parse_interpolation(inner: str, depth: int) -> tuple:
    try:
        p = Parser(inner, depth)
        node = p.expr()
        if not p.at_end():
            return ("bad", inner)
        return node
    except (ParseError, RecursionError):
        return ("bad", inner)


def parse_expression(text: str) -> tuple:
    p = Parser(text)
    node = p.expr()
    if not p.at_end():
        raise ParseError(f"trailing text in {short(text)!r}")
    return node


# --------------------------------------------------------------------------- evaluation


class Resolver:
    """Looks references up; the graph-backed implementation is in ``analysis``."""

    def reference(self, parts: list, text: str, ctx: Any) -> Any:  # pragma: no cover - interface
        return not_evaluated(text)


@dataclass(frozen=True)
class Choice:
    """A conditional whose condition is not known: both branches are possible."""

    label: str
    when_true: Any
    when_false: Any


_REF_FULL = re.compile(
    r"^(?:(?:var|local)\.[A-Za-z_][\w-]*|module\.[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*|data\.[a-z][\w]*\.[A-Za-z_][\w-]*(?:\[[^\]]+\])?\.[A-Za-z_]\w*"
    r"|[a-z][a-z0-9]*_[\w]+\.[A-Za-z_][\w-]*(?:\[[^\]]+\])?(?:\.[A-Za-z_]\w*)+)$")
_REF_IN_TEXT = re.compile(
    r"(?<![\w.$/-])(?:data\.aws_(?:partition|region|caller_identity)\.[A-Za-z_][\w-]*\.[a-z_]+"
    r"|(?:var|local)\.[A-Za-z_][\w-]*"
    r"|module\.[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*"
    r"|data\.[a-z][\w]*\.[A-Za-z_][\w-]*\.[a-z_]+)")
_CALL = re.compile(r"^[A-Za-z_][\w-]*(?:::[A-Za-z_][\w-]*)*\(")


_FOR = re.compile(r"[\[{]\s*for\s+[A-Za-z_]")


def has_for_expression(raw: Any) -> bool:
    """Does an unrendered value hold a ``for`` expression (which checkov mis-renders)?"""
    try:
        text = json.dumps(raw, default=str)
    except (TypeError, ValueError):
        text = str(raw)
    return bool(_FOR.search(text))


def looks_like_expression(text: str) -> bool:
    """Is a whole rendered value checkov's leftover expression (rather than literal text)?"""
    t = text.strip()
    if not t:
        return False
    if t.startswith("${") and _interpolation_end(t, 0) == len(t):
        return True
    if _REF_FULL.match(t):
        return True
    if _CALL.match(t) and t.endswith(")"):
        return True
    if t[0] in "[{" and t[-1] in "]}":
        return True
    if " ? " in t and " : " in t:
        return True
    return False


class Evaluator:
    """Evaluate parsed leftovers against a resolver. ``ctx`` is passed back to the resolver
    (the graph vertex and attribute the value belongs to)."""

    def __init__(self, resolver: Resolver, choices: Optional[dict] = None):
        self.resolver = resolver
        self.choices: dict = choices if choices is not None else {}
        self.scopes: list[dict] = []  # the variables of the for expressions being evaluated

    # ------------------------------------------------------------ entry points

    def value(self, raw: Any, ctx: Any, depth: int = 0) -> Any:
        """A rendered value (as found in a vertex) as data with symbols."""
        if depth > MAX_DEPTH:
            return opaque("value", "the value is nested too deeply to read")
        if isinstance(raw, dict):
            return {str(k): self.value(v, ctx, depth + 1) for k, v in raw.items() if not _internal_key(k)}
        if isinstance(raw, (list, tuple)):
            return [self.value(v, ctx, depth + 1) for v in raw]
        if isinstance(raw, str):
            return self.text_value(raw, ctx, depth)
        return raw

    def text_value(self, text: str, ctx: Any, depth: int = 0) -> Any:
        if len(text) > MAX_TEXT:
            return opaque(text, f"a rendered value of {len(text)} characters is too large to read")
        t = text.strip()
        if t in ("None", "null"):
            return None
        if looks_like_expression(t):
            try:
                node = parse_expression(t)
            except (ParseError, RecursionError):
                return self.template(text, ctx, depth)
            return self.eval(node, ctx, depth + 1)
        return self.template(text, ctx, depth)

    def template(self, text: str, ctx: Any, depth: int = 0) -> Any:
        try:
            parts = split_template(text)
        except (ParseError, RecursionError):
            return not_evaluated(text)
        return self._join(parts, ctx, depth)

    # ------------------------------------------------------------ nodes

    def _join(self, parts: list, ctx: Any, depth: int) -> Any:
        if len(parts) == 1 and not isinstance(parts[0], str):
            return self.eval(parts[0], ctx, depth + 1)  # "${x}" is x itself (any type)
        out: list = []
        for p in parts:
            if isinstance(p, str):
                out.extend(self.literal_text(p, ctx, depth))
                continue
            v = self.eval(p, ctx, depth + 1)
            out.append(self._as_text(v, p))
        return make_text(out) if out else ""

    def literal_text(self, text: str, ctx: Any, depth: int) -> list:
        """Literal text in which checkov substituted a reference without its ``${}``."""
        out: list = []
        i = 0
        for m in _REF_IN_TEXT.finditer(text):
            out.append(text[i:m.start()])
            v = self.eval(("ref", m.group(0).split(".")), ctx, depth + 1)
            out.append(self._as_text(v, ("ref", [m.group(0)])))
            i = m.end()
        out.append(text[i:])
        return [p for p in out if p != ""]

    def _as_text(self, v: Any, node: Any) -> Any:
        if isinstance(v, Choice):
            return self._choice_symbol(v)
        if is_text(v):
            return v
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if v is None:
            return ""
        return opaque(_node_text(node), f"{short(_node_text(node))} is not a string")

    def _choice_symbol(self, c: Choice) -> Symbol:
        sym = Symbol(f"choice:{c.label}#{len(self.choices)}", "opaque", f"{c.label} is not known")
        self.choices[sym] = c
        return sym

    def eval(self, node: Any, ctx: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return opaque("expression", "the expression is nested too deeply to evaluate")
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "tpl":
            return self._join(node[1], ctx, depth)
        if kind == "bad":
            return not_evaluated(node[1])
        if kind == "ref":
            parts = node[1]
            for scope in reversed(self.scopes):
                if parts[0] in scope:
                    return self._rest_of(scope[parts[0]], parts[1:], ".".join(parts))
            return self.resolver.reference(parts, ".".join(parts), ctx)
        if kind in ("attr", "index"):
            # aws_kms_key.k[0].arn is one reference, with its instance key
            parts = _ref_parts(node)
            if parts is not None and not any(parts[0] in scope for scope in self.scopes):
                return self.resolver.reference(parts, ".".join(parts), ctx)
        if kind == "attr":
            obj = self.eval(node[1], ctx, depth + 1)
            return self._get(obj, node[2], f"{_node_text(node[1])}.{node[2]}")
        if kind == "index":
            obj = self.eval(node[1], ctx, depth + 1)
            key_node = node[2]
            key = self.eval(key_node, ctx, depth + 1)
            if isinstance(key, str) and isinstance(obj, dict) and key not in obj and _REF_FULL.match(key):
                # checkov quotes a reference it could not resolve: ["var.trail_key"]
                key = self.eval(("ref", key.split(".")), ctx, depth + 1)
            return self._get(obj, key, node[3])
        if kind == "list":
            out = []
            for item in node[1]:
                out.append(self.eval(item, ctx, depth + 1))
            return out
        if kind == "obj":
            res: dict = {}
            for k, v in node[1]:
                key = self.eval(k, ctx, depth + 1) if k[0] != "lit" else k[1]
                if isinstance(key, Choice):
                    return not_evaluated(_node_text(k))
                if not isinstance(key, str):
                    if is_text(key):
                        return opaque(render(key), f"an object key ({render(key)}) is not known")
                    key = render(key) if key is not None else "null"
                res[key] = self.eval(v, ctx, depth + 1)
            return res
        if kind == "cond":
            c = self.eval(node[1], ctx, depth + 1)
            truth = _truth(c)
            if truth is True:
                return self.eval(node[2], ctx, depth + 1)
            if truth is False:
                return self.eval(node[3], ctx, depth + 1)
            label = _node_text(node[1])
            a = self.eval(node[2], ctx, depth + 1)
            b = self.eval(node[3], ctx, depth + 1)
            return Choice(label, a, b)
        if kind == "not":
            t = _truth(self.eval(node[1], ctx, depth + 1))
            return (not t) if t is not None else not_evaluated(_node_text(node))
        if kind == "neg":
            v = self.eval(node[1], ctx, depth + 1)
            return -v if isinstance(v, (int, float)) and not isinstance(v, bool) else not_evaluated(_node_text(node))
        if kind == "op":
            return self._op(node, ctx, depth)
        if kind == "call":
            return self._call(node, ctx, depth)
        if kind == "forexpr":
            return self._for(node, ctx, depth)
        if kind == "for":
            return Symbol(short(node[1]), "opaque", f"checkov did not evaluate the for expression {short(node[1])}")
        if kind == "splat":
            return not_evaluated(node[2])
        return not_evaluated(_node_text(node))

    def _rest_of(self, value: Any, rest: list, text: str) -> Any:
        for p in rest:
            value = self._get(value, p, text)
        return value

    def _for(self, node: tuple, ctx: Any, depth: int) -> Any:
        _kind, open_, names, coll_node, first, value, cond, text = node
        coll = self.eval(coll_node, ctx, depth + 1)
        if isinstance(coll, dict):
            items = list(coll.items())
        elif isinstance(coll, list):
            items = list(enumerate(coll))
        else:
            reason = coll.describe() if isinstance(coll, Symbol) else f"the collection of {short(text)} is not known"
            return Symbol(short(text), "opaque", reason)
        out_list: list = []
        out_map: dict = {}
        for k, v in items:
            scope = {names[0]: v} if len(names) == 1 else {names[0]: k, names[1]: v}
            self.scopes.append(scope)
            try:
                if cond is not None:
                    keep = _truth(self.eval(cond, ctx, depth + 1))
                    if keep is None:
                        return not_evaluated(text)
                    if not keep:
                        continue
                if open_ == "[":
                    out_list.append(self.eval(first, ctx, depth + 1))
                else:
                    key = self.eval(first, ctx, depth + 1)
                    if not isinstance(key, str):
                        return not_evaluated(text)
                    out_map[key] = self.eval(value, ctx, depth + 1)
            finally:
                self.scopes.pop()
        return out_list if open_ == "[" else out_map

    def _get(self, obj: Any, key: Any, text: str) -> Any:
        if isinstance(key, Choice) or isinstance(obj, Choice):
            return not_evaluated(text)
        if isinstance(key, Symbol):
            return Symbol(short(text), "opaque", key.describe())
        if isinstance(key, SymStr):
            return Symbol(short(text), "opaque", "; ".join(s.describe() for s in key.parts if isinstance(s, Symbol)))
        if isinstance(obj, Symbol):
            return obj
        if isinstance(obj, dict):
            k = key if isinstance(key, str) else render(key)
            if k in obj:
                return obj[k]
            return Failure(short(text), "opaque", f"{short(text)}: the key {k!r} is not in the map")
        if isinstance(obj, list) and isinstance(key, (int, float)) and not isinstance(key, bool):
            n = int(key)
            if 0 <= n < len(obj):
                return obj[n]
            return Failure(short(text), "opaque", f"{short(text)}: index {n} is out of range")
        if isinstance(obj, list) and isinstance(key, str) and key.isdigit():
            return self._get(obj, int(key), text)
        return not_evaluated(text)

    def _op(self, node: tuple, ctx: Any, depth: int) -> Any:
        op = node[1]
        a = self.eval(node[2], ctx, depth + 1)
        b = self.eval(node[3], ctx, depth + 1)
        if op in ("==", "!="):
            if _known(a) and _known(b):
                eq = _norm(a) == _norm(b)
                return eq if op == "==" else not eq
            return not_evaluated(node[4])
        if op in ("&&", "||"):
            ta, tb = _truth(a), _truth(b)
            if op == "&&":
                if ta is False or tb is False:
                    return False
                if ta is True and tb is True:
                    return True
            else:
                if ta is True or tb is True:
                    return True
                if ta is False and tb is False:
                    return False
            return not_evaluated(node[4])
        na, nb = _number(a), _number(b)
        if na is None or nb is None:
            return not_evaluated(node[4])
        try:
            return {"<": na < nb, ">": na > nb, "<=": na <= nb, ">=": na >= nb, "+": na + nb, "-": na - nb,
                    "*": na * nb, "/": na / nb, "%": na % nb}[op]
        except (ZeroDivisionError, KeyError):
            return not_evaluated(node[4])

    def _call(self, node: tuple, ctx: Any, depth: int) -> Any:
        name, arg_nodes, text = node[1], node[2], node[3]
        fn = _FUNCTIONS.get(name)
        if fn is None:
            return not_evaluated(text)
        args = [self.eval(a, ctx, depth + 1) for a in arg_nodes]
        if any(isinstance(a, Choice) for a in args):
            args = [self._choice_symbol(a) if isinstance(a, Choice) else a for a in args]
        try:
            return fn(args, text)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError):
            return not_evaluated(text)


def _internal_key(k: Any) -> bool:
    """Keys checkov adds to rendered values (lines, file, plan references)."""
    return isinstance(k, str) and (k.startswith("__") and k.endswith("__") or k in (
        "start_line", "end_line", "references_"))


def _node_text(node: Any) -> str:
    if not isinstance(node, tuple):
        return str(node)
    kind = node[0]
    if kind == "ref":
        return ".".join(str(p) for p in node[1])
    if kind in ("call",):
        return node[3]
    if kind in ("cond", "op"):
        return node[4]
    if kind == "index":
        return node[3]
    if kind == "lit":
        return json.dumps(node[1]) if not isinstance(node[1], str) else f'"{node[1]}"'
    if kind in ("for", "bad"):
        return node[1]
    if kind == "forexpr":
        return node[7]
    if kind == "splat":
        return node[2]
    if kind == "attr":
        return f"{_node_text(node[1])}.{node[2]}"
    if kind == "tpl":
        return "".join(p if isinstance(p, str) else "${" + _node_text(p) + "}" for p in node[1])
    if kind == "not":
        return "!" + _node_text(node[1])
    return kind


def _truth(v: Any) -> Optional[bool]:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


def _known(v: Any) -> bool:
    if isinstance(v, (Symbol, SymStr, Choice)):
        return False
    if isinstance(v, dict):
        return all(_known(x) for x in v.values())
    if isinstance(v, list):
        return all(_known(x) for x in v)
    return True


def _norm(v: Any) -> Any:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return str(v)
    return v


def _number(v: Any) -> Optional[float]:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            return float(v) if "." in v else int(v)
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------- functions

def _unknown_in(args: list) -> Optional[Symbol]:
    for a in args:
        if isinstance(a, Symbol):
            return a
    return None


def _fn_try(args: list, text: str) -> Any:
    for a in args:
        if not isinstance(a, Failure):
            return a
    return not_evaluated(text)


def _fn_can(args: list, text: str) -> Any:
    if len(args) != 1:
        return not_evaluated(text)
    if isinstance(args[0], Failure):
        return False
    return True if _known(args[0]) else not_evaluated(text)


def _fn_concat(args: list, text: str) -> Any:
    out: list = []
    for a in args:
        if isinstance(a, list):
            out.extend(a)
        elif a is None:
            return not_evaluated(text)
        else:  # an unknown list: its elements are unknown
            sym = a if isinstance(a, Symbol) else not_evaluated(text)
            out.append(Symbol(sym.name, "opaque", sym.describe()))
    return out


def _fn_merge(args: list, text: str) -> Any:
    out: dict = {}
    for a in args:
        if not isinstance(a, dict):
            return a if isinstance(a, Symbol) else not_evaluated(text)
        out.update(a)
    return out


def _fn_flatten(args: list, text: str) -> Any:
    def flat(v: Any) -> list:
        res = []
        for x in v:
            if isinstance(x, list):
                res.extend(flat(x))
            else:
                res.append(x)
        return res

    if len(args) != 1 or not isinstance(args[0], list):
        return _unknown_in(args) or not_evaluated(text)
    return flat(args[0])


def _fn_identity(args: list, text: str) -> Any:
    if len(args) != 1:
        return not_evaluated(text)
    return args[0]


def _fn_jsondecode(args: list, text: str) -> Any:
    if len(args) != 1:
        return not_evaluated(text)
    a = args[0]
    if isinstance(a, str):
        try:
            return json.loads(a)
        except ValueError:
            return opaque(text, f"{short(text)}: the text is not JSON")
    if isinstance(a, (dict, list)):
        return a
    return a if isinstance(a, Symbol) else not_evaluated(text)


def _fn_length(args: list, text: str) -> Any:
    if len(args) == 1 and isinstance(args[0], (list, dict, str)):  # elements may be unknown, the count is not
        return len(args[0])
    return not_evaluated(text)


def _fn_compact(args: list, text: str) -> Any:
    if len(args) == 1 and isinstance(args[0], list):
        return [x for x in args[0] if x not in (None, "")]
    return not_evaluated(text)


def _fn_distinct(args: list, text: str) -> Any:
    if len(args) == 1 and isinstance(args[0], list):
        out: list = []
        for x in args[0]:
            if x not in out:
                out.append(x)
        return out
    return not_evaluated(text)


def _fn_case(f):
    def run(args: list, text: str) -> Any:
        if len(args) == 1 and isinstance(args[0], str):
            return f(args[0])
        return not_evaluated(text)
    return run


def _fn_format(args: list, text: str) -> Any:
    if not args or not isinstance(args[0], str) or not all(is_text(a) or isinstance(a, (int, float)) for a in args[1:]):
        return not_evaluated(text)
    fmt = args[0]
    rest = list(args[1:])
    out: list = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            if fmt[i + 1] == "%":
                out.append("%")
                i += 2
                continue
            m = re.match(r"%[-+ #0]*\d*(?:\.\d+)?([sdvqtfeEgGxXob])", fmt[i:])
            if not m or not rest:
                return not_evaluated(text)
            v = rest.pop(0)
            out.extend(parts_of(v) if is_text(v) else [str(v)])
            i += m.end()
            continue
        out.append(fmt[i])
        i += 1
    return make_text(out)


def _fn_join(args: list, text: str) -> Any:
    if len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], list) and all(is_text(x) for x in args[1]):
        out: list = []
        for i, x in enumerate(args[1]):
            if i:
                out.append(args[0])
            out.extend(parts_of(x))
        return make_text(out)
    return not_evaluated(text)


_FUNCTIONS = {
    "try": _fn_try,
    "can": _fn_can,
    "jsonencode": _fn_identity,  # the structure is what a key policy is judged on
    "jsondecode": _fn_jsondecode,
    "tolist": _fn_identity,
    "toset": _fn_identity,
    "tomap": _fn_identity,
    "tostring": _fn_identity,
    "concat": _fn_concat,
    "merge": _fn_merge,
    "flatten": _fn_flatten,
    "length": _fn_length,
    "compact": _fn_compact,
    "distinct": _fn_distinct,
    "lower": _fn_case(str.lower),
    "upper": _fn_case(str.upper),
    "format": _fn_format,
    "join": _fn_join,
}
