#!/usr/bin/env bash
# Learning in the lab with real clients: the dataplane runs in learn mode
# and sends its flow records to the control plane; the learned policy is
# proposed, accepted and enforced; what the clients did keeps working and a
# connection never seen before is blocked.
source "$(dirname "$0")/lib.sh"
lab_up || exit 1
start_controlplane flows || exit 1
cd "$work"
printf 'version: 1\ndefaults: { action: deny, mode: learn }\n' >"$policy"
# Stored before the dataplane runs: exit 1 (not enforced yet), never 2.
"$cli" apply "$policy" -m "learn" --wait 0 >/dev/null; [ $? = 1 ] || exit 1
mkdir -p "$work/state"
# shellcheck disable=SC2046
dp_start $(controlplane_args) --state-dir "$work/state" --flow-export "tcp://127.0.0.1:$flow_port" \
  --udp-timeout 1 --tcp-closed-timeout 1 --tcp-fin-timeout 1 --sweep-period 200 --flow-denied-interval 1 || exit 1

# What the workloads do while the dataplane learns: everything passes.
for i in 1 2 3 4; do
  expect ok http 10.0.1.10 10.0.2.20 8080 "learn mode forwards web to app ($i)"
  expect ok tcp 10.0.1.10 10.0.2.20 5432 "learn mode forwards web to the database ($i)"
  expect ok udp 10.0.1.10 10.0.2.20 53 "learn mode forwards DNS ($i)"
done
expect ok tcp 10.0.1.10 10.0.2.20 22 "learn mode forwards even what policy would deny"
flows() { "$cli" status --json | python3 -c "import json,sys; print(json.load(sys.stdin).get('flow_store', {}).get('aggregates', 0))"; }
for _ in $(seq 50); do [ "$(flows)" -ge 4 ] && break; sleep 0.2; done
check "the control plane stored the flows ($(flows) aggregates)" [ "$(flows)" -ge 4 ]
"$cli" flows --since 1h >flows.txt 2>&1
grep -q "tcp/5432" flows.txt && pass_flows=1 || pass_flows=0
check "bulkhead flows lists the database connections" [ "$pass_flows" = 1 ]

"$cli" learn propose --since 1h -o learned.yaml --report report.txt
check "the proposal allows web to the database and HTTP to the app" grep -q "proto: tcp, ports: \[5432, 8080\]" learned.yaml
check "and DNS" grep -q "proto: udp, ports: \[53\]" learned.yaml
check "the one ssh connection is below the evidence threshold" grep -q ":22: 1 connection" report.txt
check "learn accept applies it" "$cli" learn accept --since 1h -m "learned in the lab" --wait 10
check "and the dataplane enforces it" [ "$("$lab" telemetry "$name" /bulkhead/policy mode)" = enforce ]

expect ok http 10.0.1.10 10.0.2.20 8080 "learned: web reaches the app"
expect ok tcp 10.0.1.10 10.0.2.20 5432 "learned: web reaches the database"
expect ok udp 10.0.1.10 10.0.2.20 53 "learned: DNS answers"
expect blocked tcp 10.0.1.10 10.0.2.20 22 "never learned: ssh to the app host is blocked"
expect blocked http 10.0.1.10 203.0.113.10 443 "never seen: the internet host is blocked"
# denied_ssh: how many denied attempts to port 22 the store holds, read as JSON lines.
denied_ssh() {
  "$cli" flows --since 1h --denied --json | python3 -c "
import json, sys
print(sum(int(r.get('denied', 0)) for r in map(json.loads, sys.stdin) if int(r.get('dst_port', 0)) == 22))"
}
for _ in $(seq 50); do [ "$(denied_ssh)" -gt 0 ] && break; sleep 0.2; done
check "the blocked attempt is a denied flow in the store" [ "$(denied_ssh)" -gt 0 ]
finish
