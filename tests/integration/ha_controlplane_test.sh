#!/usr/bin/env bash
# Two control planes sharing a store in a 3-member etcd cluster and a
# dataplane with a session to each: one leads,
# the other answers reads and passes changes on to the leader (stored once,
# the answer saying so; the same request id again, to either, stores
# nothing); kill -9 the leader and the standby leads within two lease
# periods and answers that id again with the same generation, which the
# dataplane enforces under the new leader's term, no generation stored
# twice or skipped; a standby whose leader is frozen refuses changes (no
# connection) and keeps answering meanwhile; a leader frozen past its
# lease, woken, stores nothing when the same change is sent to it again;
# one etcd member killed, everything keeps working; a standby's history
# follows a change at once and its reads ask etcd nothing while its watch
# delivers, and a leader stopped with SIGTERM is replaced
# within milliseconds (the standby's watch), not at a poll.
source "$(dirname "$0")/lib.sh" ha
source "$src/tests/common/etcd_cluster.sh"
source "$src/tests/common/ha_controlplanes.sh"
etcd_start "$work/etcd" || exit $?

cd "$work"
for k in cp dp1; do "$cli" keys generate "$k" >/dev/null || exit 1; done
ttl=3
store="etcd://$etcd_endpoints/bh"
{ read -r port_a; read -r port_b; } < <(python3 "$src/tests/common/free_ports.py" 2)
dataplane_keys=(dp1.pub)

start_cp a "$port_a"
for _ in $(seq 100); do leads a && break; sleep 0.1; done
check "the first control plane leads" leads a
start_cp b "$port_b"
for _ in $(seq 100); do [ "$(leader_seen_by b)" = standby ] && [ -S b.sock ] && break; sleep 0.1; done
out=$(st a)
check "status shows the leader and the standby" python3 -c "
import json, sys
d = json.loads(sys.argv[1])
roles = {c['id']: c['leader'] for c in d['controllers']}
assert roles == {'a': True, 'b': False}, roles
assert int(d['leader_term']) > 0 and d['store'] == sys.argv[2], d
" "$out" "$store"
check "status in text names the roles" grep -q "standby" <<<"$("$cli" status --controlplane "ipc://$work/a.sock")"

printf 'version: 1\nrules:\n  - { id: a, proto: tcp, ports: [80], action: allow }\n' >p1.yaml
printf 'version: 1\nrules:\n  - { id: a, proto: tcp, ports: [80, 443], action: allow }\n' >p2.yaml
printf 'version: 1\nrules:\n  - { id: b, proto: udp, ports: [53], action: allow }\n' >p3.yaml
# A dataplane with a session to each control plane.
mkdir -p state-dp1
"$build/dataplane/bulkhead-dataplane" --no-huge -m 256 --no-pci -l 0,1 --file-prefix "bhha$$" \
  --vdev=net_null0,no-rx=1 --vdev=net_null1,no-rx=1 -- \
  --controlplane "tcp://127.0.0.1:$port_a,tcp://127.0.0.1:$port_b" --controlplane-key cp.pub --key dp1.key \
  --id dp1 --state-dir state-dp1 --mbufs 2048 >dp1.log 2>&1 &
pids+=($!)
dp_generation() { tel "bhha$$" /bulkhead/policy generation 2>/dev/null; }
dp_term() { tel "bhha$$" /bulkhead/control leader_term 2>/dev/null; }
# dp_runs_term TERM ABOVE: the dataplane's highest accepted term is TERM, and TERM > ABOVE.
dp_runs_term() { [ "${1:-0}" -gt "$2" ] && [ "$(dp_term)" = "$1" ]; }

