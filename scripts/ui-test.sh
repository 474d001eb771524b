#!/usr/bin/env bash
# The web UI's checks. Screenshots go to a temp dir; UPDATE_SCREENSHOTS=1 writes them to
# docs/screenshots/ (the README shows those).
#   bash scripts/ui-test.sh          everything below
#   bash scripts/ui-test.sh static   npm ci, typecheck, lint, Vitest, vite build (no Rust needed)
#   bash scripts/ui-test.sh build    npm ci, vite build (ui/dist, which the app embeds)
#   bash scripts/ui-test.sh e2e      the Playwright suite in Debian's Chromium against a real
#                                    `nas-sync serve` on a demo archive, then the UI at scale
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

mode=${1:-all}
case $mode in all | static | build | e2e) ;; *) echo "usage: $0 [static|build|e2e]" >&2; exit 2 ;; esac
need node "Install Node.js 20 or newer (with npm), then re-run."
need npm "Install npm (it comes with Node.js), then re-run."
results=${NAS_SYNC_RESULTS:-/dev/null}

if [ "$mode" = build ]; then
  npm_ci
  echo "== vite build"
  (cd ui && npm run --silent build)
  exit 0
fi

if [ "$mode" = all ] || [ "$mode" = static ]; then
  npm_ci
  cd ui
  echo "== tsc --noEmit"
  npm run --silent typecheck
  echo "== eslint"
  npm run --silent lint
  echo "== vitest"
  log=$(mktemp)
  npx vitest run 2>&1 | tee "$log"
  # "Tests  57 passed (57)" (ANSI colours stripped).
  sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '$1 == "Tests" { for (i = 2; i <= NF; i++) { if ($i ~ /^passed/) p = $(i-1); if ($i ~ /^failed/) f = $(i-1) } }
    END { printf "Vitest: %d passed, %d failed\n", p, f }' | tee -a "$results"
  rm -f "$log"
  echo "== vite build"
  npm run --silent build
  cd ..
fi
[ "$mode" = static ] && exit 0

# ---- e2e -----------------------------------------------------------------------------------
if command -v dpkg-query >/dev/null 2>&1; then
  ensure_debs "${DEBS_WEB[@]}" "${DEBS_RUST[@]}"
fi
need cargo "Install Rust with rustup (stable), then re-run."
[ -f ui/dist/index.html ] || { npm_ci; (cd ui && npm run --silent build); }
if [ -n "${NAS_SYNC_BIN:-}" ]; then
  bin="$NAS_SYNC_BIN"
else
  echo "== the workspace build (a no-op when the rust stage built it)"
  workspace_cargo test --no-run -q
  bin="$(target_dir)/debug/nas-sync"
  [ -x "$bin" ] || { echo "FAIL: $bin was not built" >&2; exit 1; }
fi

cd ui
echo "== playwright e2e (chromium, real nas-sync serve)"
if [ "${UPDATE_SCREENSHOTS:-}" = 1 ]; then
  shots="$PWD/../docs/screenshots"
else
  shots=$(mktemp -d)
  trap 'rm -rf "$shots"' EXIT
fi
log=$(mktemp)
NAS_SYNC_BIN="$bin" SCREENSHOT_DIR="$shots" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" node e2e/run.mjs 2>&1 | tee "$log"
# The suite's last line: "N passed, N failed".
tail -1 "$log" | sed 's/^/Playwright: /' | tee -a "$results"
rm -f "$log"
echo "== UI at scale (e2e/scale.mjs on demo archives of 300 and 3,000 files; 1M: docs/benchmarks.md)"
scale=$(mktemp -d)
"$bin" demo --dir "$scale/small" >/dev/null
"$bin" demo --dir "$scale/large" --files 3000 >/dev/null
"$bin" --config "$scale/small/nas-sync.toml" -q sync
"$bin" --config "$scale/large/nas-sync.toml" -q sync
NAS_SYNC_BIN="$bin" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" node e2e/scale.mjs --runs 1 "$scale/small" "$scale/large"
rm -rf "$scale"
