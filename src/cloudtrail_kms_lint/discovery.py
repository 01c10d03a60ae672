"""Finding the files to scan: walk the paths, honour excludes and .gitignore."""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from . import limits

CFN_EXTENSIONS = (".yaml", ".yml", ".json", ".template")
TF_EXTENSIONS = (".tf",)
# Never descended into: VCS data, virtual environments, caches.
SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache",
             ".pytest_cache", ".hypothesis", ".cache", ".terraform"}


@dataclass
class Ignore:
    """gitignore-style patterns (a practical subset: globs, leading '/', trailing '/', '!' negation)."""

    patterns: list[tuple[str, bool, bool, bool]] = field(default_factory=list)  # (glob, negated, dir_only, anchored)
    _compiled: Any = field(default=None, repr=False, compare=False)  # (pattern count, matcher)

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
        if self._compiled is None or self._compiled[0] != len(self.patterns):
            self._compiled = (len(self.patterns), _compile(self.patterns))
        return self._compiled[1](rel, is_dir)


def _pattern_regex(glob: str, anchored: bool) -> str:
    """One pattern as a regular expression over the '/'-separated relative path.

    Anchored (it has a '/'): the path or anything under it matches the glob.
    Otherwise the path or any of its '/'-suffixes does (for a glob without '/',
    that includes the last component). fnmatch's '*' matches '/' too, as before.
    """
    if anchored:
        return f"(?:{fnmatch.translate(glob)})|(?:{fnmatch.translate(glob + '/*')})"
    return f"(?:{fnmatch.translate(glob)})|(?:{fnmatch.translate('*/' + glob)})"


def _compile(patterns: list) -> Any:
    """A function (rel, is_dir) -> ignored; the last matching pattern decides, as in git."""
    if not any(negated for _g, negated, _d, _a in patterns):
        # no negation: ignored when any pattern matches, so one alternation per kind of entry
        files = [_pattern_regex(g, a) for g, _n, d, a in patterns if not d]
        dirs = [_pattern_regex(g, a) for g, _n, d, a in patterns]
        file_re = re.compile("|".join(files)).match if files else None
        dir_re = re.compile("|".join(dirs)).match if dirs else None

        def any_match(rel: str, is_dir: bool) -> bool:
            m = dir_re if is_dir else file_re
            return m is not None and m(rel) is not None

        return any_match
    ordered = [(re.compile(_pattern_regex(g, a)).match, n, d) for g, n, d, a in reversed(patterns)]

    def last_match(rel: str, is_dir: bool) -> bool:
        for match, negated, dir_only in ordered:
            if dir_only and not is_dir:
                continue
            if match(rel) is not None:
                return not negated
        return False

    return last_match


def load_gitignore(root: str, ignore: Ignore) -> None:
    """The patterns of ``root/.gitignore`` (a regular file inside ``root``; at most
    MAX_GITIGNORE_BYTES and MAX_GITIGNORE_PATTERNS are read)."""
    path = os.path.join(root, ".gitignore")
    if _refused(path, root) is not None:
        return
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.MAX_GITIGNORE_BYTES)
    except OSError:
        return
    for line in data.decode("utf-8", "replace").splitlines()[: limits.MAX_GITIGNORE_PATTERNS]:
        ignore.add(line)


def _inside(path: str, root: str) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def _broken_link(path: str) -> Optional[str]:
    """Why a symbolic link cannot be read (a loop, a target that does not exist), or None."""
    if not os.path.islink(path):
        return None
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "cannot read the file: it is a symbolic link loop"
        return "cannot read the file: it is a symbolic link to a file that does not exist"
    return None


def _refused(path: str, root: str) -> Optional[str]:
    """Why the file at ``path`` is not read, or None: a symbolic link that leaves ``root``, loops or
    points nowhere, or anything but a regular file (a FIFO would block the scan)."""
    broken = _broken_link(path)
    if broken is not None:
        return broken
    try:
        st = os.stat(path)
    except OSError:
        return None  # reading it says why
    if os.path.islink(path) and not _inside(path, root):
        return "not read: it is a symbolic link to a file outside the scanned directory"
    if not stat.S_ISREG(st.st_mode):
        return "not read: it is not a regular file"
    return None


def _report(target: Optional[list], item: Any) -> None:
    if target is not None and all((x.file, x.message) != (item.file, item.message) for x in target):
        target.append(item)


def iter_files(paths: list[str], excludes: list[str], extensions: tuple[str, ...],
               errors: Optional[list] = None, warnings: Optional[list] = None) -> Iterator[str]:
    """Files under ``paths`` with one of ``extensions``; explicit file paths are always yielded.

    Nothing outside the scanned paths is read: a symbolic link whose target is
    outside the directory being walked (for an explicit file: outside the
    working directory) is not yielded, nor one that loops or points nowhere,
    nor a file that is not a regular file. With ``errors`` (a list), each such
    file is reported there as an InputError; with ``warnings``, a symbolic
    link to a directory that is not followed (it points outside, or loops) as
    a ScanWarning. Without them, links that loop or point nowhere are yielded
    (reading them fails, and the caller reports that) and the others are
    skipped silently: they are never read.
    """
    for path, _real, _explicit in walk(paths, excludes, extensions, errors, warnings):
        yield path


