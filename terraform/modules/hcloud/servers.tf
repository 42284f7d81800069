resource "hcloud_firewall" "prober" {
  name   = "${var.name_prefix}-probers"
  labels = merge(var.labels, { role = "picket-prober" })

  # Probers only dial out. ICMP comes in for path MTU discovery and the
  # echo replies and time-exceeded messages of ICMP checks and traceroute.
  rule {
    direction  = "in"
    protocol   = "icmp"
    source_ips = ["0.0.0.0/0", "::/0"]
  }

  dynamic "rule" {
    for_each = length(var.ssh_cidrs) > 0 ? [1] : []
    content {
      direction  = "in"
      protocol   = "tcp"
      port       = "22"
      source_ips = var.ssh_cidrs
    }
  }
}

resource "hcloud_server" "prober" {
  for_each = local.deploy

  name         = "${var.name_prefix}-${each.key}"
  location     = each.value.provider_region
  server_type  = var.size
  image        = var.image
  user_data    = module.bootstrap[each.key].user_data
  firewall_ids = [hcloud_firewall.prober.id]
  labels       = merge(var.labels, { role = "picket-prober", vantage = each.key, region = each.value.region })

  public_net {
    ipv4_enabled = true
    ipv6_enabled = true
  }

  lifecycle {
    # cloud-init runs once: a new token, release or collector list needs
    # a new host.
    replace_triggered_by = [terraform_data.user_data[each.key]]
  }
}
