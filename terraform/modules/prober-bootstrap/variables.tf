variable "vantage" {
  description = "Who this prober is: the vantage identity written to prober.yaml. id is a DNS label (also the hostname); region is the vantage region name operators chose; asn, lat and lon are optional (the prober discovers its ASN when asn is null)."
  type = object({
    id       = string
    region   = string
    provider = string
    asn      = optional(number)
    lat      = optional(number)
    lon      = optional(number)
  })

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.vantage.id))
    error_message = "vantage.id must be a DNS label: 1-63 characters, lower-case letters, digits and '-', not starting or ending with '-'."
  }
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*$", var.vantage.region)) && can(regex("^[a-z0-9][a-z0-9-]*$", var.vantage.provider))
    error_message = "vantage.region and vantage.provider must be lower-case words such as \"eu-central\" and \"hetzner\"."
  }
  validation {
    condition     = var.vantage.asn == null ? true : (var.vantage.asn >= 1 && var.vantage.asn <= 4294967295 && floor(var.vantage.asn) == var.vantage.asn)
    error_message = "vantage.asn must be a whole number between 1 and 4294967295, or null to let the prober discover it."
  }
  validation {
    condition     = (var.vantage.lat == null) == (var.vantage.lon == null)
    error_message = "vantage.lat and vantage.lon must be set together, or both left null."
  }
  validation {
    condition     = var.vantage.lat == null || var.vantage.lon == null ? true : (abs(var.vantage.lat) <= 90 && abs(var.vantage.lon) <= 180)
    error_message = "vantage.lat must be within [-90, 90] and vantage.lon within [-180, 180] degrees."
  }
}

variable "collector_urls" {
  description = "Collector base URLs, tried in order. Put them in different domains (DESIGN §8) so one DNS or registrar failure does not silence the fleet."
  type        = list(string)

  validation {
    condition     = length(var.collector_urls) > 0 && alltrue([for u in var.collector_urls : can(regex("^https://[^/\\s]+(/\\S*)?$", u))])
    error_message = "collector_urls must hold at least one https:// URL: the prober sends its token to it."
  }
}

variable "enrolment_token" {
  description = "The token `picket vantages add` printed for this vantage. It is written to /etc/picket/token (root, 0600) and handed to the service as a systemd credential."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^\\S+$", var.enrolment_token))
    error_message = "enrolment_token must be the non-empty token printed by `picket vantages add`, without spaces or line breaks."
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

variable "spool_max_bytes" {
  description = "How much the on-disk spool may hold while the collectors are unreachable, e.g. \"512MiB\"."
  type        = string
  default     = "512MiB"

  validation {
    condition     = can(regex("^[0-9]+(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?$", var.spool_max_bytes))
    error_message = "spool_max_bytes must be a size such as 512MiB, 1GiB or 4096."
  }
}

variable "asn_db" {
  description = "Path on the host of an ip2asn-v4.tsv.gz file baked into the image, or null to resolve ASNs with Team Cymru's DNS service."
  type        = string
  default     = null

  validation {
    condition     = var.asn_db == null ? true : startswith(var.asn_db, "/")
    error_message = "asn_db must be an absolute path."
  }
}

variable "metrics_listen" {
  description = "Where the prober serves Prometheus metrics. Keep it on loopback unless a firewall guards the port."
  type        = string
  default     = "127.0.0.1:9464"

  validation {
    condition     = can(regex("^(\\[[0-9a-fA-F:.]+\\]|[0-9A-Za-z.-]+):[0-9]{1,5}$", var.metrics_listen))
    error_message = "metrics_listen must be host:port, e.g. 127.0.0.1:9464."
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

variable "blocked_addresses" {
  description = "CIDRs the prober service may never reach (systemd IPAddressDeny=): the cloud metadata service by default, which holds this host's user-data and credentials. Empty the list only where the host's own resolver lives at such an address and /etc/resolv.conf points at it directly (systemd-resolved's 127.0.0.53 stub is not affected)."
  type        = list(string)
  default     = ["169.254.169.254/32", "fd00:ec2::254/128"]

  validation {
    condition     = alltrue([for c in var.blocked_addresses : can(cidrhost(c, 0))])
    error_message = "blocked_addresses must hold CIDRs such as 169.254.169.254/32."
  }
}
