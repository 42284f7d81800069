#!/bin/sh
# Enrols every pending vantage of this fleet with the collector and adds
# its token to enrolment_tokens.auto.tfvars.json, which the next
# `terraform apply` reads. Needs picket, jq, and the collector's admin
# token: PICKET_COLLECTOR=https://... PICKET_TOKEN_FILE=admin.token ./enrol.sh
set -eu
cd "$(dirname "$0")"
admin=${PICKET_TOKEN_FILE:?set PICKET_TOKEN_FILE to the admin token file}
tokens=enrolment_tokens.auto.tfvars.json
umask 077
[ -f "$tokens" ] || echo '{"enrolment_tokens": {}}' >"$tokens"

terraform output -json enrol_commands | jq -r '.[]' | while read -r cmd; do
	id=$(echo "$cmd" | cut -d' ' -f4)
	echo "enrolling $id" >&2
	# The command is split into its words on purpose; `picket vantages add`
	# prints the new token once, on its last line.
	# shellcheck disable=SC2086
	if ! out=$(${cmd} --token-file "$admin" </dev/null); then
		echo "enrol.sh: enrolling $id failed; the vantages enrolled so far are in $tokens" >&2
		exit 1
	fi
	token=$(printf '%s\n' "$out" | tail -n 1)
	if [ -z "$token" ]; then
		echo "enrol.sh: picket printed no token for $id" >&2
		exit 1
	fi
	jq --arg id "$id" --arg token "$token" '.enrolment_tokens[$id] = $token' "$tokens" >"$tokens.new"
	mv "$tokens.new" "$tokens"
done
