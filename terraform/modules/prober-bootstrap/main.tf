locals {
  config_path  = "/etc/picket/prober.yaml"
  token_source = "/etc/picket/token"
  # Where systemd puts the LoadCredential=token copy for the service.
  token_file = "/run/credentials/picket-prober.service/token"
  spool_dir  = "/var/lib/picket/spool"
  unit_path  = "/etc/systemd/system/picket-prober.service"
  installer  = "/usr/local/lib/picket/install-picket.sh"

  prober_yaml = templatefile("${path.module}/templates/prober.yaml.tftpl", {
    vantage         = var.vantage
    collector_urls  = var.collector_urls
    token_file      = local.token_file
    spool_dir       = local.spool_dir
    spool_max_bytes = var.spool_max_bytes
    asn_db          = var.asn_db
    metrics_listen  = var.metrics_listen
  })

  systemd_unit = templatefile("${path.module}/templates/picket-prober.service.tftpl", {
    vantage_id        = var.vantage.id
    blocked_addresses = var.blocked_addresses
    binary_path       = var.binary_path
    config_path       = local.config_path
    token_source      = local.token_source
  })

  install_script = templatefile("${path.module}/templates/install-picket.sh.tftpl", {
    version     = var.release.version
    url         = var.release.url
    sha256      = var.release.sha256
    binary_path = var.binary_path
  })

  cloud_config = merge(
    {
      hostname          = var.vantage.id
      preserve_hostname = false
      ssh_pwauth        = false
      disable_root      = true
      package_update    = true
      packages          = ["ca-certificates", "curl"]
      write_files = [
        { path = local.config_path, owner = "root:root", permissions = "0644", content = local.prober_yaml },
        { path = local.token_source, owner = "root:root", permissions = "0600", content = "${var.enrolment_token}\n" },
        { path = local.unit_path, owner = "root:root", permissions = "0644", content = local.systemd_unit },
        { path = local.installer, owner = "root:root", permissions = "0755", content = local.install_script },
      ]
      runcmd = [
        [local.installer],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "picket-prober.service"],
      ]
    },
    length(var.ssh_authorized_keys) > 0 ? { ssh_authorized_keys = var.ssh_authorized_keys } : {},
  )

  user_data = "#cloud-config\n${yamlencode(local.cloud_config)}"
}
