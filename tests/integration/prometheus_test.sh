#!/usr/bin/env bash
# Metrics with the real Prometheus: a control plane and a dataplane serve
# /metrics (--metrics-listen on loopback); Debian's prometheus, started in
# the work directory with a scrape config for both, scrapes them every half
# second. Through its HTTP query API the test checks that the series exist,
# that they equal the traffic the dataplane read from a capture (packets
# per port, per rule, drops by reason), and that they move with it:
# connections rise and expire, the control plane's flow records and the
# dataplane's generation arrive after the first scrape. promtool checks
# both endpoints' text. Every process is stopped in every outcome.
source "$(dirname "$0")/lib.sh" prom

for tool in prometheus promtool curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (tools/setup installs it)"; exit 77; }
done
cd "$work"
free_ports() { python3 -c "
import socket
ss = [socket.socket() for _ in range($1)]
for s in ss: s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in ss))"; }
read -r prom_port cp_metrics dp_metrics <<<"$(free_ports 3)"

# 40 UDP flows to port 53 (allowed, two packets each) and 10 packets to
# port 9999 (denied by default).
python3 - <<'PY'
import struct
def frame(sport, dport):
    eth = b'\x02\0\0\0\0\x02' + b'\x02\0\0\0\0\x01' + b'\x08\x00'
    ip = bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    return eth + ip + struct.pack('>HHHH', sport, dport, 8, 0)
