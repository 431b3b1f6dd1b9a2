#!/usr/bin/env bash
# Flows in ClickHouse, measured with the real binaries and a ClickHouse
# server of the run's own (tests/common/clickhouse.sh: temporary directory,
# loopback ports, stopped in every outcome):
#
#   tools/bench/clickhouse_bench.sh [RECORDS] [KEYS] [DAYS]   # 2000000 200000 10; about 8 minutes
#
# (RECORDS 0: no ingest; DAYS 0: no proposal.)
#
# 1. ingest: RECORDS records over KEYS aggregates sent by bulkhead-flow-feed
#    (a dataplane's FlowBatch messages over CurveZMQ) into a control plane
#    with --flow-store clickhouse, and the same into one with the memory
#    store: records a second from the first sent to the last stored
#    (ClickHouse: inserted), and the feeder's own rate beside them.
# 2. propose: 1,000,000 distinct aggregates (the address plan of
#    bulkhead-bench-flows) on each of DAYS days, written straight into the
#    table (INSERT ... SELECT FROM numbers()): DAYS million stored rows that
#    ClickHouse merges into one million aggregates per query. Times the
#    query alone (curl) and `bulkhead learn propose` through the control
#    plane (query, transfer, the learner), each the median of 3.
set -uo pipefail
records=${1:-2000000}
keys=${2:-200000}
days=${3:-10}
source "$(dirname "$0")/../../tests/integration/lib.sh" chbench
source "$src/tests/common/clickhouse.sh"
trap 'clickhouse_stop; cleanup' EXIT
feed="$build/tools/bench/bulkhead-flow-feed"
cd "$work"
clickhouse_start "$work/ch" || exit 1
"$cli" keys generate cp >/dev/null && "$cli" keys generate dp >/dev/null || exit 1
mapfile -t ports < <(python3 "$src/tests/common/free_ports.py" 4)

stored() {  # name: records stored (ClickHouse: inserted)
  BULKHEAD_CONTROLPLANE="ipc://$work/$1.sock" "$cli" status --json | python3 -c "
import json, sys
f = json.load(sys.stdin)['flow_store']
print(f['clickhouse'].get('records_inserted', 0) if 'clickhouse' in f else f.get('records', 0))"
}
now() { date +%s.%N; }

start_controlplane ch "${ports[0]}" "${ports[1]}" --flow-store "clickhouse://127.0.0.1:$ch_port/bench" || exit 1
start_controlplane mem "${ports[2]}" "${ports[3]}" || exit 1
# The tables exist once the store has spoken to ClickHouse.
for _ in $(seq 100); do [ "$(clickhouse_query "EXISTS TABLE bench.flows")" = 1 ] && break; sleep 0.1; done

[ "$records" -gt 0 ] && echo "== ingest: $records records over $keys aggregates"
for name in ch mem; do
  [ "$records" -gt 0 ] || break
  port=$([ "$name" = ch ] && echo "${ports[1]}" || echo "${ports[3]}")
  t0=$(now)
  sent=$("$feed" --to "tcp://127.0.0.1:$port" --server-key cp.pub --key dp.key --records "$records" --keys "$keys")
  until [ "$(stored "$name")" -ge "$records" ]; do sleep 0.05; done
  t1=$(now)
  python3 -c "import sys; r, a, b = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]); print(f'{sys.argv[4]:>10}: {r / (b - a):,.0f} records/s stored ({b - a:.2f} s); feeder: {sys.argv[5]}')" \
    "$records" "$t0" "$t1" "$([ "$name" = ch ] && echo clickhouse || echo memory)" "$sent"
done
BULKHEAD_CONTROLPLANE="ipc://$work/ch.sock" "$cli" status | grep '^flow store clickhouse'
[ "$days" -gt 0 ] || exit 0

echo "== propose: 1,000,000 aggregates on each of $days days"
clickhouse_query "TRUNCATE TABLE bench.flows" >/dev/null
# The days up to today (UTC), so that --since 30d takes them all.
first_day=$(date -u -d "-$((days - 1)) days" +%F)
first_ms=$(($(date -u -d "$first_day" +%s) * 1000))
t0=$(now)
# The address plan of bulkhead-bench-flows' keys(): 64K clients in 10.1/16,
# 4K servers in 10.2/20, 16 ports; every day the same million aggregates.
ch_max_time=900 clickhouse_query "INSERT INTO bench.flows_input SELECT toDate('$first_day') + intDiv(number, 1000000) AS day,
  IPv4NumToString(toUInt32(167837696 + k % 65536)) AS src,
  IPv4NumToString(toUInt32(167903232 + (intDiv(k, 65536) * 977 + k) % 4096)) AS dst,
  6 AS proto, [22, 53, 80, 123, 389, 443, 636, 1433, 3306, 5432, 6379, 8080, 8443, 9092, 9100, 27017][intDiv(k, 65536) % 16 + 1] AS dport,
  '' AS src_segment, '' AS dst_segment, toUInt16(40000 + k % 20000) AS src_port,
  3 AS flows, 30 AS packets, 3000 AS bytes, 3 AS allowed, 0 AS denied, 0 AS would_deny, 3 AS learnable, 3 AS answered, 0 AS unanswered,
  toInt64($first_ms + intDiv(number, 1000000) * 86400000) AS start_ms, start_ms + 60000 AS end_ms,
  emptyArrayString() AS dns_names, emptyArrayString() AS server_names
  FROM (SELECT number, number % 1000000 AS k FROM numbers($((days * 1000000))))" || exit 1
t1=$(now)
python3 -c "import sys; print(f'generated {sys.argv[1]} rows in {float(sys.argv[3]) - float(sys.argv[2]):.1f} s')" "$((days * 1000000))" "$t0" "$t1"
echo "stored rows: $(clickhouse_query "SELECT count() FROM bench.flows"), parts: $(clickhouse_query "SELECT count() FROM system.parts WHERE database = 'bench' AND table = 'flows' AND active")"
median() { sort -n | sed -n 2p; }
sql=$(python3 -c "print('SELECT count(), sum(f) FROM (SELECT sumMerge(flows) AS f, maxMerge(last_ms) AS l FROM bench.flows GROUP BY src, dst, proto, dport HAVING l >= 0)')")
export ch_max_time=600
echo "query alone (groups, connections): $(clickhouse_query "$sql")"
for _ in 1 2 3; do
  a=$(now); clickhouse_query "$sql" >/dev/null; b=$(now)
  python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$a" "$b"
done | median | xargs printf 'merge query over %s stored rows: %.2f s (median of 3)\n' "$((days * 1000000))"
for _ in 1 2 3; do
  a=$(now)
  BULKHEAD_CONTROLPLANE="ipc://$work/ch.sock" "$cli" learn propose --since 30d -o p.yaml >/dev/null 2>propose.err || { cat propose.err >&2; exit 1; }
  b=$(now)
  python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$a" "$b" >>propose.times
done
[ "$(wc -l <propose.times)" = 3 ] || { echo "learn propose failed: $(cat propose.err)" >&2; exit 1; }
median <propose.times | xargs printf 'learn propose over %s stored rows (1,000,000 aggregates): %.2f s (median of 3)\n' "$((days * 1000000))"
echo "proposal: $(grep -c 'action: allow' p.yaml) rules; $(tail -1 propose.err)"
