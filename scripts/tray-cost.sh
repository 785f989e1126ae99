#!/usr/bin/env bash
# The tray app's cost at rest: RSS, PSS and CPU wakeups (context switches per second, all threads)
# of every process of the app (kubewire-tray, the kubewire-window process it starts and that one's
# WebKit processes; with --lab also kubewired), after 60 s idle with the window open, then after 60 s with the window closed
# (the window process gone). Release build, Xvfb, a D-Bus session bus (the tray's icon registers on it).
#
#   scripts/tray-cost.sh                 # no daemon: the app shows "service not running"
#   flock /tmp/kubewire-lab.lock scripts/tray-cost.sh --lab   # in the lab's laptop namespace,
#                                        # against a real kubewired, connected (auto-connect)
# Needs: Xvfb, /usr/bin/python3 with python3-xlib (to close the window as a window manager would),
# $CARGO_TARGET_DIR/release/kubewire-tray and kubewire-window
# (cargo build --release -p kubewire-tray -p kubewire-window), dbus-daemon, and for --lab
# kubewired too. IDLE (default 60) sets the idle time, SAMPLE (default 30) the wakeup window.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${KUBEWIRE_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}
idle=${IDLE:-60}
sample=${SAMPLE:-30}
lab=false
[[ ${1:-} == --lab ]] && lab=true
for b in kubewire-tray kubewire-window; do
  [[ -x $bin/$b ]] || { echo "tray-cost: build it first: cargo build --release -p kubewire-tray -p kubewire-window" >&2; exit 1; }
done

work=$(mktemp -d /tmp/kw-tray-cost.XXXXXX)
pids=()
run_in=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  if $lab; then
    ip netns exec "$netns" ip link del kw-kubewir-4027 2>/dev/null || true
    kubectl --kubeconfig "$kubeconfig" --request-timeout=10s delete peers \
      -l app.kubernetes.io/managed-by=kubewire --ignore-not-found >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# shellcheck source=lib/desktop.sh
. "$root/scripts/lib/desktop.sh"
kw_desktop "$work"
export KUBEWIRE_SOCKET=$work/kubewired.sock
export DBUS_SESSION_BUS_ADDRESS=unix:path=$home/run/bus
dbus-daemon --session --nofork --address="$DBUS_SESSION_BUS_ADDRESS" >"$work/dbus.log" 2>&1 &
pids+=($!)

if $lab; then
  lab_json=${KUBEWIRE_LAB_DIR:-$root/target/lab}/lab.json
  netns=$(jq -r .laptop_netns "$lab_json")
  kubeconfig=$(jq -r .kubeconfig "$lab_json")
  export KUBECONFIG=$kubeconfig
  run_in=(ip netns exec "$netns")
  "${run_in[@]}" "$bin/kubewired" --socket "$KUBEWIRE_SOCKET" --state-dir "$work/state" >"$work/kubewired.log" 2>&1 &
  daemon=$!
  for _ in $(seq 100); do [[ -S $KUBEWIRE_SOCKET ]] && break; sleep 0.1; done
  printf '{"autoConnect":true,"lastContext":"%s"}\n' "$(kubectl --kubeconfig "$kubeconfig" config current-context)" \
    >"$home/.config/kubewire/settings.json"
fi
"${run_in[@]}" "$bin/kubewire-tray" >"$work/app.log" 2>&1 &
app=$!
pids+=("$app")
$lab && pids+=("$daemon")

# The app and every process below it.
tree() {
  local p=$1
  echo "$p"
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done
}
ctxt() { # all threads' context switches of pid
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {s+=$2} END {print s+0}'
}
measure() {
  local label=$1
  local list; list=$(tree "$app")
  $lab && list="$list $daemon" # the root daemon's own wake-ups count too
  declare -A before
  for p in $list; do before[$p]=$(ctxt "$p"); done
  sleep "$sample"
  local total_rss=0 total_pss=0 total_rate=0
  printf '%-22s %8s %8s %8s %10s\n' "[$label]" "pid" "RSS MB" "PSS MB" "wakeups/s"
  for p in $list; do
    [[ -d /proc/$p ]] || continue
    local name rss pss after rate
    name=$(cat /proc/"$p"/comm)
    rss=$(awk '/^VmRSS/ {print $2}' /proc/"$p"/status)
    pss=$(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
    after=$(ctxt "$p")
    rate=$(awk -v a="$after" -v b="${before[$p]:-$after}" -v s="$sample" 'BEGIN {printf "%.2f", (a-b)/s}')
    printf '%-22s %8s %8.1f %8.1f %10s\n' "$name" "$p" "$(echo "$rss/1024" | bc -l)" "$(echo "$pss/1024" | bc -l)" "$rate"
    total_rss=$((total_rss + rss)); total_pss=$((total_pss + pss))
    total_rate=$(awk -v t="$total_rate" -v r="$rate" 'BEGIN {printf "%.2f", t+r}')
  done
  printf '%-22s %8s %8.1f %8.1f %10s\n' "total" "" "$(echo "$total_rss/1024" | bc -l)" "$(echo "$total_pss/1024" | bc -l)" "$total_rate"
  echo "COST $label rss_mb=$((total_rss / 1024)) pss_mb=$((total_pss / 1024)) wakeups_per_s=$total_rate"
}
close_window() { # WM_DELETE_WINDOW to the window titled "kubewire", as a window manager's close button
  /usr/bin/python3 - <<'PY'
from Xlib import X, display, protocol
d = display.Display()
root = d.screen().root
wm_protocols = d.intern_atom("WM_PROTOCOLS")
wm_delete = d.intern_atom("WM_DELETE_WINDOW")
def walk(w):
    try:
        name = w.get_wm_name()
    except Exception:
        name = None
    if name == "kubewire":
        yield w
    for c in w.query_tree().children:
        yield from walk(c)
n = 0
for w in walk(root):
    ev = protocol.event.ClientMessage(window=w, client_type=wm_protocols, data=(32, [wm_delete, X.CurrentTime, 0, 0, 0]))
    w.send_event(ev, event_mask=X.NoEventMask)
    n += 1
d.flush()
print(f"closed {n} window(s)")
PY
}

sleep "$idle"
if $lab; then
  grep -q '"connected"\|connected' "$work/app.log" || true
  ip netns exec "$netns" ip link show kw-kubewir-4027 >/dev/null 2>&1 && echo "tray-cost: connected (kw-kubewir-4027 up)" || echo "tray-cost: NOT connected"
fi
measure "window open, ${idle}s idle"
close_window
sleep "$idle"
measure "window closed, ${idle}s idle"
if pgrep -f "$bin/kubewire-window" >/dev/null; then echo "tray-cost: the window process is still running"; else echo "tray-cost: the window process is gone"; fi
grep -c "window closed; the app stays in the tray" "$work/app.log" >/dev/null && echo "tray-cost: the app logged the window's close and stayed in the tray"
