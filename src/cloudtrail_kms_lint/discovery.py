"""Finding the files to scan: walk the paths, honour excludes and .gitignore."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Iterator

CFN_EXTENSIONS = (".yaml", ".yml", ".json", ".template")
TF_EXTENSIONS = (".tf",)
# Never descended into: VCS data, virtual environments, caches.
SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache",
             ".pytest_cache", ".hypothesis", ".cache", ".terraform"}


@dataclass
class Ignore:
    """gitignore-style patterns (a practical subset: globs, leading '/', trailing '/', '!' negation)."""

    patterns: list[tuple[str, bool, bool, bool]] = field(default_factory=list)  # (glob, negated, dir_only, anchored)

    def add(self, pattern: str) -> None:
        p = pattern.strip()
        if not p or p.startswith("#"):
            return
        negated = p.startswith("!")
        if negated:
            p = p[1:]
        dir_only = p.endswith("/")
        p = p.rstrip("/")
        anchored = p.startswith("/") or "/" in p
        p = p.lstrip("/")
        if p:
            self.patterns.append((p, negated, dir_only, anchored))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        rel = rel.replace(os.sep, "/")
        name = rel.rsplit("/", 1)[-1]
        result = False
        for glob, negated, dir_only, anchored in self.patterns:
            if dir_only and not is_dir:
                continue
            hit = fnmatch.fnmatchcase(rel, glob) or fnmatch.fnmatchcase(rel, glob + "/*") if anchored else (
                fnmatch.fnmatchcase(name, glob) or fnmatch.fnmatchcase(rel, glob) or fnmatch.fnmatchcase(rel, "*/" + glob))
            if hit:
                result = not negated
        return result


def load_gitignore(root: str, ignore: Ignore) -> None:
    path = os.path.join(root, ".gitignore")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                ignore.add(line.rstrip("\n"))
    except OSError:
        pass


def iter_files(paths: list[str], excludes: list[str], extensions: tuple[str, ...]) -> Iterator[str]:
    """Files under ``paths`` with one of ``extensions``; explicit file paths are always yielded."""
    seen: set[str] = set()
    for start in paths:
        if os.path.isfile(start):
            real = os.path.realpath(start)
            if real not in seen:
                seen.add(real)
                yield start
            continue
        if not os.path.isdir(start):
            continue
        ignore = Ignore()
        for e in excludes:
            ignore.add(e)
        load_gitignore(start, ignore)
        for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
            rel_dir = os.path.relpath(dirpath, start)
            rel_dir = "" if rel_dir == "." else rel_dir
            keep = []
            for d in sorted(dirnames):
                rel = os.path.join(rel_dir, d) if rel_dir else d
                if d in SKIP_DIRS or ignore.ignored(rel, True):
                    continue
                keep.append(d)
            dirnames[:] = keep
            for f in sorted(filenames):
                if not f.lower().endswith(extensions):
                    continue
                rel = os.path.join(rel_dir, f) if rel_dir else f
                if ignore.ignored(rel, False):
                    continue
                full = os.path.join(dirpath, f)
                real = os.path.realpath(full)
                if real in seen:
                    continue
                seen.add(real)
                yield full


def display_path(path: str) -> str:
    """Relative to the working directory, with '/' separators."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        rel = path
    if rel.startswith(".." + os.sep) or rel == "..":
        rel = os.path.abspath(path)
    return rel.replace(os.sep, "/")
