#!/usr/bin/env bash
# Egress by name in the lab: a real resolver (dnsmasq, in the outside
# namespace) answers names across the dataplane, and curl, resolving
# through it as any application does, reaches the allowed name and not the
# others; a name whose address changes keeps working; a dataplane restart
# keeps the bindings; a binding past its TTL and grace admits nothing new.
source "$(dirname "$0")/lib.sh"
command -v dnsmasq >/dev/null || { echo "FAIL dnsmasq is not installed (tools/setup installs dnsmasq-base)"; exit 1; }
lab_up || exit 1
ns_in="bhl-$name-in"
ns_out="bhl-$name-out"
out_dev="bh${name}o1"
# The resolver and three internet hosts, each serving HTTP on port 80.
ip -n "$ns_out" addr add 10.0.2.53/24 dev "$out_dev"
for h in 20 21 30 40; do ip -n "$ns_out" addr add "203.0.113.$h/24" dev "$out_dev"; done
mkdir -p "$work/www"
echo "hello from the internet" >"$work/www/index.html"
setsid ip netns exec "$ns_out" python3 -m http.server 80 --bind 0.0.0.0 --directory "$work/www" \
  </dev/null >"$work/http.log" 2>&1 &
http_pid=$!
# The lab's echo server holds UDP port 53 there: the resolver takes its place.
srv_udp="$BULKHEAD_LAB_RUN/$name/srv-udp.pid"
kill -TERM -- "-$(cat "$srv_udp")" 2>/dev/null
rm -f "$srv_udp"
for _ in $(seq 50); do
  ip netns exec "$ns_out" ss -lun 2>/dev/null | grep -q ':53 ' || break
  sleep 0.1
done
# dnsmasq: only what the hosts file says, with a 2 s TTL; SIGHUP rereads it.
hosts="$work/hosts"
printf '203.0.113.20 allowed.example\n203.0.113.30 blocked.example\n' >"$hosts"
setsid ip netns exec "$ns_out" dnsmasq --keep-in-foreground --no-resolv --no-hosts --addn-hosts="$hosts" \
  --user=root --listen-address=10.0.2.53 --bind-interfaces --port=53 --local-ttl=2 --no-dhcp-interface="$out_dev" \
  --pid-file="$work/dnsmasq.pid" --log-facility="$work/dnsmasq.log" --log-queries </dev/null >/dev/null 2>&1 &
dns_pid=$!
trap 'kill $http_pid $dns_pid 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do
  ip netns exec "$ns_out" ss -lun 2>/dev/null | grep -q '10.0.2.53:53' && break
  sleep 0.1
done
# The web host resolves through that resolver: its own resolv.conf,
# bind-mounted in a private mount namespace of the client alone.
echo "nameserver 10.0.2.53" >"$work/resolv.conf"
printf 'hosts: dns\n' >"$work/nsswitch.conf"
in_client() {
  ip netns exec "$ns_in" unshare -m --propagation private sh -c \
    'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"' \
    sh "$work/resolv.conf" "$work/nsswitch.conf" "$@"
}
# get URL: prints ok when the page came back, else blocked.
get() {
  if in_client curl -s --max-time 3 --interface 10.0.1.10 "$1" | grep -q "hello"; then echo ok; else echo blocked; fi
}
expect_get() {  # expect_get ok|blocked URL WHAT
  local got; got=$(get "$2")
  if [ "$got" = "$1" ]; then echo "PASS $3 ($2 $got)"; else echo "FAIL $3 ($2: wanted $1, got $got)"; failures=$((failures + 1)); fi
}

cat >"$policy" <<'YAML'
version: 1
defaults: { action: deny }
segments:
  web: [10.0.1.10]
  resolver: [10.0.2.53]
dns: { trusted: [resolver], grace: 8 }
rules:
  - { id: dns, from: web, to: resolver, proto: udp, ports: [53], action: allow }
  - { id: allowed-name, from: web, to: [fqdn: allowed.example], proto: tcp, ports: [80], action: allow }
YAML
mkdir -p "$work/state"
dp_start --state-dir "$work/state" || exit 1

expect_get ok http://allowed.example/ "curl by an allowed name passes"
expect_get blocked http://blocked.example/ "curl by a name the policy does not allow is blocked"
expect_get blocked http://203.0.113.40/ "an address no answer named is blocked"
expect_get ok http://203.0.113.20/ "the answered address is bound for this client"
bound=$("$lab" telemetry "$name" /bulkhead/names bound 2>/dev/null)
check "the dataplane counts the bindings it made (${bound:-none})" [ "${bound:-0}" -ge 1 ]

# The name moves: the next answer binds the new address.
printf '203.0.113.21 allowed.example\n203.0.113.30 blocked.example\n' >"$hosts"
kill -HUP "$(cat "$work/dnsmasq.pid")"
sleep 0.3
expect_get ok http://allowed.example/ "a name whose address changed keeps working"
expect_get ok http://203.0.113.21/ "its new address is bound"

# A restart keeps the bindings: reached by address, with no new answer.
# A connection keeps its binding alive until it leaves the connection
# table: closed ones leave after a second here.
"$lab" dp-stop "$name"
dp_start --state-dir "$work/state" --tcp-closed-timeout 1 --tcp-fin-timeout 1 || exit 1
expect_get ok http://203.0.113.21/ "after a restart the binding is still there"
expect_get blocked http://203.0.113.40/ "and an unanswered address is still blocked"

# TTL 2 s + grace 8 s, after the last connection it admitted left: 12 s
# later the binding admits nothing new.
sleep 12
expect_get blocked http://203.0.113.21/ "past TTL and grace the binding admits nothing new"
expect_get ok http://allowed.example/ "a fresh answer binds it again"
finish
