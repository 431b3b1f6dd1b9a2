#!/usr/bin/env bash
# Both daemons refuse, at start, an option that could not take effect
# (a flow log with no flow records arriving, flow-record tuning with no
# flow export, one-armed options on port pairs ...): exit 2 and one line
# naming the option and what it needs, instead of running without it.
# And --help says the defaults the code changes.
source "$(dirname "$0")/lib.sh" options

cd "$work"
# refused DESCRIPTION PATTERN -- COMMAND...: exit 2, PATTERN in stderr.
refused() {
  local what=$1 pattern=$2; shift 3
  local out rc
  out=$(timeout 30 "$@" 2>&1 >/dev/null </dev/null); rc=$?
  if [ "$rc" -ne 2 ]; then fail "$what: exit $rc, wanted 2: $out"; return; fi
  if [ "$(grep -c . <<<"$out")" -ne 1 ] || ! grep -qE -- "$pattern" <<<"$out"; then
    fail "$what: not one line with /$pattern/: $out"; return
  fi
  pass "$what"
}

cp=("$build/controlplane/bulkhead-controlplane" --store store --key cp.key --dataplane-key dp.pub
    --listen "tcp://127.0.0.1:$port" --cli "ipc://$work/cli.sock")
flows=(--flow-listen "tcp://127.0.0.1:$port2")
refused "controlplane: --flow-log without --flow-listen" "--flow-log has no effect without --flow-listen" -- \
  "${cp[@]}" --flow-log flows.jsonl
refused "controlplane: --flow-syslog without --flow-listen" "--flow-syslog has no effect without --flow-listen" -- \
  "${cp[@]}" --flow-syslog udp://127.0.0.1:514
refused "controlplane: --flow-retention without --flow-listen" "--flow-retention has no effect without --flow-listen" -- \
  "${cp[@]}" --flow-retention 7d
refused "controlplane: --flow-log-format without a flow log or syslog" \
  "--flow-log-format has no effect without --flow-log or --flow-syslog" -- "${cp[@]}" "${flows[@]}" --flow-log-format ecs
refused "controlplane: --flow-log-size without --flow-log" "--flow-log-size has no effect without --flow-log\b" -- \
  "${cp[@]}" "${flows[@]}" --flow-syslog udp://127.0.0.1:514 --flow-log-size 8
refused "controlplane: --flow-syslog-facility without --flow-syslog" \
  "--flow-syslog-facility has no effect without --flow-syslog" -- "${cp[@]}" "${flows[@]}" --flow-log f.jsonl \
  --flow-syslog-facility daemon
refused "controlplane: --cli-key on an ipc:// CLI endpoint" "--cli-key has no effect without a tcp:// --cli" -- \
  "${cp[@]}" --cli-key ops.pub
refused "controlplane: --flow-store-buffer with the memory store" \
  "--flow-store-buffer has no effect without a clickhouse:// --flow-store" -- "${cp[@]}" "${flows[@]}" --flow-store-buffer 10
refused "controlplane: --flow-capacity with a ClickHouse store" \
  "--flow-capacity has no effect without the memory --flow-store" -- "${cp[@]}" "${flows[@]}" \
  --flow-store clickhouse://127.0.0.1:8123/bulkhead --flow-capacity 10
refused "controlplane: a --flow-store that is not one" "--flow-store: not memory, and database" -- \
  "${cp[@]}" "${flows[@]}" --flow-store "clickhouse://127.0.0.1:8123/b;DROP"
printf 'flow-log = flows.jsonl\n' >cp.conf
refused "controlplane: the same from --config" "--flow-log has no effect without --flow-listen" -- \
  "${cp[@]}" --config cp.conf
refused "controlplane: a bad value is a usage error too" "--flow-log-format: not native" -- \
  "${cp[@]}" "${flows[@]}" --flow-log f.jsonl --flow-log-format csv
check "nothing was created by the refused starts" test ! -e store -a ! -e flows.jsonl -a ! -e f.jsonl

# The dataplane on two null ports; a refused start sets up nothing, so one
# DPDK file prefix serves every run.
dp=("$build/dataplane/bulkhead-dataplane" --no-huge -m 256 --no-pci -l 0,1 --file-prefix "bhopt$$"
    --log-level=lib.eal:error --no-telemetry --vdev=net_null0,no-rx=1 --vdev=net_null1,no-rx=1 -- --policy policy.yaml)
refused "dataplane: --flow-sample without --flow-export" "--flow-sample has no effect without --flow-export" -- \
  "${dp[@]}" --flow-sample 4
refused "dataplane: --key without --controlplane or --flow-export" \
  "--key has no effect without --controlplane or --flow-export" -- "${dp[@]}" --key dp.key
refused "dataplane: --metrics-max-rules without --metrics-listen" \
  "--metrics-max-rules has no effect without --metrics-listen" -- "${dp[@]}" --metrics-max-rules 10
refused "dataplane: --health-port with port pairs" "--health-port has no effect without --insertion geneve or vxlan" -- \
  "${dp[@]}" --health-port 8080
refused "dataplane: --vxlan-external with --insertion geneve" "--vxlan-external has no effect without --insertion vxlan" -- \
  "${dp[@]}" --insertion geneve --ports 0 --address 10.0.0.1 --vxlan-external 4789:7
refused "dataplane: a bad value is a usage error too" "--mode: 'sometimes'" -- "${dp[@]}" --mode sometimes
# Several control planes (docs/ha.md): the lists must line up.
ch=(--controlplane-key cp.pub --key dp.key)
refused "dataplane: an endpoint list with a hole" "--controlplane: an empty item" -- \
  "${dp[@]}" "${ch[@]}" --controlplane tcp://127.0.0.1:7300,,tcp://127.0.0.1:7301
refused "dataplane: an endpoint that is no endpoint" "--controlplane: 'udp://127.0.0.1:7300' is not a tcp://HOST:PORT" -- \
  "${dp[@]}" "${ch[@]}" --controlplane tcp://127.0.0.1:7300,udp://127.0.0.1:7300
refused "dataplane: three keys for two control planes" "--controlplane-key: 3 key files for 2 endpoints" -- \
  "${dp[@]}" --key dp.key --controlplane tcp://127.0.0.1:7300,tcp://127.0.0.1:7301 --controlplane-key a.pub,b.pub,c.pub
printf 'controlplane = tcp://127.0.0.1:7300,tcp://127.0.0.1:7301\nflow-export = tcp://127.0.0.1:7310,tcp://127.0.0.1:7311,tcp://127.0.0.1:7312\n' >dp.conf
refused "dataplane: the same from --config, collectors not one per control plane" \
  "--flow-export: 3 endpoints for 2 control planes" -- "${dp[@]}" "${ch[@]}" --config dp.conf

# Defaults that the code changes (one-armed) are said in --help.
"${dp[@]:0:1}" --help 2>/dev/null | tr -s ' \n' ' ' >dp-help.txt
check "dataplane --help: the one-armed buffer size and UDP timeout" \
  grep -qE -- "--mbuf-size arg \(=2176\) [^-]*one-armed: 9344.*--udp-timeout arg \(=60\) [^-]*one-armed: 120" dp-help.txt

[ "$failures" -eq 0 ]
