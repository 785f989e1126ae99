#!/usr/bin/env bash
# A real NetworkManager for the NetworkManager-mode test, WITHOUT installing Debian's package:
# installed, it pulls udev and a newer systemd onto this machine and would manage its network.
# Extracted (with the libraries it needs that the machine lacks), it touches nothing; the test runs
# it with LD_LIBRARY_PATH in a private mount namespace of a `kwn-` network namespace. Idempotent.
#
#   bash crates/dns/tests/networkmanager/setup.sh [/opt/kubewire-test/network-manager]
#
# The test finds it at $KUBEWIRE_NETWORKMANAGER or /opt/kubewire-test/network-manager.
kubewire_networkmanager_setup() {
  local dest=${1:-/opt/kubewire-test/network-manager}
  if [ -x "$dest/usr/sbin/NetworkManager" ]; then return 0; fi
  local tmp deb
  tmp=$(mktemp -d) || return 1
  chmod 755 "$tmp"   # apt's _apt user downloads into it
  (cd "$tmp" && apt-get download network-manager libnm0 libndp0 libteamdctl0 libmm-glib0 \
      libbluetooth3 libnewt0.52) || { rm -rf "$tmp"; return 1; }
  mkdir -p "$dest"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dest" || { rm -rf "$tmp"; return 1; }; done
  rm -rf "$tmp"
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then kubewire_networkmanager_setup "$@"; fi
