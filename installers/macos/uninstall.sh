#!/bin/sh
# Removes kubewire from a Mac (a .pkg has no uninstaller): stops the daemon (its SIGTERM path removes
# the tunnel, routes and /etc/resolver files), undoes what a crashed daemon left, deletes the files,
# the group and the package receipt. Run with sudo.
set -u
LABEL=dev.kubewire.kubewired
[ "$(id -u)" = 0 ] || { echo "run with sudo" >&2; exit 1; }
launchctl bootout "system/$LABEL" 2>/dev/null || true
if [ -x /usr/local/bin/kubewired ]; then
    /usr/local/bin/kubewired cleanup --socket /var/run/kubewire/kubewired.sock --state-dir /var/db/kubewire || true
fi
rm -f "/Library/LaunchDaemons/$LABEL.plist" /usr/local/bin/kubewired /usr/local/bin/kubewire
rm -rf /Applications/kubewire.app /var/db/kubewire /var/run/kubewire /Library/Logs/kubewire
dseditgroup -o delete kubewire 2>/dev/null || true
pkgutil --forget dev.kubewire.pkg >/dev/null 2>&1 || true
echo "kubewire removed"