"$cli" apply p1.yaml -m one --wait 0 --controlplane "ipc://$work/a.sock" >/dev/null 2>&1
check "the leader stores generation 1" [ "$(history_of a)" = "1:one" ]
for _ in $(seq 300); do [ "$(dp_generation)" = 1 ] && break; sleep 0.1; done
check "the dataplane enforces generation 1 from the leader" [ "$(dp_generation)" = 1 ]
t=$(term_of a)
check "under the leader's term ($t)" dp_runs_term "$t" 0
# A change sent to the standby is passed on to the leader and stored once;
# sent again with its request id, to either, it is answered, not stored.
id2=22222222222222222222222222222222
out=$("$cli" apply p2.yaml -m two --request-id $id2 --wait 0 --controlplane "ipc://$work/b.sock" 2>&1); rc=$?
[ $rc -le 1 ] && grep -q "forwarded by the standby b to the leader a" <<<"$out" && grep -q "applied generation 2" <<<"$out" &&
  pass "an apply sent to the standby is forwarded to the leader, and says so" || fail "standby apply: $rc $out"
check "the leader stored it once, as generation 2, by its author through the standby" python3 -c "
import json, os, sys
h = json.loads(sys.argv[1])['history']
assert [x['number'] for x in h] == ['1', '2'] and h[1]['request_id'] == sys.argv[2], h
assert h[1]['author'].startswith('uid %d' % os.getuid()) and h[1]['author'].endswith(' via b'), h[1]
" "$("$cli" history --json --controlplane "ipc://$work/a.sock")" "$id2"
for to in b a; do
  out=$("$cli" apply p2.yaml -m two --request-id $id2 --wait 0 --json --controlplane "ipc://$work/$to.sock" 2>&1)
  check "the same id sent again to $to: already applied as generation 2" python3 -c "
import json, sys
d = json.loads(sys.argv[1])
assert d['ok'] and d['already_applied'] and d['generation'] == '2', d
" "$out"
done
check "the standby answers history from the store, the change in it once" [ "$(history_of b)" = "1:one 2:two" ]
for _ in $(seq 100); do [ "$(dp_generation)" = 2 ] && break; sleep 0.1; done
check "the dataplane enforces generation 2 from the leader" [ "$(dp_generation)" = 2 ]
check "the standby answers the current policy's rules" grep -Eq "^0 +a +allow" <<<"$("$cli" rule list --controlplane "ipc://$work/b.sock" 2>&1)"
# The standby answers reads from the view its watch keeps: 20 history
# reads cost etcd no more range requests than 20 as long idle (reading the
# store for each, as while the watch is down, would be 40 more).
etcd_ranges() {
  local u n=0
  for u in "${etcd_urls[@]}"; do
    n=$((n + $(curl -s "$u/metrics" | awk '/^grpc_server_started_total/ && /method="Range"/ {s += $2} END {print s + 0}')))
  done
  echo $n
}
r0=$(etcd_ranges); t0=$(date +%s%N)
for _ in $(seq 20); do "$cli" history --controlplane "ipc://$work/b.sock" >/dev/null 2>&1; done
r1=$(etcd_ranges); t1=$(date +%s%N)
sleep "$(python3 -c "print(($t1 - $t0) / 1e9)")"
r2=$(etcd_ranges)
check "20 reads of the standby ask etcd nothing ($((r1 - r0)) range requests; $((r2 - r1)) while as long idle)" \
  [ $((r1 - r0)) -lt $((r2 - r1 + 10)) ]

# kill -9 the leader: its lease lapses, the standby is elected.
kill -KILL "${cp_pid[a]}"
killed=$(date +%s%N)
for _ in $(seq 200); do leads b && break; sleep 0.05; done
took_ms=$(( ($(date +%s%N) - killed) / 1000000 ))
check "the standby leads within two lease periods (${took_ms} ms)" [ "$took_ms" -le $((2 * ttl * 1000)) ]
# Before any change: the new leader pushes generation 2 again under its term.
tb=$(term_of b)
for _ in $(seq 100); do dp_runs_term "$tb" "$t" && break; sleep 0.1; done
check "the dataplane follows the new leader before any change (term $tb)" dp_runs_term "$tb" "$t"
check "still enforcing generation 2" [ "$(dp_generation)" = 2 ]
out=$("$cli" apply p2.yaml -m two --request-id $id2 --wait 0 --controlplane "ipc://$work/b.sock" 2>&1); rc=$?
[ $rc -le 1 ] && grep -q "already applied as generation 2" <<<"$out" &&
  pass "after the failover the new leader answers the same id with generation 2" || fail "id after failover: $rc $out"
