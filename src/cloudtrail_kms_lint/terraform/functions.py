"""Terraform's built-in functions over plain data with symbols (stdlib only).

Values are what ``expressions.evaluate`` produces: dict, list, str, bool,
int/float, None, and in place of any value a :class:`~..values.Symbol` (not
known until plan/apply), a :class:`~..values.SymStr` (a string with such
values inside) or a :class:`JsonEncoded` (``jsonencode`` of a structure that
contains symbols).

A function either returns a value (possibly a Symbol: "unknown") or raises
:class:`EvalError` when Terraform itself would report an error (a missing map
key, a wrong argument type); ``try``/``can`` catch those. Functions that are
not implemented here are not errors: the evaluator turns them into Symbols.

``file``/``templatefile`` never touch the file system themselves: they call
the ``read_file`` callback the caller put in the scope (see
:func:`directory_reader`, which confines reads to a root directory).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Optional

from .. import limits
from ..values import Symbol, SymStr, Text, join_text, make_text, parts_of, split_text

MAX_VALUE_DEPTH = limits.MAX_VALUE_DEPTH  # deeper JSON documents are reported as unknown, never a RecursionError
MAX_FILE_BYTES = limits.DEFAULTS.max_read_bytes  # the default; in force: limits.current().max_read_bytes


class EvalError(Exception):
    """Terraform would fail evaluating this (e.g. a map key that does not exist)."""


class JsonEncoded:
    """``jsonencode(value)`` of a value that contains symbols.

    Terraform would produce JSON text at apply time; the text is not known, but
    the structure is, so it is kept: ``jsondecode`` gives ``value`` back and
    :meth:`text` gives the JSON text with the symbols embedded (a SymStr) for
    use inside strings.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def text(self) -> Text:
        return json_text(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonEncoded) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"JsonEncoded({self.value!r})"


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def normalize_number(v: Any) -> Any:
    """Terraform numbers are exact: 2.0 is 2. Integral floats become ints (within float precision)."""
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) < 2 ** 63:
        return int(v)
    return v


def format_number(v: Any) -> str:
    """A number as Terraform writes it in strings and JSON (no exponent: 1e-7 is 0.0000001)."""
    v = normalize_number(v)
    if isinstance(v, int):
        return str(v)
    if not math.isfinite(v):
        raise EvalError(f"{v} is not a number Terraform can represent")
    r = repr(v)
    if "e" in r or "E" in r:
        r = format(Decimal(r), "f")
        if "." in r:
            r = r.rstrip("0").rstrip(".")
    return r


def has_unknown(v: Any, depth: int = 0) -> bool:
    """True when the value contains a Symbol, SymStr or JsonEncoded anywhere."""
    if depth > MAX_VALUE_DEPTH:
        return True
    if isinstance(v, (Symbol, SymStr, JsonEncoded)):
        return True
    if isinstance(v, dict):
        return any(has_unknown(k, depth + 1) or has_unknown(x, depth + 1) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return any(has_unknown(x, depth + 1) for x in v)
    return False


def value_depth_ok(v: Any, limit: int = MAX_VALUE_DEPTH) -> bool:
    """Iteratively check that a value is not nested deeper than ``limit``."""
    stack = [(v, 0)]
    while stack:
        x, d = stack.pop()
        if d > limit:
            return False
        if isinstance(x, dict):
            stack.extend((y, d + 1) for y in x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend((y, d + 1) for y in x)
    return True


def type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def to_text(v: Any, what: str = "value") -> Text:
    """Convert to a string as Terraform does in templates; symbols stay (as Symbol/SymStr)."""
    if isinstance(v, (str, Symbol, SymStr)):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v):
        return format_number(v)
    if isinstance(v, JsonEncoded):
        return v.text()
    if v is None:
        raise EvalError(f"the {what} is null, a string is required")
    raise EvalError(f"the {what} is a {type_name(v)}, a string is required")


def to_number(v: Any, what: str = "value") -> Any:
    """A known number (numeric strings convert); raise EvalError otherwise. Symbols are the caller's business."""
    if is_number(v):
        return normalize_number(v)
    if isinstance(v, str):
        try:
            d = Decimal(v.strip())
        except InvalidOperation:
            raise EvalError(f"the {what} {v!r} is not a number") from None
        if not d.is_finite():
            raise EvalError(f"the {what} {v!r} is not a number")
        return normalize_number(int(d) if d == d.to_integral_value() else float(d))
    raise EvalError(f"the {what} is a {type_name(v)}, a number is required")


def to_bool(v: Any, what: str = "value") -> bool:
    if isinstance(v, bool):
        return v
    if v == "true":
        return True
    if v == "false":
        return False
    if v is None:
        raise EvalError(f"the {what} is null, a bool is required")
    raise EvalError(f"the {what} is a {type_name(v)}, a bool is required")


def tf_equal(a: Any, b: Any, depth: int = 0) -> Optional[bool]:
    """Terraform's ``==``: True/False, or None when it depends on unknown values."""
    if depth > MAX_VALUE_DEPTH:
        return None
    if isinstance(a, (Symbol, SymStr, JsonEncoded)) or isinstance(b, (Symbol, SymStr, JsonEncoded)):
        if type(a) is type(b) and a == b:
            return True
        return None
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return False
        return _all_equal(zip(a, b), depth)
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            if any(isinstance(k, (Symbol, SymStr)) for k in list(a) + list(b)):
                return None
            return False
        return _all_equal(((a[k], b[k]) for k in a), depth)
    return False


def _all_equal(pairs, depth: int) -> Optional[bool]:
    unknown = False
    for x, y in pairs:
        r = tf_equal(x, y, depth + 1)
        if r is False:
            return False
        if r is None:
            unknown = True
    return None if unknown else True


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def _json_string(s: str) -> str:
    # Go's encoding/json (Terraform's jsonencode): UTF-8 kept, <, >, & and U+2028/9 escaped.
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group(0)], json.dumps(s, ensure_ascii=False))


