#!/usr/bin/env bash
# Installable like an appliance: tools/package/build-deb packs this build
# (--no-build) into a Debian package in the work directory, and dpkg -x
# unpacks it into a scratch root there — never onto the real system. The
# test checks the package's control data (Depends that apt knows, with
# version bounds, no -dev package and only the libraries the programs
# link; conffiles; the maintainer script that makes the control plane's
# user), that the programs, systemd units, example configuration,
# sysusers.d file, bash completion and docs are where the build's prefix
# puts them,
# that the units pass `systemd-analyze verify` (copies whose ExecStart
# points into the scratch root) and carry their hardening, that every name
# in the example configuration is an option of its program, that every
# option in each program's --help says what it means and its default, and
# that the completion script loads and completes.
source "$(dirname "$0")/lib.sh" package

for tool in dpkg-deb dpkg systemd-analyze; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
cd "$work"
option() {  # NAME: the build's value of a meson option
  meson introspect "$build" --buildoptions | python3 -c "
import json, sys
print([o['value'] for o in json.load(sys.stdin) if o['name'] == '$1'][0])"
}
prefix=$(option prefix)
abs() { case "$1" in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
bindir=$(abs "$(option bindir)")
sysconfdir=$(abs "$(option sysconfdir)")
datadir=$(abs "$(option datadir)")

deb=$("$src/tools/package/build-deb" --build "$build" --no-build --out "$work" 2>build-deb.log)
if [ ! -f "$deb" ]; then
  fail "build-deb made no package: $(tail -5 build-deb.log)"
  exit 1
fi
pass "build-deb made $(basename "$deb")"
check "the package is named bulkhead" [ "$(dpkg-deb -f "$deb" Package)" = bulkhead ]
check "its architecture is this machine's" [ "$(dpkg-deb -f "$deb" Architecture)" = "$(dpkg --print-architecture)" ]
depends=$(dpkg-deb -f "$deb" Depends)
echo "  Depends: $depends"
has() {  # every PATTERN (an ERE from a package's name on) matches a dependency
  local p
  for p in "$@"; do grep -Eq "(^|, )$p" <<<"$depends" || return 1; done
}
check "it depends on dpdk, with a bound (the drivers DPDK loads at run time)" has 'dpdk \(>= [0-9]'
abi=$(grep -Eo 'librte-eal[0-9]+' <<<"$depends" | head -1 | sed 's/librte-eal//')
check "it depends on the ring mempool and the buses of its EAL's ABI ($abi), which DPDK loads at run time" \
  has "librte-mempool-ring$abi \\(>= [0-9]" "librte-bus-pci$abi \\(>= [0-9]" "librte-bus-vdev$abi \\(>= [0-9]"
recommends=$(dpkg-deb -f "$deb" Recommends)
echo "  Recommends: $recommends"
check "it recommends the clouds' NIC drivers of the same ABI" \
  bash -c "grep -Eq 'librte-net-ena$abi \\(' <<<'$recommends' && grep -Eq 'librte-net-gve$abi \\(' <<<'$recommends' && grep -Eq 'librte-net-netvsc$abi \\(' <<<'$recommends'"
check "it depends on the ZeroMQ and protobuf libraries it links" has 'libzmq5( |,|$)' 'libprotobuf[0-9]+( |,|$)'
check "its library dependencies carry version bounds (libc6, libstdc++6, libzmq5)" \
  has 'libc6 \(>= [0-9]' 'libstdc\+\+6 \(>= [0-9]' 'libzmq5 \(>= [0-9]'
wanted=$(tr ',' '\n' <<<"$depends, $recommends" | awk '{ print $1 }' | sort -u)
dev=$(grep -E -- '-dev$' <<<"$wanted" | xargs)
check "it names no -dev package${dev:+ (names: $dev)}" [ -z "$dev" ]
# libnuma1 is librte-eal's own dependency, not the programs': a list of what
# ldd finds would name it.
check "it names only what the programs link, not what their libraries load" [ -z "$(grep -x libnuma1 <<<"$wanted")" ]
known=$(apt-cache --no-all-versions show $wanted 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
unknown=$(comm -23 <(echo "$wanted") <(echo "$known") | xargs)
check "every package it depends on or recommends is one apt knows${unknown:+ (not: $unknown)}" [ -z "$unknown" ]

mkdir control && dpkg-deb -e "$deb" control
check "every file under etc is a conffile" \
  bash -c "[ \"\$(sort control/conffiles)\" = \"\$(dpkg-deb -c '$deb' | awk '\$6 ~ /\\/etc\\/.*[^/]\$/ { print substr(\$6, 2) }' | sort)\" ]"
check "the maintainer script makes the control plane's user" grep -q 'systemd-sysusers bulkhead.conf' control/postinst
check "the maintainer script starts nothing" bash -c "! grep -Eq 'systemctl (start|enable)' control/postinst"

dpkg -x "$deb" root
r=$work/root
for f in "$bindir/bulkhead" "$bindir/bulkhead-dataplane" "$bindir/bulkhead-controlplane"; do
  check "$f is installed, executable" [ -x "$r$f" ]
done
unitdir=$prefix/lib/systemd/system
for f in "$unitdir/bulkhead-dataplane.service" "$unitdir/bulkhead-controlplane.service" \
  "$sysconfdir/bulkhead/dataplane.conf" "$sysconfdir/bulkhead/dataplane.env" \
  "$sysconfdir/bulkhead/controlplane.conf" "$sysconfdir/bulkhead/policy.yaml" \
  "$prefix/lib/sysusers.d/bulkhead.conf" "$datadir/bash-completion/completions/bulkhead" \
  "$datadir/bulkhead/monitoring/bulkhead-dashboard.json" "$datadir/bulkhead/monitoring/bulkhead-alerts.yml" \
  "$datadir/doc/bulkhead/operations.md"; do
  check "$f is installed" [ -s "$r$f" ]
done
check "the programs run from the scratch root" "$r$bindir/bulkhead" policy validate "$r$sysconfdir/bulkhead/policy.yaml"
check "sysusers.d makes the user bulkhead" grep -q '^u bulkhead ' "$r$prefix/lib/sysusers.d/bulkhead.conf"

# The units: verified by systemd (copies that run the scratch root's
# programs), and hardened.
mkdir units
for u in bulkhead-dataplane bulkhead-controlplane; do
  sed "s|$bindir/|$r$bindir/|g" "$r$unitdir/$u.service" >"units/$u.service"
done
out=$(systemd-analyze verify units/bulkhead-dataplane.service units/bulkhead-controlplane.service 2>&1) &&
  pass "systemd-analyze verify passes on both units" || fail "systemd-analyze verify: $out"
cp=$r$unitdir/bulkhead-controlplane.service
dp=$r$unitdir/bulkhead-dataplane.service
check "the control plane runs as the user bulkhead" grep -qx 'User=bulkhead' "$cp"
check "the control plane has no capability" grep -qx 'CapabilityBoundingSet=' "$cp"
check "the control plane sees the system read-only" grep -qx 'ProtectSystem=strict' "$cp"
check "the dataplane's capabilities are DPDK's and no more" \
  grep -qx 'CapabilityBoundingSet=CAP_IPC_LOCK CAP_SYS_ADMIN CAP_SYS_RAWIO CAP_NET_RAW CAP_NET_ADMIN' "$dp"
check "the dataplane sees the system read-only" grep -qx 'ProtectSystem=full' "$dp"
check "the units run the installed programs" \
  bash -c "grep -q '^ExecStart=$bindir/bulkhead-dataplane ' '$dp' && grep -q '^ExecStart=$bindir/bulkhead-controlplane ' '$cp'"
check "the units read the installed configuration" \
  bash -c "grep -q -- '--config $sysconfdir/bulkhead/dataplane.conf' '$dp' && grep -q -- '--config $sysconfdir/bulkhead/controlplane.conf' '$cp'"
if out=$(systemd-analyze security --offline=yes "units/bulkhead-controlplane.service" 2>&1); then
  echo "  control plane $(grep -o 'Overall exposure level.*' <<<"$out")"
fi

# Every program's --help: each option says what it means, and its default.
help_complete() { python3 "$src/tests/common/help_complete.py" "$1"; }
"$r$bindir/bulkhead-controlplane" --help >cp-help.txt
check "bulkhead-controlplane --help: every option's meaning and default" help_complete cp-help.txt
"$r$bindir/bulkhead-dataplane" --help >dp-help.txt 2>/dev/null
check "bulkhead-dataplane --help shows its own options beside the EAL's, before any set-up" \
  grep -q -- '--policy' dp-help.txt
sed -n '/Application Usage/,$p' dp-help.txt >dp-app-help.txt
check "bulkhead-dataplane --help: every option's meaning and default" help_complete dp-app-help.txt

# The example configuration names only options of its programs.
config_names_known() {  # CONF HELP-FILE
  local bad=""
  for name in $(sed -n 's/^\([a-z][a-z-]*\) *=.*/\1/p' "$1"); do
    grep -q -- "--$name[ ]" "$2" || grep -q -- "--$name\$" "$2" || bad+=" $name"
  done
  [ -z "$bad" ] || echo "   not options:$bad"
  [ -z "$bad" ]
}
check "dataplane.conf names only dataplane options" config_names_known "$r$sysconfdir/bulkhead/dataplane.conf" dp-app-help.txt
check "controlplane.conf names only control plane options" config_names_known "$r$sysconfdir/bulkhead/controlplane.conf" cp-help.txt
check "dataplane.env gives the EAL its options" grep -q '^BULKHEAD_EAL=".*-l ' "$r$sysconfdir/bulkhead/dataplane.env"

# Bash completion: it loads and completes the CLI's commands.
completes() {
  bash -c "source '$r$datadir/bash-completion/completions/bulkhead'
    COMP_WORDS=(bulkhead pol); COMP_CWORD=1; _bulkhead; [ \"\${COMPREPLY[*]}\" = policy ]"
}
check "bash completion completes 'bulkhead pol' to policy" completes

exit $((failures > 0))
