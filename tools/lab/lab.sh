#!/usr/bin/env bash
# The built-in lab: two network namespaces joined through bulkhead-dataplane.
#
#   lab.sh up NAME                     create namespaces, veths, addresses, servers
#   lab.sh dp-start NAME POLICY [ARGS] start the dataplane on the lab (ARGS after --)
#   lab.sh dp-reload NAME              SIGHUP the dataplane
#   lab.sh dp-stop NAME                stop the dataplane
#   lab.sh dp-kill NAME                kill -9 the dataplane, wait until it has exited
#   lab.sh probe NAME KIND SRC DST PORT  run a client (tcp, udp, http) from the side
#                                      that owns SRC; prints ok or blocked
#   lab.sh telemetry NAME COMMAND [KEY]
#   lab.sh down NAME                   remove everything the lab made (idempotent)
#
# NAME is short (at most 8 characters): interface names derive from it.
# Environment: BULKHEAD_BUILD_DIR (default: build), DP_LCORES (EAL lcore
# options, default "-l 0,1"), BULKHEAD_LAB_RUN (where each lab keeps its
# pid files and logs, in a folder named after it; default /run/bulkhead-lab). Traffic stays between the lab's namespaces.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${BULKHEAD_BUILD_DIR:-$top/build}

# Inside (dataplane port 0): web client and a corp admin host.
WEB4=10.0.1.10; WEB6=fd00:1::10; CORP4=192.168.1.10
# Outside (dataplane port 1): the app/db server and an internet host.
APP4=10.0.2.20; APP6=fd00:2::20; INET4=203.0.113.10; INET6=2001:db8:100::10

state_dir() { echo "${BULKHEAD_LAB_RUN:-/run/bulkhead-lab}/$1"; }
ns_in() { echo "bhl-$1-in"; }
ns_out() { echo "bhl-$1-out"; }

check_name() {
  [[ "$1" =~ ^[a-z0-9]{1,8}$ ]] || { echo "lab: NAME must be 1-8 lowercase letters or digits" >&2; exit 2; }
}

start_bg() {  # ns pidfile logfile cmd...
  local ns=$1 pidfile=$2 log=$3; shift 3
  setsid ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
  echo $! >"$pidfile"
}

