#!/usr/bin/env bash
# The container image (Containerfile, README "Deployment"): build it with podman, then check it.
#
#   bash scripts/container.sh            build, then verify (x86-64; the test stage `container`)
#   bash scripts/container.sh build      the static musl binary, the UI, the image, and a
#                                        docker-archive of it to load on a NAS
#   bash scripts/container.sh verify     check the built image (below)
#   bash scripts/container.sh arm64      the same image for ARM NAS models (aarch64), built and
#                                        checked with its binary run under qemu-aarch64-static
#                                        (not part of the test stage: one more full build)
#
# verify: `podman image inspect` shows the user, the port, the health check, the entrypoint,
# the environment and the volumes, and the image is at most 15 MB holding only what the
# Containerfile puts in; the binary and the UI taken out of the image run with the image's own
# entrypoint, command and environment (paths moved into a temp dir) on a demo archive:
# `nas-sync health` healthy, the archive root taken away → unhealthy (503), back → healthy; then
# the same through a real container (`podman run`, with `podman healthcheck run` running the
# image's HEALTHCHECK) and a clean stop on SIGTERM.
#
# Needs root on Debian for the packages (podman, runc, musl-tools; for arm64 also
# gcc-aarch64-linux-gnu and qemu-user-static) and for running containers; rustup adds the musl
# target when it is missing.
# The JavaScript handed to node is single-quoted on purpose (its ${…} are JavaScript's).
# shellcheck disable=SC2016
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

mode=${1:-all}
case $mode in all | build | verify | arm64) ;; *) echo "usage: $0 [build|verify|arm64]" >&2; exit 2 ;; esac

IMAGE=localhost/nas-sync-monitor
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
MAX_BYTES=$((15 * 1000 * 1000))
TARGET=$(target_dir)
OUT="$TARGET/container"
results=${NAS_SYNC_RESULTS:-/dev/null}
logs="${NAS_SYNC_TEST_LOGS:-${TMPDIR:-/tmp}/nas-sync-test-logs}/container"
mkdir -p "$OUT" "$logs"

if command -v dpkg-query >/dev/null 2>&1; then
  if [ "$mode" = arm64 ]; then
    ensure_debs "${DEBS_CONTAINER[@]}" "${DEBS_CONTAINER_ARM64[@]}"
  else
    ensure_debs "${DEBS_CONTAINER[@]}"
  fi
fi
need podman "Install podman (Debian: apt-get install podman runc), then re-run."
need node "Install Node.js 20 or newer, then re-run."

# podman without systemd (this sandbox, CI) logs an error each time it cannot set up or remove
# the health check's timer; the checks are run by `podman healthcheck run` here instead.
pod() { podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }

# podman as root in this kind of sandbox: crun refuses cgroups in hybrid mode and the default
# RLIMIT_NOFILE cannot be set, so containers run with runc and without default ulimits.
podman_conf() {
  local conf="$OUT/containers.conf"
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' >"$conf"
  export CONTAINERS_CONF="$conf"
}

# use_arch amd64|arm64: what differs per architecture (the Rust target, the C toolchain, the
# image's tags and file, how to run its binary here).
use_arch() {
  ARCH=$1
  case $ARCH in
    amd64)
      RUST_TARGET=x86_64-unknown-linux-musl
      TAGS=("$IMAGE:$VERSION" "$IMAGE:latest")
      RUNNER=()
      # rusqlite's bundled SQLite is C: musl-gcc (musl-tools) compiles it against musl's headers.
      CARGO_ENV=(CC_x86_64_unknown_linux_musl=musl-gcc)
      ;;
    arm64)
      RUST_TARGET=aarch64-unknown-linux-musl
      TAGS=("$IMAGE:$VERSION-arm64")
      RUNNER=(qemu-aarch64-static)
      # Debian has no musl cross compiler for aarch64: SQLite is compiled by the glibc cross gcc
      # and linked against Rust's own musl libc.a (self-contained). Without SQLite's large-file
      # defines the glibc headers name the plain functions (open, fstat, pread…) that musl has,
      # not their *64 aliases, which musl 1.2.4+ no longer provides; off_t is 64-bit on aarch64
      # anyway. The link fails on any other glibc-only symbol, and the binary is run below.
      CARGO_ENV=(CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
        AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
        CFLAGS_aarch64_unknown_linux_musl=-DSQLITE_DISABLE_LFS
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc)
      ;;
  esac
  TAG=${TAGS[0]}
  TARFILE="$OUT/nas-sync-monitor-$VERSION-$ARCH.tar"
}

