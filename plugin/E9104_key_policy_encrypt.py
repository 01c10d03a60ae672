"""E9104 (CTKMS004): see docs/rules.md#ctkms004."""

from cloudtrail_kms_lint.cloudformation import cfnlint_rule as _base


class KeyPolicyAllowsEncrypt(_base.TrailKmsRule):
    """CTKMS004: the catalogue entry gives id, texts and link."""

    rule_id = "CTKMS004"
