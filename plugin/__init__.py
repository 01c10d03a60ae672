"""cfn-lint rules for CloudTrail KMS key policies.

Use them with ``cfn-lint --append-rules=cloudtrail_kms_lint.plugin`` (pip install) or
``cfn-lint --append-rules=plugin`` (a clone). In module mode cfn-lint only finds the
rule classes this package re-exports; in directory mode it imports each file alone,
so every file uses absolute imports only.
"""

from .E9101_trail_has_kms_key import TrailHasKmsKey
from .E9102_kms_key_usable import KmsKeyUsableByCloudTrail
from .E9103_key_policy_describe_key import KeyPolicyAllowsDescribeKey
from .E9104_key_policy_encrypt import KeyPolicyAllowsEncrypt
from .W9105_encrypt_grant_scoped import EncryptGrantScoped
from .E9106_key_policy_decrypt import KeyPolicyAllowsLogReaders
from .W9107_key_policy_verified import KeyPolicyVerified

__all__ = ["TrailHasKmsKey", "KmsKeyUsableByCloudTrail", "KeyPolicyAllowsDescribeKey", "KeyPolicyAllowsEncrypt", "EncryptGrantScoped", "KeyPolicyAllowsLogReaders", "KeyPolicyVerified"]
