#!/usr/bin/env bash
# Installs the system packages that `make test` drives, when they are
# missing: Debian's packages only, as root. A run without root skips the
# install; the tests that need those tools then skip with a reason (never
# under CI=true).
set -euo pipefail

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
# terraform/tftest: cloud-init schema, systemd-analyze verify, the installer's curl.
command -v cloud-init >/dev/null 2>&1 || need+=(cloud-init)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
# results/postgres, e2e: a throwaway PostgreSQL cluster from the server binaries.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# collector/dashboard: the browser test drives headless Chromium.
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)

if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
	echo "test-deps: not root; not installing ${need[*]}" >&2
	exit 0
fi
echo "test-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
