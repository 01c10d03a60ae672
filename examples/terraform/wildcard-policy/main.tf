# Two common mistakes in one statement. DescribeKey shares a statement whose
# condition needs an encryption context, which DescribeKey requests never carry
# (CTKMS003); the encryption-context condition uses StringEquals with a
# wildcard, which never matches (CTKMS004). Nobody may decrypt the logs either
# (CTKMS006).

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "trail" {
  description = "CloudTrail logs"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EnableIAMUserPermissions"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "AllowCloudTrail"
        Effect    = "Allow"
        Principal = { Service = "cloudtrail.amazonaws.com" }
        Action    = ["kms:DescribeKey", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = {
            "kms:EncryptionContext:aws:cloudtrail:arn" = "arn:aws:cloudtrail:*:${data.aws_caller_identity.current.account_id}:trail/*"
          }
        }
      },
    ]
  })
}

resource "aws_cloudtrail" "main" {
  name           = "main"
  s3_bucket_name = "example-cloudtrail-logs"
  kms_key_id     = aws_kms_key.trail.arn
}
