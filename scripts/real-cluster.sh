#!/usr/bin/env bash
# The second test tier: the same checks as the lab, against a real k3s + Kilo cluster (the current
# kubeconfig context, or KUBECONFIG / --context). Needs kubectl and wireguard-tools; `kgctl` is used
# when present to cross-check the plan against Kilo's own view. Read-only unless --connect is given.
#
#   scripts/real-cluster.sh [--context NAME] [--connect]
#
# --connect also registers this machine as a Kilo Peer, brings the tunnel up with kubewired (root),
# checks that a pod and the kube-dns service answer through it, and disconnects.
set -euo pipefail
cd "$(dirname "$0")/.."

context_args=()
connect=0
while [ $# -gt 0 ]; do
  case "$1" in
    --context) context_args=(--context "$2"); shift 2 ;;
    --connect) connect=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

k() { kubectl "${context_args[@]}" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== Kilo is installed"
k get crd peers.kilo.squat.ai >/dev/null

echo "== snapshot and plan (kubewire plan, no root)"
cargo build --quiet -p kubewire-cli
k get nodes,peers.kilo.squat.ai,services -A -o yaml > "$work/cluster.yaml"
wg genkey > "$work/laptop.key"
pub=$(wg pubkey < "$work/laptop.key")
./target/debug/kubewire plan --snapshot "$work/cluster.yaml" --public-key "$pub" --format wg-quick | tee "$work/plan.conf"
./target/debug/kubewire plan --snapshot "$work/cluster.yaml" --public-key "$pub" --format json > "$work/plan.json"

if command -v kgctl >/dev/null; then
  echo "== cross-check with kgctl showconf (AllowedIPs per leader key, service CIDR aside)"
  name="kubewire-check-$$"
  k apply -f - >/dev/null <<YAML
apiVersion: kilo.squat.ai/v1alpha1
kind: Peer
metadata: {name: $name}
spec: {allowedIPs: [10.4.255.254/32], publicKey: $pub, persistentKeepalive: 25}
YAML
  trap 'k delete peer "$name" --ignore-not-found >/dev/null; rm -rf "$work"' EXIT
  kgctl "${context_args[@]}" showconf peer "$name" > "$work/kgctl.conf"
  python3 - "$work/kgctl.conf" "$work/plan.conf" <<'PY'
import sys, re
def peers(path):
    out, key = {}, None
    for line in open(path):
        m = re.match(r"\s*(\w+)\s*=\s*(.*)", line)
        if not m: continue
        k, v = m.groups()
        if k == "PublicKey": key = v.strip(); out[key] = set()
        elif k == "AllowedIPs" and key: out[key] |= {x.strip() for x in v.split(",")}
    return out
kilo, ours = peers(sys.argv[1]), peers(sys.argv[2])
bad = 0
for key, ips in kilo.items():
    mine = ours.get(key, set())
    extra = mine - ips
    if ips - mine or any(not x.startswith("10.43.") for x in extra):
        print(f"MISMATCH {key}: kgctl {sorted(ips)} kubewire {sorted(mine)}"); bad = 1
sys.exit(bad)
PY
  echo "plan agrees with kgctl"
fi

if [ "$connect" = 1 ]; then
  echo "== connect (needs the kubewired daemon running as root; see crates/daemon/README.md)"
  ./target/debug/kubewire "${context_args[@]}" connect --detach
  ip=$(k get pods -A -o jsonpath='{.items[0].status.podIP}')
  ping -c 3 -W 2 "$ip"
  dns=$(k -n kube-system get svc kube-dns -o jsonpath='{.spec.clusterIP}')
  dig +time=2 +tries=1 "@$dns" kubernetes.default.svc.cluster.local +short
  ./target/debug/kubewire disconnect
fi
echo "== all checks passed"