def encode_json(v: Any, depth: int = 0) -> str:
    """Terraform's jsonencode of a known value: compact, object keys sorted."""
    if depth > MAX_VALUE_DEPTH:
        raise EvalError("the value is nested too deeply to encode")
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v):
        return format_number(v)
    if isinstance(v, str):
        return _json_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(encode_json(x, depth + 1) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: str(kv[0]))
        return "{" + ",".join(_json_string(str(k)) + ":" + encode_json(x, depth + 1) for k, x in items) + "}"
    raise EvalError(f"a {type_name(v)} cannot be encoded as JSON")


def json_text(v: Any, depth: int = 0) -> Text:
    """JSON text of a value, with its symbols embedded (inside the quotes of the strings they are part of)."""
    parts: list = []
    _json_parts(v, parts, depth)
    return make_text(parts)


def _json_parts(v: Any, out: list, depth: int) -> None:
    if depth > MAX_VALUE_DEPTH:
        out.append(Symbol("jsonencode", "opaque", "the value is nested too deeply to encode"))
        return
    if isinstance(v, Symbol):
        out.append(v)  # a whole value that is not known: its JSON is not known either
    elif isinstance(v, SymStr):
        out.append('"')
        for p in v.parts:
            out.append(_json_string(p)[1:-1] if isinstance(p, str) else p)
        out.append('"')
    elif isinstance(v, JsonEncoded):
        _json_parts(v.text(), out, depth + 1)
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _json_parts(x, out, depth + 1)
        out.append("]")
    elif isinstance(v, dict):
        out.append("{")
        for i, (k, x) in enumerate(sorted(v.items(), key=lambda kv: _key_order(kv[0]))):
            if i:
                out.append(",")
            _json_parts(k if isinstance(k, (Symbol, SymStr)) else str(k), out, depth + 1)
            out.append(":")
            _json_parts(x, out, depth + 1)
        out.append("}")
    else:
        out.append(encode_json(v, depth))


def _key_order(k: Any) -> str:
    return k if isinstance(k, str) else "".join(p if isinstance(p, str) else "\uffff" for p in parts_of(k))


_PH_OPEN, _PH_CLOSE = "\ue000", "\ue001"
_PH_RE = re.compile(_PH_OPEN + r"(\d+)" + _PH_CLOSE)


def decode_json_text(text: Text) -> Any:
    """``jsondecode`` of JSON text that may contain symbols (a SymStr).

    Each symbol is replaced by a placeholder (quoted when it stands outside a
    JSON string), the text is decoded, and the placeholders are put back: a
    string made only of a placeholder becomes the Symbol, a string containing
    some becomes a SymStr. Raises EvalError when the text is not JSON.
    """
    if isinstance(text, str):
        return _loads(text)
    if isinstance(text, Symbol):
        return text
    symbols: list = []
    buf: list[str] = []
    in_string = False
    escaped = False
    for p in text.parts:
        if isinstance(p, Symbol):
            marker = f"{_PH_OPEN}{len(symbols)}{_PH_CLOSE}"
            symbols.append(p)
            buf.append(marker if in_string else f'"{marker}"')
            escaped = False
            continue
        if _PH_OPEN in p or _PH_CLOSE in p:
            raise EvalError("the JSON text contains private-use characters this tool uses internally")
        buf.append(p)
        for ch in p:
            if escaped:
                escaped = False
            elif ch == "\\" and in_string:
                escaped = True
            elif ch == '"':
                in_string = not in_string
    decoded = _loads("".join(buf))
    return _restore(decoded, symbols, 0)


