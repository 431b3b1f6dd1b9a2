# A 3-member etcd cluster for shell tests (tests/common/etcd_cluster.py does
# the work). Source it after tests/integration/lib.sh or tests/e2e/lib.sh:
# their cleanup calls etcd_stop, so every member is stopped in every outcome
# before the work directory goes; if the shell dies without cleanup, the
# supervisor sees its input close and stops the members itself.
#
#   etcd_start "$work/etcd" || exit $?   # 77 (skip) when etcd is not installed
#   etcd_put "${etcd_urls[0]}" key value; etcd_get "${etcd_urls[1]}" key
#   etcd_kill 1; etcd_healthy; etcd_restart 1  # SIGKILL a member, wait for a
#                                        # leader among the rest, start it again
#
# After etcd_start: etcd_urls (the client URLs, member 0 first) and
# etcd_endpoints ("HOST:PORT,HOST:PORT,HOST:PORT", as --store etcd:// takes).
etcd_py="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/etcd_cluster.py"
etcd_urls=()
etcd_endpoints=
etcd_sup_pid=

# etcd_start DIR [MEMBERS]: DIR is created and holds every member's data and
# log; returns once every member answers healthy.
etcd_start() {
  mkdir -p "$1" || return 1
  coproc ETCD_SUP { exec python3 -B "$etcd_py" run "$1" "${2:-3}"; }
  etcd_sup_pid=$ETCD_SUP_PID
  local line=
  read -r -t 60 line <&"${ETCD_SUP[0]}"
  case $line in
    "ready "*)
      IFS=, read -r -a etcd_urls <<<"${line#ready }"
      etcd_endpoints=$(printf '%s\n' "${etcd_urls[@]}" | sed 's|^http://||' | paste -sd,)
      return 0 ;;
    SKIP*) echo "$line"; wait "$etcd_sup_pid" 2>/dev/null; etcd_sup_pid=; return 77 ;;
  esac
  echo "etcd cluster did not start: ${line:-no answer}"
  etcd_stop
  return 1
}

# etcd_command WORDS...: one command to the supervisor; true on "ok".
etcd_command() {
  [ -n "$etcd_sup_pid" ] || return 1
  local line=
  echo "$*" >&"${ETCD_SUP[1]}" && read -r -t 60 line <&"${ETCD_SUP[0]}"
  [ "$line" = ok ] && return 0
  echo "etcd $*: ${line:-no answer}"
  return 1
}
etcd_kill() { etcd_command kill "$1"; }
etcd_restart() { etcd_command restart "$1"; }
# etcd_freeze I / etcd_thaw I: SIGSTOP / SIGCONT member I (it keeps its
# connections and answers nothing).
etcd_freeze() { etcd_command freeze "$1"; }
etcd_thaw() { etcd_command thaw "$1"; }
# etcd_healthy: waits until every running member answers healthy (after a
# kill, until the others have a leader again: until then they answer 503).
etcd_healthy() { etcd_command healthy; }

# etcd_stop: stops every member and waits; safe to call twice.
etcd_stop() {
  [ -n "$etcd_sup_pid" ] || return 0
  { echo stop >&"${ETCD_SUP[1]}"; } 2>/dev/null
  wait "$etcd_sup_pid" 2>/dev/null
  etcd_sup_pid=
}

etcd_put() { python3 -B "$etcd_py" put "$@"; }
etcd_get() { python3 -B "$etcd_py" get "$@"; }
