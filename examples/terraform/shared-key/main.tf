# The key is managed elsewhere and passed in: its policy is not in this code,
# so it cannot be verified here (CTKMS007 names the variable).

variable "cloudtrail_kms_key_arn" {
  description = "ARN of the organisation's CloudTrail key (managed by the security account)"
  type        = string
}

resource "aws_cloudtrail" "main" {
  name           = "main"
  s3_bucket_name = "example-cloudtrail-logs"
  kms_key_id     = var.cloudtrail_kms_key_arn
}
