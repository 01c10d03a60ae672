"""A cache of block parse trees that needs neither lark nor python-hcl2 to read.

A top-level block's parse tree (python-hcl2's Lark tree of the block's text
parsed alone) is kept as plain JSON lists with positions relative to the text
that was parsed:

* a tree: ``[data, meta, [children]]`` where ``meta`` is
  ``[line, column, end_line, end_column, start_pos, end_pos]`` or None (empty);
* a token: ``[type, value, line, column, end_line, end_column, start_pos, end_pos]``.

:func:`build` turns that form back into small classes of our own
(:class:`Tree`, :class:`Meta`, :class:`Token`) that satisfy ``parse.py``'s duck
typing. Fresh parses are converted the same way (:func:`convert` builds our
tree from the list form's values in the same pass), so a cached and a fresh
parse give equal trees. Positions stay relative to the parsed text: a block's
``parse.Source`` is that text, with the block's line as ``line_offset`` (the
text is padded with spaces to the block's column), so a tree can be shared by
every block with the same text.

Entries are keyed by SHA-256 of the parsed text, the python-hcl2 version (read
from the installed distribution's metadata, without importing it) and the
tool's code fingerprint. Storage: an in-process dict, and, when a directory is
given, ``<directory>/ab/<hash>.json`` written atomically. A damaged or
unreadable entry is a miss; nothing here raises.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import tempfile
from typing import Any, Optional


class Meta:
    """A tree's positions (``empty``: it has none, like Lark's Meta of a tree without tokens)."""

    __slots__ = ("empty", "line", "column", "end_line", "end_column", "start_pos", "end_pos")

    def __init__(self, empty: bool = True, line=None, column=None, end_line=None, end_column=None,
                 start_pos=None, end_pos=None):
        self.empty = empty
        if not empty:
            self.line = line
            self.column = column
            self.end_line = end_line
            self.end_column = end_column
            self.start_pos = start_pos
            self.end_pos = end_pos


_EMPTY = Meta(True)  # shared: trees are only read


class Tree:
    """A parse-tree node: ``data`` (the rule), ``children`` (Tree and Token), ``meta`` (positions)."""

    __slots__ = ("data", "children", "meta")

    def __init__(self, data: str, children: list, meta: Meta):
        self.data = data
        self.children = children
        self.meta = meta

    def __repr__(self) -> str:
        return f"Tree({self.data!r}, {self.children!r})"


_new_str = str.__new__


class Token(str):
    """A terminal: a ``str`` (its value) with ``type`` and positions."""

    __slots__ = ("type", "line", "column", "end_line", "end_column", "start_pos", "end_pos")

    def __new__(cls, type_: str, value: str, line=None, column=None, end_line=None, end_column=None,
                start_pos=None, end_pos=None):
        self = _new_str(cls, value)
        self.type = type_
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.start_pos = start_pos
        self.end_pos = end_pos
        return self

    @property
    def value(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {str.__str__(self)!r})"

    def __reduce__(self):  # pragma: no cover - pickling (copy) keeps the attributes
        return (Token, (self.type, str.__str__(self), self.line, self.column, self.end_line, self.end_column,
                        self.start_pos, self.end_pos))


def _is_tree(node: Any) -> bool:
    return hasattr(node, "data") and hasattr(node, "children")


def to_list(node: Any) -> list:
    """The JSON-able form of a Lark tree (or of one of ours). Iterative: deep trees do not recurse."""
    root: list = []
    stack = [(node, root)]
    while stack:
        n, out = stack.pop()
        if _is_tree(n):
            meta = getattr(n, "meta", None)
            if meta is None or getattr(meta, "empty", True):
                m = None
            else:
                m = [meta.line, meta.column, meta.end_line, meta.end_column, meta.start_pos, meta.end_pos]
            kids: list = []
            out.extend([str(n.data), m, kids])
            for c in n.children:
                slot: list = []
                kids.append(slot)
                stack.append((c, slot))
        else:
            out.extend([str(getattr(n, "type", "")), str.__str__(n), getattr(n, "line", None),
                        getattr(n, "column", None), getattr(n, "end_line", None), getattr(n, "end_column", None),
                        getattr(n, "start_pos", None), getattr(n, "end_pos", None)])
    return root


def _token_from(f: list) -> Token:
    t, v, line, col, eline, ecol, spos, epos = f
    if not isinstance(t, str) or not isinstance(v, str):
        raise ValueError("bad token")
    return Token(t, v, line, col, eline, ecol, spos, epos)


def _tree_from(f: list, kids: list) -> Tree:
    m = f[1]
    if m is None:
        return Tree(f[0], kids, _EMPTY)
    line, col, eline, ecol, spos, epos = m  # ValueError / TypeError when damaged
    if not (type(line) is int and type(spos) is int and type(epos) is int and type(eline) is int):
        raise ValueError("bad meta")
    return Tree(f[0], kids, Meta(False, line, col, eline, ecol, spos, epos))


def _build_rec(f: list) -> Any:
    if len(f) == 8:
        return _token_from(f)
    if len(f) != 3 or type(f[0]) is not str or type(f[2]) is not list:
        raise ValueError("bad tree")
    return _tree_from(f, [_build_rec(c) for c in f[2]])


def _build_iter(form: list) -> Any:
    root_holder: list = []
    stack: list = [(form, root_holder, False)]
    while stack:
        f, out, ready = stack.pop()
        if not isinstance(f, list):
            raise ValueError("bad node")
        if len(f) == 8:
            out.append(_token_from(f))
            continue
        if len(f) != 3 or type(f[0]) is not str or type(f[2]) is not list:
            raise ValueError("bad tree")
        if ready:
            kids = out.pop()
            out.append(_tree_from(f, kids))
            continue
        kids = []
        out.append(kids)
        stack.append((f, out, True))
        for c in reversed(f[2]):
            stack.append((c, kids, False))
    return root_holder[0]


class _NoGC:
    """The cyclic collector off while building: many acyclic objects, and collections over them again
    and again would cost more than the building (as limits.paused_gc does for parsing)."""

    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()


def build(form: list) -> Any:
    """Tree/Token objects from the list form. Raises ValueError (or TypeError) when the form is not one
    :func:`to_list` makes."""
    if not isinstance(form, list):
        raise ValueError("bad form")
    with _NoGC():
        try:
            return _build_rec(form)
        except RecursionError:
            return _build_iter(form)


def _convert_rec(n: Any, dl: int, dp: int) -> tuple:
    # The hot path of a fresh parse: the list form and our objects from the same values, in one pass.
    if isinstance(n, str):  # a Lark Token
        t, v = str(n.type), str.__str__(n)
        line, col, eline, ecol, spos, epos = n.line, n.column, n.end_line, n.end_column, n.start_pos, n.end_pos
        if dl or dp:
            line, eline, spos, epos = _sub(line, dl), _sub(eline, dl), _sub(spos, dp), _sub(epos, dp)
        tok = _new_str(Token, v)
        tok.type, tok.line, tok.column, tok.end_line, tok.end_column, tok.start_pos, tok.end_pos = (
            t, line, col, eline, ecol, spos, epos)
        return [t, v, line, col, eline, ecol, spos, epos], tok
    kf: list = []
    ko: list = []
    for c in n.children:
        cf, co = _convert_rec(c, dl, dp)
        kf.append(cf)
        ko.append(co)
    meta = n.meta
    data = str(n.data)
    if meta.empty:
        return [data, None, kf], Tree(data, ko, _EMPTY)
    m = Meta(False, meta.line - dl, meta.column, meta.end_line - dl, meta.end_column, meta.start_pos - dp,
             meta.end_pos - dp)
    return [data, [m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos], kf], Tree(data, ko, m)


def _sub(v: Any, d: int) -> Any:
    return v - d if isinstance(v, int) else v


def _shift_form(form: list, dl: int, dp: int) -> list:
    """Subtract ``dl`` from the lines and ``dp`` from the offsets of a list form, in place."""
    stack = [form]
    while stack:
        f = stack.pop()
        if len(f) == 8:
            f[2], f[4], f[6], f[7] = _sub(f[2], dl), _sub(f[4], dl), _sub(f[6], dp), _sub(f[7], dp)
        else:
            m = f[1]
            if m:
                m[0], m[2], m[4], m[5] = m[0] - dl, m[2] - dl, m[4] - dp, m[5] - dp
            stack.extend(f[2])
    return form


def convert(node: Any, line_offset: int = 0, pos_offset: int = 0) -> tuple:
    """(list form, our tree) of a Lark tree, in one pass; the tree is built from the list form's values.
    ``line_offset`` / ``pos_offset`` are subtracted from lines and offsets (a subtree of a larger text)."""
    with _NoGC():
        try:
            return _convert_rec(node, line_offset, pos_offset)
        except RecursionError:
            form = _shift_form(to_list(node), line_offset, pos_offset)
            return form, _build_iter(form)


class CachedParseError(ValueError):
    """A parse that failed before, read from the cache: the attributes ``parse._syntax_error`` reads
    from Lark's exceptions (``line``, ``column``, ``token``, ``char``)."""

    def __init__(self, info: dict):
        super().__init__("cannot parse the HCL (cached)")
        self.line = info.get("line") if isinstance(info.get("line"), int) else None
        self.column = info.get("column") if isinstance(info.get("column"), int) else None
        tok = info.get("token")
        self.token = Token(tok[0], tok[1]) if isinstance(tok, list) and len(tok) == 2 and all(
            isinstance(x, str) for x in tok) else None
        self.char = info.get("char") if isinstance(info.get("char"), str) else None


