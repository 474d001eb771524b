#!/usr/bin/env bash
# Fuzz `nas-sync serve` against its own OpenAPI document with Schemathesis (PyPI): a demo
# archive, a loopback server without schedule or watcher, every check.
#   scripts/schemathesis.sh                 # full run (a few minutes)
#   ST_MAX_TIME=60 scripts/schemathesis.sh  # bounded (CI)
#   scripts/schemathesis.sh --install-only  # only install Schemathesis into its cache venv
# Needs python3 with venv (Debian: python3-venv); installs Schemathesis into a cache venv.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ST_VERSION="${ST_VERSION:-4.32.5}"
VENV="${NAS_SYNC_ST_VENV:-$(cache_dir)/schemathesis-$ST_VERSION}"
if [ ! -x "$VENV/bin/schemathesis" ]; then
  if command -v dpkg-query >/dev/null 2>&1; then ensure_debs python3 python3-venv; fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
[ "${1:-}" = --install-only ] && exit 0

if [ -n "${NAS_SYNC_BIN:-}" ]; then
  BIN="$NAS_SYNC_BIN"
else
  echo "== the workspace build (a no-op when the rust stage built it)"
  workspace_cargo test --no-run -q
  BIN="$(target_dir)/debug/nas-sync"
fi
LOGS="${NAS_SYNC_TEST_LOGS:-${TMPDIR:-/tmp}/nas-sync-test-logs}/schemathesis"
mkdir -p "$LOGS"
WORK="$(mktemp -d)"
trap 'kill "${PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BIN" demo --dir "$WORK/demo" --files 300 >/dev/null
echo "probe_media = false" >> "$WORK/demo/nas-sync.toml"
"$BIN" --config "$WORK/demo/nas-sync.toml" sync >/dev/null
# The launch token the server requires on every API call (`Authorization: Bearer`).
TOKEN="schemathesis-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
NAS_SYNC_LOCAL_TOKEN="$TOKEN" "$BIN" --config "$WORK/demo/nas-sync.toml" serve --no-schedule \
  --no-watch --bind 127.0.0.1:0 >"$LOGS/serve.out" 2>"$LOGS/serve.err" &
PID=$!
for _ in $(seq 1 600); do
  grep -q "listening on" "$LOGS/serve.out" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
URL="$(sed -n 's/^listening on //p' "$LOGS/serve.out" | head -1)"
[ -n "$URL" ] || { tail -20 "$LOGS/serve.err"; echo "FAIL: serve did not start (log: $LOGS/serve.err)"; exit 1; }
ARGS=(run "$URL/api/openapi.json" --checks all --workers 1 -H "Authorization: Bearer $TOKEN")
# PUT /api/settings would rewrite the demo's paths with fuzzed values; its validation has its
# own tests (tests/serve.rs, tests/security.rs). POST /api/scan is admin-only and slow; both
# stay out.
ARGS+=(--exclude-path /api/settings --exclude-path /api/scan)
if [ -n "${ST_MAX_TIME:-}" ]; then ARGS+=(--max-time "$ST_MAX_TIME"); fi
# A fixed seed (ST_SEED) makes a run repeatable; unset it for a fresh exploration.
if [ -n "${ST_SEED:-}" ]; then ARGS+=(--seed "$ST_SEED"); fi
"$VENV/bin/schemathesis" "${ARGS[@]}" 2>&1 | tee "$LOGS/schemathesis.log"
# Schemathesis' summary: "Test cases:" then "  5341 generated, 5341 passed", and the operations
# tested: "Schemathesis: 5341 generated, 5341 passed test cases (15 operations)".
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$LOGS/schemathesis.log" |
  awk '/^Test cases:/ { getline; sub(/^ +/, ""); c = $0 } /^ +Tested:/ { o = $2 } END { if (c != "") printf "%s test cases (%s operations)", c, o }')
echo "Schemathesis: ${summary:-see $LOGS/schemathesis.log}" | tee -a "${NAS_SYNC_RESULTS:-/dev/null}"
