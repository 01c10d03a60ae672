"""The checkov checks themselves: what checkov loads, how a check finds the template file
and the logical id, suppression, caching, and that a check never raises or passes silently."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("checkov.cloudformation.runner")

import ckv_harness as h  # noqa: E402
import corpus  # noqa: E402
from checkov.common.models.enums import CheckCategories, CheckResult  # noqa: E402

from cloudtrail_kms_lint import catalogue, checkov_support  # noqa: E402

pytestmark = pytest.mark.checkov

TRAIL = "AWS::CloudTrail::Trail"
EDS = "AWS::CloudTrail::EventDataStore"
TYPES = {catalogue.TRAIL: TRAIL, catalogue.EVENT_DATA_STORE: EDS}
DEFAULT_POLICY = corpus.FIXTURES / "default_key_policy"  # CTKMS003, CTKMS004 and CTKMS006 on Trail
SEED = corpus.FIXTURES / "seed_policy_good"  # no finding


def _verdicts(run: h.CheckovRun, file: Path | None = None) -> dict:
    """{check id: result} of one resource's records (asserts there is one resource)."""
    recs = run.ours()
    if file is not None:
        recs = [r for r in recs if run.file(r) == os.path.normpath(str(file))]
    assert len({(run.file(r), r.resource) for r in recs}) == 1, [(r.file_path, r.resource) for r in recs]
    return {r.check_id: r.check_result["result"] for r in recs}


def _failed(run: h.CheckovRun, file: Path | None = None) -> set:
    return {cid for cid, res in _verdicts(run, file).items() if res == CheckResult.FAILED}


# --------------------------------------------------------------------------- what checkov loads


def test_checks_come_from_the_catalogue():
    checks = h.registered_checks()
    for cid, check in checks.items():
        rule = catalogue.BY_CHECKOV_ID[cid]
        assert check.id == rule.checkov_id
        assert check.name == rule.title
        assert check.guideline == rule.help_uri
        assert str(check.severity) == rule.checkov_severity
        assert sorted(check.supported_resources) == sorted(TYPES[k] for k in rule.applies_to)
        assert CheckCategories.ENCRYPTION in check.categories
        assert isinstance(check, checkov_support.CloudFormationCheck)


def test_checks_directory_layout():
    """checkov imports every *.py of the directory under its bare file name and reads every
    *.yaml/*.json as a policy: one prefixed file per check, no data files, an __init__.py."""
    files = sorted(p.name for p in h.CHECKS_DIR.iterdir() if p.is_file())
    assert "__init__.py" in files
    assert not [p for p in h.CHECKS_DIR.rglob("*") if p.suffix in (".yaml", ".yml", ".json")]
    modules = sorted(f[:-3] for f in files if f.endswith(".py") and f != "__init__.py")
    assert len(modules) == len(catalogue.RULES)
    checks = h.registered_checks()
    for cid, check in checks.items():
        n = cid.rsplit("_", 1)[1]
        module = type(check).__module__
        assert module in modules and module.startswith(f"CTKMS_{n}_"), module


def test_loading_twice_registers_each_check_once():
    from checkov.cloudformation.checks.resource.registry import cfn_registry

    h.load_checks()
    cfn_registry.load_external_checks(str(h.CHECKS_DIR))  # what every runner with the directory does
    for rtype in (TRAIL, EDS):
        ids = [c.id for c in cfn_registry.get_checks(rtype) if c.id in catalogue.BY_CHECKOV_ID]
        assert len(ids) == len(set(ids))


def test_check_filter_runs_only_the_named_checks():
    run = h.run_checkov(root=DEFAULT_POLICY, checks=["CKV_CTKMS_4"])
    assert {r.check_id for r in run.ours()} == {"CKV_CTKMS_4"}
    assert {r.check_id for r in run.failed()} == {"CKV_CTKMS_4"}


# --------------------------------------------------------------------------- finding the file and the logical id


def test_split_entity_path():
    split = checkov_support.split_entity_path
    assert split("/template.yaml:AWS::CloudTrail::Trail:Trail", TRAIL) == ("/template.yaml", "Trail")
    assert split("/a:b/t.json:AWS::CloudTrail::EventDataStore:Store1", EDS) == ("/a:b/t.json", "Store1")


@pytest.mark.parametrize("how", ["absolute root", "relative root", "file", "relative file"])
def test_template_is_found_however_checkov_is_pointed_at_it(how, tmp_path):
    cwd = corpus.FIXTURES.parent
    kwargs = {
        "absolute root": dict(root=DEFAULT_POLICY),
        "relative root": dict(root=os.path.relpath(DEFAULT_POLICY, cwd), cwd=cwd),
        "file": dict(files=[str(DEFAULT_POLICY / "template.yaml")]),
        "relative file": dict(files=[os.path.relpath(DEFAULT_POLICY / "template.yaml", cwd)], cwd=cwd),
    }[how]
    run = h.run_checkov(**kwargs)
    assert _failed(run, DEFAULT_POLICY / "template.yaml") == {"CKV_CTKMS_3", "CKV_CTKMS_4", "CKV_CTKMS_6"}


