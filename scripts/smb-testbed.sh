#!/usr/bin/env bash
# A real SMB share on this machine, for tests and benchmarks against the product's real medium:
# Samba's smbd (its own smb.conf, state and logs in a temp dir, bound to 127.0.0.1 only, one
# guest share of DIR) and smbnetfs (a FUSE SMB client) mounted over it. Kernel cifs is not
# available here; FUSE is.
#
#   bash scripts/smb-testbed.sh start DIR     prints the folder of DIR as seen through SMB
#   bash scripts/smb-testbed.sh stop          unmounts and stops smbd
#   bash scripts/smb-testbed.sh status        prints the share's folder if the test bed is up
#   bash scripts/smb-testbed.sh pid           prints smbd's pid
#   bash scripts/smb-testbed.sh hang          SIGSTOPs every smbd process of the test bed: a hung NAS
#   bash scripts/smb-testbed.sh resume        SIGCONTs them: the NAS answers again
#   bash scripts/smb-testbed.sh kill          SIGKILLs them: a NAS that vanished (`start` brings it back)
#
# Idempotent: `start` on a running test bed of the same DIR prints the same folder; of another
# DIR it restarts. State lives in $SMB_TESTBED (default /tmp/nas-sync-smb-testbed). Needs root
# (smbd binds port 445) and Debian's samba, smbnetfs and fuse3 (scripts/test.sh installs them).
set -euo pipefail

STATE=${SMB_TESTBED:-/tmp/nas-sync-smb-testbed}
# smbnetfs (libsmbclient) connects to port 445 only.
PORT=445
SHARE=archive
MNT="$STATE/mnt"
# The share as smbnetfs shows it: MOUNT/HOST/SHARE.
SHARE_DIR="$MNT/127.0.0.1/$SHARE"

die() { echo "smb-testbed: $*" >&2; exit 1; }

need_tools() {
  local missing=()
  for t in smbd smbnetfs fusermount3; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: apt-get install samba smbnetfs fuse3"
  [ -e /dev/fuse ] || die "/dev/fuse is missing (FUSE is needed for smbnetfs)"
}