check "and stored nothing" [ "$(history_of b)" = "1:one 2:two" ]
t2=$(term_of b)
check "under the new leader's higher term ($t2)" dp_runs_term "$t2" "$t"

# The old leader comes back as a standby.
start_cp a "$port_a"
for _ in $(seq 100); do [ "$(leader_seen_by a)" = standby ] && break; sleep 0.1; done
check "the restarted control plane stands by" [ "$(leader_seen_by a)" = standby ]

# Freeze the leader: until its lease lapses the standby passes changes on
# to it, finds no connection (2 s) and refuses them, storing nothing, and
# answers meanwhile (the forward is off its loop). Past the lease the
# standby is elected and applies; the frozen one, woken, is sent the same
# change again and stores nothing (fenced off, or already applied).
kill -STOP "${cp_pid[b]}"
"$cli" apply p3.yaml -m frozen --wait 0 --controlplane "ipc://$work/a.sock" >frozen.out 2>&1 &
frozen_apply=$!
sleep 0.3
t0=$(date +%s%N); st a >/dev/null; status_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait $frozen_apply; rc=$?
[ $rc = 2 ] && grep -q "could not reach the leader, b" frozen.out && grep -q "nothing was changed" frozen.out &&
  pass "a standby whose leader does not answer refuses the change, saying why" || fail "frozen leader: $rc $(cat frozen.out)"
check "and answered status meanwhile (${status_ms} ms)" [ "$status_ms" -lt 1000 ]
for _ in $(seq 200); do leads a && break; sleep 0.05; done
check "the standby leads while the leader is frozen" leads a
id3=33333333333333333333333333333333
"$cli" apply p3.yaml -m three --request-id $id3 --wait 0 --controlplane "ipc://$work/a.sock" >/dev/null 2>&1
kill -CONT "${cp_pid[b]}"
out=$("$cli" apply p3.yaml -m three --request-id $id3 --wait 0 --controlplane "ipc://$work/b.sock" 2>&1); rc=$?
{ [ $rc = 2 ] && grep -q "no longer leads" <<<"$out"; } || { [ $rc -le 1 ] && grep -q "already applied as generation 3" <<<"$out"; } &&
  pass "the same change sent again to the deposed leader stores nothing ($rc)" || fail "deposed apply: $rc $out"
check "no generation stored twice or skipped" [ "$(history_of a)" = "1:one 2:two 3:three" ]
check "the deposed leader knows it stands by" [ "$(leader_seen_by b)" = standby ]

# One etcd member of three dies: the store and the election go on.
etcd_kill 0 && etcd_healthy
"$cli" apply p2.yaml -m four --wait 0 --controlplane "ipc://$work/a.sock" >/dev/null 2>&1
check "an apply with an etcd member down" [ "$(history_of a)" = "1:one 2:two 3:three 4:four" ]
check "the standby reads it through the other members" [ "$(history_of b)" = "1:one 2:two 3:three 4:four" ]
kill -KILL "${cp_pid[a]}"
for _ in $(seq 200); do leads b && break; sleep 0.05; done
check "a failover with an etcd member down" leads b
"$cli" apply p3.yaml -m five --wait 0 --controlplane "ipc://$work/b.sock" >/dev/null 2>&1
check "and the new leader applies" [ "$(history_of b)" = "1:one 2:two 3:three 4:four 5:five" ]

