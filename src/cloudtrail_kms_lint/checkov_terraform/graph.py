"""checkov's Terraform graph, read the same way whichever library holds it.

checkov gives every Python check ``self.graph``: a ``rustworkx.PyDiGraph``
(the default) or a ``networkx.DiGraph`` (``CHECKOV_GRAPH_FRAMEWORK=NETWORKX``),
built by ``checkov.common.graph.db_connectors``:

* rustworkx: each node's payload is ``(index, attributes)``; each edge's is
  ``{"label": ..., "source": ..., "target": ...}``.
* networkx: nodes are keyed by the vertex's ``hash`` attribute with the
  attributes as node data; each edge's data is ``{"label": ...}``.

A vertex's attributes are checkov's ``Block.get_attribute_dict()``: the
rendered attributes, ``block_type_`` (resource, data, locals, variable,
output, module, tfvar, provider...), ``block_name_`` (``aws_kms_key.this``,
a local's or variable's name), ``__address__`` (module-qualified, with the
instance key: ``module.kms.aws_kms_key.this[0]``), ``file_path_``,
``__start_line__``/``__end_line__``, ``config_`` (the block as parsed, also
rendered) and ``source_module_object_`` (the module call the vertex belongs
to, nested: ``TFModule(path, name, nested_tf_module, foreach_idx)``). Edges go
from the vertex that refers to the vertex referred to, labelled with the
attribute (``kms_key_id``, ``policy``, ``statement.0.principals.identifiers.0``);
a plan graph adds ``references_`` edges from the plan's configuration.

:class:`GraphIndex` is built once per graph (``index_for``) and keeps what
every trail of the graph needs: vertices, outgoing edges without checkov's
``[cross-variable]`` edges, and lookups by address and type.

Stdlib only; this module imports neither checkov nor rustworkx nor networkx.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Iterable, Optional

CROSS_VARIABLE_PREFIX = "[cross-variable] "
_MAX_CACHED_GRAPHS = 8
_LOCK = threading.Lock()
_INDEXES: "OrderedDict[int, tuple[Any, GraphIndex]]" = OrderedDict()
BUILDS = {"count": 0}  # how many indexes were built (tests check one per graph)


def module_key(obj: Any) -> Optional[tuple]:
    """A hashable identity of checkov's ``source_module_object_`` (TFModule or its dict form)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        path, name, idx, nested = obj.get("path"), obj.get("name"), obj.get("foreach_idx"), obj.get("nested_tf_module")
    else:
        path = getattr(obj, "path", None)
        name = getattr(obj, "name", None)
        idx = getattr(obj, "foreach_idx", None)
        nested = getattr(obj, "nested_tf_module", None)
    return (str(path), str(name), str(idx) if idx is not None else None, module_key(nested))


class Vertex:
    """One vertex: its id in the graph library and its attributes."""

    __slots__ = ("id", "attrs", "block_type", "name", "address", "file", "module", "resource_type")

    def __init__(self, node_id: Any, attrs: dict):
        self.id = node_id
        self.attrs = attrs
        self.block_type = str(attrs.get("block_type_") or "")
        self.name = str(attrs.get("block_name_") or "")
        self.address = str(attrs.get("__address__") or self.name)
        self.file = str(attrs.get("file_path_") or "")
        self.module = module_key(attrs.get("source_module_object_"))
        rt = attrs.get("resource_type")
        self.resource_type = str(rt) if isinstance(rt, str) else ""

    @property
    def type(self) -> str:
        """The resource or data source type (``aws_kms_key``), else ''."""
        if self.block_type in ("resource", "data"):
            return self.name.split(".", 1)[0]
        return ""

    @property
    def start_line(self) -> Optional[int]:
        for k in ("__start_line__", "start_line"):
            v = self.attrs.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
        return None

    @property
    def end_line(self) -> Optional[int]:
        for k in ("__end_line__", "end_line"):
            v = self.attrs.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
        return None

    @property
    def display_address(self) -> str:
        """The address as Terraform writes it: data sources get their ``data.`` prefix."""
        if self.block_type != "data" or self.address.startswith("data.") or ".data." in self.address:
            return self.address
        pos = self.address.rfind(f"{self.type}.")
        if pos < 0:
            return f"data.{self.address}"
        return f"{self.address[:pos]}data.{self.address[pos:]}"

    def config(self) -> Optional[dict]:
        """The block's own configuration (``config_`` without its type/name wrapping), if any."""
        cfg = self.attrs.get("config_")
        if not isinstance(cfg, dict):
            return None
        if self.block_type in ("resource", "data"):
            t = self.type
            inner = cfg.get(t)
            if isinstance(inner, dict):
                if len(inner) == 1:
                    only = next(iter(inner.values()))
                    return only if isinstance(only, dict) else None
                short_name = self.name.split(".", 1)[1] if "." in self.name else ""
                v = inner.get(short_name)
                return v if isinstance(v, dict) else None
            return None
        if self.block_type in ("variable", "output", "module"):
            v = cfg.get(self.name)
            return v if isinstance(v, dict) else None
        return cfg

    def get(self, attr: str) -> tuple[bool, Any]:
        """(present, rendered value) of an attribute; configuration values are unwrapped from
        the one-element list the HCL parser puts them in."""
        if self.block_type in ("locals", "variable"):  # checkov's value: module inputs, tfvars applied
            if attr in self.attrs:
                return True, self.attrs[attr]
            return False, None
        cfg = self.config()
        if isinstance(cfg, dict) and attr in cfg:
            v = cfg[attr]
            if isinstance(v, list) and len(v) == 1:
                return True, v[0]
            return True, v
        if attr in self.attrs:
            return True, self.attrs[attr]
        return False, None


