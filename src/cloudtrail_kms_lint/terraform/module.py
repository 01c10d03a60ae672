"""Terraform modules: a directory of ``.tf`` files, instantiated with its inputs.

A :class:`Project` parses module directories once (cached) and keeps what
evaluation shares: references to resources are symbols registered in
``Project.refs`` (so a value that crossed module boundaries still says which
resource, in which module instance, it came from) and statement locations of
rendered policy documents.

Module sources: a local path (``./modules/kms``) is followed inside the scanned
root; a remote module is followed when ``terraform init`` put it under
``.terraform/modules`` (``modules.json`` in the root module); otherwise its
outputs are unknown, and say so.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .. import limits
from ..model import Location
from ..report import InputError
from ..values import Symbol
from .expressions import Scope, evaluate
from .functions import directory_reader
from .parse import Block, Expression, parse_blocks, parse_text, read_source, require_hcl2
from .blocks import ALWAYS_PARSED, LOOKED_UP_TYPES, relevant_blocks  # noqa: F401 - re-exported
from .policy_document import as_attributes, render_document
from .treecache import default as default_trees, set_default as set_default_trees

MAX_MODULE_DEPTH = limits.DEFAULTS.max_module_depth  # the default; in force: limits.current().max_module_depth
# Attributes a reference may read from a resource that are known only after apply.
COMPUTED = ("arn", "id", "key_id", "name", "target_key_id", "target_key_arn", "policy", "json")
REF_PREFIX = "tfref:"


@dataclass
class ModuleDir:
    path: str  # absolute, normalised
    files: list = field(default_factory=list)  # ParsedFile
    errors: list = field(default_factory=list)  # InputError

    @property
    def blocks(self) -> list:
        return [b for f in self.files for b in f.blocks]

    def find(self, address: str) -> Optional[Block]:
        for b in self.blocks:
            if b.type in ("resource", "data") and b.address == address:
                return b
        return None

    def of_type(self, block_type: str, resource_type: Optional[str] = None) -> list:
        out = []
        for b in self.blocks:
            if b.type != block_type:
                continue
            if resource_type is not None and (not b.labels or b.labels[0] != resource_type):
                continue
            out.append(b)
        return out

    def module_call(self, name: str) -> Optional[Block]:
        for b in self.blocks:
            if b.type == "module" and b.labels == (name,):
                return b
        return None

    def output(self, name: str) -> Optional[Block]:
        for b in self.blocks:
            if b.type == "output" and b.labels == (name,):
                return b
        return None


@dataclass(frozen=True)
class Ref:
    """What a registered reference symbol points at."""

    instance: "ModuleInstance"
    block: Block
    address: str  # module-qualified, with instance key: module.kms.aws_kms_key.this[0]
    attribute: str


class Project:
    """One scan's Terraform state: parsed directories and the symbols evaluation created."""

    def __init__(self, root: str, display: Callable[[str], str], tree_cache: Any = None):
        self.root = os.path.realpath(root)
        self.display = display
        # block parse trees (treecache.TreeCache); None: the process's in-memory one. It also becomes
        # treecache.default(), for the expressions, templates and .tfvars files parsed while analysing
        # (until the next Project), so a Project without one never writes to another's directory.
        self.tree_cache = tree_cache
        set_default_trees(tree_cache)
        self._dirs: dict[str, ModuleDir] = {}
        self.refs: dict[str, Ref] = {}
        self.statement_locations: dict[int, Location] = {}
        self.choices: dict = {}
        self.origins: dict = {}
        self.instances: list = []  # every ModuleInstance created, in order
        self.files_read: set = set()  # every file the analysis read (for the cache)

    def reader(self, base_dir: str) -> Callable[[str], str]:
        """file()/templatefile() reads, confined to the scanned root, recorded for the cache."""
        read = directory_reader(base_dir, self.root)

        def record(path: str) -> str:
            text = read(path)
            self.files_read.add(os.path.realpath(os.path.join(base_dir, os.path.expanduser(path))))
            return text

        return record

    def module_dir(self, path: str) -> ModuleDir:
        path = os.path.realpath(path)
        if path in self._dirs:
            return self._dirs[path]
        md = ModuleDir(path)
        try:
            names = sorted(n for n in os.listdir(path) if n.endswith(".tf"))
        except OSError as e:
            md.errors.append(InputError(self.display(path), None, f"cannot read the module directory: {e.strerror or e}"))
            names = []
        entries: list = []  # (display name, text or None, ParsedFile of a read error or None)
        for n in names:
            full = os.path.join(path, n)
            refused = refuse_path(full, self.root)
            if refused:  # never read, so never part of a cache entry either (its digest would read it)
                md.errors.append(InputError(self.display(full), None, refused))
                continue
            self.files_read.add(os.path.realpath(full))
            shown = self.display(full)
            text, failed = read_source(full, shown)
            entries.append((shown, text, failed))
        for pf in self._parse_entries(entries):
            md.files.append(pf)
            md.errors.extend(pf.errors)
        self._dirs[path] = md
        return md

    def _parse_entries(self, entries: list) -> list:
        """ParsedFile per file of a module directory: only the blocks the analysis can read.

        Every file is split into its top-level blocks without a parser (``blocks.split``). When one
        cannot be split, every file is parsed in full, as ``parse_file`` does. Otherwise only the
        relevant blocks are parsed (see :func:`relevant_blocks`), each alone, with the positions of a
        full parse; a syntax error in any other block is not reported (it cannot change a verdict)."""
        from .blocks import split

        texts = [(None if text is None else (text[1:] if text.startswith("\ufeff") else text)) for _, text, _ in entries]
        spans: list = []
        for text in texts:
            sp = split(text) if text is not None else []
            if sp is None:
                require_hcl2()
                trees = self.tree_cache if self.tree_cache is not None else default_trees()
                return [failed if failed is not None else parse_text(text, shown, trees) for shown, text, failed in entries]
            spans.append(sp)
        keep = relevant_blocks(spans)
        trees = self.tree_cache if self.tree_cache is not None else default_trees()
        out = []
        for k, (shown, _text, failed) in enumerate(entries):
            if failed is not None:
                out.append(failed)
                continue
            out.append(parse_blocks(texts[k], shown, [b for j, b in enumerate(spans[k]) if (k, j) in keep], trees))
        return out

    def inside_root(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root + os.sep)

    def ref_symbol(self, instance: "ModuleInstance", block: Block, index: str, attribute: str) -> Symbol:
        address = f"{instance.prefix}{block.address}{index}"
        name = f"{REF_PREFIX}{address}.{attribute}"
        if name not in self.refs:
            self.refs[name] = Ref(instance, block, address, attribute)
        return Symbol(name, "opaque", f"{address}.{attribute} is known only after apply")