build() {
  local t0=$SECONDS ctx old new
  if ! rustup target list --installed | grep -qx "$RUST_TARGET"; then
    rustup target add "$RUST_TARGET"
  fi
  echo "== cargo build: nas-sync for $RUST_TARGET (profile container)"
  env "${CARGO_ENV[@]}" \
    cargo build --locked -p nas-sync-cli --bin nas-sync --profile container --target "$RUST_TARGET"
  echo "binary: $((SECONDS - t0)) s"
  local bin="$TARGET/$RUST_TARGET/container/nas-sync"
  # Static: no program interpreter (dynamic loader) and no shared libraries, since the image
  # has no libc.
  if LC_ALL=C readelf -ld "$bin" | grep -Eq 'INTERP|\(NEEDED\)'; then
    echo "FAIL: $bin is dynamically linked; the image needs a static binary" >&2
    LC_ALL=C readelf -ld "$bin" | grep -E 'INTERP|NEEDED' >&2
    exit 1
  fi
  [ -f ui/dist/index.html ] || bash scripts/ui-test.sh build

  echo "== podman build ($ARCH)"
  ctx="$OUT/context-$ARCH"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp -a deploy/rootfs "$ctx/root"
  mkdir -p "$ctx/root/archive" "$ctx/root/tmp" "$ctx/user/data" "$ctx/user/target"
  chmod 0755 "$ctx/root" "$ctx/root/archive" "$ctx/user" "$ctx/user/target"
  chmod 1777 "$ctx/root/tmp"
  chmod 0750 "$ctx/user/data"
  cp -a ui/dist "$ctx/ui"
  install -m 0755 "$bin" "$ctx/nas-sync"
  old=$(podman image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)
  local tag_args=()
  for t in "${TAGS[@]}"; do tag_args+=(-t "$t"); done
  podman build --format docker --pull=never --platform "linux/$ARCH" -f Containerfile "${tag_args[@]}" "$ctx"
  new=$(podman image inspect --format '{{.Id}}' "$TAG")
  # The image this build replaced (only ours, by id) is not kept.
  if [ -n "$old" ] && [ "$old" != "$new" ]; then
    podman rmi "$old" >/dev/null 2>&1 || true
  fi
  # The image as a file: Synology Container Manager ("이미지 → 추가 → 파일에서 추가") and QNAP
  # Container Station ("이미지 → 가져오기") load it without a registry.
  rm -f "$TARFILE"
  podman save --format docker-archive -o "$TARFILE" "$TAG"
  echo "image: $TAG ($new), $(image_size) bytes; archive: $TARFILE"
  echo "build: $((SECONDS - t0)) s"
}

image_size() { podman image inspect --format '{{.Size}}' "$TAG"; }

# node -e SCRIPT ARGS…: small JSON checks and HTTP calls (Node 20's fetch; no curl needed).
js() { node -e "$@"; }

# A free TCP port on this machine (bound, then released).
free_port() {
  js 'const s = require("net").createServer().listen(0, "0.0.0.0", () => { console.log(s.address().port); s.close(); });'
}

# wait_health EXPECTED CMD…: run CMD (a health check) until its exit code is EXPECTED, at most
# 30 s; print its last output.
wait_health() {
  local want=$1 rc out deadline=$((SECONDS + 30))
  shift
  while :; do
    set +e
    out=$("$@" 2>&1)
    rc=$?
    set -e
    if [ "$rc" = "$want" ] || [ $SECONDS -ge $deadline ]; then
      echo "$out"
      [ "$rc" = "$want" ] && return 0
      echo "FAIL: '$*' exited $rc, expected $want" >&2
      return 1
    fi
    sleep 0.3
  done
}

# expect_line TEXT PREFIX: TEXT starts with PREFIX.
expect_line() {
  case $1 in
    "$2"*) echo "  ok: $1" ;;
    *) echo "FAIL: expected a line starting with '$2', got: $1" >&2; return 1 ;;
  esac
}