# A standby's view follows the store through its watch: a new generation
# is in its history on the first read after the apply returns (its CLI
# reads do not ask etcd while the watch delivers).
metrics_port=$(python3 "$src/tests/common/free_ports.py" 1)
start_cp a "$port_a" --metrics-listen "127.0.0.1:$metrics_port"
for _ in $(seq 100); do [ "$(leader_seen_by a)" = standby ] && break; sleep 0.1; done
metric() { curl -s "http://127.0.0.1:$metrics_port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
within 5 [ "$(metric bulkhead_controlplane_etcd_watch_up)" = 1 ]
check "the standby's metrics: its watch delivers, it stands by, it saw one full re-read" \
  [ "$(metric bulkhead_controlplane_etcd_watch_up)" = 1 -a "$(metric bulkhead_controlplane_leading)" = 0 \
    -a "$(metric bulkhead_controlplane_etcd_watch_resyncs_total)" -ge 1 ]
"$cli" apply p1.yaml -m six --wait 0 --controlplane "ipc://$work/b.sock" >/dev/null 2>&1
check "the standby's history shows the new generation at once" \
  [ "$(history_of a)" = "1:one 2:two 3:three 4:four 5:five 6:six" ]

# A leader stopped cleanly revokes its lease; the standby's watch sees the
# leader key go and it campaigns at once, not at its next safety-net poll
# (a third of the lease, 1 s here): its log says the watch woke it, and it
# leads well within that poll of the old leader's exit.
elected=$(grep -c "leads, term" a.log)
kill -TERM "${cp_pid[b]}"
wait "${cp_pid[b]}" 2>/dev/null
exited=$(date +%s%N)
for _ in $(seq 300); do [ "$(grep -c "leads, term" a.log)" -gt "$elected" ] && break; sleep 0.01; done
took_ms=$(( ($(date +%s%N) - exited) / 1000000 ))
check "after the leader's SIGTERM the standby leads, woken by its watch (${took_ms} ms after the exit)" \
  [ "$(grep "leads, term" a.log | tail -1 | grep -c "the watch saw the leader key change")" = 1 -a "$took_ms" -le 500 ]
check "and answers as the leader" leads a
within 5 [ "$(metric bulkhead_controlplane_leading)" = 1 ]
check "and its metrics say so (term $(metric bulkhead_controlplane_leader_term))" \
  [ "$(metric bulkhead_controlplane_leading)" = 1 -a "$(metric bulkhead_controlplane_leader_term)" -gt 0 ]

# Options that cannot take effect are refused at start (exit 2).
cp_args=(--key cp.key --dataplane-key dp1.pub --listen "tcp://127.0.0.1:$port" --cli "ipc://$work/x.sock")
out=$("$build/controlplane/bulkhead-controlplane" --store dirstore --lease-ttl 5 "${cp_args[@]}" 2>&1 </dev/null); rc=$?
[ $rc = 2 ] && grep -q "lease-ttl has no effect without an etcd:// --store" <<<"$out" && pass "--lease-ttl with a directory store is refused" || fail "--lease-ttl: $rc $out"
out=$("$build/controlplane/bulkhead-controlplane" --store "etcd://127.0.0.1" "${cp_args[@]}" 2>&1 </dev/null); rc=$?
[ $rc = 2 ] && grep -q "not HOST:PORT" <<<"$out" && pass "an etcd URL without a port is refused" || fail "etcd URL: $rc $out"
out=$("$build/controlplane/bulkhead-controlplane" --store "$store" --lease-ttl 1 "${cp_args[@]}" 2>&1 </dev/null); rc=$?
[ $rc = 2 ] && grep -q "2 to 60" <<<"$out" && pass "a lease under 2 s is refused" || fail "--lease-ttl 1: $rc $out"
out=$(timeout 20 "$build/controlplane/bulkhead-controlplane" --store "$store" --flow-listen "tcp://127.0.0.1:$port2" \
  "${cp_args[@]}" 2>&1 </dev/null); rc=$?
[ $rc = 1 ] && grep -q "needs --state-dir" <<<"$out" && pass "flows beside an etcd store need --state-dir" || fail "--state-dir: $rc $out"

if [ $failures -gt 0 ]; then
  for f in a b dp1; do echo "--- $f.log"; tail -20 "$f.log"; done
fi
[ $failures = 0 ]
