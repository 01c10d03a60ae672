"""docs/ci.md: the CI examples are valid YAML, wire the reports up correctly,
and every command line in the document parses."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from cloudtrail_kms_lint import catalogue, cli
from cloudtrail_kms_lint.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ci.md"
EXAMPLES = ROOT / "examples" / "cloudformation"
WAITING_FOR_JUNIT = "waiting for the lead to add junit to --format choices"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")
_SUBCOMMANDS = ("scan", "explain", "rules", "checks-dir", "plugin-dir", "--version", "--help", "-h")
_COMMAND = re.compile(r"(?<![\w./\[-])cloudtrail-kms-lint(?=[ \t]+(?:" + "|".join(map(re.escape, _SUBCOMMANDS)) + r")(?![\w-]))")
_OPERATOR = set("();<>|&")


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def fenced_blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, dedented body, first line number) of every fenced block."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group("indent"), m.group("lang"), i + 1
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        assert i < len(lines), f"unclosed code block at line {start}"
        blocks.append((lang, "\n".join(body) + "\n", start + 1))
        i += 1
    return blocks


def prose(text: str) -> str:
    """The document without its fenced blocks."""
    out, inside = [], False
    for line in text.splitlines():
        if _FENCE.match(line) or (inside and line.strip() == "```"):
            inside = not inside
            continue
        if not inside:
            out.append(line)
    return "\n".join(out)


def _logical_lines(text: str) -> list[str]:
    """Lines with shell continuations (trailing backslash) joined."""
    out, current = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        out.append(current + line)
        current = ""
    if current:
        out.append(current)
    return out


def _quote_at(line: str, pos: int) -> str:
    """The quote character open at ``pos`` ('' when none)."""
    quote = ""
    escaped = False
    for ch in line[:pos]:
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
    return quote


def commands_in(text: str) -> list[tuple[str, ...]]:
    """The argument lists of every ``cloudtrail-kms-lint ...`` invocation in ``text``
    (up to the end of the line, a shell operator, a comment or a closing quote)."""
    found = []
    for line in _logical_lines(text):
        for m in _COMMAND.finditer(line):
            rest = line[m.end():]
            quote = _quote_at(line, m.start())
            if quote:
                rest = rest.split(quote, 1)[0]
            lexer = shlex.shlex(rest, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            args = []
            for token in lexer:
                if token and set(token) <= _OPERATOR:
                    break
                args.append(token)
            found.append(tuple(args))
    return found


def doc_commands() -> list[tuple[str, ...]]:
    text = _doc()
    found = []
    for _lang, body, _line in fenced_blocks(text):
        found += commands_in(body)
    for span in re.findall(r"`([^`\n]+)`", prose(text)):
        found += commands_in(span)
    return list(dict.fromkeys(found))


def yaml_documents() -> list[tuple[int, object]]:
    return [(line, yaml.safe_load(body)) for lang, body, line in fenced_blocks(_doc()) if lang in ("yaml", "yml")]


def _format_choices() -> list:
    parser = build_parser()
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - argparse has no public walk
        for a in action.choices["scan"]._actions:  # noqa: SLF001
            if a.dest == "format":
                return list(a.choices or [])
    return []


def _parse(argv) -> tuple[bool, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(list(argv))
        except SystemExit as e:
            return False, err.getvalue().strip() or f"exit {e.code}"
    return True, ""


def _option(argv, *names):
    argv = list(argv)
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _expr(value) -> str:
    """A GitHub Actions ``if:`` without ``${{ }}``."""
    s = str(value).strip()
    m = re.fullmatch(r"\$\{\{\s*(.*?)\s*\}\}", s)
    return m.group(1) if m else s


def _jobs(doc) -> dict:
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    return jobs if isinstance(jobs, dict) else {}


# ------------------------------------------------------------ the extractor itself


def test_command_extraction():
    text = (
        "- run: cloudtrail-kms-lint scan --format sarif --output results.sarif .\n"
        "pip install \"cloudtrail-kms-lint[cli]\" && cloudtrail-kms-lint scan . || true\n"
        "sh 'cloudtrail-kms-lint scan --format junit --output r.xml .'\n"
        "cloudtrail-kms-lint scan --strict .   # a comment\n"
        "cloudtrail-kms-lint scan \\\n  --fail-on warning infra/\n"
        "name: cloudtrail-kms-lint annotations\n"
        "--output cloudtrail-kms-lint.xml; python -m cloudtrail_kms_lint checks-dir\n"
    )
    assert commands_in(text) == [
        ("scan", "--format", "sarif", "--output", "results.sarif", "."),
        ("scan", "."),
        ("scan", "--format", "junit", "--output", "r.xml", "."),
        ("scan", "--strict", "."),
        ("scan", "--fail-on", "warning", "infra/"),
    ]


def test_fenced_blocks_are_closed_and_found():
    blocks = fenced_blocks(_doc())
    langs = [lang for lang, _body, _line in blocks]
    assert langs.count("yaml") >= 4 and "sh" in langs
    # the indented block inside a list item is found and dedented
    assert any(body.startswith("terraform -chdir=infra init") for _lang, body, _line in blocks)


# ------------------------------------------------------------ YAML


def test_every_yaml_block_parses():
    docs = yaml_documents()
    assert len(docs) >= 4
    for line, doc in docs:
        assert isinstance(doc, (dict, list)) and doc, f"the YAML block at line {line} is empty"


def _sarif_uploads():
    for line, doc in yaml_documents():
        for job_name, job in _jobs(doc).items():
            steps = job.get("steps") or []
            for index, step in enumerate(steps):
                if str(step.get("uses", "")).startswith("github/codeql-action/upload-sarif@"):
                    yield line, doc, job_name, job, steps, index, step


def test_sarif_workflow_uploads_always_with_permission():
    uploads = list(_sarif_uploads())
    assert uploads, "no upload-sarif step in docs/ci.md"
    for line, doc, job_name, job, steps, index, step in uploads:
        where = f"docs/ci.md:{line} job {job_name}"
        assert _expr(step.get("if")) == "always()", f"{where}: upload-sarif needs `if: always()`"
        permissions = job.get("permissions", doc.get("permissions"))
        assert isinstance(permissions, dict), f"{where}: no permissions"
        assert permissions.get("security-events") == "write", where
        # the file uploaded is the file an earlier step wrote with --format sarif
        sarif_file = (step.get("with") or {}).get("sarif_file")
        assert sarif_file, where
        written = []
        for earlier in steps[:index]:
            for argv in commands_in(str(earlier.get("run", ""))):
                if argv[0] == "scan" and _option(argv, "--format", "-f") == "sarif":
                    written.append(_option(argv, "--output", "-o"))
                    assert argv[-1] == ".", f"{where}: scan from the repository root"
        assert sarif_file in written, f"{where}: {sarif_file} is not written by a scan step before the upload"


def test_github_annotations_workflow():
    runs = [
        argv
        for _line, doc in yaml_documents()
        for job in _jobs(doc).values()
        for step in job.get("steps") or []
        for argv in commands_in(str(step.get("run", "")))
    ]
    assert any(_option(argv, "--format", "-f") == "github" for argv in runs)


def test_gitlab_job_keeps_the_junit_report():
    found = False
    for line, doc in yaml_documents():
        if not isinstance(doc, dict):
            continue
        for name, job in doc.items():
            if not isinstance(job, dict) or "script" not in job:
                continue
            report = ((job.get("artifacts") or {}).get("reports") or {}).get("junit")
            if not report:
                continue
            found = True
            where = f"docs/ci.md:{line} job {name}"
            assert job["artifacts"].get("when") == "always", f"{where}: the report must upload when the scan fails"
            outputs = [
                _option(argv, "--output", "-o")
                for command in job["script"]
                for argv in commands_in(command)
                if _option(argv, "--format", "-f") == "junit"
            ]
            assert report in outputs, where
    assert found, "no GitLab job with artifacts:reports:junit in docs/ci.md"


def test_azure_publishes_the_junit_report_on_failure():
    for line, doc in yaml_documents():
        steps = doc.get("steps") if isinstance(doc, dict) else None
        if not steps:
            continue
        publish = [s for s in steps if str(s.get("task", "")).startswith("PublishTestResults@")]
        if not publish:
            continue
        outputs = [
            _option(argv, "--output", "-o")
            for s in steps
            for argv in commands_in(str(s.get("script", "")))
            if _option(argv, "--format", "-f") == "junit"
        ]
        for s in publish:
            assert s.get("condition") in ("succeededOrFailed()", "always()"), f"docs/ci.md:{line}"
            assert s["inputs"]["testResultsFormat"] == "JUnit"
            assert s["inputs"]["testResultsFiles"] in outputs
        return
    pytest.fail("no Azure Pipelines PublishTestResults step in docs/ci.md")


def test_checkov_jobs_never_install_python_hcl2():
    text = _doc()
    for _lang, body, line in fenced_blocks(text):
        if "checkov" not in body:
            continue
        for install in re.findall(r"pip install[^\n]*", body):
            assert "hcl2" not in install, f"docs/ci.md:{line}: {install}"
            assert not re.search(r"cloudtrail-kms-lint\[[^\]]*(cli|terraform|all)", install), f"docs/ci.md:{line}: {install}"


# ------------------------------------------------------------ command lines


def test_doc_has_the_expected_commands():
    commands = doc_commands()
    formats = {_option(argv, "--format", "-f") for argv in commands}
    assert {"sarif", "github", "junit"} <= formats
    assert any("--fail-on" in argv for argv in commands)
    assert any("--strict" in argv for argv in commands)
    assert ("scan", "--format", "sarif", "--output", "results.sarif", ".") in commands


@pytest.mark.parametrize("argv", doc_commands(), ids=lambda argv: " ".join(argv))
def test_command_line_parses(argv):
    ok, error = _parse(argv)
    if not ok and "junit" in argv and "junit" not in _format_choices():
        pytest.xfail(WAITING_FOR_JUNIT)
    assert ok, f"cloudtrail-kms-lint {' '.join(argv)}: {error}"


def test_checkov_invocation():
    blocks = [body for lang, body, _line in fenced_blocks(_doc()) if lang == "sh" and "checkov -d" in body]
    assert len(blocks) == 1
    body = blocks[0]
    assert "export CKV_SKIP_PACKAGE_UPDATE_CHECK=true" in body.splitlines()
    (command,) = [line for line in _logical_lines(body) if line.startswith("checkov ")]
    argv = shlex.split(command)
    assert argv[:3] == ["checkov", "-d", "."]
    i = argv.index("--framework")
    assert argv[i + 1:i + 3] == ["terraform", "cloudformation"]
    assert "--skip-download" in argv
    assert _option(argv, "--external-checks-dir") == "$(python -m cloudtrail_kms_lint checks-dir)"
    assert _option(argv, "--check").split(",") == [r.checkov_id for r in catalogue.RULES]
    assert _parse(["checks-dir"]) == (True, "")


def test_cfn_lint_invocation():
    lines = [line for lang, body, _ in fenced_blocks(_doc()) for line in _logical_lines(body) if line.startswith("cfn-lint ")]
    assert lines
    argv = shlex.split(lines[0])
    assert "--append-rules=cloudtrail_kms_lint.plugin" in argv
    assert argv[argv.index("--") + 1:] == ["templates/**/*.yaml"]
    import importlib.util

    assert importlib.util.find_spec("cloudtrail_kms_lint.plugin") is not None


def test_exit_codes_match_the_cli():
    assert (cli.EXIT_OK, cli.EXIT_FINDINGS, cli.EXIT_ERROR) == (0, 1, 2)
    section = _doc().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([0-9]) \|", section, flags=re.M)
    assert rows == ["0", "1", "2"]
    assert "--fail-on warning" in section and "--strict" in section


# ------------------------------------------------------------ paths in reports (the doc's promise)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    pytest.importorskip("cfnlint")
    root = tmp_path / "repo"
    (root / "templates").mkdir(parents=True)
    shutil.copy(EXAMPLES / "wildcard-in-stringequals.yaml", root / "templates")
    monkeypatch.chdir(root)
    return root


def _sarif_uris(path: Path) -> set:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for res in doc["runs"][0]["results"]
        for loc in res["locations"]
    }


def test_sarif_paths_are_from_the_repository_root(repo):
    assert cli.main(["scan", "--format", "sarif", "--output", "results.sarif", "."]) == 1
    assert _sarif_uris(repo / "results.sarif") == {"templates/wildcard-in-stringequals.yaml"}
    # a subdirectory named on the command line, relative or absolute: same paths
    for arg in ("templates/", str(repo / "templates")):
        assert cli.main(["scan", "--format", "sarif", "--output", "sub.sarif", arg]) == 1
        assert _sarif_uris(repo / "sub.sarif") == {"templates/wildcard-in-stringequals.yaml"}


def test_junit_and_github_paths_are_from_the_repository_root(repo, capsys):
    from cloudtrail_kms_lint.output import render
    from cloudtrail_kms_lint.scan import ScanOptions, scan

    result = scan(ScanOptions(paths=[str(repo / "templates")]))
    root = ET.fromstring(render(result, "junit"))
    assert {c.get("classname") for c in root.iter("testcase")} == {"templates/wildcard-in-stringequals.yaml"}
    assert cli.main(["scan", "--format", "github", "."]) == 1
    out = capsys.readouterr().out
    assert out and all(line.startswith(("::error file=templates/", "::warning file=templates/")) for line in out.splitlines())


def test_changing_directory_breaks_the_paths(repo, monkeypatch, capsys):
    # why the doc says: scan from the root, do not cd / set working-directory
    monkeypatch.chdir(repo / "templates")
    assert cli.main(["scan", "--format", "github", "."]) == 1
    assert "file=wildcard-in-stringequals.yaml," in capsys.readouterr().out
