terraform {
  required_version = ">= 1.9, < 2.0"

  required_providers {
    vultr = {
      source  = "vultr/vultr"
      version = "~> 2.23"
    }
  }
}
