"""The standalone scan: find inputs, hand each to its front end, collect one ScanResult."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

from .discovery import CFN_EXTENSIONS, TF_EXTENSIONS, display_path, walk
from .prefilter import Facts, Index, other_facts, terraform_facts
from .report import InputError, ScanResult

MAX_FILE_BYTES = 10 * 1024 * 1024


@dataclass
class ScanOptions:
    paths: list[str] = field(default_factory=lambda: ["."])
    excludes: list[str] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)  # --var NAME=VALUE
    var_files: list[str] = field(default_factory=list)  # --var-file FILE
    max_file_bytes: int = MAX_FILE_BYTES
    # Rules and suppressions (see suppressions.py and docs/configuration.md). Rule ids in any catalogue form.
    select: Optional[list[str]] = None  # only these rules are reported (None: every rule)
    ignore: list[str] = field(default_factory=list)  # these rules' findings are suppressed (kind "config")
    per_path_ignores: dict[str, list[str]] = field(default_factory=dict)  # gitignore-style pattern -> rule ids
    config_dir: Optional[str] = None  # per-path-ignores patterns are relative to it (default: the working directory)
    config_source: str = ""  # names the configuration in suppression reasons ("pyproject.toml")
    inline_suppressions: bool = True  # False: --no-inline-suppressions
    baseline: Optional[Any] = None  # a baseline.Baseline
    # AWS account ids the trails live in / a key policy may name (from the configuration's "accounts").
    # Exposed for the analysis; not yet used by the evaluator.
    accounts: list[str] = field(default_factory=list)
    # the content-addressed cache of analysis results (cache.py); None: the default directory
    cache_dir: Optional[str] = None
    use_cache: bool = True
    # The directory file() reads and module sources may not leave, when the paths are changed files
    # expanded to their modules (pre-commit): the repository, not each module's own directory.
    # None: each scanned path confines what is under it.
    confine_to: Optional[str] = None
    # limit name -> value (limits.Limits; --limit and the configuration's [limits] table)
    limits: dict = field(default_factory=dict)
    # processes that analyse Terraform root modules (--jobs); 1: all in this process
    jobs: int = field(default_factory=lambda: default_jobs())


def default_jobs() -> int:
    """One worker per core, at most 4 (the analyses are CPU-bound; memory grows with each worker)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


def _read(path: str, display: Optional[str], limit: int, result: ScanResult,
          st: Optional[os.stat_result] = None) -> Optional[bytes]:
    """The file's bytes, or None with the reason in ``result`` (``display`` names the file; default: display_path)."""
    try:
        return _read_bytes(path, limit, st)
    except _Unreadable as e:
        result.errors.append(InputError(display or display_path(path), None, str(e)))
        return None


class _Unreadable(Exception):
    pass


def _read_bytes(path: str, limit: int, st: Optional[os.stat_result]) -> bytes:
    import stat

    too_large = f"file is larger than the {limit // (1024 * 1024)} MB limit; not scanned"
    try:
        if st is None:
            st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a device, FIFO or socket behind a name: never read it
            raise _Unreadable("not a regular file; not scanned")
        if st.st_size > limit:
            raise _Unreadable(too_large)
        # os.read rather than open(): no buffered file object for each of thousands of small files
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
        try:
            chunks = []
            want = limit + 1
            while want > 0:
                chunk = os.read(fd, min(want, max(st.st_size + 1, 65536)))
                if not chunk:
                    break
                chunks.append(chunk)
                want -= len(chunk)
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as e:
        raise _Unreadable(f"cannot read the file: {e.strerror or e}") from None
    if len(data) > limit:  # grew while we read it
        raise _Unreadable(too_large)
    return data


