"""E9106 (CTKMS006): see docs/rules.md#ctkms006."""

from cloudtrail_kms_lint.cloudformation import cfnlint_rule as _base


class KeyPolicyAllowsLogReaders(_base.TrailKmsRule):
    """CTKMS006: the catalogue entry gives id, texts and link."""

    rule_id = "CTKMS006"
