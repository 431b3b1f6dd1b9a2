#!/usr/bin/env bash
# A dataplane killed between its Ack and its state write: the control plane
# was told generation 2 is enforced, the state directory still holds
# generation 1. The documented outcome: restarted, the dataplane enforces
# generation 1 (the last it kept) until the control plane, at its first
# Hello, brings it to generation 2 again. The moment is made exactly by
# putting generation 1's kept file back before the restart.
source "$(dirname "$0")/lib.sh"
lab_up || exit 1
start_controlplane || exit 1
mkdir -p "$work/state"
# shellcheck disable=SC2046
dp_start $(controlplane_args) --state-dir "$work/state" || exit 1
check "generation 1 is enforced" "$cli" apply "$policy" -m "open" --wait 10
for _ in $(seq 50); do [ -s "$work/state/ruleset.pb" ] && break; sleep 0.1; done
cp "$work/state/ruleset.pb" "$work/gen1.pb"
sed '/id: web-to-db/d' "$policy" >"$work/no-db.yaml"
check "generation 2 is acknowledged" "$cli" apply "$work/no-db.yaml" -m "close the database" --wait 10
expect blocked tcp 10.0.1.10 10.0.2.20 5432 "generation 2 closes the database"
# The control plane away, so that the restart shows what the state holds.
kill -TERM "$cp_pid"; wait "$cp_pid" 2>/dev/null
"$lab" dp-kill "$name"
cp "$work/gen1.pb" "$work/state/ruleset.pb"
# shellcheck disable=SC2046
dp_start $(controlplane_args) --state-dir "$work/state" || exit 1
check "restarted, it enforces generation 1, the last it kept" [ "$(dp_generation)" = 1 ]
expect ok tcp 10.0.1.10 10.0.2.20 5432 "so the database is open again, until the control plane returns"
restart_controlplane || exit 1
for _ in $(seq 100); do [ "$(dp_generation)" = 2 ] && break; sleep 0.1; done
check "at its first Hello the control plane brings it to generation 2" [ "$(dp_generation)" = 2 ]
expect blocked tcp 10.0.1.10 10.0.2.20 5432 "and the database is closed again"
check "status: every configured dataplane enforces generation 2" "$cli" status
finish
