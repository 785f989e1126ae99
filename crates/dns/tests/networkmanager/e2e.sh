#!/usr/bin/env bash
# NetworkManager mode end to end against a real NetworkManager (Debian's, extracted by setup.sh)
# in DNS mode `dnsmasq`, with its own D-Bus, in a private mount namespace of a `kwn-` network
# namespace, driven by examples/dnsd with `--backend auto`. NetworkManager manages devices without
# udev only when /sys is read-only (it then takes itself to be in a container): the namespace
# mounts its own read-only sysfs. Needs root, unbound, dig, dbus-daemon, dnsmasq, and `setup.sh`
# done. Usage: e2e.sh PATH/TO/dnsd
set -euo pipefail
DNSD=$1
NM_ROOT=${KUBEWIRE_NETWORKMANAGER:-/opt/kubewire-test/network-manager}
export LD_LIBRARY_PATH=$NM_ROOT/usr/lib/x86_64-linux-gnu
NM=$NM_ROOT/usr/sbin/NetworkManager
NMCLI=$NM_ROOT/usr/bin/nmcli
L=kwn-nm-laptop C=kwn-nm-cluster U=kwn-nm-up
DIR=$(mktemp -d /tmp/kwn-nm.XXXXXX)
chmod 755 "$DIR"
# shellcheck source=../netns.sh
. "$(dirname "$0")/../netns.sh"
# NetworkManager's dnsmasq outlives NetworkManager: stop NetworkManager, then it (by its pid file).
NM_PID=
nm_cleanup() {
  [ -n "$NM_PID" ] && kill "$NM_PID" 2>/dev/null && wait "$NM_PID" 2>/dev/null
  [ -n "${HOLDER:-}" ] && nsenter -t "$HOLDER" -m -n sh -c \
    'p=$(cat /run/NetworkManager/dnsmasq.pid 2>/dev/null) && kill "$p"' 2>/dev/null
  kwn_cleanup
}
trap nm_cleanup EXIT
trap "exit 1" TERM INT
fail() { echo "FAIL: $*" >&2; for f in nm.log dnsd.err; do echo "--- $f" >&2; tail -30 "$DIR/$f" >&2 || true; done; exit 1; }

kwn_namespaces

mkdir -p "$DIR/cluster" "$DIR/up" "$DIR/connections" "$DIR/state"
{ kwn_unbound_conf "$DIR/cluster" 10.43.0.10 yes cluster.local. 42.10.in-addr.arpa.; cat <<'CONF'
  local-data: "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"
  local-data: "web.default.svc.cluster.local. 5 IN A 10.43.0.80"
  local-data-ptr: "10.42.0.10 echo-a.echo.default.svc.cluster.local."
CONF
} > "$DIR/cluster/unbound.conf"
{ kwn_unbound_conf "$DIR/up" 198.18.2.2 yes example.com.; cat <<'CONF'
  local-data: "www.example.com. 300 IN A 198.51.100.7"
CONF
} > "$DIR/up/unbound.conf"
ip netns exec $C unbound -d -c "$DIR/cluster/unbound.conf" & PIDS+=($!)
ip netns exec $U unbound -d -c "$DIR/up/unbound.conf" & PIDS+=($!)

# The laptop's Wi-Fi stand-in: a profile NetworkManager activates, with the LAN's nameserver.
cat > "$DIR/connections/eth0.nmconnection" <<'CONF'
[connection]
id=eth0
type=ethernet
interface-name=eth0

[ipv4]
method=manual
address1=198.18.2.1/24
dns=198.18.2.2;

[ipv6]
method=ignore
CONF
chmod 600 "$DIR/connections/eth0.nmconnection"
cat > "$DIR/NetworkManager.conf" <<CONF
[main]
dns=dnsmasq
rc-manager=unmanaged
plugins=keyfile
no-auto-default=*

[keyfile]
path=$DIR/connections

