# The inputs every provider module shares (see terraform/README.md).

variable "regions" {
  description = "The provider's region slugs to run probers in, e.g. [\"ams3\", \"sgp1\"]. Each maps to a vantage region name and location (modules/vantage-plan/catalog.tf)."
  type        = list(string)
}

variable "per_region" {
  description = "How many probers to run in each region; their vantage ids end in -a, -b, ..."
  type        = number
  default     = 1
}

variable "size" {
  description = "The droplet size of each prober, e.g. s-1vcpu-1gb. A prober needs little: 1 vCPU and 1 GB of memory."
  type        = string
  default     = "s-1vcpu-1gb"
}

variable "image" {
  description = "The image slug or id. The image must run cloud-init and systemd 250 or newer."
  type        = string
  default     = "debian-12-x64"
}

variable "ssh_keys" {
  description = "OpenSSH public keys allowed to log in as the image's default user (installed by cloud-init). Empty: nobody logs in, which is fine for a prober."
  type        = list(string)
  default     = []
}

variable "ssh_cidrs" {
  description = "CIDRs allowed to reach port 22. Empty: the firewall lets no inbound connection in (ICMP stays open so path MTU discovery and traceroute replies work)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_cidrs : can(cidrhost(c, 0))])
    error_message = "ssh_cidrs must hold CIDRs such as 198.51.100.7/32 or 2001:db8::/48."
  }
}

variable "collector_urls" {
  description = "The collector URLs every prober reports to, tried in order; use names in two different domains."
  type        = list(string)
}

variable "enrolment_tokens" {
  description = "Tokens printed by `picket vantages add`, by vantage id. Vantages without a token are not created; their enrol commands are in the enrol_commands output. Tokens of other modules' vantages are ignored, so one map can feed the whole fleet."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "release" {
  description = "The picket release every prober installs: version, https URL of the linux-amd64 binary (or a .tar.gz holding `picket`), and its sha256."
  type = object({
    version = string
    url     = string
    sha256  = string
  })
}

variable "region_names" {
  description = "Overrides of the vantage region name by provider region, e.g. {ams3 = \"my-region\"}."
  type        = map(string)
  default     = {}
}

variable "asn" {
  description = "Override of the ASN the probers announce in their identity, or null for the provider's (AS14061)."
  type        = number
  default     = null
}

variable "name_prefix" {
  description = "Prefix of every resource name; the vantage id follows it."
  type        = string
  default     = "picket"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name_prefix))
    error_message = "name_prefix must be 1-20 lower-case letters, digits or '-', starting with a letter."
  }
}

variable "labels" {
  description = "Labels (tags) added to every resource that takes them."
  type        = map(string)
  default     = {}
}
