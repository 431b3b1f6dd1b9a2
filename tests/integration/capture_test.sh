#!/usr/bin/env bash
# `bulkhead capture` on a running dataplane, read back with the real tshark:
# the dataplane replays a capture of allowed DNS, default-denied UDP and
# rule-denied telnet packets (net_pcap, infinite_rx); each capture writes a
# pcapng file whose packets are exactly the ones its filter names, each
# with a comment naming the verdict, the rule and the drop reason. A
# capture whose reader stalls loses copies, counted, while forwarding goes
# on; a second capture meanwhile is refused; bad arguments give one clear
# line and exit 2. Every process is stopped in every outcome.
source "$(dirname "$0")/lib.sh" capture

command -v tshark >/dev/null || { echo "SKIP: tshark not installed (tools/setup installs it)"; exit 77; }
cd "$work"

# 4 DNS queries (allowed by web-dns), 2 UDP packets to port 9999 (denied by
# the default action), 2 telnet SYNs (denied by no-telnet).
python3 - <<'PY'
import struct
def csum(b):
    s = sum(struct.unpack('>%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def frame(proto, sport, dport):
    l4 = struct.pack('>HHHH', sport, dport, 8, 0) if proto == 17 else \
         struct.pack('>HHIIBBHHH', sport, dport, 1, 0, 0x50, 0x02, 8192, 0, 0)
    ip = bytearray(struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0,
                               bytes([10, 0, 1, 5]), bytes([10, 0, 2, 9])))
    ip[10:12] = struct.pack('>H', csum(bytes(ip)))
    return b'\x02\0\0\0\0\x02' + b'\x02\0\0\0\0\x01' + b'\x08\x00' + bytes(ip) + l4
frames = [frame(17, 1000 + i, 53) for i in range(4)] + [frame(17, 2000 + i, 9999) for i in range(2)] + \
         [frame(6, 3000 + i, 23) for i in range(2)]
with open('traffic.pcap', 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for d in frames:
        f.write(struct.pack('<IIII', 0, 0, len(d), len(d)) + d)
PY
cat >policy.yaml <<'YML'
version: 1
defaults: { action: deny, mode: enforce }
rules:
  - { id: web-dns, proto: udp, ports: [53], action: allow }
  - { id: no-telnet, proto: tcp, ports: [23], action: deny }
YML
prefix="bhcap$$"
"$build/dataplane/bulkhead-dataplane" --no-huge -m 512 --no-pci -l 0,1 --file-prefix "$prefix" \
  --vdev=net_pcap0,rx_pcap=traffic.pcap,infinite_rx=1 --vdev=net_null1,no-rx=1 -- --mbufs 4096 \
  --policy policy.yaml >dp.log 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q ready dp.log && break; sleep 0.1; done
grep -q ready dp.log || { cat dp.log; fail "the dataplane starts"; exit 1; }

# fields FILE FIELD...: tshark's fields of every packet, tab-separated.
fields() { local f=$1; shift; tshark -r "$f" -T fields $(printf -- '-e %s ' "$@") 2>tshark.err; }
count_lines() { grep -c "$1" || true; }

"$cli" capture --prefix "$prefix" --drops --count 40 -w drops.pcapng 2>drops.err
check "a drop capture ends at its count" grep -q "40 packets written to drops.pcapng" drops.err
fields drops.pcapng frame.comment udp.dstport tcp.dstport >drops.txt
check "tshark reads 40 packets" test "$(wc -l <drops.txt)" = 40
check "every one a drop" test "$(count_lines '^verdict=drop ' <drops.txt)" = 40
check "the default action's drops carry rule and reason" \
  test "$(grep -c $'^verdict=drop rule=default reason=policy_deny\t9999' drops.txt)" -gt 0
check "no-telnet's drops carry rule and reason" \
  test "$(grep -c $'^verdict=drop rule=no-telnet reason=policy_deny\t\t23' drops.txt)" -gt 0
check "no forwarded packet is in it" test "$(count_lines $'\t53' <drops.txt)" = 0

"$cli" capture --prefix "$prefix" --rule web-dns --count 10 -w dns.pcapng 2>dns.err
fields dns.pcapng frame.comment udp.dstport >dns.txt
check "a rule capture holds only that rule's packets, forwarded" \
  test "$(grep -c $'^verdict=pass rule=web-dns\t53$' dns.txt)" = 10

"$cli" capture --prefix "$prefix" --rule no-telnet --reason policy_deny --count 5 -w telnet.pcapng 2>telnet.err
fields telnet.pcapng frame.comment tcp.dstport >telnet.txt
check "rule and reason together" test "$(grep -c $'^verdict=drop rule=no-telnet reason=policy_deny\t23$' telnet.txt)" = 5

"$cli" capture --prefix "$prefix" --all --count 64 -w all.pcapng 2>all.err
fields all.pcapng frame.comment >all.txt
check "--all holds forwarded and dropped packets" \
  test "$(count_lines '^verdict=pass' <all.txt)" -gt 0 -a "$(count_lines '^verdict=drop' <all.txt)" -gt 0
check "--all stops at its count" test "$(wc -l <all.txt)" = 64
check "the file names the dataplane's ports" test "$(tshark -r all.pcapng -T fields -e frame.interface_name 2>/dev/null | sort -u | grep -c 'dpdk:net_pcap0')" = 1

"$cli" capture --prefix "$prefix" --reason tcp_invalid --duration 500ms -w none.pcapng 2>none.err
check "a filter that matches nothing ends at its duration" grep -q "0 packets written.*duration reached" none.err
check "its file is a valid capture of nothing" test "$(tshark -r none.pcapng -T fields -e frame.number 2>none.tshark | wc -l)" = 0
check "tshark reads it without a complaint" test ! -s none.tshark -o "$(grep -vc 'Running as user' none.tshark)" = 0

# A reader that stalls: the pipe, then the socket fill, the capture thread
# waits, the workers' ring fills and copies are lost, counted; forwarding
# goes on meanwhile.
tx_before=$(tel "$prefix" /bulkhead/stats tx_packets)
"$cli" capture --prefix "$prefix" --all --rate 1000000 --count 4000 -w - 2>stall.err | { sleep 1.5; cat >stall.pcapng; }
lost=$(sed -n 's/.*; \([0-9]*\) copies lost to a full ring.*/\1/p' stall.err)
check "a stalled reader's losses are reported ($lost)" test "${lost:-0}" -gt 0
check "and counted in telemetry" test "$(tel "$prefix" /bulkhead/stats capture_lost)" -gt 0
check "the stalled capture's file is whole" test "$(tshark -r stall.pcapng 2>/dev/null | wc -l)" = 4000
check "forwarding went on" test "$(tel "$prefix" /bulkhead/stats tx_packets)" -gt "$tx_before"

"$cli" capture --prefix "$prefix" --drops --count 1000000 --duration 3s -w long.pcapng 2>long.err &
long=$!
sleep 0.5
"$cli" capture --prefix "$prefix" --drops -w second.pcapng 2>second.err
rc=$?
check "a second capture meanwhile is refused" test $rc = 2
check "and told why" grep -q "a capture is already running" second.err
wait $long
check "the first one finishes" grep -q "duration reached" long.err

# Bad arguments: one line, exit 2, nothing sent.
bad() {  # WHAT EXPECTED-TEXT ARGS...
  local what=$1 want=$2; shift 2
  "$cli" capture "$@" >bad.out 2>bad.err
  local r=$?
  if [ $r = 2 ] && grep -q -- "$want" bad.err; then pass "$what"; else fail "$what (exit $r: $(cat bad.err))"; fi
}
bad "an unknown reason lists the reasons" "is not a drop reason; one of: truncated_l2" --prefix "$prefix" --reason nope -w x.pcapng
bad "--all with a filter" "--all takes every packet" --prefix "$prefix" --all --drops -w x.pcapng
bad "no file" "say where to write" --prefix "$prefix" --drops
bad "a zero count" "--count must be" --prefix "$prefix" --count 0 -w x.pcapng
bad "a bad duration" "--duration '5x'" --prefix "$prefix" --duration 5x -w x.pcapng
bad "no such dataplane" "no dataplane with DPDK file prefix 'nosuch$$'" --prefix "nosuch$$" -w x.pcapng
check "a refused request leaves no file" test ! -e x.pcapng

[ $failures = 0 ] || { echo "--- dataplane log"; tail -20 dp.log; }
echo "$failures failures"
[ $failures = 0 ]
