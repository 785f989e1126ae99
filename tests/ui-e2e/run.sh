#!/usr/bin/env bash
# The tray app's end-to-end test (see e2e.mjs). Needs: root, the lab up (`cargo xtask lab up`), the
# binaries built (kubewired, kubewire-tray and kubewire-window, in $KUBEWIRE_BIN_DIR or $CARGO_TARGET_DIR/debug or
# target/debug), Xvfb, WebKitWebDriver (webkit2gtk-driver), tauri-driver and node. Hold the lab lock:
#   flock /tmp/kubewire-lab.lock tests/ui-e2e/run.sh
# Screenshots: target/ui-screenshots/ (or $KW_SHOTS).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${KUBEWIRE_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/debug}
lab_json=${KUBEWIRE_LAB_DIR:-$root/target/lab}/lab.json
shots=${KW_SHOTS:-$root/target/ui-screenshots}
driver=${TAURI_DRIVER:-$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")}
for f in "$bin/kubewired" "$bin/kubewire-tray" "$bin/kubewire-window" "$lab_json" "$driver"; do
  [[ -e $f ]] || { echo "ui-e2e: missing $f" >&2; exit 1; }
done
for t in Xvfb WebKitWebDriver node jq; do
  command -v "$t" >/dev/null || { echo "ui-e2e: missing $t" >&2; exit 1; }
done
netns=$(jq -r .laptop_netns "$lab_json")
kubeconfig=$(jq -r .kubeconfig "$lab_json")
[[ -d $here/node_modules/webdriverio ]] || (cd "$here" && npm ci --no-audit --no-fund --silent)

work=$(mktemp -d /tmp/kw-ui-e2e.XXXXXX)
mkdir -p "$shots"
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # The window (started by WebKitWebDriver), the tray and the daemon the test started, by PID.
  pkill -TERM -P "$(cat "$work/driver.pid" 2>/dev/null || echo 0)" 2>/dev/null || true
  [[ -f $work/tray.pid ]] && kill -TERM "$(cat "$work/tray.pid")" 2>/dev/null || true
  if [[ -f $work/kubewired.pid ]]; then
    local d; d=$(cat "$work/kubewired.pid")
    kill -TERM "$d" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$d" 2>/dev/null || break; sleep 0.1; done
  fi
  ip netns exec "$netns" ip link del kw-kubewir-4027 2>/dev/null || true
  kubectl --kubeconfig "$kubeconfig" --request-timeout=10s delete peers -l app.kubernetes.io/managed-by=kubewire \
    --ignore-not-found >/dev/null 2>&1 || true
  if [[ $rc -ne 0 ]]; then
    echo "--- kubewired log"; tail -n 40 "$work/kubewired.log" 2>/dev/null || true
    echo "--- kubewire-tray log"; tail -n 60 "$work/tray.log" 2>/dev/null || true
    echo "--- tauri-driver / window log"; tail -n 60 "$work/driver.log" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# Everything the app sees: its own HOME and X display, the laptop namespace, the lab's kubeconfig,
# the test's socket.
# shellcheck source=../../scripts/lib/desktop.sh
. "$root/scripts/lib/desktop.sh"
kw_desktop "$work"
export KUBECONFIG=$kubeconfig KUBEWIRE_SOCKET=$work/kubewired.sock \
  KUBEWIRE_STATE_DIR=$home/.local/state/kubewire
port=$(( 4400 + RANDOM % 500 ))
ip netns exec "$netns" ip link set lo up
ip netns exec "$netns" "$driver" --port "$port" --native-port $(( port + 1 )) >"$work/driver.log" 2>&1 &
pids+=($!)
echo $! >"$work/driver.pid"
for _ in $(seq 100); do
  ip netns exec "$netns" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && break
  sleep 0.1
done

# The tray process first (in the tray, no window: the window is the one WebKitWebDriver starts, and it
# attaches to this tray). No daemon yet: the test starts it after checking the "not running" error.
ip netns exec "$netns" "$bin/kubewire-tray" --minimized >"$work/tray.log" 2>&1 &
echo $! >"$work/tray.pid"
for _ in $(seq 100); do [[ -S $home/run/kubewire/tray.sock ]] && break; sleep 0.1; done

KW_APP=$bin/kubewire-window KW_DAEMON=$bin/kubewired KW_WORK=$work KW_SHOTS=$shots KW_LAB_JSON=$lab_json \
  KW_DRIVER_PORT=$port ip netns exec "$netns" node "$here/e2e.mjs"