up() {
  local n=$1 s; s=$(state_dir "$n")
  check_name "$n"
  down "$n" >/dev/null 2>&1 || true
  mkdir -p "$s"
  local in out; in=$(ns_in "$n"); out=$(ns_out "$n")
  ip netns add "$in"
  ip netns add "$out"
  ip link add "bh${n}i0" type veth peer name "bh${n}i1"
  ip link add "bh${n}o0" type veth peer name "bh${n}o1"
  ip link set "bh${n}i1" netns "$in"
  ip link set "bh${n}o1" netns "$out"
  for dev in "bh${n}i0" "bh${n}o0"; do
    sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" || true
    ip link set "$dev" up
    ethtool -K "$dev" tx off rx off >/dev/null 2>&1 || true
  done
  local dev="bh${n}i1"
  ip -n "$in" link set lo up
  ip -n "$in" link set "$dev" up
  ip netns exec "$in" ethtool -K "$dev" tx off rx off >/dev/null 2>&1 || true
  ip -n "$in" addr add "$WEB4/24" dev "$dev"
  ip -n "$in" addr add "$CORP4/16" dev "$dev"
  ip -n "$in" addr add "$WEB6/64" dev "$dev" nodad
  ip -n "$in" route add 10.0.0.0/16 dev "$dev"
  ip -n "$in" route add 203.0.113.0/24 dev "$dev"
  ip -n "$in" -6 route add fd00::/8 dev "$dev"
  ip -n "$in" -6 route add 2001:db8:100::/64 dev "$dev"
  dev="bh${n}o1"
  ip -n "$out" link set lo up
  ip -n "$out" link set "$dev" up
  ip netns exec "$out" ethtool -K "$dev" tx off rx off >/dev/null 2>&1 || true
  ip -n "$out" addr add "$APP4/24" dev "$dev"
  ip -n "$out" addr add "$INET4/24" dev "$dev"
  ip -n "$out" addr add "$APP6/64" dev "$dev" nodad
  ip -n "$out" addr add "$INET6/64" dev "$dev" nodad
  ip -n "$out" route add 10.0.0.0/16 dev "$dev"
  ip -n "$out" route add 192.168.0.0/16 dev "$dev"
  ip -n "$out" -6 route add fd00::/8 dev "$dev"
  # Servers: database-like and ssh-like echo on the app host, HTTP on 8080
  # (both families), DNS-like UDP, and HTTP on 443 on the internet host.
  start_bg "$out" "$s/srv-tcp.pid" "$s/srv-tcp.log" python3 "$here/servers.py" tcp :: 5432 22
  start_bg "$out" "$s/srv-udp.pid" "$s/srv-udp.log" python3 "$here/servers.py" udp :: 53
  mkdir -p "$s/www"
  echo "hello from the app server" >"$s/www/index.html"
  start_bg "$out" "$s/srv-http.pid" "$s/srv-http.log" python3 -m http.server 8080 --bind :: --directory "$s/www"
  start_bg "$out" "$s/srv-https.pid" "$s/srv-https.log" python3 -m http.server 443 --bind "$INET4" --directory "$s/www"
  # The web host serves too, so tests can try to open connections towards it.
  start_bg "$in" "$s/srv-web.pid" "$s/srv-web.log" python3 "$here/servers.py" tcp :: 41000
  # Wait until the listeners are up.
  for _ in $(seq 50); do
    if ip netns exec "$out" ss -ltn 2>/dev/null | grep -q ':8080' &&
       ip netns exec "$out" ss -ltn 2>/dev/null | grep -q ':5432' &&
       ip netns exec "$out" ss -ltn 2>/dev/null | grep -q ':443' &&
       ip netns exec "$in" ss -ltn 2>/dev/null | grep -q ':41000'; then
      return 0
    fi
    sleep 0.1
  done
  echo "lab: servers did not start" >&2
  return 1
}

dp_start() {
  local n=$1 policy=$2; shift 2
  local s; s=$(state_dir "$n")
  local bin="$build/dataplane/bulkhead-dataplane"
  [ -x "$bin" ] || { echo "lab: $bin not built" >&2; return 1; }
  local attempt
  for attempt in 1 2 3; do
    # Emptied here, not by the background job's redirection: that runs
    # when the job gets to it, and until then the wait below would read
    # the last run's "ready:" line.
    : >"$s/dp.log"
    # shellcheck disable=SC2086
    setsid "$bin" --no-huge -m 512 --no-pci ${DP_LCORES:--l 0,1} --file-prefix "bhl$n" \
      --log-level=bulkhead.dataplane:info \
      --vdev="net_af_packet0,iface=bh${n}i0,qpairs=1" --vdev="net_af_packet1,iface=bh${n}o0,qpairs=1" \
      -- --policy "$policy" --pid-file "$s/dp.pid" "$@" </dev/null >>"$s/dp.log" 2>&1 &
    echo $! >"$s/dp.launcher"
    # Up to 30 s: a loaded machine (tests side by side, a sanitizer build)
    # can take more than 10 s to bring up the EAL; a dataplane that exits
    # ends the wait at once.
    for _ in $(seq 600); do
      grep -q "ready:" "$s/dp.log" 2>/dev/null && return 0
      kill -0 "$(cat "$s/dp.launcher")" 2>/dev/null || break
      sleep 0.05
    done
    # DPDK's af_packet driver names its socket fanout group after the
    # process id and the interface index: a group of another process (a
    # lab beside this one) that happens to have the same number, bound to
    # another interface, refuses the join. A new process has a new number.
    grep -q "could not set PACKET_FANOUT" "$s/dp.log" 2>/dev/null || break
    echo "lab: af_packet fanout group taken (attempt $attempt); starting again" >&2
  done
  echo "lab: dataplane did not start:" >&2
  cat "$s/dp.log" >&2
  return 1
}

