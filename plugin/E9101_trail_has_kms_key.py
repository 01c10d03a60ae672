"""E9101 (CTKMS001): see docs/rules.md#ctkms001."""

from cloudtrail_kms_lint.cloudformation import cfnlint_rule as _base


class TrailHasKmsKey(_base.TrailKmsRule):
    """CTKMS001: the catalogue entry gives id, texts and link."""

    rule_id = "CTKMS001"
