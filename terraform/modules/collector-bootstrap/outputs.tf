output "user_data" {
  description = "The cloud-init user-data (#cloud-config) for the collector host. Sensitive: it holds the admin token and secrets."
  value       = local.user_data
  sensitive   = true
}

output "collector_yaml" {
  description = "The collector.yaml written to /etc/picket/collector.yaml."
  value       = local.collector_yaml
}

output "systemd_unit" {
  description = "The picket-collector.service unit written to /etc/systemd/system."
  value       = local.systemd_unit
}

output "install_script" {
  description = "The script cloud-init runs to install the pinned picket release."
  value       = local.install_script
}

output "secret_paths" {
  description = "Where the service reads each of secret_files, by name: use these paths in extra_config (e.g. a notifier's routing_key_file)."
  value       = { for n in local.secret_names : n => "${local.credentials_dir}/${n}" }
}

output "admin_token_file" {
  description = "Where the collector reads the admin token."
  value       = local.admin_token_file
}
