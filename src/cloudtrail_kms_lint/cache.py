"""A content-addressed cache of analysis results (per Terraform root module and per CloudFormation file).

* Location: ``--cache-dir``, else ``$CLOUDTRAIL_KMS_LINT_CACHE_DIR``, else
  ``$XDG_CACHE_HOME/cloudtrail-kms-lint`` (``~/.cache/cloudtrail-kms-lint``).
  ``--no-cache`` turns it off. Nothing else is ever written by a scan but this
  cache and ``--output``.
* Keys: SHA-256 of the tool version, the analysis options and the content of
  the files the entry depends on. An entry also lists every file the analysis
  read (modules, tfvars, policy files) with its content hash; it is used only
  when every one of them is unchanged. Entries of another tool version are
  never read (the version is part of the key and of the directory).
* Safe under concurrent runs: entries are written to a temporary file and
  renamed into place; a damaged or unreadable entry is a miss.
* Bounded: after writing, entries beyond ``max_bytes`` are removed, oldest first.

The pre-filter's index (prefilter.py) and the Terraform block trees
(terraform/treecache.py) live under the same directory and budget.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Callable, Iterable, Optional

from . import __version__
from .model import Finding, Location, Related, TraceStep
from .report import InputError

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
ENV_DIR = "CLOUDTRAIL_KMS_LINT_CACHE_DIR"


_CODE: Optional[str] = None


def code_fingerprint() -> str:
    """The tool's own code (version, and every module's size and mtime): an entry from other code is never used."""
    global _CODE
    if _CODE is None:
        h = hashlib.sha256(__version__.encode())
        pkg = os.path.dirname(os.path.abspath(__file__))
        for dirpath, dirnames, files in os.walk(pkg):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for f in sorted(files):
                if f.endswith(".py"):
                    try:
                        st = os.stat(os.path.join(dirpath, f))
                    except OSError:
                        continue
                    h.update(f"{os.path.relpath(os.path.join(dirpath, f), pkg)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        _CODE = h.hexdigest()
    return _CODE


def default_dir() -> str:
    if os.environ.get(ENV_DIR):
        return os.environ[ENV_DIR]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cloudtrail-kms-lint")


MAX_DIGEST_BYTES = 10 * 1024 * 1024
BLOCKS_DIGEST = "blocks:"  # prefix of a digest of part of a file (see Cache.get)


def file_digest(path: str) -> Optional[str]:
    """SHA-256 of a regular file's content; None for anything else (devices, FIFOs, missing, too large)."""
    import stat

    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_DIGEST_BYTES:
            return None
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read(MAX_DIGEST_BYTES + 1)).hexdigest()
    except OSError:
        return None


def tf_names(directory: str) -> Optional[list]:
    """The sorted names of a directory's .tf files (None: it cannot be listed)."""
    try:
        return sorted(n for n in os.listdir(directory) if n.endswith(".tf"))
    except OSError:
        return None


def _loc(d: Optional[dict]) -> Optional[Location]:
    return Location(d["file"], d.get("line"), d.get("column")) if d else None


def finding_to_dict(f: Finding) -> dict:
    return {
        "rule": f.rule, "level": f.level, "resource": f.resource, "resource_type": f.resource_type,
        "file": f.file, "line": f.line, "column": f.column, "key": f.key, "message": f.message, "fix": f.fix,
        "related": [{"location": {"file": r.location.file, "line": r.location.line, "column": r.location.column},
                     "message": r.message} for r in f.related],
        "trace": [{"text": t.text, "location": ({"file": t.location.file, "line": t.location.line,
                                                 "column": t.location.column} if t.location else None)}
                  for t in f.trace],
    }


def finding_from_dict(d: dict) -> Finding:
    return Finding(
        rule=d["rule"], level=d["level"], resource=d["resource"], resource_type=d["resource_type"],
        file=d["file"], line=d["line"], key=d["key"], message=d["message"], column=d.get("column"),
        fix=d.get("fix", ""),
        related=[Related(_loc(r["location"]), r["message"]) for r in d.get("related", [])],
        trace=[TraceStep(t["text"], _loc(t["location"])) for t in d.get("trace", [])],
    )


