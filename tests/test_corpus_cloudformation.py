"""The CloudFormation fixture corpus through the CLI (``cloudtrail-kms-lint scan --format json``).

Each case in tests/fixtures/cloudformation/ is scanned file by file, in-process,
and the findings, input errors and exit code are compared with its expected.json;
then the whole corpus directory is scanned at once.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections import defaultdict

import pytest

try:
    import corpus
except ImportError:  # pragma: no cover - tests run as a package
    from tests import corpus

from cloudtrail_kms_lint import catalogue

CASES = corpus.load_cases()
CASE_IDS = [d.name for d, _ in CASES]
FRONTEND = "cli"


def _case_params(frontend: str = FRONTEND):
    out = []
    for case_dir, expected in CASES:
        bug = corpus.known_bug(case_dir.name, frontend)
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        out.append(pytest.param(case_dir, expected, id=case_dir.name, marks=marks))
    return out


def _load_twin_maker():
    path = corpus.FIXTURES / "make_json_twin.py"
    spec = importlib.util.spec_from_file_location("make_json_twin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- the corpus itself


def test_corpus_is_not_empty():
    assert len(CASES) >= 40
    names = set(CASE_IDS)
    for required in ("seed_policy_good", "not_a_template", "broken_template", "default_key_policy",
                     "eds_good", "eds_bad_source_arn", "ref_sam_template", "ref_parameter_command_line"):
        assert required in names


@pytest.mark.parametrize("case_dir,expected", [pytest.param(d, e, id=d.name) for d, e in CASES])
def test_case_is_well_formed(case_dir, expected):
    assert expected.get("description")
    assert set(expected) <= {"description", "parameters", "expect", "errors", "frontends"}
    for name in corpus.TEMPLATE_FILES:
        assert (case_dir / name).is_file(), f"{case_dir.name} has no {name}"
        assert name in expected["expect"], f"{case_dir.name}: expect has no entry for {name}"
    blocks = [expected["expect"]] + [fe["expect"] for fe in expected.get("frontends", {}).values() if "expect" in fe]
    for block in blocks:
        assert set(block) <= set(corpus.TEMPLATE_FILES)
        for entries in block.values():
            for e in entries:
                assert set(e) <= {"rule", "resource", "line", "message_contains"}
                assert e["rule"] in catalogue.BY_ID
                assert isinstance(e["resource"], str) and e["resource"]
                assert isinstance(e["line"], int) and e["line"] > 0
    for fe in expected.get("frontends", {}).values():
        assert fe.get("differs"), "a front end that differs says why"
    for name, errors in expected.get("errors", {}).items():
        assert name in corpus.TEMPLATE_FILES
        assert all(isinstance(e.get("line"), int) for e in errors)
    for k, v in expected.get("parameters", {}).items():
        assert isinstance(k, str) and isinstance(v, str)


_KEY_LINE = re.compile(r'^\s*"?(KMSKeyId|KmsKeyId)"?\s*:')


@pytest.mark.parametrize("case_dir,expected", [pytest.param(d, e, id=d.name) for d, e in CASES])
def test_expected_lines_point_at_the_key_or_the_resource(case_dir, expected):
    """Every expected line is the trail's key property or the resource's logical id in the text."""
    blocks = [expected["expect"]] + [fe["expect"] for fe in expected.get("frontends", {}).values() if "expect" in fe]
    for block in blocks:
        for name, entries in block.items():
            lines = (case_dir / name).read_text(encoding="utf-8").split("\n")
            for e in entries:
                text = lines[e["line"] - 1]
                logical = re.match(rf'^\s*"?{re.escape(e["resource"])}"?\s*:', text)
                assert _KEY_LINE.match(text) or logical, f"{case_dir.name}/{name}:{e['line']} is {text!r}"


@pytest.mark.parametrize("case_dir,expected", [pytest.param(d, e, id=d.name) for d, e in CASES])
def test_json_twin_is_the_yaml_in_long_form(case_dir, expected):
    maker = _load_twin_maker()
    import yaml

    try:
        doc = maker.to_long_form((case_dir / "template.yaml").read_text(encoding="utf-8"))
    except yaml.YAMLError:
        pytest.skip("template.yaml does not parse (hand-written twin)")
    if not maker.is_template(doc):
        pytest.skip("not a template (hand-written twin)")
    with open(case_dir / "template.json", encoding="utf-8") as fh:
        assert json.load(fh) == doc, "template.json is out of date: run tests/fixtures/cloudformation/make_json_twin.py"


# --------------------------------------------------------------------------- one file at a time


@pytest.mark.parametrize("file", corpus.TEMPLATE_FILES)
@pytest.mark.parametrize("case_dir,expected", _case_params())
def test_cli_case(case_dir, expected, file):
    run = corpus.run_cli([file], cwd=case_dir, parameters=expected.get("parameters"))
    assert run.document.get("version") == "1", run.stdout + run.stderr

    got = corpus.normalise(run.findings, case_dir, base_dir=case_dir)
    assert got == corpus.expected_tuples(expected, file)
    assert not corpus.message_checks(expected, file, run.findings, case_dir, base_dir=case_dir)

    assert all(corpus.relative_file(e["file"], case_dir, case_dir) == file for e in run.errors)
    got_errors = sorted((e["line"] for e in run.errors), key=lambda x: x or 0)
    assert got_errors == corpus.expected_error_lines(expected, file), run.errors
    assert run.exit_code == corpus.expected_exit_code(expected, file), (run.exit_code, run.stderr)
    assert "internal error" not in run.stderr


@pytest.mark.parametrize("file", corpus.TEMPLATE_FILES)
@pytest.mark.parametrize("case_dir,expected", [pytest.param(d, e, id=d.name) for d, e in CASES if "parameters" in e])
def test_cli_without_parameters_reports_what_cfn_lint_records(case_dir, expected, file):
    """A case that needs --parameter: without it the CLI reports what the cfn-lint
    front end (which cannot take parameters) records as its difference."""
    run = corpus.run_cli([file], cwd=case_dir)
    assert corpus.normalise(run.findings, case_dir, base_dir=case_dir) == corpus.expected_tuples(expected, file, "cfn-lint")


# --------------------------------------------------------------------------- the whole corpus at once


@pytest.fixture(scope="module")
def corpus_run():
    return corpus.run_cli(["."], cwd=corpus.FIXTURES)


def test_cli_whole_corpus_findings(corpus_run):
    """One scan of the corpus directory: every case's findings, as when scanned alone
    (cases that need --parameter are held to their no-parameter result)."""
    by_case = defaultdict(list)
    for f in corpus_run.findings:
        case, _ = corpus.case_of(f["file"], corpus.FIXTURES)
        by_case[case].append(f)
    assert set(by_case) <= set(CASE_IDS), f"findings outside the cases: {set(by_case) - set(CASE_IDS)}"
    mismatches = {}
    for case_dir, expected in CASES:
        if corpus.known_bug(case_dir.name, FRONTEND):
            continue  # reported by test_cli_case (xfail)
        frontend = "cfn-lint" if "parameters" in expected else None
        want = sorted((t for f in corpus.TEMPLATE_FILES for t in corpus.expected_tuples(expected, f, frontend)),
                      key=lambda t: (t[2], t[3] or 0, t[1], t[0]))
        got = corpus.normalise(by_case.get(case_dir.name, []), case_dir, base_dir=corpus.FIXTURES)
        if got != want:
            mismatches[case_dir.name] = {"got": got, "want": want}
    assert not mismatches


def test_cli_whole_corpus_input_errors_do_not_stop_the_scan(corpus_run):
    want = sorted((d.name, f, e["line"]) for d, exp in CASES for f, errs in exp.get("errors", {}).items() for e in errs)
    got = sorted(corpus.case_of(e["file"], corpus.FIXTURES) + (e["line"],) for e in corpus_run.errors)
    assert got == want
    assert want, "the corpus has a broken template"
    assert corpus_run.findings, "the other files were still scanned"
    assert corpus_run.exit_code == 2


def test_cli_whole_corpus_skips_non_templates_silently(corpus_run):
    templates = [(d.name, f) for d, _ in CASES for f in corpus.TEMPLATE_FILES if d.name != "not_a_template"]
    mentioned = {corpus.case_of(x["file"], corpus.FIXTURES) for x in corpus_run.findings + corpus_run.errors}
    # the workflow, the package.json and every expected.json are not templates: never mentioned
    assert not {m for m in mentioned if m[0] == "not_a_template" or m[1] == "expected.json"}
    assert corpus_run.document["summary"]["files_scanned"] == len(templates)
    assert corpus_run.document["summary"]["input_errors"] == len(corpus_run.errors)


@pytest.mark.parametrize("file", corpus.TEMPLATE_FILES)
def test_cli_non_template_alone_is_clean(file):
    case_dir = corpus.FIXTURES / "not_a_template"
    run = corpus.run_cli([file], cwd=case_dir)
    assert (run.exit_code, run.findings, run.errors, run.stderr) == (0, [], [], "")
    assert run.document["summary"]["files_scanned"] == 0
