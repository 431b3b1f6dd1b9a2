#!/usr/bin/env bash
# Flows in ClickHouse with the real engine (Debian clickhouse-server, its own
# configuration and data in the work directory, loopback ports):
#  1. records a control plane receives end up in ClickHouse, and
#     `bulkhead flows` answers from there what the memory store answers for
#     the same records;
#  2. two control planes on the same database give the same proposal;
#     A flow query waiting on a hung ClickHouse holds up nothing else.
#  3. ClickHouse stopped and started again under a flood of records: the
#     control plane keeps running and applying policy, counts what it could
#     not keep, and its answers afterwards hold exactly what it inserted.
if [ ! -x "${CLICKHOUSE_SERVER:-/usr/sbin/clickhouse-server}" ]; then
  echo "SKIP clickhouse-server is not installed (tools/setup installs it)"
  exit 77
fi
source "$(dirname "$0")/lib.sh" clickhouse
source "$src/tests/common/clickhouse.sh"
trap 'clickhouse_stop; cleanup' EXIT
feed="$build/tools/bench/bulkhead-flow-feed"

cd "$work"
clickhouse_start "$work/ch" || { echo "FAIL clickhouse-server did not start"; exit 1; }
pass "clickhouse-server answers on 127.0.0.1:$ch_port"
for k in cp dp; do "$cli" keys generate "$k" >/dev/null || exit 1; done
{ read -r port3; read -r port4; read -r port5; read -r port6; read -r port7; } < <(python3 "$src/tests/common/free_ports.py" 5)
store_url="clickhouse://127.0.0.1:$ch_port/bulkhead"

on() { local name=$1; shift; BULKHEAD_CONTROLPLANE="ipc://$work/$name.sock" "$cli" "$@"; }
store() {  # name python-expression over f (the status's flow_store)
  on "$1" status --json | python3 -c "import json,sys; f=json.load(sys.stdin)['flow_store']; c=f.get('clickhouse', {}); print($2)"
}
wait_inserted() {  # name records
  for _ in $(seq 150); do [ "$(store "$1" "int(c.get('records_inserted', 0))")" -ge "$2" ] && return 0; sleep 0.1; done
  return 1
}
# The answer of `bulkhead flows` without the times (two stores fed apart see
# other clocks), one sorted line per aggregate.
answer() {
  on "$1" flows --since 1h --top 0 --json | python3 -c "
import json, sys
rows = []
for line in sys.stdin:
    j = json.loads(line)
    for k in ('first_seen', 'last_seen', 'first_ms', 'last_ms', 'src_port'):
        j.pop(k, None)
    rows.append(json.dumps(j, sort_keys=True))
print('\n'.join(sorted(rows)))"
}

# 1. Ingested, queryable, and the same answer as the memory store's.
check "a control plane with --flow-store clickhouse starts" start_controlplane cp1 "$port" "$port2" --flow-store "$store_url"
check "a control plane with the memory store starts" start_controlplane mem "$port5" "$port6"
"$feed" --to "tcp://127.0.0.1:$port2" --server-key cp.pub --key dp.key --records 20000 --keys 500 >/dev/null
"$feed" --to "tcp://127.0.0.1:$port6" --server-key cp.pub --key dp.key --records 20000 --keys 500 >/dev/null
check "the control plane inserted all 20000 records into ClickHouse" wait_inserted cp1 20000
check "ClickHouse holds their 20000 connections" [ "$(clickhouse_query "SELECT sumMerge(flows) FROM bulkhead.flows")" = 20000 ]
check "and their 500 aggregates" [ "$(clickhouse_query "SELECT count() FROM (SELECT src, dst, proto, dport FROM bulkhead.flows GROUP BY src, dst, proto, dport)")" = 500 ]
n=$(on cp1 flows --since 1h --top 0 --json | wc -l)
check "bulkhead flows lists the 500 aggregates from ClickHouse ($n)" [ "$n" = 500 ]
total=$(on cp1 flows --since 1h --top 0 --json | python3 -c "import json,sys; print(sum(json.loads(l)['flows'] for l in sys.stdin))")
check "and their 20000 connections ($total)" [ "$total" = 20000 ]
for _ in $(seq 50); do [ "$(store mem "f.get('records', 0)")" -ge 20000 ] && break; sleep 0.1; done
answer cp1 >ch.txt
answer mem >mem.txt
check "ClickHouse and the memory store answer alike for the same records" cmp -s ch.txt mem.txt
out=$(on cp1 flows --since 1h --port 443 --top 5 --json)
python3 -c "
import json, sys
v = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(v) == 5 and all(j['dst_port'] == 443 for j in v), v
assert [j['flows'] for j in v] == sorted((j['flows'] for j in v), reverse=True), v" "$out" \
  && pass "--port and --top are answered in ClickHouse" || fail "flows --port 443 --top 5: $out"
n=$(on cp1 flows --since 2026-01-01T00:00:00Z --until 2026-01-02T00:00:00Z --top 0 --json | wc -l)
check "a time window before the records holds none ($n)" [ "$n" = 0 ]
out=$(on cp1 status)  # exit 1: no dataplane enforces anything here
grep -q "flow store $store_url: connected, 20000 records inserted" <<<"$out" \
  && pass "status shows the ClickHouse store" || fail "status: $out"

