#!/usr/bin/env bash
# Fuzz `nas-sync serve` against its own OpenAPI document with Schemathesis (PyPI): a demo
# archive, a loopback server without schedule or watcher, every check.
#   scripts/schemathesis.sh                # full run (a few minutes)
#   ST_MAX_TIME=60 scripts/schemathesis.sh  # bounded (CI)
# Needs python3 with venv (Debian: python3-venv); installs Schemathesis into a cache venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ST_VERSION="${ST_VERSION:-4.32.5}"
VENV="${NAS_SYNC_ST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/nas-sync-monitor/schemathesis-$ST_VERSION}"
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build -q -p nas-sync-cli
BIN="$TARGET_DIR/debug/nas-sync"
WORK="$(mktemp -d)"
trap 'kill "${PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BIN" demo --dir "$WORK/demo" --files 300 >/dev/null
echo "probe_media = false" >> "$WORK/demo/nas-sync.toml"
"$BIN" --config "$WORK/demo/nas-sync.toml" sync >/dev/null
"$BIN" --config "$WORK/demo/nas-sync.toml" serve --no-schedule --no-watch --bind 127.0.0.1:0 \
  >"$WORK/serve.out" 2>"$WORK/serve.err" &
PID=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break
  sleep 0.1
done
URL="$(sed -n 's/^listening on //p' "$WORK/serve.out" | head -1)"
[ -n "$URL" ] || { cat "$WORK/serve.err"; echo "serve did not start"; exit 1; }
ARGS=(run "$URL/api/openapi.json" --checks all --workers 1)
# PUT /api/settings would rewrite the demo's paths with fuzzed values; its validation has its
# own tests (tests/serve.rs). POST /api/scan is admin-only and slow; both stay out.
ARGS+=(--exclude-path /api/settings --exclude-path /api/scan)
if [ -n "${ST_MAX_TIME:-}" ]; then ARGS+=(--max-time "$ST_MAX_TIME"); fi
# A fixed seed (ST_SEED) makes a run repeatable; unset it for a fresh exploration.
if [ -n "${ST_SEED:-}" ]; then ARGS+=(--seed "$ST_SEED"); fi
"$VENV/bin/schemathesis" "${ARGS[@]}"
