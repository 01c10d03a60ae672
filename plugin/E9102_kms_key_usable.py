"""E9102 (CTKMS002): see docs/rules.md#ctkms002."""

from cloudtrail_kms_lint.cloudformation import cfnlint_rule as _base


class KmsKeyUsableByCloudTrail(_base.TrailKmsRule):
    """CTKMS002: the catalogue entry gives id, texts and link."""

    rule_id = "CTKMS002"
