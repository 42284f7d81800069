variable "hostname" {
  description = "The collector host's name, a DNS label such as \"collector-1\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.hostname))
    error_message = "hostname must be a DNS label: 1-63 characters, lower-case letters, digits and '-'."
  }
}

variable "listen" {
  description = "host:port the collector's HTTP API and dashboard listen on. Use 0.0.0.0:8080 behind a load balancer that terminates TLS, with a firewall that only lets the load balancer in."
  type        = string
  default     = "127.0.0.1:8080"

  validation {
    condition     = can(regex("^(\\[[0-9a-fA-F:.]+\\]|[0-9A-Za-z.-]+):([0-9]{4,5})$", var.listen)) && tonumber(regex(":([0-9]+)$", var.listen)[0]) >= 1024 && tonumber(regex(":([0-9]+)$", var.listen)[0]) <= 65535
    error_message = "listen must be host:port with a port between 1024 and 65535: the collector runs without privileges."
  }
}

variable "store" {
  description = "The results store: \"sqlite:/var/lib/picket/picket.db\" for one small collector, or a postgres:// URL without its password (several replicas share one Postgres)."
  type        = string
  default     = "sqlite:/var/lib/picket/picket.db"

  validation {
    condition     = can(regex("^(sqlite:/var/lib/picket/\\S+|postgres(ql)?://[^:@/\\s]+@\\S+)$", var.store))
    error_message = "store must be sqlite:/var/lib/picket/FILE (the only writable place) or postgres://USER@HOST/DB with the password in store_password, not in the URL."
  }
}

variable "store_password" {
  description = "The Postgres password, or null. It goes to a pgpass file handed to the service as a systemd credential, never into collector.yaml."
  type        = string
  default     = null
  sensitive   = true
}

variable "admin_token" {
  description = "The operator's admin token, or null to let the collector create one in /var/lib/picket/admin.token on first start. Give one when several replicas must accept the same token."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.admin_token == null ? true : can(regex("^\\S{16,}$", var.admin_token))
    error_message = "admin_token must be at least 16 characters without spaces, or null."
  }
}

variable "retention" {
  description = "How long to keep raw results and the per-minute and per-hour rollups (d, w and y units allowed)."
  type = object({
    raw    = optional(string, "14d")
    minute = optional(string, "90d")
    hour   = optional(string, "2y")
  })
  default = {}

  validation {
    condition     = alltrue([for v in [var.retention.raw, var.retention.minute, var.retention.hour] : can(regex("^([0-9]+[dwy]|([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$", v))])
    error_message = "retention values must be durations such as 14d, 90d, 2y or 72h."
  }
}

variable "targets" {
  description = "Which addresses probers may be told to probe: deny_private refuses loopback, RFC 1918, link-local and metadata addresses; allow lists CIDR exceptions."
  type = object({
    deny_private = optional(bool, true)
    allow        = optional(list(string), [])
  })
  default = {}

  validation {
    condition     = alltrue([for c in var.targets.allow : can(cidrhost(c, 0))])
    error_message = "targets.allow must hold CIDRs such as 203.0.113.0/24."
  }
}

variable "asn_db" {
  description = "Path on the host of an ip2asn-v4.tsv.gz file for AS names in reports, or null."
  type        = string
  default     = null

  validation {
    condition     = var.asn_db == null ? true : startswith(var.asn_db, "/")
    error_message = "asn_db must be an absolute path."
  }
}

variable "extra_config" {
  description = "More collector.yaml sections, such as alerting and notifiers, as an object that is YAML-encoded into the file. Secrets belong in secret_files and are referenced by the paths in the secret_paths output."
  type        = any
  default     = {}

  validation {
    condition     = can(keys(var.extra_config)) && length(setintersection(keys(var.extra_config), ["listen", "store", "admin_token_file", "asn_db", "retention", "targets"])) == 0
    error_message = "extra_config must be an object whose keys are not listen, store, admin_token_file, asn_db, retention or targets: those have their own variables."
  }
}

variable "secret_files" {
  description = "Secret files for notifiers, by name (e.g. {\"pd.key\" = \"...\"}). Each is written root-only under /etc/picket/secrets and handed to the service as a systemd credential; secret_paths says where the service reads it."
  type        = map(string)
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for name in keys(var.secret_files) : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", name)) && !contains(["admin.token", "pgpass"], name)])
    error_message = "secret_files names must be file names of letters, digits, '.', '_' and '-' (not admin.token or pgpass, which the module uses)."
  }
}

variable "release" {
  description = "The picket release to install: its version (for the record), the https URL of the linux binary or of a .tar.gz holding a `picket` file, and the sha256 of what the URL serves. The boot fails closed when the checksum differs."
  type = object({
    version = string
    url     = string
    sha256  = string
  })

  validation {
    condition     = can(regex("^https://[A-Za-z0-9._~:/?#@!&+,;=%-]+$", var.release.url)) && can(regex("^[0-9a-f]{64}$", var.release.sha256))
    error_message = "release.url must be an https:// URL (no quotes or spaces) and release.sha256 64 lower-case hex digits."
  }
}

variable "ssh_authorized_keys" {
  description = "OpenSSH public keys allowed to log in as the image's default user. Password logins are disabled either way."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for k in var.ssh_authorized_keys : can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-\\S+) [A-Za-z0-9+/=]+( .*)?$", k))])
    error_message = "ssh_authorized_keys must hold OpenSSH public keys (\"ssh-ed25519 AAAA... comment\")."
  }
}

variable "binary_path" {
  description = "Where the picket binary is installed and what the unit runs."
  type        = string
  default     = "/usr/local/bin/picket"

  validation {
    condition     = can(regex("^/[A-Za-z0-9._/-]+$", var.binary_path))
    error_message = "binary_path must be an absolute path without spaces."
  }
}
