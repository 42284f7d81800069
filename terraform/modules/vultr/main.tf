module "plan" {
  source = "../vantage-plan"

  cloud            = "vultr"
  regions          = var.regions
  per_region       = var.per_region
  region_names     = var.region_names
  asn              = var.asn
  enrolment_tokens = var.enrolment_tokens
}

module "bootstrap" {
  source   = "../prober-bootstrap"
  for_each = toset(module.plan.deploy)

  vantage             = module.plan.vantages[each.key]
  collector_urls      = var.collector_urls
  enrolment_token     = var.enrolment_tokens[each.key]
  release             = var.release
  ssh_authorized_keys = var.ssh_keys
}

locals {
  deploy = { for id in module.plan.deploy : id => module.plan.vantages[id] }
}

# Changes whenever a prober's user-data does, so its host is replaced.
resource "terraform_data" "user_data" {
  for_each = local.deploy
  input    = sha256(module.bootstrap[each.key].user_data)
}
