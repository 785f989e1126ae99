# Sourced by benches/dnsperf.sh and tests/resolved/e2e.sh: the three network namespaces they test in
# (names in $L, $C, $U, set by the caller), two unbound servers' configuration, and the cleanup.
#
#   $L laptop   wg0 198.18.1.1 --veth-- tun0 198.18.1.2  $C cluster (the cluster DNS on 10.43.0.10)
#               eth0 198.18.2.1 --veth-- eth0 198.18.2.2  $U upstream (the laptop's own DNS)
# The laptop routes the pod and service ranges to the cluster side, as the tunnel would.
#
# The caller sets L, C, U and DIR (a scratch directory) and appends the PIDs it starts to PIDS.

PIDS=()
kwn_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in "$L" "$C" "$U"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$DIR"
}

kwn_namespaces() {
  for n in "$L" "$C" "$U"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; ip -n "$n" link set lo up; done
  ip -n "$L" link add wg0 type veth peer name tun0 netns "$C"
  ip -n "$L" addr add 198.18.1.1/24 dev wg0; ip -n "$L" link set wg0 up
  ip -n "$C" addr add 198.18.1.2/24 dev tun0; ip -n "$C" link set tun0 up
  ip -n "$C" addr add 10.43.0.10/32 dev lo
  ip -n "$L" route add 10.43.0.0/16 via 198.18.1.2
  ip -n "$L" route add 10.42.0.0/16 via 198.18.1.2
  ip -n "$L" link add eth0 type veth peer name eth0 netns "$U"
  ip -n "$L" addr add 198.18.2.1/24 dev eth0; ip -n "$L" link set eth0 up
  ip -n "$U" addr add 198.18.2.2/24 dev eth0; ip -n "$U" link set eth0 up
}

# kwn_unbound_conf DIR LISTEN LOG_QUERIES(yes|no) [ZONE...]: an authoritative-only unbound on
# LISTEN:53 (NXDOMAIN outside its static ZONEs), logging to DIR/queries.log.
kwn_unbound_conf() {
  local dir=$1 listen=$2 log=$3; shift 3
  cat <<CONF
server:
  interface: $listen
  port: 53
  do-ip6: no
  access-control: 0.0.0.0/0 allow
  username: ""
  chroot: ""
  pidfile: ""
  use-syslog: no
  log-queries: $log
  verbosity: 0
  module-config: "iterator"
  local-zone: "." static
  num-threads: 1
  directory: "$dir"
  logfile: "$dir/queries.log"
CONF
  for z in "$@"; do echo "  local-zone: \"$z\" static"; done
}
