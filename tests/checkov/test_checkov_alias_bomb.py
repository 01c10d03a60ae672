"""A YAML alias bomb never hangs the checkov checks: the template is refused and CKV_CTKMS_7 says why."""

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.checkov

BOMB = Path(__file__).resolve().parents[1] / "fixtures" / "hostile" / "yaml-alias-bomb-keypolicy" / "template.yaml"


def test_alias_bomb_is_refused_quickly():
    from cloudtrail_kms_lint import checkov_support

    start = time.monotonic()
    out = checkov_support._analyse_uncached(str(BOMB))
    assert time.monotonic() - start < 60  # a guard against a hang, not a performance target
    assert out.failure and "alias" in out.failure
