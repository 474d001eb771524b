# Shared helpers for scripts/run.sh, scripts/test.sh and .ci/run. Source it; do not run it.

# need TOOL "one line saying what to install": stop with that line when TOOL is missing.
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "error: '$1' is missing. $2" >&2
    exit 1
  fi
}

# ensure_debs PKG...: install the Debian packages that are not installed yet (as root with apt),
# or say in one line what to install.
ensure_debs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${missing[*]}" >&2
    if [ -z "${NAS_SYNC_APT_UPDATED:-}" ]; then
      apt-get update -qq
      export NAS_SYNC_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "error: missing packages; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
}

# Debian packages of each part of the test command (scripts/test.sh installs them all at once).
# The desktop app's crate (src-tauri, Tauri 2): WebKitGTK 4.1, GTK 3, appindicator, librsvg.
DEBS_TAURI=(libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev)
# setpriv (util-linux) runs the unreadable-directory tests as an unprivileged user when we are
# root; ffprobe (ffmpeg) is the probe's fallback for MXF and other formats without a Rust parser;
# samba + smbnetfs + fuse3: a real SMB share on 127.0.0.1 (scripts/smb-testbed.sh, tests/smb.rs);
# fd-find: the parallel lister the SMB benchmark compares against; tzdata: the CLI test of
# "history --since DATE" from local midnight runs under TZ=Asia/Seoul.
DEBS_RUST=(util-linux tzdata ffmpeg samba smbnetfs fuse3 fd-find "${DEBS_TAURI[@]}")
# chromium: the browser of the web E2E suite (playwright-core drives it; no browser download);
# fonts: Hangul and the emoji icons render as on Windows; python3 holds the Target lock in a test;
# python3-venv: Schemathesis (PyPI) fuzzes the HTTP API against its OpenAPI document.
DEBS_WEB=(chromium fonts-noto-cjk fonts-noto-color-emoji python3 python3-venv)
# xvfb/xauth: a display; dbus-x11: a session bus; xdotool + imagemagick (import): find and
# photograph the window; python3-xlib: close the window like a window manager would;
# webkit2gtk-driver: WebKitWebDriver; python3-dbus + python3-gi: the stand-in notification
# server (tests/app/fake_notifications.py) that clicks the toasts; procps: pgrep.
DEBS_APP=(xvfb xauth dbus-x11 xdotool imagemagick webkit2gtk-driver python3 python3-xlib
  python3-dbus python3-gi procps "${DEBS_TAURI[@]}")
# mingw-w64: the GNU Windows linker; wine64: runs the tests; nsis: makensis for the installer.
DEBS_WINDOWS=(gcc-mingw-w64-x86-64 wine64 nsis python3 "${DEBS_TAURI[@]}")
# The container image (scripts/container.sh): podman builds and runs it (runc: crun refuses the
# hybrid cgroups of this kind of machine); musl-tools: musl-gcc compiles the bundled SQLite for
# the static x86_64-unknown-linux-musl binary; binutils: readelf checks that it is static.
DEBS_CONTAINER=(podman runc musl-tools binutils)
# `scripts/container.sh arm64` only (not in the test command): the aarch64 cross gcc (SQLite) and
# linker, and qemu-user to run the aarch64 binary.
DEBS_CONTAINER_ARM64=(gcc-aarch64-linux-gnu qemu-user-static)

# npm ci in ui/, skipped when ui/node_modules was installed from this very lock file.
npm_ci() {
  if ! cmp -s ui/package-lock.json ui/node_modules/.nas-sync-installed-lock 2>/dev/null; then
    echo "== npm ci"
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
    cp ui/package-lock.json ui/node_modules/.nas-sync-installed-lock
  fi
}

# The cargo target directory, absolute (CARGO_TARGET_DIR when set, else ./target).
target_dir() {
  local t="${CARGO_TARGET_DIR:-target}"
  case "$t" in /*) ;; *) t="$PWD/$t" ;; esac
  echo "$t"
}

# Caches outside the clone (tool venvs, the Wine prefix, logs of the last run).
cache_dir() {
  echo "${NAS_SYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nas-sync-monitor}"
}

# clippy_env: run the next cargo command with clippy as the compiler of the workspace's own crates
# (deps are compiled by plain rustc, their artifacts shared with every other build), so that a
# build lints as `cargo clippy -- -D warnings` would, without a second, check-only compile of the
# ~450 dependencies. CLIPPY_ARGS is how `cargo clippy` hands `-- ARGS` to clippy-driver.
clippy_env() {
  local driver
  driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)
  [ -n "$driver" ] || { echo "error: clippy is missing. Install it: rustup component add clippy" >&2; exit 1; }
  export RUSTC_WORKSPACE_WRAPPER="$driver"
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
}

# The one Linux build of the workspace that every stage uses: every target (libs, bins, tests,
# the bench), with the app's production asset protocol (so target/debug/nas-sync-monitor is the
# app as it ships, ui/dist embedded), linted by clippy as it compiles. When the binaries are
# up to date (as after the rust stage) this is a no-op of a few seconds.
#   workspace_cargo test --no-run     build;  workspace_cargo test   run the tests
workspace_cargo() {
  local sub=$1
  shift
  (clippy_env && cargo "$sub" --workspace --all-targets --locked \
    --features nas-sync-monitor/custom-protocol "$@")
}
