locals {
  entry    = local.catalog[var.cloud]
  provider = local.entry.provider
  asn      = coalesce(var.asn, local.entry.asn)
  letters  = "abcdefghijklmnopqrstuvwxyz"

  vantages = {
    for pair in setproduct(var.regions, range(var.per_region)) :
    "${pair[0]}-${local.provider}-${substr(local.letters, pair[1], 1)}" => {
      id              = "${pair[0]}-${local.provider}-${substr(local.letters, pair[1], 1)}"
      provider        = local.provider
      provider_region = pair[0]
      region          = lookup(var.region_names, pair[0], local.entry.regions[pair[0]].name)
      asn             = local.asn
      lat             = local.entry.regions[pair[0]].lat
      lon             = local.entry.regions[pair[0]].lon
    }
  }

  # Token values are secret, the ids they are keyed by are not: for_each
  # in the provider modules needs them in the clear.
  enrolled = nonsensitive(toset(keys(var.enrolment_tokens)))
  deploy   = sort([for id in keys(local.vantages) : id if contains(local.enrolled, id)])
  pending  = sort([for id in keys(local.vantages) : id if !contains(local.enrolled, id)])

  enrol_commands = {
    for id, v in local.vantages :
    id => "picket vantages add ${id} --region ${v.region} --provider ${v.provider} --asn ${v.asn} --lat=${v.lat} --lon=${v.lon}"
  }
}
