"""From changed files (what pre-commit passes) to what must be checked again.

* A changed ``.tf`` / ``.tfvars`` file: its whole module directory, analysed
  through the modules in the repository that call it (local ``source``
  paths, followed up to the root modules); a module nobody calls is a root.
* A changed key-policy file (``.json``, ``.tpl``, ...): the modules whose
  ``.tf`` files mention its name (``file("${path.module}/policy.json")``),
  and their callers. The file itself is still scanned (it may be a template
  or a plan).
* Anything else is scanned as given.

Only text is read here (``source = "./..."`` in ``.tf`` files, through the
pre-filter and its index: an unchanged file is not read again); nothing is
parsed until the scan.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator, Optional

from . import limits
from .discovery import SKIP_DIRS, _refused
from .prefilter import Index, terraform_facts

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


def _tf_dirs(root: str, index: Index) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """(directory, its .tf files as (path, real path)) for every directory under ``root``; see _module_sources.

    A directory whose metadata (mtime, ctime, inode) is unchanged since the index recorded it has
    the same entries: its recorded listing is used instead of listing it again. Adding, removing
    or renaming an entry changes the directory's mtime; a changed file is caught by its own stamp.
    """
    root = os.path.abspath(root)
    stack = [(root, os.path.realpath(root))]
    while stack:
        d, real_d = stack.pop()  # absolute and normalised: joins of root and entry names
        try:
            st = os.stat(d)
        except OSError:
            continue
        listing = index.get_dir(real_d, st)
        if listing is None:
            files, subdirs = [], []
            try:
                with os.scandir(d) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.is_dir():
                        if entry.name not in SKIP_DIRS and not entry.is_symlink():  # links are never followed
                            subdirs.append(entry.name)
                    elif entry.name.endswith(".tf"):
                        full = os.path.join(d, entry.name)
                        if entry.is_symlink():
                            if _refused(full, root) is None:  # a link out of the repository: never read
                                files.append((entry.name, os.path.realpath(full)))
                        elif entry.is_file(follow_symlinks=False):  # never a FIFO or a device
                            files.append((entry.name, os.path.join(real_d, entry.name)))
                except OSError:
                    continue
            listing = (files, subdirs)
            index.put_dir(real_d, st, files, subdirs)
        files, subdirs = listing
        if files:
            yield d, [(f"{d}{os.sep}{name}", real) for name, real in files]
        stack.extend((f"{d}{os.sep}{n}", f"{real_d}{os.sep}{n}") for n in reversed(subdirs))


def _module_sources(root: str, index: Index, policy_names: set[str]) -> tuple[dict[str, list[str]], set[str]]:
    """Directory -> local module sources its .tf files call, for every module directory under ``root``;
    and the directories whose .tf files mention one of ``policy_names``.

    Every directory but the skipped ones (.git, .terraform, ...) is walked, .gitignore or not: a
    caller in an ignored directory still calls the module. Links out of ``root`` and FIFOs are never
    read, and at most MAX_TF_FILES files are.
    """
    sources: dict[str, list[str]] = {}
    mentioning: set[str] = set()
    names = [n.encode("utf-8", "surrogateescape") for n in policy_names]
    limit = limits.current().max_file_bytes
    seen: set[str] = set()
    count = 0
    for d, files in _tf_dirs(root, index):
        calls = sources.setdefault(d, [])
        for full, real in files:
            count += 1
            if count > MAX_TF_FILES:
                return sources, mentioning
            if real in seen:
                continue
            seen.add(real)
            try:
                st = os.stat(full)
            except OSError:
                continue
            known = None if names else index.sources(real, st)
            if known is None:
                if st.st_size > limit:
                    continue
                try:
                    with open(full, "rb") as fh:
                        data = fh.read(limit + 1)
                except OSError:
                    continue
                if len(data) > limit:
                    continue
                facts = terraform_facts(full, data)
                index.put(real, st, facts)
                if any(n in data for n in names):
                    mentioning.add(d)
                known = facts.sources
            calls.extend(known)
    return sources, mentioning


def expand(paths: Iterable[str], root: Optional[str] = None, cache_dir: Optional[str] = None,
           use_cache: bool = True) -> list[str]:
    """The paths to scan for these changed paths (directories are kept as given).

    ``cache_dir``/``use_cache`` locate the pre-filter index, as for the scan (cache.py).
    """
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
    from .cache import Cache, code_fingerprint

    cache = Cache(cache_dir, enabled=use_cache)
    index = Index(cache.root if cache.enabled else None, repo_root(os.getcwd()), code_fingerprint())
    sources, mentioning = _module_sources(base, index, policy_names)
    index.save()
    changed_dirs |= mentioning
    calls: dict[str, set[str]] = {}
    for d, srcs in sources.items():
        for source in srcs:
            calls.setdefault(os.path.normpath(os.path.join(d, source)), set()).add(d)
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
