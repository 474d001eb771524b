#!/usr/bin/env bash
# The app's WebDriver E2E (tests/app/webdriver.py) N times in a row while HOGS CPU hogs
# (`yes > /dev/null`) load the machine, to prove it does not flake (issue 16). Prints one line per
# run and a summary: passes, failures, median and max wall time of a run.
#   bash tests/app/stress.sh [N=10] [HOGS=4]
# Every run starts with empty per-user caches (WebKit, GStreamer, fontconfig), as the first run
# on a fresh machine does, which is when the old tauri-driver set-up failed most; STRESS_WARM=1
# shares one cache between runs instead, as scripts/app-test.sh does.
# Needs the workspace build (scripts/app-test.sh or `bash scripts/test.sh rust` makes it); the
# logs of every run stay in $NAS_SYNC_TEST_LOGS/app-stress/RUN/.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
n=${1:-10} hogs=${2:-4}
debug="$(target_dir)/debug"
for f in nas-sync nas-sync-monitor; do
  [ -x "$debug/$f" ] || { echo "error: $debug/$f is missing; run: bash scripts/app-test.sh" >&2; exit 1; }
done
logs="${NAS_SYNC_TEST_LOGS:-${TMPDIR:-/tmp}/nas-sync-test-logs}/app-stress"
rm -rf "$logs" && mkdir -p "$logs"
export NAS_SYNC_XDG_CACHE

pids=()
for _ in $(seq 1 "$hogs"); do
  yes >/dev/null &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
echo "$hogs CPU hogs running on $(nproc) cores; $n runs of the app's WebDriver E2E"

pass=0 fail=0 times=()
for i in $(seq 1 "$n"); do
  if [ -n "${STRESS_WARM:-}" ]; then
    NAS_SYNC_XDG_CACHE="$(cache_dir)/xdg-cache"
  else
    NAS_SYNC_XDG_CACHE="$logs/$i.cache"
  fi
  mkdir -p "$NAS_SYNC_XDG_CACHE"
  t0=$(date +%s.%N)
  if xvfb-run -a dbus-run-session -- python3 tests/app/webdriver.py "$debug" "$logs/$i" >"$logs/$i.out" 2>&1; then
    pass=$((pass + 1)) verdict=ok
    rm -rf "$logs/$i.cache"
  else
    fail=$((fail + 1)) verdict=FAIL
  fi
  t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  times+=("$t")
  printf 'run %2d: %-4s %6.1f s  load %s  %s\n' "$i" "$verdict" "$t" "$(cut -d' ' -f1 /proc/loadavg)" \
    "$(grep -E 'session created|FAIL' "$logs/$i.out" | head -2 | paste -sd' ' -)"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
max=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
printf 'app E2E under %d CPU hogs: %d/%d passed, median %.1f s, max %.1f s per run (logs: %s)\n' \
  "$hogs" "$pass" "$n" "$median" "$max" "$logs"
[ "$fail" = 0 ]
