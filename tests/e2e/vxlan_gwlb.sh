#!/usr/bin/env bash
# Azure Gateway Load Balancer insertion, end to end, with the kernel's own
# VXLAN devices as the balancer's two tunnels: the client's traffic enters
# the external tunnel (UDP 10800, VNI 800) and must come back on the
# internal one (10801, VNI 801), the server's the other way round; real
# clients pass where the policy allows and are blocked where it does not;
# the health check is answered without a tunnel.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cloud_lib.sh"
cloud_up || exit 1
ext="ve${name}"; int="vi${name}"
for t in "$ext:800:10800" "$int:801:10801"; do
  IFS=: read -r dev vni port <<<"$t"
  ip -n "$lbns" link add "$dev" type vxlan id "$vni" dstport "$port" local 10.100.0.10 remote 10.100.0.5 \
    dev "${adev}1" nolearning || exit 1
  ip -n "$lbns" link set "$dev" up
  ip netns exec "$lbns" sysctl -qw "net.ipv4.conf.$dev.rp_filter=0"
done
mac() { ip -n "$lbns" -o link show "$1" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
# Into the external tunnel toward the internal device's MAC, and back: the
# appliance keeps the inner frame, so each tunnel's frames arrive addressed
# to the device of the other.
ip -n "$lbns" neigh add 169.254.0.2 lladdr "$(mac "$int")" dev "$ext" nud permanent
ip -n "$lbns" neigh add 169.254.0.3 lladdr "$(mac "$ext")" dev "$int" nud permanent
ip -n "$lbns" route add default via 169.254.0.2 dev "$ext" onlink table 100
ip -n "$lbns" route add default via 169.254.0.3 dev "$int" onlink table 101
ip -n "$lbns" rule add iif "${cdev}0" lookup 100
ip -n "$lbns" rule add iif "${sdev}0" lookup 101
cloud_dp_start --insertion vxlan || exit 1

expect_eq ok "$(http_probe 10.0.2.20 8080)" "curl from web to the app's HTTP port through the two tunnels (web-to-http)"
expect_eq ok "$(tcp_probe 10.0.2.20 5432)" "nc from web to the database port (web-to-db)"
expect_eq blocked "$(tcp_probe 10.0.2.20 22)" "nc from web to ssh is blocked (no rule)"
expect_eq 200 "$(health_http /)" "the health probe is answered without a tunnel"
tel() { python3 "$top/tools/lab/telemetry.py" "bhc$name" /bulkhead/insertion "$1" 2>/dev/null; }
ext_n=$(tel vxlan_external_received); int_n=$(tel vxlan_internal_received)
check "packets came on both tunnels (external $ext_n, internal $int_n)" [ "${ext_n:-0}" -gt 0 -a "${int_n:-0}" -gt 0 ]
finish
