locals {
  # Vultr firewall rules take an address family, a network and a prefix
  # length apiece; cidrnetmask only accepts IPv4.
  ssh_rules = {
    for c in var.ssh_cidrs : c => {
      ip_type     = can(cidrnetmask(c)) ? "v4" : "v6"
      subnet      = cidrhost(c, 0)
      subnet_size = tonumber(split("/", c)[1])
    }
  }
}

resource "vultr_firewall_group" "prober" {
  description = "${var.name_prefix} probers"
}

# Probers only dial out. ICMP comes in for path MTU discovery and the echo
# replies and time-exceeded messages of ICMP checks and traceroute.
resource "vultr_firewall_rule" "icmp" {
  for_each = { v4 = "0.0.0.0", v6 = "::" }

  firewall_group_id = vultr_firewall_group.prober.id
  protocol          = "icmp"
  ip_type           = each.key
  subnet            = each.value
  subnet_size       = 0
  notes             = "icmp"
}

resource "vultr_firewall_rule" "ssh" {
  for_each = local.ssh_rules

  firewall_group_id = vultr_firewall_group.prober.id
  protocol          = "tcp"
  ip_type           = each.value.ip_type
  subnet            = each.value.subnet
  subnet_size       = each.value.subnet_size
  port              = "22"
  notes             = "ssh"
}

resource "vultr_instance" "prober" {
  for_each = local.deploy

  label             = "${var.name_prefix}-${each.key}"
  hostname          = each.key
  region            = each.value.provider_region
  plan              = var.size
  os_id             = tonumber(var.image)
  enable_ipv6       = true
  activation_email  = false
  user_data         = module.bootstrap[each.key].user_data
  firewall_group_id = vultr_firewall_group.prober.id
  tags              = concat(["picket-prober"], [for k, v in var.labels : "${k}:${v}"])

  lifecycle {
    # cloud-init runs once: a new token, release or collector list needs
    # a new host.
    replace_triggered_by = [terraform_data.user_data[each.key]]
  }
}
