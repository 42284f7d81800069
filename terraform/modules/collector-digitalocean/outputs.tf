output "collector_urls" {
  description = "The collector's https URLs, one per DNS name: give them to the prober modules' collector_urls and to `picket --collector`."
  value       = local.collector_urls
}

output "admin_token" {
  description = "The operator's admin token for `picket teams add` and `picket vantages add` (--token-file)."
  value       = random_password.admin_token.result
  sensitive   = true
}

output "load_balancer_ip" {
  description = "The public IPv4 address the DNS names point at."
  value       = digitalocean_loadbalancer.collector.ip
}

output "collectors" {
  description = "The collector droplets by name, with their public and private addresses."
  value = {
    for d in digitalocean_droplet.collector : d.name => {
      ipv4         = d.ipv4_address
      ipv6         = d.ipv6_address
      ipv4_private = d.ipv4_address_private
    }
  }
}

output "database_host" {
  description = "The private host name of the Postgres cluster."
  value       = digitalocean_database_cluster.picket.private_host
}

output "secret_paths" {
  description = "Where the collector reads each of secret_files, for use in extra_config."
  value       = module.bootstrap[0].secret_paths
}
