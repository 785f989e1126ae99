#!/usr/bin/env bash
# Draws the tray app's icons (src-tauri/icons) with ImageMagick: the app icon (a three-node mesh on a
# blue square) and one tray icon per state (the mesh on a disc coloured by state; degraded adds a
# warning badge, error a cross).
set -euo pipefail
cd "$(dirname "$0")/../src-tauri/icons"
mesh=(-stroke white -strokewidth 14 -draw "line 78,180 128,76" -draw "line 128,76 178,180" -draw "line 78,180 178,180"
      -stroke none -fill white -draw "circle 128,76 128,52" -draw "circle 78,180 78,156" -draw "circle 178,180 178,156")
app() {
  convert -size 256x256 xc:none -fill '#2563eb' -draw "roundrectangle 8,8 248,248 48,48" "${mesh[@]}" \
    -resize "$1x$1" "PNG32:$2"
}
app 512 icon.png; app 32 32x32.png; app 128 128x128.png; app 256 128x128@2x.png
tray() {
  local name=$1 fill=$2; shift 2
  convert -size 256x256 xc:none -fill "$fill" -draw "circle 128,128 128,8" "${mesh[@]}" "$@" \
    -resize 64x64 "PNG32:tray-$name.png"
}
tray connected '#16a34a'
tray connecting '#d97706' -stroke none -fill '#fde68a' -draw "circle 200,200 200,168"
tray disconnected '#6b7280'
tray degraded '#ea580c' -fill '#facc15' -stroke '#7c2d12' -strokewidth 6 -draw "circle 200,200 200,150" \
  -stroke none -fill '#7c2d12' -draw "rectangle 192,166 208,210" -draw "rectangle 192,220 208,236"
tray error '#dc2626' -fill white -stroke '#7f1d1d' -strokewidth 6 -draw "circle 200,200 200,150" \
  -stroke '#b91c1c' -strokewidth 16 -draw "line 180,180 220,220" -draw "line 220,180 180,220"
