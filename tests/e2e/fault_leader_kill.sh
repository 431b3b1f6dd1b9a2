#!/usr/bin/env bash
# Two control planes on a 3-member etcd cluster (lease 2 s) and two
# dataplanes, each inline between its own pair of namespaces and following
# both control planes, with a stream of numbered UDP datagrams through each:
# kill -9 the leader and the standby leads within two lease periods, both
# dataplanes follow it, an apply to it is enforced by both under its term,
# the history numbers every generation once, and neither stream loses a
# datagram. Then two etcd members of three die: the streams go on, an apply
# fails with an error naming etcd and nothing of it is enforced; with quorum
# back an apply is stored as the next generation and enforced, the failed
# one stored whole or not at all.
source "$(dirname "$0")/lib.sh"
source "$top/tests/common/etcd_cluster.sh"
source "$top/tests/common/ha_controlplanes.sh"
etcd_start "$work/etcd" || exit $?

# The second lab: "f" and the pid in hex, unique beside every e<pid> lab.
labs_here=("$name" "f$(printf %x $$)")
for n in "${labs_here[@]}"; do lab_up "$n" || exit 1; done
for k in cp dp1 dp2; do (cd "$work" && "$cli" keys generate "$k" >/dev/null) || exit 1; done
ttl=2
store="etcd://$etcd_endpoints/bh"
dataplane_keys=(dp1.pub dp2.pub)
{ read -r port_a; read -r port_b; } < <(python3 "$top/tests/common/free_ports.py" 2)
start_cp a "$port_a"
check "the first control plane leads" within 20 leads a
start_cp b "$port_b"
check "the second stands by" within 20 eval '[ "$(leader_seen_by b)" = standby ]'

# Dataplane i on lab i, a session to each control plane; its worker sleeps
# between polls when idle, so two dataplanes share the machine's cores.
for i in 1 2; do
  mkdir -p "$work/state-dp$i"
  "$lab" dp-start "${labs_here[i - 1]}" "$policy" --controlplane "tcp://127.0.0.1:$port_a,tcp://127.0.0.1:$port_b" \
    --controlplane-key "$work/cp.pub" --key "$work/dp$i.key" --id "dp$i" --state-dir "$work/state-dp$i" \
    --idle-sleep 100 || exit 1
done
# enforce_all GENERATION TERM: both dataplanes enforce GENERATION, accepted
# under leader term TERM (their telemetry).
enforce_all() {
  python3 -c "
import sys
sys.path.insert(0, sys.argv[1] + '/tools/lab')
import telemetry
for n in sys.argv[4:]:
    g = telemetry.query('bhl' + n, '/bulkhead/policy')['/bulkhead/policy']['generation']
    t = telemetry.query('bhl' + n, '/bulkhead/control')['/bulkhead/control']['leader_term']
    if (g, t) != (int(sys.argv[2]), int(sys.argv[3])):
        sys.exit(1)" "$top" "$1" "$2" "${labs_here[@]}" 2>/dev/null
}
# apply CONTROL_PLANE POLICY MESSAGE: true once every dataplane enforces it
# (its output in $work/apply.out).
apply() {
  "$cli" apply "$2" -m "$3" --wait 20 --controlplane "ipc://$work/$1.sock" >"$work/apply.out" 2>&1
}
# Policies: every one allows the streams (web -> app udp 53) and differs
# from the one before.
sed '/id: web-egress-https/d' "$policy" >"$work/p2.yaml"
sed '/id: corp-ssh/d' "$policy" >"$work/p3.yaml"
sed '/id: web-to-http/d' "$policy" >"$work/lost.yaml"

check "generation 1 is enforced by both dataplanes" apply a "$policy" one
t1=$(term_of a)
check "under the first leader's term ($t1)" enforce_all 1 "$t1"

