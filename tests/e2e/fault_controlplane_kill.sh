#!/usr/bin/env bash
# kill -9 the control plane under traffic: real clients across the
# dataplane (a held connection echoing every 20 ms, a new connection every
# 100 ms) lose nothing and enforcement is unchanged; when the control plane
# returns on its store, the dataplane reconnects and reports the generation
# it kept enforcing.
source "$(dirname "$0")/lib.sh"
lab_up || exit 1
start_controlplane || exit 1
mkdir -p "$work/state"
# shellcheck disable=SC2046
dp_start $(controlplane_args) --state-dir "$work/state" || exit 1
check "apply is enforced" "$cli" apply "$policy" -m "lab policy" --wait 10
traffic 8 "$work/traffic.json"
sleep 2
kill -KILL "$cp_pid"; wait "$cp_pid" 2>/dev/null
expect blocked tcp 10.0.1.10 10.0.2.20 22 "with the control plane killed, what was denied stays denied"
sleep 2
restart_controlplane || exit 1
wait "$traffic_pid"
cat "$work/traffic.json"
check "no echo of the held connection was lost" [ "$(json_get "$work/traffic.json" "d['echoes_lost']")" = 0 ]
check "the held connection was never cut" [ "$(json_get "$work/traffic.json" "d['held']")" = True ]
check "every new connection was allowed" [ "$(json_get "$work/traffic.json" "d['new_failed']")" = 0 ]
check "and there were some ($(json_get "$work/traffic.json" "d['new_ok']"))" [ "$(json_get "$work/traffic.json" "d['new_ok']")" -ge 20 ]
state() { "$cli" status --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(' '.join(x['state'] + ':' + x['generation'] for x in d['dataplanes']))"; }
for _ in $(seq 100); do [ "$(state)" = "ENFORCED:1" ] && break; sleep 0.1; done
check "the dataplane reconnected and enforces generation 1 ($(state))" [ "$(state)" = "ENFORCED:1" ]
check "status exits 0: every configured dataplane enforces" "$cli" status
finish