class Cache:
    def __init__(self, directory: Optional[str] = None, enabled: bool = True, max_bytes: int = DEFAULT_MAX_BYTES):
        self.enabled = enabled
        self.root = os.path.join(directory or default_dir(), f"v{__version__}")
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(kind: str, options: Any, digests: Iterable[tuple[str, Optional[str]]]) -> str:
        h = hashlib.sha256()
        h.update(f"{code_fingerprint()}\0{kind}\0".encode())
        h.update(json.dumps(options, sort_keys=True, default=str).encode())
        for path, digest in sorted(digests, key=lambda x: x[0]):
            h.update(f"\0{path}\0{digest}".encode())
        return h.hexdigest()

    def _path(self, key: str) -> str:
        return os.path.join(self.root, key[:2], key + ".json")

    def get(self, key: str, digest: Optional[Callable[[str], Optional[str]]] = None,
            ) -> Optional[tuple[list[Finding], list[InputError]]]:
        """The entry for ``key`` if every file it depends on is unchanged. A file recorded with a
        ``blocks:`` digest is checked with ``digest`` (the caller's: e.g. the Terraform blocks an
        analysis can see), any other with its content's SHA-256."""
        if not self.enabled:
            return None
        try:
            with open(self._path(key), encoding="utf-8") as fh:
                entry = json.load(fh)
            for path, recorded in entry.get("files", []):
                if isinstance(recorded, str) and recorded.startswith(BLOCKS_DIGEST):
                    now = digest(path) if digest is not None else None
                else:
                    now = file_digest(path)
                if now != recorded:
                    self.misses += 1
                    return None
            for directory, names in entry.get("dirs", {}).items():
                if tf_names(directory) != names:  # a .tf file added to (or removed from) a module read
                    self.misses += 1
                    return None
            findings = [finding_from_dict(d) for d in entry["findings"]]
            errors = [InputError(e["file"], e.get("line"), e["message"]) for e in entry["errors"]]
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return findings, errors

    def put(self, key: str, findings: list[Finding], errors: list[InputError], files: Iterable[str],
            dirs: Iterable[str] = (), digest: Optional[Callable[[str], Optional[str]]] = None) -> None:
        """``files``: every file the result depends on; ``dirs``: the module directories whose
        lists of .tf files it depends on (a new file in a called module can change a verdict);
        ``digest``: the digest to record for a file (default: the SHA-256 of its content)."""
        if not self.enabled:
            return
        from .limits import TIME_LIMIT_MARK

        # a result cut off by the clock depends on the machine's load: never reuse it
        if any(TIME_LIMIT_MARK in f.message for f in findings) or any(TIME_LIMIT_MARK in e.message for e in errors):
            return
        entry = {
            "version": __version__,
            "files": sorted((p, (digest or file_digest)(p)) for p in set(files)),
            "dirs": {d: tf_names(d) for d in sorted(set(dirs))},
            "findings": [finding_to_dict(f) for f in findings],
            "errors": [{"file": e.file, "line": e.line, "message": e.message} for e in errors],
        }
        target = self._path(key)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            import tempfile

            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(entry))  # dumps: the C encoder (dump streams through Python)
            os.replace(tmp, target)  # atomic: a concurrent reader sees the old entry or the new one
        except OSError:
            return  # a read-only or full disk: the scan goes on without caching
        self.written = True

    def prune(self) -> None:
        """Remove the oldest entries beyond max_bytes (once per scan, after writing)."""
        if not self.enabled or not getattr(self, "written", False):
            return
        entries = []
        total = 0
        try:
            for dirpath, _dirs, files in os.walk(self.root):
                for f in files:
                    p = os.path.join(dirpath, f)
                    try:
                        st = os.stat(p)
                    except OSError:
                        continue
                    entries.append((st.st_mtime, st.st_size, p))
                    total += st.st_size
        except OSError:
            return
        if total <= self.max_bytes:
            return
        for _mtime, size, p in sorted(entries):
            try:
                os.remove(p)
            except OSError:
                continue
            total -= size
            if total <= self.max_bytes:
                break