# api PORT TOKEN: POST /api/sync, wait for the job, print the Target's active rows (dashboard).
sync_over_api() {
  js '
    const [port, token] = process.argv.slice(1);
    const base = `http://127.0.0.1:${port}`;
    const h = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
    (async () => {
      const ui = await fetch(`${base}/`);
      const html = await ui.text();
      if (ui.status !== 200 || !html.includes("<div id=\"root\"")) throw new Error(`UI at /: ${ui.status} ${html.slice(0, 200)}`);
      if ((await fetch(`${base}/api/dashboard`)).status !== 401) throw new Error("the API answered without a token");
      const start = await fetch(`${base}/api/sync`, { method: "POST", headers: h, body: "{}" });
      const job = await start.json();
      if (start.status !== 202) throw new Error(`POST /api/sync: ${start.status} ${JSON.stringify(job)}`);
      for (let i = 0; i < 600; i++) {
        const j = await (await fetch(`${base}/api/jobs/${job.job_id}`, { headers: h })).json();
        if (j.state === "succeeded") break;
        if (j.state !== "running" && j.state !== "queued") throw new Error(`sync job: ${JSON.stringify(j)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const d = await (await fetch(`${base}/api/dashboard`, { headers: h })).json();
      console.log(d.target.total_files);
    })().catch((e) => { console.error(`FAIL: ${e.message}`); process.exit(1); });
  ' "$@"
}

verify() {
  local t0=$SECONDS tmp inspect size mnt
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/nas-sync-container.XXXXXX")
  # shellcheck disable=SC2064
  trap "cleanup '$tmp'" EXIT
  inspect="$tmp/inspect.json"
  podman image inspect "$TAG" >"$inspect"

  echo "== podman image inspect, and the config a Docker host loads from the saved archive ($ARCH)"
  tar -xOf "$TARFILE" manifest.json >"$tmp/manifest.json"
  tar -xOf "$TARFILE" "$(js 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0].Config)' "$tmp/manifest.json")" >"$tmp/docker-config.json"
  js '
    const fs = require("fs");
    const podman = JSON.parse(fs.readFileSync(process.argv[1], "utf8"))[0];
    const archived = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
    const docker = archived.config, arch = process.argv[3];
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    for (const [from, got] of [["podman", podman.Architecture], ["docker-archive", archived.architecture]]) {
      if (got !== arch) { console.error(`FAIL: ${from}: Architecture ${got}, expected ${arch}`); process.exitCode = 1; }
      else console.log(`  ok: ${from}: Architecture: ${got}`);
    }
    // podman shows the health check beside Config; the Docker image config holds it inside.
    for (const [from, cfg] of [["podman", { ...podman.Config, Healthcheck: podman.Healthcheck }], ["docker-archive", docker]]) {
      const want = (what, ok, got) => {
        if (!ok) { console.error(`FAIL: ${from}: ${what}: ${JSON.stringify(got)}`); process.exitCode = 1; }
        else console.log(`  ok: ${from}: ${what}: ${JSON.stringify(got)}`);
      };
      want("User (not root)", cfg.User === "10001:10001", cfg.User);
      want("ExposedPorts", same(Object.keys(cfg.ExposedPorts || {}), ["8787/tcp"]), cfg.ExposedPorts);
      const hc = cfg.Healthcheck || {};
      want("Healthcheck", same(hc.Test, ["CMD", "/nas-sync", "health"]) && hc.Retries > 0, hc);
      want("Entrypoint", same(cfg.Entrypoint, ["/nas-sync"]), cfg.Entrypoint);
      want("Cmd", same(cfg.Cmd, ["serve"]), cfg.Cmd);
      want("Volumes", same(Object.keys(cfg.Volumes || {}).sort(), ["/archive", "/data"]), cfg.Volumes);
      const env = Object.fromEntries((cfg.Env || []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
      want("Env NAS_SYNC_BIND", env.NAS_SYNC_BIND === "0.0.0.0:8787", env.NAS_SYNC_BIND);
      want("no token in the image", !Object.keys(env).some((k) => k.endsWith("_TOKEN")), Object.keys(env));
    }
  ' "$inspect" "$tmp/docker-config.json" "$ARCH"
  size=$(image_size)
  echo "image size: $size bytes ($(js "console.log((${size} / 1e6).toFixed(1))") MB; limit 15 MB)"
  if [ "$size" -gt "$MAX_BYTES" ]; then
    echo "FAIL: the image is $size bytes, over 15 MB" >&2
    return 1
  fi

  echo "== the image's files"
  mnt=$(podman image mount "$TAG")
  # Nothing but the Containerfile's: the binary, the UI, passwd/group and the mount points.
  (cd "$mnt" && find . -mindepth 1 -not -path './ui/*' -printf '%p %u:%g %m\n' | sort) | tee "$tmp/files.txt"
  local want_files
  want_files=$(printf '%s\n' './archive root:root' './data 10001:10001' './etc root:root' \
    './etc/group root:root' './etc/passwd root:root' './nas-sync root:root' \
    './target 10001:10001' './tmp root:root' './ui root:root')
  if ! diff <(echo "$want_files") <(cut -d' ' -f1,2 "$tmp/files.txt") >&2; then
    echo "FAIL: the image holds other files (or owners) than the Containerfile's (diff above)" >&2
    return 1
  fi
  [ "$(stat -c %a "$mnt/tmp")" = 1777 ] || { echo "FAIL: /tmp is not 1777" >&2; return 1; }
  [ "$(stat -c %a "$mnt/data")" = 750 ] || { echo "FAIL: /data is not 0750" >&2; return 1; }
  [ -f "$mnt/ui/index.html" ] || { echo "FAIL: no ui/index.html in the image" >&2; return 1; }
  mkdir -p "$tmp/x"
  cp -a "$mnt/nas-sync" "$mnt/ui" "$tmp/x/"
  podman image unmount "$TAG" >/dev/null

  echo "== the image's binary and UI, run with its entrypoint and environment (outside a container${RUNNER:+, under ${RUNNER[*]}})"
  local op admin port demo_dir
  op=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  admin=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  demo_dir="$tmp/demo"
  "${RUNNER[@]}" "$tmp/x/nas-sync" demo --dir "$demo_dir" --files 300 >/dev/null
  rm -f "$demo_dir/nas-sync.toml"
  mkdir -p "$tmp/x/data" "$tmp/x/target"
  port=$(free_port)
  # The image's Entrypoint + Cmd and Env, with /nas-sync, /data, /archive and /target moved into
  # the temp dir and the port changed to a free one.
  local -a argv envs
  mapfile -t argv < <(js '
    const cfg = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0].Config;
    for (const a of [...cfg.Entrypoint, ...(cfg.Cmd || [])]) console.log(a);' "$inspect")
  mapfile -t envs < <(js '
    const [file, tmp, demo, port] = process.argv.slice(1);
    const cfg = JSON.parse(require("fs").readFileSync(file, "utf8"))[0].Config;
    for (const e of cfg.Env) {
      if (!e.startsWith("NAS_SYNC_")) continue;
      console.log(e.replace(/=\/archive$/, `=${demo}/archive`).replace(/=\/(data|target)\//, `=${tmp}/x/$1/`)
        .replace(/^NAS_SYNC_BIND=(.*):8787$/, `NAS_SYNC_BIND=$1:${port}`));
    }' "$inspect" "$tmp" "$demo_dir" "$port")
  argv[0]="$tmp/x/nas-sync${argv[0]#/nas-sync}"
  printf '  %s\n' "${envs[@]}" "command: ${argv[*]}"
  env -u NAS_SYNC_LOCAL_TOKEN "${envs[@]}" NAS_SYNC_OPERATOR_TOKEN="$op" NAS_SYNC_ADMIN_TOKEN="$admin" \
    "${RUNNER[@]}" "${argv[@]}" >"$logs/serve-$ARCH.out" 2>"$logs/serve-$ARCH.err" &
  local server=$!
  echo "$server" >"$tmp/server.pid"
  local -a health=(env "${envs[@]}" "${RUNNER[@]}" "$tmp/x/nas-sync" health)
  expect_line "$(wait_health 0 "${health[@]}")" "healthy: 200 ok (정상) http://127.0.0.1:$port/health"
  local rows
  rows=$(sync_over_api "$port" "$op")
  echo "  ok: a sync over the API wrote $rows active Target rows"
  [ "$rows" -gt 0 ] || { echo "FAIL: the sync wrote no Target rows" >&2; return 1; }
  mv "$demo_dir/archive" "$demo_dir/archive-away"
  expect_line "$(wait_health 1 "${health[@]}")" "unhealthy: 503 root_unreachable (에러)"
  mv "$demo_dir/archive-away" "$demo_dir/archive"
  expect_line "$(wait_health 0 "${health[@]}")" "healthy: 200 ok (정상)"
  stop_pid "$server" "the extracted server"
  rm -f "$tmp/server.pid"
  if [ "$ARCH" != amd64 ]; then
    # No binfmt_misc here to run another architecture's container.
    echo "Container ($ARCH): image $size bytes, inspect, files, health of the extracted binary under ${RUNNER[*]} ok" >>"$results"
    echo "verify: $((SECONDS - t0)) s"
    return 0
  fi

  echo "== podman run"
  podman_conf
  local name="nas-sync-verify-$$" c="$tmp/c" cport
  mkdir -p "$c/share" "$c/data" "$c/target"
  cp -a "$demo_dir/archive" "$c/share/GGPNAs"
  chown 10001:10001 "$c/data" "$c/target"
  printf 'NAS_SYNC_OPERATOR_TOKEN=%s\nNAS_SYNC_ADMIN_TOKEN=%s\n' "$op" "$admin" >"$c/nas-sync.env"
  cport=$(free_port)
  echo "$name" >"$tmp/container.name"
  # Host network: the container's port is the host's (no CNI/iptables needed here). The archive
  # is a subfolder of the read-only mount, so taking it away is visible inside the container.
  pod run -d --name "$name" --network host --health-interval disable --restart unless-stopped \
    --env-file "$c/nas-sync.env" -e NAS_SYNC_BIND="0.0.0.0:$cport" -e NAS_SYNC_ROOT=/archive/GGPNAs \
    -v "$c/share:/archive:ro" -v "$c/data:/data" -v "$c/target:/target" \
    "$TAG" >/dev/null
  local hc=(pod healthcheck run "$name")
  if ! wait_health 0 "${hc[@]}" >/dev/null; then
    podman logs "$name" >&2 || true
    return 1
  fi
  expect_line "$(last_health_output "$name")" "healthy: 200 ok (정상) http://127.0.0.1:$cport/health"
  local user
  user=$(podman top "$name" user huser | tail -n +2)
  echo "  ok: the process runs as (container user, host user): $user"
  case $user in *10001*) ;; *) echo "FAIL: not running as 10001: $user" >&2; return 1 ;; esac
  rows=$(sync_over_api "$cport" "$op")
  echo "  ok: a sync in the container wrote $rows active Target rows to /target/pokervod.db"
  if [ "$rows" -le 0 ] || [ ! -f "$c/target/pokervod.db" ]; then
    echo "FAIL: the container's sync wrote no Target rows" >&2
    return 1
  fi
  mv "$c/share/GGPNAs" "$c/share/GGPNAs-away"
  wait_health 1 "${hc[@]}" >/dev/null
  expect_line "$(last_health_output "$name")" "unhealthy: 503 root_unreachable (에러)"
  mv "$c/share/GGPNAs-away" "$c/share/GGPNAs"
  wait_health 0 "${hc[@]}" >/dev/null
  expect_line "$(last_health_output "$name")" "healthy: 200 ok (정상)"
  # PRD 5.2's automatic restart: the server killed (as by the OOM killer) comes back by itself.
  local pid t1=$SECONDS code
  pid=$(podman inspect --format '{{.State.Pid}}' "$name")
  kill -KILL "$pid"
  wait_health 0 "${hc[@]}" >/dev/null
  echo "  ok: killed (SIGKILL), restarted by podman (restarts: $(podman inspect --format '{{.RestartCount}}' "$name")) and healthy again in $((SECONDS - t1)) s"
  if [ "$(podman inspect --format '{{.State.Pid}}' "$name")" = "$pid" ]; then
    echo "FAIL: the container was not restarted" >&2
    return 1
  fi
  t1=$SECONDS
  pod stop -t 30 "$name" >/dev/null
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
  echo "  ok: stopped by SIGTERM in $((SECONDS - t1)) s, exit code $code"
  [ "$code" = 0 ] || { echo "FAIL: exit code $code after SIGTERM" >&2; podman logs "$name" >&2; return 1; }
  sleep 2
  if [ "$(podman inspect --format '{{.State.Status}}' "$name")" != exited ]; then
    echo "FAIL: restart: unless-stopped restarted a container stopped by hand" >&2
    return 1
  fi
  podman logs "$name" >"$logs/container.log" 2>&1 || true
  pod rm -f "$name" >/dev/null
  rm -f "$tmp/container.name"
  echo "Container: image $size bytes, inspect, files, health of the extracted binary and of podman run, restart and stop ok" >>"$results"
  echo "verify: $((SECONDS - t0)) s"
}

# The last health check's output (podman keeps a log of them).
last_health_output() {
  podman inspect --format '{{range .State.Health.Log}}{{.Output}}{{"\n"}}{{end}}' "$1" |
    grep -v '^$' | tail -1
}

# stop_pid PID WHAT: SIGTERM, then wait up to 30 s for a clean exit.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "FAIL: $2 did not stop within 30 s of SIGTERM" >&2
    kill -KILL "$pid" 2>/dev/null || true
    return 1
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local tmp=$1
  if [ -f "$tmp/server.pid" ]; then kill -KILL "$(cat "$tmp/server.pid")" 2>/dev/null || true; fi
  if [ -f "$tmp/container.name" ]; then pod rm -f "$(cat "$tmp/container.name")" >/dev/null 2>&1 || true; fi
  podman image unmount "$TAG" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}

# One command per line: `set -e` does not stop inside a function called on the left of `&&`.
case $mode in
  build)
    use_arch amd64
    build
    ;;
  verify)
    use_arch amd64
    verify
    ;;
  all)
    use_arch amd64
    build
    verify
    ;;
  arm64)
    use_arch arm64
    build
    verify
    ;;
esac
