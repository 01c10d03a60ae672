"""Parse Terraform (HCL) files into blocks whose attributes are unevaluated expressions.

Parsing is python-hcl2's (>= 8, the ``terraform`` extra): ``hcl2.parses_to_tree``
returns its Lark parse tree, built with ``propagate_positions`` so every node
carries its line, column and character offsets. This module walks that tree
for the structure (blocks, labels, attributes) and keeps each attribute's
expression as the parse-tree node plus the text it came from; nothing is
evaluated here (see ``expressions.py``).

python-hcl2 keeps a heredoc as one token and does not parse the template
inside it; :func:`template_expression` hands the body back to python-hcl2 as a
quoted template (only the delimiters of ``${...}`` / ``%{...}`` are located
here, the expressions themselves are parsed by python-hcl2). ``templatefile``
uses the same path.

``hcl2`` is imported lazily: importing this module loads no parser. A missing
or foreign ``hcl2`` (checkov's bc-python-hcl2 installs a package of the same
name) raises :class:`~cloudtrail_kms_lint.cloudformation.loader.ParserMissing`
with a message naming the extra; a file that does not parse is returned as a
:class:`ParsedFile` whose ``errors`` say where, never as an exception.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from .. import limits
from ..cloudformation.loader import ParserMissing
from ..model import Location
from ..report import InputError

MISSING_EXTRA = (
    "Terraform support needs python-hcl2 >= 8, which is not installed: "
    "pip install 'cloudtrail-kms-lint[terraform]' (do not install it next to checkov: "
    "checkov ships its own hcl2 package and scans Terraform with the checkov checks)"
)
FOREIGN_HCL2 = (
    "Terraform support needs python-hcl2 >= 8, but the installed 'hcl2' package is a different one "
    "(version {version}; checkov's bc-python-hcl2 installs a package of the same name). "
    "Use the checkov checks in a checkov environment, or pip install 'cloudtrail-kms-lint[terraform]' "
    "in a separate environment"
)

MAX_BLOCK_DEPTH = limits.MAX_BLOCK_DEPTH
_MAX_TEXT = 120


def require_hcl2():
    """Import python-hcl2 (>= 8) or raise ParserMissing with installation advice."""
    try:
        import hcl2  # noqa: PLC0415 - lazy on purpose: the core must not load a parser
    except ImportError as e:
        raise ParserMissing(MISSING_EXTRA) from e
    if not hasattr(hcl2, "parses_to_tree"):
        raise ParserMissing(FOREIGN_HCL2.format(version=getattr(hcl2, "__version__", "unknown")))
    return hcl2


def hcl2_available() -> bool:
    """True when python-hcl2 >= 8 can be imported (it is never imported by this check's caller otherwise)."""
    try:
        require_hcl2()
    except ParserMissing:
        return False
    return True


class ExpressionSyntaxError(ValueError):
    """An expression or template text that python-hcl2 cannot parse (``error`` says where)."""

    def __init__(self, error: InputError):
        super().__init__(f"{error.file}:{error.line}: {error.message}" if error.line else error.message)
        self.error = error


@dataclass(frozen=True, eq=False)
class Source:
    """The text a parse tree was built from: node offsets index ``text``; lines add ``line_offset``."""

    file: str
    text: str
    line_offset: int = 0


@dataclass(eq=False)
class Expression:
    """An unevaluated HCL expression: python-hcl2's Lark parse-tree node and where it was written."""

    node: Any  # lark.Tree (or Token) from hcl2.parses_to_tree
    source: Source

    @property
    def file(self) -> str:
        return self.source.file

    @property
    def line(self) -> Optional[int]:
        return node_line(self.node, self.source)

    @property
    def location(self) -> Location:
        return Location(self.source.file, self.line, node_column(self.node))

    @property
    def text(self) -> str:
        """The expression as written (whitespace kept)."""
        return node_text(self.node, self.source)

    def __repr__(self) -> str:
        return f"Expression({short_text(self.text)!r} at {self.location})"


@dataclass(eq=False)
class Attribute:
    name: str
    expression: Expression
    location: Location

    @property
    def line(self) -> Optional[int]:
        return self.location.line


@dataclass(eq=False)
class Block:
    """A block: ``resource "aws_kms_key" "logs" { ... }`` has type ``resource``, labels ``("aws_kms_key", "logs")``."""

    type: str
    labels: tuple
    attributes: dict = field(default_factory=dict)  # name -> Attribute, in source order
    blocks: list = field(default_factory=list)  # nested Block, in source order
    location: Location = field(default_factory=lambda: Location("<unknown>"))
    end_line: Optional[int] = None

    @property
    def line(self) -> Optional[int]:
        return self.location.line

    @property
    def file(self) -> str:
        return self.location.file

    @property
    def address(self) -> str:
        """How Terraform refers to the block: ``aws_kms_key.logs``, ``data.aws_partition.current``,
        ``module.kms``, ``var.name``, ``output.name``; other blocks: type and labels joined by dots."""
        labels = list(self.labels)
        if self.type == "resource" and len(labels) == 2:
            return f"{labels[0]}.{labels[1]}"
        if self.type == "data" and len(labels) == 2:
            return f"data.{labels[0]}.{labels[1]}"
        if self.type == "module" and len(labels) == 1:
            return f"module.{labels[0]}"
        if self.type == "variable" and len(labels) == 1:
            return f"var.{labels[0]}"
        return ".".join([self.type] + labels)

    def attribute(self, name: str) -> Optional[Attribute]:
        return self.attributes.get(name)

    def blocks_of(self, block_type: str) -> list:
        return [b for b in self.blocks if b.type == block_type]

    def __repr__(self) -> str:
        return f"Block({self.type} {' '.join(self.labels)} at {self.location})"


@dataclass(eq=False)
class ParsedFile:
    """One parsed file. ``errors`` is empty when it parsed; otherwise ``blocks`` may be partial or empty."""

    path: str
    blocks: list = field(default_factory=list)  # top-level Block, in source order
    attributes: dict = field(default_factory=dict)  # top-level attributes (a .tfvars file has only these)
    errors: list = field(default_factory=list)  # report.InputError

    @property
    def ok(self) -> bool:
        return not self.errors

    def blocks_of(self, block_type: str) -> list:
        return [b for b in self.blocks if b.type == block_type]


# ---------------------------------------------------------------------------
# Parse-tree helpers (python-hcl2's Lark tree: Tree(data, children, meta), Token(type, value))
# ---------------------------------------------------------------------------


def is_tree(node: Any) -> bool:
    return hasattr(node, "data") and hasattr(node, "children")


def is_token(node: Any) -> bool:
    return hasattr(node, "type") and isinstance(node, str)


def node_line(node: Any, source: Source) -> Optional[int]:
    line = None
    if is_tree(node):
        meta = getattr(node, "meta", None)
        if meta is not None and not getattr(meta, "empty", True):
            line = meta.line
    elif is_token(node):
        line = getattr(node, "line", None)
    return None if line is None else line + source.line_offset


def node_column(node: Any) -> Optional[int]:
    if is_tree(node):
        meta = getattr(node, "meta", None)
        if meta is not None and not getattr(meta, "empty", True):
            return meta.column
        return None
    return getattr(node, "column", None)


def node_text(node: Any, source: Source) -> str:
    if is_tree(node):
        meta = getattr(node, "meta", None)
        if meta is not None and not getattr(meta, "empty", True):
            return source.text[meta.start_pos:meta.end_pos]
        return ""
    if is_token(node):
        start = getattr(node, "start_pos", None)
        end = getattr(node, "end_pos", None)
        if start is not None and end is not None:
            return source.text[start:end]
        return str(node)
    return ""


def short_text(text: str, limit: int = _MAX_TEXT) -> str:
    """One-line, bounded form of source text for messages and symbol names."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def children(node: Any) -> list:
    """A tree's children without layout (newlines, comments)."""
    return [c for c in node.children if not (is_tree(c) and c.data == "new_line_or_comment")]


def subtrees(node: Any) -> list:
    return [c for c in children(node) if is_tree(c)]


_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def unescape(text: str) -> str:
    """Resolve the backslash escapes of a quoted HCL template literal."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        m = text[i + 1]
        if m in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[m])
            i += 2
            continue
        if m in "uU":
            width = 4 if m == "u" else 8
            digits = text[i + 2:i + 2 + width]
            if len(digits) == width and all(ch in "0123456789abcdefABCDEF" for ch in digits):
                cp = int(digits, 16)
                if cp <= 0x10FFFF and not 0xD800 <= cp < 0xE000:
                    out.append(chr(cp))
                    i += 2 + width
                    continue
        out.append(c)
        out.append(m)
        i += 2
    return "".join(out)


def identifier_name(node: Any) -> Optional[str]:
    """The name of an identifier / keyword / literal_value node (``for_each``, ``true``)."""
    if is_tree(node) and node.data in ("identifier", "keyword", "literal_value") and node.children:
        return str(node.children[0])
    if is_token(node):
        return str(node)
    return None


def string_literal(node: Any) -> Optional[str]:
    """The value of a ``string`` node made only of literal text (block labels); None otherwise."""
    if not (is_tree(node) and node.data == "string"):
        return None
    out = []
    for part in node.children:
        if not (is_tree(part) and part.data == "string_part"):
            continue
        for c in part.children:
            if is_token(c) and c.type == "STRING_CHARS":
                out.append(unescape(str(c)))
            elif is_token(c) and c.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                out.append(unescape(str(c)[1:]))
            else:
                return None
    return "".join(out)


# ---------------------------------------------------------------------------
# Parsing files
# ---------------------------------------------------------------------------


def _syntax_error(e: Exception, display: str, text: str, line_offset: int = 0) -> InputError:
    """A concise InputError from a Lark exception (python-hcl2 raises Lark's UnexpectedInput)."""
    line = getattr(e, "line", None)
    column = getattr(e, "column", None)
    token = getattr(e, "token", None)
    if isinstance(line, int) and line < 1:
        line = None
    what = "syntax error"
    if token is not None and getattr(token, "type", None) == "$END":
        what = "unexpected end of file"
    elif token is not None:
        shown = str(token).strip()
        shown = shown.splitlines()[0] if shown else "newline"
        what = f"unexpected {shown[:40]!r}"
    elif getattr(e, "char", None) is not None:
        what = f"unexpected character {e.char!r}"
    # at the end of the file: report the last line with content (python-hcl2 appends a newline)
    last = text.rstrip().count("\n") + 1
    if line is not None and (line > last or what == "unexpected end of file"):
        line = min(line, last)
    if line is not None:
        line += line_offset
    where = f" (column {column})" if column and line is not None else ""
    return InputError(display, line, f"cannot parse the HCL: {what}{where}")


def _parse_tree(text: str):
    hcl2 = require_hcl2()
    with limits.paused_gc():
        return hcl2.parses_to_tree(text)


def parse_file(path: str, display: Optional[str] = None) -> ParsedFile:
    """Parse one .tf (or .tfvars) file. Read and syntax errors come back in ``ParsedFile.errors``.

    ``display`` is the file name used in locations and messages (default: ``path``).
    Raises ParserMissing only when python-hcl2 >= 8 is not installed.
    """
    display = display or path
    require_hcl2()
    text, failed = read_source(path, display)
    if failed is not None:
        return failed
    return parse_text(text, display)


def read_source(path: str, display: Optional[str] = None) -> tuple[Optional[str], Optional[ParsedFile]]:
    """The text of a .tf file, as :func:`parse_file` reads it (BOM kept), or (None, a ParsedFile whose
    ``errors`` say why it cannot be read: unreadable, too large, a NUL byte, not UTF-8). Loads no parser."""
    display = display or path
    limit = limits.current().max_parse_bytes
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as e:
        return None, ParsedFile(display, errors=[InputError(display, None, f"cannot read the file: {e.strerror or e}")])
    if len(raw) > limit:
        from ..cloudformation.loader import too_large_to_parse

        return None, ParsedFile(display, errors=[InputError(display, None, too_large_to_parse(limit))])
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        return None, ParsedFile(display, errors=[InputError(display, line, "cannot read the file: it contains a NUL "
                                                                           "byte (a binary file?)")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        return None, ParsedFile(display, errors=[InputError(display, line, "cannot read the file: it is not UTF-8 text")])
    return text, None


def _tree_via(trees: Any, text: str) -> Any:
    """The parse tree of ``text`` from the tree cache, or parsed (and cached): our tree classes either
    way (treecache.Tree/Token), shared and only read. Raises what python-hcl2 raises (ParserMissing when
    it is not installed), or the remembered syntax error (treecache.CachedParseError)."""
    tree = trees.tree(text)
    if tree is None:
        try:
            raw = _parse_tree(text)
        except ParserMissing:
            raise
        except Exception as e:
            trees.put_error(text, e)  # a syntax error: remembered, so a warm run needs no parser to report it
            raise
        tree = trees.parsed(text, raw)
    return tree


_BLOCK_KEY = "block\0"  # tree-cache keys of top-level blocks: their node alone, not a whole parse


def parse_blocks(text: str, path: str, spans: list, trees: Any = None) -> ParsedFile:
    """Parse only some top-level blocks of a file: ``spans`` are :class:`~.blocks.TopBlock` of ``text``
    (BOM removed), in source order.

    Each block's tree is that of its text alone, padded with spaces to its column (taken from ``trees``,
    a :class:`~.treecache.TreeCache`, when it is there; the blocks that are not are parsed together in
    one python-hcl2 call, or alone when that fails). Each block gets its own :class:`Source` (that text,
    its line as ``line_offset``), so lines, columns and ``node_text`` are those of a full parse. When a
    block does not parse, or its tree has an unexpected shape, the whole file is parsed as
    :func:`parse_text` does (the same result, errors included). ParserMissing is raised only when a
    block really has to be parsed."""
    from .treecache import CachedParseError, default

    cache = trees if trees is not None else default()
    keyed = [(_BLOCK_KEY + " " * (s.column - 1) + text[s.start:s.end], s) for s in spans]
    found: dict = {}
    missing: list = []
    for key, _span in keyed:
        if key in found or key in missing:
            continue
        try:
            node = cache.tree(key)
        except (CachedParseError, RecursionError):  # it did not parse before: the full parse says where
            return parse_text(text, path, cache)
        if node is None:
            missing.append(key)
        else:
            found[key] = node
    if len(missing) > 1:
        found.update(_parse_blocks_together(cache, missing))
    for key in missing:
        if key in found:
            continue
        try:
            found[key] = _parse_block_alone(cache, key)
        except ParserMissing:
            raise
        except Exception:  # a syntax error (or too deep): the full parse says what and where
            return parse_text(text, path, cache)
    result = ParsedFile(path)
    for key, span in keyed:
        source = Source(path, key[len(_BLOCK_KEY):], span.line - 1)
        try:
            result.blocks.append(_block(found[key], source, result.errors, 1))  # as _walk_body at depth 0
        except Exception:  # noqa: BLE001 - too deep, an unexpected shape: the full parse reports it
            return parse_text(text, path, cache)
    return result


def _only_block(tree: Any) -> Any:
    body = _body_of(tree)
    nodes = subtrees(body) if body is not None else []
    if len(nodes) != 1 or nodes[0].data != "block":
        raise ValueError("not one block")
    return nodes[0]


def _parse_block_alone(cache: Any, key: str) -> Any:
    text = key[len(_BLOCK_KEY):]
    try:
        node = _only_block(_parse_tree(text))
    except ParserMissing:
        raise
    except Exception as e:
        cache.put_error(key, e)
        raise
    return cache.parsed(key, node)


def _parse_blocks_together(cache: Any, keys: list) -> dict:
    """Block trees of several block texts from one python-hcl2 call (each on its own lines); {} when
    that fails (each is then parsed alone, which says which one does not parse)."""
    texts = [k[len(_BLOCK_KEY):] for k in keys]
    try:
        tree = _parse_tree("\n".join(texts))
    except ParserMissing:
        raise
    except Exception:  # noqa: BLE001 - one of them does not parse
        return {}
    body = _body_of(tree)
    nodes = subtrees(body) if body is not None else []
    if len(nodes) != len(keys) or any(n.data != "block" for n in nodes):
        return {}
    out = {}
    line, pos = 1, 0
    for key, t, node in zip(keys, texts, nodes):
        out[key] = cache.parsed(key, node, line - 1, pos)
        line += t.count("\n") + 1
        pos += len(t) + 1
    return out


def parse_text(text: str, path: str = "<string>", trees: Any = None) -> ParsedFile:
    """Parse HCL text; ``path`` names it in locations. ``trees``: a treecache.TreeCache to take the
    parse tree from (and to put it in)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        tree = _parse_tree(text) if trees is None else _tree_via(trees, text)
    except ParserMissing:
        raise
    except RecursionError:
        return ParsedFile(path, errors=[InputError(path, None, "cannot parse the HCL: it is nested too deeply")])
    except Exception as e:  # Lark's UnexpectedInput and anything else: report, never raise
        return ParsedFile(path, errors=[_syntax_error(e, path, text)])
    source = Source(path, text)
    result = ParsedFile(path)
    body = _body_of(tree)
    if body is None:
        return result
    try:
        attrs, blocks = _walk_body(body, source, result.errors, 0)
    except RecursionError:
        result.errors.append(InputError(path, None, "cannot parse the HCL: it is nested too deeply"))
        return result
    except Exception as e:  # an unexpected tree shape from a newer python-hcl2: report, never raise
        result.errors.append(InputError(path, None, f"cannot read the HCL structure: {type(e).__name__}: {e}"))
        return result
    result.attributes = attrs
    result.blocks = blocks
    return result


def _body_of(tree: Any):
    if is_tree(tree) and tree.data == "start":
        for c in tree.children:
            if is_tree(c) and c.data == "body":
                return c
        return None
    return tree if is_tree(tree) and tree.data == "body" else None


def _walk_body(body: Any, source: Source, errors: list, depth: int) -> tuple[dict, list]:
    attributes: dict = {}
    blocks: list = []
    for node in subtrees(body):
        if node.data == "attribute":
            attr = _attribute(node, source)
            if attr is None:
                continue
            if attr.name in attributes:
                first = attributes[attr.name]
                errors.append(InputError(source.file, attr.line,
                                         f"attribute {attr.name!r} is already defined at line {first.line}"))
                continue
            attributes[attr.name] = attr
        elif node.data == "block":
            if depth >= MAX_BLOCK_DEPTH:
                errors.append(InputError(source.file, node_line(node, source), "blocks are nested too deeply"))
                continue
            blocks.append(_block(node, source, errors, depth + 1))
    return attributes, blocks


def _attribute(node: Any, source: Source) -> Optional[Attribute]:
    kids = [c for c in node.children if not (is_tree(c) and c.data == "new_line_or_comment")]
    if len(kids) < 3:
        return None
    name = identifier_name(kids[0])
    if name is None:
        return None
    expr = Expression(kids[-1], source)
    return Attribute(name, expr, Location(source.file, node_line(node, source), node_column(node)))


def _block(node: Any, source: Source, errors: list, depth: int) -> Block:
    head: list = []
    body = None
    for c in node.children:
        if is_tree(c) and c.data == "body":
            body = c
        elif is_tree(c) and c.data in ("identifier", "keyword", "literal_value"):
            head.append(identifier_name(c) or "")
        elif is_tree(c) and c.data == "string":
            lit = string_literal(c)
            head.append(lit if lit is not None else node_text(c, source).strip('"'))
    btype = head[0] if head else ""
    meta = node.meta
    end_line = None if getattr(meta, "empty", True) else meta.end_line + source.line_offset
    block = Block(btype, tuple(head[1:]), location=Location(source.file, node_line(node, source), node_column(node)),
                  end_line=end_line)
    if body is not None:
        block.attributes, block.blocks = _walk_body(body, source, errors, depth)
    return block


# ---------------------------------------------------------------------------
# Expressions and templates from text
# ---------------------------------------------------------------------------


def parse_expression(text: str, file: str = "<expression>", line: int = 1) -> Expression:
    """Parse one expression (``var.x ? 1 : 2``). ``line`` is the line the text starts on.

    Raises ExpressionSyntaxError (with ``.error``, an InputError) when it does not parse.
    """
    wrapped = "__expr__ = " + text
    try:
        tree = _cached_tree(wrapped)
    except ParserMissing:
        raise
    except RecursionError:
        raise ExpressionSyntaxError(InputError(file, line, "cannot parse the expression: it is nested too deeply"))
    except Exception as e:
        raise ExpressionSyntaxError(_syntax_error(e, file, wrapped, line - 1)) from None
    source = Source(file, wrapped, line - 1)
    body = _body_of(tree)
    attrs = [c for c in subtrees(body)] if body is not None else []
    if len(attrs) != 1 or attrs[0].data != "attribute":
        raise ExpressionSyntaxError(InputError(file, line, "cannot parse the expression: it is not one expression"))
    attr = _attribute(attrs[0], source)
    if attr is None:  # pragma: no cover - the grammar always gives name, '=', expression
        raise ExpressionSyntaxError(InputError(file, line, "cannot parse the expression"))
    return attr.expression


def template_expression(template: str, file: str = "<template>", line: int = 1) -> Expression:
    """Parse template text (a heredoc body, a templatefile file) as python-hcl2 parses a quoted template.

    The result is an Expression whose node is a ``string`` tree. ``line`` is the
    line the template's first character is on. Raises ExpressionSyntaxError.
    """
    quoted = _template_as_quoted(template)
    if quoted is None:
        raise ExpressionSyntaxError(InputError(file, line, "cannot parse the template: an interpolation is not closed"))
    wrapped = "__template__ = " + quoted
    try:
        tree = _cached_tree(wrapped)
    except ParserMissing:
        raise
    except RecursionError:
        raise ExpressionSyntaxError(InputError(file, line, "cannot parse the template: it is nested too deeply"))
    except Exception as e:
        raise ExpressionSyntaxError(_syntax_error(e, file, wrapped, line - 1)) from None
    source = Source(file, wrapped, line - 1)
    body = _body_of(tree)
    attrs = subtrees(body) if body is not None else []
    if len(attrs) != 1 or attrs[0].data != "attribute":  # pragma: no cover - the quoting makes one string
        raise ExpressionSyntaxError(InputError(file, line, "cannot parse the template"))
    attr = _attribute(attrs[0], source)
    node = attr.expression.node if attr else None
    # the attribute's expression is expr_term(string)
    if is_tree(node) and node.data == "expr_term":
        inner = subtrees(node)
        if len(inner) == 1 and inner[0].data == "string":
            return Expression(inner[0], source)
    raise ExpressionSyntaxError(InputError(file, line, "cannot parse the template"))  # pragma: no cover


@functools.lru_cache(maxsize=256)
def _cached_tree(text: str):
    # Trees are only read, never changed, so sharing them between callers is safe. Through the
    # default tree cache: a run whose trees are all cached loads no parser.
    from .treecache import default

    return _tree_via(default(), text)


def _template_as_quoted(template: str) -> Optional[str]:
    """Rewrite template text as a quoted HCL string python-hcl2 can parse.

    Literal text gets ``\\`` and ``"`` escaped (heredocs and template files do not
    process escapes, so the parser's unescaping gives the text back unchanged);
    ``${...}`` and ``%{...}`` are copied verbatim. Only the end of each
    interpolation is located here (brace depth, skipping quoted strings); its
    content is parsed by python-hcl2.
    """
    out: list[str] = ['"']
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c in "$%" and template.startswith(c + c + "{", i):
            end = template.find("}", i)
            end = n if end < 0 else end + 1
            out.append(_escape_literal(template[i:end]))
            i = end
            continue
        if c in "$%" and template.startswith(c + "{", i):
            end = _interpolation_end(template, i + 2)
            if end < 0:
                return None
            out.append(template[i:end])
            i = end
            continue
        j = i + 1
        while j < n and template[j] not in "$%":
            j += 1
        out.append(_escape_literal(template[i:j]))
        i = j
    out.append('"')
    return "".join(out)


def _escape_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _interpolation_end(s: str, i: int) -> int:
    """Index just after the ``}`` closing an interpolation whose content starts at ``i``; -1 if unclosed."""
    stack: list = [0]  # int: expression frame with its brace depth; None: inside a quoted string
    n = len(s)
    while i < n:
        c = s[i]
        top = stack[-1]
        if top is None:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                stack.pop()
            elif c in "$%" and s.startswith(c + c + "{", i):
                i += 3
                continue
            elif c in "$%" and s.startswith(c + "{", i):
                stack.append(0)
                i += 2
                continue
            i += 1
            continue
        if c == '"':
            stack.append(None)
        elif c == "{":
            stack[-1] = top + 1
        elif c == "}":
            if top == 0:
                stack.pop()
                if not stack:
                    return i + 1
            else:
                stack[-1] = top - 1
        i += 1
    return -1


_HEREDOC_HEAD = re.compile(r"<<(-?)([A-Za-z][A-Za-z0-9._-]*)\r?\n")


def heredoc_body(token_text: str) -> Optional[tuple[str, bool]]:
    """The template text of a heredoc token and whether it is an indented (``<<-``) heredoc.

    As Terraform: every content line keeps its newline; ``<<-`` removes the
    smallest indentation of the non-blank lines.
    """
    m = _HEREDOC_HEAD.match(token_text)
    if not m:
        return None
    trim, marker = m.group(1) == "-", m.group(2)
    rest = token_text[m.end():]
    # the token ends with: optional indentation, the marker, a newline
    stripped = rest.rstrip("\r\n")
    if not stripped.endswith(marker):
        return None
    body = stripped[: len(stripped) - len(marker)].rstrip(" \t")
    if trim:
        lines = body.split("\n")
        indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
        cut = min(indents) if indents else 0
        body = "\n".join(ln[cut:] if ln.strip() else ln.lstrip(" \t") for ln in lines)
    return body, trim
