#!/usr/bin/env bash
# Run NAS Sync Monitor. With a configured NAS (the default config file has `root`), sync it;
# otherwise generate a demo archive, sync it into a demo pokervod.db and show the dashboard.
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
"$bin" "${args[@]}" sync "$@"
echo
"$bin" "${args[@]}" dashboard
