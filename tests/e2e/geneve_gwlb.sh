#!/usr/bin/env bash
# AWS Gateway Load Balancer insertion, end to end: a userspace stand-in for
# the balancer (tests/e2e/geneve_lb.py: a TUN device and GENEVE over UDP with
# the three AWS options) sends the clients' traffic through the appliance;
# real clients pass where the policy allows and are blocked where it does
# not; a flow's cookie renewed mid-connection keeps it working; health
# checks (HTTP and a plain TCP connect) pass while the dataplane runs and
# fail while it is stopped.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cloud_lib.sh"
cloud_up || exit 1
tun="bt${name}"
ip netns exec "$lbns" ip tuntap add dev "$tun" mode tun || exit 1
ip -n "$lbns" link set "$tun" mtu 1400 up
# Everything from the client and the server goes into the tunnel; what comes
# back out of it is routed as usual.
ip -n "$lbns" route add default dev "$tun" table 100
ip -n "$lbns" rule add iif "${cdev}0" lookup 100
ip -n "$lbns" rule add iif "${sdev}0" lookup 100
ip netns exec "$lbns" sysctl -qw "net.ipv4.conf.$tun.rp_filter=0"
setsid ip netns exec "$lbns" python3 "$top/tests/e2e/geneve_lb.py" "$tun" 10.100.0.10 10.100.0.5 "$work/lb.json" \
  </dev/null >"$work/lb.log" 2>&1 &
lb_pid=$!
cloud_pids+=("$lb_pid")
cloud_dp_start --insertion geneve || exit 1
for _ in $(seq 50); do grep -q ready "$work/lb.log" && break; sleep 0.1; done

expect_eq ok "$(http_probe 10.0.2.20 8080)" "curl from web to the app's HTTP port through GENEVE (web-to-http)"
expect_eq ok "$(tcp_probe 10.0.2.20 5432)" "nc from web to the database port (web-to-db)"
expect_eq blocked "$(tcp_probe 10.0.2.20 22)" "nc from web to ssh is blocked (no rule)"

# One connection across a cookie renewal: a line, the renewal, another line.
cat >"$work/conv.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("10.0.2.20", 5432), timeout=3)
s.sendall(b"one\n"); a = s.recv(100)
open(sys.argv[1], "w").write("1")
time.sleep(1.5)
s.sendall(b"two\n"); b = s.recv(100)
print("ok" if a == b"one\n" and b == b"two\n" else "broken")
PY
ip netns exec "$cns" python3 "$work/conv.py" "$work/first" >"$work/conv.out" 2>&1 &
conv=$!
for _ in $(seq 30); do [ -f "$work/first" ] && break; sleep 0.1; done
kill -USR1 "$lb_pid"
wait "$conv"
expect_eq ok "$(cat "$work/conv.out")" "a connection goes on after the balancer renews its flow cookie"

expect_eq 200 "$(health_http /)" "HTTP health check of / is 200"
expect_eq 404 "$(health_http /nothing)" "HTTP health check of another path is 404"
expect_eq ok "$(health_tcp)" "TCP health check connects"
kill -STOP "$dp_pid"
expect_eq 000 "$(health_http /)" "HTTP health check fails while the dataplane is stopped"
expect_eq failed "$(health_tcp)" "TCP health check fails while the dataplane is stopped"
kill -CONT "$dp_pid"
sleep 0.5
expect_eq 200 "$(health_http /)" "HTTP health check passes again once it runs"

# Tunnelled packets are counted as such; the VXLAN tunnels' counts stay 0.
tel() { python3 "$top/tools/lab/telemetry.py" "bhc$name" /bulkhead/insertion "$1" 2>/dev/null; }
tun_n=$(tel tunnel_received); ext_n=$(tel vxlan_external_received); int_n=$(tel vxlan_internal_received)
check "GENEVE packets counted as tunnelled ($tun_n), none as VXLAN (external $ext_n, internal $int_n)" \
  [ "${tun_n:-0}" -gt 0 -a "${ext_n:-x}" = 0 -a "${int_n:-x}" = 0 ]

kill "$lb_pid"
for _ in $(seq 30); do [ -s "$work/lb.json" ] && break; sleep 0.1; done
expect_eq 0 "$(json_get "$work/lb.json" 'd["bad_echoes"]')" "every echo carried a cookie the balancer gave its flow"
echoed=$(json_get "$work/lb.json" 'd["echoed"]')
check "the balancer got echoes back ($echoed)" [ "${echoed:-0}" -gt 10 ]
answered=$(python3 "$top/tools/lab/telemetry.py" "bhc$name" /bulkhead/insertion health_answered 2>/dev/null)
check "the dataplane answered health checks ($answered)" [ "${answered:-0}" -gt 0 ]
finish
