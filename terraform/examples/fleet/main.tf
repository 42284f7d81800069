# A prober fleet on three continents and three providers (three ASNs):
# Hetzner in Europe, AWS in the Americas, Vultr in Asia. They report to the
# collector of ../collector, which runs on a fourth provider.

variable "collector_urls" {
  description = "The collector URLs: terraform -chdir=../collector output -json collector_urls"
  type        = list(string)
}

variable "release" {
  description = "The picket release to install: version, https URL of the linux-amd64 binary, and its sha256."
  type = object({
    version = string
    url     = string
    sha256  = string
  })
}

variable "enrolment_tokens" {
  description = "Tokens printed by `picket vantages add`, by vantage id (enrol.sh writes them to enrolment_tokens.auto.tfvars.json). Vantages without one are not created yet."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "ssh_keys" {
  description = "OpenSSH public keys for the probers' default user."
  type        = list(string)
  default     = []
}

variable "ssh_cidrs" {
  description = "CIDRs allowed to SSH to the probers."
  type        = list(string)
  default     = []
}

module "europe" {
  source = "../../modules/hcloud"

  regions          = ["fsn1", "hel1"]
  size             = "cx23"
  collector_urls   = var.collector_urls
  enrolment_tokens = var.enrolment_tokens
  release          = var.release
  ssh_keys         = var.ssh_keys
  ssh_cidrs        = var.ssh_cidrs
}

module "americas" {
  source = "../../modules/aws"

  regions          = ["us-east-1", "sa-east-1"]
  collector_urls   = var.collector_urls
  enrolment_tokens = var.enrolment_tokens
  release          = var.release
  ssh_keys         = var.ssh_keys
  ssh_cidrs        = var.ssh_cidrs
}

module "asia" {
  source = "../../modules/vultr"

  regions          = ["nrt", "sgp"]
  collector_urls   = var.collector_urls
  enrolment_tokens = var.enrolment_tokens
  release          = var.release
  ssh_keys         = var.ssh_keys
  ssh_cidrs        = var.ssh_cidrs
}

locals {
  vantages       = merge(module.europe.vantages, module.americas.vantages, module.asia.vantages)
  enrol_commands = merge(module.europe.enrol_commands, module.americas.enrol_commands, module.asia.enrol_commands)
  pending        = sort(concat(module.europe.pending, module.americas.pending, module.asia.pending))
}

# A token for a vantage no module plans is a typo or a leftover.
check "tokens_belong_to_vantages" {
  assert {
    condition     = length(setsubtract(nonsensitive(keys(var.enrolment_tokens)), keys(local.vantages))) == 0
    error_message = "enrolment_tokens has ids no module plans: ${join(", ", setsubtract(nonsensitive(keys(var.enrolment_tokens)), keys(local.vantages)))}."
  }
}

output "vantages" {
  description = "Every vantage by id: provider, region, ASN, location, and addresses once deployed."
  value       = local.vantages
}

output "pending" {
  description = "Vantages not yet enrolled (no token), hence not created."
  value       = local.pending
}

output "enrol_commands" {
  description = "The `picket vantages add` command of each pending vantage."
  value       = [for id in local.pending : local.enrol_commands[id]]
}
