variable "trail_name" {
  type    = string
  default = "audit"
}

variable "reader_roles" {
  description = "Names of the IAM roles that read the logs"
  type        = list(string)
}
