#!/usr/bin/env bash
# Regenerate docs/screenshot.png: run scripts/run.sh on a fresh demo and render its output as a
# terminal window in headless Chromium (Debian packages: chromium fonts-noto-cjk).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
XDG_CONFIG_HOME="$tmp/cfg" XDG_DATA_HOME="$tmp/data" bash scripts/run.sh > "$tmp/out.txt" 2>&1
python3 - "$tmp" <<'PY'
import html, sys
tmp = sys.argv[1]
text = open(f"{tmp}/out.txt").read().replace(f"{tmp}/data", "~/.local/share")
body = html.escape("$ bash scripts/run.sh\n" + text)
open(f"{tmp}/shot.html", "w").write(f"""<!doctype html><meta charset=utf-8><style>
body{{margin:0;background:#1e1f29}} .w{{margin:18px;border-radius:8px;background:#282a36;box-shadow:0 4px 18px #0008;overflow:hidden}}
.bar{{height:26px;background:#44475a;display:flex;align-items:center;padding-left:10px;gap:7px}} .d{{width:11px;height:11px;border-radius:50%}}
pre{{margin:0;padding:14px 18px;color:#f8f8f2;font:14px/1.45 "Noto Sans Mono CJK KR","DejaVu Sans Mono",monospace}}
</style><div class=w><div class=bar><span class=d style="background:#ff5555"></span><span class=d style="background:#f1fa8c"></span><span class=d style="background:#50fa7b"></span></div><pre>{body}</pre></div>""")
PY
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$tmp/chromium" --hide-scrollbars --window-size=1000,620 \
  --screenshot="$PWD/docs/screenshot.png" "file://$tmp/shot.html" 2>/dev/null
echo "wrote docs/screenshot.png"