# streams start: numbered UDP datagrams, 200 a second, web -> app across
# each lab's dataplane, until the flag file exists.
streams_start() {
  local n
  rm -f "$work/$1.stop"
  for n in "${labs_here[@]}"; do
    ip netns exec "bhl-$n-in" python3 "$top/tools/lab/client.py" stream 10.0.1.10 10.0.2.20 53 200 "$work/$1.stop" \
      >"$work/$1-$n.json" 2>&1 &
    pids+=($!)
    stream_pids+=($!)
  done
  # Python is slow to start on a loaded machine: wait for the first answers.
  for n in "${labs_here[@]}"; do within 20 grep -q answered "$work/$1-$n.json" || return 1; done
}
every_answer() { json_get "$1" "d['sent'] >= 400 and d['lost'] == 0 and d['duplicated'] == 0 or exit(1)" >/dev/null; }
streams_stop() {  # streams_stop NAME: every datagram of each sent, answered exactly once
  local n p
  touch "$work/$1.stop"
  for p in "${stream_pids[@]}"; do wait "$p"; done
  stream_pids=()
  for n in "${labs_here[@]}"; do
    tail -1 "$work/$1-$n.json" >"$work/$1-$n.result"
    cat "$work/$1-$n.result"
    check "$1 through $n: every datagram answered, none twice" every_answer "$work/$1-$n.result"
  done
}
stream_pids=()
streams_start failover || exit 1
sleep 1

# kill -9 the leader under traffic.
killed=$(date +%s%N)
kill -KILL "${cp_pid[a]}"
wait "${cp_pid[a]}" 2>/dev/null
within 10 leads b
took_ms=$(( ($(date +%s%N) - killed) / 1000000 ))
check "the standby leads within two lease periods (${took_ms} ms)" [ "$took_ms" -le $((2 * ttl * 1000)) ]
t2=$(term_of b)
check "under a higher term ($t1 -> $t2)" [ "$t2" -gt "$t1" ]
check "both dataplanes follow the new leader before any change" within 10 enforce_all 1 "$t2"
check "an apply to the new leader is enforced by both dataplanes" apply b "$work/p2.yaml" two
check "both enforce generation 2 under the new leader's term" enforce_all 2 "$t2"
check "no generation stored twice or skipped" [ "$(history_of b)" = "1:one 2:two" ]
streams_stop failover

# No quorum: two etcd members of three die.
streams_start quorum || exit 1
etcd_kill 1 && etcd_kill 2
started=$(date +%s)
apply b "$work/lost.yaml" lost; rc=$?
out=$(cat "$work/apply.out")
echo "apply without quorum ($(( $(date +%s) - started )) s, exit $rc): $out"
check "an apply without quorum fails" [ "$rc" -ne 0 ]
check "with a clear error" grep -Eqi "etcd|quorum|no longer leads|standby|no leader" <<<"$out"
# Unless etcd refused it outright, the outcome is unknown, and the answer
# says so with the request id that makes a retry safe.
if grep -q "no etcd endpoint answered" <<<"$out"; then
  check "an unanswered apply is called unknown, not lost, with its request id" \
    grep -Eq "is unknown until etcd answers again.*request id [0-9a-f]{32}" <<<"$out"
fi
sleep 1
check "both dataplanes still enforce generation 2, nothing of it" enforce_all 2 "$t2"
etcd_restart 1 && etcd_healthy
check "a leader is elected again with quorum back" within 20 leads b
check "an apply with quorum back is enforced by both" apply b "$work/p3.yaml" three
# The failed apply timed out at the member left: etcd may still commit it
# when quorum returns (a request that timed out has an unknown outcome),
# and then it is there whole, as one generation, and pushed like any
# other. Either way every generation is stored once, in order.
history=$(history_of b)
case $history in
  "1:one 2:two 3:three") last=3 ;;
  "1:one 2:two 3:lost 4:three") last=4 ;;
  *) last= ;;
esac
check "the failed apply stored whole or not at all, the next one after it ($history)" [ -n "$last" ]
t3=$(term_of b)
check "both enforce generation $last (term $t3)" enforce_all "$last" "$t3"
streams_stop quorum
for n in "${labs_here[@]}"; do
  seen=$(grep -o "generation [0-9]* from .* enforced" "$BULKHEAD_LAB_RUN/$n/dp.log" | awk '{print $2}' | uniq | paste -sd' ')
  check "$n's dataplane enforced every generation in order, none skipped ($seen)" [ "$seen" = "$(seq -s' ' "$last")" ]
done
if [ "$failures" -ne 0 ]; then
  for f in a b; do echo "--- $f.log"; tail -20 "$work/$f.log"; done
fi
finish