def _restore(v: Any, symbols: list, depth: int) -> Any:
    if depth > MAX_VALUE_DEPTH:
        return Symbol("jsondecode", "opaque", "the JSON document is nested too deeply")
    if isinstance(v, str):
        if _PH_OPEN not in v:
            return v
        parts: list = []
        pos = 0
        for m in _PH_RE.finditer(v):
            parts.append(v[pos:m.start()])
            parts.append(symbols[int(m.group(1))])
            pos = m.end()
        parts.append(v[pos:])
        return make_text(parts)
    if isinstance(v, list):
        return [_restore(x, symbols, depth + 1) for x in v]
    if isinstance(v, dict):
        return {_restore(k, symbols, depth + 1): _restore(x, symbols, depth + 1) for k, x in v.items()}
    return v


def _loads(s: str) -> Any:
    try:
        v = json.loads(s, parse_float=lambda t: normalize_number(float(t)))
    except RecursionError:
        raise EvalError("the JSON document is nested too deeply") from None
    except ValueError as e:
        raise EvalError(f"the text is not valid JSON: {e}") from None
    if not value_depth_ok(v):
        raise EvalError("the JSON document is nested too deeply")
    return v


def decode_json_value(v: Any) -> Any:
    """What ``jsondecode`` gives for a value: JsonEncoded -> its structure; str/SymStr -> decoded.

    For callers turning a policy attribute into a document. A Symbol stays a
    Symbol; text that is not JSON raises EvalError.
    """
    if isinstance(v, JsonEncoded):
        return v.value
    if isinstance(v, (str, SymStr, Symbol)):
        return decode_json_text(v)
    raise EvalError(f"a {type_name(v)} is not JSON text")


# ---------------------------------------------------------------------------
# Calling functions
# ---------------------------------------------------------------------------


@dataclass
class FunctionContext:
    """What a function call needs besides its arguments."""

    name: str  # the function name
    text: str  # the call as written, for the names of unknown results
    read_file: Optional[Callable[[str], Any]] = None
    render_template: Optional[Callable[[str, dict, str], Any]] = None  # (template text, vars, path)

    def unknown(self, reason: str) -> Symbol:
        return Symbol(self.text, "opaque", reason)

    def unknown_from(self, v: Any) -> Symbol:
        """The call's result is unknown because of argument value ``v``."""
        if isinstance(v, Symbol):
            return self.unknown(v.describe())
        syms = [p for p in parts_of(v) if isinstance(p, Symbol)] if isinstance(v, SymStr) else []
        if syms:
            return self.unknown(f"{self.name}() depends on {syms[0].name}: {syms[0].describe()}")
        return self.unknown(f"{self.name}() depends on a value that is not known until apply")


def _arity(ctx: FunctionContext, args: list, lo: int, hi: Optional[int] = None) -> None:
    hi = lo if hi is None else hi
    if len(args) < lo or (hi >= 0 and len(args) > hi):
        want = str(lo) if lo == hi else (f"at least {lo}" if hi < 0 else f"{lo} to {hi}")
        raise EvalError(f"{ctx.name}() takes {want} argument{'s' if want != '1' else ''}, got {len(args)}")


def _first_unknown(args) -> Any:
    for a in args:
        if isinstance(a, (Symbol, SymStr, JsonEncoded)):
            return a
    return None


def _known_str(ctx: FunctionContext, v: Any, what: str):
    """(text, None) for a known string argument; (None, the call's unknown result) otherwise."""
    if isinstance(v, (Symbol, SymStr, JsonEncoded)):
        return None, ctx.unknown_from(v)
    t = to_text(v, what)
    return t, None


def _list_arg(ctx: FunctionContext, v: Any, what: str):
    if isinstance(v, (Symbol, SymStr, JsonEncoded)):
        return None, ctx.unknown_from(v)
    if isinstance(v, (list, tuple)):
        return list(v), None
    raise EvalError(f"{ctx.name}(): the {what} is a {type_name(v)}, a list is required")


def _map_arg(ctx: FunctionContext, v: Any, what: str):
    if isinstance(v, (Symbol, SymStr, JsonEncoded)):
        return None, ctx.unknown_from(v)
    if isinstance(v, dict):
        return v, None
    raise EvalError(f"{ctx.name}(): the {what} is a {type_name(v)}, a map or object is required")


def fn_jsonencode(ctx, args):
    _arity(ctx, args, 1)
    v = args[0]
    if has_unknown(v):
        return JsonEncoded(v)
    return encode_json(v)


