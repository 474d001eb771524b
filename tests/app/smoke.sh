#!/usr/bin/env bash
# Smoke test of the real desktop app under Xvfb (no WebDriver): on a demo archive synced by the
# CLI, the app starts and shows its window (screenshot to docs/screenshots/app.png), closing the
# window leaves the process running (hidden to the tray), a second launch exits at once (single
# instance), and 종료-equivalent SIGTERM ends it. Run inside: xvfb-run -a dbus-run-session -- bash tests/app/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
T="${CARGO_TARGET_DIR:-target}/debug"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" HOME="$work/home"
mkdir -p "$HOME"
"$T/nas-sync" demo --dir "$work/demo" --files 300 >/dev/null
cfg="$work/demo/nas-sync.toml"
"$T/nas-sync" --config "$cfg" -q sync >/dev/null
"$T/nas-sync" --config "$cfg" --json dashboard >"$work/dashboard.json"
fail() { echo "FAIL: $*" >&2; exit 1; }

start=$(date +%s%N)
"$T/nas-sync-monitor" --config "$cfg" --no-schedule >"$work/app.log" 2>&1 &
pid=$!
wid=""
for _ in $(seq 1 100); do
  wid=$(xdotool search --name "NAS 동기화 모니터" 2>/dev/null | head -1 || true)
  [ -n "$wid" ] && break
  sleep 0.2
done
[ -n "$wid" ] || fail "no window appeared"
echo "window after $(( ($(date +%s%N) - start) / 1000000 )) ms"
sleep "${SMOKE_SETTLE:-6}"
rss_open=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "RSS with the window open: $((rss_open / 1024)) MB"
mkdir -p docs/screenshots
import -window "$wid" docs/screenshots/app.png
echo "screenshot: docs/screenshots/app.png"

# Second launch: focuses the first and exits.
t0=$(date +%s)
timeout 20 "$T/nas-sync-monitor" --config "$cfg" >"$work/second.log" 2>&1 || fail "second launch did not exit by itself"
echo "second launch exited after $(( $(date +%s) - t0 )) s"
kill -0 "$pid" || fail "first instance died on the second launch"

# Close the window: the process stays (hidden to the tray).
/usr/bin/python3 tests/app/close_window.py "$wid"
sleep 2
kill -0 "$pid" || fail "closing the window ended the app"
grep -q "window hidden to the tray" "$work/app.log" || fail "close did not hide to the tray"
rss_tray=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "RSS hidden in the tray: $((rss_tray / 1024)) MB"
echo "dashboard (CLI): $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("source", d["source"]["total_files"], "target", d["target"]["total_files"])' "$work/dashboard.json")"
echo "app smoke: ok"
