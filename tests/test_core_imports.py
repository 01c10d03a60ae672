"""The core must run inside checkov's and cfn-lint's environments: importing it loads no parser."""

import subprocess
import sys

CORE_MODULES = [
    "cloudtrail_kms_lint",
    "cloudtrail_kms_lint.catalogue",
    "cloudtrail_kms_lint.values",
    "cloudtrail_kms_lint.matching",
    "cloudtrail_kms_lint.policy",
    "cloudtrail_kms_lint.model",
    "cloudtrail_kms_lint.trail",
    "cloudtrail_kms_lint.report",
    "cloudtrail_kms_lint.docs",
    "cloudtrail_kms_lint.discovery",
    "cloudtrail_kms_lint.scan",
    "cloudtrail_kms_lint.cli",
    "cloudtrail_kms_lint.cloudformation.analysis",
    "cloudtrail_kms_lint.cloudformation.intrinsics",
    "cloudtrail_kms_lint.cloudformation.loader",
    "cloudtrail_kms_lint.terraform.parse",
    "cloudtrail_kms_lint.terraform.expressions",
    "cloudtrail_kms_lint.terraform.functions",
    "cloudtrail_kms_lint.terraform.policy_document",
    "cloudtrail_kms_lint.terraform.module",
    "cloudtrail_kms_lint.terraform.analysis",
    "cloudtrail_kms_lint.terraform.plan",
]
PARSERS = ("hcl2", "cfnlint", "checkov", "lark", "yaml")


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_core_modules_import_no_parser():
    loaded = _loaded_after("\n".join(f"import {m}" for m in CORE_MODULES))
    assert not (loaded & set(PARSERS)), f"core imported a parser: {sorted(loaded & set(PARSERS))}"


def test_version_and_help_import_no_parser():
    code = (
        "import contextlib, io\n"
        "from cloudtrail_kms_lint.cli import main\n"
        "for argv in (['--version'], ['--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
    )
    loaded = _loaded_after(code)
    assert not (loaded & set(PARSERS)), sorted(loaded & set(PARSERS))


def test_scanning_terraform_does_not_import_cfnlint(tmp_path):
    (tmp_path / "main.tf").write_text('resource "aws_cloudtrail" "t" {\n  name = "t"\n  s3_bucket_name = "b"\n}\n')
    code = (
        "import contextlib, io\n"
        "from cloudtrail_kms_lint.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['scan', '--format', 'json', {str(tmp_path)!r}])\n"
    )
    loaded = _loaded_after(code)
    assert "cfnlint" not in loaded
    assert "hcl2" in loaded  # the Terraform file was parsed


def test_scanning_a_directory_without_cloudformation_does_not_import_cfnlint(tmp_path):
    (tmp_path / "ci.yaml").write_text("name: build\non: push\n")
    code = (
        "import contextlib, io\n"
        "from cloudtrail_kms_lint.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['scan', '--format', 'json', {str(tmp_path)!r}])\n"
    )
    loaded = _loaded_after(code)
    assert "cfnlint" not in loaded and "hcl2" not in loaded
