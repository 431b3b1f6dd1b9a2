#!/usr/bin/env bash
# The tests' etcd cluster (tests/common/etcd_cluster.sh): three members come
# up healthy, a key written through one member's v3 JSON gateway is read on
# another, the cluster keeps working with one member killed (-9), the member
# comes back on its data and catches up, and stopping leaves no member.
source "$(dirname "$0")/lib.sh" etcd
source "$src/tests/common/etcd_cluster.sh"
not() { ! "$@"; }

etcd_start "$work/etcd" || exit $?
check "three client URLs" [ "${#etcd_urls[@]}" = 3 ]
check "endpoints as HOST:PORT,..." grep -qE '^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}$' <<<"$etcd_endpoints"

etcd_put "${etcd_urls[0]}" /bh/test one
check "a put on member 0 is read on member 2" [ "$(etcd_get "${etcd_urls[2]}" /bh/test)" = one ]

check "kill -9 member 0" etcd_kill 0
check "member 0 is gone" not curl -s -m 1 -o /dev/null "${etcd_urls[0]}/health"
check "the other two elect a leader" etcd_healthy
etcd_put "${etcd_urls[1]}" /bh/test two
check "two members keep writing and reading" [ "$(etcd_get "${etcd_urls[2]}" /bh/test)" = two ]

check "member 0 restarts healthy" etcd_restart 0
check "member 0 caught up on the write it missed" [ "$(etcd_get "${etcd_urls[0]}" /bh/test)" = two ]

member_pids=$(pgrep -P "$etcd_sup_pid" | paste -sd' ')
check "three member processes under the supervisor" [ "$(wc -w <<<"$member_pids")" = 3 ]
etcd_stop
check "no member left after stop" not kill -0 $member_pids 2>/dev/null
check "nothing of the cluster outside its directory" [ "$(ls "$work")" = etcd ]

# A caller that dies without its cleanup (kill -9) still leaves no member:
# the supervisor reads end of input and stops them.
{ bash -c "source '$src/tests/common/etcd_cluster.sh'; etcd_start '$work/orphan' >/dev/null &&
  echo \$etcd_sup_pid >'$work/orphan.pid' && kill -9 \$\$"; } 2>/dev/null
orphan_sup=$(cat "$work/orphan.pid" 2>/dev/null)
for _ in $(seq 100); do kill -0 "$orphan_sup" 2>/dev/null || break; sleep 0.1; done
check "a caller killed -9 leaves no supervisor" not kill -0 "$orphan_sup" 2>/dev/null
check "... and no member" not pgrep -f -- "--data-dir $work/orphan/"

exit $((failures > 0))
