#!/usr/bin/env bash
# Regenerate the app icons (from source/app.svg) and the five tray state icons. Needs
# ImageMagick 6 and rsvg-convert (`apt-get install -y imagemagick librsvg2-bin`); PNG32: keeps every PNG RGBA, which Tauri needs.
set -euo pipefail
cd "$(dirname "$0")"
IM=/usr/bin/convert
# No time chunks: regenerating unchanged art leaves the files unchanged.
ND="-define png:exclude-chunk=date,time"
# ImageMagick's own SVG reader needs a delegate Debian does not install with it; rsvg-convert
# (librsvg2-bin) renders the SVG at each size, with its transparency.
command -v rsvg-convert >/dev/null || { echo "generate.sh: apt-get install -y librsvg2-bin" >&2; exit 1; }
for s in 32 128 256 512; do
  rsvg-convert -w "$s" -h "$s" source/app.svg -o app-$s.tmp.png
  $IM app-$s.tmp.png $ND PNG32:app-$s.png
  rm -f app-$s.tmp.png
done
mv app-32.png 32x32.png; mv app-128.png 128x128.png; cp app-256.png 128x128@2x.png
mv app-512.png icon.png; rm -f app-256.png
# -depth 8: the 256 px entry is stored as PNG, and Tauri's ico decoder takes only 8-bit PNG.
$IM icon.png -depth 8 -define icon:auto-resize=256,64,48,32,24,16 icon.ico

disc() { # name colour draw-args...
  local name=$1 colour=$2; shift 2
  $IM -size 64x64 xc:none -fill "$colour" -draw "circle 32,32 32,2" \
    -fill white -stroke white "$@" -resize 32x32 $ND PNG32:tray/$name.png
  $IM tray/$name.png -resize 16x16 $ND PNG32:tray/$name-16.png
}
disc ok '#16a34a' -fill none -strokewidth 9 -draw "polyline 16,33 27,44 48,21"
# running: a white ring with a gap at the top right and one arrowhead (a refresh sign)
disc running '#2563eb' -fill none -strokewidth 7 -draw "circle 32,32 32,15" \
  -stroke '#2563eb' -fill '#2563eb' -strokewidth 1 -draw "polygon 32,32 39,4 55,14" \
  -stroke white -fill white -draw "polygon 36,6 52,17 34,26"
disc error '#dc2626' -strokewidth 1 -draw "roundrectangle 27,12 37,40 4,4" -draw "circle 32,50 32,44"
disc paused '#6b7280' -strokewidth 1 -draw "rectangle 20,17 28,47" -draw "rectangle 36,17 44,47"
# warning (problems that last): an amber triangle, not a disc, so it differs from error by shape
$IM -size 64x64 xc:none -fill '#d97706' -stroke '#d97706' -strokewidth 6 -draw "polygon 32,5 60,56 4,56" \
  -fill white -stroke white -strokewidth 1 -draw "roundrectangle 29,20 35,40 3,3" -draw "circle 32,48 32,44" \
  -resize 32x32 $ND PNG32:tray/warning.png
$IM tray/warning.png -resize 16x16 $ND PNG32:tray/warning-16.png
