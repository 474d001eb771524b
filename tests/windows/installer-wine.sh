#!/usr/bin/env bash
# The Windows installer (installer/nas-sync-monitor.nsi) for real, under Wine, in a fresh prefix:
#  1. a silent install (/S) puts the app, the CLI, WebView2Loader.dll and uninstall.exe in the
#     per-user folder (AppData\Local\Programs\NAS Sync Monitor), the Start-menu shortcut (with its
#     AppUserModelID, where Wine can tell) and the HKCU "Apps" entry;
#  2. installing again while the app runs from that folder closes it and replaces it (an update:
#     the old uninstaller runs with /UPDATE), keeping autostart values and the user's data;
#  3. the uninstaller with /S /UPDATE removes the program only: autostart (Run,
#     StartupApproved\Run), data, shortcut and Apps entry stay;
#  4. the uninstaller as Windows runs it quietly (QuietUninstallString, /S) removes program,
#     shortcut, Apps entry and autostart values, and keeps the data;
#  5. with /S /PURGE the data goes too, but a pokervod.db in the data folder is left alone.
# Usage: tests/windows/installer-wine.sh INSTALLER.exe
# Needs wine64 (Debian: apt-get install wine64); x86_64-w64-mingw32-gcc for step 2 (skipped
# without it). Uses its own throw-away WINEPREFIX; under a minute. Step 1 runs with no WebView2
# runtime (the installer must not block on its notice when silent); from step 2 on a per-user
# runtime is registered, so an installer with an embedded bootstrapper does not run it under Wine.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 INSTALLER.exe" >&2
  exit 2
fi
installer=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

# Debian's wine64 package puts the loader in /usr/lib/wine; the `wine` package adds /usr/bin links.
WINE=${WINE:-$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)}
WINESERVER=${WINESERVER:-$(command -v wineserver || echo /usr/lib/wine/wineserver)}
[ -x "$WINE" ] || { echo "error: wine64 is missing. Install it: sudo apt-get install wine64" >&2; exit 1; }

work=$(mktemp -d)
# Wine refuses a prefix that is not owned by the user running it (root here): make our own.
export WINEPREFIX="$work/prefix"
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$WINEPREFIX"
if [ "$(stat -c %u "$WINEPREFIX")" != "$(id -u)" ]; then
  echo "error: $WINEPREFIX is not owned by $(id -un); Wine would refuse it" >&2
  exit 1
