#!/usr/bin/env bash
# Run every check and test of NAS Sync Monitor, cheap and likely-to-fail stages first. Installs
# what is missing (as root on Debian) or says in one line what to install.
#
#   bash scripts/test.sh              every stage
#   bash scripts/test.sh app web      only these stages (in the order given)
#
# Stages: setup (packages, npm ci, tool caches), fmt, ui (tsc, eslint, Vitest, vite build), rust
# (one build of the workspace linted by clippy, then every Rust test), api (Schemathesis against
# the OpenAPI document), web (Playwright E2E + the UI at scale), app (the real desktop app under
# Xvfb: .deb, smoke, WebDriver E2E), container (the static musl build in a podman image: inspect,
# health checks of the binary taken out of it and of a running container), windows (cross-build,
# engine tests and CLI under Wine, NSIS installer under Wine). Each stage prints its duration; its full output is kept in
# $NAS_SYNC_TEST_LOGS (default /tmp/nas-sync-test-logs); a failing stage says how to rerun it
# alone. The last line sums up every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ALL=(setup fmt ui rust api web app container windows)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${ALL[@]}")
for s in "${stages[@]}"; do
  [[ " ${ALL[*]} " == *" $s "* ]] || { echo "error: unknown stage '$s' (stages: ${ALL[*]})" >&2; exit 2; }
done

need cargo "Install Rust with rustup (stable), then re-run."
need node "Install Node.js 20 or newer (with npm), then re-run."
need npm "Install npm (it comes with Node.js), then re-run."

export CARGO_TARGET_DIR
CARGO_TARGET_DIR=$(target_dir)
export NAS_SYNC_TEST_LOGS="${NAS_SYNC_TEST_LOGS:-${TMPDIR:-/tmp}/nas-sync-test-logs}"
# Each stage appends one summary line per suite here (read back for the closing line).
export NAS_SYNC_RESULTS="$NAS_SYNC_TEST_LOGS/results.txt"
mkdir -p "$NAS_SYNC_TEST_LOGS"
: >"$NAS_SYNC_RESULTS"

# How to rerun a stage alone, and where its own logs are (besides $NAS_SYNC_TEST_LOGS/STAGE.log).
rerun_hint() {
  case $1 in
    rust) echo "bash scripts/test.sh rust   (one test: cargo test -p CRATE --test FILE NAME)" ;;
    app) echo "bash scripts/app-test.sh   (WebKitWebDriver's output and the app's log: $NAS_SYNC_TEST_LOGS/app/)" ;;
    web) echo "bash scripts/ui-test.sh e2e   (one test: E2E_ONLY=REGEX)" ;;
    windows) echo "bash scripts/windows-test.sh" ;;
    container) echo "bash scripts/container.sh   (verify only: bash scripts/container.sh verify; server and container output: $NAS_SYNC_TEST_LOGS/container/)" ;;
    api) echo "bash scripts/schemathesis.sh   (server output: $NAS_SYNC_TEST_LOGS/schemathesis/)" ;;
    *) echo "bash scripts/test.sh $1" ;;
  esac
}

stage_setup() {
  # Downloads that need no Debian package run while apt installs: crates and npm packages.
  local logs="$NAS_SYNC_TEST_LOGS/setup" pids=() names=() i rc=0
  mkdir -p "$logs"
  cargo fetch --locked >"$logs/cargo-fetch.log" 2>&1 & pids+=($!); names+=(cargo-fetch)
  npm_ci >"$logs/npm-ci.log" 2>&1 & pids+=($!); names+=(npm-ci)
  if command -v dpkg-query >/dev/null 2>&1; then
    # One apt transaction for every stage's packages (each stage script still checks its own).
    local all=("${DEBS_RUST[@]}" "${DEBS_WEB[@]}" "${DEBS_APP[@]}" "${DEBS_WINDOWS[@]}" "${DEBS_CONTAINER[@]}")
    # shellcheck disable=SC2046
    ensure_debs $(printf '%s\n' "${all[@]}" | sort -u) || rc=1
  fi
  if command -v rustup >/dev/null 2>&1; then
    for t in x86_64-pc-windows-gnu x86_64-unknown-linux-musl; do
      rustup target list --installed | grep -qx "$t" || rustup target add "$t" || rc=1
    done
  fi
  bash scripts/schemathesis.sh --install-only >"$logs/schemathesis.log" 2>&1 & pids+=($!); names+=(schemathesis)
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      echo "FAIL: ${names[$i]} (log: $logs/${names[$i]}.log)" >&2
      tail -20 "$logs/${names[$i]}.log" >&2
      rc=1
    fi
  done
  return $rc
}

stage_fmt() { cargo fmt --all -- --check; }

stage_ui() { bash scripts/ui-test.sh static; }

stage_rust() {
  local log="$NAS_SYNC_TEST_LOGS/rust-tests.log" t0
  t0=$SECONDS
  echo "== build: every target of the workspace, linted by clippy (-D warnings) as it compiles"
  [ -f ui/dist/index.html ] || bash scripts/ui-test.sh build
  workspace_cargo test --no-run
  echo "build: $((SECONDS - t0)) s"
  echo "== cargo test"
  t0=$SECONDS
  # The tests take 7-8 minutes; one that hangs fails the stage after 30 (the SMB test bed's
  # watchdog prints what it waits on first) instead of holding CI until its own limit.
  local limit=${NAS_SYNC_RUST_TEST_LIMIT:-1800} rc=0
  timeout -k 60 "$limit" bash -c '. scripts/lib.sh && workspace_cargo test' 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
  echo "tests: $((SECONDS - t0)) s"
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "FAIL: cargo test ran over ${limit} s (a test hangs: the last 'has been running for over 60 seconds' above names it)" >&2
  fi
  [ "$rc" = 0 ] || return "$rc"
  # One closing line for the whole run (cargo prints one per test binary).
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^ignored/) g += $(i-1) } }
       END { printf "Rust: %d passed, %d failed, %d ignored\n", p, f, g }' "$log" | tee -a "$NAS_SYNC_RESULTS"
}

stage_api() { ST_MAX_TIME="${ST_MAX_TIME:-60}" ST_SEED="${ST_SEED:-20261130}" bash scripts/schemathesis.sh; }

stage_web() { bash scripts/ui-test.sh e2e; }

stage_app() { bash scripts/app-test.sh; }

stage_container() { bash scripts/container.sh; }

stage_windows() { bash scripts/windows-test.sh; }

durations=()
run_start=$SECONDS
for s in "${stages[@]}"; do
  echo
  echo "======== stage $s"
  t0=$SECONDS
  set +e
  ( set -euo pipefail; "stage_$s" ) 2>&1 | tee "$NAS_SYNC_TEST_LOGS/$s.log"
  rc=${PIPESTATUS[0]}
  set -e
  took=$((SECONDS - t0))
  durations+=("$s $((took / 60))m$((took % 60))s")
  if [ "$rc" != 0 ]; then
    echo
    echo "FAILED: stage '$s' (exit $rc) after ${took} s."
    echo "  rerun it alone: $(rerun_hint "$s")"
    echo "  its full output: $NAS_SYNC_TEST_LOGS/$s.log"
    exit "$rc"
  fi
  echo "======== stage $s: ok in $((took / 60))m$((took % 60))s"
done
total=$((SECONDS - run_start))
echo
echo "stages: ${durations[*]}"
echo "ALL PASSED in $((total / 60))m$((total % 60))s: $(paste -sd';' "$NAS_SYNC_RESULTS" | sed 's/;/; /g')"
