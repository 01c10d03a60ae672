"""The Terraform checks themselves: what checkov loads, how a check finds its trail in
checkov's graph, what it does not follow ([cross-variable] edges), the per-graph index,
suppression, and that a check never raises or passes silently."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("checkov.terraform.runner")

import tf_harness as h  # noqa: E402
from checkov.common.models.enums import CheckCategories, CheckResult  # noqa: E402

from cloudtrail_kms_lint import catalogue  # noqa: E402
from cloudtrail_kms_lint.checkov_terraform import analysis, check, graph  # noqa: E402

pytestmark = pytest.mark.checkov

CASES = dict((d.name, (d, e)) for d, e in h.CASES)
DEFAULT_POLICY = h.FIXTURES / "default_key_policy"  # CTKMS003, CTKMS004 and CTKMS006
UNSCOPED = h.FIXTURES / "rule_005_bad_unscoped_grant"  # CTKMS005 only


def _verdicts(run: h.TfRun, resource: str | None = None) -> dict:
    recs = [r for r in run.ours() if resource is None or r.resource == resource]
    assert len({(r.file_path, r.resource) for r in recs}) == 1, [(r.file_path, r.resource) for r in recs]
    return {r.check_id: r.check_result["result"] for r in recs}


def _failed(run: h.TfRun, resource: str | None = None) -> set:
    return {cid for cid, res in _verdicts(run, resource).items() if res == CheckResult.FAILED}


def _write(root: Path, files: dict) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


# --------------------------------------------------------------------------- what checkov loads


def test_terraform_checks_come_from_the_catalogue():
    checks = h.registered_checks()
    for cid, c in checks.items():
        rule = catalogue.BY_CHECKOV_ID[cid]
        assert isinstance(c, check.TerraformCheck)
        assert c.id == rule.checkov_id
        assert c.name == rule.title
        assert c.guideline == rule.help_uri
        assert str(c.severity) == rule.checkov_severity
        assert sorted(c.supported_resources) == sorted(h.TYPES[k] for k in rule.applies_to)
        assert CheckCategories.ENCRYPTION in c.categories
        assert c.block_type == "resource"


def test_one_file_registers_both_frameworks_once():
    """Each check file defines a CloudFormation and a Terraform check with the same id; loading
    the directory again (what every runner given --external-checks-dir does) adds none."""
    from checkov.cloudformation.checks.resource.registry import cfn_registry
    from checkov.terraform.checks.resource.registry import resource_registry

    h.load_checks()
    resource_registry.load_external_checks(str(h.ckv_harness.CHECKS_DIR))
    for rtype in h.TYPES.values():
        ids = [c.id for c in resource_registry.get_checks(rtype) if c.id in catalogue.BY_CHECKOV_ID]
        assert len(ids) == len(set(ids))
    for cid in h.CHECK_IDS:
        tf = resource_registry.get_check_by_id(cid)
        cfn = cfn_registry.get_check_by_id(cid)
        assert type(tf).__module__ == type(cfn).__module__  # the same check file


def test_check_filter_runs_only_the_named_checks():
    run = h.run(root=DEFAULT_POLICY, checks=["CKV_CTKMS_4"])
    assert {r.check_id for r in run.ours()} == {"CKV_CTKMS_4"}
    assert {r.check_id for r in run.failed()} == {"CKV_CTKMS_4"}


# --------------------------------------------------------------------------- finding the trail's vertex


def test_same_address_in_two_folders(tmp_path):
    """Two root modules under one scanned directory, each with aws_cloudtrail.management: each
    record gets its own trail's verdict (the vertex is found by address and file)."""
    for name, src in (("a", DEFAULT_POLICY), ("b", UNSCOPED)):
        shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("expected.json"))
    run = h.run(root=tmp_path)
    by_file = {}
    for r in run.failed():
        by_file.setdefault(h.record_file(r), set()).add(r.check_id)
    assert by_file == {"a/main.tf": {"CKV_CTKMS_3", "CKV_CTKMS_4", "CKV_CTKMS_6"}, "b/main.tf": {"CKV_CTKMS_5"}}


