output "provider" {
  description = "The vantage provider name written to prober.yaml (\"hetzner\" for hcloud)."
  value       = local.provider
}

output "asn" {
  description = "The ASN the provider's instances are announced from."
  value       = local.asn
}

output "vantages" {
  description = "Every planned vantage by id: id, provider, provider_region, region, asn, lat and lon."
  value       = local.vantages
}

output "deploy" {
  description = "Ids of the planned vantages that have an enrolment token, sorted: the ones to create."
  value       = local.deploy
}

output "pending" {
  description = "Ids of the planned vantages still waiting for an enrolment token, sorted."
  value       = local.pending
}

output "enrol_commands" {
  description = "By vantage id, the `picket vantages add` command that enrols it and prints its token."
  value       = local.enrol_commands
}

output "catalog" {
  description = "This provider's ASN and region table."
  value       = local.entry
}
