"""The hooks in .pre-commit-hooks.yaml, run by the real pre-commit against a temporary git repository.

pre-commit builds each hook's environment with pip; the test points pip at the
wheelhouse that ./scripts/test downloads (CKL_WHEELHOUSE) with PIP_NO_INDEX, so
the test itself never touches the network.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WHEELHOUSE = os.environ.get("CKL_WHEELHOUSE")

pytestmark = pytest.mark.skipif(not WHEELHOUSE, reason="needs the wheelhouse that ./scripts/test prepares (CKL_WHEELHOUSE)")

KEY = '''
data "aws_caller_identity" "current" {{}}

resource "aws_kms_key" "trail" {{
  policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [
      {{
        Sid       = "Root"
        Effect    = "Allow"
        Principal = {{ AWS = "arn:aws:iam::${{data.aws_caller_identity.current.account_id}}:root" }}
        Action    = "kms:*"
        Resource  = "*"
      }},
      {{
        Sid       = "Describe"
        Effect    = "Allow"
        Principal = {{ Service = "cloudtrail.amazonaws.com" }}
        Action    = "kms:DescribeKey"
        Resource  = "*"
      }},
      {{
        Sid       = "Encrypt"
        Effect    = "Allow"
        Principal = {{ Service = "cloudtrail.amazonaws.com" }}
        Action    = "kms:GenerateDataKey*"
        Resource  = "*"
        Condition = {{
          {operator} = {{
            "kms:EncryptionContext:aws:cloudtrail:arn" = "arn:aws:cloudtrail:*:${{data.aws_caller_identity.current.account_id}}:trail/*"
          }}
        }}
      }},
      {{
        Sid       = "Readers"
        Effect    = "Allow"
        Principal = {{ AWS = "arn:aws:iam::${{data.aws_caller_identity.current.account_id}}:role/auditor" }}
        Action    = "kms:Decrypt"
        Resource  = "*"
        Condition = {{ Null = {{ "kms:EncryptionContext:aws:cloudtrail:arn" = "false" }} }}
      }},
    ]
  }})
}}

output "key_arn" {{
  value = aws_kms_key.trail.arn
}}
'''

ROOT = '''
module "key" {
  source = "./modules/key"
}

resource "aws_cloudtrail" "main" {
  name           = "main"
  s3_bucket_name = "example-cloudtrail-logs"
  kms_key_id     = module.key.key_arn
}
'''

TEMPLATE = (REPO / "examples" / "cloudformation" / "aws-managed-key.yaml").read_text()


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("pre-commit-home")
    e = dict(os.environ)
    e.update({"PRE_COMMIT_HOME": str(home), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": WHEELHOUSE,
              "PIP_DISABLE_PIP_VERSION_CHECK": "1", "NO_COLOR": "1"})
    return e


def try_repo(repo: Path, hook: str, files: list[str], env: dict) -> subprocess.CompletedProcess:
    exe = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or "pre-commit"
    return subprocess.run([exe, "try-repo", str(REPO), hook, "--verbose", "--files", *files], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900)


def test_scan_hook_good_then_bad_commit(tmp_path, env):
    repo = tmp_path / "infra"
    (repo / "modules" / "key").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "main.tf").write_text(ROOT)
    (repo / "modules" / "key" / "main.tf").write_text(KEY.format(operator="StringLike"))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "good")
    # only the module file changed: the hook must analyse it through its caller
    good = try_repo(repo, "cloudtrail-kms-lint", ["modules/key/main.tf"], env)
    assert good.returncode == 0, good.stdout + good.stderr

    (repo / "modules" / "key" / "main.tf").write_text(KEY.format(operator="StringEquals"))
    git(repo, "commit", "-qam", "bad")
    bad = try_repo(repo, "cloudtrail-kms-lint", ["modules/key/main.tf"], env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "CTKMS004" in bad.stdout
    assert "aws_cloudtrail.main" in bad.stdout
    assert "StringEquals with a wildcard value" in bad.stdout


def test_cfn_lint_hook_appends_our_rules(tmp_path, env):
    repo = tmp_path / "stacks"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "trail.yaml").write_text(TEMPLATE)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "trail")
    run = try_repo(repo, "cloudtrail-kms-lint-cfn-lint", ["trail.yaml"], env)
    assert run.returncode != 0, run.stdout + run.stderr
    assert "E9102" in run.stdout and "trail.yaml:11" in run.stdout