frames = [frame(1000 + i, 53) for i in range(40) for _ in range(2)] + [frame(2000 + i, 9999) for i in range(10)]
with open('traffic.pcap', 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for d in frames:
        f.write(struct.pack('<IIII', 0, 0, len(d), len(d)) + d)
PY
frames=90; allowed=80; denied=10; flows=40

for k in cp dp; do "$cli" keys generate "$k" >/dev/null || exit 1; done
export BULKHEAD_CONTROLPLANE="ipc://$work/cli.sock"
"$build/controlplane/bulkhead-controlplane" --store store --key cp.key --dataplane-key dp.pub \
  --listen "tcp://127.0.0.1:$port" --flow-listen "tcp://127.0.0.1:$((port + 1))" \
  --cli "$BULKHEAD_CONTROLPLANE" --metrics-listen "127.0.0.1:$cp_metrics" >cp.log 2>&1 &
pids+=($!)
printf 'version: 1\nrules:\n  - { id: dns, proto: udp, ports: [53], action: allow }\n' >policy.yaml
for _ in $(seq 50); do "$cli" history >/dev/null 2>&1 && break; sleep 0.1; done
"$cli" apply policy.yaml -m "dns only" --wait 0 >/dev/null; [ $? = 1 ] || fail "apply the policy"

cat >prometheus.yml <<YML
global: { scrape_interval: 500ms, scrape_timeout: 400ms }
scrape_configs:
  - job_name: controlplane
    static_configs: [ { targets: ['127.0.0.1:$cp_metrics'] } ]
  - job_name: dataplane
    static_configs: [ { targets: ['127.0.0.1:$dp_metrics'] } ]
YML
promtool check config prometheus.yml >promtool-config.log 2>&1 || fail "promtool check config: $(cat promtool-config.log)"
prometheus --config.file=prometheus.yml --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >prometheus.log 2>&1 &
pids+=($!)
api="http://127.0.0.1:$prom_port/api/v1"
# value EXPR: the query's single value ("" when none)
value() { curl -s --max-time 5 "$api/query" --data-urlencode "query=$1" | python3 -c "
import json, sys
r = json.load(sys.stdin)['data']['result']
print(r[0]['value'][1] if len(r) == 1 else '')" 2>/dev/null; }
wait_value() {  # EXPR WANT: until the query returns WANT (15 s)
  local end=$((SECONDS + 15))
  while [ $SECONDS -lt $end ]; do [ "$(value "$1")" = "$2" ] && return 0; sleep 0.2; done
  echo "  $1 = '$(value "$1")', not '$2'"; return 1
}
check "prometheus scrapes the control plane" wait_value 'up{job="controlplane"}' 1
check "the control plane's store generation is 1" wait_value bulkhead_controlplane_generation 1
check "no flow record has arrived yet" wait_value bulkhead_controlplane_flow_records_received_total 0

mkdir -p state
"$build/dataplane/bulkhead-dataplane" --no-huge -m 512 --no-pci -l 0,1 --file-prefix "bhprom$$" \
  --vdev=net_pcap0,rx_pcap=traffic.pcap --vdev=net_null1,no-rx=1 -- --mbufs 4096 --policy policy.yaml \
  --controlplane "tcp://127.0.0.1:$port" --controlplane-key cp.pub --key dp.key --id dp1 --state-dir state \
  --flow-export "tcp://127.0.0.1:$((port + 1))" --udp-timeout 3 --sweep-period 100 \
  --metrics-listen "127.0.0.1:$dp_metrics" >dp.log 2>&1 &
pids+=($!)
check "prometheus scrapes the dataplane" wait_value 'up{job="dataplane"}' 1
q='{job="dataplane"}'
check "port 0 received every frame of the capture" wait_value "bulkhead_port_packets_total{port=\"0\",direction=\"rx\"}" $frames
check "port 1 sent the allowed ones" wait_value "bulkhead_port_packets_total{port=\"1\",direction=\"tx\"}" $allowed
check "rule dns counts the allowed packets" wait_value 'bulkhead_rule_packets_total{rule="dns",action="allow"}' $allowed
check "the default action counts the denied ones" wait_value 'bulkhead_rule_packets_total{rule="_default"}' $denied
check "drops carry their reason" wait_value 'bulkhead_dropped_packets_total{reason="policy_deny"}' $denied
check "one connection per allowed flow" wait_value bulkhead_connections_new_total $flows
check "the dataplane enforces generation 1 from the control plane" wait_value bulkhead_policy_generation 1
check "the control plane sees it connected at generation 1" \
  wait_value 'bulkhead_controlplane_dataplane_generation{dataplane="dp"}' 1
check "it is not behind" wait_value 'bulkhead_controlplane_dataplane_generations_behind{dataplane="dp"}' 0
check "one enforcing dataplane" wait_value 'bulkhead_controlplane_dataplanes{state="enforced"}' 1
# Moving with the traffic: the connections expire (3 s), their end records
# reach the control plane; Prometheus saw both before and after.
check "the connections expire" wait_value bulkhead_connections_expired_total $flows
check "the table is empty again" wait_value bulkhead_connections 0
check "prometheus saw the connections open" wait_value "max_over_time(bulkhead_connections$q[1m])" $flows
check "prometheus saw the expired count rise from 0" wait_value "min_over_time(bulkhead_connections_expired_total$q[1m])" 0
# A start and an end record per flow, and one for the denied packets (one
# source, destination and port: one record).
check "every flow record reached the control plane" \
  wait_value bulkhead_controlplane_flow_records_received_total $((2 * flows + 1))
check "prometheus saw the flow records rise from 0" \
  wait_value 'min_over_time(bulkhead_controlplane_flow_records_received_total[1m])' 0
check "no flow record was lost" wait_value 'sum(bulkhead_flow_records_lost_total)' 0
check "the push was acknowledged within the latency histogram" \
  wait_value 'bulkhead_controlplane_apply_latency_seconds_count >= bool 1' 1
check "every worker's loop runs" wait_value "count(rate(bulkhead_worker_loop_passes_total[5s]) > 0)" 1

# Every query of the shipped dashboard runs and finds series.
python3 - "$src/tools/monitoring/bulkhead-dashboard.json" "$api" <<'PY' && pass "every dashboard query returns series" || fail "dashboard queries"
import json, sys, urllib.parse, urllib.request
d = json.load(open(sys.argv[1]))
bad = []
for p in d["panels"]:
    for t in p["targets"]:
        q = t["expr"].replace("$instance", ".*").replace("$__rate_interval", "5s")
        url = sys.argv[2] + "/query?" + urllib.parse.urlencode({"query": q})
        r = json.load(urllib.request.urlopen(url, timeout=5))
        if r.get("status") != "success" or not r["data"]["result"]:
            bad.append((p["title"], q, r.get("error", "no series")))
for b in bad: print("  ", *b)
sys.exit(1 if bad else 0)
PY

curl -s --max-time 5 "http://127.0.0.1:$dp_metrics/metrics" >dp.prom
curl -s --max-time 5 "http://127.0.0.1:$cp_metrics/metrics" >cp.prom
for f in dp cp; do
  out=$(promtool check metrics <"$f.prom" 2>&1) && pass "promtool check metrics: $f" || fail "promtool check metrics $f: $out"
done
check "only /metrics is served" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$dp_metrics/")" = 404 ]

[ $failures = 0 ] || { echo "--- dp.log"; tail -20 dp.log; echo "--- cp.log"; tail -20 cp.log; echo "--- prometheus.log"; tail -20 prometheus.log; }
exit $((failures > 0))
