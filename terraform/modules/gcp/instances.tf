# A network of their own, so the default network's permissive rules
# (SSH from anywhere) do not apply to the probers.
resource "google_compute_network" "probers" {
  name                    = "${var.name_prefix}-probers"
  auto_create_subnetworks = true
}

# ICMP comes in for path MTU discovery and the echo replies and
# time-exceeded messages of ICMP checks and traceroute.
resource "google_compute_firewall" "icmp" {
  name          = "${var.name_prefix}-probers-icmp"
  network       = google_compute_network.probers.name
  direction     = "INGRESS"
  source_ranges = ["0.0.0.0/0"]
  target_tags   = ["picket-prober"]

  allow {
    protocol = "icmp"
  }
}

# GCP rules take one address family; the probers have IPv4 only.
resource "google_compute_firewall" "ssh" {
  count = length([for c in var.ssh_cidrs : c if can(cidrnetmask(c))]) > 0 ? 1 : 0

  name          = "${var.name_prefix}-probers-ssh"
  network       = google_compute_network.probers.name
  direction     = "INGRESS"
  source_ranges = [for c in var.ssh_cidrs : c if can(cidrnetmask(c))]
  target_tags   = ["picket-prober"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_compute_instance" "prober" {
  for_each = local.deploy

  name         = "${var.name_prefix}-${each.key}"
  zone         = "${each.value.provider_region}-${var.zone_suffix}"
  machine_type = var.size
  tags         = ["picket-prober"]
  labels       = merge(var.labels, { role = "picket-prober", vantage = each.key })

  boot_disk {
    initialize_params {
      image = var.image
      size  = 10
    }
  }

  network_interface {
    network = google_compute_network.probers.id
    # An ephemeral public IPv4 address.
    access_config {}
  }

  metadata = {
    user-data              = module.bootstrap[each.key].user_data
    block-project-ssh-keys = "true"
  }

  shielded_instance_config {
    enable_secure_boot = true
  }

  lifecycle {
    # cloud-init runs once: a new token, release or collector list needs
    # a new host.
    replace_triggered_by = [terraform_data.user_data[each.key]]
  }
}
