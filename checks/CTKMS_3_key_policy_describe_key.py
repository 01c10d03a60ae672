"""CKV_CTKMS_3 (CTKMS003): see docs/rules.md#ctkms003. Loaded by checkov from --external-checks-dir;
one check object per framework family (CloudFormation; Terraform and terraform_plan), same id."""

try:
    from cloudtrail_kms_lint.checkov_support import CloudFormationCheck, TerraformCheck
except ModuleNotFoundError as _missing:  # a clone used without pip install: the package is in ../src
    if _missing.name != "cloudtrail_kms_lint":
        raise
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
    from cloudtrail_kms_lint.checkov_support import CloudFormationCheck, TerraformCheck


class KeyPolicyAllowsDescribeKey(CloudFormationCheck):
    """CTKMS003 for CloudFormation: the catalogue entry gives id, name, guideline and severity."""

    rule_id = "CTKMS003"


class KeyPolicyAllowsDescribeKeyTerraform(TerraformCheck):
    """CTKMS003 for Terraform and terraform_plan (checkov's graph), same id."""

    rule_id = "CTKMS003"


check = KeyPolicyAllowsDescribeKey()
terraform_check = KeyPolicyAllowsDescribeKeyTerraform()