def error_info(e: BaseException) -> Optional[dict]:
    """What to remember of a failed parse (None: not worth remembering, e.g. an unexpected failure)."""
    if isinstance(e, RecursionError):
        return None  # depends on how deep the caller's stack was, not only on the text
    line, column = getattr(e, "line", None), getattr(e, "column", None)
    if not (isinstance(line, int) or isinstance(column, int)) and getattr(e, "token", None) is None \
            and getattr(e, "char", None) is None:
        return None
    token = getattr(e, "token", None)
    char = getattr(e, "char", None)
    return {"kind": "syntax", "line": line if isinstance(line, int) else None,
            "column": column if isinstance(column, int) else None,
            "token": [str(getattr(token, "type", "")), str(token)] if token is not None else None,
            "char": char if isinstance(char, str) else None}


def _raise_error(info: Any) -> None:
    if not isinstance(info, dict) or info.get("kind") not in ("recursion", "syntax"):
        raise ValueError("bad error entry")
    if info["kind"] == "recursion":
        raise RecursionError("nested too deeply (cached)")
    raise CachedParseError(info)


def _hcl2_version() -> str:
    try:
        from importlib.metadata import version

        return version("python-hcl2")
    except Exception:  # noqa: BLE001 - not installed, or no metadata: no entry can be trusted beyond this process
        return "unknown"