EDS_WITHOUT_PROPERTIES = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Store:
    Type: AWS::CloudTrail::EventDataStore
"""


def test_resource_without_properties_is_found(tmp_path):
    """An event data store without Properties carries no file name in its configuration:
    the check takes the file from the runner (and not a file of the same name in the
    working directory)."""
    root, decoy = tmp_path / "root", tmp_path / "cwd"
    root.mkdir()
    decoy.mkdir()
    (root / "template.yaml").write_text(EDS_WITHOUT_PROPERTIES, encoding="utf-8")
    shutil.copy(corpus.FIXTURES / "eds_good" / "template.yaml", decoy / "template.yaml")
    run = h.run_checkov(root=root, cwd=decoy)
    assert _failed(run) == {"CKV_CTKMS_1"}
    assert all(not d for v in run.verdicts if v.check_id != "CKV_CTKMS_1" for d in v.details)


def test_same_relative_path_in_two_folders(tmp_path):
    for name, src in (("a", DEFAULT_POLICY), ("b", SEED)):
        (tmp_path / name).mkdir()
        shutil.copy(src / "template.yaml", tmp_path / name / "template.yaml")
    run = h.run_checkov(root=tmp_path)
    assert _failed(run, tmp_path / "a" / "template.yaml") == {"CKV_CTKMS_3", "CKV_CTKMS_4", "CKV_CTKMS_6"}
    assert _failed(run, tmp_path / "b" / "template.yaml") == set()


def test_find_template_falls_back_to_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    shutil.copy(DEFAULT_POLICY / "template.yaml", tmp_path / "sub" / "t.yaml")
    monkeypatch.chdir(tmp_path)
    analysis, why = checkov_support.find_template("/sub/t.yaml", "Trail", TRAIL, {"Type": TRAIL, "Properties": {}})
    assert analysis is not None, why
    assert sorted(f.rule for f in analysis.findings) == ["CTKMS003", "CTKMS004", "CTKMS006"]
    # a resource of that name but another type is not taken
    analysis, why = checkov_support.find_template("/sub/t.yaml", "Trail", EDS, {"Type": EDS, "Properties": {}})
    assert analysis is None and "was not found" in why


def _run_check_directly(check_id: str, scanned_file: str, logical: str, conf: dict) -> tuple:
    check = h.registered_checks()[check_id]
    result = check.run(scanned_file=scanned_file, entity_configuration=conf, entity_name=logical,
                       entity_type=conf["Type"], skip_info={})
    return result["result"], list(check.details)


def test_template_not_found_fails_ckv_ctkms_7_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    conf = {"Type": TRAIL, "Properties": {"S3BucketName": "b"}}
    for cid in h.CHECK_IDS:
        result, details = _run_check_directly(cid, "/missing/template.yaml", "Trail", conf)
        if cid == "CKV_CTKMS_7":
            assert result == CheckResult.FAILED
            assert "was not found" in details[0] and "not verified" in details[0]
        else:
            assert (result, details) == (CheckResult.PASSED, [])


# --------------------------------------------------------------------------- never raise, never pass silently


@pytest.mark.parametrize("where", ["analyse_template", "find_template", "parse"])
def test_internal_failure_fails_ckv_ctkms_7_and_passes_the_others(where, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("analysis exploded")

    if where == "parse":
        import checkov.cloudformation.parser as parser

        monkeypatch.setattr(parser, "parse", lambda *_a, **_k: (None, None))
    else:
        monkeypatch.setattr(checkov_support, where, boom)
    run = h.run_checkov(files=[str(DEFAULT_POLICY / "template.yaml")])
    verdicts = _verdicts(run)
    assert verdicts == {cid: (CheckResult.FAILED if cid == "CKV_CTKMS_7" else CheckResult.PASSED) for cid in h.CHECK_IDS}
    details = [d for v in run.verdicts for d in v.details]
    assert len(details) == 1 and details[0].startswith("CTKMS007: ")
    if where != "parse":
        assert "analysis exploded" in details[0]
    else:
        assert "could not read" in details[0]


def test_each_template_is_parsed_and_analysed_once(monkeypatch):
    calls: list = []
    original_uncached = checkov_support._analyse_uncached
    original_analyse = checkov_support.analyse_template

    def counting_uncached(path):
        calls.append(("parse", path))
        return original_uncached(path)

    def counting_analyse(template, file, **kw):
        calls.append(("analyse", file))
        return original_analyse(template, file, **kw)

    monkeypatch.setattr(checkov_support, "_analyse_uncached", counting_uncached)
    monkeypatch.setattr(checkov_support, "analyse_template", counting_analyse)
    case = corpus.FIXTURES / "ref_two_trails_shared_key"  # two trails, seven checks each, two files
    run = h.run_checkov(root=case)
    assert len(run.verdicts) == 2 * 2 * len(h.CHECK_IDS)
    files = [str(case / n) for n in corpus.TEMPLATE_FILES]
    assert sorted(calls) == sorted([("parse", f) for f in files] + [("analyse", f) for f in files])


def test_cache_sees_a_changed_file(tmp_path):
    f = tmp_path / "template.yaml"
    shutil.copy(DEFAULT_POLICY / "template.yaml", f)
    first = checkov_support.analyse_file(str(f))
    f.write_text((SEED / "template.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    os.utime(f, ns=(1, 1))
    assert checkov_support.analyse_file(str(f)) is not first
    assert checkov_support.analyse_file(str(f)).findings == []


# --------------------------------------------------------------------------- suppression


SKIP_METADATA = (
    "    Metadata:\n"
    "      checkov:\n"
    "        skip:\n"
    "          - id: CKV_CTKMS_4\n"
    "            comment: the org trail key is managed elsewhere\n"
)


def _with_skip(tmp_path: Path, kind: str) -> Path:
    if kind == "json":
        doc = json.loads((DEFAULT_POLICY / "template.json").read_text(encoding="utf-8"))
        doc["Resources"]["Trail"]["Metadata"] = {
            "checkov": {"skip": [{"id": "CKV_CTKMS_4", "comment": "the org trail key is managed elsewhere"}]}}
        out = tmp_path / "template.json"
        out.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        return out
    src = (DEFAULT_POLICY / "template.yaml").read_text(encoding="utf-8")
    anchor = "  Trail:\n    Type: AWS::CloudTrail::Trail\n"
    assert anchor in src
    if kind == "yaml metadata":
        text = src.replace(anchor, anchor + SKIP_METADATA, 1)
    else:  # an inline comment in the resource
        text = src.replace(anchor, anchor + "    # checkov:skip=CKV_CTKMS_4: the org trail key is managed elsewhere\n", 1)
    out = tmp_path / "template.yaml"
    out.write_text(text, encoding="utf-8")
    return out


@pytest.mark.parametrize("kind", ["yaml metadata", "json", "yaml comment"])
def test_checkov_skip_suppresses_only_the_named_check(tmp_path, kind):
    _with_skip(tmp_path, kind)
    run = h.run_checkov(root=tmp_path)
    verdicts = _verdicts(run)
    assert verdicts.pop("CKV_CTKMS_4") == CheckResult.SKIPPED
    assert {cid for cid, res in verdicts.items() if res == CheckResult.FAILED} == {"CKV_CTKMS_3", "CKV_CTKMS_6"}
    assert {cid for cid, res in verdicts.items() if res == CheckResult.PASSED} == {"CKV_CTKMS_1", "CKV_CTKMS_2",
                                                                                   "CKV_CTKMS_5", "CKV_CTKMS_7"}
    skipped = run.ours(run.report.skipped_checks)
    assert [r.check_result.get("suppress_comment", "").strip() for r in skipped] == ["the org trail key is managed elsewhere"]


# --------------------------------------------------------------------------- a clone without pip install


def test_clone_without_install(tmp_path):
    """``--external-checks-dir checks`` from a clone where the package is not installed:
    the check files find the package in ../src."""
    import subprocess
    import sys

    clone = tmp_path / "clone"
    shutil.copytree(h.CHECKS_DIR, clone / "checks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(h.REPO / "src" / "cloudtrail_kms_lint", clone / "src" / "cloudtrail_kms_lint",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(DEFAULT_POLICY, clone / "scan", ignore=shutil.ignore_patterns("expected.json"))
    code = (
        "import sys, importlib.util\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, '__module__', '').startswith('__editable__')]\n"
        "assert importlib.util.find_spec('cloudtrail_kms_lint') is None, 'the package is installed'\n"
        "from checkov.main import Checkov\n"
        "sys.exit(Checkov(argv=sys.argv[1:]).run())\n"
    )
    argv = ["-d", "scan", "--framework", "cloudformation", "--external-checks-dir", "checks",
            "--check", ",".join(h.CHECK_IDS), "--skip-download", "-o", "json"]
    env = dict(os.environ, CKV_SKIP_PACKAGE_UPDATE_CHECK="true", BC_SKIP_MAPPING="TRUE", PYTHONPATH="")
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=clone, capture_output=True, text=True, env=env,
                         timeout=300)
    doc = json.loads(out.stdout)
    failed = sorted({r["check_id"] for r in doc["results"]["failed_checks"]})
    assert failed == ["CKV_CTKMS_3", "CKV_CTKMS_4", "CKV_CTKMS_6"], out.stderr[-2000:]
