"""WebDriver E2E of the real desktop app (tauri-driver + WebKitWebDriver), plain W3C over HTTP.

On a demo archive synced by the CLI: the dashboard shows the CLI's numbers; a sync started from the
window's button writes log lines that the 실시간 로그 screen shows; a file added to the archive
reaches the dashboard without a click (watcher); with the share gone, a sync raises an error toast
(tests/app/fake_notifications.py is the notification server) and clicking it brings the window to
실시간 로그. Run under `xvfb-run -a dbus-run-session`:

  python3 tests/app/webdriver.py TARGET_DEBUG_DIR TAURI_DRIVER
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

target, driver_bin = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp()
env = dict(os.environ, XDG_CONFIG_HOME=f"{work}/config", XDG_DATA_HOME=f"{work}/data")
nas = f"{target}/nas-sync"
cfg = f"{work}/demo/nas-sync.toml"
subprocess.run([nas, "demo", "--dir", f"{work}/demo", "--files", "300"], check=True, env=env, capture_output=True)
subprocess.run([nas, "--config", cfg, "-q", "sync"], check=True, env=env)
cli = json.loads(subprocess.run([nas, "--config", cfg, "--json", "dashboard"], check=True, env=env,
                                capture_output=True).stdout)

# The desktop's notification server, before the app starts: it logs each toast and clicks it.
toasts_log = f"{work}/toasts.jsonl"
notifier = subprocess.Popen(["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                              "fake_notifications.py"), toasts_log, "1.5"],
                            stdout=subprocess.PIPE, text=True)
if "ready" not in notifier.stdout.readline():
    raise SystemExit("FAIL: the fake notification server did not start (needs python3-dbus, python3-gi)")

driver = subprocess.Popen([driver_bin, "--port", "4444", "--native-driver", "/usr/bin/WebKitWebDriver"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
BASE = "http://127.0.0.1:4444"


def req(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(BASE + path, data=data, method=method,
                               headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return json.loads(resp.read() or b"{}").get("value")
    except urllib.error.HTTPError as e:  # keep the driver's reason (stale element, no such element, ...)
        raise RuntimeError(f"{method} {path}: HTTP {e.code}: {e.read()[:300]!r}") from None


def wait(what, fn, timeout=60):
    """Polls fn until it returns something truthy. React may replace an element between the find and
    the read (a stale element answers HTTP 500 in WebKitWebDriver), so every read goes through here."""
    end = time.time() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last = f"got {v!r}"
        except Exception as e:  # not there yet, or replaced by a re-render
            last = str(e)
        if time.time() > end:
            raise SystemExit(f"FAIL: timed out waiting for {what} (last: {last})")
        time.sleep(0.3)


sid = None
try:
    wait("tauri-driver", lambda: req("GET", "/status") is not None, 20)
    sid = req("POST", "/session", {"capabilities": {"alwaysMatch": {"tauri:options": {
        "application": f"{target}/nas-sync-monitor", "args": ["--config", cfg, "--no-schedule"]}}}})["sessionId"]

    def find(css):
        el = req("POST", f"/session/{sid}/element", {"using": "css selector", "value": css})
        return next(iter(el.values()))

    def attr(css, name):
        return req("GET", f"/session/{sid}/element/{find(css)}/attribute/{name}")

    def click(css, what):
        wait(what, lambda: req("POST", f"/session/{sid}/element/{find(css)}/click", {}) or True)

    def count(css):
        return len(req("POST", f"/session/{sid}/elements", {"using": "css selector", "value": css}))

    t0 = time.time()
    src = wait("dashboard", lambda: attr('[data-testid="source-total"]', "data-value"))
    print(f"first data after {time.time() - t0:.1f} s (session start to dashboard numbers)")
    want_src, want_tgt = str(cli["source"]["total_files"]), str(cli["target"]["total_files"])
    wait(f"source total {want_src} (CLI)", lambda: attr('[data-testid="source-total"]', "data-value") == want_src, 20)
    wait(f"target total {want_tgt} (CLI)", lambda: attr('[data-testid="target-total"]', "data-value") == want_tgt, 20)
    src, tgt = want_src, want_tgt
    print(f"dashboard = CLI: source {src}, target {tgt}")

    click("[data-testid=sync-card-run]", "sync button clicked")
    req("POST", f"/session/{sid}/execute/sync", {"script": (
        "history.pushState(null, '', '/logs'); dispatchEvent(new PopStateEvent('popstate'));"), "args": []})
    lines = wait("log lines", lambda: count('[data-testid="log-line"]'))
    print(f"log screen shows {lines} lines after a sync from the window")

    req("POST", f"/session/{sid}/execute/sync", {"script": (
        "history.pushState(null, '', '/dashboard'); dispatchEvent(new PopStateEvent('popstate'));"), "args": []})
    wait("dashboard again", lambda: attr('[data-testid="source-total"]', "data-value"))
    time.sleep(2)
    dst = f"{work}/demo/archive/WSOP/e2e-new-file.mp4"
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "wb") as f:
        f.write(b"\0" * 4096)
    want = str(int(src) + 1)
    wait("the new file on the dashboard without a click",
         lambda: attr('[data-testid="source-total"]', "data-value") == want, 60)
    print(f"new file reached the dashboard without a click: source {want}")

    # A toast on entering the error state; its click opens the window on 실시간 로그.
    def toasts():
        try:
            with open(toasts_log, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def path():
        return req("POST", f"/session/{sid}/execute/sync", {"script": "return location.pathname", "args": []})

    assert path() == "/dashboard", path()
    archive = f"{work}/demo/archive"
    os.rename(archive, archive + ".away")
    try:
        click("[data-testid=sync-card-run]", "sync button clicked (share gone)")
        toast = wait("an error toast", lambda: next((t for t in toasts() if "NAS" in t["summary"]), None), 60)
        assert "default" in toast["actions"][::2], toast
        print(f"error toast shown: {toast['summary']!r} ({toast['app']})")
        wait("the toast's click opens 실시간 로그", lambda: path() == "/logs", 30)
        wait("the log screen's lines", lambda: count('[data-testid="log-line"]'))
        print("clicking the toast opened the window on /logs")
    finally:
        os.rename(archive + ".away", archive)
    print("webdriver e2e: ok")
except BaseException:
    # The app's own log says why (its live log file sits next to archive.db).
    try:
        with open(f"{work}/demo/logs/nas-sync.log", encoding="utf-8", errors="replace") as f:
            print("--- the app's log (last 40 lines)\n" + "".join(f.readlines()[-40:]), file=sys.stderr)
    except OSError as e:
        print(f"(no app log: {e})", file=sys.stderr)
    raise
finally:
    if sid:
        try:
            req("DELETE", f"/session/{sid}")
        except Exception:
            pass
    driver.terminate()
    notifier.terminate()
    shutil.rmtree(work, ignore_errors=True)