def _facts(path: str, real: str, index: Index, of: Any, options: ScanOptions,
           result: ScanResult) -> tuple[Optional[Facts], Optional[bytes]]:
    """The pre-filter's facts about one file: from the index when its metadata is unchanged, else by reading it.

    Returns (None, None) when the file cannot be read (the error is in ``result``),
    and the file's bytes when it was read.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        result.errors.append(InputError(display_path(path), None, f"cannot read the file: {e.strerror or e}"))
        return None, None
    facts = index.get(real, st) if st.st_size <= options.max_file_bytes else None
    if facts is not None:
        return facts, None
    data = _read(path, None, options.max_file_bytes, result, st)
    if data is None:
        return None, None
    facts = of(path, data)
    index.put(real, st, facts)
    return facts, data


def scan(options: ScanOptions) -> ScanResult:
    from . import limits

    with limits.use(limits.from_mapping(options.limits) if options.limits else None):
        if options.limits and "max-file-bytes" in {k.replace("_", "-") for k in options.limits}:
            options.max_file_bytes = limits.current().max_file_bytes
        return _scan(options)


def _scan(options: ScanOptions) -> ScanResult:
    from .cache import Cache, code_fingerprint
    from .changed import repo_root

    result = ScanResult()
    inline = _LazyInline() if options.inline_suppressions else None
    cache = Cache(options.cache_dir, enabled=options.use_cache)
    index = Index(cache.root if cache.enabled else None, repo_root(os.getcwd()), code_fingerprint())
    for p in options.paths:
        if not os.path.exists(p):
            result.errors.append(InputError(display_path(p), None, "no such file or directory"))
    # One walk for both front ends: .tf files go to the Terraform scan, the rest may be templates or plans.
    tf_files: list[tuple[str, str]] = []
    seen: set[str] = set()
    for path, real, explicit in walk(options.paths, options.excludes, CFN_EXTENSIONS + TF_EXTENSIONS,
                                     errors=result.errors, warnings=result.warnings):
        seen.add(real)
        if path.endswith(TF_EXTENSIONS):
            tf_files.append((path, real))
            continue
        if not explicit and not path.lower().endswith(CFN_EXTENSIONS):
            continue  # a .TF file: neither front end's
        facts, data = _facts(path, real, index, other_facts, options, result)
        if facts is None or not facts.kind:
            continue
        result.files_scanned += 1
        if facts.kind == "template":
            continue  # a template without CloudTrail resources has nothing to check
        if data is None:
            data = _read(path, None, options.max_file_bytes, result)
            if data is None:
                continue
        if facts.kind == "plan":
            _scan_plan(path, display_path(path), data, result, options)
        else:
            _scan_cloudformation(path, display_path(path), options, result, inline, cache, data)
    _scan_terraform(options, result, tf_files, index, inline, cache)
    index.forget_missing([p for p in options.paths if os.path.isdir(p)], seen)
    index.save()
    cache.prune()
    if result.findings or (inline is not None and inline.real is not None):
        from .suppressions import apply  # nothing to suppress and no comment seen: not even imported

        apply(result, options, inline.get() if inline is not None else None)
    result.sort()
    return result


class _LazyInline:
    """suppressions.InlineSuppressions, created (and its module imported) when first needed."""

    def __init__(self) -> None:
        self.real: Any = None

    def get(self) -> Any:
        if self.real is None:
            from .suppressions import InlineSuppressions

            self.real = InlineSuppressions()
        return self.real

    def add_terraform(self, path: str, display: str) -> None:
        self.get().add_terraform(path, display)

    def add_cloudformation(self, display: str, template: Any) -> None:
        self.get().add_cloudformation(display, template)


def _scan_terraform(options: ScanOptions, result: ScanResult, tf_files: list, index: Index, inline: Any = None,
                    cache: Any = None) -> None:
    """Each directory of .tf files is a module; the ones no scanned module calls are roots."""
    dirs: dict[str, list[tuple[str, str]]] = {}
    absolute: dict[str, str] = {}  # the walk gives a directory's files together: one abspath per directory
    for path, real in tf_files:
        parent = os.path.dirname(path)
        d = absolute.get(parent)
        if d is None:
            d = absolute[parent] = os.path.abspath(parent)
        dirs.setdefault(d, []).append((path, real))
    if not dirs:
        return
    mentions: dict[str, bool] = {}
    calls: dict[str, set[str]] = {}
    for d, files in dirs.items():
        mentions[d] = False
        calls[d] = set()
        for f, real in files:
            facts, _data = _facts(f, real, index, terraform_facts, options, result)
            if facts is None:
                continue
            result.files_scanned += 1
            if inline is not None and facts.marker:
                inline.add_terraform(f, display_path(f))
            if facts.trail:
                mentions[d] = True
            for source in facts.sources:
                calls[d].add(os.path.normpath(os.path.join(d, source)))
    called = set().union(*calls.values()) if calls else set()
    explicit = {os.path.abspath(p) for p in options.paths if os.path.isdir(p)}
    explicit |= {os.path.dirname(os.path.abspath(p)) for p in options.paths if os.path.isfile(p) and p.endswith(".tf")}
    roots = sorted(d for d in dirs if d not in called or d in explicit)

    def relevant(d: str, seen: set) -> bool:
        if d in seen:
            return False
        seen.add(d)
        if mentions.get(d):
            return True
        if any(relevant(c, seen) for c in calls.get(d, ())):
            return True
        return os.path.isdir(os.path.join(d, ".terraform", "modules"))

    roots = [d for d in roots if relevant(d, set())]
    if not roots:
        return
    from .cache import file_digest

    digests = _TerraformDigests()
    pending: list[tuple[str, str, Optional[str], list[str], str]] = []
    for root in roots:
        scan_root = _scan_root_for(root, options.paths, options.confine_to)
        real_root = os.path.realpath(scan_root)
        # The entry is looked up by the root's own files and options; it holds every file the
        # analysis read (called modules, policy files) and is used only if none changed.
        key = None
        own: list[str] = []
        if cache is not None and cache.enabled:
            # only regular files inside the scanned root: never follow a link out of it, never read a device
            for n in sorted(os.listdir(root)):
                p = os.path.join(root, n)
                real = os.path.realpath(p)
                if n.endswith((".tf", ".tfvars")) and (real == real_root or real.startswith(real_root + os.sep)):
                    own.append(p)
            own += [os.path.abspath(v) for v in options.var_files]
            key = cache.key("terraform-root", {"root": root, "scan_root": scan_root, "cwd": os.getcwd(),
                                               "vars": options.variables, "var_files": options.var_files,
                                               "accounts": options.accounts, "limits": _limits_fingerprint()},
                            [(p, digests.of(p, real_root)) for p in own])
            hit = cache.get(key, lambda p, r=real_root: digests.of(p, r))
            if hit is not None:
                findings, errors = hit
                _add_errors(result, errors)
                result.resources_checked += len({f.resource for f in findings})
                result.findings.extend(findings)
                continue
        pending.append((root, scan_root, key, own, real_root))
    if not pending:
        return  # every root from the cache: the analysis (and python-hcl2) is never imported
    # parse trees of Terraform blocks are cached beside the results (terraform/treecache.py)
    trees = os.path.join(cache.root, "trees") if cache is not None and cache.enabled else None
    jobs = [(root, scan_root, options.var_files, options.variables, tuple(options.accounts), trees)
            for root, scan_root, _key, _own, _real in pending]
    for (root, _scan_root, key, own, real_root), outcome in zip(pending, _analyse_roots(jobs, options.jobs)):
        if outcome.too_deep:
            result.errors.append(InputError(display_path(root), None, "the module is nested too deeply to analyse; it was not verified"))
            continue
        _add_errors(result, outcome.errors)
        result.resources_checked += len({f.resource for f in outcome.findings})
        result.findings.extend(outcome.findings)
        if cache is not None and key is not None:
            # A result with errors is kept by whole-file digests: an error's text may come from any block.
            digest = None if outcome.errors else (lambda p, r=real_root: digests.of(p, r))
            cache.put(key, outcome.findings, outcome.errors,
                      set(own) | {p for p in outcome.files_read if p.startswith(real_root)},
                      dirs=[d for d in outcome.dirs if d == real_root or d.startswith(real_root + os.sep)],
                      digest=digest)


class _TerraformDigests:
    """Digests of files for the analysis cache. A .tf file's covers only the blocks the analysis can
    see (terraform/blocks.py: the same relevance rules that decide what is parsed) and where they
    are, so a pre-commit run after an edit that no verdict can depend on (a comment, a resource no
    trail or key refers to) finds its result without loading the analysis or python-hcl2.
    Any other file, or a directory that cannot be split into blocks, is digested whole."""

    def __init__(self) -> None:
        self._dirs: dict[tuple[str, str], dict[str, str]] = {}

    def of(self, path: str, real_root: str) -> Optional[str]:
        from . import limits
        from .cache import file_digest

        if path.endswith(".tf"):
            directory, name = os.path.split(path)
            key = (directory, real_root)
            if key not in self._dirs:
                from .cache import BLOCKS_DIGEST
                from .terraform.blocks import directory_digests

                found_all = directory_digests(directory, real_root, limits.current().max_parse_bytes)
                self._dirs[key] = {n: BLOCKS_DIGEST + d for n, d in found_all.items()}
            found = self._dirs[key].get(name)
            if found is not None:
                return found
        return file_digest(path)


@dataclass
class _RootOutcome:
    """One root module's analysis, as a worker process sends it back."""

    findings: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    files_read: set = field(default_factory=set)
    dirs: list = field(default_factory=list)  # module directories read
    too_deep: bool = False
    pid: int = 0  # the process that analysed it