def test_whole_corpus_as_one_root():
    """The whole Terraform corpus scanned at once (every case a root module, plan cases through
    their .tf files): each case gives its own verdicts. Without its --var-file, ref_var_file's
    key is not determined (CTKMS007 naming var.trail_key, as the corpus README says)."""
    run = h.run(root=h.FIXTURES)
    got: dict = {}
    for r in run.failed():
        case, _, file = h.record_file(r).partition("/")
        got.setdefault(case, set()).add((catalogue.BY_CHECKOV_ID[r.check_id].id, r.resource, file))
    for case_dir, expected in h.CASES:
        files = h.corpus.frontend_expectation(expected, None if h.is_plan(expected) else h.FRONTEND)
        want = {(rule, res, f) for f in files for rule, res, _f, _l in
                h.corpus.expected_tuples(expected, f, None if h.is_plan(expected) else h.FRONTEND)}
        if case_dir.name == "ref_var_file":
            want = {("CTKMS007", "aws_cloudtrail.management", "main.tf")}
        assert got.get(case_dir.name, set()) == want, case_dir.name
    assert not [d for v in run.verdicts for d in v.details if d.startswith("CTKMS007: ")]


def test_find_trail_uses_address_file_and_line():
    run = h.run(root=DEFAULT_POLICY)
    index = next(iter(graph._INDEXES.values()))[1]
    conf = {"__address__": "aws_cloudtrail.management", "__start_line__": 11}
    vertex, why = check.find_trail(index, conf, "/main.tf:aws_cloudtrail:management", "aws_cloudtrail")
    assert vertex is not None and vertex.address == "aws_cloudtrail.management", why
    vertex, why = check.find_trail(index, conf, "/other.tf:aws_cloudtrail:management", "aws_cloudtrail")
    assert vertex is None and "is not in checkov's graph" in why
    assert run.failed()


# --------------------------------------------------------------------------- what is followed


CROSS_VARIABLE = {
    "main.tf": """\
        module "trail_key" {
          source = "./modules/trail-key"
        }

        module "audit" {
          source      = "./modules/audit"
          kms_key_arn = module.trail_key.arn
        }

        # A key of the same name in the root module, without a policy. checkov connects the
        # trail to it with a "[cross-variable] kms_key_id" edge; it is not the trail's key.
        resource "aws_kms_key" "this" {
          description = "not the trail's key"
        }
        """,
    "modules/audit/main.tf": """\
        variable "kms_key_arn" {
          type = string
        }

        resource "aws_cloudtrail" "this" {
          name           = "management-events"
          s3_bucket_name = "example-cloudtrail-logs"
          kms_key_id     = var.kms_key_arn
        }
        """,
    "modules/trail-key/main.tf": """\
        data "aws_caller_identity" "current" {}
        data "aws_partition" "current" {}

        # The trail's key: no kms:DescribeKey for CloudTrail (CTKMS003 only).
        resource "aws_kms_key" "this" {
          policy = jsonencode({
            Version = "2012-10-17"
            Statement = [
              {
                Sid       = "Enable IAM User Permissions"
                Effect    = "Allow"
                Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
                Action    = "kms:*"
                Resource  = "*"
              },
              {
                Sid       = "Allow CloudTrail to encrypt logs"
                Effect    = "Allow"
                Principal = { Service = "cloudtrail.amazonaws.com" }
                Action    = "kms:GenerateDataKey*"
                Resource  = "*"
                Condition = {
                  StringLike = {
                    "kms:EncryptionContext:aws:cloudtrail:arn" = "arn:${data.aws_partition.current.partition}:cloudtrail:*:${data.aws_caller_identity.current.account_id}:trail/*"
                  }
                }
              },
              {
                Sid       = "Allow log readers to decrypt log files"
                Effect    = "Allow"
                Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/SecurityAudit" }
                Action    = "kms:Decrypt"
                Resource  = "*"
                Condition = { Null = { "kms:EncryptionContext:aws:cloudtrail:arn" = "false" } }
              },
            ]
          })
        }

        output "arn" {
          value = aws_kms_key.this.arn
        }
        """,
}


@pytest.mark.parametrize("framework", sorted(h.FRAMEWORKS))
def test_cross_variable_edges_are_not_followed(tmp_path, framework):
    """A same-named key in another module does not leak in through checkov's
    [cross-variable] edges: the verdict is the trail's own key's (CTKMS003), not the
    policy-less root key's (CTKMS003, CTKMS004 and CTKMS006)."""
    _write(tmp_path, CROSS_VARIABLE)
    run = h.run(root=tmp_path, framework=framework)
    index = next(iter(graph._INDEXES.values()))[1]
    followed = {(index.vertices[s].address, index.vertices[d].address, label) for s, d, label in index.cross_variable}
    assert ("module.audit.aws_cloudtrail.this", "aws_kms_key.this", "[cross-variable] kms_key_id") in followed
    assert _failed(run) == {"CKV_CTKMS_3"}
    details = [d for r in run.failed() for d in r.details]
    assert any("module.trail_key.aws_kms_key.this" in d for d in details), details