def walk(paths: list[str], excludes: list[str], extensions: tuple[str, ...],
         errors: Optional[list] = None, warnings: Optional[list] = None,
         gitignore: bool = True) -> Iterator[tuple[str, str, bool]]:
    """iter_files, yielding ``(path, real path, given explicitly)``.

    One ``os.scandir`` per directory, in the order ``os.walk`` would give
    (files of a directory sorted, then its subdirectories, depth first). The
    slow checks (``realpath``, ``stat``) are made only for symbolic links: a
    plain entry under a directory that was not reached through a link has the
    real path of its parent joined with its name.
    """
    from .report import InputError, ScanWarning

    seen: set[str] = set()
    for start in paths:
        if os.path.isfile(start):
            refused = _refused(start, os.getcwd())
            if refused is not None and (errors is not None or _broken_link(start) is None):
                _report(errors, InputError(display_path(start), None, refused))
                continue
            real = os.path.realpath(start)
            if real not in seen:
                seen.add(real)
                yield start, real, True
            continue
        if not os.path.isdir(start):
            continue
        ignore = Ignore()
        for e in excludes:
            ignore.add(e)
        if gitignore:
            load_gitignore(start, ignore)
        ignored = ignore.ignored if ignore.patterns else None  # most scans have no pattern at all
        stack = [(start, "", os.path.realpath(start))]
        while stack:
            dirpath, rel_dir, real_dir = stack.pop()
            try:
                with os.scandir(dirpath) as it:
                    entries = sorted(it, key=_name)
            except OSError as e:
                _report(errors, InputError(display_path(e.filename or dirpath), None,
                                           f"cannot read the directory: {e.strerror or e}"))
                continue
            subdirs = []
            for entry in entries:
                name = entry.name
                rel = f"{rel_dir}/{name}" if rel_dir else name
                try:
                    is_dir = entry.is_dir()  # follows a link, as os.walk classifies entries
                except OSError:
                    is_dir = False
                if is_dir:
                    if name in SKIP_DIRS or (ignored is not None and ignored(rel, True)):
                        continue
                    full = _join(dirpath, name)
                    if entry.is_symlink():  # never followed; say why when it matters
                        why = _directory_link(full, start)
                        if why is not None:
                            _report(warnings, ScanWarning(display_path(full), None, why))
                        continue
                    subdirs.append((full, rel, _join(real_dir, name)))
                    continue
                if not name.lower().endswith(extensions) or (ignored is not None and ignored(rel, False)):
                    continue
                full = _join(dirpath, name)
                if entry.is_symlink():
                    refused = _refused(full, start)
                    if refused is not None and (errors is not None or _broken_link(full) is None):
                        _report(errors, InputError(display_path(full), None, refused))
                        continue
                    real = os.path.realpath(full)
                else:
                    try:
                        regular = entry.is_file(follow_symlinks=False)
                    except OSError:
                        regular = True  # vanished: reading it says why
                    if not regular:  # a FIFO would block the scan; a device is never read
                        _report(errors, InputError(display_path(full), None, "not read: it is not a regular file"))
                        continue
                    real = _join(real_dir, name)
                if real in seen:
                    continue
                seen.add(real)
                yield full, real, False
            stack.extend(reversed(subdirs))


def _name(entry: os.DirEntry) -> str:
    return entry.name


def _join(directory: str, name: str) -> str:
    """os.path.join for one plain name (a walk joins thousands)."""
    if os.sep != "/" or directory.endswith("/"):
        return os.path.join(directory, name)
    return f"{directory}/{name}"


def _directory_link(path: str, root: str) -> Optional[str]:
    """Why a symbolic link to a directory is worth a warning (None: its target is scanned anyway)."""
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "not followed: it is a symbolic link loop"
        return None  # a dangling link to nothing: nothing to scan
    if not os.path.isdir(path):
        return None
    real = os.path.realpath(path)
    parent = os.path.realpath(os.path.dirname(path))
    if parent == real or parent.startswith(real.rstrip(os.sep) + os.sep):
        return "not followed: it is a symbolic link loop (it points at a directory that contains it)"
    if not _inside(path, root):
        return "not followed: it is a symbolic link to a directory outside the scanned directory"
    return None


def display_path(path: str) -> str:
    """Relative to the working directory, with '/' separators."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        rel = path
    if rel.startswith(".." + os.sep) or rel == "..":
        rel = os.path.abspath(path)
    return rel.replace(os.sep, "/")
