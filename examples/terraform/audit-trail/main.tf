# A compliant organisation audit trail: the key and its policy come from a
# local module; the policy is an aws_iam_policy_document with the three
# statements AWS documents. No findings.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

module "trail_key" {
  source       = "./modules/trail-key"
  trail_name   = var.trail_name
  reader_roles = var.reader_roles
}

resource "aws_s3_bucket" "logs" {
  bucket = "${var.trail_name}-cloudtrail-logs"
}

resource "aws_cloudtrail" "audit" {
  name                          = var.trail_name
  s3_bucket_name                = aws_s3_bucket.logs.id
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  kms_key_id                    = module.trail_key.key_arn
}
