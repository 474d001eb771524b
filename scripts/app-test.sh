#!/usr/bin/env bash
# The real desktop app under Xvfb: the .deb bundle (contents checked), tests/app/smoke.sh
# (window, hide to tray, webview released, single instance, RSS) and tests/app/webdriver.py
# (WebDriver E2E through WebKitWebDriver: dashboard equals the CLI, a sync from the window shows
# log lines, a new file appears without a click, an error toast opens the log screen).
# The app is the workspace build's target/debug/nas-sync-monitor (production asset protocol,
# ui/dist embedded; see workspace_cargo in scripts/lib.sh): no second build of Tauri.
# Logs (WebKitWebDriver's output, the app's log): $NAS_SYNC_TEST_LOGS/app/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need cargo "Install Rust with rustup (stable), then re-run."
need npm "Install Node.js 20 or newer (with npm), then re-run."
if command -v dpkg-query >/dev/null 2>&1; then
  ensure_debs "${DEBS_APP[@]}" "${DEBS_RUST[@]}"
fi
results=${NAS_SYNC_RESULTS:-/dev/null}
logs="${NAS_SYNC_TEST_LOGS:-${TMPDIR:-/tmp}/nas-sync-test-logs}/app"
mkdir -p "$logs"
export CARGO_TARGET_DIR
CARGO_TARGET_DIR=$(target_dir)
debug="$CARGO_TARGET_DIR/debug"

npm_ci
if [ ! -f ui/dist/index.html ]; then
  echo "== vite build (the app embeds ui/dist)"
  (cd ui && npm run --silent build)
fi
echo "== the workspace build (a no-op when the rust stage built it)"
workspace_cargo test --no-run -q

# The .deb of the binary just built (tauri bundle does not compile again).
echo "== tauri bundle --debug --bundles deb"
rm -rf "$debug/bundle/deb"
ui/node_modules/.bin/tauri bundle --debug --bundles deb --ci
deb=$(ls -t "$debug"/bundle/deb/*.deb | head -1)
listing=$(dpkg-deb -c "$deb")
for want in usr/bin/nas-sync-monitor "usr/share/applications/NAS Sync Monitor.desktop" \
  usr/share/icons/hicolor/32x32/apps/nas-sync-monitor.png; do
  grep -q " \.\?/\?$want\$" <<<"$listing" || { echo "FAIL: $deb lacks $want" >&2; exit 1; }
done
echo ".deb ok: $(basename "$deb"), $(( $(stat -c %s "$deb") / 1048576 )) MiB (debug build, with debug info)"

# WebKit's and fontconfig's per-user caches (GStreamer registry, fonts) live outside the tests'
# throw-away homes, so the first launch of a run pays for them once, before anything is timed.
export NAS_SYNC_XDG_CACHE
NAS_SYNC_XDG_CACHE="$(cache_dir)/xdg-cache"
mkdir -p "$NAS_SYNC_XDG_CACHE"
XDG_CACHE_HOME="$NAS_SYNC_XDG_CACHE" fc-cache >/dev/null 2>&1 || true

echo "== app smoke (Xvfb)"
xvfb-run -a dbus-run-session -- bash tests/app/smoke.sh
echo "== app WebDriver E2E (Xvfb)"
xvfb-run -a dbus-run-session -- python3 tests/app/webdriver.py "$debug" "$logs"
echo "app E2E: 2 passed (smoke, WebDriver E2E)" | tee -a "$results"
