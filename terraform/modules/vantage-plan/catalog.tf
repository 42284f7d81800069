# What Picket knows about each provider: the ASN its instances' addresses
# are announced from, and for each of its regions the vantage region name
# (a shared vocabulary, so vantages of different providers in one metro
# count in the same region's quorum) and the city's coordinates (for the
# speed-of-light bound and the dashboard's map).
locals {
  catalog = {
    aws = {
      provider = "aws"
      asn      = 16509
      regions = {
        "us-east-1"      = { name = "us-east", lat = 39.04, lon = -77.49 }       # N. Virginia
        "us-east-2"      = { name = "us-east", lat = 39.96, lon = -83.00 }       # Ohio
        "us-west-1"      = { name = "us-west", lat = 37.35, lon = -121.96 }      # N. California
        "us-west-2"      = { name = "us-west", lat = 45.84, lon = -119.70 }      # Oregon
        "ca-central-1"   = { name = "ca-central", lat = 45.50, lon = -73.57 }    # Montreal
        "sa-east-1"      = { name = "sa-east", lat = -23.55, lon = -46.63 }      # São Paulo
        "eu-west-1"      = { name = "eu-west", lat = 53.35, lon = -6.26 }        # Dublin
        "eu-west-2"      = { name = "eu-west", lat = 51.51, lon = -0.13 }        # London
        "eu-west-3"      = { name = "eu-west", lat = 48.86, lon = 2.35 }         # Paris
        "eu-central-1"   = { name = "eu-central", lat = 50.11, lon = 8.68 }      # Frankfurt
        "eu-central-2"   = { name = "eu-central", lat = 47.37, lon = 8.54 }      # Zurich
        "eu-north-1"     = { name = "eu-north", lat = 59.33, lon = 18.07 }       # Stockholm
        "eu-south-1"     = { name = "eu-south", lat = 45.46, lon = 9.19 }        # Milan
        "eu-south-2"     = { name = "eu-south", lat = 41.65, lon = -0.88 }       # Spain (Aragón)
        "ap-northeast-1" = { name = "ap-northeast", lat = 35.68, lon = 139.69 }  # Tokyo
        "ap-northeast-2" = { name = "ap-northeast", lat = 37.57, lon = 126.98 }  # Seoul
        "ap-northeast-3" = { name = "ap-northeast", lat = 34.69, lon = 135.50 }  # Osaka
        "ap-southeast-1" = { name = "ap-southeast", lat = 1.35, lon = 103.82 }   # Singapore
        "ap-southeast-2" = { name = "au-southeast", lat = -33.87, lon = 151.21 } # Sydney
        "ap-southeast-3" = { name = "ap-southeast", lat = -6.21, lon = 106.85 }  # Jakarta
        "ap-south-1"     = { name = "ap-south", lat = 19.08, lon = 72.88 }       # Mumbai
        "ap-east-1"      = { name = "ap-east", lat = 22.32, lon = 114.17 }       # Hong Kong
        "af-south-1"     = { name = "af-south", lat = -33.92, lon = 18.42 }      # Cape Town
        "me-central-1"   = { name = "me-central", lat = 24.45, lon = 54.38 }     # UAE
      }
    }
    gcp = {
      provider = "gcp"
      # Google Cloud's customer addresses are announced from AS396982;
      # Google's own services use AS15169.
      asn = 396982
      regions = {
        "us-east1"                = { name = "us-east", lat = 33.20, lon = -80.01 }       # Moncks Corner
        "us-east4"                = { name = "us-east", lat = 39.04, lon = -77.49 }       # Ashburn
        "us-central1"             = { name = "us-central", lat = 41.26, lon = -95.86 }    # Council Bluffs
        "us-west1"                = { name = "us-west", lat = 45.60, lon = -121.18 }      # The Dalles
        "us-west2"                = { name = "us-west", lat = 34.05, lon = -118.24 }      # Los Angeles
        "northamerica-northeast1" = { name = "ca-central", lat = 45.50, lon = -73.57 }    # Montreal
        "southamerica-east1"      = { name = "sa-east", lat = -23.55, lon = -46.63 }      # São Paulo
        "europe-west1"            = { name = "eu-west", lat = 50.45, lon = 3.82 }         # St. Ghislain
        "europe-west2"            = { name = "eu-west", lat = 51.51, lon = -0.13 }        # London
        "europe-west3"            = { name = "eu-central", lat = 50.11, lon = 8.68 }      # Frankfurt
        "europe-west4"            = { name = "eu-west", lat = 53.44, lon = 6.83 }         # Eemshaven
        "europe-north1"           = { name = "eu-north", lat = 60.57, lon = 27.19 }       # Hamina
        "asia-northeast1"         = { name = "ap-northeast", lat = 35.68, lon = 139.69 }  # Tokyo
        "asia-southeast1"         = { name = "ap-southeast", lat = 1.34, lon = 103.70 }   # Singapore
        "asia-south1"             = { name = "ap-south", lat = 19.08, lon = 72.88 }       # Mumbai
        "asia-east1"              = { name = "ap-east", lat = 24.05, lon = 120.52 }       # Changhua
        "australia-southeast1"    = { name = "au-southeast", lat = -33.87, lon = 151.21 } # Sydney
        "me-central1"             = { name = "me-central", lat = 25.29, lon = 51.53 }     # Doha
        "africa-south1"           = { name = "af-south", lat = -26.20, lon = 28.05 }      # Johannesburg
      }
    }
    digitalocean = {
      provider = "digitalocean"
      asn      = 14061
      regions = {
        "nyc1" = { name = "us-east", lat = 40.71, lon = -74.01 }       # New York
        "nyc3" = { name = "us-east", lat = 40.71, lon = -74.01 }       # New York
        "atl1" = { name = "us-east", lat = 33.75, lon = -84.39 }       # Atlanta
        "sfo2" = { name = "us-west", lat = 37.77, lon = -122.42 }      # San Francisco
        "sfo3" = { name = "us-west", lat = 37.77, lon = -122.42 }      # San Francisco
        "tor1" = { name = "ca-central", lat = 43.65, lon = -79.38 }    # Toronto
        "ams3" = { name = "eu-west", lat = 52.37, lon = 4.90 }         # Amsterdam
        "lon1" = { name = "eu-west", lat = 51.51, lon = -0.13 }        # London
        "fra1" = { name = "eu-central", lat = 50.11, lon = 8.68 }      # Frankfurt
        "blr1" = { name = "ap-south", lat = 12.97, lon = 77.59 }       # Bangalore
        "sgp1" = { name = "ap-southeast", lat = 1.35, lon = 103.82 }   # Singapore
        "syd1" = { name = "au-southeast", lat = -33.87, lon = 151.21 } # Sydney
      }
    }
    vultr = {
      provider = "vultr"
      asn      = 20473
      regions = {
        "ewr" = { name = "us-east", lat = 40.74, lon = -74.17 }       # New Jersey
        "atl" = { name = "us-east", lat = 33.75, lon = -84.39 }       # Atlanta
        "mia" = { name = "us-east", lat = 25.76, lon = -80.19 }       # Miami
        "ord" = { name = "us-central", lat = 41.88, lon = -87.63 }    # Chicago
        "dfw" = { name = "us-central", lat = 32.78, lon = -96.80 }    # Dallas
        "sea" = { name = "us-west", lat = 47.61, lon = -122.33 }      # Seattle
        "sjc" = { name = "us-west", lat = 37.34, lon = -121.89 }      # Silicon Valley
        "lax" = { name = "us-west", lat = 34.05, lon = -118.24 }      # Los Angeles
        "yto" = { name = "ca-central", lat = 43.65, lon = -79.38 }    # Toronto
        "sao" = { name = "sa-east", lat = -23.55, lon = -46.63 }      # São Paulo
        "ams" = { name = "eu-west", lat = 52.37, lon = 4.90 }         # Amsterdam
        "lhr" = { name = "eu-west", lat = 51.51, lon = -0.13 }        # London
        "cdg" = { name = "eu-west", lat = 48.86, lon = 2.35 }         # Paris
        "fra" = { name = "eu-central", lat = 50.11, lon = 8.68 }      # Frankfurt
        "waw" = { name = "eu-central", lat = 52.23, lon = 21.01 }     # Warsaw
        "mad" = { name = "eu-south", lat = 40.42, lon = -3.70 }       # Madrid
        "sto" = { name = "eu-north", lat = 59.33, lon = 18.07 }       # Stockholm
        "nrt" = { name = "ap-northeast", lat = 35.68, lon = 139.69 }  # Tokyo
        "icn" = { name = "ap-northeast", lat = 37.57, lon = 126.98 }  # Seoul
        "itm" = { name = "ap-northeast", lat = 34.69, lon = 135.50 }  # Osaka
        "sgp" = { name = "ap-southeast", lat = 1.35, lon = 103.82 }   # Singapore
        "bom" = { name = "ap-south", lat = 19.08, lon = 72.88 }       # Mumbai
        "del" = { name = "ap-south", lat = 28.61, lon = 77.21 }       # Delhi
        "blr" = { name = "ap-south", lat = 12.97, lon = 77.59 }       # Bangalore
        "syd" = { name = "au-southeast", lat = -33.87, lon = 151.21 } # Sydney
        "mel" = { name = "au-southeast", lat = -37.81, lon = 144.96 } # Melbourne
        "jnb" = { name = "af-south", lat = -26.20, lon = 28.05 }      # Johannesburg
        "tlv" = { name = "me-central", lat = 32.09, lon = 34.78 }     # Tel Aviv
      }
    }
    hcloud = {
      provider = "hetzner"
      asn      = 24940
      regions = {
        "fsn1" = { name = "eu-central", lat = 50.48, lon = 12.37 }   # Falkenstein
        "nbg1" = { name = "eu-central", lat = 49.45, lon = 11.08 }   # Nuremberg
        "hel1" = { name = "eu-north", lat = 60.17, lon = 24.94 }     # Helsinki
        "ash"  = { name = "us-east", lat = 39.04, lon = -77.49 }     # Ashburn
        "hil"  = { name = "us-west", lat = 45.52, lon = -122.99 }    # Hillsboro
        "sin"  = { name = "ap-southeast", lat = 1.35, lon = 103.82 } # Singapore
      }
    }
  }
}
