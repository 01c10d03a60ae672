"""The ``cloudtrail-kms-lint`` command line.

Exit codes: 0 no failing finding; 1 failing findings (error level, or warnings
with ``--fail-on warning``, or CTKMS007 with ``--strict``); 2 usage error, a
configuration or baseline file that cannot be used, or an input that could not
be read or parsed. Suppressed findings never count. ``--write-baseline``
exits 0 unless an input could not be read (2).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Optional

from . import __version__, catalogue

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors exit 2 without a traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    return name, value


class UsageError(Exception):
    """A command-line value that is not usable; exit 2 with the message."""


def _limits(pairs: list) -> dict:
    from .limits import from_mapping

    out: dict = {}
    for name, raw in pairs:
        try:
            out[name] = int(raw)
        except ValueError:
            try:
                out[name] = float(raw)
            except ValueError:
                raise UsageError(f"--limit {name}={raw}: the value is not a number") from None
    try:
        from_mapping(out)
    except ValueError as e:
        raise UsageError(f"--limit: {e}") from None
    return out


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cloudtrail-kms-lint", description="Check that CloudTrail's KMS key policies let CloudTrail use the key.")
    p.add_argument("--version", action="version", version=f"cloudtrail-kms-lint {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    s = sub.add_parser("scan", help="scan Terraform and CloudFormation files")
    s.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or directories (default: .)")
    s.add_argument("--format", "-f", default="text", choices=["text", "json", "sarif", "github", "junit"])
    s.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of standard output")
    s.add_argument("--exclude", action="append", default=[], metavar="PATTERN", help="gitignore-style pattern to skip (repeatable)")
    s.add_argument("--parameter", "-p", action="append", default=[], type=_parameter, metavar="NAME=VALUE",
                   help="CloudFormation parameter value (repeatable)")
    s.add_argument("--var", action="append", default=[], type=_parameter, metavar="NAME=VALUE",
                   help="Terraform variable value for every root module (repeatable)")
    s.add_argument("--var-file", action="append", default=[], metavar="FILE", help="Terraform .tfvars file (repeatable)")
    s.add_argument("--strict", action=argparse.BooleanOptionalAction, default=None,
                   help="CTKMS007 (not verified) fails the scan (default: off, or the configuration's strict)")
    s.add_argument("--fail-on", choices=["error", "warning"], default=None,
                   help="lowest level that fails the scan (default: error, or the configuration's fail-on)")
    s.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    s.add_argument("--verbose", "-v", action="store_true", help="show how each key reference was followed")
    s.add_argument("--show-fix", action="store_true",
                   help="text format: show under each finding the statements to add or the change to make, "
                        "written in the style of the file that holds the policy")
    s.add_argument("--debug", action="store_true", help="show Python tracebacks")
    g = s.add_argument_group("configuration and suppressions", "see docs/configuration.md")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="FILE",
                       help="configuration file (pyproject.toml or .cloudtrail-kms-lint.toml); default: the first "
                            "found in the current directory and its parents, up to the repository root")
    where.add_argument("--no-config", action="store_true", help="do not read any configuration file")
    g.add_argument("--baseline", metavar="FILE", help="report only findings that are not in this baseline")
    g.add_argument("--write-baseline", metavar="FILE",
                   help="write the findings that are not suppressed inline or by the configuration to FILE as "
                        "a baseline, and exit 0")
    g.add_argument("--no-inline-suppressions", action="store_true",
                   help="ignore cloudtrail-kms-lint:ignore comments and Metadata (for CI that must not trust "
                        "the code under review)")
    g.add_argument("--show-suppressed", action="store_true", help="text format: also show suppressed findings, marked")
    s.add_argument("--no-cache", action="store_true", help="do not read or write the analysis cache")
    s.add_argument("--limit", action="append", default=[], type=_parameter, metavar="NAME=VALUE",
                   help="a resource limit, e.g. max-seconds=20 (names in docs/security.md; repeatable)")
    s.add_argument("--cache-dir", metavar="DIR",
                   help="where the analysis cache lives (default: $XDG_CACHE_HOME/cloudtrail-kms-lint)")
    s.add_argument("--jobs", "-j", type=_jobs, metavar="N",
                   help="processes that analyse Terraform root modules in parallel (default: one per core, "
                        "at most 4; 1: no worker processes)")

    e = sub.add_parser("explain", help="print a rule's documentation")
    e.add_argument("rule", help="CTKMS004, CKV_CTKMS_4 or E9104")

    sub.add_parser("rules", help="list the rules")
    sub.add_parser("checks-dir", help="print the directory to pass to checkov --external-checks-dir")
    sub.add_parser("plugin-dir", help="print the directory to pass to cfn-lint --append-rules")
    return p


def _cmd_scan(args) -> int:
    from .config import ConfigError
    from .output import render
    from .scan import scan

    from .changed import expand

    # Changed files (pre-commit passes them): a .tf file means its module, checked through its callers,
    # which may call modules anywhere in the repository: the repository is the scanned directory.
    changed_files = any(os.path.isfile(p) for p in args.paths or [])
    paths = (expand(args.paths, cache_dir=args.cache_dir, use_cache=not args.no_cache)
             if changed_files else (args.paths or ["."]))
    # the baseline module is imported only when a baseline is read (a pre-commit run does not pay for it)
    usage_errors: tuple = (ConfigError,)
    if args.baseline:
        from .baseline import BaselineError

        usage_errors += (BaselineError,)
    try:
        options, strict, fail_on = _scan_options(args, paths)
    except usage_errors as e:
        sys.stderr.write(f"cloudtrail-kms-lint: {e}\n")
        return EXIT_ERROR
    result = scan(options)
    if args.color == "always":
        color = True
    elif args.color == "never":
        color = False
    else:
        stream_tty = args.output is None and sys.stdout.isatty()
        color = stream_tty and "NO_COLOR" not in os.environ
    if args.format == "text" and (args.show_suppressed or args.show_fix):
        from .output import text as text_format

        text = text_format.render(result, color=color, verbose=args.verbose, show_suppressed=args.show_suppressed,
                                  show_fix=args.show_fix)
    else:
        text = render(result, args.format, color=color, verbose=args.verbose, tool_version=__version__)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    if args.write_baseline:
        from . import baseline

        # what a later --baseline run should accept: everything not suppressed inline or by the configuration
        keep = list(result.findings) + [f for f in result.suppressed if f.suppressed.kind == "baseline"]
        n = baseline.write(keep, args.write_baseline)
        sys.stderr.write(f"cloudtrail-kms-lint: wrote {n} finding{'' if n == 1 else 's'} to the baseline "
                         f"{args.write_baseline}\n")
        return EXIT_ERROR if result.errors else EXIT_OK
    if result.errors:
        return EXIT_ERROR
    if result.failing(fail_on=fail_on, strict=strict):
        return EXIT_FINDINGS
    return EXIT_OK


def _scan_options(args, paths: list[str]):
    """ScanOptions, strict and fail-on from the configuration file and the command line.

    The command line wins: --strict/--no-strict and --fail-on replace the
    file's strict and fail-on; --var and --parameter replace the file's value
    of the same name; --exclude and --var-file are added after the file's
    exclude and var-files (so a --var-file's values win, as in Terraform).
    """
    from .config import resolve
    from .discovery import display_path
    from .scan import ScanOptions

    cfg = resolve(args.config, args.no_config)
    options = ScanOptions(
        paths=paths,
        excludes=list(cfg.exclude) + list(args.exclude),
        parameters={**cfg.parameters, **dict(args.parameter)},
        variables={**cfg.vars, **dict(args.var)},
        var_files=list(cfg.var_files) + list(args.var_file),
        select=cfg.select,
        ignore=list(cfg.ignore),
        per_path_ignores=dict(cfg.per_path_ignores),
        config_dir=cfg.directory,
        config_source=display_path(cfg.path) if cfg.path else "",
        inline_suppressions=not args.no_inline_suppressions,
        baseline=_load_baseline(args.baseline) if args.baseline else None,
        accounts=list(cfg.accounts),
        cache_dir=args.cache_dir,
        limits={**cfg.limits, **_limits(args.limit)},
        use_cache=not args.no_cache,
    )
    if args.jobs is not None:
        options.jobs = args.jobs
    if any(os.path.isfile(p) for p in args.paths or []):
        from .changed import repo_root

        options.confine_to = repo_root(os.getcwd())
    strict = args.strict if args.strict is not None else bool(cfg.strict)
    fail_on = args.fail_on or cfg.fail_on or catalogue.ERROR
    return options, strict, fail_on


def _load_baseline(path: str):
    from .baseline import Baseline

    return Baseline.load(path)


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"expected a number of processes from 1 to 64, got {text!r}")
    return n


def _cmd_explain(args) -> int:
    try:
        rule = catalogue.get(args.rule)
    except KeyError:
        sys.stderr.write(f"cloudtrail-kms-lint: unknown rule '{args.rule}'; see 'cloudtrail-kms-lint rules'\n")
        return EXIT_ERROR
    from .docs import rule_section

    sys.stdout.write(rule_section(rule) + "\n")
    return EXIT_OK


def _cmd_rules(_args) -> int:
    for r in catalogue.RULES:
        sys.stdout.write(f"{r.id}  {r.checkov_id:<12} {r.cfn_lint_id}  {r.level:<7}  {r.title}\n")
    return EXIT_OK


def _package_dir(name: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec(f"cloudtrail_kms_lint.{name}")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(name)
    return list(spec.submodule_search_locations)[0]


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    if debug:  # failures caught per trail log their traceback at DEBUG
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        log = logging.getLogger("cloudtrail_kms_lint")
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    try:
        if args.command == "scan":
            return _cmd_scan(args)
        if args.command == "explain":
            return _cmd_explain(args)
        if args.command == "rules":
            return _cmd_rules(args)
        if args.command in ("checks-dir", "plugin-dir"):
            sys.stdout.write(_package_dir("checks" if args.command == "checks-dir" else "plugin") + "\n")
            return EXIT_OK
        parser.print_help()
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except UsageError as e:
        sys.stderr.write(f"cloudtrail-kms-lint: error: {e}\n")
        return EXIT_ERROR
    except Exception as e:  # never a traceback for the user, unless asked
        from .cloudformation.loader import ParserMissing

        if isinstance(e, ParserMissing):
            sys.stderr.write(f"cloudtrail-kms-lint: {e}\n")
            return EXIT_ERROR
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"cloudtrail-kms-lint: internal error: {type(e).__name__}: {e} (run with --debug for details)\n")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
