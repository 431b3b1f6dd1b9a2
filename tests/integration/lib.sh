# Shared set-up of the integration scripts: absolute paths to the build and
# the sources, a work directory, processes to stop (TERM, then KILL) and the
# work directory to remove in every outcome, and the PASS/FAIL helpers.
set -uo pipefail
build=$(cd "${BULKHEAD_BUILD_DIR:-build}" && pwd)
src=$(cd "${BULKHEAD_SOURCE_DIR:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
cli="$build/tools/cli/bulkhead"
work=$(mktemp -d "/tmp/bh-${1:-test}-XXXXXX")
# Two loopback ports the kernel picked, for a control plane's listeners.
{ read -r port; read -r port2; } < <(python3 "$src/tests/common/free_ports.py" 2)
pids=()
cleanup() {
  local p left st
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  # Up to 5 s to stop cleanly: a dataplane then removes its EAL runtime
  # directory (/var/run/dpdk/PREFIX), which a killed one leaves.
  for _ in $(seq 50); do
    left=0
    for p in "${pids[@]}"; do
      st=$(ps -o stat= -p "$p" 2>/dev/null)
      [ -n "$st" ] && [[ $st != Z* ]] && left=1
    done
    [ "$left" -eq 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  # An etcd cluster (tests/common/etcd_cluster.sh) stops before its data goes.
  declare -F etcd_stop >/dev/null && etcd_stop
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
tel() { python3 "$src/tools/lab/telemetry.py" "$@"; }
# The frames of a pcap file: their count, and a digest of their bytes in
# order ("COUNT DIGEST").
pcap_frames() { python3 -c "import hashlib,sys,struct; d=open(sys.argv[1],'rb').read(); o=24; n=0; h=hashlib.sha256()
while o + 16 <= len(d):
    k = struct.unpack('<I', d[o+8:o+12])[0]; h.update(d[o+16:o+16+k]); o += 16 + k; n += 1
print(n, h.hexdigest())" "$1"; }
# A control plane NAME with a flow listener, its CLI on ipc://$work/NAME.sock
# and its log in NAME.log, with the keys cp.key and dp.pub of the current
# directory; its pid in pid_NAME. Returns once its CLI answers (1 if never).
#   start_controlplane NAME DATAPLANE_PORT FLOW_PORT [OPTIONS...]
start_controlplane() {
  local name=$1 dp=$2 fl=$3; shift 3
  mkdir -p "$name"
  "$build/controlplane/bulkhead-controlplane" --store "$name" --key cp.key --dataplane-key dp.pub \
    --listen "tcp://127.0.0.1:$dp" --flow-listen "tcp://127.0.0.1:$fl" --cli "ipc://$work/$name.sock" "$@" \
    >"$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
  for _ in $(seq 50); do BULKHEAD_CONTROLPLANE="ipc://$work/$name.sock" "$cli" history >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
