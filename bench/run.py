#!/usr/bin/env python3
"""Benchmark cloudtrail-kms-lint against its anchors, in one invocation, A/B interleaved.

    python bench/run.py                      # every workload, full size, 5 rounds
    python bench/run.py --checkov-rounds 3   # fewer checkov runs (they take minutes each)
    python bench/run.py --quick              # tiny repositories, 1 round (the smoke test)
    python bench/run.py --workloads tf,cfn   # some workloads only

Workloads (repositories from bench/generate.py, cached in --workdir and regenerated
only when the generator or its arguments change):

  tf          Terraform monorepo, 2,000 .tf files, 2% of modules with trails:
              our scan (cold, then warm on unchanged files), checkov CKV_AWS_35,
              checkov with our checks (CKV_CTKMS_*), `cloudtrail-kms-lint --version`,
              pre-commit style scans of one changed file (a trail module's, an
              ordinary module's)
  tf_double   the same at 4,000 files (growth)
  tf_big      20,000 .tf files without CloudTrail: our scan vs grep -rlE
  dense       200 modules, each a trail + key + policy document: our scan,
              checkov CKV_AWS_35, checkov with our checks
  dense_half  the same at 100 modules (growth)
  cfn         200 CloudFormation templates, 5% with trails: cfn-lint with and
              without --append-rules=cloudtrail_kms_lint.plugin, and our scan

Each round runs every workload's commands back to back, in reverse order on odd
rounds (A/B/A/B...), so slow drift of the machine hits both sides. Every command is
a fresh process, run from the repository's root; its wall time is measured here
(time.perf_counter) and its peak RSS with /usr/bin/time -v (else os.wait4's
ru_maxrss). Medians over the rounds, ratios against the targets, PASS/FAIL.

"warm" is a second scan right after the cold one on unchanged files. Before each
cold scan, XDG_CACHE_HOME points at a new empty directory (kept for the warm scan)
and the --cold-clear paths are removed, so that a cache the CLI may keep later
starts empty; today the CLI has no cache and warm ~= cold.

Nothing here needs the network: checkov runs with --skip-download,
CKV_SKIP_PACKAGE_UPDATE_CHECK=true and BC_SKIP_MAPPING=TRUE, and every command gets
HTTP(S)_PROXY pointing at a closed local port so that an attempt fails at once
instead of reaching out (--allow-network turns that off).

Exit status: 0 when every command ran with an expected exit code (targets that FAIL
are results, not errors; --fail-on-target makes them exit 3), 1 when a command failed
or timed out, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import generate  # noqa: E402

GREP_PATTERN = "aws_cloudtrail|AWS::CloudTrail"
DEAD_PROXY = "http://127.0.0.1:9"

FULL = {"tf": 2000, "tf_double": 4000, "tf_big": 20000, "dense": 200, "dense_half": 100, "cfn": 200}
QUICK = {"tf": 60, "tf_double": 120, "tf_big": 300, "dense": 4, "dense_half": 2, "cfn": 6}
ALL_WORKLOADS = ["tf", "tf_double", "tf_big", "dense", "dense_half", "cfn"]


# ---------------------------------------------------------------- tools


@dataclass
class Tools:
    ckl: Optional[list]  # our CLI, as argv prefix
    checkov: Optional[str]
    cfn_lint: Optional[str]
    checks_dir: str
    time_v: Optional[str]
    grep: Optional[str]
    notes: list = field(default_factory=list)


def _exe(path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    if os.path.sep in path:
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which(path)


def find_tools(args) -> Tools:
    notes = []
    if args.ckl:
        ckl = shlex.split(args.ckl)
        if not _exe(ckl[0]):
            sys.exit(f"run.py: --ckl {args.ckl!r}: not an executable")
    else:
        cand = os.path.join(PROJECT, ".venv", "bin", "cloudtrail-kms-lint")
        found = _exe(cand) or _exe("cloudtrail-kms-lint")
        ckl = [found] if found else None
        if ckl is None:
            sys.exit("run.py: cloudtrail-kms-lint not found: run ./scripts/test, or python3 -m venv .venv && "
                     ".venv/bin/pip install -e '.[all]', or pass --ckl")
    checkov = _exe(args.checkov if args.checkov else os.path.join(PROJECT, ".venv-checkov", "bin", "checkov"))
    if checkov is None:
        notes.append(f"checkov not found ({args.checkov or '.venv-checkov/bin/checkov'}): checkov anchors skipped")
    cfn = _exe(args.cfn_lint if args.cfn_lint else os.path.join(PROJECT, ".venv", "bin", "cfn-lint"))
    if cfn is None:
        notes.append(f"cfn-lint not found ({args.cfn_lint or '.venv/bin/cfn-lint'}): cfn-lint anchors skipped")
    time_v = None
    if not args.no_time_v and _exe("/usr/bin/time"):
        try:
            r = subprocess.run(["/usr/bin/time", "-v", "true"], capture_output=True, text=True, timeout=10)
            if "Maximum resident set size" in r.stderr:
                time_v = "/usr/bin/time"
        except (OSError, subprocess.SubprocessError):
            pass
    grep = _exe("grep")
    if grep is None:
        notes.append("grep not found: the grep anchor is skipped")
    return Tools(ckl, checkov, cfn, os.path.join(PROJECT, "checks"), time_v, grep, notes)


def tool_versions(tools: Tools) -> dict:
    def out(argv: list) -> str:
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=_env(False))
            return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else ""
        except (OSError, subprocess.SubprocessError) as e:
            return f"unavailable ({e})"

    v = {"cloudtrail-kms-lint": out(tools.ckl + ["--version"]) if tools.ckl else None}
    if tools.checkov:
        v["checkov"] = out([tools.checkov, "--version"])
        py = os.path.join(os.path.dirname(tools.checkov), "python")
        if os.path.exists(py):
            v["bc-python-hcl2 (checkov env)"] = out([py, "-c", "import importlib.metadata as m; print(m.version('bc-python-hcl2'))"])
    if tools.cfn_lint:
        v["cfn-lint"] = out([tools.cfn_lint, "--version"])
    py = os.path.join(os.path.dirname(tools.ckl[0]), "python") if tools.ckl else None
    if py and os.path.exists(py):
        v["python-hcl2 (CLI env)"] = out([py, "-c", "import importlib.metadata as m; print(m.version('python-hcl2'))"])
        v["python (CLI env)"] = out([py, "-c", "import sys; print(sys.version.split()[0])"])
    if tools.grep:
        v["grep"] = out([tools.grep, "--version"])
    return v


def source_digest() -> str:
    """sha256 of the product code (src/, checks/, plugin/): other people may edit it while the benchmark runs."""
    import hashlib

    h = hashlib.sha256()
    for top in ("src", "checks", "plugin"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(PROJECT, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.endswith(".egg-info"))
            for f in sorted(filenames):
                if f.endswith(".py"):
                    full = os.path.join(dirpath, f)
                    h.update(os.path.relpath(full, PROJECT).encode() + b"\0")
                    with open(full, "rb") as fh:
                        h.update(fh.read())
    return h.hexdigest()[:16]


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "platform": platform.platform(), "python (runner)": platform.python_version(),
            "machine": platform.machine()}
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    info["mem_total_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["loadavg_at_start"] = os.getloadavg()
    except OSError:
        pass
    if hasattr(os, "sched_getaffinity"):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    return info


# ---------------------------------------------------------------- running one command


@dataclass
class Sample:
    wall: float
    rss_kb: Optional[int]
    rc: int
    ok: bool
    note: str = ""
    cpu: Optional[float] = None  # user + system seconds of the command and its children
    load1: Optional[float] = None  # 1-minute load average just before the run (the machine may be shared)


def _env(allow_network: bool, extra: Optional[dict] = None) -> dict:
    env = dict(os.environ)
    env.update({"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE", "NO_COLOR": "1",
                "PYTHONUNBUFFERED": "1"})
    env.pop("PYTHONPATH", None)
    # Bytecode as in a normal installation: the anchors' site-packages hold compiled .pyc files, and an
    # editable install of ours must not recompile its modules on every run (PYTHONDONTWRITEBYTECODE=1 in
    # the calling shell would make it, ~0.15 s a run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not allow_network:
        for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env[k] = DEAD_PROXY
        env.pop("NO_PROXY", None)
        env.pop("no_proxy", None)
    if extra:
        env.update(extra)
    return env


_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")


def run_once(argv: list, cwd: str, env: dict, ok_codes: Callable[[int], bool], time_v: Optional[str],
             timeout: float, log_dir: str, tag: str) -> Sample:
    out_path = os.path.join(log_dir, f"{tag}.out")
    err_path = os.path.join(log_dir, f"{tag}.err")
    tv_path = os.path.join(log_dir, f"{tag}.time")
    full = [time_v, "-v", "-o", tv_path] + argv if time_v else argv
    try:
        load1 = round(os.getloadavg()[0], 2)
    except OSError:
        load1 = None
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(full, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             start_new_session=True)  # its own process group: a timeout kills it and its children
        rss = None
        timed_out = threading.Event()

        def kill() -> None:  # on timeout: the whole process group (GNU time and the command)
            timed_out.set()
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)  # blocking: no polling loop competing for the CPU
        finally:
            timer.cancel()
        if timed_out.is_set():
            p.returncode = -9
            return Sample(time.perf_counter() - t0, None, -9, False, f"timed out after {timeout:.0f} s", None, load1)
        wall = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        p.returncode = rc
    if time_v:
        try:
            with open(tv_path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            m = _MAXRSS.search(text)
            rss = int(m.group(1)) if m else None
            # GNU time exits with the command's status (or 128+signal)
        except OSError:
            rss = None
    else:
        rss = int(usage.ru_maxrss)  # kB on Linux
    cpu = usage.ru_utime + usage.ru_stime  # GNU time's own share is negligible
    ok = ok_codes(rc)
    note = ""
    if not ok:
        try:
            with open(err_path, encoding="utf-8", errors="replace") as fh:
                note = fh.read()[-600:].strip()
        except OSError:
            pass
        note = f"exit {rc}: {note}"
    return Sample(wall, rss, rc, ok, note, round(cpu, 4), load1)


# ---------------------------------------------------------------- workloads


@dataclass
class Command:
    name: str  # row id
    label: str  # what it is, in the table
    argv: list
    ok_codes: Callable[[int], bool]
    rounds: Optional[int] = None  # at most this many rounds (checkov)
    pair_with: Optional[str] = None  # runs right after that command, in the same unit (warm after cold)
    before: Optional[Callable[[int], None]] = None  # before each run (round number): edit a file, clear a cache
    after: Optional[Callable[[int], None]] = None
    env: Optional[dict] = None
    samples: list = field(default_factory=list)


@dataclass
class Workload:
    name: str
    repo: str
    manifest: dict
    commands: list


def ours_ok(rc: int) -> bool:
    return rc in (0, 1)  # 1: findings (the repositories have bad policies on purpose); 2 is an input error


def checkov_ok(rc: int) -> bool:
    return rc in (0, 1)


def grep_ok(rc: int) -> bool:
    return rc in (0, 1)  # 1: no match


def cfnlint_ok(rc: int) -> bool:
    return rc >= 0 and rc % 2 == 0 and rc < 32  # bit mask: 2 error, 4 warning, 8 info; 1 is a crash


def zero_ok(rc: int) -> bool:
    return rc == 0


def ensure_repo(workdir: str, name: str, kind: str, regenerate: bool, **kw) -> tuple[str, dict]:
    """Generate the repository unless the cached one was made by this generator with these arguments."""
    out = os.path.join(workdir, name)
    stamp_path = os.path.join(workdir, f"{name}.manifest.json")
    with open(generate.__file__, "rb") as fh:
        gen_src = fh.read()
    with open(os.path.join(HERE, "writer.py"), "rb") as fh:
        gen_src += fh.read()
    import hashlib

    stamp = {"kind": kind, "args": kw, "generator_sha256": hashlib.sha256(gen_src).hexdigest()}
    if not regenerate and os.path.isdir(out) and os.path.isfile(stamp_path):
        try:
            with open(stamp_path, encoding="utf-8") as fh:
                cached = json.load(fh)
            if cached.get("stamp") == stamp:
                return out, cached["manifest"]
        except (OSError, ValueError, KeyError):
            pass
    t0 = time.perf_counter()
    manifest = generate.generate(kind, out, force=True, **kw)
    sys.stderr.write(f"  generated {name} ({kind} {kw}) in {time.perf_counter() - t0:.1f} s\n")
    with open(stamp_path, "w", encoding="utf-8") as fh:
        json.dump({"stamp": stamp, "manifest": manifest}, fh, indent=1, sort_keys=True)
    return out, manifest


class Editor:
    """Pre-commit style: the file is really changed before each run and restored after.

    ``comment``: a comment line is appended. ``code``: a new resource that no trail or key
    refers to is appended (an ordinary edit to a module that has a trail). Each round's
    text differs, so no round finds its own result in the cache.
    """

    def __init__(self, path: str, mode: str = "comment"):
        self.path = path
        self.mode = mode
        with open(path, "rb") as fh:
            self.original = fh.read()

    def before(self, rnd: int) -> None:
        if self.mode == "code":
            extra = (f'\nresource "aws_sns_topic" "bench_edit" {{\n  name = "bench-edit-{rnd}"\n'
                     f'  tags = {{\n    Round = "{rnd}"\n  }}\n}}\n')
        else:
            extra = f"# edited by bench/run.py, round {rnd}\n"
        with open(self.path, "wb") as fh:
            fh.write(self.original + extra.encode())

    def after(self, _rnd: int) -> None:
        with open(self.path, "wb") as fh:
            fh.write(self.original)


class CacheEnv:
    """Where a command's analysis cache lives: the CLI's cache (CLOUDTRAIL_KMS_LINT_CACHE_DIR, else
    $XDG_CACHE_HOME/cloudtrail-kms-lint) is pointed into the work directory, never at ~/.cache.

    ``fresh``: a new empty directory before each run (a cold run; the warm run paired with it shares
    it). ``persistent``: one directory for every round, primed once with a full scan of the
    repository (the steady state of a pre-commit hook). --cold-clear paths are removed before each
    fresh run too (a cache kept somewhere else, e.g. inside the repository).
    """

    def __init__(self, base: str, name: str, repo: str, clear: list[str]):
        self.base = base
        self.name = name
        self.repo = repo
        self.clear = clear
        self.env: dict = {}
        self.current: Optional[str] = None
        self.primed = False

    def _point(self, directory: str) -> None:
        self.env["XDG_CACHE_HOME"] = directory
        self.env["CLOUDTRAIL_KMS_LINT_CACHE_DIR"] = os.path.join(directory, "cloudtrail-kms-lint")

    def fresh(self, rnd: int) -> None:
        self.cleanup()
        self.current = tempfile.mkdtemp(prefix=f"cache-{self.name}-{rnd}-", dir=self.base)
        self._point(self.current)
        for p in self.clear:
            full = p if os.path.isabs(p) else os.path.join(self.repo, p)
            if os.path.isdir(full):
                shutil.rmtree(full, ignore_errors=True)
            elif os.path.exists(full):
                os.remove(full)

    def persistent(self, prime_argv: list, allow_network: bool) -> None:
        if self.primed:
            return
        self.cleanup()
        self.current = tempfile.mkdtemp(prefix=f"cache-{self.name}-", dir=self.base)
        self._point(self.current)
        subprocess.run(prime_argv, cwd=self.repo, env=_env(allow_network, self.env), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=3600)
        self.primed = True

    def cleanup(self) -> None:
        if self.current:
            shutil.rmtree(self.current, ignore_errors=True)
            self.current = None


CACHES: list = []


def warmup(tools: Tools, workloads: list, workdir: str, allow_network: bool) -> None:
    """One unmeasured scan per kind of repository (our CLI, a throwaway cache): compiles and writes the
    bytecode of our modules, as an installed package has it, and fills the OS page cache with the trees."""
    done = set()
    for w in workloads:
        kind = w.manifest.get("kind")
        if kind in done or not tools.ckl:
            continue
        done.add(kind)
        c = CacheEnv(workdir, f"warmup-{w.name}", w.repo, [])
        c.fresh(0)
        try:
            subprocess.run(tools.ckl + ["scan", "."], cwd=w.repo, env=_env(allow_network, c.env), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=3600)
        finally:
            c.cleanup()
    if tools.ckl:
        subprocess.run(tools.ckl + ["--version"], env=_env(allow_network), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600)


def build_workloads(args, tools: Tools, sizes: dict, workdir: str) -> list:
    ckl = tools.ckl
    wl = []
    checkov_rounds = args.checkov_rounds
    cold_clear = list(args.cold_clear or [])

    def checkov_cmds(prefix: str) -> list:
        if not tools.checkov:
            return []
        base = [tools.checkov, "-d", ".", "--framework", "terraform", "--skip-download"]
        return [
            Command(f"{prefix}.checkov_35", "checkov --check CKV_AWS_35", base + ["--check", "CKV_AWS_35"], checkov_ok,
                    rounds=checkov_rounds),
            Command(f"{prefix}.checkov_ours", "checkov + our checks (CKV_CTKMS_*)",
                    base + ["--external-checks-dir", tools.checks_dir, "--check", "CKV_CTKMS_*"], checkov_ok,
                    rounds=checkov_rounds),
        ]

    for name in args.workloads:
        seed = args.seed
        if name in ("tf", "tf_double"):
            repo, man = ensure_repo(workdir, name, "terraform", args.regenerate, files=sizes[name], trail_percent=2.0, seed=seed)
        elif name == "tf_big":
            repo, man = ensure_repo(workdir, name, "terraform", args.regenerate, files=sizes[name], trail_percent=0.0, seed=seed)
        elif name in ("dense", "dense_half"):
            repo, man = ensure_repo(workdir, name, "dense", args.regenerate, modules=sizes[name], seed=seed)
        elif name == "cfn":
            repo, man = ensure_repo(workdir, name, "cloudformation", args.regenerate, templates=sizes[name],
                                    trail_percent=5.0, seed=seed)
        else:
            raise SystemExit(f"run.py: unknown workload {name!r} (choose from {', '.join(ALL_WORKLOADS)})")
        cmds: list = []
        def cold(row: str, label: str, argv: list) -> Command:
            c = CacheEnv(workdir, row, repo, cold_clear)
            CACHES.append(c)
            return Command(row, label, argv, ours_ok, before=c.fresh, env=c.env)

        if name in ("tf", "dense"):
            cmds.append(cold("tf.ours_cold" if name == "tf" else "dense.ours", "cloudtrail-kms-lint scan . (cold)",
                             ckl + ["scan", "."]))
            cmds.append(Command(f"{name}.ours_warm", "cloudtrail-kms-lint scan . (warm: 2nd run, unchanged files)",
                                ckl + ["scan", "."], ours_ok, pair_with=cmds[-1].name, env=cmds[-1].env))
            cmds += checkov_cmds(name)
        if name == "tf":
            cmds.append(Command("tf.version", "cloudtrail-kms-lint --version", ckl + ["--version"], zero_ok))
            hook_cache = CacheEnv(workdir, "tf-precommit", repo, [])
            CACHES.append(hook_cache)
            for key, row, what, mode in (
                    ("precommit_trail_file", "tf.precommit_trail", "a trail module's main.tf, comment added", "comment"),
                    ("precommit_trail_file", "tf.precommit_trail_code", "a trail module's main.tf, resource added",
                     "code"),
                    ("precommit_plain_file", "tf.precommit_plain", "an ordinary module's main.tf, comment added",
                     "comment")):
                rel = man.get(key)
                if rel:
                    ed = Editor(os.path.join(repo, rel), mode)

                    def before(rnd: int, ed=ed) -> None:
                        hook_cache.persistent(ckl + ["scan", "."], args.allow_network)  # once: the hook's steady state
                        ed.before(rnd)

                    cmds.append(Command(row, f"pre-commit: scan {rel} ({what}; cache primed)",
                                        ckl + ["scan", rel], ours_ok, before=before, after=ed.after, env=hook_cache.env))
        elif name == "tf_double":
            cmds.append(cold("tf_double.ours", "cloudtrail-kms-lint scan . (cold)", ckl + ["scan", "."]))
        elif name == "tf_big":
            cmds.append(cold("tf_big.ours", "cloudtrail-kms-lint scan . (cold)", ckl + ["scan", "."]))
            if tools.grep:
                cmds.append(Command("tf_big.grep", f"grep -rlE '{GREP_PATTERN}' .", [tools.grep, "-rlE", GREP_PATTERN, "."],
                                    grep_ok))
        elif name == "dense_half":
            cmds.append(cold("dense_half.ours", "cloudtrail-kms-lint scan . (cold)", ckl + ["scan", "."]))
        elif name == "cfn":
            glob = man["glob"]
            if tools.cfn_lint:
                cmds.append(Command("cfn.cfnlint", f"cfn-lint -- '{glob}'", [tools.cfn_lint, "--", glob], cfnlint_ok))
                cmds.append(Command("cfn.cfnlint_ours", f"cfn-lint --append-rules=cloudtrail_kms_lint.plugin -- '{glob}'",
                                    [tools.cfn_lint, "--append-rules=cloudtrail_kms_lint.plugin", "--", glob], cfnlint_ok))
            cmds.append(cold("cfn.ours", "cloudtrail-kms-lint scan . (cold)", ckl + ["scan", "."]))
        wl.append(Workload(name, repo, man, cmds))
    return wl


# ---------------------------------------------------------------- targets


@dataclass
class Target:
    id: str
    text: str
    needs: tuple  # command rows
    measure: Callable[[dict], float]  # medians by row -> figure
    passes: Callable[[float], bool]
    shown: Callable[[float], str]


def targets(z: dict) -> list:
    """z: repository sizes by workload."""
    return [
        Target("T1", f"tf {z['tf']} files: checkov CKV_AWS_35 / our scan (cold) >= 10x",
               ("tf.checkov_35", "tf.ours_cold"), lambda m: m["tf.checkov_35"]["wall"] / m["tf.ours_cold"]["wall"],
               lambda x: x >= 10, lambda x: f"{x:.1f}x"),
        Target("T1m", f"tf {z['tf']} files: our peak RSS < checkov CKV_AWS_35's",
               ("tf.checkov_35", "tf.ours_cold"), lambda m: m["tf.ours_cold"]["rss_mib"] / m["tf.checkov_35"]["rss_mib"],
               lambda x: x < 1, lambda x: f"{x:.2f} of checkov's"),
        Target("T2", f"tf {z['tf']} files: our cold / our warm (unchanged files) >= 3x",
               ("tf.ours_cold", "tf.ours_warm"), lambda m: m["tf.ours_cold"]["wall"] / m["tf.ours_warm"]["wall"],
               lambda x: x >= 3, lambda x: f"{x:.2f}x"),
        Target("T3", "pre-commit, trail module, comment added / --version <= 2x",
               ("tf.precommit_trail", "tf.version"), lambda m: m["tf.precommit_trail"]["wall"] / m["tf.version"]["wall"],
               lambda x: x <= 2, lambda x: f"{x:.1f}x"),
        Target("T3c", "pre-commit, trail module, unrelated resource added / --version <= 2x",
               ("tf.precommit_trail_code", "tf.version"),
               lambda m: m["tf.precommit_trail_code"]["wall"] / m["tf.version"]["wall"],
               lambda x: x <= 2, lambda x: f"{x:.1f}x"),
        Target("T3b", "pre-commit, one changed ordinary module / --version <= 2x",
               ("tf.precommit_plain", "tf.version"), lambda m: m["tf.precommit_plain"]["wall"] / m["tf.version"]["wall"],
               lambda x: x <= 2, lambda x: f"{x:.1f}x"),
        Target("T4", f"tf {z['tf_big']} files, no CloudTrail: our scan / grep -rlE <= 5x",
               ("tf_big.ours", "tf_big.grep"), lambda m: m["tf_big.ours"]["wall"] / m["tf_big.grep"]["wall"],
               lambda x: x <= 5, lambda x: f"{x:.1f}x"),
        Target("T5", f"dense {z['dense']} modules: checkov CKV_AWS_35 / our scan >= 1x (ahead)",
               ("dense.checkov_35", "dense.ours"), lambda m: m["dense.checkov_35"]["wall"] / m["dense.ours"]["wall"],
               lambda x: x >= 1, lambda x: f"{x:.2f}x"),
        Target("T6", f"tf {z['tf']} files: our checks add <= 15% to checkov (CKV_CTKMS_* vs CKV_AWS_35)",
               ("tf.checkov_ours", "tf.checkov_35"), lambda m: m["tf.checkov_ours"]["wall"] / m["tf.checkov_35"]["wall"] - 1,
               lambda x: x <= 0.15, lambda x: f"{x * 100:+.1f}%"),
        Target("T7", f"cfn {z['cfn']} templates: our rules add <= 5% to cfn-lint",
               ("cfn.cfnlint_ours", "cfn.cfnlint"), lambda m: m["cfn.cfnlint_ours"]["wall"] / m["cfn.cfnlint"]["wall"] - 1,
               lambda x: x <= 0.05, lambda x: f"{x * 100:+.1f}%"),
        Target("T8", f"growth, tf {z['tf']} -> {z['tf_double']} files: time ratio <= 2.2x",
               ("tf_double.ours", "tf.ours_cold"), lambda m: m["tf_double.ours"]["wall"] / m["tf.ours_cold"]["wall"],
               lambda x: x <= 2.2, lambda x: f"{x:.2f}x"),
        Target("T8b", f"growth, dense {z['dense_half']} -> {z['dense']} modules: time ratio <= 2.2x",
               ("dense.ours", "dense_half.ours"), lambda m: m["dense.ours"]["wall"] / m["dense_half.ours"]["wall"],
               lambda x: x <= 2.2, lambda x: f"{x:.2f}x"),
    ]


# ---------------------------------------------------------------- main loop


def run(args) -> int:
    tools = find_tools(args)
    sizes = dict(QUICK if args.quick else FULL)
    for spec in args.size or []:
        k, _, v = spec.partition("=")
        if k not in sizes or not v.isdigit():
            sys.exit(f"run.py: --size {spec!r}: expected NAME=N with NAME in {', '.join(sizes)}")
        sizes[k] = int(v)
    workdir = os.path.abspath(args.workdir or os.path.join(PROJECT, ".cache", "bench" + ("-quick" if args.quick else "")))
    os.makedirs(workdir, exist_ok=True)
    log_dir = tempfile.mkdtemp(prefix="logs-", dir=workdir)
    for n in tools.notes:
        sys.stderr.write(f"run.py: {n}\n")
    sys.stderr.write(f"run.py: repositories in {workdir}\n")
    workloads = build_workloads(args, tools, sizes, workdir)
    rounds = args.rounds
    warmup(tools, workloads, workdir, args.allow_network)
    src_start = source_digest()
    t_start = time.perf_counter()
    failures = []
    for rnd in range(rounds):
        for w in workloads:
            units: list = []
            for c in w.commands:
                if c.pair_with:
                    for u in units:
                        if u[0].name == c.pair_with:
                            u.append(c)
                else:
                    units.append([c])
            if rnd % 2 == 1:
                units.reverse()
            for unit in units:
                for c in unit:
                    if c.rounds is not None and rnd >= c.rounds:
                        continue
                    if c.before:
                        c.before(rnd)
                    try:
                        s = run_once(c.argv, w.repo, _env(args.allow_network, c.env), c.ok_codes, tools.time_v,
                                     args.timeout, log_dir, f"r{rnd}-{c.name}")
                    finally:
                        if c.after:
                            c.after(rnd)
                    c.samples.append(s)
                    rss = f"{s.rss_kb / 1024:.0f} MiB" if s.rss_kb else "?"
                    sys.stderr.write(f"  round {rnd + 1}/{rounds}  {c.name:<22} {s.wall:8.3f} s  cpu {s.cpu or 0:8.3f} s  "
                                     f"{rss:>9}  load {s.load1}  exit {s.rc}"
                                     f"{'' if s.ok else '  UNEXPECTED'}\n")
                    if not s.ok:
                        failures.append((c.name, rnd, s.note))
    elapsed = time.perf_counter() - t_start
    for c in CACHES:
        c.cleanup()
    src_end = source_digest()

    allow_net = args.allow_network
    report = {
        "quick": args.quick, "rounds": rounds, "checkov_rounds": args.checkov_rounds, "elapsed_s": elapsed,
        "machine": machine(), "versions": tool_versions(tools), "sizes": {w.name: sizes[w.name] for w in workloads},
        "rss_source": "/usr/bin/time -v" if tools.time_v else "os.wait4 ru_maxrss",
        "workloads": {w.name: {"repo": w.repo, "manifest": {k: v for k, v in w.manifest.items()
                                                             if not isinstance(v, (list, dict))},
                               "trails": len(w.manifest.get("trail_modules", w.manifest.get("trail_templates", []))),
                               "commands": {c.name: {"label": c.label, "argv": _display_argv(c.argv, w.repo),
                                                     "samples": [dict(s.__dict__) for s in c.samples]}
                                            for c in w.commands}}
                      for w in workloads},
        "notes": tools.notes, "failures": failures, "source_digest": {"start": src_start, "end": src_end},
        "environment": {"PYTHONDONTWRITEBYTECODE (caller)": os.environ.get("PYTHONDONTWRITEBYTECODE"),
                        "unset for the commands": ["PYTHONDONTWRITEBYTECODE", "PYTHONPATH"],
                        "set for the commands": {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE",
                                                 "HTTP(S)_PROXY": None if allow_net else DEAD_PROXY}},
    }
    text = summarise(report)
    sys.stdout.write(text)
    results = report["targets"]
    json_path = args.json or os.path.join(workdir, "results.json")
    with open(json_path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, sort_keys=True, default=str)
        fh.write("\n")
    if not args.keep_logs and not failures:
        shutil.rmtree(log_dir, ignore_errors=True)
        sys.stderr.write(f"run.py: results in {json_path}\n")
    else:
        sys.stderr.write(f"run.py: results in {json_path}; every command's output in {log_dir}\n")
    if failures:
        return 1
    if args.fail_on_target and any(r["status"] == "FAIL" for r in results):
        return 3
    return 0


def summarise(report: dict) -> str:
    """Medians, targets (on wall time, and the same ratios on CPU time) and the table; adds them to ``report``."""
    sizes = report["sizes"]
    full_sizes = dict(QUICK if report.get("quick") else FULL)
    full_sizes.update(sizes)
    medians: dict = {}
    rows = []
    for wname, w in report["workloads"].items():
        for cname, c in w["commands"].items():
            good = [s for s in c["samples"] if s["ok"]]
            if not good:
                continue
            walls = [s["wall"] for s in good]
            rss = [s["rss_kb"] for s in good if s.get("rss_kb")]
            cpus = [s["cpu"] for s in good if s.get("cpu") is not None]
            medians[cname] = {"wall": statistics.median(walls), "rss_mib": statistics.median(rss) / 1024 if rss else None,
                              "n": len(good), "min": min(walls), "max": max(walls),
                              "cpu": statistics.median(cpus) if cpus else None}
            c["median"] = medians[cname]
            rows.append((wname, c["label"], medians[cname]))
    on_cpu = {k: {**v, "wall": v["cpu"]} for k, v in medians.items() if v.get("cpu")}
    results = []
    for t in targets(full_sizes):
        if not all(n in medians for n in t.needs):
            missing = [n for n in t.needs if n not in medians]
            results.append({"id": t.id, "target": t.text, "status": "SKIP", "figure": None,
                            "why": "not measured: " + ", ".join(missing)})
            continue
        try:
            x = t.measure(medians)
        except (TypeError, ZeroDivisionError):
            results.append({"id": t.id, "target": t.text, "status": "SKIP", "figure": None, "why": "no figure"})
            continue
        r = {"id": t.id, "target": t.text, "status": "PASS" if t.passes(x) else "FAIL", "figure": x, "shown": t.shown(x)}
        try:
            y = t.measure(on_cpu) if t.id != "T1m" else None
        except (KeyError, TypeError, ZeroDivisionError):
            y = None
        if y is not None:
            r.update(cpu_figure=y, cpu_shown=t.shown(y), cpu_status="PASS" if t.passes(y) else "FAIL")
        results.append(r)
    report["targets"] = results

    out = []
    cr = report.get("checkov_rounds")
    out.append(f"cloudtrail-kms-lint benchmark  ({'quick' if report.get('quick') else 'full'}; {report['rounds']} round(s)"
               f"{f', checkov {cr}' if cr is not None else ''}; {report['machine'].get('nproc')} CPUs; "
               f"{report['elapsed_s'] / 60:.1f} min)")
    out.append("")
    out.append(f"{'workload':<11} {'command':<62} {'n':>2} {'median s':>9} {'min s':>8} {'max s':>8} {'CPU s':>8} "
               f"{'peak RSS':>9}")
    for wname, label, m in rows:
        rss = f"{m['rss_mib']:.0f} MiB" if m["rss_mib"] else "?"
        cpu = f"{m['cpu']:.3f}" if m["cpu"] is not None else "?"
        label = label if len(label) <= 62 else label[:59] + "..."
        out.append(f"{wname:<11} {label:<62} {m['n']:>2} {m['wall']:>9.3f} {m['min']:>8.3f} {m['max']:>8.3f} {cpu:>8} "
                   f"{rss:>9}")
    out.append("")
    out.append(f"{'target':<5} {'':<78} {'wall':>16}  {'result':<6}  {'same on CPU s':>16}  result")
    for r in results:
        shown = r.get("shown") or "-"
        line = f"{r['id']:<5} {r['target']:<78} {shown:>16}  {r['status']:<6}"
        if r["status"] == "SKIP":
            line += f"  ({r['why']})"
        elif "cpu_shown" in r:
            line += f"  {r['cpu_shown']:>16}  {r['cpu_status']}"
        out.append(line.rstrip())
    failures = report.get("failures") or []
    if failures:
        out.append("")
        out.append("commands that failed:")
        for name, rnd, note in failures:
            out.append(f"  {name} (round {rnd + 1}): {note[:400]}")
    digest = report.get("source_digest") or {}
    if digest.get("start") != digest.get("end"):
        out.append("")
        out.append(f"WARNING: the product code changed during the run (src/checks/plugin {digest.get('start')} -> "
                   f"{digest.get('end')}): the rounds did not all measure the same code")
    return "\n".join(out) + "\n"


def _display_argv(argv: list, repo: str) -> str:
    shown = []
    for a in argv:
        if a.startswith(PROJECT + os.sep):
            a = os.path.relpath(a, PROJECT)
        shown.append(shlex.quote(a))
    return " ".join(shown)


def main(argv: Optional[list] = None) -> int:
    p = argparse.ArgumentParser(prog="run.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny repositories, 1 round (unless --rounds)")
    p.add_argument("--rounds", type=int, help="rounds (default 5; --quick: 1)")
    p.add_argument("--checkov-rounds", type=int, help="run the checkov commands in the first N rounds only")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS), help=f"comma-separated (default: {','.join(ALL_WORKLOADS)})")
    p.add_argument("--size", action="append", metavar="NAME=N", help="override a repository size (tf=2000, dense=200, ...)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", help="where repositories are generated and cached (default: .cache/bench)")
    p.add_argument("--regenerate", action="store_true", help="regenerate the repositories even when cached")
    p.add_argument("--json", help="write the results here (default: WORKDIR/results.json)")
    p.add_argument("--ckl", help="our CLI, as a command line (default: .venv/bin/cloudtrail-kms-lint)")
    p.add_argument("--checkov", help="checkov executable (default: .venv-checkov/bin/checkov; absent: skipped)")
    p.add_argument("--cfn-lint", help="cfn-lint executable (default: .venv/bin/cfn-lint; absent: skipped)")
    p.add_argument("--cold-clear", action="append", metavar="PATH",
                   help="remove PATH (relative to the repository) before each cold scan: the CLI's cache, once it has one")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per command (default 1800)")
    p.add_argument("--no-time-v", action="store_true", help="measure peak RSS with os.wait4 instead of /usr/bin/time -v")
    p.add_argument("--allow-network", action="store_true", help="do not point HTTP(S)_PROXY at a closed port")
    p.add_argument("--keep-logs", action="store_true", help="keep every command's output")
    p.add_argument("--fail-on-target", action="store_true", help="exit 3 when a target FAILs")
    p.add_argument("--report", metavar="JSON", help="print the table of a results file again (runs nothing)")
    args = p.parse_args(argv)
    if args.report:
        with open(args.report, encoding="utf-8") as fh:
            sys.stdout.write(summarise(json.load(fh)))
        return 0
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.rounds < 1:
        p.error("--rounds must be 1 or more")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
