"""The same fixture corpus and expected.json through cfn-lint with the plugin.

cfn-lint runs in-process (``cfnlint.config.ConfigMixIn`` + ``cfnlint.runner.Runner``,
what ``python -m cfnlint`` does), once per way of loading the rules, over every
template of the corpus: ``--append-rules=cloudtrail_kms_lint.plugin`` (module),
``--append-rules=<repo>/plugin`` (directory) and ``append_rules`` in a
``.cfnlintrc``. HOME and the working directory are temporary directories, so a
``~/.cfnlintrc`` or ``./.cfnlintrc`` of whoever runs the tests is never read.

Only our rules (E91xx/W91xx) are compared; their ids map to catalogue ids through
``catalogue.BY_CFN_LINT_ID`` and the resource is the match path's second element.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

cfnlint = pytest.importorskip("cfnlint")

from cfnlint.config import ConfigMixIn  # noqa: E402
from cfnlint.rules import Rules  # noqa: E402
from cfnlint.runner import Runner  # noqa: E402

try:
    import corpus
except ImportError:  # pragma: no cover - tests run as a package
    from tests import corpus

from cloudtrail_kms_lint import catalogue  # noqa: E402

FRONTEND = "cfn-lint"
CASES = corpus.load_cases()
FILES = [str(case_dir / name) for case_dir, _e, name in corpus.case_files(CASES)]
PLUGIN_MODULE = "cloudtrail_kms_lint.plugin"
PLUGIN_DIR = str(corpus.REPO / "plugin")
MODES = ("module", "directory", "cfnlintrc")


def run_cfn_lint(argv: list[str], cwd: Path, home: Path, rc: str | None = None) -> list:
    """cfn-lint ARGV in-process with HOME and the working directory isolated; every match."""
    if rc is not None:
        (cwd / ".cfnlintrc").write_text(rc, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("USERPROFILE", str(home))
        mp.chdir(cwd)
        config = ConfigMixIn(argv)
        return list(Runner(config).run())


def _isolated_dirs(factory, name: str) -> tuple[Path, Path]:
    home = factory.mktemp(f"{name}-home")
    cwd = factory.mktemp(f"{name}-cwd")
    return home, cwd


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, list]:
    """Every match of one cfn-lint run over the whole corpus, per way of loading the plugin."""
    out = {}
    home, cwd = _isolated_dirs(tmp_path_factory, "module")
    out["module"] = run_cfn_lint(["--append-rules", PLUGIN_MODULE, "--", *FILES], cwd, home)
    home, cwd = _isolated_dirs(tmp_path_factory, "directory")
    out["directory"] = run_cfn_lint(["--append-rules", PLUGIN_DIR, "--", *FILES], cwd, home)
    home, cwd = _isolated_dirs(tmp_path_factory, "cfnlintrc")
    out["cfnlintrc"] = run_cfn_lint(["--", *FILES], cwd, home, rc=f"append_rules:\n  - {PLUGIN_MODULE}\n")
    return out


def _matches_for(matches: list, case_dir: Path, name: str) -> list:
    target = os.path.normpath(str(case_dir / name))
    return [m for m in matches if m.filename and os.path.normpath(os.path.abspath(m.filename)) == target]


def _case_params():
    out = []
    for case_dir, expected in CASES:
        bug = corpus.known_bug(case_dir.name, FRONTEND)
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        out.append(pytest.param(case_dir, expected, id=case_dir.name, marks=marks))
    return out


# --------------------------------------------------------------------------- the corpus


@pytest.mark.parametrize("file", corpus.TEMPLATE_FILES)
@pytest.mark.parametrize("case_dir,expected", _case_params())
@pytest.mark.parametrize("mode", MODES)
def test_cfn_lint_case(runs, mode, case_dir, expected, file):
    matches = _matches_for(runs[mode], case_dir, file)
    ours = corpus.cfn_lint_findings(matches)
    assert corpus.normalise(ours, case_dir) == corpus.expected_tuples(expected, file, FRONTEND)
    assert not corpus.message_checks(expected, file, ours, case_dir, frontend=FRONTEND)
    for f in ours:
        # the level cfn-lint shows is the catalogue's
        assert f["cfn_lint_id"][0] == ("E" if catalogue.BY_ID[f["rule"]].level == catalogue.ERROR else "W")
        assert f["message"].endswith(f"[{f['rule']}]")
    # input errors: cfn-lint's parse error (E0000) at the same line as the CLI's
    parse_errors = sorted(m.linenumber for m in matches if m.rule.id == "E0000")
    assert parse_errors == corpus.expected_error_lines(expected, file)
    # a rule that raised would show as E0002
    assert not [m for m in matches if m.rule.id == "E0002"]


def test_every_mode_loaded_the_plugin(runs):
    for mode in MODES:
        ids = {m.rule.id for m in runs[mode]}
        assert {r.cfn_lint_id for r in catalogue.RULES} <= ids, f"{mode}: not every rule fired on the corpus"


def test_modes_agree(runs):
    def key(matches):
        return sorted((m.filename, m.linenumber, m.rule.id, m.message) for m in matches if m.rule.id in catalogue.BY_CFN_LINT_ID)

    assert key(runs["module"]) == key(runs["directory"]) == key(runs["cfnlintrc"])


def test_isolation_from_the_users_cfnlintrc(tmp_path):
    """HOME and the working directory decide which .cfnlintrc cfn-lint reads: with both
    isolated and empty, no rule of ours is loaded; a user file in the (temporary) HOME is
    read, so the real ~/.cfnlintrc is not."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    case = corpus.FIXTURES / "rule_001_no_key" / "template.yaml"
    assert not corpus.cfn_lint_findings(run_cfn_lint(["--", str(case)], cwd, home))
    (home / ".cfnlintrc").write_text(f"append_rules:\n  - {PLUGIN_MODULE}\n", encoding="utf-8")
    found = corpus.cfn_lint_findings(run_cfn_lint(["--", str(case)], cwd, home))
    assert [(f["rule"], f["resource"], f["line"]) for f in found] == [("CTKMS001", "Trail", 37)]


