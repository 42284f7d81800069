variable "cloud" {
  description = "Which provider module is planning: aws, gcp, digitalocean, vultr or hcloud."
  type        = string

  validation {
    condition     = contains(["aws", "gcp", "digitalocean", "vultr", "hcloud"], var.cloud)
    error_message = "cloud must be one of aws, gcp, digitalocean, vultr, hcloud."
  }
}

variable "regions" {
  description = "The provider's region (or location) slugs to put probers in, e.g. [\"fsn1\", \"ash\"] for hcloud."
  type        = list(string)

  validation {
    condition     = length(var.regions) == length(distinct(var.regions))
    error_message = "regions must not repeat a region; raise per_region for more probers in one region."
  }
  validation {
    condition     = alltrue([for r in var.regions : contains(keys(local.catalog[var.cloud].regions), r)])
    error_message = "regions holds a region this module has no entry for: ${join(", ", [for r in var.regions : r if !contains(keys(local.catalog[var.cloud].regions), r)])}. Known ${var.cloud} regions: ${join(", ", sort(keys(local.catalog[var.cloud].regions)))}."
  }
}

variable "per_region" {
  description = "How many probers to run in each region; their vantage ids end in -a, -b, ..."
  type        = number
  default     = 1

  validation {
    condition     = var.per_region >= 1 && var.per_region <= 26 && floor(var.per_region) == var.per_region
    error_message = "per_region must be a whole number from 1 to 26."
  }
}

variable "region_names" {
  description = "Overrides of the vantage region name by provider region, e.g. {hel1 = \"eu-central\"}; the catalog's shared names are used otherwise."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.region_names) : can(regex("^[a-z0-9][a-z0-9-]*$", v))])
    error_message = "region_names values must be lower-case names such as \"eu-central\"."
  }
}

variable "asn" {
  description = "Override of the provider's ASN (e.g. 15169 for GCP, or a bring-your-own-IP ASN), or null for the catalog's."
  type        = number
  default     = null
}

variable "enrolment_tokens" {
  description = "Tokens printed by `picket vantages add`, by vantage id. Only vantages with a token are deployed; the others are listed in pending with the command that enrols them."
  type        = map(string)
  default     = {}
  sensitive   = true
}
