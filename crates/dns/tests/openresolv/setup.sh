#!/usr/bin/env bash
# openresolv for the openresolv-mode test, WITHOUT installing Debian's package: installed, its
# /sbin/resolvconf would manage this machine's /etc/resolv.conf (and change how DHCP clients and
# WireGuard tools write DNS here). Extracted, it touches nothing; the test runs a copy whose
# configuration and state directories point into the test's own temporary directory. Idempotent.
#
#   bash crates/dns/tests/openresolv/setup.sh [/opt/kubewire-test/openresolv]
#
# The test finds it at $KUBEWIRE_OPENRESOLV or /opt/kubewire-test/openresolv.
kubewire_openresolv_setup() {
  local dest=${1:-/opt/kubewire-test/openresolv}
  if [ -x "$dest/sbin/resolvconf" ]; then return 0; fi
  local tmp
  tmp=$(mktemp -d) || return 1
  chmod 755 "$tmp"   # apt's _apt user downloads into it
  (cd "$tmp" && apt-get download openresolv) || { rm -rf "$tmp"; return 1; }
  mkdir -p "$dest"
  dpkg-deb -x "$tmp"/openresolv_*.deb "$dest" || { rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then kubewire_openresolv_setup "$@"; fi