def fn_jsondecode(ctx, args):
    _arity(ctx, args, 1)
    v = args[0]
    if isinstance(v, JsonEncoded):
        return v.value
    if isinstance(v, Symbol):
        return ctx.unknown_from(v)
    if isinstance(v, SymStr):
        try:
            return decode_json_text(v)
        except EvalError as e:
            # where the symbols sit may be what breaks the JSON: not known, rather than an error
            return ctx.unknown(f"jsondecode() of text with values known only at apply: {e}")
    if not isinstance(v, str):
        raise EvalError(f"jsondecode(): the argument is a {type_name(v)}, a string is required")
    return decode_json_text(v)


def _read(ctx: FunctionContext, path: Any):
    if isinstance(path, (Symbol, SymStr, JsonEncoded)):
        return None, ctx.unknown_from(path)
    if not isinstance(path, str):
        raise EvalError(f"{ctx.name}(): the path is a {type_name(path)}, a string is required")
    if ctx.read_file is None:
        return None, ctx.unknown(f"{ctx.name}() is not evaluated: reading {path!r} is not enabled here")
    try:
        content = ctx.read_file(path)
    except (OSError, ValueError) as e:
        msg = getattr(e, "strerror", None) or str(e)
        return None, ctx.unknown(f"{ctx.name}(): cannot read {path!r}: {msg}")
    if isinstance(content, Symbol):
        return None, content
    if not isinstance(content, str):
        return None, ctx.unknown(f"{ctx.name}(): cannot read {path!r}")
    return content, None


def fn_file(ctx, args):
    _arity(ctx, args, 1)
    content, unknown = _read(ctx, args[0])
    return unknown if unknown is not None else content


def fn_templatefile(ctx, args):
    _arity(ctx, args, 2)
    variables, unknown = _map_arg(ctx, args[1], "second argument")
    if unknown is not None:
        return unknown
    for k in variables:
        if not isinstance(k, str):
            return ctx.unknown(f"templatefile(): a variable name is not known ({k})")
    content, unknown = _read(ctx, args[0])
    if unknown is not None:
        return unknown
    if ctx.render_template is None:  # pragma: no cover - the evaluator always supplies it
        return ctx.unknown("templatefile() is not evaluated here")
    return ctx.render_template(content, dict(variables), args[0])


def fn_join(ctx, args):
    _arity(ctx, args, 2, -1)
    sep, unknown = _known_str(ctx, args[0], "separator")
    if unknown is not None:
        return unknown
    items: list = []
    for a in args[1:]:
        lst, unknown = _list_arg(ctx, a, "list")
        if unknown is not None:
            return unknown
        items.extend(lst)
    texts = []
    for x in items:
        if isinstance(x, JsonEncoded):
            x = x.text()
        texts.append(to_text(x, "list element"))
    return join_text(texts, sep)


def fn_concat(ctx, args):
    out: list = []
    for a in args:
        lst, unknown = _list_arg(ctx, a, "argument")
        if unknown is not None:
            return unknown
        out.extend(lst)
    return out


def fn_merge(ctx, args):
    out: dict = {}
    for a in args:
        if a is None:
            continue
        m, unknown = _map_arg(ctx, a, "argument")
        if unknown is not None:
            return unknown
        out.update(m)
    return out


def fn_lookup(ctx, args):
    _arity(ctx, args, 2, 3)
    m, unknown = _map_arg(ctx, args[0], "first argument")
    if unknown is not None:
        return unknown
    key = args[1]
    if isinstance(key, (Symbol, SymStr, JsonEncoded)):
        if key in m:
            return m[key]
        return ctx.unknown_from(key)
    key = to_text(key, "key")
    if key in m:
        return m[key]
    if any(isinstance(k, (Symbol, SymStr)) for k in m):
        return ctx.unknown(f"lookup(): the map has keys known only at apply; {key!r} may be one of them")
    if len(args) == 3:
        return args[2]
    raise EvalError(f"lookup(): the map has no key {key!r} and no default is given")


def fn_coalesce(ctx, args):
    _arity(ctx, args, 1, -1)
    for a in args:
        if a is None or a == "":
            continue
        if isinstance(a, Symbol) and a.kind == "opaque":
            return ctx.unknown(f"coalesce() depends on {a.name}, which may be null or empty: {a.describe()}")
        return a
    raise EvalError("coalesce(): no non-null, non-empty argument")


def fn_coalescelist(ctx, args):
    _arity(ctx, args, 1, -1)
    for a in args:
        lst, unknown = _list_arg(ctx, a, "argument")
        if unknown is not None:
            return unknown
        if lst:
            return lst
    raise EvalError("coalescelist(): no non-empty list argument")


