terraform {
  required_version = ">= 1.9, < 2.0"

  required_providers {
    aws = {
      # 6.0 added the per-resource region argument this module relies on to
      # span regions with one provider configuration.
      source  = "hashicorp/aws"
      version = "~> 6.2"
    }
  }
}
