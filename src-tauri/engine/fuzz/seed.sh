#!/usr/bin/env bash
# Seed the fuzz corpora from the committed media fixtures (../fixtures/media).
#   bmff: every .mp4 / .mov      ts: every .ts      mkv: every .mkv
#   sps:  the SPS / sequence-header units cut out of the fixtures, prefixed with the selector
#         byte the sps target expects (0 = H.264, 1 = HEVC, 2 = MPEG-2), plus whole .ts files
#         under selector 3 (start-code splitting).
# The corpora live in corpus/ (git-ignored). Re-running is harmless: files are named by content.
set -euo pipefail
cd "$(dirname "$0")"
media=../fixtures/media
mkdir -p corpus/bmff corpus/ts corpus/mkv corpus/sps
cp "$media"/*.mp4 "$media"/*.mov corpus/bmff/
cp "$media"/*.ts corpus/ts/
cp "$media"/*.mkv corpus/mkv/
python3 - "$media" corpus/sps <<'PY'
import hashlib, pathlib, sys

media, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])

def save(data):
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)

for f in sorted(media.iterdir()):
    if f.suffix not in (".ts", ".mov", ".mp4", ".mkv"):
        continue
    b = f.read_bytes()
    if f.suffix == ".ts":
        save(b"\x03" + b)
    i = b.find(b"\x00\x00\x01")
    while i != -1:
        j = b.find(b"\x00\x00\x01", i + 3)
        unit = b[i + 3 : (j if j != -1 else len(b))][:256]
        if unit:
            h = unit[0]
            if h & 0x1F == 7 and "h264" in f.name:
                save(b"\x00" + unit[1:])
            if (h >> 1) & 0x3F == 33 and "hevc" in f.name:
                save(b"\x01" + unit[2:])
            if h == 0xB3:
                save(b"\x02" + unit[1:])
        i = j
PY
for t in bmff ts mkv sps; do
    echo "corpus/$t: $(ls corpus/$t | wc -l) files"
done
