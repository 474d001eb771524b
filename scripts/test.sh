#!/usr/bin/env bash
# Run every check and test of NAS Sync Monitor: formatting, lints, unit, integration, CLI
# scenario and crash-safety tests. Installs what is missing (as root on Debian) or says what to.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need cargo "Install Rust with rustup (stable), then re-run."
if command -v dpkg-query >/dev/null 2>&1; then
  # setpriv runs the unreadable-directory tests as an unprivileged user when we are root;
  # ffprobe (ffmpeg) is the probe's fallback for MXF and other formats without a Rust parser.
  # python3-venv: Schemathesis (PyPI) fuzzes the HTTP API against its OpenAPI document.
  # WebKitGTK 4.1, GTK 3, appindicator, librsvg: the desktop app's crate (src-tauri, Tauri 2).
  ensure_debs util-linux ffmpeg python3-venv libwebkit2gtk-4.1-dev libgtk-3-dev \
    libayatana-appindicator3-dev librsvg2-dev
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run (cargo prints one per test binary, the last often 0 doc tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
# ---- web UI (ui/): typecheck, lint, Vitest, build, Playwright E2E in Chromium ------------------
echo "== web UI"
bash scripts/ui-test.sh
# ---- end web UI ---------------------------------------------------------------------------------
echo "== desktop app (Xvfb): .deb bundle, smoke, WebDriver E2E"
bash scripts/app-test.sh
echo "== Windows: cross-build, engine tests and CLI under Wine, NSIS installer under Wine"
bash scripts/windows-test.sh
echo "== schemathesis (bounded: 60 s)"
ST_MAX_TIME="${ST_MAX_TIME:-60}" ST_SEED="${ST_SEED:-20261130}" bash scripts/schemathesis.sh
