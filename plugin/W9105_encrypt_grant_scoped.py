"""W9105 (CTKMS005): see docs/rules.md#ctkms005."""

from cloudtrail_kms_lint.cloudformation import cfnlint_rule as _base


class EncryptGrantScoped(_base.TrailKmsRule):
    """CTKMS005: the catalogue entry gives id, texts and link."""

    rule_id = "CTKMS005"
