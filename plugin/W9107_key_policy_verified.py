"""W9107 (CTKMS007): see docs/rules.md#ctkms007."""

from cloudtrail_kms_lint.cloudformation import cfnlint_rule as _base


class KeyPolicyVerified(_base.TrailKmsRule):
    """CTKMS007: the catalogue entry gives id, texts and link."""

    rule_id = "CTKMS007"
