#!/bin/sh
# Builds kubewire-<version>.pkg on a Mac: the tray app (kubewire.app from
# `tauri build --bundles app`), `kubewire` and `kubewired` in /usr/local/bin, the launchd daemon, and
# the pre/postinstall scripts. Used by .github/workflows/release.yml; not runnable on Linux.
#
#   installers/macos/build-pkg.sh <kubewire.app> <dir with kubewired and kubewire> <version> <out dir>
#
# Signing: set KUBEWIRE_PKG_SIGN to a "Developer ID Installer: …" identity to sign the product.
set -eu
app=$1 bins=$2 version=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

root=$work/root
mkdir -p "$root/Applications" "$root/usr/local/bin" "$root/Library/LaunchDaemons"
cp -R "$app" "$root/Applications/kubewire.app"
install -m 755 "$bins/kubewired" "$bins/kubewire" "$root/usr/local/bin/"
install -m 644 "$here/dev.kubewire.kubewired.plist" "$root/Library/LaunchDaemons/"
chmod 755 "$here/scripts/preinstall" "$here/scripts/postinstall"

pkgbuild --root "$root" --identifier dev.kubewire.pkg --version "$version" \
    --scripts "$here/scripts" --install-location / --ownership recommended \
    "$work/kubewire-component.pkg"
mkdir -p "$out"
if [ -n "${KUBEWIRE_PKG_SIGN:-}" ]; then
    productbuild --package "$work/kubewire-component.pkg" --sign "$KUBEWIRE_PKG_SIGN" "$out/kubewire-$version.pkg"
else
    productbuild --package "$work/kubewire-component.pkg" "$out/kubewire-$version.pkg"
fi
ls -l "$out/kubewire-$version.pkg"