[logging]
level=INFO
CONF
# What NetworkManager writes in dnsmasq mode (it is told not to write it: the file is bind-mounted).
printf "nameserver 127.0.0.1\n" > "$DIR/resolv.conf"
cp "$(dirname "$0")/../resolved/bus.conf" "$DIR/bus.conf"
ip netns exec $L unshare -m --propagation private sleep infinity & HOLDER=$!; PIDS+=($HOLDER)
sleep 0.3
NS=(nsenter -t "$HOLDER" -m -n)
in_ns() { "${NS[@]}" "$@"; }
in_ns sh -c "
  umount -l /sys && mount -t sysfs -o ro sysfs /sys
  mount -t tmpfs tmpfs /run && mkdir -p /run/dbus
  mount -t tmpfs tmpfs /var/lib && mkdir -p /var/lib/NetworkManager /var/lib/dbus
  cp /etc/machine-id /var/lib/dbus/machine-id
  mount --bind '$DIR/resolv.conf' /etc/resolv.conf
"
"${NS[@]}" dbus-daemon --config-file="$DIR/bus.conf" --nofork --nopidfile 2> "$DIR/dbus.log" & PIDS+=($!)
sleep 0.3
"${NS[@]}" "$NM" --no-daemon --debug --config="$DIR/NetworkManager.conf" --state-file="$DIR/state/NM.state" \
  > "$DIR/nm.log" 2>&1 & NM_PID=$!
for _ in $(seq 100); do in_ns getent hosts www.example.com >/dev/null && break; sleep 0.1; done
in_ns getent hosts www.example.com | grep -q 198.51.100.7 || fail "NetworkManager's dnsmasq does not answer: $(cat "$DIR/resolv.conf")"
in_ns "$NMCLI" -g DNS-MODE general 2>/dev/null || true

"${NS[@]}" "$DNSD" run --namespace default --backend auto --interface wg0 --listen 198.18.1.1:53 --cluster-dns 10.43.0.10:53 \
  --route 10.42.0.0/16 --route 10.43.0.0/16 --resolv-conf "$DIR/unused" --backup "$DIR/unused.bak" \
  --state "$DIR/state.json" > "$DIR/dnsd.out" 2> "$DIR/dnsd.err" & DNSD_PID=$!; PIDS+=($DNSD_PID)
for _ in $(seq 100); do grep -q ready "$DIR/dnsd.out" && break; sleep 0.1; done
grep -q ready "$DIR/dnsd.out" || fail "dnsd: $(cat "$DIR/dnsd.err")"
grep -q '"networkmanager"' "$DIR/state.json" || fail "not chosen at run time: $(cat "$DIR/state.json")"
echo "ok: NetworkManager chosen at run time"

check() { # description, command, expected substring
  local out; out=$(in_ns sh -c "$2" 2>&1 || true)
  grep -q -- "$3" <<<"$out" || fail "$1: got '$out'"
  echo "ok: $1"
}
check "the tunnel's routes are still there" "ip route show 10.43.0.0/16" "via 198.18.1.2 dev wg0"
check "the tunnel's address is still there" "ip -4 addr show dev wg0" "198.18.1.1/24"
check "the device's DNS as NetworkManager shows it" "$NMCLI -t device show wg0" "IP4.DNS\[1\]:198.18.1.1"
check "the routing domain on the device" "$NMCLI -t device show wg0" "~cluster.local"
for _ in $(seq 50); do in_ns getent hosts web.default.svc.cluster.local >/dev/null && break; sleep 0.1; done
check "cluster name through NetworkManager's dnsmasq" "getent hosts web.default.svc.cluster.local" "10.43.0.80"
check "PTR of a pod IP (reverse zone routed)" "dig +short -x 10.42.0.10" "echo-a.echo.default.svc.cluster.local."
check "other names through the LAN's nameserver" "getent hosts www.example.com" "198.51.100.7"
grep -q "example.com" "$DIR/cluster/queries.log" && fail "an external name reached the cluster DNS"
echo "ok: the cluster DNS never saw www.example.com"

# Disconnect: the device's connection is reapplied without our DNS.
kill -TERM "$DNSD_PID"; wait "$DNSD_PID" 2>/dev/null || true
in_ns "$NMCLI" -t device show wg0 | grep -q cluster.local && fail "routing domain still on the device"
in_ns getent hosts web.default.svc.cluster.local >/dev/null && fail "cluster names still resolve after revert"
check "other names still resolve after revert" "getent hosts www.example.com" "198.51.100.7"
echo "ok: nothing left on the device"
echo "networkmanager e2e: all passed"
