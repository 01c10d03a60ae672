"""The ``cloudtrail-kms-lint`` command line.

Exit codes: 0 no failing finding; 1 failing findings (error level, or warnings
with ``--fail-on warning``, or CTKMS007 with ``--strict``); 2 usage error or an
input that could not be read or parsed.
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


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cloudtrail-kms-lint", description="Check that CloudTrail's KMS key policies let CloudTrail use the key.")
    p.add_argument("--version", action="version", version=f"cloudtrail-kms-lint {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    s = sub.add_parser("scan", help="scan Terraform and CloudFormation files")
    s.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or directories (default: .)")
    s.add_argument("--format", "-f", default="text", choices=["text", "json", "sarif", "github"])
    s.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of standard output")
    s.add_argument("--exclude", action="append", default=[], metavar="PATTERN", help="gitignore-style pattern to skip (repeatable)")
    s.add_argument("--parameter", "-p", action="append", default=[], type=_parameter, metavar="NAME=VALUE",
                   help="CloudFormation parameter value (repeatable)")
    s.add_argument("--var", action="append", default=[], type=_parameter, metavar="NAME=VALUE",
                   help="Terraform variable value for every root module (repeatable)")
    s.add_argument("--var-file", action="append", default=[], metavar="FILE", help="Terraform .tfvars file (repeatable)")
    s.add_argument("--strict", action="store_true", help="CTKMS007 (not verified) fails the scan")
    s.add_argument("--fail-on", choices=["error", "warning"], default="error", help="lowest level that fails the scan")
    s.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    s.add_argument("--verbose", "-v", action="store_true", help="show how each key reference was followed")
    s.add_argument("--debug", action="store_true", help="show Python tracebacks")

    e = sub.add_parser("explain", help="print a rule's documentation")
    e.add_argument("rule", help="CTKMS004, CKV_CTKMS_4 or E9104")

    sub.add_parser("rules", help="list the rules")
    sub.add_parser("checks-dir", help="print the directory to pass to checkov --external-checks-dir")
    sub.add_parser("plugin-dir", help="print the directory to pass to cfn-lint --append-rules")
    return p


def _cmd_scan(args) -> int:
    from .output import render
    from .scan import ScanOptions, scan

    from .changed import expand

    # Changed files (pre-commit passes them): a .tf file means its module, checked through its callers.
    paths = expand(args.paths) if any(os.path.isfile(p) for p in args.paths or []) else (args.paths or ["."])
    options = ScanOptions(paths=paths, excludes=args.exclude, parameters=dict(args.parameter),
                          variables=dict(args.var), var_files=list(args.var_file))
    result = scan(options)
    if args.color == "always":
        color = True
    elif args.color == "never":
        color = False
    else:
        stream_tty = args.output is None and sys.stdout.isatty()
        color = stream_tty and "NO_COLOR" not in os.environ
    text = render(result, args.format, color=color, verbose=args.verbose, tool_version=__version__)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    if result.errors:
        return EXIT_ERROR
    if result.failing(fail_on=args.fail_on, strict=args.strict):
        return EXIT_FINDINGS
    return EXIT_OK


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
