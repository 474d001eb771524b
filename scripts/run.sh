#!/usr/bin/env bash
# Run NAS Sync Monitor. With a configured NAS (the default config file has `root`), sync it;
# otherwise generate a demo archive, sync it into a demo pokervod.db. Then print the dashboard
# and serve the Korean web UI on http://127.0.0.1:8787 (Ctrl-C stops it). `--cli`: only the
# sync and the dashboard (no Node.js needed). Other arguments go to `sync`. The address to open
# carries a per-launch access token (printed; opened in the browser on a desktop).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need cargo "Install Rust with rustup (stable), then re-run."
cargo build --locked -q -p nas-sync-cli
target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="${target_dir:-target}/debug/nas-sync"

config_home="${XDG_CONFIG_HOME:-$HOME/.config}/nas-sync-monitor/nas-sync.toml"
if [ -f "$config_home" ] && grep -q '^root *=' "$config_home"; then
  echo "NAS 설정 사용 / using your config: $config_home"
  args=()
else
  demo="${NAS_SYNC_DEMO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/nas-sync-monitor/demo}"
  "$bin" demo --dir "$demo"
  args=(--config "$demo/nas-sync.toml")
fi
cli_only=0
sync_args=()
for a in "$@"; do
  if [ "$a" = "--cli" ]; then cli_only=1; else sync_args+=("$a"); fi
done
"$bin" "${args[@]}" sync "${sync_args[@]}"
echo
"$bin" "${args[@]}" dashboard
[ "$cli_only" = 1 ] && exit 0

need npm "Install Node.js 20 or newer (with npm) for the web UI, or run with --cli."
if [ ! -f ui/dist/index.html ]; then
  echo "웹 UI 빌드 중 / building the web UI (once)…"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent) >&2
fi
# The server needs this launch's secret on every request (any web page can reach 127.0.0.1):
# the address below carries it once; the browser keeps it as a cookie.
token="${NAS_SYNC_LOCAL_TOKEN:-$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')}"
export NAS_SYNC_LOCAL_TOKEN="$token"
url="http://127.0.0.1:8787/?token=$token"
echo
echo "대시보드 / dashboard: $url"
echo "  (이 주소로 여세요 — 토큰이 들어 있습니다 / open this address; it carries the access token. Ctrl-C 종료 / to stop)"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "${NAS_SYNC_OPEN_BROWSER:-1}" != 0 ] && command -v xdg-open >/dev/null 2>&1; then
  (sleep 1 && xdg-open "$url" >/dev/null 2>&1 || true) &
fi
exec "$bin" "${args[@]}" serve --bind 127.0.0.1:8787 --ui-dir ui/dist