_SALT: Optional[str] = None


def _salt() -> str:
    global _SALT
    if _SALT is None:
        from ..cache import code_fingerprint

        _SALT = f"{_hcl2_version()}\0{code_fingerprint()}"
    return _SALT


class TreeCache:
    """Parse trees by the text parsed. ``directory`` None: in this process only.

    In memory it keeps the built trees (shared: they are only read); on disk the list form."""

    MAX_MEMORY_ENTRIES = 4000  # the in-process dict (built trees) is emptied when it grows past this

    def __init__(self, directory: Optional[str] = None):
        self.directory = directory or None
        self._memory: dict = {}  # key -> Tree, or CachedParseError info dict
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(text: str) -> str:
        h = hashlib.sha256(_salt().encode("utf-8", "surrogatepass"))
        h.update(b"\0")
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key + ".json")

    def _load(self, key: str) -> Any:
        """The built tree or the error info on disk for ``key``; None when missing or damaged."""
        try:
            with open(self._path(key), "rb") as fh:
                raw = fh.read()
            with _NoGC():
                data = json.loads(raw.decode("utf-8"))
        except Exception:  # noqa: BLE001 - missing, unreadable, damaged (or too deep): a miss
            return None
        if not (isinstance(data, dict) and data.get("v") == 1):
            return None
        if isinstance(data.get("tree"), list):
            try:
                return build(data["tree"])
            except Exception:  # noqa: BLE001 - damaged: a miss
                return None
        if isinstance(data.get("error"), dict):
            try:
                _raise_error(data["error"])  # checks its shape
            except (CachedParseError, RecursionError):
                return {"error": data["error"]}
            except Exception:  # noqa: BLE001 - damaged: a miss
                return None
        return None

    def tree(self, text: str) -> Any:
        """The tree of ``text`` (shared, read only), or None (a miss, or a damaged entry).
        A parse that failed before raises again: :class:`CachedParseError`."""
        key = self.key(text)
        entry = self._memory.get(key)
        if entry is None and self.directory:
            entry = self._load(key)
            if entry is not None:
                self._remember(key, entry)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        if isinstance(entry, dict):
            _raise_error(entry["error"])
        return entry

    def _remember(self, key: str, entry: Any) -> None:
        if len(self._memory) >= self.MAX_MEMORY_ENTRIES:
            self._memory.clear()
        self._memory[key] = entry

    def parsed(self, text: str, lark_tree: Any, line_offset: int = 0, pos_offset: int = 0) -> Any:
        """Remember a fresh parse of ``text`` (a Lark tree; with offsets: a subtree of a larger parse, whose
        lines and offsets are made relative to ``text``); returns our tree of it (built from its list form)."""
        form, node = convert(lark_tree, line_offset, pos_offset)
        key = self.key(text)
        self._remember(key, node)
        if self.directory:
            self._write(key, {"v": 1, "tree": form})
        return node

    def put_error(self, text: str, e: BaseException) -> None:
        """Remember that ``text`` does not parse (a syntax error; not RecursionError)."""
        info = error_info(e)
        if info is not None:
            key = self.key(text)
            self._remember(key, {"error": info})
            if self.directory:
                self._write(key, {"v": 1, "error": info})

    def _write(self, key: str, entry: dict) -> None:
        path = self._path(key)
        tmp = None
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=os.path.dirname(path))
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, separators=(",", ":")))  # dumps: the C encoder (dump is not)
            os.replace(tmp, path)
            tmp = None
        except Exception:  # noqa: BLE001 - a cache that cannot be written is only slower
            pass
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


_DEFAULT: Optional[TreeCache] = None
_MEMORY: Optional[TreeCache] = None


def default() -> TreeCache:
    """The tree cache used where none is passed: expressions and templates parsed during evaluation,
    .tfvars files, and module directories of a Project created without one. The one :func:`set_default`
    gave (a Project sets its own), else a process-wide in-memory cache."""
    global _MEMORY
    if _DEFAULT is not None:
        return _DEFAULT
    if _MEMORY is None:
        _MEMORY = TreeCache(None)
    return _MEMORY


def set_default(cache: Optional[TreeCache]) -> None:
    """Make ``cache`` the process's default (None: the in-memory one)."""
    global _DEFAULT
    _DEFAULT = cache


__all__ = ["default", "set_default", "CachedParseError", "TreeCache", "Tree", "Token", "Meta", "to_list", "build", "convert"]
