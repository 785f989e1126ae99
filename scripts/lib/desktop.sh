# Sourced by tests/ui-e2e/run.sh and scripts/tray-cost.sh: a private desktop for the app.
#
# kw_desktop WORK: HOME and the XDG directories under WORK/home (XDG_RUNTIME_DIR 0700, as a login
# session makes it), and an X server of its own (Xvfb on a display it picks itself, so parallel runs
# never collide). Exports DISPLAY, HOME, XDG_*, NO_AT_BRIDGE and RUST_LOG (default info); sets `home`;
# appends Xvfb's PID to the caller's `pids` array, for its cleanup to end.
kw_desktop() {
  local work=$1
  home=$work/home
  mkdir -p "$home/.config/kubewire" "$home/.local/state" "$home/.local/share" "$home/run"
  chmod 700 "$home/run"
  # -displayfd: Xvfb writes its display number once it accepts clients.
  Xvfb -displayfd 3 -screen 0 1280x900x24 -nolisten tcp 3>"$work/display" >"$work/xvfb.log" 2>&1 &
  pids+=($!)
  local number=
  for _ in $(seq 100); do
    number=$(tr -dc 0-9 <"$work/display")
    [[ -n $number ]] && break
    sleep 0.1
  done
  [[ -n $number ]] || { echo "Xvfb did not start: $(cat "$work/xvfb.log")" >&2; return 1; }
  export DISPLAY=:$number HOME=$home XDG_CONFIG_HOME=$home/.config XDG_STATE_HOME=$home/.local/state \
    XDG_DATA_HOME=$home/.local/share XDG_RUNTIME_DIR=$home/run NO_AT_BRIDGE=1 RUST_LOG=${RUST_LOG:-info}
}
