"""From changed files (what pre-commit passes) to what must be checked again.

* A changed ``.tf`` / ``.tfvars`` file: its whole module directory, analysed
  through the modules in the repository that call it (local ``source``
  paths, followed up to the root modules); a module nobody calls is a root.
* A changed key-policy file (``.json``, ``.tpl``, ...): the modules whose
  ``.tf`` files mention its name (``file("${path.module}/policy.json")``),
  and their callers. The file itself is still scanned (it may be a template
  or a plan).
* Anything else is scanned as given.

Only text is read here (a regular expression over ``.tf`` files for
``source = "./..."``); nothing is parsed until the scan.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Optional

from . import limits
from .discovery import SKIP_DIRS, _refused

_LOCAL_SOURCE = re.compile(r'\bsource\s*=\s*"(\.{1,2}/[^"]*)"')
TF_FILES = (".tf", ".tfvars")
MAX_TF_FILES = 50_000


POLICY_FILES = (".json", ".tpl", ".tftpl")


def _may_be_policy_file(path: str) -> bool:
    """A file a module may read with file()/templatefile(): JSON or a template, not a CloudFormation template or plan."""
    if not path.endswith(POLICY_FILES):
        return False
    if _refused(path, os.getcwd()) is not None:
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return not (b"AWSTemplateFormatVersion" in head or b'"Resources"' in head or b'"format_version"' in head)


def repo_root(start: str) -> str:
    """The enclosing git work tree (a directory holding .git), else ``start``."""
    d = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return os.path.abspath(start)
        d = parent


def _tf_texts(root: str) -> dict[str, list[str]]:
    """Directory -> texts of its .tf files, for every module directory under ``root``."""
    out: dict[str, list[str]] = {}
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for f in filenames:
            if not f.endswith(".tf"):
                continue
            count += 1
            if count > MAX_TF_FILES:
                return out
            full = os.path.join(dirpath, f)
            if _refused(full, root) is not None:  # a link out of the repository, a FIFO: never read
                continue
            try:
                with open(full, "rb") as fh:
                    data = fh.read(limits.current().max_file_bytes)
            except OSError:
                continue
            out.setdefault(os.path.abspath(dirpath), []).append(data.decode("utf-8", "replace"))
    return out


def expand(paths: Iterable[str], root: Optional[str] = None) -> list[str]:
    """The paths to scan for these changed paths (directories are kept as given)."""
    paths = list(paths)
    changed_dirs: set[str] = set()
    policy_names: set[str] = set()
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out.append(p)
        elif p.endswith(TF_FILES):
            changed_dirs.add(os.path.dirname(os.path.abspath(p)))
        else:
            out.append(p)
            if os.path.isfile(p) and _may_be_policy_file(p):
                policy_names.add(os.path.basename(p))
    if not changed_dirs and not policy_names:
        return out
    base = root or repo_root(os.path.dirname(os.path.abspath(paths[0])) if paths else ".")
    texts = _tf_texts(base)
    if policy_names:
        for d, ts in texts.items():
            if any(name in t for t in ts for name in policy_names):
                changed_dirs.add(d)
    calls: dict[str, set[str]] = {}
    for d, ts in texts.items():
        for t in ts:
            for m in _LOCAL_SOURCE.finditer(t):
                calls.setdefault(os.path.normpath(os.path.join(d, m.group(1))), set()).add(d)
    roots: set[str] = set()
    for d in changed_dirs:
        # follow callers up to the modules nobody calls: those are the roots to analyse
        found = False
        stack, seen = [d], {d}
        while stack:
            cur = stack.pop()
            callers = calls.get(cur, set())
            if not callers:
                roots.add(cur)
                found = True
                continue
            for c in callers - seen:
                seen.add(c)
                stack.append(c)
        if not found:  # only cycles above it: analyse it on its own
            roots.add(d)
    cwd = os.getcwd()
    for r in sorted(roots):
        rel = os.path.relpath(r, cwd)
        out.append(r if rel.startswith("..") else rel)
    return out
