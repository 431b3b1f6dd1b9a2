#!/usr/bin/env bash
# The floor benchmark is an instrument the benchmark figures rest on: with
# its table rounds on, it must still forward every frame it receives,
# unchanged and in order, and refuse options it cannot honour.
source "$(dirname "$0")/lib.sh" floor
floor="$build/tools/bench/bulkhead-bench-floor"

cd "$work"
python3 "$src/tools/bench/gen_pcap.py" --flows 4096 in.pcap >/dev/null || exit 1
"$floor" --no-huge -m 512 --no-pci -l 0,1 --file-prefix "bhfloor$$" --vdev=net_pcap0,rx_pcap=in.pcap \
  --vdev=net_pcap1,tx_pcap=out.pcap -- --rounds 2 --lines 2 --entries 1024 --mbufs 8191 >floor.log 2>&1 &
pid=$!
pids+=("$pid")
# The capture is read once; the frames are all out when the receive side
# has no more (the port's counters are on its telemetry).
for _ in $(seq 1 100); do
  n=$(tel "bhfloor$$" "/ethdev/stats,1" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['/ethdev/stats']['opackets'])" 2>/dev/null)
  [ "${n:-0}" -ge 4096 ] && break
  sleep 0.2
done
kill -TERM "$pid"
wait "$pid"
check "stops cleanly on SIGTERM" [ $? = 0 ]
check "every frame forwarded unchanged and in order" [ "$(pcap_frames out.pcap)" = "$(pcap_frames in.pcap)" ]
check "says what it measures" grep -q "2 round(s) into 1024 entries" floor.log

"$floor" --no-huge -m 256 --no-pci -l 0,1 --file-prefix "bhfloor$$b" --vdev=net_null0 --vdev=net_null1 \
  -- --rounds 9 >bad.log 2>&1
check "refuses more rounds than it has" [ $? = 2 ]
check "says which option" grep -q "bad option or value: --rounds 9" bad.log
[ "$failures" = 0 ]