def fn_tolist(ctx, args):
    _arity(ctx, args, 1)
    v = args[0]
    if isinstance(v, Symbol) or v is None:
        return v
    lst, unknown = _list_arg(ctx, v, "argument")
    return unknown if unknown is not None else lst


def fn_toset(ctx, args):
    _arity(ctx, args, 1)
    v = args[0]
    if isinstance(v, Symbol) or v is None:
        return v
    lst, unknown = _list_arg(ctx, v, "argument")
    if unknown is not None:
        return unknown
    return _distinct(lst, sort=True)


def _distinct(items: list, sort: bool = False) -> list:
    out: list = []
    for x in items:
        if not any(type(x) is type(y) and tf_equal(x, y) is True for y in out):
            out.append(x)
    if sort and out and all(isinstance(x, str) for x in out):
        out.sort()
    elif sort and out and all(is_number(x) for x in out):
        out.sort()
    return out


def fn_tomap(ctx, args):
    _arity(ctx, args, 1)
    v = args[0]
    if isinstance(v, Symbol) or v is None:
        return v
    m, unknown = _map_arg(ctx, v, "argument")
    return unknown if unknown is not None else dict(m)


def fn_tostring(ctx, args):
    _arity(ctx, args, 1)
    v = args[0]
    if v is None or isinstance(v, (Symbol, SymStr)):
        return v
    if isinstance(v, (list, tuple, dict)):
        raise EvalError(f"tostring(): a {type_name(v)} cannot be converted to a string")
    return to_text(v)


def fn_tonumber(ctx, args):
    _arity(ctx, args, 1)
    v = args[0]
    if v is None or isinstance(v, Symbol):
        return v
    if isinstance(v, (SymStr, JsonEncoded)):
        return ctx.unknown_from(v)
    return to_number(v, "argument")


def fn_tobool(ctx, args):
    _arity(ctx, args, 1)
    v = args[0]
    if v is None or isinstance(v, Symbol):
        return v
    if isinstance(v, (SymStr, JsonEncoded)):
        return ctx.unknown_from(v)
    return to_bool(v, "argument")


def fn_element(ctx, args):
    _arity(ctx, args, 2)
    lst, unknown = _list_arg(ctx, args[0], "first argument")
    if unknown is not None:
        return unknown
    idx = args[1]
    if isinstance(idx, (Symbol, SymStr, JsonEncoded)):
        return ctx.unknown_from(idx)
    i = to_number(idx, "index")
    if not isinstance(i, int):
        raise EvalError("element(): the index is not a whole number")
    if not lst:
        raise EvalError("element(): the list is empty")
    if i < 0:
        raise EvalError("element(): the index is negative")
    return lst[i % len(lst)]


# Characters that can occur in the values of environment symbols (partition, region, account id).
_ENV_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _literal_safe(text: Text, needle: str) -> bool:
    """True when ``needle`` can only match inside the literal parts of ``text``.

    Holds when every symbol is an environment symbol (partition, region,
    account: lowercase letters, digits and dashes) and ``needle`` has none of
    those characters, so a match can neither include nor straddle a symbol.
    """
    if not needle:
        return False
    syms = [p for p in parts_of(text) if isinstance(p, Symbol)]
    if any(s.kind == "opaque" for s in syms):
        return False
    return not (set(needle) & _ENV_CHARS)


