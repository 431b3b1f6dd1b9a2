# The cloud lab of the one-armed insertion tests: a client namespace and a
# server namespace joined by a load balancer namespace, which sends all
# their traffic through the appliance (bulkhead-dataplane, one af_packet
# port on the root end of a veth) inside a tunnel, as a cloud's gateway
# load balancer does:
#
#   client 10.0.1.10 --- 10.0.1.1 [lb] 10.0.2.1 --- 10.0.2.20 server
#                                  |  10.100.0.10
#                                  +--- veth --- appliance 10.100.0.5 (DPDK)
#
# Sourced by a test after lib.sh; everything made here has the test's
# unique name and is removed at exit, whatever the outcome.
cns="bhc-$name-c"; sns="bhc-$name-s"; lbns="bhc-$name-lb"
cdev="bc${name}"; sdev="bs${name}"; adev="ba${name}"
dp_log="$work/dp.log"
dp_pid=""
cloud_pids=()

cloud_down() {
  [ -n "$dp_pid" ] && kill -CONT "$dp_pid" 2>/dev/null
  [ -n "$dp_pid" ] && kill "$dp_pid" 2>/dev/null && for _ in $(seq 50); do kill -0 "$dp_pid" 2>/dev/null || break; sleep 0.1; done
  for p in "${cloud_pids[@]}"; do kill "$p" 2>/dev/null; done
  for ns in "$cns" "$sns" "$lbns"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  for dev in "${cdev}0" "${sdev}0" "${adev}0"; do ip link del "$dev" 2>/dev/null; done
  python3 "$top/tools/lab/procs.py" remove-runtime-dir "bhc$name"
}
cloud_cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] || [ "$failures" -ne 0 ]; then
    echo "--- dataplane log ---"
    tail -40 "$dp_log" 2>/dev/null
  fi
  cloud_down
  rm -rf "$work"
}
trap cloud_cleanup EXIT

# cloud_up: the namespaces, addresses, routes and servers.
cloud_up() {
  cloud_down
  ip netns add "$cns" && ip netns add "$sns" && ip netns add "$lbns" || return 1
  ip link add "${cdev}0" type veth peer name "${cdev}1" || return 1
  ip link add "${sdev}0" type veth peer name "${sdev}1" || return 1
  ip link add "${adev}0" type veth peer name "${adev}1" || return 1
  ip link set "${cdev}0" netns "$lbns"; ip link set "${cdev}1" netns "$cns"
  ip link set "${sdev}0" netns "$lbns"; ip link set "${sdev}1" netns "$sns"
  ip link set "${adev}1" netns "$lbns"
  sysctl -qw "net.ipv6.conf.${adev}0.disable_ipv6=1"
  ip link set "${adev}0" up
  ethtool -K "${adev}0" tx off rx off >/dev/null 2>&1
  local ns dev
  for pair in "$cns:${cdev}1" "$sns:${sdev}1" "$lbns:${cdev}0" "$lbns:${sdev}0" "$lbns:${adev}1"; do
    ns=${pair%%:*}; dev=${pair#*:}
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$dev" up
    ip netns exec "$ns" ethtool -K "$dev" tx off rx off >/dev/null 2>&1
  done
  # The tunnel's overhead (GENEVE with AWS's options: 82 bytes) fits under
  # the appliance link's 1500 bytes: the clients' and servers' links are
  # smaller, as AWS's 8,500-byte inner MTU under 9,001 is.
  for pair in "$cns:${cdev}1" "$sns:${sdev}1" "$lbns:${cdev}0" "$lbns:${sdev}0"; do
    ip -n "${pair%%:*}" link set "${pair#*:}" mtu 1400
  done
  ip -n "$cns" addr add 10.0.1.10/24 dev "${cdev}1"
  ip -n "$cns" route add default via 10.0.1.1
  ip -n "$sns" addr add 10.0.2.20/24 dev "${sdev}1"
  ip -n "$sns" route add default via 10.0.2.1
  ip -n "$lbns" addr add 10.0.1.1/24 dev "${cdev}0"
  ip -n "$lbns" addr add 10.0.2.1/24 dev "${sdev}0"
  ip -n "$lbns" addr add 10.100.0.10/24 dev "${adev}1"
  ip netns exec "$lbns" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$lbns" sysctl -qw net.ipv4.conf.all.rp_filter=0
  ip netns exec "$lbns" sysctl -qw net.ipv4.conf.default.rp_filter=0
  setsid ip netns exec "$sns" python3 "$top/tools/lab/servers.py" tcp 0.0.0.0 5432 22 </dev/null >"$work/srv-tcp.log" 2>&1 &
  cloud_pids+=($!)
  mkdir -p "$work/www" && echo "hello from the app server" >"$work/www/index.html"
  setsid ip netns exec "$sns" python3 -m http.server 8080 --bind 10.0.2.20 --directory "$work/www" </dev/null \
    >"$work/srv-http.log" 2>&1 &
  cloud_pids+=($!)
  for _ in $(seq 50); do
    ip netns exec "$sns" ss -ltn 2>/dev/null | grep -q ':8080' && ip netns exec "$sns" ss -ltn | grep -q ':5432' &&
      return 0
    sleep 0.1
  done
  echo "servers did not start"
  return 1
}

# cloud_dp_start ARGS...: the appliance on the lab's veth, with ARGS after --.
cloud_dp_start() {
  local build=${BULKHEAD_BUILD_DIR:-$top/build}
  : >"$dp_log"  # now: the job's own redirection may come after the first wait below (a restart's log)
  setsid "$build/dataplane/bulkhead-dataplane" --no-huge -m 512 --no-pci -l 0,1 --file-prefix "bhc$name" \
    --vdev="net_af_packet0,iface=${adev}0,qpairs=1" -- --policy "$policy" --mbufs 4096 \
    --ports 0 --address 10.100.0.5 "$@" </dev/null >>"$dp_log" 2>&1 &
  dp_pid=$!
  for _ in $(seq 200); do
    grep -q "ready:" "$dp_log" 2>/dev/null && return 0
    kill -0 "$dp_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "dataplane did not start:"; cat "$dp_log"
  return 1
}

# Clients in the client namespace; each prints ok or blocked.
http_probe() {  # http_probe HOST PORT
  if ip netns exec "$cns" curl -s --max-time 3 "http://$1:$2/" | grep -q hello; then echo ok; else echo blocked; fi
}
tcp_probe() {  # tcp_probe HOST PORT: nc connects, sends a line, reads the echo
  if echo ping | ip netns exec "$cns" timeout 4 nc -N -w 3 "$1" "$2" 2>/dev/null | grep -q ping; then echo ok; else echo blocked; fi
}
# Health checks from the load balancer's namespace to the appliance's address.
health_http() {
  ip netns exec "$lbns" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://10.100.0.5:80${1:-/}" 2>/dev/null
}
health_tcp() {
  if ip netns exec "$lbns" timeout 3 nc -z -w 2 10.100.0.5 80 2>/dev/null; then echo ok; else echo failed; fi
}
expect_eq() {  # expect_eq WANT GOT DESCRIPTION
  if [ "$1" = "$2" ]; then echo "PASS $3 ($2)"; else echo "FAIL $3 (wanted $1, got ${2:-nothing})"; failures=$((failures + 1)); fi
}