# Below this many roots to analyse, starting worker processes costs more than it saves.
PARALLEL_MIN_ROOTS = 6


def _analyse_roots(jobs: list, workers: int) -> list:
    """Analyse root modules: in worker processes when there are enough of them and ``workers`` > 1.

    Each root is analysed on its own Project, so the analyses are independent and the
    results come back in ``jobs`` order: the report is the same as a sequential run's.
    Workers are forked (Linux) after python-hcl2 and its parser are loaded, so each
    does not load them again; elsewhere, or with --jobs 1, the roots are analysed here.
    """
    import multiprocessing

    from . import limits

    workers = min(workers, len(jobs))
    if workers < 2 or len(jobs) < PARALLEL_MIN_ROOTS or "fork" not in multiprocessing.get_all_start_methods():
        return [_analyse_root_job(job) for job in jobs]
    try:
        from .terraform.parse import hcl2_available, parse_text

        if hcl2_available():
            parse_text("x = 1\n")  # loads python-hcl2's parser once, before the fork
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("fork")
        current = limits.current()
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            return list(pool.map(_analyse_root_in_worker, [(current, job) for job in jobs], chunksize=1))
    except (OSError, ImportError):  # no processes (a sandbox, a resource limit): analyse here
        return [_analyse_root_job(job) for job in jobs]