def tfvars_values(path: str, display: Callable[[str], str], errors: list) -> dict:
    """Variable values from a .tfvars file (expressions, evaluated in the module's scope)."""
    text, failed = read_source(path, display(path))
    pf = failed if failed is not None else parse_text(text, display(path), default_trees())
    errors.extend(pf.errors)
    return {name: attr.expression for name, attr in pf.attributes.items()}


def _index_text(key: Any) -> str:
    if key is None:
        return ""
    if isinstance(key, int):
        return f"[{key}]"
    return f'["{key}"]'


class ModuleInstance:
    """A module directory evaluated with one set of inputs, at one address (``module.a.module.b.``)."""

    def __init__(self, project: Project, mdir: ModuleDir, root_dir: str, prefix: str = "",
                 var_values: Optional[dict] = None, depth: int = 0, stack: tuple = ()):
        self.project = project
        self.mdir = mdir
        self.root_dir = root_dir  # the root module's directory: file() resolves against it
        self.prefix = prefix
        self.depth = depth
        self.stack = stack + (mdir.path,)
        self._children: dict[str, Any] = {}
        self._policy_docs: dict[str, Any] = {}
        rel = os.path.relpath(mdir.path, root_dir)
        self.scope = Scope.for_module(
            mdir.files,
            var_values or {},
            resources=self._resource,
            modules=self._module_output,
            read_file=project.reader(root_dir),
            path_module="." if rel == "." else rel.replace(os.sep, "/"),
            path_root=".",
        )
        self.scope.choices = project.choices
        self.scope.origins = project.origins
        project.instances.append(self)

    # ------------------------------------------------------------ evaluation

    def eval(self, expr: Any, scope: Optional[Scope] = None) -> Any:
        return evaluate(expr, scope or self.scope)

    def attr(self, block: Block, name: str, scope: Optional[Scope] = None) -> Any:
        a = block.attribute(name)
        if a is None:
            return None
        return self.eval(a.expression, scope)

    def instances(self, block: Block) -> list[tuple[Any, Scope]]:
        """(instance key, scope) for each instance of a resource: count / for_each expanded when known."""
        count = block.attribute("count")
        for_each = block.attribute("for_each")
        if count is not None:
            n = self.eval(count.expression)
            if isinstance(n, bool) or not isinstance(n, (int, float)):
                sym = Symbol("count.index", "opaque", f"count of {self.prefix}{block.address} is not known")
                return [(None, self.scope.with_instance(count_index=sym))]
            return [(i, self.scope.with_instance(count_index=i)) for i in range(int(n))]
        if for_each is not None:
            v = self.eval(for_each.expression)
            if isinstance(v, dict):
                return [(k, self.scope.with_instance(each_key=k, each_value=x)) for k, x in v.items()]
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                return [(k, self.scope.with_instance(each_key=k, each_value=k)) for k in v]
            sym = Symbol("each.key", "opaque", f"for_each of {self.prefix}{block.address} is not known")
            return [(None, self.scope.with_instance(each_key=sym, each_value=sym))]
        return [(None, self.scope)]

    # ------------------------------------------------------------ resolvers for the expression evaluator

    def _attributes(self, block: Block, key: Any) -> dict:
        index = _index_text(key)
        attrs = {a: self.project.ref_symbol(self, block, index, a) for a in COMPUTED}
        rtype = block.labels[0] if block.labels else ""
        if rtype == "aws_kms_alias":
            name = self.attr(block, "name")
            if name is not None:
                attrs["name"] = name
        return attrs

    def _resource(self, address: str) -> Any:
        block = self.mdir.find(address)
        if block is None:
            return None
        if block.type == "data":
            rtype = block.labels[0]
            if rtype == "aws_iam_policy_document":
                if address not in self._policy_docs:
                    self._policy_docs[address] = Symbol(address, "opaque", f"{address} refers to itself")
                    self._policy_docs[address] = self._render_policy_document(block)
                return self._policy_docs[address]
            if rtype in ("aws_caller_identity", "aws_partition", "aws_region"):
                return None  # the evaluator gives their environment symbols
        count = block.attribute("count")
        for_each = block.attribute("for_each")
        if count is None and for_each is None:
            return self._attributes(block, None)
        keys = [k for k, _ in self.instances(block)]
        if keys == [None]:
            return None
        if count is not None:
            return [self._attributes(block, k) for k in keys]
        return {k: self._attributes(block, k) for k in keys}

    def _render_policy_document(self, block: Block) -> Any:
        def render(scope: Scope) -> dict:
            def ev(expr: Any, env: Optional[dict] = None) -> Any:
                return evaluate(expr, scope, env)
            return as_attributes(render_document(block, ev, self.project.statement_locations))

        if block.attribute("count") is None and block.attribute("for_each") is None:
            return render(self.scope)
        instances = self.instances(block)
        if [k for k, _ in instances] == [None]:
            return None
        if block.attribute("count") is not None:
            return [render(scope) for _, scope in instances]
        return {k: render(scope) for k, scope in instances}

    def _module_output(self, name: str, output: str) -> Any:
        child = self.child(name)
        if isinstance(child, Symbol):
            return Symbol(f"module.{name}.{output}", "opaque", child.reason)
        ob = child.mdir.output(output)
        if ob is None:
            return Symbol(f"module.{name}.{output}", "opaque", f"module {name} has no output {output!r}")
        return child.attr(ob, "value")

    # ------------------------------------------------------------ module calls

    def child(self, name: str) -> Any:
        """The instance of ``module "<name>"``, or a Symbol saying why it cannot be followed."""
        if name in self._children:
            return self._children[name]
        self._children[name] = Symbol(f"module.{name}", "opaque", f"module {name} refers to itself")
        self._children[name] = self._make_child(name)
        return self._children[name]

    def _make_child(self, name: str) -> Any:
        call = self.mdir.module_call(name)
        label = f"{self.prefix}module.{name}"
        if call is None:
            return Symbol(label, "opaque", f"{label} is not declared")
        max_depth = limits.current().max_module_depth
        if self.depth >= max_depth:
            return Symbol(label, "opaque", f"{label} is nested more than {max_depth} modules deep "
                                           f"(limit max-module-depth); not followed")
        source = self.attr(call, "source")
        if not isinstance(source, str):
            return Symbol(label, "opaque", f"the source of {label} is not known")
        path = self.source_dir(name, source)
        if isinstance(path, Symbol):
            return path
        if os.path.realpath(path) in self.stack:
            return Symbol(label, "opaque", f"{label} calls a module that calls it ({source}); not followed")
        mdir = self.project.module_dir(path)
        inputs: dict = {}
        for arg, a in call.attributes.items():
            if arg in ("source", "version", "providers", "count", "for_each", "depends_on"):
                continue
            inputs[arg] = self.eval(a.expression)
        return ModuleInstance(self.project, mdir, self.root_dir, f"{label}.", inputs, self.depth + 1, self.stack)

    def source_dir(self, name: str, source: str) -> Any:
        label = f"{self.prefix}module.{name}"
        if os.path.isabs(source) or source.startswith(("~", "\\")) or re.match(r"[A-Za-z]:[\\/]", source):
            return Symbol(label, "opaque", f"{label} source {source} is an absolute path; only paths inside the "
                                           "scanned directory are read (not followed)")
        if source.startswith(("./", "../")):
            path = os.path.normpath(os.path.join(self.mdir.path, source))
            if not self.project.inside_root(path):
                return Symbol(label, "opaque", f"{label} source {source} is outside the scanned directory; not read")
            if not os.path.isdir(path):
                return Symbol(label, "opaque", f"{label} source {source} does not exist")
            return path
        # a remote module: where `terraform init` put it
        key = ".".join(p for p in (self.prefix.replace("module.", "").rstrip(".").split(".") if self.prefix else []) if p)
        key = f"{key}.{name}" if key else name
        manifest = os.path.join(self.root_dir, ".terraform", "modules", "modules.json")
        try:
            if not refuse_path(manifest, self.project.root):
                with open(manifest, "rb") as fh:
                    data = json.loads(fh.read(limits.current().max_file_bytes).decode("utf-8"))
                for m in data.get("Modules", []):
                    if m.get("Key") == key and isinstance(m.get("Dir"), str):
                        path = os.path.normpath(os.path.join(self.root_dir, m["Dir"]))
                        if self.project.inside_root(path) and os.path.isdir(path):
                            return path
        except (OSError, ValueError, AttributeError, TypeError, RecursionError):
            pass  # no usable manifest: the module is not downloaded
        return Symbol(label, "opaque", f"{label} ({source}) is a remote module that is not downloaded "
                                       f"(run terraform init to let the scan follow it)")

    def children(self) -> list[tuple[str, Any]]:
        return [(b.labels[0], self.child(b.labels[0])) for b in self.mdir.blocks if b.type == "module" and len(b.labels) == 1]


