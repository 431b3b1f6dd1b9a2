#!/usr/bin/env bash
# kill -9 the dataplane and restart it on its state directory: it enforces
# the last generation it was given before it forwards a packet, even with
# the control plane away and a --policy file that says otherwise.
source "$(dirname "$0")/lib.sh"
lab_up || exit 1
start_controlplane || exit 1
mkdir -p "$work/state"
# shellcheck disable=SC2046
dp_start $(controlplane_args) --state-dir "$work/state" || exit 1
sed '/id: web-to-db/d' "$policy" >"$work/no-db.yaml"
check "generation 1 is enforced" "$cli" apply "$work/no-db.yaml" -m "close the database" --wait 10
expect blocked tcp 10.0.1.10 10.0.2.20 5432 "generation 1 closes the database"
# Nothing can push now: what the restarted dataplane enforces comes from
# its state directory.
kill -TERM "$cp_pid"; wait "$cp_pid" 2>/dev/null
"$lab" dp-kill "$name"
# shellcheck disable=SC2046
dp_start $(controlplane_args) --state-dir "$work/state" || exit 1
log="$BULKHEAD_LAB_RUN/$name/dp.log"
check "it boots on the kept generation 1, not the --policy file" grep -q "kept in .* (generation 1 from the control plane); .* not loaded" "$log"
check "ready on generation 1: the set was in force before any port forwarded" grep -q "ready: .*policy generation 1 from" "$log"
expect blocked tcp 10.0.1.10 10.0.2.20 5432 "the database stays closed after the restart"
expect ok http 10.0.1.10 10.0.2.20 8080 "HTTP stays open"
check "the dataplane reports generation 1" [ "$(dp_generation)" = 1 ]
finish
