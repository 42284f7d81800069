variables {
  vantage = {
    id       = "hel1-hetzner-a"
    region   = "eu-north"
    provider = "hetzner"
    asn      = 24940
    lat      = 60.17
    lon      = 24.94
  }
  collector_urls  = ["https://collector.picket-a.example", "https://collector.picket-b.example.net"]
  enrolment_token = "pkt_vantage_0123456789"
  release = {
    version = "v1.0.0"
    url     = "https://releases.picket.example/v1.0.0/picket-linux-amd64.tar.gz"
    sha256  = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
  }
  ssh_authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example"]
}

run "writes_the_identity_and_collectors" {
  assert {
    condition     = yamldecode(output.prober_yaml).vantage == { id = "hel1-hetzner-a", region = "eu-north", provider = "hetzner", asn = 24940, location = { lat = 60.17, lon = 24.94 } }
    error_message = "prober.yaml vantage section does not match the input"
  }
  assert {
    condition     = yamldecode(output.prober_yaml).collectors == ["https://collector.picket-a.example", "https://collector.picket-b.example.net"]
    error_message = "prober.yaml collectors must keep the given order"
  }
  assert {
    condition     = yamldecode(output.prober_yaml).token_file == "/run/credentials/picket-prober.service/token"
    error_message = "token_file must point at the systemd credential"
  }
  assert {
    condition     = yamldecode(output.prober_yaml).spool == { dir = "/var/lib/picket/spool", max_bytes = "512MiB" }
    error_message = "the spool must live in the unit's StateDirectory"
  }
}

run "keeps_the_token_root_only" {
  assert {
    condition     = startswith(output.user_data, "#cloud-config\n")
    error_message = "user-data must be a #cloud-config document"
  }
  assert {
    condition     = one([for f in yamldecode(output.user_data).write_files : f if f.path == "/etc/picket/token"]).permissions == "0600"
    error_message = "the token file must be 0600"
  }
  assert {
    condition     = one([for f in yamldecode(output.user_data).write_files : f if f.path == "/etc/picket/token"]).content == "pkt_vantage_0123456789\n"
    error_message = "the token file must hold the token"
  }
  assert {
    condition     = !strcontains(output.prober_yaml, "pkt_vantage_0123456789") && !strcontains(output.systemd_unit, "pkt_vantage_0123456789")
    error_message = "the token must appear only in the token file"
  }
  assert {
    condition     = length(output.user_data) < 16384
    error_message = "user-data must fit AWS's 16 KiB limit"
  }
}

run "hardens_the_unit" {
  assert {
    condition = alltrue([for line in [
      "DynamicUser=yes",
      "AmbientCapabilities=CAP_NET_RAW",
      "CapabilityBoundingSet=CAP_NET_RAW",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "StateDirectory=picket picket/spool",
      "Restart=always",
      "LoadCredential=token:/etc/picket/token",
      "IPAddressDeny=169.254.169.254/32 fd00:ec2::254/128",
    ] : contains(split("\n", output.systemd_unit), line)])
    error_message = "the unit lost a hardening line"
  }
  assert {
    condition     = length([for l in split("\n", output.systemd_unit) : l if startswith(l, "AmbientCapabilities=") || startswith(l, "CapabilityBoundingSet=")]) == 2
    error_message = "the unit must grant capabilities in exactly one AmbientCapabilities and one CapabilityBoundingSet line"
  }
  assert {
    condition     = yamldecode(output.user_data).runcmd[0] == ["/usr/local/lib/picket/install-picket.sh"] && yamldecode(output.user_data).runcmd[2] == ["systemctl", "enable", "--now", "picket-prober.service"]
    error_message = "cloud-init must install the release before it starts the unit"
  }
}

run "pins_the_release" {
  assert {
    condition     = strcontains(output.install_script, "want='9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'") && strcontains(output.install_script, "sha256sum --check --strict")
    error_message = "the installer must check the pinned sha256"
  }
}

run "leaves_out_what_the_prober_discovers" {
  variables {
    vantage = { id = "ams3-digitalocean-a", region = "eu-west", provider = "digitalocean" }
  }
  assert {
    condition     = yamldecode(output.prober_yaml).vantage == { id = "ams3-digitalocean-a", region = "eu-west", provider = "digitalocean" }
    error_message = "asn and location must be absent when not given"
  }
}

run "rejects_plain_http_collectors" {
  command = plan
  variables {
    collector_urls = ["http://collector.picket-a.example"]
  }
  expect_failures = [var.collector_urls]
}

run "rejects_a_release_without_checksum" {
  command = plan
  variables {
    release = { version = "v1.0.0", url = "https://releases.picket.example/picket", sha256 = "" }
  }
  expect_failures = [var.release]
}

run "rejects_an_id_that_is_not_a_hostname" {
  command = plan
  variables {
    vantage = { id = "Hel1_Hetzner", region = "eu-north", provider = "hetzner" }
  }
  expect_failures = [var.vantage]
}

run "rejects_half_a_location" {
  command = plan
  variables {
    vantage = { id = "hel1-hetzner-a", region = "eu-north", provider = "hetzner", lat = 60.17 }
  }
  expect_failures = [var.vantage]
}

run "rejects_a_token_with_a_line_break" {
  command = plan
  variables {
    enrolment_token = "abc\ndef"
  }
  expect_failures = [var.enrolment_token]
}

run "can_unblock_the_metadata_address" {
  variables {
    blocked_addresses = []
  }
  assert {
    condition     = !strcontains(output.systemd_unit, "IPAddressDeny")
    error_message = "an empty blocked_addresses must drop IPAddressDeny"
  }
}
