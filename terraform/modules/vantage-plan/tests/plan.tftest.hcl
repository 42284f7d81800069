variables {
  cloud   = "hcloud"
  regions = ["hel1", "ash"]
}

run "names_vantages_after_region_provider_and_letter" {
  variables {
    per_region = 2
  }
  assert {
    condition     = keys(output.vantages) == ["ash-hetzner-a", "ash-hetzner-b", "hel1-hetzner-a", "hel1-hetzner-b"]
    error_message = "expected two vantages in each region"
  }
  assert {
    condition     = output.vantages["hel1-hetzner-b"] == { id = "hel1-hetzner-b", provider = "hetzner", provider_region = "hel1", region = "eu-north", asn = 24940, lat = 60.17, lon = 24.94 }
    error_message = "hel1 must map to eu-north, AS24940, Helsinki"
  }
}

run "deploys_only_enrolled_vantages" {
  variables {
    enrolment_tokens = { "hel1-hetzner-a" = "t1", "sgp1-digitalocean-a" = "t2" }
  }
  assert {
    condition     = output.deploy == tolist(["hel1-hetzner-a"]) && output.pending == tolist(["ash-hetzner-a"])
    error_message = "only hel1-hetzner-a has a token; tokens of other modules must be ignored"
  }
  assert {
    condition     = output.enrol_commands["ash-hetzner-a"] == "picket vantages add ash-hetzner-a --region us-east --provider hetzner --asn 24940 --lat=39.04 --lon=-77.49"
    error_message = "the enrol command must carry region, provider, ASN and location"
  }
}

run "lets_the_operator_rename_regions_and_asn" {
  variables {
    cloud        = "gcp"
    regions      = ["europe-west3"]
    region_names = { "europe-west3" = "de-frankfurt" }
    asn          = 15169
  }
  assert {
    condition     = output.vantages["europe-west3-gcp-a"].region == "de-frankfurt" && output.vantages["europe-west3-gcp-a"].asn == 15169
    error_message = "region_names and asn must override the catalog"
  }
}

run "knows_each_providers_asn" {
  variables {
    cloud   = "aws"
    regions = ["us-east-1"]
  }
  assert {
    condition     = output.asn == 16509 && output.provider == "aws"
    error_message = "AWS is AS16509"
  }
}

run "knows_gcp" {
  variables {
    cloud   = "gcp"
    regions = ["us-central1"]
  }
  assert {
    condition     = output.asn == 396982 && output.vantages["us-central1-gcp-a"].region == "us-central"
    error_message = "Google Cloud is AS396982"
  }
}

run "knows_digitalocean" {
  variables {
    cloud   = "digitalocean"
    regions = ["sgp1"]
  }
  assert {
    condition     = output.asn == 14061 && output.vantages["sgp1-digitalocean-a"].region == "ap-southeast"
    error_message = "DigitalOcean is AS14061"
  }
}

run "knows_vultr" {
  variables {
    cloud   = "vultr"
    regions = ["nrt"]
  }
  assert {
    condition     = output.asn == 20473 && output.vantages["nrt-vultr-a"].region == "ap-northeast"
    error_message = "Vultr is AS20473"
  }
}

run "rejects_an_unknown_region" {
  command = plan
  variables {
    regions = ["hel1", "fra1"]
  }
  expect_failures = [var.regions]
}

run "rejects_a_repeated_region" {
  command = plan
  variables {
    regions = ["hel1", "hel1"]
  }
  expect_failures = [var.regions]
}

run "rejects_more_than_26_per_region" {
  command = plan
  variables {
    per_region = 27
  }
  expect_failures = [var.per_region]
}
