#!/usr/bin/env bash
# bulkhead apply changes what real clients can reach across the dataplane,
# and killing the control plane leaves enforcement as it was.
source "$(dirname "$0")/lib.sh"
lab_up || exit 1
start_controlplane || exit 1
mkdir -p "$work/state"
# shellcheck disable=SC2046
dp_start $(controlplane_args) --state-dir "$work/state" || exit 1
expect ok tcp 10.0.1.10 10.0.2.20 5432 "the file policy allows web to the database"

sed '/id: web-to-db/d' "$policy" >"$work/no-db.yaml"
check "bulkhead apply is enforced by the dataplane" "$cli" apply "$work/no-db.yaml" -m "close the database" --wait 10
expect blocked tcp 10.0.1.10 10.0.2.20 5432 "after apply, web no longer reaches the database"
expect ok http 10.0.1.10 10.0.2.20 8080 "other rules still hold"

check "re-applying the first policy is enforced too" "$cli" apply "$policy" -m "reopen" --wait 10
expect ok tcp 10.0.1.10 10.0.2.20 5432 "web reaches the database again"

"$cli" apply "$work/no-db.yaml" -m "close again" --wait 10 >/dev/null
kill -TERM "$cp_pid"; wait "$cp_pid" 2>/dev/null
expect blocked tcp 10.0.1.10 10.0.2.20 5432 "with the control plane gone, the database stays closed"
expect ok http 10.0.1.10 10.0.2.20 8080 "and HTTP stays open"
finish
