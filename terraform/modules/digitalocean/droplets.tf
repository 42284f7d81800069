resource "digitalocean_tag" "prober" {
  name = "${var.name_prefix}-prober"
}

resource "digitalocean_droplet" "prober" {
  for_each = local.deploy

  name      = "${var.name_prefix}-${each.key}"
  region    = each.value.provider_region
  size      = var.size
  image     = var.image
  ipv6      = true
  user_data = module.bootstrap[each.key].user_data
  tags      = concat([digitalocean_tag.prober.id], [for k, v in var.labels : "${k}:${v}"])

  lifecycle {
    # cloud-init runs once: a new token, release or collector list needs
    # a new host.
    replace_triggered_by = [terraform_data.user_data[each.key]]
  }
}

resource "digitalocean_firewall" "prober" {
  name = "${var.name_prefix}-probers"
  tags = [digitalocean_tag.prober.id]

  # Probers only dial out. ICMP comes in for path MTU discovery and the
  # echo replies and time-exceeded messages of ICMP checks and traceroute.
  inbound_rule {
    protocol         = "icmp"
    source_addresses = ["0.0.0.0/0", "::/0"]
  }

  dynamic "inbound_rule" {
    for_each = length(var.ssh_cidrs) > 0 ? [1] : []
    content {
      protocol         = "tcp"
      port_range       = "22"
      source_addresses = var.ssh_cidrs
    }
  }

  outbound_rule {
    protocol              = "tcp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "udp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "icmp"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }
}
