#!/usr/bin/env bash
# Learning end to end with the real binaries: a dataplane in learn mode
# reads a capture of modelled datacenter traffic (net_pcap), sends its flow
# records over ZeroMQ with CurveZMQ to the control plane's flow store; the
# learner proposes a policy from the store, `learn accept` applies it; a
# dataplane booted on that generation then passes the same capture with no
# drop, and blocks a capture of new flows (a scan, one-off connections).
source "$(dirname "$0")/lib.sh" learn

cd "$work"
python3 "$src/tools/learn/enterprise.py" --out train --seed 11 --flows 1500 --hours 1 --no-anomalies >/dev/null
python3 "$src/tools/learn/enterprise.py" --out new --seed 12 --flows 300 --hours 1 >/dev/null
for k in cp dp; do "$cli" keys generate "$k" >/dev/null || exit 1; done
export BULKHEAD_CONTROLPLANE="ipc://$work/cli.sock"
"$build/controlplane/bulkhead-controlplane" --store store --key cp.key --dataplane-key dp.pub \
  --listen "tcp://127.0.0.1:$port" --flow-listen "tcp://127.0.0.1:$port2" --flow-log flows.jsonl \
  --cli "$BULKHEAD_CONTROLPLANE" >cp.log 2>&1 &
pids+=($!)
printf 'version: 1\ndefaults: { action: deny, mode: learn }\n' >learn.yaml
for _ in $(seq 50); do "$cli" history >/dev/null 2>&1 && break; sleep 0.1; done
# Stored before any dataplane runs: exit 1 (not enforced yet), never 2.
"$cli" apply learn.yaml -m "learn first" --wait 0 >/dev/null; [ $? = 1 ] || fail "apply the learn-mode policy"

dataplane() {  # prefix capture extra...
  local prefix=$1 capture=$2; shift 2
  "$build/dataplane/bulkhead-dataplane" --no-huge -m 512 --no-pci -l 0,1 --file-prefix "$prefix$$" \
    --vdev=net_pcap0,rx_pcap="$capture" --vdev=net_null1,no-rx=1 -- --mbufs 8192 "$@" >"$prefix.log" 2>&1 &
  pids+=($!)
  eval "pid_$prefix=$!"
}
wait_rx() {  # prefix packets
  for _ in $(seq 150); do [ "$(tel "$1$$" /bulkhead/stats rx_packets 2>/dev/null)" = "$2" ] && return 0; sleep 0.1; done
  return 1
}
drops() { tel "$1$$" /bulkhead/drops "$2"; }

# 1. Learn: every connection of the capture becomes a start and an end record.
mkdir -p state
dataplane learner train/period1.pcap --policy learn.yaml --controlplane "tcp://127.0.0.1:$port" \
  --controlplane-key cp.pub --key dp.key --id learner --state-dir state \
  --flow-export "tcp://127.0.0.1:$port2" --udp-timeout 1 --tcp-closed-timeout 1 --tcp-fin-timeout 1 \
  --tcp-syn-timeout 1 --tcp-established-timeout 2 --sweep-period 100
n_train=$(pcap_frames train/period1.pcap | cut -d' ' -f1)
conns=$(python3 -c "import json; print(len(json.load(open('train/truth.json'))['periods'][0]['flows']))")
check "the learning dataplane read the whole capture ($n_train packets)" wait_rx learner "$n_train"
records() { "$cli" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['flow_store']['records'])"; }
for _ in $(seq 100); do [ "$(records)" -ge $((2 * conns)) ] && break; sleep 0.1; done
check "the flow store received a start and an end per connection ($(records) of $((2 * conns)))" [ "$(records)" -ge $((2 * conns)) ]
check "no record was refused or lost" [ "$("$cli" status --json | python3 -c "import json,sys; f=json.load(sys.stdin)['flow_store']; print(int(f['rejected_records']) + int(f['rejected_batches']) + int(f['lost_by_dataplanes']))")" = 0 ]
python3 - flows.jsonl <<'EOF' && pass "flow records are logged as JSON lines" || fail "flows.jsonl: $(head -2 flows.jsonl)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert any(j["event"] == "end" for j in lines) and any(j["verdict"] == "would-deny" for j in lines)
EOF
check "the flow log is not for every local user" [ "$(stat -c %a flows.jsonl)" = 640 ]
python3 - "$("$cli" status --json)" "$(wc -l <flows.jsonl)" <<'EOF' && pass "status shows the flow log's lines, and that its caps kept nothing out" || fail "status: flow_store.log"
import json, sys
log = json.loads(sys.argv[1])["flow_store"]["log"]
assert 0 < int(log["records"]) <= int(sys.argv[2]) and int(log["dropped_rate"]) == 0 and int(log["dropped_errors"]) == 0, log
EOF
n_window=$("$cli" flows --since 2026-01-01T00:00:00Z --until 2026-01-02T00:00:00Z --json --top 0 | wc -l)
check "a time window before the traffic holds no flow" [ "$n_window" = 0 ]
n_window=$("$cli" flows --since 1h --until "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" --json --top 0 | wc -l)
check "a window around it holds them ($n_window)" [ "$n_window" -gt 100 ]
out=$("$cli" flows --since 1h --port 5432 --json)
python3 -c "import json,sys; v=[json.loads(l) for l in sys.argv[1].splitlines()]; assert v and all(j['dst_port'] == 5432 for j in v)" "$out" \
  && pass "bulkhead flows filters by port" || fail "flows --port: $out"

