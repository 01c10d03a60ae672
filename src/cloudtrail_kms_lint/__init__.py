"""cloudtrail-kms-lint: checks that a CloudTrail trail's KMS key policy lets CloudTrail use the key.

Importing this package (and its core modules) loads no parser: no ``hcl2``,
``cfnlint`` or ``checkov``, so the core runs inside checkov's and cfn-lint's
environments.
"""

__version__ = "0.1.0"
