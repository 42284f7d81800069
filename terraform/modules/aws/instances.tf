locals {
  # The regions that get at least one prober.
  deploy_regions = toset([for v in values(local.deploy) : v.provider_region])
}

data "aws_ami" "image" {
  for_each = local.deploy_regions

  region      = each.key
  most_recent = true
  owners      = [var.image_owner]

  filter {
    name   = "name"
    values = [var.image]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

data "aws_vpc" "default" {
  for_each = local.deploy_regions

  region  = each.key
  default = true
}

resource "aws_security_group" "prober" {
  for_each = local.deploy_regions

  region      = each.key
  name        = "${var.name_prefix}-probers"
  description = "Picket probers: outbound anywhere, inbound ICMP and optionally SSH"
  vpc_id      = data.aws_vpc.default[each.key].id
  tags        = merge(var.labels, { Name = "${var.name_prefix}-probers" })

  # ICMP comes in for path MTU discovery and the echo replies and
  # time-exceeded messages of ICMP checks and traceroute.
  ingress {
    description = "ICMP"
    protocol    = "icmp"
    from_port   = -1
    to_port     = -1
    cidr_blocks = ["0.0.0.0/0"]
  }

  dynamic "ingress" {
    for_each = length(var.ssh_cidrs) > 0 ? [1] : []
    content {
      description      = "SSH"
      protocol         = "tcp"
      from_port        = 22
      to_port          = 22
      cidr_blocks      = [for c in var.ssh_cidrs : c if can(cidrnetmask(c))]
      ipv6_cidr_blocks = [for c in var.ssh_cidrs : c if !can(cidrnetmask(c))]
    }
  }

  egress {
    description      = "Probes and reports go anywhere"
    protocol         = "-1"
    from_port        = 0
    to_port          = 0
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }
}

resource "aws_instance" "prober" {
  for_each = local.deploy

  region                      = each.value.provider_region
  ami                         = data.aws_ami.image[each.value.provider_region].id
  instance_type               = var.size
  associate_public_ip_address = true
  vpc_security_group_ids      = [aws_security_group.prober[each.value.provider_region].id]
  user_data                   = module.bootstrap[each.key].user_data
  user_data_replace_on_change = true
  tags                        = merge(var.labels, { Name = "${var.name_prefix}-${each.key}", role = "picket-prober", vantage = each.key })

  # IMDSv2 only, one hop: the prober's unit also blocks the address.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted   = true
    volume_size = 8
    volume_type = "gp3"
  }

  lifecycle {
    # cloud-init runs once: a new token, release or collector list needs
    # a new host.
    replace_triggered_by = [terraform_data.user_data[each.key]]
  }
}