# 2. Two control planes, one database: one proposal.
check "a second control plane on the same ClickHouse starts" start_controlplane cp2 "$port3" "$port4" --flow-store "$store_url"
on cp1 learn propose --since 1h --min-flows 1 -o p1.yaml --report r1.txt || fail "learn propose through cp1"
on cp2 learn propose --since 1h --min-flows 1 -o p2.yaml --report r2.txt || fail "learn propose through cp2"
check "the proposal has rules" grep -q "action: allow" p1.yaml
check "both control planes propose the same policy" cmp -s p1.yaml p2.yaml
out1=$(on cp1 simulate p1.yaml --since 1h --json); out2=$(on cp2 simulate p1.yaml --since 1h --json)
check "and simulate the same way" [ -n "$out1" ] && [ "$out1" = "$out2" ]

# A hung ClickHouse holds up the flow query, not the control plane.
kill -STOP "$ch_pid"
on cp2 flows --since 1h --top 0 --json >hung.txt 2>&1 &
asker=$!
sleep 1
t0=$(date +%s%N)
on cp2 history >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
check "a flow query waiting on a hung ClickHouse does not hold up the control plane (history in $ms ms)" [ "$ms" -lt 2000 ]
kill -CONT "$ch_pid"
wait "$asker"
check "and is answered once ClickHouse goes on ($(wc -l <hung.txt) aggregates)" [ "$(wc -l <hung.txt)" = 500 ]

# 3. ClickHouse goes away under a flood and comes back.
kill -TERM "$pid_cp1"; wait "$pid_cp1" 2>/dev/null
check "a control plane with a small buffer starts" start_controlplane cp1 "$port" "$port2" --flow-store "$store_url" --flow-store-buffer 2000 \
  --metrics-listen "127.0.0.1:$port7"
base=$(clickhouse_query "SELECT sumMerge(flows) FROM bulkhead.flows")
"$feed" --to "tcp://127.0.0.1:$port2" --server-key cp.pub --key dp.key --records 300000 --keys 5000 --seconds 8 \
  --id flood >feed.txt &
feeder=$!
sleep 2
clickhouse_stop
pass "clickhouse-server stopped under the flood"
sleep 1
out=$(on cp1 flows --since 1h 2>&1); rc=$?
[ $rc != 0 ] && grep -q "flow store cannot answer" <<<"$out" && pass "a query while it is away fails with a clear message" \
  || fail "flows without ClickHouse: $rc $out"
printf 'version: 1\nrules:\n  - { id: web, to: 10.2.0.0/16, proto: tcp, ports: [443], action: allow }\n' >p.yaml
on cp1 apply p.yaml -m "while ClickHouse is away" --wait 0 >/dev/null; rc=$?
[ $rc -le 1 ] && on cp1 history | grep -q "while ClickHouse is away" && pass "policy is applied while ClickHouse is away" \
  || fail "apply without ClickHouse: $rc"
sleep 2
clickhouse_start "$work/ch" || fail "clickhouse-server did not start again"
wait "$feeder"
check "the feeder sent the whole flood" grep -q "sent 300000 records" feed.txt
settled() {
  [ "$(store cp1 "int(f['records']) == 300000 and int(c.get('records_buffered', 0)) == 0 and int(c.get('records_inserted', 0)) + int(c.get('dropped_buffer', 0)) + int(c.get('dropped_errors', 0)) == int(f['records'])")" = True ]
}
for _ in $(seq 200); do settled && break; sleep 0.1; done
check "every record of the flood is inserted or counted as dropped" settled
kill -0 "$pid_cp1" 2>/dev/null && pass "the control plane is still running" || fail "the control plane died: $(tail -5 cp1.log)"
inserted=$(store cp1 "c['records_inserted']")
dropped=$(store cp1 "int(c.get('dropped_buffer', 0)) + int(c.get('dropped_errors', 0))")
check "the outage cost records, counted ($dropped dropped, $inserted inserted)" [ "$dropped" -gt 0 ] && [ "$inserted" -gt 0 ]
metric=$(curl -s "http://127.0.0.1:$port7/metrics" | awk '/^bulkhead_controlplane_flow_records_dropped_total\{cause="clickhouse_buffer"\}/ {print $2}')
check "the Prometheus metrics count them too ($metric)" [ "${metric:-0}" -gt 0 ]
check "status says ClickHouse is connected again" [ "$(store cp1 "c.get('connected', False)")" = True ]
total=$(on cp1 flows --since 1h --top 0 --json | python3 -c "import json,sys; print(sum(json.loads(l)['flows'] for l in sys.stdin))")
check "queries afterwards hold exactly what was inserted ($total = $base + $inserted)" [ "$total" = $((base + inserted)) ]
grep -q "flow store: clickhouse" cp1.log && pass "the outage is logged" || fail "cp1.log: $(cat cp1.log)"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; for l in cp1 cp2 mem; do echo "--- $l.log"; tail -20 "$l.log"; done; exit 1; }
