#!/usr/bin/env bash
# Scenario test of the Windows CLI (nas-sync.exe, cross-built) under Wine, against a real directory
# tree reached through a Wine drive letter (N: -> the demo folder), the way the app reaches a
# mounted share on Windows:
#  1. a first sync through `N:\archive` gives exactly the Target rows the Linux build gives for
#     the same tree (paths stored with `/`, no drive letter);
#  2. after a move, an addition and a deletion on the share, a second sync reports moved 1,
#     added 1, deleted 1, and the moved file keeps its row id;
#  3. the same share as a verbatim root (`\\?\N:\archive`) scans to the same Source.
# Usage: tests/windows/cli-wine.sh WINDOWS_BIN_DIR LINUX_BIN_DIR (WINEPREFIX set up by the caller).
set -euo pipefail
win_bin=$1 linux_bin=$2
work=$(mktemp -d)
trap 'rm -f "$WINEPREFIX/dosdevices/n:"; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
wexe() { wine64 "$win_bin/nas-sync.exe" "$@" 2> >(grep -v '^[0-9a-f]*:fixme:' >&2); }

"$linux_bin/nas-sync" demo --dir "$work/demo" --files 300 >/dev/null
ln -sfn "$work/demo" "$WINEPREFIX/dosdevices/n:"
mkdir -p "$work/win" "$work/lin"
# Z: is Wine's view of / ; the databases live outside the share, as on a real install.
zdir() { echo "Z:${1//\//\\}"; }
win_args=(--root 'N:\archive' --archive-db "$(zdir "$work/win/archive.db")"
  --target-db "$(zdir "$work/win/pokervod.db")")

wexe "${win_args[@]}" --json sync >"$work/win1.json" || fail "first sync under Wine failed"
"$linux_bin/nas-sync" --root "$work/demo/archive" --archive-db "$work/lin/archive.db" \
  --target-db "$work/lin/pokervod.db" --json sync >"$work/lin1.json"

python3 - "$work" <<'EOF' || fail "the Windows and Linux builds disagree"
import json, sqlite3, sys
w = sys.argv[1]
win, lin = (json.load(open(f"{w}/{n}1.json")) for n in ("win", "lin"))
assert win["added"] == lin["added"] > 0, (win["added"], lin["added"])
cols = "nas_path, filename, catalog, format, size_bytes, hls_compatible, status"
rows = {n: sqlite3.connect(f"{w}/{n}/pokervod.db").execute(
    f"SELECT {cols} FROM files ORDER BY nas_path").fetchall() for n in ("win", "lin")}
assert rows["win"] == rows["lin"], "Target rows differ"
bad = [r[0] for r in rows["win"] if "\\" in r[0] or ":" in r[0]]
assert not bad, f"paths not stored with '/': {bad[:3]}"
print(f"first sync under Wine = Linux: {win['added']} rows added, {len(rows['win'])} identical rows")
EOF

# Change the share from the Linux side: a move, an addition, a deletion.
archive="$work/demo/archive"
mapfile -t mp4s < <(cd "$archive" && find . -name '*.mp4' -printf '%P\n' | sort)
moved=${mp4s[0]} gone=${mp4s[1]}
moved_id=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT id FROM files WHERE nas_path=?", (sys.argv[2],)).fetchone()[0])' "$work/win/pokervod.db" "$moved")
mkdir -p "$archive/WSOP/옮긴 폴더"
mv "$archive/$moved" "$archive/WSOP/옮긴 폴더/"
rm "$archive/$gone"
head -c 4096 /dev/urandom >"$archive/WSOP/new episode.mp4"
# A copy that finished an hour ago: at rest, so the sync publishes it (settle_secs holds back
# files modified within the last minute).
touch -d '1 hour ago' "$archive/WSOP/new episode.mp4"

wexe "${win_args[@]}" --json sync >"$work/win2.json" || fail "second sync under Wine failed"
python3 - "$work" "$moved" "$moved_id" <<'EOF' || fail "second sync"
import json, sqlite3, sys
w, moved, moved_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = json.load(open(f"{w}/win2.json"))
got = (r["moved"], r["added"], r["deleted"])
assert got == (1, 1, 1), got
name = moved.rsplit("/", 1)[-1]
path, status = sqlite3.connect(f"{w}/win/pokervod.db").execute(
    "SELECT nas_path, status FROM files WHERE id = ?", (moved_id,)).fetchone()
assert (path, status) == (f"WSOP/옮긴 폴더/{name}", "active"), (path, status)
print(f"second sync under Wine: moved 1 (row {moved_id} kept, now {path}), added 1, deleted 1")
EOF

# A verbatim root: the same Source.
wexe --root '\\?\N:\archive' --archive-db "$(zdir "$work/win/verbatim.db")" --json scan \
  >"$work/verbatim.json" || fail "scan of a verbatim root failed"
python3 - "$work" <<'EOF' || fail "verbatim root"
import sqlite3, sys
w = sys.argv[1]
a, b = (sqlite3.connect(f"{w}/win/{n}").execute("SELECT path FROM files ORDER BY path").fetchall()
        for n in ("archive.db", "verbatim.db"))
assert a == b and a, (len(a), len(b))
print(f"verbatim root \\\\?\\N:\\archive: the same {len(a)} Source paths")
EOF
echo "cli under Wine: ok"
