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
FORMAT = 1


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


def _stamp(st: os.stat_result) -> list:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class Index:
    """Facts by real path, valid while the file's metadata is unchanged. Disabled: every look-up misses."""

    def __init__(self, directory: Optional[str], base: str, fingerprint: str):
        self.path = None
        self.fingerprint = fingerprint
        self.entries: dict[str, list] = {}
        self.dirs: dict[str, list] = {}  # real directory -> stamp + its listing (changed.py's walk)
        self.dirty = False
        self.hits = 0
        if directory is None:
            return
        key = hashlib.sha256(os.path.realpath(base).encode("utf-8", "surrogateescape")).hexdigest()[:32]
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

    def get(self, real: str, st: os.stat_result) -> Optional[Facts]:
        e = self.entries.get(real)
        if (e is None or len(e) != 9 or e[0] != st.st_size or e[1] != st.st_mtime_ns or e[2] != st.st_ctime_ns
                or e[3] != st.st_ino or e[4] != st.st_dev):
            return None
        trail, sources, marker, kind = e[5:]
        if type(sources) is not list or type(kind) is not str or not all(type(x) is str for x in sources):
            return None  # a damaged index: read the file
        self.hits += 1
        return Facts(trail is True, tuple(sources), marker is True, kind)

    def put(self, real: str, st: os.stat_result, facts: Facts) -> None:
        if self.path is None:
            return
        if _racy(st):
            self.dirty = self.entries.pop(real, None) is not None or self.dirty
            return
        self.entries[real] = _stamp(st) + [facts.trail, list(facts.sources), facts.marker, facts.kind]
        self.dirty = True

    def get_dir(self, real: str, st: os.stat_result) -> Optional[tuple[list, list]]:
        """The listing recorded for a directory (.tf files as (name, real path), subdirectory names)."""
        e = self.dirs.get(real)
        if (e is None or len(e) != 5 or e[0] != st.st_mtime_ns or e[1] != st.st_ctime_ns or e[2] != st.st_ino):
            return None
        files, subdirs = e[3], e[4]
        if (type(files) is not list or type(subdirs) is not list or not all(type(n) is str for n in subdirs)
                or not all(type(f) is list and len(f) == 2 and type(f[0]) is str and type(f[1]) is str for f in files)):
            return None  # a damaged index: list the directory again
        return files, subdirs

    def put_dir(self, real: str, st: os.stat_result, files: list, subdirs: list) -> None:
        if self.path is None:
            return
        if _racy(st):
            self.dirty = self.dirs.pop(real, None) is not None or self.dirty
            return
        self.dirs[real] = [st.st_mtime_ns, st.st_ctime_ns, st.st_ino, [list(f) for f in files], list(subdirs)]
        self.dirty = True

    def forget_missing(self, walked_dirs: list[str], seen: set[str]) -> None:
        """Drop the entries under the walked directories that the walk did not see (deleted, or now ignored)."""
        prefixes = tuple(os.path.join(os.path.realpath(d), "") for d in walked_dirs)
        if not prefixes:
            return
        stale = [p for p in self.entries if p.startswith(prefixes) and p not in seen]
        for p in stale:
            del self.entries[p]
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
