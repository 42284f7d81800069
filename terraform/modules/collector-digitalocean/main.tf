locals {
  fqdns          = [for d in var.domains : "${d.name}.${d.zone}"]
  collector_urls = [for f in local.fqdns : "https://${f}"]
  listen_port    = 8080
}

# Checked at plan time, before anything is created: the collector's names
# must not share a fate with what the fleet watches.
resource "terraform_data" "failure_domain" {
  input = local.fqdns

  lifecycle {
    precondition {
      condition     = alltrue([for f in local.fqdns : alltrue([for m in var.monitored_domains : f != m && !endswith(f, ".${m}")])])
      error_message = "A collector name lies inside a monitored domain (${join(", ", var.monitored_domains)}): give the collector its own domain."
    }
  }
}

resource "random_password" "admin_token" {
  length  = 48
  special = false
}

resource "digitalocean_tag" "collector" {
  name = "${var.name_prefix}-collector"
}

resource "digitalocean_vpc" "collector" {
  name   = "${var.name_prefix}-collector"
  region = var.region
}

# The managed Postgres all replicas share. The collector connects directly
# (port 25060), not through the connection pool: advisory locks need a
# session of their own.
resource "digitalocean_database_cluster" "picket" {
  name                 = "${var.name_prefix}-results"
  engine               = "pg"
  version              = var.database.version
  size                 = var.database.size
  node_count           = var.database.node_count
  region               = var.region
  private_network_uuid = digitalocean_vpc.collector.id
  tags                 = [digitalocean_tag.collector.id]
}

resource "digitalocean_database_db" "picket" {
  cluster_id = digitalocean_database_cluster.picket.id
  name       = "picket"
}

# Only the collector droplets may connect.
resource "digitalocean_database_firewall" "picket" {
  cluster_id = digitalocean_database_cluster.picket.id

  rule {
    type  = "tag"
    value = digitalocean_tag.collector.name
  }
}

module "bootstrap" {
  source = "../collector-bootstrap"
  count  = var.replicas

  hostname = "${var.name_prefix}-collector-${count.index + 1}"
  listen   = "0.0.0.0:${local.listen_port}"
  # The cluster's own user: since Postgres 15 only a database's owner may
  # create tables in it, and the collector applies its migrations.
  store               = "postgres://${digitalocean_database_cluster.picket.user}@${digitalocean_database_cluster.picket.private_host}:${digitalocean_database_cluster.picket.port}/${digitalocean_database_db.picket.name}?sslmode=require"
  store_password      = digitalocean_database_cluster.picket.password
  admin_token         = random_password.admin_token.result
  retention           = var.retention
  targets             = var.targets
  extra_config        = var.extra_config
  secret_files        = var.secret_files
  release             = var.release
  ssh_authorized_keys = var.ssh_keys
}

resource "terraform_data" "user_data" {
  count = var.replicas
  input = sha256(module.bootstrap[count.index].user_data)
}

resource "digitalocean_droplet" "collector" {
  count = var.replicas

  name      = "${var.name_prefix}-collector-${count.index + 1}"
  region    = var.region
  size      = var.size
  image     = var.image
  ipv6      = true
  vpc_uuid  = digitalocean_vpc.collector.id
  user_data = module.bootstrap[count.index].user_data
  tags      = [digitalocean_tag.collector.id]

  lifecycle {
    replace_triggered_by = [terraform_data.user_data[count.index]]
  }
}

resource "digitalocean_certificate" "collector" {
  name    = "${var.name_prefix}-collector"
  type    = "lets_encrypt"
  domains = local.fqdns

  lifecycle {
    create_before_destroy = true
  }
}

# TLS ends here; the droplets serve plain HTTP on the private network.
resource "digitalocean_loadbalancer" "collector" {
  name                   = "${var.name_prefix}-collector"
  region                 = var.region
  vpc_uuid               = digitalocean_vpc.collector.id
  droplet_tag            = digitalocean_tag.collector.name
  redirect_http_to_https = true

  forwarding_rule {
    entry_port       = 443
    entry_protocol   = "https"
    target_port      = local.listen_port
    target_protocol  = "http"
    certificate_name = digitalocean_certificate.collector.name
  }

  forwarding_rule {
    entry_port      = 80
    entry_protocol  = "http"
    target_port     = local.listen_port
    target_protocol = "http"
  }

  healthcheck {
    protocol = "http"
    port     = local.listen_port
    path     = "/readyz"
  }

  depends_on = [digitalocean_droplet.collector]
}

resource "digitalocean_record" "collector" {
  for_each = { for d in var.domains : "${d.name}.${d.zone}" => d }

  domain = each.value.zone
  type   = "A"
  name   = each.value.name
  value  = digitalocean_loadbalancer.collector.ip
  ttl    = 300
}

resource "digitalocean_firewall" "collector" {
  name = "${var.name_prefix}-collector"
  tags = [digitalocean_tag.collector.id]

  # The API is reachable through the load balancer only.
  inbound_rule {
    protocol                  = "tcp"
    port_range                = tostring(local.listen_port)
    source_load_balancer_uids = [digitalocean_loadbalancer.collector.id]
  }

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