def _go_expand(template: str, m: "re.Match") -> str:
    """Go's regexp.Expand: $1, ${1}, $name, ${name}, $$."""
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        if template[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        if template[i + 1] == "{":
            end = template.find("}", i + 2)
            if end < 0:
                out.append(c)
                i += 1
                continue
            name, i = template[i + 2:end], end + 1
        else:
            j = i + 1
            while j < n and (template[j].isalnum() or template[j] == "_"):
                j += 1
            if j == i + 1:
                out.append(c)
                i += 1
                continue
            name, i = template[i + 1:j], j
        try:
            group = m.group(int(name)) if name.isdigit() else m.group(name)
        except IndexError:  # no such group: Go expands it to nothing
            group = None
        out.append(group or "")
    return "".join(out)


def fn_replace(ctx, args):
    _arity(ctx, args, 3)
    s, substr, repl = args
    for what, v in (("substring", substr), ("replacement", repl)):
        if isinstance(v, (Symbol, SymStr, JsonEncoded)):
            return ctx.unknown_from(v)
    substr = to_text(substr, "substring")
    repl = to_text(repl, "replacement")
    regex = len(substr) > 1 and substr.startswith("/") and substr.endswith("/")
    if isinstance(s, JsonEncoded):
        s = s.text()
    if isinstance(s, (Symbol, SymStr)):
        if not regex and _literal_safe(s, substr):
            return make_text([p.replace(substr, repl) if isinstance(p, str) else p for p in parts_of(s)])
        return ctx.unknown_from(s)
    s = to_text(s, "string")
    if not regex:
        return s.replace(substr, repl)
    pattern = substr[1:-1].replace("\\z", "\\Z")
    try:
        rx = re.compile(pattern)
    except re.error as e:
        return ctx.unknown(f"replace(): the regular expression {substr} is not supported here: {e}")
    return rx.sub(lambda m: _go_expand(repl, m), s)


def fn_format(ctx, args):
    _arity(ctx, args, 1, -1)
    spec = args[0]
    if isinstance(spec, (Symbol, SymStr, JsonEncoded)):
        return ctx.unknown_from(spec)
    spec = to_text(spec, "format")
    return _format(ctx, spec, args[1:])


_VERB_RE = re.compile(r"%([-+# 0]*)(?:\[(\d+)\])?(\d+)?(?:\.(\d*))?(?:\[(\d+)\])?([a-zA-Z%])?")


def _format(ctx: FunctionContext, spec: str, args: list) -> Any:
    out: list = []
    argi = 0
    used = set()
    explicit = False
    i = 0
    while i < len(spec):
        j = spec.find("%", i)
        if j < 0:
            out.append(spec[i:])
            break
        out.append(spec[i:j])
        m = _VERB_RE.match(spec, j)
        flags, idx1, width, prec, idx2, verb = m.groups()
        i = m.end()
        if verb is None:
            raise EvalError(f"format(): incomplete verb at the end of {spec!r}")
        if verb == "%":
            out.append("%")
            continue
        if idx1 or idx2:
            explicit = True
            argi = int(idx1 or idx2) - 1
        if argi < 0 or argi >= len(args):
            raise EvalError(f"format(): not enough arguments for {spec!r}")
        v = args[argi]
        used.add(argi)
        argi += 1
        out.append(_format_one(ctx, v, flags, width, prec, verb))
    if len(used) < len(args) and not explicit:
        raise EvalError(f"format(): too many arguments for {spec!r}")
    return make_text(out)


def _bounded(number: Optional[str], what: str) -> None:
    if number and (len(number) > 6 or int(number) > limits.MAX_FORMAT_WIDTH):
        raise EvalError(f"format(): the {what} {number[:12]} is larger than {limits.MAX_FORMAT_WIDTH}")


def _pad(s: str, flags: str, width: Optional[str]) -> str:
    if not width:
        return s
    w = int(width)
    if "-" in flags:
        return s.ljust(w)
    return s.rjust(w)


def _format_one(ctx: FunctionContext, v: Any, flags: str, width: Optional[str], prec: Optional[str], verb: str) -> Any:
    _bounded(width, "width")
    _bounded(prec, "precision")
    if isinstance(v, JsonEncoded):
        v = v.text() if verb in "sv" else v
    if isinstance(v, (Symbol, SymStr, JsonEncoded)):
        if verb in "sv" and not width and prec is None:
            return v
        if verb == "q" and not width and prec is None:
            return make_text(['"', v, '"'])
        return ctx.unknown_from(v)
    if verb in "vs":
        if verb == "v" and "#" in flags:
            text = encode_json(v)
        elif verb == "v" and isinstance(v, (list, tuple, dict)):
            text = encode_json(v)
        elif verb == "v" and v is None:
            text = "null"
        else:
            text = to_text(v, "argument")
        if prec is not None and prec != "":
            text = text[: int(prec)]
        return _pad(text, flags, width)
    if verb == "q":
        return _pad(_json_string(to_text(v, "argument")), flags, width)
    if verb == "t":
        return _pad("true" if to_bool(v, "argument") else "false", flags, width)
    if verb in "dbxXo":
        n = to_number(v, "argument")
        if not isinstance(n, int):
            raise EvalError(f"format(): %{verb} needs a whole number, got {format_number(n)}")
        code = {"d": "d", "b": "b", "x": "x", "X": "X", "o": "o"}[verb]
        pyspec = _py_spec(flags, width, None, code)
        return format(n, pyspec)
    if verb in "eEfgG":
        n = to_number(v, "argument")
        code = verb if verb != "F" else "f"
        p = prec if prec not in (None, "") else ("6" if verb in "eEf" else None)
        if verb in "gG" and p is None:
            text = format_number(n)
            return _pad(text, flags, width)
        return format(float(n), _py_spec(flags, width, p, code))
    raise EvalError(f"format(): unsupported verb %{verb}")


def _py_spec(flags: str, width: Optional[str], prec: Optional[str], code: str) -> str:
    spec = ""
    if "-" in flags:
        spec += "<"
    if "+" in flags:
        spec += "+"
    elif " " in flags:
        spec += " "
    if "#" in flags and code in "bxXo":
        spec += "#"
    if "0" in flags and "-" not in flags:
        spec += "0"
    if width:
        spec += width
    if prec:
        spec += "." + prec
    return spec + code


def fn_length(ctx, args):
    _arity(ctx, args, 1)
    v = args[0]
    if isinstance(v, (Symbol, SymStr, JsonEncoded)):
        return ctx.unknown_from(v)
    if isinstance(v, (str, list, tuple, dict)):
        return len(v)
    raise EvalError(f"length(): a {type_name(v)} has no length")


def fn_lower(ctx, args):
    _arity(ctx, args, 1)
    v = args[0]
    if isinstance(v, (Symbol, SymStr)) and all(not isinstance(p, Symbol) or p.kind != "opaque" for p in parts_of(v)):
        # partition, region and account values are lowercase already
        return make_text([p.lower() if isinstance(p, str) else p for p in parts_of(v)])
    if isinstance(v, (Symbol, SymStr, JsonEncoded)):
        return ctx.unknown_from(v)
    return to_text(v, "argument").lower()


def _str_fn(op: Callable[[str], Any]):
    def fn(ctx, args):
        _arity(ctx, args, 1)
        v = args[0]
        if isinstance(v, (Symbol, SymStr, JsonEncoded)):
            return ctx.unknown_from(v)
        return op(to_text(v, "argument"))

    return fn


def _str2_fn(op: Callable[[str, str], Any]):
    def fn(ctx, args):
        _arity(ctx, args, 2)
        a, b = args
        for v in (a, b):
            if isinstance(v, (Symbol, SymStr, JsonEncoded)):
                return ctx.unknown_from(v)
        return op(to_text(a, "first argument"), to_text(b, "second argument"))

    return fn


def _trimprefix(s: str, p: str) -> str:
    return s[len(p):] if p and s.startswith(p) else s


def _trimsuffix(s: str, p: str) -> str:
    return s[: -len(p)] if p and s.endswith(p) else s


def fn_split(ctx, args):
    _arity(ctx, args, 2)
    sep, s = args
    if isinstance(sep, (Symbol, SymStr, JsonEncoded)):
        return ctx.unknown_from(sep)
    sep = to_text(sep, "separator")
    if isinstance(s, (Symbol, SymStr)):
        if _literal_safe(s, sep):
            return split_text(s, sep)
        return ctx.unknown_from(s)
    if isinstance(s, JsonEncoded):
        return ctx.unknown_from(s)
    s = to_text(s, "string")
    if sep == "":
        return list(s)
    return s.split(sep)


def fn_flatten(ctx, args):
    _arity(ctx, args, 1)
    lst, unknown = _list_arg(ctx, args[0], "argument")
    if unknown is not None:
        return unknown
    out: list = []
    stack = [iter(lst)]
    while stack:
        for x in stack[-1]:
            if isinstance(x, (list, tuple)):
                if len(stack) > MAX_VALUE_DEPTH:
                    raise EvalError("flatten(): the list is nested too deeply")
                stack.append(iter(x))
                break
            if isinstance(x, Symbol) and x.kind == "opaque":
                return ctx.unknown(f"flatten() depends on {x.name}, which may be a list: {x.describe()}")
            out.append(x)
        else:
            stack.pop()
    return out


def fn_distinct(ctx, args):
    _arity(ctx, args, 1)
    lst, unknown = _list_arg(ctx, args[0], "argument")
    return unknown if unknown is not None else _distinct(lst)


def fn_compact(ctx, args):
    _arity(ctx, args, 1)
    lst, unknown = _list_arg(ctx, args[0], "argument")
    if unknown is not None:
        return unknown
    out = []
    for x in lst:
        if x is None or x == "":
            continue
        if isinstance(x, Symbol) and x.kind == "opaque":
            return ctx.unknown(f"compact() depends on {x.name}, which may be empty: {x.describe()}")
        out.append(x)
    return out


def fn_contains(ctx, args):
    _arity(ctx, args, 2)
    lst, unknown = _list_arg(ctx, args[0], "first argument")
    if unknown is not None:
        return unknown
    undecided = False
    for x in lst:
        r = tf_equal(x, args[1])
        if r is True:
            return True
        if r is None:
            undecided = True
    if undecided:
        return ctx.unknown("contains() compares with values known only at apply")
    return False


def fn_keys(ctx, args):
    _arity(ctx, args, 1)
    m, unknown = _map_arg(ctx, args[0], "argument")
    if unknown is not None:
        return unknown
    return sorted(m, key=_key_order)


def fn_values(ctx, args):
    _arity(ctx, args, 1)
    m, unknown = _map_arg(ctx, args[0], "argument")
    if unknown is not None:
        return unknown
    return [m[k] for k in sorted(m, key=_key_order)]


def fn_one(ctx, args):
    _arity(ctx, args, 1)
    lst, unknown = _list_arg(ctx, args[0], "argument")
    if unknown is not None:
        return unknown
    if len(lst) > 1:
        raise EvalError(f"one(): the list has {len(lst)} elements")
    return lst[0] if lst else None


def fn_identity(ctx, args):
    _arity(ctx, args, 1)
    return args[0]


FUNCTIONS: dict[str, Callable[[FunctionContext, list], Any]] = {
    "jsonencode": fn_jsonencode,
    "jsondecode": fn_jsondecode,
    "file": fn_file,
    "templatefile": fn_templatefile,
    "format": fn_format,
    "join": fn_join,
    "concat": fn_concat,
    "merge": fn_merge,
    "lookup": fn_lookup,
    "coalesce": fn_coalesce,
    "coalescelist": fn_coalescelist,
    "tolist": fn_tolist,
    "toset": fn_toset,
    "tomap": fn_tomap,
    "tostring": fn_tostring,
    "tonumber": fn_tonumber,
    "tobool": fn_tobool,
    "element": fn_element,
    "replace": fn_replace,
    "length": fn_length,
    "lower": fn_lower,
    "upper": _str_fn(str.upper),
    "trimspace": _str_fn(str.strip),
    "chomp": _str_fn(lambda s: s.rstrip("\r\n")),
    "trimprefix": _str2_fn(_trimprefix),
    "trimsuffix": _str2_fn(_trimsuffix),
    "startswith": _str2_fn(lambda s, p: s.startswith(p)),
    "endswith": _str2_fn(lambda s, p: s.endswith(p)),
    "split": fn_split,
    "flatten": fn_flatten,
    "distinct": fn_distinct,
    "compact": fn_compact,
    "contains": fn_contains,
    "keys": fn_keys,
    "values": fn_values,
    "one": fn_one,
    "sensitive": fn_identity,
    "nonsensitive": fn_identity,
}

# Evaluated by the expression evaluator itself (their arguments are expressions, not values).
SPECIAL_FORMS = ("try", "can")


def call_function(name: str, args: list, ctx: FunctionContext) -> Any:
    """Call a built-in function. Unknown functions give a Symbol naming the call; errors raise EvalError."""
    fn = FUNCTIONS.get(name)
    if fn is None:
        return ctx.unknown(f"{ctx.text} is not evaluated: function {name}() is not supported")
    return fn(ctx, args)


# ---------------------------------------------------------------------------
# Reading files for file() / templatefile()
# ---------------------------------------------------------------------------


def directory_reader(base_dir: str, root_dir: Optional[str] = None,
                     max_bytes: Optional[int] = None) -> Callable[[str], str]:
    """A ``read_file`` callback: relative paths resolve against ``base_dir``; nothing outside ``root_dir``.

    ``root_dir`` defaults to ``base_dir``. Symlinks are resolved before the
    check. Raises OSError/ValueError (which ``file()`` reports as unknown) for
    paths outside the root (absolute paths, ``..``, ``~``, symbolic links
    that leave it), missing files, anything but a regular file, files over
    ``max_bytes`` (default: ``limits.current().max_read_bytes``) and
    non-UTF-8 content.
    """
    root = os.path.realpath(root_dir or base_dir)

    def read(path: str) -> str:
        if "\x00" in path:
            raise ValueError(f"{path!r} is not a valid path")
        limit = max_bytes if max_bytes is not None else limits.current().max_read_bytes
        full = os.path.realpath(os.path.join(base_dir, os.path.expanduser(path)))  # ~ as Terraform
        if os.path.commonpath([full, root]) != root:
            raise ValueError(f"{path} is outside the scanned directory")
        st = os.stat(full)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if st.st_size > limit:
            raise ValueError(f"{path} is larger than {limit} bytes (limit max-read-bytes)")
        with open(full, "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"{path} is larger than {limit} bytes (limit max-read-bytes)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not UTF-8 text") from None
        return text[1:] if text.startswith("\ufeff") else text

    return read


__all__ = [
    "EvalError", "JsonEncoded", "FunctionContext", "FUNCTIONS", "SPECIAL_FORMS", "call_function",
    "encode_json", "json_text", "decode_json_text", "decode_json_value", "directory_reader",
    "tf_equal", "to_text", "to_number", "to_bool", "format_number", "normalize_number", "has_unknown",
]