# --------------------------------------------------------------------------- suppression


METADATA = (
    "    Metadata:\n"
    "      cfn-lint:\n"
    "        config:\n"
    "          ignore_checks:\n"
    "            - E9104\n"
)


def test_resource_metadata_ignore_checks_suppresses_the_finding(tmp_path):
    src = (corpus.FIXTURES / "default_key_policy" / "template.yaml").read_text(encoding="utf-8")
    anchor = "  Trail:\n    Type: AWS::CloudTrail::Trail\n"
    assert anchor in src
    (tmp_path / "template.yaml").write_text(src.replace(anchor, anchor + METADATA, 1), encoding="utf-8")
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    matches = run_cfn_lint(["--append-rules", PLUGIN_MODULE, "--", str(tmp_path / "template.yaml")], cwd, home)
    rules = sorted(f["rule"] for f in corpus.cfn_lint_findings(matches))
    # default_key_policy reports CTKMS003, 004 and 006; the resource ignores E9104 (CTKMS004) only
    assert rules == ["CTKMS003", "CTKMS006"]


# --------------------------------------------------------------------------- the rules themselves


@pytest.mark.parametrize("how", ["module", "directory"])
def test_plugin_rules_come_from_the_catalogue(how):
    rules = Rules.create_from_module(PLUGIN_MODULE) if how == "module" else Rules.create_from_directory(PLUGIN_DIR)
    ours = {rid: r for rid, r in rules.items() if rid in catalogue.BY_CFN_LINT_ID}
    assert set(ours) == set(catalogue.BY_CFN_LINT_ID)
    assert len(rules) == len(ours), "the plugin defines only the catalogue's rules"
    for rid, rule in ours.items():
        entry = catalogue.BY_CFN_LINT_ID[rid]
        assert rule.id == entry.cfn_lint_id
        assert rule.shortdesc == entry.title
        assert entry.fails_when in rule.description and entry.id in rule.description
        assert rule.source_url == entry.help_uri
        assert rid[0] == ("E" if entry.level == catalogue.ERROR else "W")


def test_analysis_failure_is_not_a_cfn_lint_crash(tmp_path, monkeypatch):
    """If the analysis raises, cfn-lint shows no E0002 (a rule crash); the plugin reports
    that the template was not verified (W9107) instead of passing silently."""
    from cloudtrail_kms_lint.cloudformation import cfnlint_rule

    def boom(*_args, **_kwargs):
        raise RuntimeError("analysis exploded")

    monkeypatch.setattr(cfnlint_rule, "analyse_template", boom)
    monkeypatch.setattr(cfnlint_rule, "_CACHE", {})
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    case = corpus.FIXTURES / "rule_003_bad_missing_describe_key" / "template.yaml"
    matches = run_cfn_lint(["--append-rules", PLUGIN_MODULE, "--", str(case)], cwd, home)
    assert not [m for m in matches if m.rule.id == "E0002"]
    ours = corpus.cfn_lint_findings(matches)
    assert [f["cfn_lint_id"] for f in ours] == ["W9107"]
    assert "analysis exploded" in ours[0]["message"]
