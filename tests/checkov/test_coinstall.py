"""Runs in the checkov environment: our package installs and imports next to checkov without breaking it."""

import importlib.metadata as md
import subprocess
import sys

import pytest

pytestmark = pytest.mark.checkov


def test_checkov_and_core_import_together():
    code = (
        "import checkov.terraform.runner\n"
        "import hcl2\n"
        "from hcl2 import START_LINE\n"  # bc-python-hcl2's API: python-hcl2 would break this import
        "import cloudtrail_kms_lint.policy, cloudtrail_kms_lint.trail, cloudtrail_kms_lint.catalogue\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_python_hcl2_is_not_installed_here():
    with pytest.raises(md.PackageNotFoundError):
        md.distribution("python-hcl2")
    assert md.distribution("bc-python-hcl2")


def test_checks_dir_is_printed():
    out = subprocess.run([sys.executable, "-m", "cloudtrail_kms_lint", "checks-dir"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("checks")
