terraform {
  required_version = ">= 1.9, < 2.0"

  # A root pins exact versions; .terraform.lock.hcl pins the checksums
  # after the first `terraform init`.
  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "2.74.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.6.3"
    }
  }
}

# Reads DIGITALOCEAN_TOKEN.
provider "digitalocean" {}
