terraform {
  required_version = ">= 1.9, < 2.0"

  # A root pins exact versions; .terraform.lock.hcl pins the checksums
  # after the first `terraform init`.
  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "1.51.0"
    }
    aws = {
      source  = "hashicorp/aws"
      version = "6.2.0"
    }
    vultr = {
      source  = "vultr/vultr"
      version = "2.23.1"
    }
  }
}

# Reads HCLOUD_TOKEN.
provider "hcloud" {}

# Reads the usual AWS credentials. The region here is only the default:
# the aws module places each prober with the per-resource region argument.
provider "aws" {
  region = "us-east-1"
}

# Reads VULTR_API_KEY.
provider "vultr" {}
