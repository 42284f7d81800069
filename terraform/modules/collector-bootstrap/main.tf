locals {
  config_path     = "/etc/picket/collector.yaml"
  unit_name       = "picket-collector.service"
  unit_path       = "/etc/systemd/system/picket-collector.service"
  installer       = "/usr/local/lib/picket/install-picket.sh"
  secrets_dir     = "/etc/picket/secrets"
  credentials_dir = "/run/credentials/picket-collector.service"

  has_admin_token = nonsensitive(var.admin_token != null)
  has_password    = nonsensitive(var.store_password != null)
  secret_names    = sort(nonsensitive(keys(var.secret_files)))

  admin_token_file = local.has_admin_token ? "${local.credentials_dir}/admin.token" : "/var/lib/picket/admin.token"

  # Every secret is a root-only file that systemd copies into the
  # service's credentials directory, readable by the dynamic user alone.
  credentials = concat(
    local.has_admin_token ? [{ name = "admin.token", source = "${local.secrets_dir}/admin.token" }] : [],
    local.has_password ? [{ name = "pgpass", source = "${local.secrets_dir}/pgpass" }] : [],
    [for n in local.secret_names : { name = n, source = "${local.secrets_dir}/${n}" }],
  )

  # A pgpass line that matches any host, port, database and user; ':' and
  # '\' in the password are escaped as the format requires.
  pgpass = local.has_password ? "*:*:*:*:${replace(replace(var.store_password, "\\", "\\\\"), ":", "\\:")}\n" : ""

  secret_contents = merge(
    local.has_admin_token ? { "admin.token" = "${var.admin_token}\n" } : {},
    local.has_password ? { "pgpass" = local.pgpass } : {},
    { for n in local.secret_names : n => var.secret_files[n] },
  )

  collector_yaml = templatefile("${path.module}/templates/collector.yaml.tftpl", {
    listen           = var.listen
    store            = var.store
    admin_token_file = local.admin_token_file
    asn_db           = var.asn_db
    retention        = var.retention
    targets          = var.targets
    extra            = length(keys(var.extra_config)) > 0 ? trimspace(yamlencode(var.extra_config)) : ""
  })

  systemd_unit = templatefile("${path.module}/templates/picket-collector.service.tftpl", {
    binary_path     = var.binary_path
    config_path     = local.config_path
    credentials     = local.credentials
    credentials_dir = local.credentials_dir
    pgpass          = local.has_password
  })

  install_script = templatefile("${path.module}/templates/install-picket.sh.tftpl", {
    version     = var.release.version
    url         = var.release.url
    sha256      = var.release.sha256
    binary_path = var.binary_path
  })

  cloud_config = merge(
    {
      hostname          = var.hostname
      preserve_hostname = false
      ssh_pwauth        = false
      disable_root      = true
      package_update    = true
      packages          = ["ca-certificates", "curl"]
      write_files = concat(
        [
          { path = local.config_path, owner = "root:root", permissions = "0644", content = local.collector_yaml },
          { path = local.unit_path, owner = "root:root", permissions = "0644", content = local.systemd_unit },
          { path = local.installer, owner = "root:root", permissions = "0755", content = local.install_script },
        ],
        [for c in local.credentials : { path = c.source, owner = "root:root", permissions = "0600", content = local.secret_contents[c.name] }],
      )
      runcmd = [
        [local.installer],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", local.unit_name],
      ]
    },
    length(var.ssh_authorized_keys) > 0 ? { ssh_authorized_keys = var.ssh_authorized_keys } : {},
  )

  user_data = "#cloud-config\n${yamlencode(local.cloud_config)}"
}