def _is_plan(v: Vertex) -> bool:
    return v.file.endswith(".json")


def is_plan_vertex(v: Vertex) -> bool:
    return _is_plan(v) or "__change_actions__" in v.attrs


class GraphIndex:
    """Vertices and edges of one checkov graph, indexed once."""

    def __init__(self, graph: Any):
        BUILDS["count"] += 1
        self.vertices: dict[Any, Vertex] = {}
        self.out: dict[Any, list[tuple[str, Any]]] = {}
        self.cross_variable: list[tuple[Any, Any, str]] = []  # the edges not followed, for diagnostics
        for node_id, attrs in _nodes(graph):
            if isinstance(attrs, dict):
                self.vertices[node_id] = Vertex(node_id, attrs)
        for src, dst, label in _edges(graph):
            if src not in self.vertices or dst not in self.vertices:
                continue
            if label.startswith(CROSS_VARIABLE_PREFIX):
                # checkov matches rendered text against every resource of that name: it can
                # point at a same-named key in another module. Never followed.
                self.cross_variable.append((src, dst, label))
                continue
            self.out.setdefault(src, []).append((label, dst))
        self.by_address: dict[str, list[Vertex]] = {}
        self.by_type: dict[str, list[Vertex]] = {}
        self.by_block: dict[tuple, list[Vertex]] = {}
        for v in self.vertices.values():
            self.by_address.setdefault(v.address, []).append(v)
            if v.type:
                self.by_type.setdefault(f"{v.block_type}:{v.type}", []).append(v)
            self.by_block.setdefault((v.block_type, v.name), []).append(v)
            base = v.name.split("[", 1)[0]
            if base != v.name:  # count / for_each instances are found by their block's name too
                self.by_block.setdefault((v.block_type, base), []).append(v)
        self.analyses: dict = {}  # per trail vertex id: the shared analysis (analysis.py)
        self.files: dict = {}  # per file: its lines (for the kms_key_id line)

    def of_type(self, block_type: str, type_: str) -> list[Vertex]:
        return self.by_type.get(f"{block_type}:{type_}", [])

    def edges(self, v: Vertex) -> list[tuple[str, Vertex]]:
        return [(label, self.vertices[d]) for label, d in self.out.get(v.id, [])]

    def find_resource(self, address: str, scanned_file: str = "", start_line: Optional[int] = None,
                      abs_file: str = "") -> list[Vertex]:
        """The resource vertices with this address whose file matches what checkov scanned."""
        cands = [v for v in self.by_address.get(address, []) if v.block_type == "resource"]
        if abs_file:
            want = os.path.normcase(os.path.abspath(abs_file))
            exact = [v for v in cands if os.path.normcase(os.path.abspath(v.file)) == want]
            if exact:
                cands = exact
        rel = scanned_file.replace("\\", "/").lstrip("/")
        if rel:
            cands = [v for v in cands if v.file.replace("\\", "/").endswith("/" + rel) or v.file.replace("\\", "/") == rel]
        if len(cands) > 1 and start_line is not None:
            same = [v for v in cands if v.start_line == start_line]
            if same:
                cands = same
        return cands


def _nodes(graph: Any) -> Iterable[tuple[Any, Any]]:
    if hasattr(graph, "weighted_edge_list"):  # rustworkx
        for idx in graph.node_indices():
            payload = graph[idx]
            if isinstance(payload, tuple) and len(payload) == 2 and isinstance(payload[1], dict):
                yield idx, payload[1]
            elif isinstance(payload, dict):
                yield idx, payload
        return
    nodes = getattr(graph, "nodes", None)
    if nodes is None:
        return
    for node_id, data in graph.nodes(data=True):  # networkx
        yield node_id, data


def _edges(graph: Any) -> Iterable[tuple[Any, Any, str]]:
    if hasattr(graph, "weighted_edge_list"):
        for src, dst, data in graph.weighted_edge_list():
            yield src, dst, _label(data)
        return
    for src, dst, data in graph.edges(data=True):
        yield src, dst, _label(data)


def _label(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("label", ""))
    return str(data or "")


def index_for(graph: Any) -> GraphIndex:
    """The index of ``graph``, built on first use and shared by every check and resource."""
    key = id(graph)
    with _LOCK:
        hit = _INDEXES.get(key)
        if hit is not None and hit[0] is graph:
            _INDEXES.move_to_end(key)
            return hit[1]
    index = GraphIndex(graph)
    with _LOCK:
        hit = _INDEXES.get(key)
        if hit is not None and hit[0] is graph:
            return hit[1]
        _INDEXES[key] = (graph, index)  # the graph is kept alive, so its id is not reused
        while len(_INDEXES) > _MAX_CACHED_GRAPHS:
            _INDEXES.popitem(last=False)
    return index


def clear_cache() -> None:
    with _LOCK:
        _INDEXES.clear()