smbd_pid() {
  [ -f "$STATE/run/smbd.pid" ] || return 1
  local p
  p=$(cat "$STATE/run/smbd.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

mounted() { grep -qs " $MNT fuse" /proc/mounts; }

up() { smbd_pid >/dev/null && mounted && [ -d "$SHARE_DIR" ]; }

# The FUSE connection number of the mount (the minor of its device, as in /sys/fs/fuse/connections).
fuse_conn() {
  awk -v m="$MNT" '$5 == m { for (i = 6; i < NF; i++) if ($i == "-") { if ($(i + 1) ~ /^fuse/) { split($3, d, ":"); print d[2] }; break } }' /proc/self/mountinfo
}

# smbnetfs 0.6.3 can deadlock once its smbd is killed: it then ignores SIGTERM and never answers
# the requests it has read, and the kernel makes their callers wait them out even through SIGKILL
# (a server whose walk was abandoned on the share could then never exit). So a stop aborts the
# mount's FUSE connection (every pending request fails with ENOTCONN) and SIGKILLs an smbnetfs that
# is still there after 3 s.
stop_client() {
  local conns pids
  conns=$(fuse_conn || true)
  if mounted; then
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
  fi
  pids=$(pgrep -f "smbnetfs $MNT" || true)
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  for _ in $(seq 30); do
    pgrep -f "smbnetfs $MNT" >/dev/null || return 0
    sleep 0.1
  done
  if [ -n "$conns" ]; then
    grep -qs " /sys/fs/fuse/connections fusectl" /proc/mounts ||
      mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null || true
    for c in $conns; do echo 1 >"/sys/fs/fuse/connections/$c/abort" 2>/dev/null || true; done
  fi
  pkill -9 -f "smbnetfs $MNT" 2>/dev/null || true
  echo "smb-testbed: smbnetfs did not exit on SIGTERM within 3 s; its connection was aborted and it was killed" >&2
}

stop() {
  stop_client
  local p
  if p=$(smbd_pid); then
    kill -CONT "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  fi
  # smbd's children (one per connection) go with their parent; any left over are ours too
  # (woken first: a stopped process would keep a hung test bed's connection).
  pkill -CONT -f "smbd.*$STATE/smb.conf" 2>/dev/null || true
  pkill -9 -f "smbd.*$STATE/smb.conf" 2>/dev/null || true
  rm -f "$STATE/run/smbd.pid"
}

start() {
  local dir=$1
  [ -d "$dir" ] || die "no such folder: $dir"
  dir=$(cd "$dir" && pwd -P)
  need_tools
  if up && [ "$(cat "$STATE/dir" 2>/dev/null)" = "$dir" ]; then
    echo "$SHARE_DIR"
    return 0
  fi
  stop
  mkdir -p "$STATE"/{run,lock,state,cache,private,log,home/.smb} "$MNT"
  echo "$dir" >"$STATE/dir"
  cat >"$STATE/smb.conf" <<EOF
[global]
  interfaces = 127.0.0.1
  bind interfaces only = yes
  smb ports = $PORT
  disable netbios = yes
  server min protocol = SMB2
  server role = standalone server
  map to guest = Bad User
  guest account = root
  pid directory = $STATE/run
  lock directory = $STATE/lock
  state directory = $STATE/state
  cache directory = $STATE/cache
  private dir = $STATE/private
  ncalrpc dir = $STATE/run/ncalrpc
  log file = $STATE/log/smbd.log
  max log size = 1000
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  # The share's names as they are (the archive's Korean and NFD names).
  unix charset = UTF-8

[$SHARE]
  path = $dir
  read only = no
  guest ok = yes
  guest only = yes
  force user = root
  create mask = 0644
  directory mask = 0755
EOF
  # The client side (libsmbclient under smbnetfs) reads HOME/.smb.
  cat >"$STATE/home/.smb/smb.conf" <<EOF
[global]
  client min protocol = SMB2
  disable netbios = yes
EOF
  touch "$STATE/home/.smb/smbnetfs.conf" && chmod 600 "$STATE/home/.smb/smbnetfs.conf"
  cat >"$STATE/home/.smb/smbnetfs.conf" <<EOF
smb_query_browsers false
show_hidden_hosts true
smb_timeout 20000
auth "127.0.0.1" "guest" ""
host 127.0.0.1 visible=true
EOF
  # One test bed at a time: smbnetfs only talks to port 445, so a second smbd could not bind
  # it and the mount would silently show the other test bed's share.
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT on 127.0.0.1 is in use (another test bed? stop it: SMB_TESTBED=its-state-dir $0 stop)"
  fi
  smbd -D -s "$STATE/smb.conf"
  for _ in $(seq 100); do smbd_pid >/dev/null && break; sleep 0.1; done
  smbd_pid >/dev/null || die "smbd did not start (log: $STATE/log/smbd.log)"
  # smbd listens a moment after it writes its pid file.
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
  done
  HOME="$STATE/home" smbnetfs "$MNT" -o "config=$STATE/home/.smb/smbnetfs.conf,log_file=$STATE/log/smbnetfs.log"
  for _ in $(seq 150); do [ -d "$SHARE_DIR" ] && break; sleep 0.2; done
  [ -d "$SHARE_DIR" ] || die "the share did not appear at $SHARE_DIR (logs: $STATE/log/)"
  echo "$SHARE_DIR"
}

# Every smbd of this test bed: the parent and one child per client connection (the child serves
# the mount, so stopping only the parent would not hang anything).
signal_all() {
  local sig=$1 pids
  pids=$(pgrep -f "smbd.*$STATE/smb.conf" || true)
  [ -n "$pids" ] || die "smbd is not running"
  # shellcheck disable=SC2086
  kill "-$sig" $pids
}

case ${1:-} in
  start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
  stop) stop ;;
  status) up && echo "$SHARE_DIR" || { echo "smb-testbed: not running" >&2; exit 1; } ;;
  pid) smbd_pid || { echo "smb-testbed: smbd is not running" >&2; exit 1; } ;;
  hang) signal_all STOP ;;
  resume) signal_all CONT ;;
  kill) signal_all KILL; rm -f "$STATE/run/smbd.pid" ;;
  *) echo "usage: $0 start DIR | stop | status | pid | hang | resume | kill" >&2; exit 2 ;;
esac
