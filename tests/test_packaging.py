"""What ships: the wheel holds checks/ and plugin/, and the base install pulls no parser."""

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: no network in tests; setuptools comes from the test extra
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheels = list(out.glob("cloudtrail_kms_lint-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_ships_checks_and_plugin(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "cloudtrail_kms_lint/checks/__init__.py" in names
    assert "cloudtrail_kms_lint/checks/CTKMS_1_trail_has_kms_key.py" in names
    assert "cloudtrail_kms_lint/checkov_support.py" in names
    assert "cloudtrail_kms_lint/plugin/__init__.py" in names
    assert any(n.startswith("cloudtrail_kms_lint/plugin/E9101") for n in names)
    assert "cloudtrail_kms_lint/cloudformation/analysis.py" in names
    # fixtures never ship (checkov would read every yaml/json in checks/ as a policy)
    assert not any(n.endswith((".yaml", ".yml", ".json")) for n in names if n.startswith("cloudtrail_kms_lint/checks/"))


def test_base_install_depends_on_no_parser(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(meta_name).decode())
    requires = meta.get_all("Requires-Dist") or []
    base = [r for r in requires if "extra ==" not in r]
    assert base == [], f"base dependencies must stay empty (python-hcl2 breaks checkov): {base}"
    terraform = [r for r in requires if 'extra == "terraform"' in r]
    assert any(r.startswith("python-hcl2") for r in terraform)
    assert meta["Requires-Python"] == ">=3.10"
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("entry_points.txt"))
    ).decode()
    assert "cloudtrail-kms-lint = cloudtrail_kms_lint.cli:main" in entry_points
