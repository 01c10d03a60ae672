"""Smoke test of the benchmark (bench/): the generator is deterministic and its output parses, and
bench/run.py --quick runs our CLI end to end and prints its table. No timing is asserted here:
the performance targets are checked by running the benchmark (docs/performance.md), never by tests.

Runs in the main suite (no checkov needed) in a few seconds: tiny repositories, one round, and the
checkov / cfn-lint anchors pointed at a missing executable, so they are reported as skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


def _generate(*args: str) -> dict:
    r = subprocess.run([sys.executable, os.path.join(BENCH, "generate.py"), *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _digest(root: str) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            full = os.path.join(dirpath, f)
            h.update(os.path.relpath(full, root).replace(os.sep, "/").encode() + b"\0")
            with open(full, "rb") as fh:
                h.update(fh.read() + b"\0")
    return h.hexdigest()


def _tf_files(root: str) -> list:
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".tf"))


@pytest.mark.parametrize("kind, args", [
    ("terraform", ["--files", "80", "--trail-percent", "10"]),
    ("dense", ["--modules", "3"]),
    ("cloudformation", ["--templates", "6", "--trail-percent", "20"]),
])
def test_generator_is_deterministic(tmp_path, kind, args):
    a, b, c = (str(tmp_path / n) for n in ("a", "b", "c"))
    summary = _generate(kind, a, *args, "--seed", "7")
    _generate(kind, b, *args, "--seed", "7")
    _generate(kind, c, *args, "--seed", "8")
    assert _digest(a) == _digest(b), "same seed, same arguments: the trees must be byte-identical"
    assert _digest(a) != _digest(c), "another seed gives another tree"
    assert summary["trails"] >= 1
    assert os.path.isfile(os.path.join(a, ".git", "HEAD"))
    if kind == "terraform":
        assert len(_tf_files(a)) == 80 == summary["tf_files"]


def test_generated_terraform_parses_and_is_realistic(tmp_path):
    hcl2 = pytest.importorskip("hcl2")
    if not hasattr(hcl2, "parses_to_tree"):
        pytest.skip("this hcl2 is checkov's bc-python-hcl2, not python-hcl2")
    out = str(tmp_path / "repo")
    _generate("terraform", out, "--files", "60", "--trail-percent", "10", "--seed", "3")
    _generate("dense", str(tmp_path / "dense"), "--modules", "2", "--seed", "3")
    files = _tf_files(out) + _tf_files(str(tmp_path / "dense"))
    sizes = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        hcl2.loads(text)  # raises on a syntax error
        sizes.append(len(text.encode()))
    sizes.sort()
    assert max(sizes) <= 11 * 1024
    assert sizes[len(sizes) // 2] >= 2 * 1024, "the median .tf file should be a few KB, as in real repositories"
    texts = "".join(open(f, encoding="utf-8").read() for f in _tf_files(out))
    for needle in ('resource "aws_cloudtrail"', 'resource "aws_kms_key"', 'data "aws_iam_policy_document"',
                   "jsonencode(", 'resource "aws_security_group"'):
        assert needle in texts


def test_run_quick_with_our_cli_only(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "cloudtrail-kms-lint")
    ckl = exe if os.path.exists(exe) else f"{sys.executable} -m cloudtrail_kms_lint"
    results = tmp_path / "results.json"
    r = subprocess.run([sys.executable, os.path.join(BENCH, "run.py"), "--quick", "--workdir", str(tmp_path / "work"),
                        "--json", str(results), "--ckl", ckl,
                        "--checkov", str(tmp_path / "no-checkov"), "--cfn-lint", str(tmp_path / "no-cfn-lint")],
                       capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "cloudtrail-kms-lint scan . (cold)" in out
    assert "cloudtrail-kms-lint --version" in out
    assert "pre-commit: scan " in out
    assert "grep -rlE" in out or "grep not found" in r.stderr
    for target in ("T1 ", "T2 ", "T3 ", "T4 ", "T5 ", "T6 ", "T7 ", "T8 "):
        assert f"\n{target}" in out, target
    assert "SKIP" in out  # the checkov and cfn-lint anchors
    assert "checkov not found" in r.stderr and "cfn-lint not found" in r.stderr
    data = json.loads(results.read_text())
    assert {t["id"] for t in data["targets"]} >= {"T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8"}
    ours = data["workloads"]["tf"]["commands"]["tf.ours_cold"]
    assert ours["samples"] and all(s["ok"] for s in ours["samples"])
    assert data["workloads"]["tf"]["trails"] >= 1
