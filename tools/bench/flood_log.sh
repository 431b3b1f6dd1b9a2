#!/usr/bin/env bash
# A flood of denied packets, and what it does to the flow log: the real
# dataplane (net_pcap replaying a capture forever into net_null, one worker,
# a deny-everything policy in enforce mode) exports its flow records to the
# real control plane, which writes the flow log. For each flood shape and
# each configuration it prints the denied packets a second, the records the
# store received, how fast the log grew, and what the caps counted.
#
#   tools/bench/flood_log.sh [SECONDS]     (default 10 per run)
#
# Shapes: "spoofed" (100,000 sources, each packet its own key: aggregation
# cannot help) and "one source" (one source to one port). Configurations:
# "uncapped" (the dataplane's denied-record rate and the log's caps lifted:
# a record per denied packet, every record written, as before either cap
# existed) and "defaults" (as shipped). Uses build/ (or
# $BULKHEAD_BUILD_DIR); everything lives in a temporary directory, removed
# at the end.
set -uo pipefail
seconds=${1:-10}
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${BULKHEAD_BUILD_DIR:-$top/build}" && pwd)
cli="$build/tools/cli/bulkhead"
work=$(mktemp -d /tmp/bh-flood-XXXXXX)
port=$((20000 + $$ % 20000))
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
tel() { python3 "$top/tools/lab/telemetry.py" "$@"; }
cd "$work" || exit 1

python3 "$top/tools/bench/gen_pcap.py" --flows 100000 spoofed.pcap >/dev/null || exit 1
python3 "$top/tools/bench/gen_pcap.py" --flows 1 --repeat 1000 one.pcap >/dev/null || exit 1
for k in cp dp; do "$cli" keys generate "$k" >/dev/null || exit 1; done
printf 'version: 1\ndefaults: { action: deny, mode: enforce }\n' >deny.yaml
export BULKHEAD_CONTROLPLANE="ipc://$work/cli.sock"

printf '%-10s %-9s %12s %14s %12s %12s %s\n' shape config "denied/s" "records/s" "log MB/s" "log MB" "counted"
run() {  # shape capture config
  local shape=$1 capture=$2 config=$3 n=${#pids[@]}
  local cp_caps=() dp_caps=()
  if [ "$config" = uncapped ]; then
    cp_caps=(--flow-log-rate 10000000 --flow-log-size 1048576)
    dp_caps=(--flow-denied-rate 10000000 --flow-denied-interval 1)
  fi
  rm -rf store flows.jsonl*
  "$build/controlplane/bulkhead-controlplane" --store store --key cp.key --dataplane-key dp.pub \
    --listen "tcp://127.0.0.1:$port" --flow-listen "tcp://127.0.0.1:$((port + 1))" --flow-log flows.jsonl \
    "${cp_caps[@]}" --cli "$BULKHEAD_CONTROLPLANE" >cp.log 2>&1 &
  pids+=($!)
  local cp=$!
  for _ in $(seq 50); do "$cli" status >/dev/null 2>&1 && break; sleep 0.1; done
  "$build/dataplane/bulkhead-dataplane" --no-huge -m 1024 --no-pci -l 0,1 --file-prefix "flood$$" \
    --vdev="net_pcap0,rx_pcap=$capture,infinite_rx=1" --vdev=net_null1,no-rx=1 -- --mbufs 131071 \
    --policy deny.yaml --controlplane-key cp.pub --key dp.key --id flood \
    --flow-export "tcp://127.0.0.1:$((port + 1))" "${dp_caps[@]}" >dp.log 2>&1 &
  pids+=($!)
  local dp=$!
  local d
  for _ in $(seq 100); do
    d=$(tel "flood$$" /bulkhead/drops policy_deny 2>/dev/null)
    [[ "$d" =~ ^[1-9][0-9]*$ ]] && break
    sleep 0.1
  done
  sleep 1  # past the start
  local d0 r0
  d0=$(tel "flood$$" /bulkhead/drops policy_deny)
  r0=$("$cli" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['flow_store']['records'])")
  local b0 b1
  b0=$(cat flows.jsonl* 2>/dev/null | wc -c)
  sleep "$seconds"
  local d1 r1 status
  d1=$(tel "flood$$" /bulkhead/drops policy_deny)
  status=$("$cli" status --json)
  b1=$(cat flows.jsonl* 2>/dev/null | wc -c)
  r1=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['flow_store']['records'])" "$status")
  kill -TERM "$dp" "$cp"
  wait "$dp" "$cp" 2>/dev/null
  pids=("${pids[@]:0:$n}")
  python3 - "$shape" "$config" "$seconds" "$d0" "$d1" "$r0" "$r1" "$b0" "$b1" "$status" <<'EOF'
import json, sys
shape, config, s, d0, d1, r0, r1, b0, b1, status = sys.argv[1:]
s = float(s)
f = json.loads(status)["flow_store"]
log = f.get("log", {})
counted = "suppressed at the dataplane %d, lost %d; log: dropped over the rate %d, rotations %d" % (
    f.get("suppressed_by_dataplanes", 0), f.get("lost_by_dataplanes", 0), log.get("dropped_rate", 0), log.get("rotations", 0))
print("%-10s %-9s %12.0f %14.0f %12.2f %12.1f %s" % (shape, config, (int(d1) - int(d0)) / s, (int(r1) - int(r0)) / s,
      (int(b1) - int(b0)) / s / 1e6, int(b1) / 1e6, counted))
EOF
}

for config in uncapped defaults; do
  run spoofed spoofed.pcap "$config"
  run "one-src" one.pcap "$config"
done