def root_var_values(root_dir: str, var_files: list[str], cli_vars: dict[str, str],
                    display: Callable[[str], str], errors: list) -> dict:
    """Variable values for a root module, in Terraform's precedence order:
    terraform.tfvars, *.auto.tfvars (alphabetical), --var-file, --var."""
    values: dict = {}
    candidates = []
    tfvars = os.path.join(root_dir, "terraform.tfvars")
    if os.path.lexists(tfvars):
        candidates.append(tfvars)
    try:
        autos = sorted(n for n in os.listdir(root_dir) if n.endswith(".auto.tfvars"))
    except OSError:
        autos = []
    candidates += [os.path.join(root_dir, n) for n in autos]
    # the files found in the module (not the ones the user named) come from the code under review:
    # they must stay inside its repository
    confine = _repository_of(root_dir)
    for path in candidates:
        refused = refuse_path(path, confine)
        if refused:
            errors.append(InputError(display(path), None, refused))
            continue
        values.update(tfvars_values(path, display, errors))
    for path in var_files:
        values.update(tfvars_values(path, display, errors))
    for name, raw in cli_vars.items():
        values[name] = raw  # -var values are strings (Terraform converts them to the declared type)
    return values


def refuse_path(path: str, root: str) -> Optional[str]:
    """Why the file at ``path`` must not be read (a symbolic link out of ``root``, a loop, not a regular
    file), or None when it may be. A missing file is not refused here: reading it reports that."""
    if os.path.islink(path):
        try:
            os.stat(path)
        except OSError as e:
            if getattr(e, "errno", None) == errno.ELOOP:
                return "cannot read the file: it is a symbolic link loop"
            return None
        real = os.path.realpath(path)
        top = os.path.realpath(root)
        if not (real == top or real.startswith(top.rstrip(os.sep) + os.sep)):
            return "not read: it is a symbolic link to a file outside the scanned directory"
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return "not read: it is not a regular file"
    return None


def _repository_of(directory: str) -> str:
    """The git work tree that holds ``directory`` (the directory itself when there is none)."""
    d = os.path.realpath(directory)
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return os.path.realpath(directory)
        d = parent


__all__ = ["Project", "ModuleDir", "ModuleInstance", "Ref", "REF_PREFIX", "root_var_values", "Expression"]
