variable "region" {
  description = "The DigitalOcean region of the collectors, their load balancer and database, e.g. \"ams3\". Pick one no prober depends on."
  type        = string
  default     = "ams3"
}

variable "replicas" {
  description = "How many collector droplets share the Postgres cluster behind the load balancer. Work that must happen once is guarded by advisory locks, so any number works."
  type        = number
  default     = 2

  validation {
    condition     = var.replicas >= 1 && var.replicas <= 10 && floor(var.replicas) == var.replicas
    error_message = "replicas must be a whole number from 1 to 10."
  }
}

variable "size" {
  description = "The droplet size of each collector, e.g. s-1vcpu-2gb."
  type        = string
  default     = "s-1vcpu-2gb"
}

variable "image" {
  description = "The droplet image slug or id; it must run cloud-init and systemd 250 or newer."
  type        = string
  default     = "debian-12-x64"
}

variable "ssh_keys" {
  description = "OpenSSH public keys allowed to log in as the image's default user (installed by cloud-init)."
  type        = list(string)
  default     = []
}

variable "ssh_cidrs" {
  description = "CIDRs allowed to reach port 22 on the collectors. Empty: no SSH from anywhere."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_cidrs : can(cidrhost(c, 0))])
    error_message = "ssh_cidrs must hold CIDRs such as 198.51.100.7/32."
  }
}

variable "domains" {
  description = "The collector's DNS names, each a name in a zone this DigitalOcean account serves (e.g. {zone = \"picket-a.example\", name = \"collector\"}). Use two zones under different registrars: probers fail over between them. Each gets an A record and a Let's Encrypt certificate."
  type = list(object({
    zone = string
    name = string
  }))

  validation {
    condition     = length(var.domains) >= 1 && alltrue([for d in var.domains : can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", d.zone)) && can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", d.name))])
    error_message = "domains must hold at least one {zone, name} with a lower-case DNS zone and a single-label name."
  }
}

variable "fleet_providers" {
  description = "The providers the probers run on (the fleet's vantage provider names). The collector must not share one with them: a provider outage would silence the probers and the collector at once."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.fleet_providers, "digitalocean")
    error_message = "fleet_providers contains digitalocean: put the collector on another provider than the probers, or the probers elsewhere."
  }
}

variable "monitored_domains" {
  description = "Domains of the endpoints the fleet watches. The collector's names must be outside them, so a DNS failure of a watched domain does not hide its own alerts."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for d in var.monitored_domains : can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", d))])
    error_message = "monitored_domains must hold lower-case domain names such as example.com."
  }
}

variable "database" {
  description = "The managed Postgres cluster: size, node_count (2 or 3 adds standbys that take over on failure) and major version."
  type = object({
    size       = optional(string, "db-s-1vcpu-1gb")
    node_count = optional(number, 1)
    version    = optional(string, "16")
  })
  default = {}

  validation {
    condition     = contains([1, 2, 3], var.database.node_count) && can(regex("^1[4-9]$", var.database.version))
    error_message = "database.node_count must be 1, 2 or 3 and database.version a Postgres major version from 14."
  }
}

variable "release" {
  description = "The picket release the collectors install: version, https URL of the linux-amd64 binary (or a .tar.gz holding `picket`), and its sha256."
  type = object({
    version = string
    url     = string
    sha256  = string
  })
}

variable "retention" {
  description = "How long to keep raw results and the per-minute and per-hour rollups."
  type = object({
    raw    = optional(string, "14d")
    minute = optional(string, "90d")
    hour   = optional(string, "2y")
  })
  default = {}
}

variable "targets" {
  description = "Which addresses probers may be told to probe: deny_private refuses private and metadata addresses; allow lists CIDR exceptions."
  type = object({
    deny_private = optional(bool, true)
    allow        = optional(list(string), [])
  })
  default = {}
}

variable "extra_config" {
  description = "More collector.yaml sections (alerting, notifiers), YAML-encoded into the file. Reference secrets by the paths in the secret_paths output."
  type        = any
  default     = {}
}

variable "secret_files" {
  description = "Secret files for notifiers by name, handed to the collector as systemd credentials (see the secret_paths output)."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "picket"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name_prefix))
    error_message = "name_prefix must be 1-20 lower-case letters, digits or '-', starting with a letter."
  }
}
