"""E9103 (CTKMS003): see docs/rules.md#ctkms003."""

from cloudtrail_kms_lint.cloudformation import cfnlint_rule as _base


class KeyPolicyAllowsDescribeKey(_base.TrailKmsRule):
    """CTKMS003: the catalogue entry gives id, texts and link."""

    rule_id = "CTKMS003"
