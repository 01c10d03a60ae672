"""The text pre-filter: what a cheap look at a file's bytes says, and an index that remembers it.

A scan parses only the Terraform modules that mention CloudTrail (or call a
module that does) and only the templates that declare a CloudTrail resource.
Finding those means reading every candidate file. The answers are small
(:class:`Facts`), so they are kept in an index next to the analysis cache,
by the file's metadata: a warm run ``stat``s a file instead of reading it.

An index entry is trusted only when the file's size, mtime, ctime, inode and
device are all unchanged. ctime cannot be set from user space, so restoring an
mtime (``touch -d``, ``git checkout``) does not fool it. A file modified less
than :data:`RACY_SECONDS` before the entry would be written is not recorded (the
next modification could share its timestamps: git's "racily clean" problem).
The index is never used by other code (the code fingerprint is in it), and
``--no-cache`` turns it off with the analysis cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from typing import NamedTuple, Optional

# Literal searches: a leading \b would make `re` try every byte position
# (docs/performance.md measured 116 ms vs 5 ms on 10.8 MB).
TRAIL_TF = b"aws_cloudtrail"  # aws_cloudtrail and aws_cloudtrail_event_data_store; a false hit only costs a parse
SUPPRESSION_MARKER = b"cloudtrail-kms-lint:ignore"
# A module call with a local source. The regex starts with a literal (fast scan);
# the byte before the match is checked by hand: `data_source = "./x"` is not a call.
_LOCAL_SOURCE = re.compile(rb'source\s*=\s*"(\.{1,2}/[^"]*)"')
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

# A file is worth decoding as CloudFormation only if it mentions what a
# template must have; other YAML/JSON (CI configs, Helm charts) is skipped
# silently, even when it does not parse.
_CFN_HINT = re.compile(rb"AWSTemplateFormatVersion|[\"']?Type[\"']?\s*:\s*[\"']?AWS::")
_PLAN_HINT = re.compile(rb'"format_version"\s*:')
CLOUDTRAIL_CFN = b"AWS::CloudTrail::"

RACY_SECONDS = 2
_LOADED: dict = {}  # index path -> (its stamp, code fingerprint, entries, dirs): one read per process
MAX_ENTRIES = 500_000  # beyond this the index starts again empty (a bound, not a working size)
FORMAT = 2


class Facts(NamedTuple):  # a tuple: thousands are made per run
    """What the pre-filter needs from one file."""

    trail: bool = False  # .tf: mentions aws_cloudtrail
    sources: tuple = ()  # .tf: local module sources ("./modules/kms"), as written
    marker: bool = False  # holds an inline suppression comment
    kind: str = ""  # other files: "plan", "template", "trail-template" or "" (nothing to scan)


def local_sources(data: bytes) -> tuple:
    out = []
    for m in _LOCAL_SOURCE.finditer(data):
        if m.start() > 0 and data[m.start() - 1] in _WORD:
            continue
        out.append(m.group(1).decode("utf-8", "replace"))
    return tuple(out)


def terraform_facts(_path: str, data: bytes) -> Facts:
    sources = local_sources(data) if b'".' in data else ()  # one search gates the regex: "./ or "../
    return Facts(trail=TRAIL_TF in data, sources=sources, marker=SUPPRESSION_MARKER in data)


def other_facts(path: str, data: bytes) -> Facts:
    """A YAML/JSON/template file: a Terraform plan, a CloudFormation template (with or without a trail), or neither."""
    if path.endswith(".json") and _PLAN_HINT.search(data[:4096]) and b"planned_values" in data:
        return Facts(kind="plan")
    if not _CFN_HINT.search(data):
        return Facts()
    return Facts(kind="trail-template" if CLOUDTRAIL_CFN in data else "template")


def _racy(st: os.stat_result) -> bool:
    """Changed so recently that the next change could keep the same timestamps: not recorded."""
    return time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_SECONDS * 1_000_000_000


def _stamp(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


def _dir_stamp(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


class Index:
    """Facts by real path, valid while the file's metadata is unchanged. Disabled: every look-up misses.

    On disk (one JSON file per repository, compact because a pre-commit run loads it): paths
    relative to the repository when they are inside it; a file's entry is
    ``[stamp, flags (1: mentions a trail, 2: holds a suppression comment), sources, kind]``; a
    directory's is ``[stamp, .tf files (a name, or [name, real path] for a link), subdirectories]``.
    """

    def __init__(self, directory: Optional[str], base: str, fingerprint: str):
        self.path = None
        self.fingerprint = fingerprint
        self.prefix = os.path.join(os.path.realpath(base), "")
        self.entries: dict[str, list] = {}
        self.dirs: dict[str, list] = {}  # real directory -> stamp and listing (changed.py's walk)
        self.dirty = False
        self.hits = 0
        if directory is None:
            return
        key = hashlib.sha256(self.prefix.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        self.path = os.path.join(directory, "prefilter", key + ".json")
        try:
            st = os.stat(self.path)
            memo = _LOADED.get(self.path)
            if memo is not None and memo[0] == (st.st_size, st.st_mtime_ns, st.st_ino) and memo[1] == fingerprint:
                self.entries, self.dirs = memo[2], memo[3]  # read (or written) by this process: e.g. pre-commit's expand
                return
            with open(self.path, encoding="utf-8") as fh:
                doc = json.load(fh)
            if (doc.get("format") == FORMAT and doc.get("code") == fingerprint and isinstance(doc.get("files"), dict)
                    and isinstance(doc.get("dirs"), dict)):
                self.entries = doc["files"]
                self.dirs = doc["dirs"]
        except (OSError, ValueError, AttributeError):
            self.entries, self.dirs = {}, {}
            return
        _LOADED[self.path] = ((st.st_size, st.st_mtime_ns, st.st_ino), fingerprint, self.entries, self.dirs)

    def _key(self, real: str) -> str:
        return real[len(self.prefix):] if real.startswith(self.prefix) else real

    def _real(self, key: str) -> str:
        return key if os.path.isabs(key) else self.prefix + key

    def _fresh(self, real: str, st: os.stat_result) -> Optional[list]:
        e = self.entries.get(real[len(self.prefix):] if real.startswith(self.prefix) else real)
        if type(e) is not list or len(e) != 4 or e[0] != _stamp(st):
            return None
        sources, kind = e[2], e[3]
        if type(sources) is not list or type(kind) is not str or type(e[1]) is not int \
                or not all(type(x) is str for x in sources):
            return None  # a damaged index: read the file
        self.hits += 1
        return e

    def get(self, real: str, st: os.stat_result) -> Optional[Facts]:
        e = self._fresh(real, st)
        if e is None:
            return None
        return Facts(bool(e[1] & 1), tuple(e[2]), bool(e[1] & 2), e[3])

    def sources(self, real: str, st: os.stat_result) -> Optional[list]:
        """Only the local module sources (changed.py reads thousands of entries per run)."""
        e = self._fresh(real, st)
        return None if e is None else e[2]

    def put(self, real: str, st: os.stat_result, facts: Facts) -> None:
        if self.path is None:
            return
        if _racy(st):
            # not recorded; an older entry stays (its stamp no longer matches), so that a pre-commit
            # run on a file just edited does not rewrite the whole index
            return
        self.entries[self._key(real)] = [_stamp(st), (1 if facts.trail else 0) | (2 if facts.marker else 0),
                                         list(facts.sources), facts.kind]
        self.dirty = True

    def get_dir(self, real: str, st: os.stat_result) -> Optional[tuple[list, list]]:
        """The listing recorded for a directory: its .tf files as (name, real path), its subdirectories."""
        e = self.dirs.get(self._key(real))
        if type(e) is not list or len(e) != 3 or e[0] != _dir_stamp(st):
            return None
        names, subdirs = e[1], e[2]
        if type(names) is not list or type(subdirs) is not list or not all(type(n) is str for n in subdirs):
            return None  # a damaged index: list the directory again
        files = []
        for f in names:
            if type(f) is str:
                files.append((f, f"{real}{os.sep}{f}"))
            elif type(f) is list and len(f) == 2 and type(f[0]) is str and type(f[1]) is str:
                files.append((f[0], f[1]))
            else:
                return None
        return files, subdirs

    def put_dir(self, real: str, st: os.stat_result, files: list, subdirs: list) -> None:
        if self.path is None:
            return
        if _racy(st):
            return  # as in put()
        names = [name if r == f"{real}{os.sep}{name}" else [name, r] for name, r in files]
        self.dirs[self._key(real)] = [_dir_stamp(st), names, list(subdirs)]
        self.dirty = True

    def forget_missing(self, walked_dirs: list[str], seen: set[str]) -> None:
        """Drop the entries of files under the walked directories that no longer exist. (A file the
        walk skipped, e.g. gitignored, keeps its entry: pre-commit's caller search reads it.)"""
        prefixes = tuple(os.path.join(os.path.realpath(d), "") for d in walked_dirs)
        if not prefixes:
            return
        keyed = tuple(self._key(p) for p in prefixes)  # compare keys first: a pre-commit scan walks one module
        stale = []
        for key in self.entries:
            if not key.startswith(keyed):
                continue
            real = self._real(key)
            if real.startswith(prefixes) and real not in seen and not os.path.lexists(real):
                stale.append(key)
        for key in stale:
            del self.entries[key]
        self.dirty = self.dirty or bool(stale)

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        if len(self.entries) + len(self.dirs) > MAX_ENTRIES:
            self.entries, self.dirs = {}, {}
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            import tempfile  # only when writing: a warm run does not pay for it

            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path), prefix=".tmp-", suffix=".json")
            doc = {"format": FORMAT, "code": self.fingerprint, "files": self.entries, "dirs": self.dirs}
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(doc, separators=(",", ":")))  # dumps, not dump: the C encoder
            os.replace(tmp, self.path)  # atomic: a concurrent run reads the old index or the new one
            st = os.stat(self.path)
        except OSError:
            return  # a read-only or full disk: the next run reads the files again
        _LOADED[self.path] = ((st.st_size, st.st_mtime_ns, st.st_ino), self.fingerprint, self.entries, self.dirs)
        self.dirty = False