def _analyse_root_in_worker(args: tuple) -> _RootOutcome:
    from . import limits

    current, job = args
    with limits.use(current):
        return _analyse_root_job(job)


_TREE_CACHES: dict = {}


def _tree_cache(directory: Optional[str]) -> Any:
    """One TreeCache per directory and process: its in-memory trees serve every root of the scan."""
    if directory is None:
        return None
    if directory not in _TREE_CACHES:
        from .terraform.treecache import TreeCache

        _TREE_CACHES[directory] = TreeCache(directory)
    return _TREE_CACHES[directory]


def _analyse_root_job(job: tuple) -> _RootOutcome:
    from .terraform.analysis import analyse_root
    from .terraform.module import Project, root_var_values

    root, scan_root, var_files, variables, accounts, trees = job
    project = Project(scan_root, display_path, tree_cache=_tree_cache(trees))
    errors: list = []
    var_values = root_var_values(root, var_files, variables, display_path, errors)
    try:
        findings = analyse_root(project, root, var_values, accounts)
    except RecursionError:
        return _RootOutcome(too_deep=True, pid=os.getpid())
    all_errors = errors + [e for md in project._dirs.values() for e in md.errors]
    return _RootOutcome(findings, all_errors, set(project.files_read), list(project._dirs), pid=os.getpid())


def _limits_fingerprint() -> str:
    from . import limits

    return limits.fingerprint()


def _add_errors(result: ScanResult, errors: list) -> None:
    seen_errors = {(e.file, e.line, e.message) for e in result.errors}
    for e in errors:
        if (e.file, e.line, e.message) not in seen_errors:
            seen_errors.add((e.file, e.line, e.message))
            result.errors.append(e)


