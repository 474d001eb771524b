#!/usr/bin/env bash
# The real desktop app under Xvfb: tests/app/smoke.sh (window, hide to tray, webview released,
# single instance, RSS) and tests/app/webdriver.py (WebDriver E2E through tauri-driver +
# WebKitWebDriver: dashboard equals the CLI, a sync from the window shows log lines, a new file
# appears without a click). Needs ui/dist (scripts/ui-test.sh builds it; built here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need cargo "Install Rust with rustup (stable), then re-run."
need npm "Install Node.js 20 or newer (with npm), then re-run."
if command -v dpkg-query >/dev/null 2>&1; then
  # xvfb/xauth: a display; dbus-x11: a session bus; xdotool + imagemagick (import): find and
  # photograph the window; python3-xlib: close the window like a window manager would;
  # webkit2gtk-driver: WebKitWebDriver, which tauri-driver drives; python3-dbus + python3-gi:
  # the stand-in notification server (tests/app/fake_notifications.py) that clicks the toasts.
  ensure_debs xvfb xauth dbus-x11 xdotool imagemagick webkit2gtk-driver python3 python3-xlib \
    python3-dbus python3-gi \
    libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
fi

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
export CARGO_TARGET_DIR="$target"
if [ ! -f ui/dist/index.html ]; then
  echo "== vite build (the app embeds ui/dist)"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
fi
# The app exactly as it ships (tauri build: custom-protocol, embedded ui/dist), debug profile so
# it shares the test build's dependencies; the same step bundles the .deb as a smoke check.
echo "== tauri build --debug --bundles deb"
[ -x ui/node_modules/.bin/tauri ] || (cd ui && npm ci --no-audit --no-fund --loglevel=error)
ui/node_modules/.bin/tauri build --debug --bundles deb --ci 2>&1 | grep -v '^ *Compiling ' || exit 1
deb=$(ls -t "$target"/debug/bundle/deb/*.deb | head -1)
listing=$(dpkg-deb -c "$deb")
for want in usr/bin/nas-sync-monitor "usr/share/applications/NAS Sync Monitor.desktop" \
  usr/share/icons/hicolor/32x32/apps/nas-sync-monitor.png; do
  grep -q " \.\?/\?$want\$" <<<"$listing" || { echo "FAIL: $deb lacks $want" >&2; exit 1; }
done
echo ".deb ok: $(basename "$deb"), $(( $(stat -c %s "$deb") / 1048576 )) MiB (debug build, with debug info)"
echo "== cargo build -p nas-sync-cli"
cargo build -p nas-sync-cli --locked

# tauri-driver (npm, pinned) in a cache outside the clone.
drv_dir="${NAS_SYNC_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/nas-sync-monitor/tools}"
drv="$drv_dir/node_modules/.bin/tauri-driver"
if [ ! -x "$drv" ]; then
  echo "== npm install @crabnebula/tauri-driver@2.0.9"
  mkdir -p "$drv_dir"
  npm install --prefix "$drv_dir" --no-save --no-audit --no-fund --loglevel=error @crabnebula/tauri-driver@2.0.9
fi

echo "== app smoke (Xvfb)"
xvfb-run -a dbus-run-session -- bash tests/app/smoke.sh
echo "== app WebDriver E2E (Xvfb)"
xvfb-run -a dbus-run-session -- python3 tests/app/webdriver.py "$target/debug" "$drv"
