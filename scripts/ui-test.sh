#!/usr/bin/env bash
# The web UI's checks: npm ci, typecheck, lint, Vitest, vite build, and the Playwright end-to-end
# suite in Debian's Chromium against a real `nas-sync serve` on a demo archive. Screenshots go to
# a temp dir; UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/ (the README shows those).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need cargo "Install Rust with rustup (stable), then re-run."
need node "Install Node.js 20 or newer (with npm), then re-run."
need npm "Install npm (it comes with Node.js), then re-run."
if command -v dpkg-query >/dev/null 2>&1; then
  # chromium: the browser of the E2E suite (playwright-core drives it; no browser download);
  # fonts: Hangul and the emoji icons render as on Windows; python3 holds the Target lock in a test.
  ensure_debs chromium fonts-noto-cjk fonts-noto-color-emoji python3
fi

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
if [ -n "${NAS_SYNC_BIN:-}" ]; then
  bin="$NAS_SYNC_BIN"
else
  echo "== cargo build -p nas-sync-cli (the server the E2E suite runs)"
  cargo build -p nas-sync-cli --locked
  bin="$target/debug/nas-sync"
fi

cd ui
echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "== tsc --noEmit"
npm run --silent typecheck
echo "== eslint"
npm run --silent lint
echo "== vitest"
npx vitest run
echo "== vite build"
npm run --silent build
echo "== playwright e2e (chromium, real nas-sync serve)"
if [ "${UPDATE_SCREENSHOTS:-}" = 1 ]; then
  shots="$PWD/../docs/screenshots"
else
  shots=$(mktemp -d)
  trap 'rm -rf "$shots"' EXIT
fi
NAS_SYNC_BIN="$bin" SCREENSHOT_DIR="$shots" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" node e2e/run.mjs
echo "== UI at scale (e2e/scale.mjs on demo archives of 300 and 3,000 files; 1M: docs/benchmarks.md)"
scale=$(mktemp -d)
"$bin" demo --dir "$scale/small" >/dev/null
"$bin" demo --dir "$scale/large" --files 3000 >/dev/null
"$bin" --config "$scale/small/nas-sync.toml" -q sync
"$bin" --config "$scale/large/nas-sync.toml" -q sync
NAS_SYNC_BIN="$bin" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" node e2e/scale.mjs --runs 1 "$scale/small" "$scale/large"
rm -rf "$scale"
