#!/usr/bin/env bash
# Build the Windows installer (installer/nas-sync-monitor.nsi) on Linux with makensis.
# Usage: scripts/windows-installer.sh STAGE OUTFILE [VERSION]
#   STAGE    folder with nas-sync-monitor.exe, nas-sync.exe, WebView2Loader.dll and icon.ico
#   OUTFILE  the setup .exe to write
#   VERSION  default: the workspace version in Cargo.toml
# Optional environment:
#   WEBVIEW2_BOOTSTRAPPER  path to MicrosoftEdgeWebview2Setup.exe, embedded and run (silently)
#                          only on machines without the WebView2 runtime
#   NSIS_TARGET            makensis target, default amd64-unicode
# Prints the installer's size. Tested by tests/windows/installer-wine.sh.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 STAGE OUTFILE [VERSION]" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
stage=$(cd "$1" && pwd)
outfile=$2
version=${3:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)}

if ! command -v makensis >/dev/null 2>&1; then
  echo "error: makensis is missing. Install NSIS: sudo apt-get install nsis" >&2
  exit 1
fi
for f in nas-sync-monitor.exe nas-sync.exe WebView2Loader.dll icon.ico; do
  [ -f "$stage/$f" ] || { echo "error: $stage/$f is missing" >&2; exit 1; }
done
[ -n "$version" ] || { echo "error: no VERSION given and none found in Cargo.toml" >&2; exit 1; }

mkdir -p "$(dirname "$outfile")"
outfile="$(cd "$(dirname "$outfile")" && pwd)/$(basename "$outfile")"

defines=(-DSTAGE="$stage" -DVERSION="$version" -DOUTFILE="$outfile")
if [ -n "${NSIS_TARGET:-}" ]; then
  defines+=(-DTARGET="$NSIS_TARGET")
fi
if [ -n "${WEBVIEW2_BOOTSTRAPPER:-}" ]; then
  [ -f "$WEBVIEW2_BOOTSTRAPPER" ] || { echo "error: $WEBVIEW2_BOOTSTRAPPER not found" >&2; exit 1; }
  defines+=(-DWEBVIEW2_BOOTSTRAPPER="$(cd "$(dirname "$WEBVIEW2_BOOTSTRAPPER")" && pwd)/$(basename "$WEBVIEW2_BOOTSTRAPPER")")
fi

# -V2: warnings and errors only. UTF-8 sources (Korean text).
makensis -V2 -INPUTCHARSET UTF8 "${defines[@]}" "$root/installer/nas-sync-monitor.nsi"

size=$(stat -c %s "$outfile")
echo "installer: $outfile ($size bytes, $(( (size + 1023) / 1024 )) KiB, version $version)"
