variables {
  hostname = "collector-1"
  release = {
    version = "v1.0.0"
    url     = "https://releases.picket.example/v1.0.0/picket-linux-amd64"
    sha256  = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
  }
}

run "defaults_to_the_embedded_store" {
  assert {
    condition     = yamldecode(output.collector_yaml).store == "sqlite:/var/lib/picket/picket.db" && yamldecode(output.collector_yaml).listen == "127.0.0.1:8080"
    error_message = "the default collector must use sqlite in its StateDirectory and listen on loopback"
  }
  assert {
    condition     = yamldecode(output.collector_yaml).admin_token_file == "/var/lib/picket/admin.token"
    error_message = "without an admin token the collector must make its own in its StateDirectory"
  }
  assert {
    condition     = yamldecode(output.collector_yaml).targets == { deny_private = true, allow = [] } && yamldecode(output.collector_yaml).retention == { raw = "14d", minute = "90d", hour = "2y" }
    error_message = "targets and retention must default to DESIGN §3"
  }
  assert {
    condition     = length([for l in split("\n", output.systemd_unit) : l if startswith(l, "LoadCredential=")]) == 0
    error_message = "no secret given, so no credential"
  }
}

run "keeps_every_secret_out_of_the_config" {
  variables {
    listen         = "0.0.0.0:8080"
    store          = "postgres://picket@db.internal:25060/picket?sslmode=require"
    store_password = "s3cr:et\\pw"
    admin_token    = "adm_0123456789abcdef"
    secret_files   = { "pd.key" = "routing-key-value" }
    extra_config = {
      notifiers = [{ name = "oncall", kind = "pagerduty", routing_key_file = "/run/credentials/picket-collector.service/pd.key", severities = ["page"] }]
    }
  }
  assert {
    condition     = yamldecode(output.collector_yaml).admin_token_file == "/run/credentials/picket-collector.service/admin.token"
    error_message = "a given admin token must be read from the systemd credential"
  }
  assert {
    condition     = !strcontains(output.collector_yaml, "s3cr") && !strcontains(output.collector_yaml, "adm_0123456789abcdef") && !strcontains(output.collector_yaml, "routing-key-value")
    error_message = "collector.yaml must not hold a secret"
  }
  assert {
    condition     = one([for f in yamldecode(output.user_data).write_files : f if f.path == "/etc/picket/secrets/pgpass"]).content == "*:*:*:*:s3cr\\:et\\\\pw\n"
    error_message = "the pgpass line must escape ':' and '\\'"
  }
  assert {
    condition     = alltrue([for f in yamldecode(output.user_data).write_files : f.permissions == "0600" if startswith(f.path, "/etc/picket/secrets/")]) && length([for f in yamldecode(output.user_data).write_files : f if startswith(f.path, "/etc/picket/secrets/")]) == 3
    error_message = "every secret file must be written 0600"
  }
  assert {
    condition = alltrue([for line in [
      "LoadCredential=admin.token:/etc/picket/secrets/admin.token",
      "LoadCredential=pgpass:/etc/picket/secrets/pgpass",
      "LoadCredential=pd.key:/etc/picket/secrets/pd.key",
      "Environment=PGPASSFILE=/run/credentials/picket-collector.service/pgpass",
    ] : contains(split("\n", output.systemd_unit), line)])
    error_message = "each secret must be handed over as a credential"
  }
  assert {
    condition     = yamldecode(output.collector_yaml).notifiers[0].routing_key_file == output.secret_paths["pd.key"]
    error_message = "extra_config must land in collector.yaml"
  }
}

run "hardens_the_unit" {
  assert {
    condition = alltrue([for line in [
      "DynamicUser=yes",
      "AmbientCapabilities=",
      "CapabilityBoundingSet=",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "StateDirectory=picket",
      "Restart=always",
    ] : contains(split("\n", output.systemd_unit), line)])
    error_message = "the unit lost a hardening line"
  }
}

run "rejects_a_password_in_the_store_url" {
  command = plan
  variables {
    store = "postgres://picket:hunter2@db.internal/picket"
  }
  expect_failures = [var.store]
}

run "rejects_a_privileged_port" {
  command = plan
  variables {
    listen = "0.0.0.0:443"
  }
  expect_failures = [var.listen]
}

run "rejects_extra_config_that_shadows_a_variable" {
  command = plan
  variables {
    extra_config = { store = "sqlite:/tmp/x.db" }
  }
  expect_failures = [var.extra_config]
}