# Kills the dataplane with SIGKILL and waits until it has exited (its
# sockets closed): a crash, as the fault tests need one. The launcher's
# process is the main thread; it turns zombie (its parent, the test, does
# not reap it) while its other threads may still be exiting and holding
# the files they share: the sockets, and the EAL's locked memory lists
# under /var/run/dpdk, which a restart on the same prefix needs ("Cannot
# allocate memzone list"). So the wait ends when the process is gone, or
# is a zombie with no thread left but its main one.
dp_kill() {
  local n=$1 s; s=$(state_dir "$n")
  [ -f "$s/dp.launcher" ] || return 0
  local pid; pid=$(cat "$s/dp.launcher")
  kill -KILL "$pid" 2>/dev/null || true
  local state threads
  for _ in $(seq 200); do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    [ -z "$state" ] && break
    threads=$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    [ "$state" = Z ] && [ "$threads" -le 1 ] && break
    sleep 0.05
  done
  rm -f "$s/dp.launcher"
}

dp_pid() { cat "$(state_dir "$1")/dp.launcher"; }

dp_reload() {
  local n=$1 s; s=$(state_dir "$n")
  local before; before=$(grep -c "policy reload" "$s/dp.log" || true)
  kill -HUP "$(dp_pid "$n")"
  for _ in $(seq 100); do
    [ "$(grep -c "policy reload" "$s/dp.log" || true)" -gt "$before" ] && return 0
    sleep 0.05
  done
  echo "lab: the dataplane did not report the reload" >&2
  return 1
}

dp_stop() {
  local n=$1 s; s=$(state_dir "$n")
  [ -f "$s/dp.launcher" ] || return 0
  local pid; pid=$(cat "$s/dp.launcher")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$s/dp.launcher"
}

side_of() {  # which namespace owns an address
  case "$2" in
    "$WEB4"|"$WEB6"|"$CORP4") ns_in "$1" ;;
    *) ns_out "$1" ;;
  esac
}

probe() {
  local n=$1 kind=$2 src=$3 dst=$4 port=$5 ns; ns=$(side_of "$n" "$src")
  case "$kind" in
    http)
      local host=$dst; [[ "$dst" == *:* ]] && host="[$dst]"
      if ip netns exec "$ns" curl -s --max-time 3 --interface "$src" "http://$host:$port/" | grep -q "hello"; then
        echo ok; return 0
      fi
      echo blocked; return 1 ;;
    tcp|udp) ip netns exec "$ns" timeout 10 python3 "$here/client.py" "$kind" "$src" "$dst" "$port" ;;
    *) echo "lab: probe kind is tcp, udp or http" >&2; return 2 ;;
  esac
}

telemetry() { python3 "$here/telemetry.py" "bhl$1" "${@:2}"; }

down() {
  local n=$1 s; s=$(state_dir "$n")
  dp_stop "$n" 2>/dev/null || true
  if [ -d "$s" ]; then
    for f in "$s"/*.pid; do
      [ -f "$f" ] || continue
      local pid; pid=$(cat "$f")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
  fi
  for ns in "$(ns_in "$n")" "$(ns_out "$n")"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  ip link del "bh${n}i0" 2>/dev/null || true
  ip link del "bh${n}o0" 2>/dev/null || true
  rm -rf "$s"
  python3 "$here/procs.py" remove-runtime-dir "bhl$n"
}

cmd=${1:-}; shift || true
case "$cmd" in
  up) up "$@" ;;
  dp-start) dp_start "$@" ;;
  dp-reload) dp_reload "$@" ;;
  dp-stop) dp_stop "$@" ;;
  dp-kill) dp_kill "$@" ;;
  probe) probe "$@" ;;
  telemetry) telemetry "$@" ;;
  down) down "$@" ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
