#!/usr/bin/env bash
# Run NAS Sync Monitor. With a configured NAS (the default config file has `root`), sync it;
# otherwise generate a demo archive, sync it into a demo pokervod.db. Then print the dashboard
# and serve the Korean web UI on http://127.0.0.1:8787 (Ctrl-C stops it). `--cli`: only the
# sync and the dashboard (no Node.js needed). Other arguments go to `sync`.
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
echo
echo "대시보드 / dashboard: http://127.0.0.1:8787  (Ctrl-C 종료 / to stop)"
exec "$bin" "${args[@]}" serve --bind 127.0.0.1:8787 --ui-dir ui/dist
