"""checkov external checks (CKV_CTKMS_1 ... CKV_CTKMS_7) for CloudTrail KMS key policies.

Point checkov at this directory: ``checkov -d . --external-checks-dir "$(python -m cloudtrail_kms_lint checks-dir)"``
(pip install) or ``--external-checks-dir checks`` (a clone). checkov imports every ``*.py`` here
under its bare file name, so each file is one check, prefixed ``CTKMS_<n>_``, and shared code
lives in ``cloudtrail_kms_lint.checkov_support``. Keep YAML and JSON out of this directory:
checkov reads every ``*.yaml``/``*.json`` here as a policy. This file is never executed by checkov.
"""