fi
sleeper_pid=
cleanup() {
  [ -n "$sleeper_pid" ] && kill "$sleeper_pid" 2>/dev/null
  "$WINESERVER" -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { # check "what" command...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
absent() { [ ! -e "$1" ]; }
wine_run() { "$WINE" "$@" 2> >(grep -v ':fixme:' >&2); }
# Wait for every Windows process of the prefix: NSIS uninstallers copy themselves to %TEMP% and
# return at once, the copy does the work.
settle() { "$WINESERVER" -w; }
reg_has() { "$WINE" reg query "$1" ${2:+/v "$2"} >/dev/null 2>&1; }
reg_get() { "$WINE" reg query "$1" /v "$2" 2>/dev/null | tr -d '\r' | sed -n "s/^ *$2 *REG_[A-Z_]* *//p"; }

echo "== wineboot ($WINEPREFIX)"
"$WINE" wineboot -i >/dev/null 2>&1
settle
user=$("$WINE" cmd /c 'echo %USERNAME%' 2>/dev/null | tr -d '\r\n')
home="$WINEPREFIX/drive_c/users/$user"
instdir="$home/AppData/Local/Programs/NAS Sync Monitor"
lnk="$home/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/NAS Sync Monitor.lnk"
config_dir="$home/AppData/Roaming/nas-sync-monitor"
data_dir="$home/AppData/Local/nas-sync-monitor"
uninst_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\NAS Sync Monitor'
run_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Run'
approved_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run'
value='NAS Sync Monitor'
[ -d "$home" ] || { echo "FAIL: no Wine user profile at $home"; exit 1; }

install() { # install LABEL: a silent install, then the layout it must leave
  local rc=0 log="$work/install-$1.log"
  # fixme+shell: shows whether the AppUserModelID code reached Wine's IPropertyStore stubs.
  WINEDEBUG=-all,fixme+shell timeout 120 "$WINE" "$installer" /S 2>"$log" || rc=$?
  settle
  check "$1: installer /S exits 0 (got $rc)" [ "$rc" = 0 ]
  for f in nas-sync-monitor.exe nas-sync.exe WebView2Loader.dll uninstall.exe; do
    check "$1: $f installed in AppData/Local/Programs/NAS Sync Monitor" [ -f "$instdir/$f" ]
  done
  check "$1: Start-menu shortcut exists" [ -f "$lnk" ]
  check "$1: Apps entry (Uninstall key) exists" reg_has "$uninst_key"
}

put_user_state() { # the autostart values and data the app would have written
  "$WINE" reg add "$run_key" /v "$value" /d "\"C:\\x\\nas-sync-monitor.exe\" --minimized" /f >/dev/null 2>&1
  "$WINE" reg add "$approved_key" /v "$value" /t REG_BINARY /d 020000000000000000000000 /f >/dev/null 2>&1
  mkdir -p "$config_dir" "$data_dir/logs"
  printf '%s\n' 'root = "N:/archive"' >"$config_dir/nas-sync.toml"
  echo 'not really sqlite' >"$data_dir/archive.db"
  echo 'index' >"$data_dir/archive.index.db"
  echo 'log line' >"$data_dir/logs/nas-sync.log"
}

user_state_kept() { # LABEL
  check "$1: Run value kept" reg_has "$run_key" "$value"
  check "$1: StartupApproved value kept" reg_has "$approved_key" "$value"
  check "$1: settings kept (nas-sync.toml)" [ -f "$config_dir/nas-sync.toml" ]
  check "$1: archive.db kept" [ -f "$data_dir/archive.db" ]
}

# 1. Fresh install.
echo "== 1. silent install"
install "install"
check "install: DisplayName" [ "$(reg_get "$uninst_key" DisplayName)" = "NAS Sync Monitor" ]
check "install: Publisher" [ "$(reg_get "$uninst_key" Publisher)" = "GGP" ]
check "install: DisplayVersion set" [ -n "$(reg_get "$uninst_key" DisplayVersion)" ]
check "install: UninstallString quoted" \
  [ "$(reg_get "$uninst_key" UninstallString)" = "\"C:\\users\\$user\\AppData\\Local\\Programs\\NAS Sync Monitor\\uninstall.exe\"" ]
quiet=$(reg_get "$uninst_key" QuietUninstallString)
check "install: QuietUninstallString ends in /S" [ "${quiet% /S}" != "$quiet" ]
for v in DisplayIcon InstallLocation NoModify NoRepair EstimatedSize; do
  check "install: $v set" [ -n "$(reg_get "$uninst_key" "$v")" ]
done
# The AppUserModelID is a UTF-16 string in the .lnk's property-store block.
aumid_pattern=$(printf '%s' 'com.ggp.nas-sync-monitor' | sed 's/\./\\./g; s/\(\\\.\|.\)/\1\\x00/g')
if LC_ALL=C grep -qaP "$aumid_pattern" "$lnk"; then
  pass "install: shortcut carries AppUserModelID com.ggp.nas-sync-monitor"
elif grep -q 'propertystore_SetValue' "$work/install-install.log"; then
  echo "NOTE: AppUserModelID not verifiable under Wine: the installer got as far as" \
    "IPropertyStore::SetValue on the shortcut, which Wine $("$WINE" --version 2>/dev/null) only stubs."
else
  fail "install: shortcut has no AppUserModelID and the code never reached IPropertyStore::SetValue"
fi
app_sum=$(sha256sum <"$instdir/nas-sync-monitor.exe")
"$WINE" reg add 'HKCU\Software\Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}' \
  /v pv /d 120.0.2210.91 /f >/dev/null 2>&1

# 2. Install over it while the app runs (the update path).
put_user_state
if command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  echo "== 2. install again while the app runs"
  printf '#include <windows.h>\nint main(void) { Sleep(60000); return 0; }\n' >"$work/sleeper.c"
  x86_64-w64-mingw32-gcc -o "$work/sleeper.exe" "$work/sleeper.c"
  cp "$work/sleeper.exe" "$instdir/nas-sync-monitor.exe"
  "$WINE" "$instdir/nas-sync-monitor.exe" 2>/dev/null &
  sleeper_pid=$!
  sleep 2
  check "update: the stand-in app is running" kill -0 "$sleeper_pid"
  install "update"
  if kill -0 "$sleeper_pid" 2>/dev/null; then fail "update: running app closed"; else pass "update: running app closed"; fi
  wait "$sleeper_pid" 2>/dev/null || true
  sleeper_pid=
  check "update: app exe replaced by the installer's" [ "$(sha256sum <"$instdir/nas-sync-monitor.exe")" = "$app_sum" ]
  user_state_kept "update"
else
  echo "SKIP: 2. install over a running app (x86_64-w64-mingw32-gcc not found)"
fi

# 3. The uninstaller in update mode.
echo "== 3. uninstall /S /UPDATE"
wine_run "$instdir/uninstall.exe" /S /UPDATE
settle
check "uninstall /UPDATE: program files removed" absent "$instdir/nas-sync-monitor.exe"
check "uninstall /UPDATE: install folder removed" absent "$instdir"
user_state_kept "uninstall /UPDATE"
check "uninstall /UPDATE: shortcut kept" [ -f "$lnk" ]
check "uninstall /UPDATE: Apps entry kept" reg_has "$uninst_key"

# 4. A real uninstall, the way Windows runs it quietly.
echo "== 4. uninstall /S (QuietUninstallString)"
install "reinstall"
quiet=$(reg_get "$uninst_key" QuietUninstallString)
quiet_exe=${quiet%\" /S}
quiet_exe=${quiet_exe#\"}
wine_run "$quiet_exe" /S
settle
check "uninstall: install folder removed" absent "$instdir"
check "uninstall: shortcut removed" absent "$lnk"
if reg_has "$uninst_key"; then fail "uninstall: Apps entry removed"; else pass "uninstall: Apps entry removed"; fi
if reg_has "$run_key" "$value"; then fail "uninstall: Run value removed"; else pass "uninstall: Run value removed"; fi
if reg_has "$approved_key" "$value"; then fail "uninstall: StartupApproved value removed"; else pass "uninstall: StartupApproved value removed"; fi
check "uninstall: settings kept (nas-sync.toml)" [ -f "$config_dir/nas-sync.toml" ]
check "uninstall: archive.db kept" [ -f "$data_dir/archive.db" ]

# 5. Uninstall with /PURGE: the data goes, a foreign pokervod.db stays.
echo "== 5. uninstall /S /PURGE"
install "reinstall 2"
echo 'production target' >"$data_dir/pokervod.db"
wine_run "$instdir/uninstall.exe" /S /PURGE
settle
check "purge: install folder removed" absent "$instdir"
check "purge: settings folder removed" absent "$config_dir"
check "purge: archive.db removed" absent "$data_dir/archive.db"
check "purge: its index removed" absent "$data_dir/archive.index.db"
check "purge: logs removed" absent "$data_dir/logs"
check "purge: pokervod.db in the data folder untouched" [ "$(cat "$data_dir/pokervod.db" 2>/dev/null)" = "production target" ]

echo
if [ "$failures" -eq 0 ]; then
  echo "installer under Wine: PASS ($(basename "$installer"), $(stat -c %s "$installer") bytes)"
else
  echo "installer under Wine: FAIL ($failures checks failed)"
  exit 1
fi