def test_module_called_twice_follows_each_call():
    """checkov's graph connects both trails to the output of one of the two calls of the same
    module; the trail's own expression (read with checkov's HCL loader) says which call."""
    case_dir, expected = CASES["module_called_twice"]
    run = h.run_case(case_dir, expected)
    assert _failed(run, "aws_cloudtrail.management") == set()
    assert _failed(run, "aws_cloudtrail.data_events") == {"CKV_CTKMS_6"}
    details = [d for r in run.failed() for d in r.details]
    assert all("module.data_events_key.aws_kms_key.this" in d for d in details)


def test_plan_key_created_in_the_same_plan_is_followed():
    """checkov issue #800 is the anti-example: a key created in the same plan has an unknown ARN;
    it is followed to its policy through the plan's configuration references, not reported
    as missing (no CKV_CTKMS_1) or as not verified (no CKV_CTKMS_7)."""
    case_dir, expected = CASES["plan_key_in_same_plan"]
    run = h.run_case(case_dir, expected)
    assert _verdicts(run) == {cid: CheckResult.PASSED for cid in h.CHECK_IDS}
    key = run.analyses[0]
    assert key.failure is None and key.findings == []


# --------------------------------------------------------------------------- built once


def test_index_is_built_once_per_graph_and_analysis_once_per_trail(monkeypatch):
    runs = []
    original = analysis.TrailAnalyser.run

    def counting(self):
        runs.append(self.trail.address)
        return original(self)

    monkeypatch.setattr(analysis.TrailAnalyser, "run", counting)
    case_dir, expected = CASES["ref_two_trails_shared_key"]  # two trails, seven checks each
    before = graph.BUILDS["count"]
    run = h.run_case(case_dir, expected)
    assert len(run.verdicts) == 2 * len(h.CHECK_IDS)
    assert graph.BUILDS["count"] - before == 1
    assert sorted(runs) == ["aws_cloudtrail.data_events", "aws_cloudtrail.management"]


def test_index_is_built_once_for_a_plan():
    case_dir, expected = CASES["plan_module"]
    before = graph.BUILDS["count"]
    run = h.run_case(case_dir, expected)
    assert len(run.verdicts) == len(h.CHECK_IDS)
    assert graph.BUILDS["count"] - before == 1


# --------------------------------------------------------------------------- suppression


def test_skip_comment_in_the_resource_suppresses_only_that_check(tmp_path):
    shutil.copytree(UNSCOPED, tmp_path / "case", ignore=shutil.ignore_patterns("expected.json"))
    main = tmp_path / "case" / "main.tf"
    text = main.read_text(encoding="utf-8")
    anchor = 'resource "aws_cloudtrail" "management" {\n'
    assert anchor in text
    main.write_text(text.replace(anchor, anchor + "  #checkov:skip=CKV_CTKMS_5:the key is shared with the organisation trail\n"),
                    encoding="utf-8")
    run = h.run(root=tmp_path / "case")
    verdicts = _verdicts(run)
    assert verdicts.pop("CKV_CTKMS_5") == CheckResult.SKIPPED
    assert set(verdicts.values()) == {CheckResult.PASSED}
    skipped = run.ours(run.report.skipped_checks)
    assert [r.check_result.get("suppress_comment", "").strip() for r in skipped] == [
        "the key is shared with the organisation trail"]


# --------------------------------------------------------------------------- never raise, never pass silently


def _only_ckv_ctkms_7_failed(run: h.TfRun, reason: str) -> None:
    verdicts = _verdicts(run)
    assert verdicts == {cid: (CheckResult.FAILED if cid == "CKV_CTKMS_7" else CheckResult.PASSED) for cid in h.CHECK_IDS}
    details = [d for v in run.verdicts for d in v.details]
    assert len(details) == 1 and details[0].startswith("CTKMS007: ") and "not verified" in details[0], details
    assert reason in details[0], details


