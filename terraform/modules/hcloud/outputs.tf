output "vantages" {
  description = "Every planned vantage by id, with what `picket vantages add` needs (id, provider, region, asn, lat, lon), the provider region, and the public addresses once deployed (null while pending)."
  value = {
    for id, v in module.plan.vantages : id => {
      id              = v.id
      provider        = v.provider
      region          = v.region
      provider_region = v.provider_region
      asn             = v.asn
      lat             = v.lat
      lon             = v.lon
      deployed        = contains(module.plan.deploy, id)
      ipv4            = try(hcloud_server.prober[id].ipv4_address, null)
      ipv6            = try(hcloud_server.prober[id].ipv6_address, null)
    }
  }
}

output "enrol_commands" {
  description = "By vantage id, the `picket vantages add` command that enrols it and prints its token."
  value       = module.plan.enrol_commands
}

output "pending" {
  description = "Ids of the planned vantages that have no enrolment token yet, so were not created."
  value       = module.plan.pending
}
