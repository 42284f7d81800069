# The collector on DigitalOcean, a provider none of the probers in
# ../fleet runs on, under two names in two zones: two collector replicas
# behind a TLS load balancer, sharing a managed Postgres cluster.

variable "release" {
  description = "The picket release to install: version, https URL of the linux-amd64 binary, and its sha256."
  type = object({
    version = string
    url     = string
    sha256  = string
  })
}

variable "domains" {
  description = "The collector's names: zones served by this DigitalOcean account, ideally bought from two registrars."
  type = list(object({
    zone = string
    name = string
  }))
  default = [
    { zone = "picket-a.example", name = "collector" },
    { zone = "picket-b.example.net", name = "collector" },
  ]
}

variable "monitored_domains" {
  description = "Domains of the endpoints the fleet watches; the collector's names must lie outside them."
  type        = list(string)
  default     = ["example.com"]
}

variable "ssh_keys" {
  description = "OpenSSH public keys for the collectors' default user."
  type        = list(string)
  default     = []
}

variable "ssh_cidrs" {
  description = "CIDRs allowed to SSH to the collectors."
  type        = list(string)
  default     = []
}

module "collector" {
  source = "../../modules/collector-digitalocean"

  region            = "ams3"
  replicas          = 2
  domains           = var.domains
  fleet_providers   = ["hetzner", "aws", "vultr"]
  monitored_domains = var.monitored_domains
  database          = { size = "db-s-1vcpu-2gb", node_count = 2 }
  release           = var.release
  ssh_keys          = var.ssh_keys
  ssh_cidrs         = var.ssh_cidrs
}

output "collector_urls" {
  description = "Feed these to ../fleet (collector_urls) and to picket's --collector."
  value       = module.collector.collector_urls
}

output "admin_token" {
  description = "The admin token: terraform output -raw admin_token > admin.token"
  value       = module.collector.admin_token
  sensitive   = true
}

output "load_balancer_ip" {
  description = "The address the collector names resolve to."
  value       = module.collector.load_balancer_ip
}
