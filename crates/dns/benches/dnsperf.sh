#!/usr/bin/env bash
# dnsperf benchmark: kubewire's split resolver against dnsmasq doing the same split forwarding
# (cluster zone + reverse zones -> the cluster DNS, everything else -> the upstream), cache on and
# off, in the same run, all in `kwn-bench-*` network namespaces (root; needs unbound, dnsmasq, dnsperf).
#
#   CARGO_TARGET_DIR=... crates/dns/benches/dnsperf.sh [seconds per run] [rate for the latency run]
#
# Per target: a throughput run (dnsperf, 20 clients, up to 200 queries in flight; qps as dnsperf
# reports it) and a latency run at a fixed rate (default 2000 qps, `dnsperf -v`: p50/p99 from the
# per-query times). Queries: 240 cluster Service names (A), as in the lab notes. The "tunnel" is a
# veth pair here (the lab's WireGuard adds the same cost to both).
set -euo pipefail
DUR=${1:-10}
RATE=${2:-2000}
TARGET_DIR=${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/target}
DNSD=$TARGET_DIR/release/examples/dnsd
[ -x "$DNSD" ] || cargo build --release -q -p kubewire-dns --example dnsd
L=kwn-bench-laptop C=kwn-bench-cluster U=kwn-bench-up
DIR=$(mktemp -d /tmp/kwn-bench.XXXXXX)
# shellcheck source=../tests/netns.sh
. "$(dirname "$0")/../tests/netns.sh"
trap kwn_cleanup EXIT
kwn_namespaces
for a in 127.0.2.53 127.0.3.53 127.0.4.53 127.0.5.53; do ip -n $L addr add $a/32 dev lo; done

mkdir -p "$DIR/cluster" "$DIR/up"
{
  kwn_unbound_conf "$DIR/cluster" 10.43.0.10 no cluster.local. 42.10.in-addr.arpa. 43.10.in-addr.arpa.
  echo '  local-data: "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"'
  for i in $(seq 0 239); do
    echo "  local-data: \"svc$i.default.svc.cluster.local. 5 IN A 10.43.$((i / 200)).$((i % 200 + 1))\""
  done
} > "$DIR/cluster/unbound.conf"
{
  kwn_unbound_conf "$DIR/up" 198.18.2.2 no example.com.
  echo '  local-data: "www.example.com. 300 IN A 198.51.100.7"'
} > "$DIR/up/unbound.conf"
ip netns exec $C unbound -d -c "$DIR/cluster/unbound.conf" & PIDS+=($!)
ip netns exec $U unbound -d -c "$DIR/up/unbound.conf" & PIDS+=($!)
for i in $(seq 0 239); do echo "svc$i.default.svc.cluster.local A"; done > "$DIR/queries.txt"

start_dnsd() { # listen extra...
  local listen=$1; shift
  ip netns exec $L "$DNSD" run --backend none --listen "$listen:53" --cluster-dns 10.43.0.10:53 \
    --upstream 198.18.2.2:53 --route 10.42.0.0/16 --route 10.43.0.0/16 \
    --resolv-conf "$DIR/none" --backup "$DIR/none.bak" --state "$DIR/state-$listen.json" "$@" \
    > "$DIR/dnsd-$listen.out" 2>&1 & PIDS+=($!)
}
start_dnsmasq() { # listen cache-size
  ip netns exec $L dnsmasq -k --no-resolv --no-hosts --user=root --pid-file= --bind-interfaces \
    --listen-address="$1" --port 53 --cache-size="$2" \
    --server=/cluster.local/10.43.0.10 --server=/42.10.in-addr.arpa/10.43.0.10 \
    --server=/43.10.in-addr.arpa/10.43.0.10 --server=198.18.2.2 2> "$DIR/dnsmasq-$1.log" & PIDS+=($!)
}
start_dnsd 127.0.2.53
start_dnsd 127.0.3.53 --no-cache
start_dnsmasq 127.0.4.53 10000
start_dnsmasq 127.0.5.53 0
sleep 1
for a in 10.43.0.10 127.0.2.53 127.0.3.53 127.0.4.53 127.0.5.53; do
  ip netns exec $L dig +short +time=2 @$a svc1.default.svc.cluster.local | grep -q 10.43.0.2 \
    || { echo "no answer from $a" >&2; exit 1; }
done

run() { # name server
  local name=$1 server=$2 out qps lost p50 p99
  out=$(ip netns exec $L dnsperf -s "$server" -d "$DIR/queries.txt" -l "$DUR" -c 20 -q 200 -t 2 2>&1)
  qps=$(awk '/Queries per second/ {printf "%d", $4}' <<<"$out")
  lost=$(awk '/Queries lost/ {print $3}' <<<"$out")
  # Latency at a fixed rate: per-query times from -v ("> NOERROR name A 0.000123").
  ip netns exec $L dnsperf -s "$server" -d "$DIR/queries.txt" -l "$DUR" -Q "$RATE" -c 20 -t 2 -v 2>/dev/null \
    | awk '/^> / {print $NF * 1000}' | sort -n > "$DIR/lat"
  p50=$(awk '{a[NR]=$1} END {printf "%.3f", a[int(NR*0.50)]}' "$DIR/lat")
  p99=$(awk '{a[NR]=$1} END {printf "%.3f", a[int(NR*0.99)]}' "$DIR/lat")
  printf '%-24s %9s %8s %12s %12s\n' "$name" "$qps" "$lost" "$p50" "$p99"
}
printf '%-24s %9s %8s %12s %12s\n' target qps lost "p50 ms@$RATE" "p99 ms@$RATE"
run "cluster DNS direct" 10.43.0.10
run "kubewire cache on" 127.0.2.53
run "dnsmasq cache on" 127.0.4.53
run "kubewire cache off" 127.0.3.53
run "dnsmasq cache off" 127.0.5.53
