#!/usr/bin/env bash
# resolved mode end to end against a real systemd-resolved with its own D-Bus in a `kwn-` network
# namespace, driven by examples/dnsd with `--backend resolved`.
# Needs root, unbound, dig, dbus-daemon, and `setup.sh` done. Usage: e2e.sh PATH/TO/dnsd
set -euo pipefail
DNSD=$1
RESOLVED_ROOT=${KUBEWIRE_RESOLVED:-/opt/kubewire-test/systemd-resolved}
RESOLVED=$RESOLVED_ROOT/lib/systemd/systemd-resolved
L=kwn-rd-laptop C=kwn-rd-cluster U=kwn-rd-up
DIR=$(mktemp -d /tmp/kwn-resolved.XXXXXX)
chmod 755 "$DIR"
# shellcheck source=../netns.sh
. "$(dirname "$0")/../netns.sh"
trap kwn_cleanup EXIT
trap "exit 1" TERM INT
fail() { echo "FAIL: $*" >&2; exit 1; }

kwn_namespaces

mkdir -p "$DIR/cluster" "$DIR/up" "$DIR/etc-systemd"
{ kwn_unbound_conf "$DIR/cluster" 10.43.0.10 yes cluster.local. 42.10.in-addr.arpa.; cat <<'CONF'
  local-data: "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"
  local-data: "web.default.svc.cluster.local. 5 IN A 10.43.0.80"
  local-data: "echo.default.svc.cluster.local. 5 IN A 10.42.0.10"
  local-data: "echo.default.svc.cluster.local. 5 IN A 10.42.1.10"
  local-data-ptr: "10.42.0.10 echo-a.echo.default.svc.cluster.local."
CONF
} > "$DIR/cluster/unbound.conf"
{ kwn_unbound_conf "$DIR/up" 198.18.2.2 yes example.com.; cat <<'CONF'
  local-data: "www.example.com. 300 IN A 198.51.100.7"
CONF
} > "$DIR/up/unbound.conf"
ip netns exec $C unbound -d -c "$DIR/cluster/unbound.conf" & PIDS+=($!)
ip netns exec $U unbound -d -c "$DIR/up/unbound.conf" & PIDS+=($!)

# The laptop's private mount namespace: resolved, its D-Bus, its resolv.conf.
cat > "$DIR/etc-systemd/resolved.conf" <<'CONF'
[Resolve]
DNS=198.18.2.2
FallbackDNS=
LLMNR=no
MulticastDNS=no
DNSSEC=no
Cache=no
CONF
printf 'nameserver 127.0.0.53\nsearch default.svc.cluster.local svc.cluster.local\noptions edns0\n' > "$DIR/resolv.conf"
cp "$(dirname "$0")/bus.conf" "$DIR/bus.conf"
ip netns exec $L unshare -m --propagation private sleep infinity & HOLDER=$!; PIDS+=($HOLDER)
sleep 0.3
# Started with `nsenter ... &` directly (never through a shell function) so that $! is the program.
NS=(nsenter -t "$HOLDER" -m -n)
in_ns() { "${NS[@]}" "$@"; }
in_ns sh -c "
  mount -t tmpfs tmpfs /run/dbus 2>/dev/null || { mkdir -p /run/dbus && mount -t tmpfs tmpfs /run/dbus; }
  mount -t tmpfs tmpfs /run/systemd
  mkdir -p /run/systemd/resolve && chown systemd-resolve:systemd-resolve /run/systemd/resolve
  mount --bind '$DIR/resolv.conf' /etc/resolv.conf
  mount --bind '$DIR/etc-systemd' /etc/systemd
"
"${NS[@]}" dbus-daemon --config-file="$DIR/bus.conf" --nofork --nopidfile 2> "$DIR/dbus.log" & PIDS+=($!)
sleep 0.3
start_resolved() {
  "${NS[@]}" env -u NOTIFY_SOCKET "$RESOLVED" > "$DIR/resolved.log" 2>&1 & RESOLVED_PID=$!
  PIDS+=($RESOLVED_PID)
  sleep 0.5
}
start_resolved
for _ in $(seq 50); do in_ns getent hosts www.example.com >/dev/null && break; sleep 0.1; done
in_ns getent hosts www.example.com | grep -q 198.51.100.7 || fail "resolved does not answer through its global DNS: $(cat "$DIR/resolved.log")"

# Known namespaces: names glibc glues the search suffixes to (www.example.com.svc.cluster.local on
# NODATA) are answered NXDOMAIN by the resolver and never reach the cluster DNS.
"${NS[@]}" "$DNSD" run --namespace default --namespace kube-system --backend resolved --interface wg0 --listen 198.18.1.1:53 --cluster-dns 10.43.0.10:53 \
  --route 10.42.0.0/16 --route 10.43.0.0/16 --resolv-conf "$DIR/unused" --backup "$DIR/unused.bak" \
  --state "$DIR/state.json" > "$DIR/dnsd.out" 2> "$DIR/dnsd.err" & DNSD_PID=$!; PIDS+=($DNSD_PID)
for _ in $(seq 50); do grep -q ready "$DIR/dnsd.out" && break; sleep 0.1; done
grep -q ready "$DIR/dnsd.out" || fail "dnsd: $(cat "$DIR/dnsd.err")"

check() { # description, command, expected substring
  local out; out=$(in_ns sh -c "$2" 2>&1 || true)
  grep -q -- "$3" <<<"$out" || fail "$1: got '$out'"
  echo "ok: $1"
}
check "full cluster name through the resolved stub" "getent hosts web.default.svc.cluster.local" "10.43.0.80"
check "single label through the link's search domains" "getent hosts web" "10.43.0.80"
check "<svc>.<ns> through the search domains" "getent hosts echo.default" "10.42."
check "dig without @ (stub)" "dig +short echo.default.svc.cluster.local | sort | head -1" "10.42.0.10"
check "PTR of a pod IP (routing-only reverse zone)" "dig +short -x 10.42.0.10" "echo-a.echo.default.svc.cluster.local."
check "NXDOMAIN" "dig nope.default.svc.cluster.local" "status: NXDOMAIN"
check "other names through the global DNS" "getent hosts www.example.com" "198.51.100.7"
check "resolvectl shows the link" "$RESOLVED_ROOT/usr/bin/resolvectl domain wg0" "~cluster.local"
grep -q "example.com" "$DIR/cluster/queries.log" && fail "an external name reached the cluster DNS: $(grep example "$DIR/cluster/queries.log")"
echo "ok: the cluster DNS never saw www.example.com"

# resolved restarts: the settings are re-applied (NameOwnerChanged).
kill "$RESOLVED_PID"; wait "$RESOLVED_PID" 2>/dev/null || true
start_resolved
for _ in $(seq 30); do in_ns getent hosts web.default.svc.cluster.local >/dev/null && break; sleep 0.1; done
check "re-applied after resolved restarted" "getent hosts web.default.svc.cluster.local" "10.43.0.80"

# Disconnect: RevertLink.
kill -TERM "$DNSD_PID"; wait "$DNSD_PID" 2>/dev/null || true
check "link reverted on disconnect" "$RESOLVED_ROOT/usr/bin/resolvectl domain wg0" "Link"
in_ns "$RESOLVED_ROOT/usr/bin/resolvectl" domain wg0 | grep -q cluster.local && fail "domains still on the link"
in_ns getent hosts web.default.svc.cluster.local >/dev/null && fail "cluster names still resolve after revert"
echo "ok: nothing left on the link"
echo "resolved e2e: all passed"
