#!/usr/bin/env bash
# A real systemd-resolved for the resolved-mode test, WITHOUT installing Debian's package: the
# package's postinst would replace the host's /etc/resolv.conf with a symlink and add
# /sbin/resolvconf (which changes how WireGuard tools clean up DNS on this machine). Extracting it
# touches neither. Needs the `systemd` package (libsystemd-shared of the same version) and adds the
# `systemd-resolve` system user (resolved drops privileges to it). Idempotent.
#
#   source crates/dns/tests/resolved/setup.sh && kubewire_resolved_setup [/opt/kubewire-test/systemd-resolved]
#
# The test finds the binary at $KUBEWIRE_RESOLVED or /opt/kubewire-test/systemd-resolved.
kubewire_resolved_setup() {
  local dest=${1:-/opt/kubewire-test/systemd-resolved}
  if [ -x "$dest/lib/systemd/systemd-resolved" ]; then return 0; fi
  local tmp
  tmp=$(mktemp -d) || return 1
  chmod 755 "$tmp"   # apt's _apt user downloads into it
  (cd "$tmp" && apt-get download systemd-resolved) || { rm -rf "$tmp"; return 1; }
  mkdir -p "$dest"
  dpkg-deb -x "$tmp"/systemd-resolved_*.deb "$dest" || { rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
  getent passwd systemd-resolve >/dev/null \
    || useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin systemd-resolve
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then kubewire_resolved_setup "$@"; fi
