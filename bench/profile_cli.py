#!/usr/bin/env python3
"""Profile one ``cloudtrail-kms-lint`` invocation with cProfile and summarise where the time goes.

    .venv/bin/python bench/profile_cli.py .cache/bench/tf                       # scan . in that repository
    .venv/bin/python bench/profile_cli.py .cache/bench/dense --top 30
    .venv/bin/python bench/profile_cli.py .cache/bench/tf -- scan some/module/main.tf   # pre-commit style
    .venv/bin/python bench/profile_cli.py .cache/bench/tf --pstats out.prof     # keep the raw profile
    .venv/bin/python bench/profile_cli.py .cache/bench/tf --warm               # the second run (analysis cache filled)

Run it with the CLI's interpreter (.venv/bin/python): it imports cloudtrail_kms_lint
in-process, from the repository's root (as the benchmark runs the CLI). The phase
table adds the cumulative time of the functions that start each phase (imports of
the parsers are counted where they happen); the top-N tables are cProfile's. The analysis
cache (CLOUDTRAIL_KMS_LINT_CACHE_DIR) is a new empty directory: a cold run, or with --warm the
second of two runs.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time

# (phase, module path fragment, function name): cumulative time of the first match
PHASES = [
    ("scan() in all", "cloudtrail_kms_lint/scan.py", "scan"),
    ("  Terraform: walk, read, pre-filter, roots", "cloudtrail_kms_lint/scan.py", "_scan_terraform"),
    ("  changed files -> modules (pre-commit)", "cloudtrail_kms_lint/changed.py", "expand"),
    ("  discovery.iter_files (both passes)", "cloudtrail_kms_lint/discovery.py", "iter_files"),
    ("  Terraform: parse module directories", "cloudtrail_kms_lint/terraform/module.py", "module_dir"),
    ("    python-hcl2 parse (parses_to_tree)", "hcl2/api.py", "parses_to_tree"),
    ("    python-hcl2 import", "hcl2/__init__.py", "<module>"),
    ("  Terraform: analyse roots", "cloudtrail_kms_lint/terraform/analysis.py", "analyse_root"),
    ("    expression evaluation", "cloudtrail_kms_lint/terraform/expressions.py", "evaluate"),
    ("    policy evaluation (trail.analyse)", "cloudtrail_kms_lint/trail.py", "analyse"),
    ("  CloudFormation: decode + analyse", "cloudtrail_kms_lint/scan.py", "_scan_cloudformation"),
    ("  analysis cache: look-ups (Cache.get)", "cloudtrail_kms_lint/cache.py", "get"),
    ("  analysis cache: writes (Cache.put)", "cloudtrail_kms_lint/cache.py", "put"),
    ("  analysis cache: pruning (Cache.prune)", "cloudtrail_kms_lint/cache.py", "prune"),
    ("  analysis cache: content hashes (file_digest)", "cloudtrail_kms_lint/cache.py", "file_digest"),
    ("  suppressions", "cloudtrail_kms_lint/suppressions.py", "apply"),
    ("report rendering", "cloudtrail_kms_lint/output/__init__.py", "render"),
]


def phase_table(stats: pstats.Stats, total: float) -> str:
    rows = []
    entries = stats.stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
    for label, frag, func in PHASES:
        best = None
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in entries.items():
            if name == func and filename.replace(os.sep, "/").endswith(frag):
                if best is None or ct > best[1]:
                    best = (nc, ct)
        if best is None:
            continue
        rows.append(f"  {label:<52} {best[1]:8.3f} s  {100 * best[1] / total:5.1f}%  ({best[0]} calls)")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="profile_cli.py", description=__doc__.split("\n\n")[0])
    p.add_argument("repo", help="repository to run in (its root)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--pstats", help="write the raw profile here")
    p.add_argument("--warm", action="store_true",
                   help="run once unprofiled first (same cache directory), then profile the second run")
    argv = list(sys.argv[1:] if argv is None else argv)
    cli_args = ["scan", "."]
    if "--" in argv:  # the CLI's arguments follow --
        i = argv.index("--")
        argv, cli_args = argv[:i], argv[i + 1:]
    p.usage = "%(prog)s [-h] [--top N] [--pstats FILE] repo [-- CLI ARGS (default: scan .)]"
    a = p.parse_args(argv)
    os.chdir(a.repo)
    # the analysis cache: a new empty directory (a cold run), unless --warm fills it first
    cache_dir = tempfile.mkdtemp(prefix="ckl-profile-cache-")
    os.environ["CLOUDTRAIL_KMS_LINT_CACHE_DIR"] = cache_dir
    if a.warm:
        subprocess.run([sys.executable, "-m", "cloudtrail_kms_lint", *cli_args], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    t0 = time.perf_counter()
    prof = cProfile.Profile()
    prof.enable()
    from cloudtrail_kms_lint import cli  # noqa: PLC0415 - the import is part of what is profiled

    with contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main(cli_args)
    prof.disable()
    total = time.perf_counter() - t0
    shutil.rmtree(cache_dir, ignore_errors=True)
    if a.pstats:
        prof.dump_stats(a.pstats)
    stats = pstats.Stats(prof)
    print(f"cloudtrail-kms-lint {' '.join(cli_args)}  in {a.repo} ({'warm' if a.warm else 'cold'} cache): exit {rc}, "
          f"{total:.3f} s under cProfile (in-process, interpreter start-up not included)")
    print("\nphases (cumulative, they nest):")
    print(phase_table(stats, total))
    for key, title in (("cumulative", "by cumulative time"), ("tottime", "by own time")):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(a.top)
        text = buf.getvalue()
        start = text.find("   ncalls")
        print(f"\ntop {a.top} {title}:\n" + text[start:].rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