def _scan_root_for(directory: str, paths: list[str], confine_to: Optional[str] = None) -> str:
    """The scanned path that contains ``directory``: file() and module sources must stay inside it
    (``confine_to`` instead, when it contains ``directory``)."""
    if confine_to is not None:
        top = os.path.abspath(confine_to)
        if directory == top or directory.startswith(top.rstrip(os.sep) + os.sep):
            return top
    best = directory
    for p in paths:
        ap = os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p) or ".")
        if directory == ap or directory.startswith(ap + os.sep):
            if len(ap) < len(best) or best == directory:
                best = ap
    return best


def _scan_cloudformation(path: str, display: str, options: ScanOptions, result: ScanResult, inline: Any = None,
                         cache: Any = None, data: Optional[bytes] = None) -> None:
    import hashlib

    from .cloudformation.analysis import analyse_template, is_template
    from .cloudformation.loader import decode

    # Cached by content; a template with our suppression Metadata is always decoded (the suppressions need it).
    key = None
    if cache is not None and data is not None and b"cloudtrail-kms-lint" not in data:
        key = cache.key("cloudformation", {"file": display, "parameters": options.parameters,
                                           "accounts": options.accounts, "limits": _limits_fingerprint()},
                        [(display, hashlib.sha256(data).hexdigest())])
        hit = cache.get(key)
        if hit is not None:
            findings, errors = hit
            result.errors.extend(errors)
            result.resources_checked += len({f.resource for f in findings})
            result.findings.extend(findings)
            return

    template, errors = decode(path, display)
    if errors:
        result.errors.extend(errors)
        if key is not None:
            cache.put(key, [], errors, [])
        return
    if not is_template(template):
        if key is not None:
            cache.put(key, [], [], [])
        return
    if inline is not None:
        inline.add_cloudformation(display, template)
    try:
        findings = analyse_template(template, display, parameters=options.parameters, accounts=tuple(options.accounts))
    except RecursionError:
        result.errors.append(InputError(display, None, "the template is nested too deeply to analyse; it was not verified"))
        return
    result.resources_checked += len({f.resource for f in findings}) if findings else 0
    result.findings.extend(findings)
    if key is not None:
        cache.put(key, findings, [], [])


def _scan_plan(path: str, display: str, data: bytes, result: ScanResult, options: ScanOptions) -> None:
    """A plan from `terraform show -json`: findings point at the .tf files next to it when they are there."""
    import json

    from .terraform.plan import analyse_plan, is_plan

    try:
        plan = json.loads(data.decode("utf-8"))
    except RecursionError:
        result.errors.append(InputError(display, None, "cannot parse the plan JSON: it is nested too deeply"))
        return
    except (ValueError, UnicodeDecodeError) as e:
        line = getattr(e, "lineno", None)
        result.errors.append(InputError(display, line, f"cannot parse the plan JSON: {getattr(e, 'msg', e)}"))
        return
    if not is_plan(plan):
        return
    projects: dict = {}

    def locate(directory: str, address: str):
        try:
            from .terraform.module import Project

            project = projects.setdefault(directory, Project(directory, display_path))
            md = project.module_dir(directory)
        except Exception:  # noqa: BLE001 - no parser, unreadable directory: point at the plan instead
            return None, None
        block = md.find(address)
        if block is None:
            return None, None
        attr = block.attribute("kms_key_id")
        return block.location, (attr.location if attr is not None else None)

    def hcl_policy(directory: str, address: str):
        try:
            from .terraform.analysis import Analyser
            from .terraform.module import ModuleInstance, Project, Ref

            project = projects.setdefault(directory, Project(directory, display_path))
            md = project.module_dir(directory)
            block = md.find(address)
            if block is None:
                return None
            inst = ModuleInstance(project, md, md.path, "", {})
            return Analyser(project).key_policy(inst, block, Ref(inst, block, address, "arn"), [])
        except Exception:  # noqa: BLE001 - no parser or unreadable configuration: the plan's unknown stands
            return None

    findings = analyse_plan(plan, path, display_path, locate, hcl_policy, tuple(options.accounts))
    result.resources_checked += len({f.resource for f in findings})
    result.findings.extend(findings)