@pytest.mark.parametrize("where", ["index_for", "analyse", "find_trail", "no graph"])
def test_internal_failure_fails_ckv_ctkms_7_and_passes_the_others(where, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("analysis exploded")

    if where == "index_for":
        monkeypatch.setattr(check, "index_for", boom)
        reason = "analysis exploded"
    elif where == "analyse":
        monkeypatch.setattr(analysis.TrailAnalyser, "run", boom)
        reason = "the analysis of aws_cloudtrail.management failed (RuntimeError: analysis exploded)"
    elif where == "find_trail":
        monkeypatch.setattr(check, "find_trail", lambda *_a, **_k: (None, "aws_cloudtrail.management is lost"))
        reason = "aws_cloudtrail.management is lost"
    else:
        monkeypatch.setattr(check.TerraformCheck, "graph", None, raising=False)
        monkeypatch.setattr(check.TerraformCheck, "__setattr__",
                            lambda self, k, v: object.__setattr__(self, k, None if k == "graph" else v))
        reason = "no graph"
    run = h.run(root=DEFAULT_POLICY)
    _only_ckv_ctkms_7_failed(run, reason)


def test_plan_with_a_trail_checkov_cannot_place(tmp_path, monkeypatch):
    """A plan whose trail is not in the graph (never the case with checkov's plan runner, but a
    check must not guess): CKV_CTKMS_7 fails, the others pass."""
    case_dir, expected = CASES["plan_known_bad_policy"]
    monkeypatch.setattr(check, "find_trail", lambda *_a, **_k: (None, "aws_cloudtrail.main is not in checkov's graph"))
    run = h.run_case(case_dir, expected)
    _only_ckv_ctkms_7_failed(run, "aws_cloudtrail.main is not in checkov's graph")


# --------------------------------------------------------------------------- what the glue imports


def test_glue_imports_no_cli_terraform_front_end_and_no_python_hcl2():
    """The Terraform glue never imports the CLI's Terraform front end (parse, expressions,
    module: they need python-hcl2) nor python-hcl2; its graph, rendering and analysis modules
    import no checkov either."""
    code = (
        "import sys\n"
        "import cloudtrail_kms_lint.checkov_terraform.analysis\n"
        "pure = sorted(m for m in sys.modules if m.split('.')[0] in ('checkov', 'hcl2', 'lark', 'rustworkx', 'networkx'))\n"
        "import cloudtrail_kms_lint.checkov_support\n"
        "bad = sorted(m for m in sys.modules if m.startswith('cloudtrail_kms_lint.terraform'))\n"
        "import hcl2\n"
        "print(pure, bad, hasattr(hcl2, 'parses_to_tree'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] [] False", out.stdout + out.stderr


# --------------------------------------------------------------------------- what ships


def test_the_wheel_lists_the_terraform_glue():
    """pyproject.toml lists the packages of the wheel one by one: the Terraform glue
    (``cloudtrail_kms_lint.checkov_terraform``) must be among them, or every check file fails
    to import after ``pip install`` (the source tree and editable installs find it anyway)."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((h.corpus.REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["setuptools"]["packages"]
    if "cloudtrail_kms_lint.checkov_terraform" not in packages:
        pytest.xfail("pyproject.toml [tool.setuptools] packages lacks cloudtrail_kms_lint.checkov_terraform "
                     "(owned by the lead: add it next to cloudtrail_kms_lint.cloudformation)")
    assert "cloudtrail_kms_lint.checkov_terraform" in packages


def test_for_expressions_are_read_as_written():
    """checkov renders ``identifiers = [for r in var.reader_roles : "arn:...:role/${r}"]`` in an
    aws_iam_policy_document as an empty list, which would be "no log readers" (CTKMS006); the
    check reads that block as written with checkov's HCL loader and evaluates the for
    expression: the example's two reader roles, no finding (as the CLI says)."""
    example = h.corpus.REPO / "examples" / "terraform" / "audit-trail"
    run = h.run(root=example)
    index = next(iter(graph._INDEXES.values()))[1]
    doc = next(v for v in index.vertices.values() if v.type == "aws_iam_policy_document")
    readers = doc.config()["statement"][3]
    assert readers["sid"] == ["AllowLogReadersToDecrypt"] and readers["principals"][0]["identifiers"] == []
    assert _verdicts(run) == {cid: CheckResult.PASSED for cid in h.CHECK_IDS}
    [result] = run.analyses
    assert result.findings == [] and result.failure is None


# --------------------------------------------------------------------------- what checkov leaves unrendered


SEED = """\
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  root       = "arn:${local.partition}:iam::${local.account_id}:root"
  encrypt = {
    Sid       = "Encrypt"
    Effect    = "Allow"
    Principal = { Service = "cloudtrail.amazonaws.com" }
    Action    = ["kms:DescribeKey", "kms:GenerateDataKey*"]
    Resource  = "*"
    Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
  }
}

resource "aws_cloudtrail" "t" {
  name           = "t"
  s3_bucket_name = "b"
  kms_key_id     = KEY
}
"""

UNRENDERED = {
    # checkov leaves dynamic blocks of a data source unexpanded
    "dynamic statement": ("aws_kms_key.k.arn", """\
        variable "readers" {
          type    = list(string)
          default = ["A", "B"]
        }
        data "aws_iam_policy_document" "p" {
          source_policy_documents = [jsonencode({ Version = "2012-10-17", Statement = [local.encrypt] })]
          dynamic "statement" {
            for_each = var.readers
            content {
              sid       = "Read${statement.value}"
              actions   = ["kms:Decrypt"]
              resources = ["*"]
              principals {
                type        = "AWS"
                identifiers = ["arn:${local.partition}:iam::${local.account_id}:role/${statement.value}"]
              }
              condition {
                test     = "Null"
                variable = "kms:EncryptionContext:aws:cloudtrail:arn"
                values   = ["false"]
              }
            }
          }
        }
        resource "aws_kms_key" "k" { policy = data.aws_iam_policy_document.p.json }
        """, set()),
    # checkov substitutes a local holding a for expression as mangled text
    "for expression in a local": ("aws_kms_key.k.arn", """\
        locals {
          readers = [for r in ["A", "B"] : {
            Sid       = "Read${r}"
            Effect    = "Allow"
            Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:role/${r}" }
            Action    = "kms:Decrypt"
            Resource  = "*"
            Condition = { Null = { "kms:EncryptionContext:aws:cloudtrail:arn" = "false" } }
          }]
        }
        resource "aws_kms_key" "k" {
          policy = jsonencode({ Version = "2012-10-17", Statement = concat([local.encrypt], local.readers) })
        }
        """, set()),
    # try() is left as text
    "try": ("try(aws_kms_key.k.arn, null)", """\
        resource "aws_kms_key" "k" {
          policy = jsonencode({ Version = "2012-10-17", Statement = [local.encrypt] })
        }
        """, {"CKV_CTKMS_6"}),
    # the literal ARN of an alias defined in the configuration
    "alias ARN": ('"arn:aws:kms:us-east-1:111122223333:alias/trail"', """\
        resource "aws_kms_key" "k" {}
        resource "aws_kms_alias" "a" {
          name          = "alias/trail"
          target_key_id = aws_kms_key.k.key_id
        }
        """, {"CKV_CTKMS_3", "CKV_CTKMS_4", "CKV_CTKMS_6"}),
}


UNRENDERED["for expression in a module input"] = ("module.k.arn", {
    "extra.tf": """\
        module "k" {
          source  = "./mod"
          readers = [for r in ["A", "B"] : "arn:${local.partition}:iam::${local.account_id}:role/${r}"]
        }
        """,
    "mod/main.tf": """\
        variable "readers" {
          type = list(string)
        }
        data "aws_caller_identity" "current" {}
        resource "aws_kms_key" "this" {
          policy = jsonencode({
            Version = "2012-10-17"
            Statement = [
              { Sid = "E", Effect = "Allow", Principal = { Service = "cloudtrail.amazonaws.com" },
                Action = ["kms:DescribeKey", "kms:GenerateDataKey*"], Resource = "*",
                Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } } },
              { Sid = "R", Effect = "Allow", Principal = { AWS = var.readers }, Action = "kms:Decrypt", Resource = "*",
                Condition = { Null = { "kms:EncryptionContext:aws:cloudtrail:arn" = "false" } } },
            ]
          })
        }
        output "arn" {
          value = aws_kms_key.this.arn
        }
        """}, set())


@pytest.mark.parametrize("name", sorted(UNRENDERED))
def test_what_checkov_leaves_unrendered_is_finished(tmp_path, name):
    """Values checkov leaves half-done, or renders wrongly, are finished by the check, to the
    CLI's verdict (each configuration was checked against ``cloudtrail-kms-lint scan``)."""
    key, extra, want = UNRENDERED[name]
    files = extra if isinstance(extra, dict) else {"extra.tf": extra}
    _write(tmp_path, {"main.tf": SEED.replace("KEY", key), **files})
    run = h.run(root=tmp_path)
    assert _failed(run) == want, [r.details for r in run.failed()]
