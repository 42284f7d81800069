output "user_data" {
  description = "The cloud-init user-data (#cloud-config) for the prober host. Sensitive: it holds the enrolment token."
  value       = local.user_data
  sensitive   = true
}

output "prober_yaml" {
  description = "The prober.yaml written to /etc/picket/prober.yaml."
  value       = local.prober_yaml
}

output "systemd_unit" {
  description = "The picket-prober.service unit written to /etc/systemd/system."
  value       = local.systemd_unit
}

output "install_script" {
  description = "The script cloud-init runs to install the pinned picket release."
  value       = local.install_script
}

output "vantage" {
  description = "The vantage identity this host runs as."
  value       = var.vantage
}
