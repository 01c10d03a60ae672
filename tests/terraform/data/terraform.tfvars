kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/abc"
trail_name  = "from-tfvars"