# 2. Propose from the store, check, accept.
# --min-flows 1: every connection of this clean capture is evidence enough,
# so the replay below must pass all of it.
"$cli" learn propose --since 1h --min-flows 1 -o learned.yaml --report report.txt || fail "learn propose"
check "the proposal validates as it is" "$cli" policy validate learned.yaml
grep -q "from: internet, to: https" learned.yaml && pass "public clients make the web tier an internet service" || fail "proposal: $(cat learned.yaml)"
grep -q "segments:" report.txt && pass "the report lists the inferred segments" || fail "report: $(cat report.txt)"
"$cli" learn diff >diff.txt; rc=$?
[ $rc = 1 ] && grep -q "added rules" diff.txt && pass "learn diff shows the rules it adds" || fail "learn diff: $rc $(cat diff.txt)"
out=$("$cli" simulate learned.yaml --since 1h --against learn.yaml 2>&1); rc=$?
[ $rc = 0 ] && grep -q "0 connections newly blocked" <<<"$out" && pass "simulate: nothing seen is newly blocked" || fail "simulate: $rc $out"
printf 'version: 1\nrules:\n  - { id: web-only, to: 10.10.1.0/24, proto: tcp, ports: [443], action: allow }\n' >narrow.yaml
out=$("$cli" simulate narrow.yaml --since 1h --against learned.yaml --json); rc=$?
[ $rc = 1 ] && python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert d['newly_blocked'] > 0 and d['blocked'] and d['rules'][0]['allowed'] > 0" "$out" \
  && pass "simulate lists what a narrower policy would newly block" || fail "simulate narrow: $rc ${out:0:300}"
"$cli" learn accept --since 1h --min-flows 1 -m "learned" >accept.txt 2>&1 || fail "learn accept: $(cat accept.txt)"
for _ in $(seq 50); do [ "$(tel learner$$ /bulkhead/policy generation)" = 2 ] && break; sleep 0.1; done
check "the learning dataplane enforces the accepted generation" [ "$(tel learner$$ /bulkhead/policy generation)" = 2 ]
"$cli" history | grep -q "learned" && pass "the accepted policy is in the audit trail" || fail "history"
kill -TERM "$pid_learner"; sleep 0.5

# 3. The learned policy passes what it learned from, and blocks what it never saw.
cp -r state state2
dataplane replay train/period1.pcap --state-dir state
check "the replay read the whole capture" wait_rx replay "$n_train"
total=$(tel "replay$$" /bulkhead/drops | python3 -c "import json,sys; print(sum(json.load(sys.stdin)['/bulkhead/drops'].values()))")
check "the learned policy drops none of the learned traffic ($total dropped)" [ "$total" = 0 ]
check "and enforces it" [ "$(tel "replay$$" /bulkhead/policy mode)" = enforce ]
n_new=$(pcap_frames new/period1.pcap | cut -d' ' -f1)
dataplane fresh new/period1.pcap --state-dir state2
check "the new capture was read" wait_rx fresh "$n_new"
denied=$(drops fresh policy_deny)
check "new flows are blocked ($denied packets denied)" [ "$denied" -ge 150 ]

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; echo "--- cp.log"; cat cp.log; exit 1; }
