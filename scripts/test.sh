#!/usr/bin/env bash
# Run every check and test of NAS Sync Monitor: formatting, lints, unit, integration, CLI
# scenario and crash-safety tests. Installs what is missing (as root on Debian) or says what to.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need cargo "Install Rust with rustup (stable), then re-run."
if command -v dpkg-query >/dev/null 2>&1; then
  # setpriv runs the unreadable-directory tests as an unprivileged user when we are root.
  ensure_debs util-linux
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
